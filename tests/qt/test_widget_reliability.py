"""The widget under stress, in a real viewer: Cancel, clicks while running, the layer
removed, renamed or given new data while it is segmented, the viewer closed, an
unexpected error, and how long the event loop is blocked while a 4K photo is
segmented."""

from __future__ import annotations

import gc
import logging
import threading
import time

import numpy as np
import pytest
from gui_helpers import PLUGIN, WIDGET, click, new_messages, open_widget
from napari.utils.notifications import notification_manager
from qtpy.QtCore import QThreadPool, QTimer

import napari_kmeans_seg._qt.widget as widget_module
import napari_kmeans_seg.layers.inputs as inputs_module
from napari_kmeans_seg import segment


def wait_for_threads(qtbot, timeout_ms: int = 60_000) -> None:
    """Wait for every worker thread to end, then deliver their last signals."""
    assert QThreadPool.globalInstance().waitForDone(timeout_ms)
    qtbot.wait(50)


class Gate:
    """Holds ``compute_layers`` in the worker until released, so a test can act
    while a segmentation runs (the engine itself cannot be paused). Call ``i``
    waits for ``release(i)``; ``open_from`` lets later calls through at once."""

    def __init__(self, monkeypatch):
        self.calls: list[dict] = []
        self.events = [threading.Event() for _ in range(8)]
        self.started = threading.Event()
        real = inputs_module.compute_layers

        def gated(image, source, n_clusters, **kwargs):
            i = len(self.calls)
            self.calls.append({"n_clusters": n_clusters, **kwargs})
            self.started.set()
            assert self.events[i].wait(30), "gate never released"
            return real(image, source, n_clusters, **kwargs)

        monkeypatch.setattr(inputs_module, "compute_layers", gated)

    def release(self, i: int = 0) -> None:
        self.events[i].set()

    def release_all(self) -> None:
        for event in self.events:
            event.set()


@pytest.fixture
def gate(monkeypatch, qtbot):
    g = Gate(monkeypatch)
    yield g
    g.release_all()  # never leave a worker waiting, even when the test failed
    wait_for_threads(qtbot)


@pytest.fixture
def viewer_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    viewer.add_image(image, name="img")
    widget = open_widget(viewer)
    widget.options_panel.masked_layers.value = False
    return viewer, widget


def names(viewer) -> list[str]:
    return [layer.name for layer in viewer.layers]


# ------------------------------------------------------------------ cancel


def test_cancel_returns_to_idle_at_once_and_discards_the_result(
    make_napari_viewer, qtbot
):
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)  # ~2 s of work
    before = big.copy()
    viewer = make_napari_viewer()
    viewer.add_image(big, name="big")
    widget = open_widget(viewer)
    widget.options_panel.masked_layers.value = (
        False  # the background thread ends sooner
    )
    assert not widget.run_panel.cancel_button.enabled
    click(qtbot, widget.run_panel.run_button)
    assert widget.busy and widget.run_panel.cancel_button.enabled
    assert not widget.run_panel.run_button.enabled

    t0 = time.perf_counter()
    click(qtbot, widget.run_panel.cancel_button)
    qtbot.waitUntil(lambda: widget.run_panel.run_button.enabled, timeout=500)
    idle_after = time.perf_counter() - t0
    print(f"\nidle {idle_after * 1000:.0f} ms after Cancel")
    assert idle_after < 0.5
    assert not widget.busy and not widget.run_panel.cancel_button.enabled
    assert widget.run_panel.status.value == "cancelled"
    # the computation could not be interrupted: it finishes in the background
    # (its thread may end before this line: only the widget's count is certain)
    assert widget.n_background == 1

    wait_for_threads(qtbot)
    qtbot.waitUntil(lambda: widget.n_background == 0, timeout=5_000)
    assert names(viewer) == ["big"], "a cancelled result was added"
    assert widget.run_panel.status.value == "cancelled"
    np.testing.assert_array_equal(big, before)


