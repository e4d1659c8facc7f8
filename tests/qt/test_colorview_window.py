"""The colour-space view opened from the dock gets room of its own and a camera
that shows the spread of the points, readable on a 1280x720 screen."""

import numpy as np
from gui_helpers import PLUGIN, click, click_and_wait, open_widget
from qtpy.QtWidgets import QApplication

VIEW = "Colour Space View"


def settle(qtbot, ms=400):
    QApplication.processEvents()
    qtbot.wait(ms)


def to_canvas(visual, scene_points) -> np.ndarray:
    """Where scene points land on the canvas (logical pixels), by vispy's own
    transform of ``visual``."""
    tr = visual.get_transform("visual", "canvas")
    mapped = np.asarray(tr.map(np.asarray(scene_points, np.float32)), float)
    return mapped[:, :2] / mapped[:, 3:4]


def test_the_view_opens_readable_beside_the_dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    window = widget.native.window()
    window.resize(1280, 720)
    settle(qtbot)
    click_and_wait(qtbot, widget)
    settle(qtbot)
    dock_height = widget.native.height()

    click(qtbot, widget.colorview_button)
    settle(qtbot)
    _, view = viewer.window.add_plugin_dock_widget(PLUGIN, VIEW)  # the one open
    settle(qtbot)
    view.render()
    # a readable canvas, and the main dock keeps its height
    canvas = view.canvas.native
    assert canvas.width() >= 480 and canvas.height() >= 400
    assert widget.native.height() >= dock_height - 5
    # it fits the screen the viewer's window fits
    view_window = view.native.window()
    assert view_window.width() <= 1280 and view_window.height() <= 720

    # the points spread over the canvas, not a thin strip
    w, h = canvas.width(), canvas.height()
    xy = view.point_screen_positions()
    assert len(xy) > 1000
    (x0, y0), (x1, y1) = np.percentile(xy, [2, 98], axis=0)
    assert x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h  # on the canvas
    assert (x1 - x0) >= 0.3 * w and (y1 - y0) >= 0.3 * h
    assert (x1 - x0) * (y1 - y0) >= 0.15 * w * h
    cov = np.cov(xy.T)
    # the smaller spread is not a sliver of the larger
    small, large = np.sqrt(np.linalg.eigvalsh(cov))
    assert small >= 0.25 * large

    # the black-white diagonal is seen across, not end-on nor upright
    black, white = to_canvas(view.point_markers, [(0, 0, 0), (1, 1, 1)])
    dx, dy = white - black
    assert np.hypot(dx, dy) >= 0.3 * min(w, h)
    assert abs(dx) >= np.tan(np.radians(20)) * abs(dy)  # >= 20 deg off vertical

    # axis names stay clear of the tick labels ("0", "255")
    names = to_canvas(view.axis_text, view.axis_text.pos)
    ticks = to_canvas(view.tick_text, view.tick_text.pos)
    gaps = np.hypot(*(names[:, None, :] - ticks[None, :, :]).transpose(2, 0, 1))
    assert gaps.min() >= 24


def test_the_view_still_draws_when_docked_and_floated_again(
    make_napari_viewer, qtbot, caplog
):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    click_and_wait(qtbot, widget)
    click(qtbot, widget.colorview_button)
    settle(qtbot)
    dock, view = viewer.window.add_plugin_dock_widget(PLUGIN, VIEW)
    assert dock.isFloating()
    before = view.render()
    for floating in (False, True):  # the user docks it, then floats it again
        dock.setFloating(floating)
        settle(qtbot)
        picture = view.render()
        assert picture[..., :3].std() > 10  # points and cube drawn, not blank
        assert picture.shape[2] == before.shape[2]
    assert not [r for r in caplog.records if "Error drawing" in r.getMessage()]
    assert len(view.point_screen_positions()) > 1000
