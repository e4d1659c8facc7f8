"""The memory guard in the widget: a refusal is a notification, nothing is
added and the Run button comes back."""

import numpy as np
from gui_helpers import open_widget
from napari.utils.notifications import notification_manager
from qtpy.QtCore import Qt

import napari_kmeans_seg.core.memory as memory


def test_widget_shows_the_refusal_as_a_notification(
    make_napari_viewer, qtbot, monkeypatch
):
    monkeypatch.setattr(memory, "available_memory", lambda: 60 * 10**6)
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2000, 2000, 3), np.uint8), name="big")
    widget = open_widget(viewer)
    n = len(notification_manager.records)
    qtbot.mouseClick(widget.run_panel.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not widget.busy, timeout=10_000)
    messages = [str(r.message) for r in notification_manager.records[n:]]
    assert any("needs about" in m and "is available" in m for m in messages), messages
    assert [x.name for x in viewer.layers] == ["big"]
    assert widget.run_panel.run_button.enabled