def test_cancel_stops_the_computation_itself(make_napari_viewer, qtbot):
    """Cancel frees the core: the engine stops the running fit, it does not run on
    in the background until it ends by itself (here: about 7 s)."""
    from napari_kmeans_seg import segment

    rng = np.random.default_rng(0)
    segment(rng.random((60, 60, 3), dtype=np.float32), 16)  # compiled beforehand
    noisy = rng.random((2048, 2048, 3), dtype=np.float32)
    viewer = make_napari_viewer()
    viewer.add_image(noisy, name="noisy", rgb=True)
    widget = open_widget(viewer)
    widget.options_panel.masked_layers.value = False
    widget.options_panel.n_clusters.value = 20
    click(qtbot, widget.run_panel.run_button)
    qtbot.wait(300)  # the worker is under way
    assert widget.busy
    click(qtbot, widget.run_panel.cancel_button)
    assert widget.n_background == 1
    # stopped by the engine within a few of its checks, not after the whole fit
    qtbot.waitUntil(lambda: widget.n_background == 0, timeout=3_000)
    assert names(viewer) == ["noisy"]


def test_segment_again_while_a_cancelled_run_still_computes(
    make_napari_viewer, qtbot, gate
):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(1)
    viewer.add_image(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), name="img")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 4
    click(qtbot, widget.run_panel.run_button)  # run 1: k=4, held by the gate
    qtbot.waitUntil(gate.started.is_set, timeout=10_000)  # run 1 is the gate's call 0
    click(qtbot, widget.run_panel.cancel_button)
    assert not widget.busy and widget.n_background == 1

    widget.options_panel.n_clusters.value = 3
    gate.release(1)  # run 2 goes through at once
    click(qtbot, widget.run_panel.run_button)
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    assert names(viewer) == ["img", "img clusters"] + [
        f"img cluster {i}" for i in (1, 2, 3)
    ]
    assert "3 clusters in" in widget.run_panel.status.value

    gate.release(0)  # the cancelled run 1 (k=4) finishes now: ignored
    wait_for_threads(qtbot)
    assert widget.n_background == 0
    assert [c["n_clusters"] for c in gate.calls] == [4, 3]
    assert "img cluster 4" not in viewer.layers
    assert viewer.layers["img clusters"].data.max() == 3
    assert "3 clusters in" in widget.run_panel.status.value


def test_cancel_when_idle_does_nothing(viewer_widget):
    _, widget = viewer_widget
    widget.cancel()
    assert not widget.busy and widget.run_panel.status.value == ""


# ------------------------------------------------------------ re-entrancy


def test_segment_clicked_twice_quickly_runs_once(viewer_widget, qtbot, gate):
    viewer, widget = viewer_widget
    click(qtbot, widget.run_panel.run_button)
    click(qtbot, widget.run_panel.run_button)  # disabled: ignored
    widget._on_segment()  # even a programmatic second call is ignored
    gate.release(0)
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    wait_for_threads(qtbot)
    assert len(gate.calls) == 1
    assert names(viewer) == ["img", "img clusters"]


# ------------------------------------------- the layer changes meanwhile


def test_layer_removed_while_running(viewer_widget, qtbot, gate):
    viewer, widget = viewer_widget
    n = len(notification_manager.records)
    click(qtbot, widget.run_panel.run_button)
    assert gate.started.wait(10)
    viewer.layers.remove("img")
    gate.release(0)
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    assert names(viewer) == []
    assert any("was removed while it was being segmented" in m for m in new_messages(n))
    # idle again; with no image left, Segment is disabled and says why
    assert not widget.run_panel.run_button.enabled
    assert widget.run_panel.run_button.tooltip.startswith("Add or open an image layer")


def test_data_replaced_while_running(viewer_widget, qtbot, gate):
    viewer, widget = viewer_widget
    layer = viewer.layers["img"]
    replacement = np.zeros((30, 30, 3), np.uint8)
    n = len(notification_manager.records)
    click(qtbot, widget.run_panel.run_button)
    assert gate.started.wait(10)
    layer.data = replacement
    gate.release(0)
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    assert names(viewer) == ["img"]
    assert any(
        "was replaced while it was being segmented" in m for m in new_messages(n)
    )
    assert layer.data is replacement and not replacement.any()


def test_layer_renamed_while_running(viewer_widget, qtbot, gate):
    viewer, widget = viewer_widget
    widget.options_panel.masked_layers.value = True
    click(qtbot, widget.run_panel.run_button)
    assert gate.started.wait(10)
    viewer.layers["img"].name = "renamed"
    gate.release(0)
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    assert names(viewer) == ["renamed", "renamed clusters"] + [
        f"renamed cluster {i}" for i in (1, 2, 3)
    ]
    meta = viewer.layers["renamed clusters"].metadata
    assert meta["napari_kmeans_seg_source"] == "renamed"


