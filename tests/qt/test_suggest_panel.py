"""The "Suggest k" panel: scores k in a worker, plots them, sets the k spin box."""

import numpy as np
import pytest
from gui_helpers import open_widget
from magicgui.widgets import SpinBox
from qtpy.QtCore import QPoint, Qt

from conftest import colour_groups
from napari_kmeans_seg._qt.suggest_panel import PLOT_HELP, SuggestKPanel


@pytest.fixture
def spin():
    return SpinBox(value=3, min=2, max=20)


def make_panel(qtbot, spin, image, **options):
    panel = SuggestKPanel(spin, lambda: (image, options))
    qtbot.addWidget(panel.native)
    panel.native.resize(300, 250)
    panel.native.show()
    return panel


def suggest_and_wait(qtbot, panel):
    qtbot.mouseClick(panel.suggest_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)


def test_suggest_then_use(qtbot, spin):
    panel = make_panel(qtbot, spin, colour_groups(4, 0), rgb=True)
    assert not panel.use_button.enabled and not panel.plot.isVisible()
    suggest_and_wait(qtbot, panel)
    assert panel.suggestion.suggested == 4
    assert panel.use_button.enabled and panel.use_button.text == "Use k = 4"
    # one recommendation, with a one-line reason; no second opinion in the text
    assert panel.status.value.startswith("Use k = 4: its clusters are the best")
    assert "elbow" not in panel.status.value
    # both criteria are explained where the user points
    assert "silhouette" in PLOT_HELP and "elbow" in PLOT_HELP
    assert panel.plot.toolTip() == PLOT_HELP
    assert panel.plot.isVisible()
    picture = panel.plot.grab().toImage()
    assert picture.width() > 50 and picture.height() > 50
    qtbot.mouseClick(panel.use_button.native, Qt.MouseButton.LeftButton)
    assert spin.value == 4

    # another k, clicked on the plot
    x = round(panel.plot.x_of(7))
    qtbot.mouseClick(panel.plot, Qt.MouseButton.LeftButton, pos=QPoint(x, 40))
    assert panel.plot.chosen == 7 and panel.use_button.text == "Use k = 7"
    with qtbot.waitSignal(panel.k_used) as blocker:
        panel.use()
    assert blocker.args == [7] and spin.value == 7


def test_refused_image_is_a_notification(qtbot, spin):
    from napari.utils.notifications import notification_manager

    def no_image():
        raise ValueError("no image layer chosen")

    panel = SuggestKPanel(spin, no_image)
    qtbot.addWidget(panel.native)
    n = len(notification_manager.records)
    assert panel.suggest() is None and not panel.busy
    assert any(
        "no image layer chosen" in str(r.message)
        for r in notification_manager.records[n:]
    )


def test_errors_and_warnings_of_the_worker_are_notifications(qtbot, spin):
    from napari.utils.notifications import notification_manager

    n = len(notification_manager.records)
    flat = make_panel(qtbot, spin, np.zeros((20, 20), np.uint8))
    suggest_and_wait(qtbot, flat)
    three = make_panel(qtbot, spin, np.tile(np.uint8([0, 90, 200]), (30, 10)))
    suggest_and_wait(qtbot, three)
    messages = [str(r.message) for r in notification_manager.records[n:]]
    assert any("nothing to split" in m for m in messages)
    assert any("only 3 distinct values" in m for m in messages)
    assert three.suggestion.k_values == (2, 3)
    assert flat.suggestion is None and not flat.use_button.enabled


def test_fits_the_segmentation_widget(make_napari_viewer, qtbot):
    """What the wiring in the widget will look like: the panel drives the real
    widget's k spin box from its current image layer."""
    from napari_kmeans_seg.layers.outputs import resolve_image_layer

    viewer = make_napari_viewer()
    viewer.add_image(colour_groups(5, 1), name="groups")
    widget = open_widget(viewer)

    def current_image():
        layer = resolve_image_layer(viewer, widget.inputs_panel.image.value)
        return np.asarray(layer.data), {"rgb": bool(layer.rgb)}

    panel = SuggestKPanel(widget.options_panel.n_clusters, current_image)
    viewer.window.add_dock_widget(panel, name="suggest k")
    suggest_and_wait(qtbot, panel)
    panel.use()
    assert widget.options_panel.n_clusters.value == 5


def test_the_plot_labels_its_axes(qtbot, spin):
    panel = make_panel(qtbot, spin, colour_groups(3, 2), rgb=True)
    suggest_and_wait(qtbot, panel)
    picture = panel.plot.grab().toImage()
    h = picture.height()

    def blue(x, y):
        c = picture.pixelColor(x, y)
        return c.blue() > c.red() + 60

    # "silhouette" written up the left edge, in the silhouette's blue, left of
    # the plot's frame and its dots
    left = [blue(x, y) for x in range(13) for y in range(h // 4, 3 * h // 4)]
    assert sum(left) > 10
    assert panel.plot.toolTip() == PLOT_HELP
