"""The Suggest k plot says which image it scored."""

import numpy as np
from gui_helpers import click, open_widget
from skimage import data


def suggest_and_wait(qtbot, widget):
    click(qtbot, widget.suggest_k.suggest_button)
    qtbot.waitUntil(lambda: not widget.suggest_k.busy, timeout=120_000)


def test_the_plot_names_the_image_it_scored(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(data.astronaut()[::4, ::4], name="astronaut")
    widget = open_widget(viewer)
    panel = widget.suggest_k
    assert panel.caption.native.isHidden()  # nothing scored yet
    suggest_and_wait(qtbot, widget)
    assert not panel.plot.isHidden() and not panel.caption.native.isHidden()
    assert "'astronaut'" in panel.caption.value
    assert "astronaut" in panel.plot.toolTip()
    # choosing another image does not relabel what was scored
    viewer.add_image(np.asarray(data.camera()[::4, ::4]), name="camera")
    widget.inputs_panel.image.value = viewer.layers["camera"]
    assert "'astronaut'" in panel.caption.value
    suggest_and_wait(qtbot, widget)
    assert "'camera'" in panel.caption.value
    assert "astronaut" not in panel.caption.value
