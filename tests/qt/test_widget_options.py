"""The widget's feature options, Suggest k panel, colour-space button and
selection following, in a real viewer."""

import numpy as np
import pytest
from gui_helpers import click_and_wait, open_widget
from skimage import data

from napari_kmeans_seg import segment
from napari_kmeans_seg.layers.names import SOURCE_KEY


@pytest.fixture
def small_astronaut():
    return data.astronaut()[::4, ::4]


@pytest.fixture
def viewer_widget(make_napari_viewer, small_astronaut):
    viewer = make_napari_viewer()
    viewer.add_image(small_astronaut, name="astronaut")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 3
    widget.options_panel.masked_layers.value = False
    return viewer, widget


@pytest.mark.parametrize("space", ["hsv", "lab"])
def test_color_space_changes_labels(viewer_widget, qtbot, small_astronaut, space):
    viewer, widget = viewer_widget
    assert widget.options_panel.color_space.enabled
    click_and_wait(qtbot, widget)
    rgb_labels = viewer.layers["astronaut clusters"].data.copy()
    np.testing.assert_array_equal(
        rgb_labels, segment(small_astronaut, 3, rgb=True).labels
    )

    widget.options_panel.color_space.value = space
    click_and_wait(qtbot, widget)
    labels = viewer.layers["astronaut clusters"].data
    expected = segment(small_astronaut, 3, rgb=True, color_space=space).labels
    np.testing.assert_array_equal(labels, expected)
    assert not np.array_equal(labels, rgb_labels)


def test_feature_options_reach_segment(viewer_widget, qtbot, small_astronaut):
    viewer, widget = viewer_widget
    widget.options_panel.normalize.value = True
    widget.options_panel.spatial_weight.value = 0.5
    widget.options_panel.smoothing.value = 1.0
    click_and_wait(qtbot, widget)
    expected = segment(
        small_astronaut, 3, rgb=True, normalize=True, spatial_weight=0.5, smoothing=1
    ).labels
    np.testing.assert_array_equal(viewer.layers["astronaut clusters"].data, expected)


def test_color_space_only_for_rgb(make_napari_viewer, small_astronaut):
    viewer = make_napari_viewer()
    viewer.add_image(small_astronaut[..., 0], name="grey")
    widget = open_widget(viewer)
    assert widget.inputs_panel.image.value.name == "grey"
    assert not widget.options_panel.color_space.enabled
    assert widget.feature_options()["color_space"] == "rgb"
    viewer.add_image(small_astronaut, name="colour")
    assert widget.inputs_panel.image.value.name == "colour"
    assert widget.options_panel.color_space.enabled


def test_mean_color_layer(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    assert not widget.options_panel.mean_color_layer.value
    click_and_wait(qtbot, widget)
    assert "astronaut mean colour" not in viewer.layers
    widget.options_panel.mean_color_layer.value = True
    click_and_wait(qtbot, widget)
    layer = viewer.layers["astronaut mean colour"]
    assert layer.rgb and layer.data.shape == viewer.layers["astronaut"].data.shape
    assert layer.metadata[SOURCE_KEY] == "astronaut"


def test_label_colors_distinct_vs_mean(viewer_widget, qtbot):
    viewer, widget = viewer_widget

    def colors():
        cmap = viewer.layers["astronaut clusters"].colormap
        return np.array([cmap.map(i) for i in (1, 2, 3)]).reshape(3, -1)

    click_and_wait(qtbot, widget)
    mean = colors()
    widget.options_panel.label_colors.value = "distinct"
    click_and_wait(qtbot, widget)
    distinct = colors()
    assert not np.allclose(mean, distinct)


def test_model_disables_feature_options(viewer_widget, qtbot, tmp_path):
    viewer, widget = viewer_widget
    click_and_wait(qtbot, widget)
    path = widget.save_model(tmp_path / "m.json")
    widget.load_model(path)
    for w in (
        widget.options_panel.color_space,
        widget.options_panel.normalize,
        widget.options_panel.spatial_weight,
    ):
        assert not w.enabled
    assert not widget.options_panel.smoothing.enabled
    assert not widget.suggest_k.suggest_button.enabled
    # a loaded model's k is shown, and fixed
    assert widget.options_panel.n_clusters.value == widget.model.n_clusters
    assert not widget.options_panel.n_clusters.enabled
    assert (
        widget.options_panel.label_colors.enabled
        and widget.options_panel.mean_color_layer.enabled
    )
    widget.options_panel.color_space.value = "hsv"  # ignored: the model's options apply
    click_and_wait(qtbot, widget)
    assert "astronaut clusters" in viewer.layers
    widget.fit_new()
    assert (
        widget.options_panel.color_space.enabled
        and widget.suggest_k.suggest_button.enabled
    )


def test_suggest_panel_gets_image_and_options(viewer_widget, qtbot, small_astronaut):
    _, widget = viewer_widget
    widget.options_panel.color_space.value = "lab"
    image, options = widget._image_for_suggest()
    np.testing.assert_array_equal(image, small_astronaut)
    assert options["rgb"] is True and options["color_space"] == "lab"
    assert options["random_state"] == widget.options_panel.random_state.value
    worker = widget.suggest_k.suggest()
    assert worker is not None
    qtbot.waitUntil(lambda: not widget.suggest_k.busy, timeout=60_000)
    assert widget.suggest_k.suggestion is not None
    widget.suggest_k.use(4)
    assert widget.options_panel.n_clusters.value == 4


def test_colorview_button_docks_the_view(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    click_and_wait(qtbot, widget)
    widget.colorview_button.native.click()
    docks = viewer.window.dock_widgets  # public: the inner widgets
    name = next(n for n in docks if "Colour Space View" in n)
    view = docks[name]
    assert view is widget.open_colorview()  # a second click: the same view
    qtbot.waitUntil(lambda: not view.busy, timeout=30_000)
    assert len(view.cluster_ids) > 0


def test_follow_selection_ignores_plugin_layers(viewer_widget, qtbot):
    viewer, widget = viewer_widget
    widget.options_panel.mean_color_layer.value = True
    click_and_wait(qtbot, widget)
    source = viewer.layers["astronaut"]
    assert widget.inputs_panel.image.value is source
    viewer.layers.selection.active = viewer.layers["astronaut mean colour"]
    assert widget.inputs_panel.image.value is source
    other = viewer.add_image(np.zeros((8, 8, 3), np.uint8), name="other", rgb=True)
    viewer.layers.selection.active = other
    assert widget.inputs_panel.image.value is other
