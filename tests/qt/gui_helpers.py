"""Driving the dock in a real viewer as a user does: open it from the Plugins menu,
click its buttons, wait for a run, read the notifications. Imported by the tests
under ``tests/qt`` (``from gui_helpers import ...``)."""

PLUGIN = "napari-kmeans-seg"
WIDGET = "K-Means Segmentation"


def open_widget(viewer):
    """Dock the segmentation widget the way a user does (Plugins menu) and return it."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    return widget


def click(qtbot, button, modifier=None):
    """Click a magicgui button (optionally with a keyboard modifier held)."""
    from qtpy.QtCore import Qt

    modifier = Qt.KeyboardModifier.NoModifier if modifier is None else modifier
    qtbot.mouseClick(button.native, Qt.MouseButton.LeftButton, modifier)


def click_and_wait(qtbot, widget, button=None, timeout=60_000):
    """Click ``button`` (default: Segment) and wait until the widget is idle again."""
    click(qtbot, widget.run_panel.run_button if button is None else button)
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def new_messages(since: int) -> list[str]:
    """The notification messages shown since record number ``since``."""
    from napari.utils.notifications import notification_manager

    return [str(r.message) for r in notification_manager.records[since:]]