def test_viewer_closed_while_running(make_napari_viewer, qtbot, gate):
    viewer = make_napari_viewer()
    viewer.add_image(np.arange(600, dtype=np.uint8).reshape(20, 30), name="img")
    widget = open_widget(viewer)
    click(qtbot, widget.run_panel.run_button)
    assert gate.started.wait(10)
    viewer.close()
    gate.release(0)
    wait_for_threads(qtbot)  # its result arrives at a closed viewer: ignored
    assert not widget.busy
    assert len(viewer.layers) == 0


def test_dock_widget_removed_then_selection_changes(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    a = viewer.add_image(np.zeros((5, 5)), name="a")
    dock, _ = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    viewer.window.remove_dock_widget(dock)
    qtbot.wait(50)
    b = viewer.add_image(np.ones((5, 5)), name="b")  # the selection follows b
    viewer.layers.selection.active = a
    assert viewer.layers.selection.active is a and b in viewer.layers


# ------------------------------------------------------------------ errors


def test_unexpected_error_is_a_notification_and_logged_with_context(
    viewer_widget, qtbot, monkeypatch, caplog
):
    viewer, widget = viewer_widget

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(inputs_module, "compute_layers", broken)
    widget.options_panel.random_state.value = 7
    n = len(notification_manager.records)
    with caplog.at_level(logging.ERROR, logger="napari_kmeans_seg._qt.runner"):
        click(qtbot, widget.run_panel.run_button)
        qtbot.waitUntil(lambda: not widget.busy, timeout=10_000)
    messages = new_messages(n)
    assert any("failed unexpectedly" in m and "boom" in m for m in messages), messages
    [record] = [r for r in caplog.records if r.name == "napari_kmeans_seg._qt.runner"]
    text = record.getMessage()
    assert "'img'" in text and "'random_state': 7" in text and "(40, 50, 3)" in text
    assert record.exc_info and record.exc_info[0] is RuntimeError
    assert names(viewer) == ["img"] and widget.run_panel.run_button.enabled


def test_expected_error_is_a_notification_not_a_log_entry(
    make_napari_viewer, qtbot, caplog
):
    viewer = make_napari_viewer()
    viewer.add_image(np.full((20, 20), 3, np.uint8), name="flat")
    widget = open_widget(viewer)
    n = len(notification_manager.records)
    with caplog.at_level(logging.DEBUG, logger="napari_kmeans_seg._qt.runner"):
        click(qtbot, widget.run_panel.run_button)
        qtbot.waitUntil(lambda: not widget.busy, timeout=10_000)
    assert any("has 1 distinct value" in m for m in new_messages(n))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# ---------------------------------------------------------- responsiveness


class EventLoopTicks:
    """The ticks of a 10 ms QTimer in the main thread, and how long the main
    thread waited for a CPU between them.

    A gap between ticks is time the event loop did not turn: work in the main
    thread, or the main thread waiting (for the GIL held by a worker, for a
    lock). On a loaded machine it also grows by the time the main thread was
    ready to run but every CPU was taken by other processes: that time is no
    fault of the widget. Linux counts it per thread (the second field of
    ``/proc/self/task/<tid>/schedstat``: nanoseconds spent runnable on a run
    queue), so :meth:`gaps` can leave it out. Elsewhere it counts as 0 and the
    gaps are the wall-clock gaps.
    """

    def __init__(self):
        path = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        self._schedstat = path if self._read(path) is not None else None
        self.wall: list[float] = []
        self.queued: list[float] = []
        self.working: list[float] = []  # the main thread's CPU time
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self.tick)

    @staticmethod
    def _read(path: str) -> float | None:
        try:
            with open(path) as f:
                return int(f.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return None

    def tick(self) -> None:
        self.wall.append(time.perf_counter())
        self.working.append(time.thread_time())
        queued = self._read(self._schedstat) if self._schedstat else None
        self.queued.append(queued or 0.0)

    def gaps(self) -> tuple[np.ndarray, np.ndarray]:
        """Wall-clock gaps between ticks, and the same gaps less the time the
        main thread waited for a CPU in them."""
        wall = np.diff(self.wall)
        return wall, wall - np.diff(self.queued)

    def largest_gaps(self, qtbot, widget) -> tuple[float, float, str]:
        """Click Segment; the largest gap until idle on the wall clock, the
        largest without the waits for a CPU, and what that one was made of."""
        for ticks in (self.wall, self.queued, self.working):
            ticks.clear()
        self.tick()
        click(qtbot, widget.run_panel.run_button)
        qtbot.waitUntil(lambda: not widget.busy, timeout=120_000)
        qtbot.wait(200)  # the last paint too
        wall, own = self.gaps()
        i = int(own.argmax())
        working = np.diff(self.working)[i]
        why = (
            f"{own[i] * 1000:.0f} ms: the main thread worked {working * 1000:.0f} "
            f"ms, waited {(own[i] - working) * 1000:.0f} ms (a lock, the GIL) and "
            f"{(wall[i] - own[i]) * 1000:.0f} ms more for a CPU"
        )
        return float(wall.max()), float(own.max()), why


#: the longest the event loop may stop turning (less the waits for a CPU): napari
#: itself builds a new 4K layer in the main thread in one step (its texture, its
#: controls), measured at 200–260 ms on the CI machine, whose timings wander by
#: ±30 % from run to run; 250 ms failed one run in three at 259 ms. The limit is
#: for work of this plugin's in the main thread (a segmentation or a whole 4K
#: output computed there takes seconds), not for napari's cost of one layer.
MAX_GAP = 0.4


def test_event_loop_gaps_count_a_blocked_main_thread(make_napari_viewer, qtbot):
    """The measure of the responsiveness test below sees the main thread doing
    work and waiting (as for a GIL held by a worker), whatever the load."""
    make_napari_viewer()
    ticks = EventLoopTicks()

    def busy() -> None:  # 0.3 s of CPU time in the main thread
        start = time.thread_time()
        while time.thread_time() - start < 0.3:
            pass

    ticks.timer.start()
    try:
        qtbot.wait(100)
        QTimer.singleShot(0, busy)
        qtbot.wait(500)
        QTimer.singleShot(0, lambda: time.sleep(0.3))  # waiting, not working
        qtbot.wait(500)
    finally:
        ticks.timer.stop()
    wall, own = ticks.gaps()
    assert (own >= 0.29).sum() >= 2  # each 0.3 s block is seen whole
    assert (wall >= own - 1e-6).all()


def test_event_loop_stays_responsive_during_a_4k_segmentation(
    make_napari_viewer, qtbot
):
    """A 10 ms QTimer keeps ticking while a 4K RGB photo is segmented: the work runs
    in a thread, the compiled passes were loaded when the widget opened (in a
    background thread, followed by a garbage collection: the test waits for it, as
    a user choosing an image would),
    and the layers are added one per turn of the event loop (each new one hidden
    first, then shown). No gap may exceed 400 ms (:data:`MAX_GAP`), on the first
    run (new layers)
    and on a second (layers updated in place), less the time the main thread
    waited for a CPU taken by other processes (see :class:`EventLoopTicks`): a
    loaded machine does not fail the test, work or waiting in the main thread
    does."""
    from skimage import data

    astro = data.astronaut()
    rows = np.linspace(0, 511, 2160).astype(int)
    cols = np.linspace(0, 511, 3840).astype(int)
    image = astro[rows][:, cols]  # 2160 x 3840 RGB uint8
    viewer = make_napari_viewer()
    viewer.add_image(image, name="4k")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 3
    qtbot.waitUntil(widget_module.WARM.is_set, timeout=60_000)
    # the warm-up ends with a full garbage collection, so that none falls in the
    # first Segment; in this test process it ran for an earlier test: collect now
    gc.collect()
    qtbot.wait(100)

    ticks = EventLoopTicks()
    ticks.timer.start()
    try:
        first = ticks.largest_gaps(qtbot, widget)
        assert len(viewer.layers) == 5
        widget.options_panel.random_state.value = 1
        again = ticks.largest_gaps(qtbot, widget)
    finally:
        ticks.timer.stop()
    print(
        "\nlargest event-loop gap, 4K RGB k=3 (wall clock / less the waits for a "
        f"CPU): {first[0] * 1000:.0f} / {first[1] * 1000:.0f} ms adding new layers, "
        f"{again[0] * 1000:.0f} / {again[1] * 1000:.0f} ms updating them"
    )
    assert first[1] < MAX_GAP, first[2]
    assert again[1] < MAX_GAP, again[2]
    expected = segment(image, 3, random_state=1)
    np.testing.assert_array_equal(viewer.layers["4k clusters"].data, expected.labels)
