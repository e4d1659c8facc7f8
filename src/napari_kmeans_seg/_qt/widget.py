"""The dock widget: its parts put together, in a scroll area that fits any screen.

Each part has one job: :class:`InputsPanel` (what is clustered),
:class:`OptionsPanel` (k, seed, feature options, sampling, outputs),
:class:`SuggestKPanel`, :class:`ModelPanel` (load/save), :class:`RunPanel`
(Segment/Cancel, progress, status) with :class:`SegmentRunner` (the worker
threads), :class:`ClusterTablePanel` and :class:`SelectionLink` (table row ↔
labels layer), :class:`ShownResult` (the result shown after a run: what Merge
merges). The colour-space view opens in a window of its own.
"""

# No ``from __future__ import annotations`` here: napari injects the viewer only when
# the annotation is the literal string 'napari.viewer.Viewer'.

import contextlib
import os
from pathlib import Path
from typing import Any

import napari

# pandas (the clusters table) is imported with the widget, in the main thread, not on
# the first Segment in the worker: its import holds the GIL long enough to freeze
# the viewer while the work runs
import pandas  # noqa: F401
from magicgui.widgets import Container, PushButton
from napari.utils.notifications import show_error, show_info

from ..core.model import KMeansModel
from ..core.segment import SegmentationResult
from ..layers.inputs import SegmentationInput, merge_layers, suggest_input
from .colorview_dock import ColorViewDock
from .inputs_panel import INPUT_CHANNELS, INPUT_IMAGE, NO_MASK, InputsPanel
from .model_panel import FIT_NEW_TEXT, MODEL_FILTER, ModelPanel
from .options_panel import K_FIXED_REASON, WIDGET_MAX_CLUSTERS, OptionsPanel
from .reflow import FittingScrollArea, flatten_margins
from .run_panel import RunPanel
from .runner import SegmentRunner
from .runs import CANCELLED_TEXT
from .selection import SelectionLink
from .shown import ShownResult
from .suggest_panel import SuggestKPanel
from .table import ClusterTablePanel
from .table_follow import ConsoleFollower
from .warm_up import WARM, start_warm_up

__all__ = [
    "CANCELLED_TEXT",
    "FIT_NEW_TEXT",
    "INPUT_CHANNELS",
    "INPUT_IMAGE",
    "MODEL_FILTER",
    "NO_MASK",
    "WARM",
    "WIDGET_MAX_CLUSTERS",
    "KMeansWidget",
]


