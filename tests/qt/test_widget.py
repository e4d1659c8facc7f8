"""The plugin as a user meets it: discovered by napari, docked from its manifest,
Segment clicked in a real viewer."""

import numpy as np
import pytest
from gui_helpers import PLUGIN, WIDGET, click_and_wait, open_widget
from npe2 import PluginManifest


def test_manifest_validates_and_contributes():
    manifest = PluginManifest.from_distribution(PLUGIN)
    manifest.validate_imports()
    assert manifest.display_name == WIDGET
    widgets = [w.display_name for w in manifest.contributions.widgets]
    assert widgets == [WIDGET, "Colour Space View"]
    menu = manifest.contributions.menus["napari/layers/segment"]
    assert menu[0].command == "napari-kmeans-seg.make_widget"


def test_segment_click_adds_layers_then_updates_them(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    source = viewer.layers["astronaut"]
    source.scale = (2.0, 0.5)
    source.translate = (10.0, -5.0)
    widget = open_widget(viewer)
    assert widget.inputs_panel.image.value is source
    widget.options_panel.n_clusters.value = 3
    click_and_wait(qtbot, widget)

    names = [layer.name for layer in viewer.layers]
    assert names == ["astronaut"] + ["astronaut clusters"] + [
        f"astronaut cluster {i}" for i in (1, 2, 3)
    ]
    labels = viewer.layers["astronaut clusters"]
    assert labels.data.shape == (512, 512) and labels.data.dtype == np.uint8
    assert set(np.unique(labels.data)) == {1, 2, 3}
    for layer in viewer.layers[1:]:
        np.testing.assert_array_equal(layer.scale, (2.0, 0.5))
        np.testing.assert_array_equal(layer.translate, (10.0, -5.0))
    for i in (1, 2, 3):
        masked = viewer.layers[f"astronaut cluster {i}"]
        assert masked.rgb and masked.data.shape == (512, 512, 3)
        assert masked.data.dtype == np.uint8
        outside = labels.data != i
        assert not masked.data[outside].any()
        np.testing.assert_array_equal(masked.data[~outside], source.data[~outside])
    assert "3 clusters" in widget.run_panel.status.value
    assert widget.inputs_panel.image.value is source

    # a second click replaces the data in the same layers
    kept = list(viewer.layers)
    widget.options_panel.n_clusters.value = 3
    widget.options_panel.random_state.value = 5
    click_and_wait(qtbot, widget)
    assert list(viewer.layers) == kept


def test_error_is_a_notification_not_a_crash(make_napari_viewer, qtbot):
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((20, 20), np.uint8), name="flat")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 3
    n_before = len(notification_manager.records)
    click_and_wait(qtbot, widget)
    messages = [str(r.message) for r in notification_manager.records[n_before:]]
    # the fix first, and never an advice the widget cannot follow (k >= 2)
    expected = "Choose another image: this one has 1 distinct value"
    assert any(m.startswith(expected) for m in messages), messages
    assert not any("n_clusters <= 1" in m for m in messages)
    # the whole message stays visible in the widget
    assert widget.run_panel.status.value.startswith(expected)
    assert widget.run_panel.status.native.wordWrap()
    assert [layer.name for layer in viewer.layers] == ["flat"]
    assert widget.run_panel.run_button.enabled


def test_too_few_values_advises_a_k_the_widget_offers(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    data = np.zeros((20, 20), np.uint8)
    data[:, 10:] = 200
    viewer.add_image(data, name="two")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 4
    click_and_wait(qtbot, widget)
    assert widget.run_panel.status.value.startswith(
        "Choose at most 2 clusters: the image has"
    )


def test_widget_follows_selected_image(make_napari_viewer):
    viewer = make_napari_viewer()
    a = viewer.add_image(np.zeros((5, 5)), name="a")
    b = viewer.add_image(np.ones((5, 5)), name="b")
    widget = open_widget(viewer)
    viewer.layers.selection.active = a
    assert widget.inputs_panel.image.value is a
    viewer.layers.selection.active = b
    assert widget.inputs_panel.image.value is b


@pytest.mark.parametrize("shape", [(30, 40), (6, 30, 40)])
def test_segment_greyscale_and_stack(make_napari_viewer, qtbot, shape):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    data = (rng.random(shape) * 4).astype(np.uint16) * 500
    viewer.add_image(data, name="img")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 4
    click_and_wait(qtbot, widget)
    assert viewer.layers["img clusters"].data.shape == shape
    assert len(viewer.layers) == 6
