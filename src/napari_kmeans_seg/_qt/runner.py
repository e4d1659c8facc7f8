"""The runs of Segment and Merge: a napari worker thread each, their progress, their
cancellation, and the layers added one per turn of the event loop.

Each click is a run with its own id. **Cancel** returns the widget to idle at once
and sets the run's stop request: the worker stops at the engine's next check
(between chunks of a pass, and between the outputs and the blocks of the
mean-colour image it builds), and what the thread returns is ignored. While it
works, the dock shows its passes over the pixels, then the outputs built. While
the layers are added, Cancel stops adding them: those added stay, the others are
not added. A result is also discarded when its layer was removed or its data
replaced while it was computed, or when the viewer was closed.
"""

import logging
import re
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QObject, QTimer, Signal

from ..core.engine import TooFewValuesError
from ..core.parallel import stop_when
from ..layers.inputs import compute_input_layers
from ..layers.names import SOURCE_KEY
from ..layers.progress import reporting_outputs
from .adding import LayerSteps
from .runs import Run

logger = logging.getLogger(__name__)

#: errors that are the user's to fix: shown as they are, not logged as failures
EXPECTED_ERRORS = (ValueError, TypeError, MemoryError)


class _ProgressRelay(QObject):
    """Carries progress from the worker thread to the main thread (queued
    signals): ``moved`` the engine's ``(done, total)`` chunks of a lazy image,
    ``passes`` the number of passes over the pixels so far, ``built`` the
    ``(done, total)`` outputs built."""

    moved = Signal(int, int)
    passes = Signal(int)
    built = Signal(int, int)


#: seconds between two reports of the pass count (a pass may take microseconds)
PASS_REPORT_S = 0.05


class _WorkProgress:
    """In the worker thread: counts the engine's passes and the outputs built, and
    reports them through a :class:`_ProgressRelay`."""

    def __init__(self, relay: _ProgressRelay):
        self._relay = relay
        self.passes = 0
        self._reported = 0.0

    def passed(self) -> None:
        self.passes += 1
        now = time.perf_counter()
        if now - self._reported >= PASS_REPORT_S:
            self._reported = now
            self._relay.passes.emit(self.passes)

    def built(self, done: int, total: int) -> None:
        self._relay.built.emit(done, total)


def explain(err: BaseException, *, min_clusters: int = 2) -> str:
    """The message of an expected error for the widget, the fix first; never an
    advice the widget cannot follow (e.g. fewer clusters than it offers)."""
    text = str(err)
    if isinstance(err, TooFewValuesError):
        found = re.search(r"only (\d+) distinct", text)
        if found:
            n = int(found.group(1))
            if n < min_clusters:
                return (
                    f"Choose another image: this one has {n} distinct value"
                    f"{'s' * (n != 1)}, and k-means needs at least {min_clusters}"
                )
            return (
                f"Choose at most {n} clusters: the image has only {n} distinct values"
            )
    return text[:1].upper() + text[1:]


