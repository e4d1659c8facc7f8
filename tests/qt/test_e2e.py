"""End to end in a real window, as a user: File ▸ Open Sample, Plugins menu, a
mouse click on Segment, and the canvas shows the labels."""

import numpy as np
from gui_helpers import WIDGET
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication, QMainWindow


def menu_action(menu_bar, *path):
    """The action at ``path`` (titles, ignoring '&' and a trailing ' (plugin)')."""
    actions = menu_bar.actions()
    action = None
    for title in path:
        for candidate in actions:
            text = candidate.text().replace("&", "")
            if text == title or text.startswith(f"{title} ("):
                action = candidate
                break
        else:
            names = [a.text() for a in actions]
            raise AssertionError(f"no menu item {title!r} among {names}")
        if action.menu() is not None:
            action.menu().aboutToShow.emit()  # app-model menus fill in on show
            actions = action.menu().actions()
    return action


def test_sample_menu_plugin_menu_click_and_canvas(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMainWindow)]
    menu_bar = next(w for w in windows if w.isVisible()).menuBar()

    menu_action(
        menu_bar, "File", "Open Sample", WIDGET, "Astronaut (RGB photo)"
    ).trigger()
    qtbot.waitUntil(lambda: "astronaut" in viewer.layers, timeout=10_000)

    plugin_menu = [a.text().replace("&", "") for a in menu_bar.actions()]
    assert "Plugins" in plugin_menu
    menu_action(menu_bar, "Plugins", WIDGET, WIDGET).trigger()
    qtbot.waitUntil(lambda: any(WIDGET in name for name in viewer.window.dock_widgets))
    name = next(name for name in viewer.window.dock_widgets if WIDGET in name)
    widget = viewer.window.dock_widgets[name]
    assert widget.inputs_panel.image.value is viewer.layers["astronaut"]

    qtbot.mouseClick(widget.run_panel.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "astronaut clusters" in viewer.layers, timeout=60_000)
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    labels = viewer.layers["astronaut clusters"]
    assert labels.visible and labels.opacity > 0

    after = viewer.screenshot(canvas_only=True, flash=False)
    labels.visible = False  # the same canvas without the labels
    before = viewer.screenshot(canvas_only=True, flash=False)
    assert after.shape == before.shape
    changed = np.any(after[..., :3] != before[..., :3], axis=-1)
    # the labels layer is drawn over (most of) the photo
    assert changed.mean() > 0.2, changed.mean()