class KMeansWidget(Container):
    """Segment the chosen image layer into k colour/intensity classes.

    Segment fits a new model, or applies a loaded one (**Load model…**) so that
    every layer gets the same cluster ids. **Cancel** discards the running work.
    After each run a table lists the clusters: one selected row shows that
    cluster alone in the labels layer; two or more can be merged (:meth:`merge`).

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers are segmented.
    """

    def __init__(self, viewer: "napari.viewer.Viewer"):
        self._viewer = viewer
        self._destroyed = False
        self.inputs_panel = InputsPanel(viewer)
        self.options_panel = OptionsPanel()
        self.suggest_k = SuggestKPanel(
            self.options_panel.n_clusters,
            self._image_for_suggest,
            image_name=lambda: self.inputs_panel.read().name,
        )
        self.model_panel = ModelPanel()
        self.run_panel = RunPanel()
        self.table_panel = ClusterTablePanel()
        self.colorview_button = PushButton(
            text="Open colour-space view",
            tooltip="Open the colour-space view of the last segmentation in a "
            "window of its own (dock it from its title bar)",
        )
        self._body = Container(
            widgets=[
                self.inputs_panel,
                self.options_panel,
                self.suggest_k,
                self.model_panel,
                self.options_panel.masked_layers,
                self.run_panel,
                self.table_panel,
                self.colorview_button,
            ],
            labels=False,
        )
        super().__init__(widgets=[], labels=False)
        flatten_margins(self._body)
        self._body.native.layout().addStretch(1)  # spare height below, not between
        self.options_panel.more_options.margins = (0, 0, 0, 0)
        self._scroll = FittingScrollArea(self._body.native)
        self._views = ColorViewDock(viewer, self._scroll)
        self.native.layout().addWidget(self._scroll)
        self.native.layout().setContentsMargins(0, 0, 0, 0)
        self._runner = SegmentRunner(
            viewer, self.run_panel, alive=self._alive, finished=self._finished_adding
        )
        self._runner.busy_changed.append(self.table_panel.set_locked)
        self._link = SelectionLink(self.table_panel)
        self._shown = ShownResult(
            viewer,
            table_panel=self.table_panel,
            link=self._link,
            views=self._views,
            model_panel=self.model_panel,
            run_panel=self.run_panel,
        )
        self._console = ConsoleFollower(viewer, self, alive=self._alive)
        self._connect()
        self._follow_selection()
        self._update_enabled()
        start_warm_up()

    def _connect(self) -> None:
        viewer = self._viewer
        self.run_panel.run_button.changed.connect(self._on_segment)
        self.run_panel.cancel_button.changed.connect(self.cancel)
        self.colorview_button.changed.connect(self.open_colorview)
        self.table_panel.merge_requested.connect(self.merge)
        self.inputs_panel.changed_inputs.connect(self._update_enabled)
        self.inputs_panel.input_mode.changed.connect(
            lambda _: self.options_panel.follow_input_mode(
                self.inputs_panel.channels_mode
            )
        )
        self.model_panel.model_changed.connect(self._on_model_changed)
        self.model_panel.saved.connect(
            lambda path: self.run_panel.set_status(f"saved model to {path.name}")
        )
        viewer.layers.selection.events.active.connect(self._follow_selection)
        self.native.destroyed.connect(self._on_destroyed)

    # ------------------------------------------------------------- state

    @property
    def busy(self) -> bool:
        """True from a click of Segment until its layers are added, it fails or it
        is cancelled."""
        return self._runner.busy

    @property
    def n_background(self) -> int:
        """Cancelled computations still finishing in the background."""
        return len(self._runner.background)

    @property
    def model(self) -> KMeansModel | None:
        """The loaded model that Segment applies, or None when it fits a new one."""
        return self.model_panel.model

    @property
    def last_model(self) -> KMeansModel | None:
        """The model of the last result (fitted or applied): what Save saves."""
        return self.model_panel.last_model

    @property
    def last_result(self) -> SegmentationResult | None:
        """The last result (merged, after a Merge): what the table shows."""
        shown = self._shown.current
        return None if shown is None else shown.result

    @property
    def linked_labels(self):
        """The labels layer whose selected label follows the table's row."""
        return self._link.layer

    def feature_options(self, layer=None) -> dict:
        """The feature options for :func:`segment` (see :class:`OptionsPanel`)."""
        return self.options_panel.feature_options(
            self.inputs_panel.first_layer() if layer is None else layer
        )

    def read_inputs(self) -> SegmentationInput:
        """What Segment would cluster now (ValueError: the choices do not make
        an input; the message says what to do)."""
        return self.inputs_panel.read()

    def _update_enabled(self, _=None) -> None:
        """Enable what applies; a disabled control says why in its tooltip."""
        if not self._alive():
            return
        fitting = self.model is None
        self.inputs_panel.update_enabled()
        self.options_panel.update_enabled(
            self.inputs_panel.first_layer(), fitting=fitting
        )
        reason = self.inputs_panel.missing_reason()
        self.run_panel.set_reason(reason)
        self.suggest_k.set_reason(reason, k_fixed=None if fitting else K_FIXED_REASON)

    def _on_model_changed(self) -> None:
        model = self.model
        if model is not None:  # show the k it applies
            self.options_panel.n_clusters.value = min(
                int(model.n_clusters), self.options_panel.n_clusters.max
            )
        self._update_enabled()

    # ------------------------------------------------------------- models

    def save_model(self, path: str | os.PathLike) -> Path | None:
        """Save the model of the last result to ``path`` (JSON); None when there
        was nothing to save or writing failed (a notification says why)."""
        return self.model_panel.save_model(path)

    def load_model(self, path: str | os.PathLike) -> KMeansModel | None:
        """Load a model from ``path``; Segment then applies it instead of fitting
        (None: it could not be loaded; a notification says why)."""
        return self.model_panel.load_model(path)

    def fit_new(self, _=None) -> None:
        """Forget the loaded model: Segment fits a new model again."""
        self.model_panel.fit_new()

    # ------------------------------------------------------------- runs

    def _on_segment(self, _=None) -> None:
        if self.busy:  # a second click while running: the button is disabled too
            return
        try:
            inputs = self.read_inputs()
        except ValueError as err:
            self.run_panel.set_error(str(err))
            show_error(str(err))
            return
        model = self.model
        options = {
            "random_state": self.options_panel.random_state.value,
            **self.options_panel.layer_options(),
        }
        if model is None:  # a model applies its own method and feature options
            options.update(self.feature_options(inputs.layers[0]))
            fit_pixels = self.options_panel.fit_pixels(inputs.n_pixels)
            if fit_pixels is not None:
                options["fit_pixels"] = fit_pixels
            if self.options_panel.mixture is not None:
                options["mixture"] = self.options_panel.mixture
        n_clusters = None if model is not None else self.options_panel.n_clusters.value
        self._runner.segment(inputs, n_clusters, model, options)

    def merge(self, ids: list[int]) -> None:
        """Merge the clusters ``ids`` of the last result (in a worker thread), then
        update its labels, masked layers and the table, as **Merge** does. A
        merge that :meth:`SegmentationResult.merge` refuses, no result, or a
        source layer removed or changed since are notifications."""
        if self.busy:
            show_info("Wait for the running segmentation to finish, then merge.")
            return
        shown = self._shown.current
        if shown is None:
            show_info("No clusters to merge yet: click Segment first.")
            return
        problem = shown.inputs.problem(self._viewer)
        if problem is not None:
            message = f"Click Segment again: cannot merge, {problem}."
            self.run_panel.set_error(message)
            show_error(message)
            return
        self._runner.merge(shown, [int(i) for i in ids], merge_layers)

    def cancel(self, _=None) -> None:
        """Stop the running segmentation: the widget is idle at once, the worker
        stops at the engine's next check (within a pass's chunk or an output's
        block) and its result is discarded; while the layers are added, no more
        are added."""
        self._runner.cancel()

    def _finished_adding(self, run, status: str | None = None) -> None:
        """Show ``run``'s result (its labels layer is in the viewer); ``status``:
        what the status says instead of the run's summary."""
        self._shown.show_run(run)
        self._runner.end(run, status or run.summary())

    def show_console_result(self, labels_layer, frame, source: str) -> None:
        """Show the clusters of a segmentation made outside the widget (e.g.
        ``segment_layer`` in the console): its table, linked with its labels
        layer. Merge needs a result of the widget: click Segment for it."""
        self._shown.show_console(labels_layer, frame, source)

    def source_renamed(self, old: str, new: str) -> None:
        """The image layer ``old`` was renamed ``new`` (its outputs too): the
        table and Merge follow it."""
        self._shown.source_renamed(old, new)

    # ------------------------------------------------------- colour view

    def open_colorview(self, _=None):
        """Open the colour-space view (or show the one open), showing the last
        segmentation; returns the :class:`ColorSpaceView`."""
        data = self._shown.colorview_data()
        if data is not None:
            return self._views.open(data)
        return self._views.open(image_layer=self.inputs_panel.image.value)

    # ------------------------------------------------------ the viewer

    def reset_choices(self, *args) -> None:
        """Refresh the layer choices, then pick the selected image layer."""
        self._body.reset_choices(*args)
        self._follow_selection()
        self._update_enabled()

    def _image_for_suggest(self) -> tuple[Any, dict[str, Any]]:
        """What Segment would cluster and the options for **Suggest k**
        (ValueError: no valid input)."""
        inputs = self.read_inputs()
        options = self.feature_options(inputs.layers[0])
        mixture = self.options_panel.mixture
        if mixture is not None:  # each k a Gaussian mixture, scored by its BIC
            options["mixture"] = mixture
        return suggest_input(
            inputs, random_state=self.options_panel.random_state.value, **options
        )

    def _follow_selection(self, event=None) -> None:
        if self._alive():
            hint = self.inputs_panel.follow(self._viewer.layers.selection.active)
            if hint:  # say which image Segment takes, rather than surprise
                self.run_panel.set_status(hint)

    def _alive(self) -> bool:
        """Whether the widget's Qt side still exists (closing the viewer deletes
        it while a computation may still be running)."""
        if self._destroyed:
            return False
        try:
            self.native.objectName()
        except RuntimeError:  # wrapped C/C++ object has been deleted
            self._destroyed = True
            return False
        return True

    def _on_destroyed(self, *_) -> None:
        self._destroyed = True
        self._runner.abandon()
        self._console.close()
        with contextlib.suppress(Exception):  # already gone with the viewer
            self._viewer.layers.selection.events.active.disconnect(
                self._follow_selection
            )
