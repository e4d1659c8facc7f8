"""A greyscale image's clusters are drawn in colours that stand out from the
image under them: by default not in their own mean grey."""

import numpy as np
import pytest
from gui_helpers import click_and_wait, open_widget
from skimage import data
from skimage.color import rgb2lab

from napari_kmeans_seg.layers.names import labels_name
from napari_kmeans_seg.layers.viewer_layers import find_output_layer

#: CIELAB distance (Delta E 1976) a label colour keeps from its cluster's grey:
#: ~2.3 is just noticeable, 25 reads at a glance
MIN_DELTA_E = 25.0


def shown_greys(widget, layer) -> np.ndarray:
    """Each cluster's mean grey as the image layer shows it, RGB in [0, 1]."""
    lo, hi = layer.contrast_limits
    means = np.asarray(widget.last_result.channel_means, float)[:, 0]
    grey = np.clip((means - lo) / (hi - lo), 0.0, 1.0)
    return np.repeat(grey[:, None], 3, axis=1)


@pytest.mark.parametrize("k", [3, 5, 16])
def test_grey_clusters_stand_out_from_their_own_grey(make_napari_viewer, qtbot, k):
    viewer = make_napari_viewer()
    image = viewer.add_image(data.camera()[::2, ::2], name="camera")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = k
    click_and_wait(qtbot, widget)
    labels = find_output_layer(viewer, "camera", labels_name("camera"))
    ids = np.arange(1, k + 1)
    colors = np.asarray(labels.colormap.map(ids), float)[:, :3]
    greys = shown_greys(widget, image)
    delta = np.linalg.norm(rgb2lab(colors[None])[0] - rgb2lab(greys[None])[0], axis=1)
    assert delta.min() >= MIN_DELTA_E, delta
    # the clusters differ from one another too
    lab = rgb2lab(colors[None])[0]
    apart = np.linalg.norm(lab[:, None] - lab[None], axis=-1)[np.triu_indices(k, 1)]
    assert apart.min() >= MIN_DELTA_E, apart


def test_an_rgb_image_keeps_its_mean_colours_and_a_choice_is_kept(
    make_napari_viewer, qtbot
):
    viewer = make_napari_viewer()
    viewer.add_image(data.astronaut()[::4, ::4], name="astronaut")
    widget = open_widget(viewer)
    assert widget.options_panel.label_colors.value == "mean"
    viewer.add_image(data.camera()[::4, ::4], name="camera")
    widget.inputs_panel.image.value = viewer.layers["camera"]
    assert widget.options_panel.label_colors.value == "distinct"
    widget.options_panel.label_colors.value = "mean"  # the user's choice stays
    widget.inputs_panel.image.value = viewer.layers["astronaut"]
    widget.inputs_panel.image.value = viewer.layers["camera"]
    assert widget.options_panel.label_colors.value == "mean"


def test_the_dock_says_a_greyscale_result_is_the_global_optimum(
    make_napari_viewer, qtbot
):
    """One feature (here float greyscale): the best partition there is, said so;
    a colour image's result is a fixed point and says nothing more."""
    viewer = make_napari_viewer()
    grey = data.camera()[::2, ::2] / 255.0
    viewer.add_image(grey + np.random.default_rng(0).normal(0, 1e-3, grey.shape))
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 4
    click_and_wait(qtbot, widget)
    assert widget.run_panel.status.value.endswith("s (the global optimum)")
    viewer.add_image(data.astronaut()[::4, ::4], name="astronaut")
    viewer.layers.selection.active = viewer.layers["astronaut"]
    click_and_wait(qtbot, widget)
    assert "astronaut clusters" in viewer.layers
    assert widget.run_panel.status.value.endswith(" s")
