"""napari's own *Duplicate Layer* action (the command the layer list's context
menu runs) on the plugin's outputs, in a real viewer: the copy is the user's and
no later Segment removes or writes over it."""

import hashlib

import numpy as np
import pytest

from napari_kmeans_seg import segment_layer


@pytest.fixture
def photo():
    from skimage import data

    return data.astronaut()[::4, ::4]


def napari_duplicate(viewer, layer):
    """Select ``layer`` and run napari's own duplicate command, as its menu does."""
    from napari._app_model import get_app_model

    viewer.layers.selection.clear()
    viewer.layers.selection.active = layer
    n = len(viewer.layers)
    get_app_model().commands.execute_command("napari.layer.duplicate").result()
    assert len(viewer.layers) == n + 1
    copy = viewer.layers[f"{layer.name} copy"]
    assert copy is not layer
    assert copy.metadata == layer.metadata  # what made copies look like ours
    return copy


def fingerprint(layer):
    data = np.asarray(layer.data)
    return layer.name, hashlib.sha256(data.tobytes()).hexdigest(), data.shape


@pytest.mark.parametrize("which", ["img cluster 3", "img mean colour"])
def test_a_copy_made_by_napari_survives_a_rerun(make_napari_viewer, photo, which):
    viewer = make_napari_viewer()
    viewer.add_image(photo, name="img")
    segment_layer(viewer, "img", 3, mean_color_layer=True)
    copy = napari_duplicate(viewer, viewer.layers[which])
    before = fingerprint(copy)
    segment_layer(viewer, "img", 2, random_state=1)  # fewer clusters, no mean colour
    assert copy in viewer.layers and fingerprint(copy) == before
    assert which not in viewer.layers  # the original, ours, went


def test_a_labels_copy_painted_on_is_never_overwritten(make_napari_viewer, photo):
    viewer = make_napari_viewer()
    viewer.add_image(photo, name="img")
    segment_layer(viewer, "img", 3)
    original = viewer.layers["img clusters"]
    copy = napari_duplicate(viewer, original)
    viewer.layers.remove(original)
    copy.name = "img clusters"  # the user takes the name back, then paints
    painted = np.array(copy.data, copy=True)
    painted[:5, :5] = 9
    copy.data = painted
    before = fingerprint(copy)
    result = segment_layer(viewer, "img", 4)
    assert copy in viewer.layers and fingerprint(copy) == before
    ours = viewer.layers["img clusters [1]"]
    np.testing.assert_array_equal(ours.data, result.labels)
