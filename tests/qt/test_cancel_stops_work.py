"""Cancel stops the work, not only the widget, in a real viewer, on a 4K float32
RGB photo (k = 6, every output on): once Cancel is clicked, while the clusters
are computed, while the worker builds the output layers or while they are added,
the process is nearly idle and no output layer is added."""

import re
import threading
import time

import numpy as np
import pytest
from gui_helpers import click, open_widget
from qtpy.QtCore import QThreadPool

from napari_kmeans_seg import segment
from napari_kmeans_seg._qt.warm_up import WARM

pytestmark = pytest.mark.slow

#: CPU seconds the whole process may use in the window after Cancel
IDLE_CPU, WINDOW_S = 0.5, 1.5
#: a 4K photo's size
SHAPE_4K = (2160, 3840, 3)


@pytest.fixture
def big_widget(make_napari_viewer, qtbot):
    """The widget on a 4K float32 RGB image, k = 6, every output on."""
    rng = np.random.default_rng(0)
    segment(rng.random((60, 60, 3), dtype=np.float32), 6)  # compiled beforehand
    image = rng.random(SHAPE_4K, dtype=np.float32)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="big", rgb=True)
    widget = open_widget(viewer)
    assert WARM.wait(180)  # the widget's warm-up is not the run's work
    widget.options_panel.n_clusters.value = 6
    widget.options_panel.mean_color_layer.value = True
    yield viewer, widget
    assert QThreadPool.globalInstance().waitForDone(60_000)
    qtbot.wait(50)


def cpu_after_cancel(qtbot, viewer, widget) -> tuple[float, list[str]]:
    """Click Cancel; the CPU seconds used in the next :data:`WINDOW_S` seconds
    (the event loop running) and the layer names at the click."""
    names = [layer.name for layer in viewer.layers]
    click(qtbot, widget.run_panel.cancel_button)
    return cpu_in_window(qtbot, widget), names


def cpu_in_window(qtbot, widget) -> float:
    """The CPU seconds the process uses in the next :data:`WINDOW_S` seconds (the
    event loop running)."""
    start = time.process_time()
    qtbot.wait(int(WINDOW_S * 1000))
    used = time.process_time() - start
    status = widget.run_panel.status.value
    print(f"\n{used:.2f} s of CPU in the {WINDOW_S} s after Cancel: {status}")
    return used


@pytest.mark.timeout(300)
def test_cancel_while_computing_leaves_the_process_idle(qtbot, big_widget):
    viewer, widget = big_widget
    click(qtbot, widget.run_panel.run_button)
    qtbot.wait(300)  # the worker is under way
    assert widget.busy and widget.run_panel.cancel_button.enabled, (
        widget.run_panel.status.value
    )
    used, names = cpu_after_cancel(qtbot, viewer, widget)
    assert not widget.busy and widget.run_panel.status.value == "cancelled"
    assert used < IDLE_CPU
    assert [layer.name for layer in viewer.layers] == names == ["big"]


@pytest.mark.timeout(300)
def test_cancel_while_adding_the_layers_stops_adding_them(qtbot, big_widget):
    viewer, widget = big_widget
    click(qtbot, widget.run_panel.run_button)
    qtbot.waitUntil(
        lambda: widget.run_panel.status.value.startswith("adding the layers"),
        timeout=120_000,
    )
    assert widget.run_panel.cancel_button.enabled  # Cancel still applies
    # how far it got, in the dock
    assert re.fullmatch(
        r"adding the layers of big… \(\d/8\)", widget.run_panel.status.value
    )
    assert widget.run_panel.progress.isVisibleTo(widget.native)
    assert widget.run_panel.progress.maximum() == 8
    used, names = cpu_after_cancel(qtbot, viewer, widget)
    assert not widget.busy and widget.run_panel.status.value.startswith("cancelled")
    assert used < IDLE_CPU
    # nothing added after the click
    assert [layer.name for layer in viewer.layers] == names


@pytest.mark.timeout(300)
def test_cancel_once_the_labels_are_in_keeps_them_shown_with_their_table(
    qtbot, big_widget
):
    viewer, widget = big_widget
    click(qtbot, widget.run_panel.run_button)
    qtbot.waitUntil(lambda: "big clusters" in viewer.layers, timeout=120_000)
    used, names = cpu_after_cancel(qtbot, viewer, widget)
    assert used < IDLE_CPU
    assert [layer.name for layer in viewer.layers] == names
    assert len(names) < 1 + 1 + 1 + 6  # the mean colour, labels, 6 clusters not all
    # the labels layer is shown (not left hidden between its two steps), and the
    # table lists its clusters, linked with it
    labels = viewer.layers["big clusters"]
    assert labels.visible
    assert widget.table_panel.cluster_ids == [1, 2, 3, 4, 5, 6]
    assert widget.linked_labels is labels
    added = len(names) - 1
    assert widget.run_panel.status.value == f"cancelled: {added} of 8 layers added"


@pytest.mark.timeout(300)
def test_cancel_while_building_the_outputs_leaves_the_process_idle(
    qtbot, big_widget, monkeypatch
):
    """Cancel once the clusters are found, while the worker builds the output
    layers (the mean-colour image of the 4K photo; it waits for the click, so
    that the click lands in that phase): nothing keeps the process busy."""
    from napari_kmeans_seg.core.result import SegmentationResult

    viewer, widget = big_widget
    building, clicked = threading.Event(), threading.Event()
    real = SegmentationResult.mean_color_image

    def paused(self, *args, **kwargs):
        building.set()
        clicked.wait(30)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SegmentationResult, "mean_color_image", paused)
    click(qtbot, widget.run_panel.run_button)
    qtbot.waitUntil(building.is_set, timeout=120_000)
    names = [layer.name for layer in viewer.layers]
    click(qtbot, widget.run_panel.cancel_button)
    clicked.set()
    used = cpu_in_window(qtbot, widget)
    assert QThreadPool.globalInstance().waitForDone(60_000)
    assert [layer.name for layer in viewer.layers] == names == ["big"]
    assert used < IDLE_CPU