class SegmentRunner:
    """Starts, follows and ends the runs of a segmentation widget.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Where the layers are added.
    panel : RunPanel
        The buttons, progress bar and status line.
    alive : callable
        Whether the widget still exists.
    finished : callable
        Called with each run whose layers were all added, or whose adding was
        cancelled once its labels layer was in (then with the status to show).
    """

    def __init__(self, viewer, panel, *, alive: Callable[[], bool], finished):
        self._viewer, self._panel = viewer, panel
        self._alive, self._finished = alive, finished
        self.run: Run | None = None
        self._ids = iter(range(1, 1 << 62))
        #: workers of cancelled runs still computing in the background
        self.background: set = set()
        self.busy_changed: list[Callable[[bool], None]] = []

    @property
    def busy(self) -> bool:
        return self.run is not None

    def _start(self, inputs, model, options, kind) -> Run:
        run = Run(next(self._ids), inputs, model, options, time.perf_counter(), kind)
        self.run = run
        self._panel.set_busy(True)
        for callback in self.busy_changed:
            callback(True)
        return run

    def segment(self, inputs, n_clusters, model, options) -> Run:
        """Start segmenting ``inputs`` in a worker thread."""
        run = self._start(inputs, model, options, "segment")
        self._panel.set_status(f"segmenting {inputs.name}…")
        relay = self._relay(run)
        run.worker = create_worker(
            _until_stopped,
            run.stop,
            _WorkProgress(relay),
            compute_input_layers,
            inputs,
            n_clusters,
            model=model,
            progress=relay.moved.emit,
            **options,
            _connect=self._connections(run),
        )
        return run

    def merge(self, shown, ids: list[int], work) -> Run:
        """Start merging clusters ``ids`` of ``shown`` (``work`` builds the
        layers in the worker thread)."""
        run = self._start(shown.inputs, None, dict(shown.layer_options), "merge")
        self._panel.set_status(f"merging clusters {ids} of {shown.inputs.name}…")
        run.worker = create_worker(
            _until_stopped,
            run.stop,
            _WorkProgress(self._relay(run)),
            work,
            shown.inputs,
            shown.result,
            ids,
            **shown.layer_options,
            _connect=self._connections(run),
        )
        return run

    def _connections(self, run: Run) -> dict[str, Any]:
        return {
            "returned": partial(self._on_returned, run),
            "errored": partial(self._on_errored, run),
            "finished": partial(self._on_finished, run),
        }

    def _relay(self, run: Run) -> _ProgressRelay:
        """The signals that bring ``run``'s progress to the dock (kept with it)."""
        relay = _ProgressRelay()
        relay.moved.connect(partial(self._on_progress, run))
        relay.passes.connect(partial(self._on_passes, run))
        relay.built.connect(partial(self._on_built, run))
        run.relay = relay
        return relay

    def _on_progress(self, run: Run, done: int, total: int) -> None:
        if self.is_current(run) and total > 0:
            self._panel.set_progress(done, total)
            self._panel.set_status(f"segmenting {run.name}… ({done}/{total})")

    def _on_passes(self, run: Run, passes: int) -> None:
        if self.is_current(run) and run.adding is None and not run.building:
            self._panel.set_passes(passes)
            self._panel.set_status(f"{run.doing} {run.name}… pass {passes}")

    def _on_built(self, run: Run, done: int, total: int) -> None:
        if self.is_current(run) and run.adding is None and total > 0:
            run.building = True
            self._panel.set_progress(done, total)
            self._panel.set_status(
                f"building the layers of {run.name}… ({done}/{total})"
            )

    def cancel(self) -> None:
        """Stop the running computation and discard its result; while its layers
        are added, add no more of them (a labels layer already in stays, and the
        table shows it)."""
        run = self.run
        if run is None:
            return
        run.cancelled = True
        run.stop.set()
        if run.adding is not None:  # adding the layers: no more of them
            run.adding.stop()
            if run.adding.labels_added:
                self._finished(run, run.cancelled_status())
            else:
                self.end(run, run.cancelled_status())
            return
        if run.worker is not None:
            run.worker.quit()  # its result is then not even emitted
            self.background.add(run.worker)
        self.end(run, run.cancelled_status())

    def abandon(self) -> None:
        """The widget is gone: forget the run."""
        run, self.run = self.run, None
        if run is not None:
            run.cancelled = True
            run.stop.set()
            if run.worker is not None:
                run.worker.quit()

    def is_current(self, run: Run) -> bool:
        return run is self.run and not run.cancelled and self._alive()

    def end(self, run: Run, status: str | None = None, *, error: bool = False) -> None:
        """Back to idle after ``run`` (if it is the current one)."""
        if run is not self.run:
            return
        self.run = None
        if not self._alive():
            return
        self._panel.set_busy(False)
        for callback in self.busy_changed:
            callback(False)
        if status is not None:
            (self._panel.set_error if error else self._panel.set_status)(status)

    def _on_returned(self, run: Run, output) -> None:
        if not self.is_current(run):  # cancelled, superseded or viewer closed
            logger.debug("run %d: result discarded", run.id)
            return
        result, layer_data = output
        inputs = run.inputs
        if (
            run.kind == "segment"
            and len(inputs.layers) == 1
            and inputs.layers[0] in self._viewer.layers
            and inputs.layers[0].name != inputs.name
        ):  # renamed meanwhile: name the layers after it
            name = inputs.layers[0].name
            layer_data = renamed(layer_data, inputs.name, name)
            run.inputs = inputs.renamed(name)
        problem = run.inputs.problem(self._viewer)
        if problem is not None:
            doing = "merged" if run.kind == "merge" else "segmented"
            message = (
                f"Click Segment again: {problem} while it was being {doing}, so "
                "the result was discarded"
            )
            show_info(message)
            self.end(run, message, error=True)
            return
        run.result = result
        run.adding = LayerSteps(
            self._viewer,
            run.inputs.iter_add_layers(self._viewer, layer_data),
            len(layer_data),
        )
        self._panel.set_status(f"adding the layers of {run.name}…")
        self._add_step(run)

    def _add_step(self, run: Run) -> None:
        """Add or update one layer of ``run``, then let the event loop run."""
        if not self.is_current(run):
            return
        removed = [x for x in run.inputs.layers if x not in self._viewer.layers]
        if removed:
            message = (
                f"Layer {removed[0].name!r} was removed while its clusters were "
                "being added; the rest are not added"
            )
            show_info(message)
            self.end(run, message, error=True)
            return
        try:
            more = run.adding.step()
        except Exception as err:  # napari refused a layer: report, stay usable
            self.end(
                run, self._report_unexpected(run, err, "adding the layers"), error=True
            )
            return
        if not more:
            self._finished(run)
            return
        adding = run.adding
        self._panel.set_progress(adding.added, adding.n_layers)
        self._panel.set_status(
            f"adding the layers of {run.name}… ({adding.added}/{adding.n_layers})"
        )
        QTimer.singleShot(0, partial(self._add_step, run))

    def _on_errored(self, run: Run, err: Exception) -> None:
        if not self.is_current(run):
            logger.debug("run %d (cancelled): error discarded: %r", run.id, err)
            return
        if isinstance(err, EXPECTED_ERRORS):
            message = explain(err)
            show_error(message)
        else:
            message = self._report_unexpected(run, err, "segmentation")
        self.end(run, message, error=True)

    def _report_unexpected(self, run: Run, err: BaseException, what: str) -> str:
        """Log ``err`` with its context and traceback; tell the user briefly."""
        logger.error(
            "%s of layer %r failed unexpectedly (shape %s, dtype %s, options %s)",
            what,
            run.name,
            getattr(run.inputs.data, "shape", "?"),
            getattr(run.inputs.data, "dtype", "?"),
            {**run.options, "model": run.model is not None},
            exc_info=(type(err), err, err.__traceback__),
        )
        message = (
            f"{what.capitalize()} of {run.name!r} failed unexpectedly: {err!r} "
            "(details in the log)"
        )
        show_error(message)
        return message

    def _on_finished(self, run: Run) -> None:
        self.background.discard(run.worker)
        if run is self.run and run.adding is None:
            # errored or its result was discarded: nothing to add
            self.end(run)


def renamed(
    layer_data: list[tuple[Any, dict, str]], old: str, new: str
) -> list[tuple[Any, dict, str]]:
    """The layer data of a result for layer ``old``, named after ``new``."""
    out = []
    for data, meta, kind in layer_data:
        meta = dict(meta)
        if meta["name"].startswith(old):
            meta["name"] = new + meta["name"][len(old) :]
        meta["metadata"] = {**meta.get("metadata", {}), SOURCE_KEY: new}
        out.append((data, meta, kind))
    return out


def _until_stopped(
    stop: threading.Event, counter: _WorkProgress, work: Callable, *args, **kwargs
):
    """``work(*args, **kwargs)`` in the worker thread, stopped by the engine (it raises
    ``Cancelled``) soon after ``stop`` is set, so Cancel frees the core at once; its
    passes and outputs reported to ``counter``."""
    with stop_when(stop, on_pass=counter.passed), reporting_outputs(counter.built):
        return work(*args, **kwargs)
