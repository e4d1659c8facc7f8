"""Result layers and the console one-liner on a headless viewer model (no Qt)."""

import numpy as np
import pytest
from napari.components import ViewerModel
from napari.layers import Image, Labels

from napari_kmeans_seg import segment_layer


@pytest.fixture
def viewer():
    return ViewerModel()


def test_segment_layer_adds_labels_and_masked_layers(viewer, astronaut):
    source = viewer.add_image(
        astronaut, name="astro", scale=(2.0, 0.5), translate=(10.0, -5.0)
    )
    result = segment_layer(viewer, "astro", n_clusters=3)
    names = [layer.name for layer in viewer.layers]
    assert names == [
        "astro",
        "astro clusters",
        "astro cluster 1",
        "astro cluster 2",
        "astro cluster 3",
    ]
    labels = viewer.layers["astro clusters"]
    assert isinstance(labels, Labels)
    np.testing.assert_array_equal(labels.data, result.labels)
    for layer in viewer.layers[1:]:
        np.testing.assert_array_equal(layer.scale, source.scale)
        np.testing.assert_array_equal(layer.translate, source.translate)
    for i in (1, 2, 3):
        masked = viewer.layers[f"astro cluster {i}"]
        assert isinstance(masked, Image) and masked.rgb
        assert masked.data.dtype == np.uint8 and masked.data.shape == astronaut.shape
        np.testing.assert_array_equal(masked.data, result.masked_image(astronaut, i))
    # labels are drawn in each cluster's mean colour
    mean = astronaut[result.labels == 2].mean(axis=0) / 255
    drawn = labels.colormap.map(np.array([2]))[0, :3]
    np.testing.assert_allclose(drawn, mean, atol=1e-3)
    assert labels.features["pixels"].sum() == 512 * 512
    # hovering a pixel shows its own cluster's row
    row = labels.get_status((100, 100))["coordinates"]
    own = int(result.labels[100, 100])
    assert f"label: {own}," in row, row
    assert f"pixels: {result.counts[own - 1]}" in row, row
    # the user's selection is kept and the source data untouched
    assert viewer.layers.selection.active is source
    np.testing.assert_array_equal(source.data, astronaut)


def test_rerun_updates_in_place_and_drops_stale_layers(viewer, astronaut):
    viewer.add_image(astronaut, name="astro")
    segment_layer(viewer, "astro", n_clusters=4)
    labels = viewer.layers["astro clusters"]
    first = viewer.layers["astro cluster 1"]
    result = segment_layer(viewer, viewer.layers["astro"], n_clusters=3, random_state=1)
    assert len(viewer.layers) == 5
    assert viewer.layers["astro clusters"] is labels
    assert viewer.layers["astro cluster 1"] is first
    assert "astro cluster 4" not in viewer.layers
    np.testing.assert_array_equal(labels.data, result.labels)


def test_greyscale_layer_keeps_display_settings(viewer):
    from skimage import data

    viewer.add_image(
        data.camera(), name="cam", colormap="magma", contrast_limits=(10, 200)
    )
    segment_layer(viewer, "cam", 2)
    masked = viewer.layers["cam cluster 1"]
    assert masked.colormap.name == "magma"
    assert tuple(masked.contrast_limits) == (10, 200)
    assert not masked.rgb


def test_3d_stack(viewer):
    rng = np.random.default_rng(0)
    stack = (rng.random((4, 20, 30)) * 3).astype(np.uint16) * 1000
    viewer.add_image(stack, name="stack", scale=(3, 1, 1))
    result = segment_layer(viewer, "stack", 3)
    assert viewer.layers["stack clusters"].data.shape == (4, 20, 30)
    assert viewer.layers["stack cluster 1"].data.shape == (4, 20, 30)
    assert tuple(viewer.layers["stack clusters"].scale) == (3, 1, 1)
    assert result.counts.sum() == stack.size


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("nope", "no layer named 'nope'"),
        ("points", "Points layer; choose an image layer"),
        (None, "no image layer chosen"),
    ],
)
def test_bad_layer_choice(viewer, layer, message):
    viewer.add_points(np.zeros((2, 2)), name="points")
    with pytest.raises(ValueError, match=message):
        segment_layer(viewer, layer, 3)
    assert len(viewer.layers) == 1


def test_stale_layers_go_one_per_step(astronaut):
    """A re-run without the masked layers removes them one per step, so that the
    widget lets the event loop run between two (each removal takes a moment)."""
    from napari_kmeans_seg.layers.outputs import compute_layers
    from napari_kmeans_seg.layers.placement import SourceInfo
    from napari_kmeans_seg.layers.viewer_layers import iter_add_or_update_layers

    viewer = ViewerModel()
    layer = viewer.add_image(astronaut, name="astro")
    segment_layer(viewer, "astro", 4)
    source = SourceInfo.from_layer(layer)
    _, data = compute_layers(astronaut, source, 4, masked_layers=False)
    steps = iter_add_or_update_layers(viewer, data, source_name="astro")
    counts = []
    for _ in range(4):
        assert next(steps) is None
        counts.append(sum(x.name.startswith("astro cluster ") for x in viewer.layers))
    assert counts == [3, 2, 1, 0]
