"""Small promises of the dock's controls, in a real viewer: a choice survives a
round trip through another input mode, a control that cannot work is off and
says why, and a group header says what it holds."""

import numpy as np
import pytest
from gui_helpers import PLUGIN, click, click_and_wait, open_widget
from qtpy.QtWidgets import QAbstractButton


@pytest.fixture
def photo_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    return viewer, open_widget(viewer)


@pytest.mark.parametrize("ticked", [True, False])
def test_masked_layers_choice_survives_a_trip_to_layers_as_channels(
    photo_widget, ticked
):
    _, widget = photo_widget
    widget.options_panel.masked_layers.value = ticked
    widget.inputs_panel.input_mode.value = "layers as channels"
    assert (
        not widget.options_panel.masked_layers.value
    )  # one per layer and cluster: off
    widget.inputs_panel.input_mode.value = "image"
    assert widget.options_panel.masked_layers.value is ticked  # the user's choice, back
    # and the choice made for channels is kept for them
    widget.inputs_panel.input_mode.value = "layers as channels"
    widget.options_panel.masked_layers.value = True
    widget.inputs_panel.input_mode.value = "image"
    widget.inputs_panel.input_mode.value = "layers as channels"
    assert widget.options_panel.masked_layers.value


@pytest.mark.timeout(300)
def test_use_k_is_off_while_a_loaded_model_fixes_k(photo_widget, qtbot, tmp_path):
    _, widget = photo_widget
    click_and_wait(qtbot, widget)
    path = widget.save_model(tmp_path / "model.json")
    click(qtbot, widget.suggest_k.suggest_button)
    qtbot.waitUntil(lambda: not widget.suggest_k.busy, timeout=120_000)
    use = widget.suggest_k.use_button
    assert use.enabled
    widget.load_model(path)
    assert not widget.options_panel.n_clusters.enabled and not use.enabled
    assert (
        "model fixes k" in use.tooltip
        and "model fixes k" in widget.options_panel.n_clusters.tooltip
    )
    widget.fit_new()
    assert widget.options_panel.n_clusters.enabled and use.enabled
    assert (
        "model" not in use.tooltip
        and "model" not in widget.options_panel.n_clusters.tooltip
    )


def test_the_options_header_says_what_it_holds(photo_widget):
    _, widget = photo_widget
    headers = [
        button
        for button in widget.options_panel.group.findChildren(QAbstractButton)
        if "Options" in button.text()
    ]
    assert len(headers) == 1
    tip = headers[0].toolTip()
    for part in ("colour features", "smoothing", "fit on", "mean colour layer"):
        assert part in tip


def test_a_look_at_layers_as_channels_keeps_the_masked_layers(photo_widget, qtbot):
    """Choosing layers as channels, then the image again: Segment still makes the
    image's masked layers (the box was not unticked behind the user's back)."""
    viewer, widget = photo_widget
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        viewer.add_image(rng.random((30, 40), dtype=np.float32), name=name)
    widget.inputs_panel.input_mode.value = "layers as channels"
    widget.inputs_panel.channel_layers.value = [viewer.layers["a"], viewer.layers["b"]]
    widget.inputs_panel.input_mode.value = "image"
    widget.inputs_panel.image.value = viewer.layers["astronaut"]
    click_and_wait(qtbot, widget)
    assert "astronaut cluster 1" in viewer.layers
