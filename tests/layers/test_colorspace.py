"""What the colour-space view draws, computed without Qt: the sample of clustered
pixels, the plotted space, the scatter of a result."""

import numpy as np
import pytest

from napari_kmeans_seg import segment
from napari_kmeans_seg.core.features import Layout
from napari_kmeans_seg.layers.colorspace import (
    FeatureSpace,
    label_means,
    make_scatter,
    sample_clustered,
)


def test_sample_clustered_skips_unclustered_pixels():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, (300, 400)).astype(np.uint8)  # a third are 0
    layout = Layout(2, 3, rgb=True)
    for n in (1000, 200_000):  # drawn directly / listed
        values, lab, n_clustered = sample_clustered(image, labels, layout, n, rng)
        assert len(values) == min(n, np.count_nonzero(labels))
        assert np.all(lab > 0)
        assert abs(n_clustered - np.count_nonzero(labels)) < 0.05 * labels.size
    with pytest.raises(ValueError, match="does not fit"):
        sample_clustered(image, labels[:10], layout, 10, rng)


def test_feature_space_rgb_cube_and_names():
    space = FeatureSpace.for_data(Layout(2, 3, rgb=True), np.uint8, np.zeros((1, 3)))
    assert space.names == ("R", "G", "B")
    np.testing.assert_array_equal(space.hi, [255, 255, 255])
    named = FeatureSpace.for_data(
        Layout(0, 2), np.float32, np.ones((4, 2)), ("DAPI", "GFP")
    )
    assert named.names == ("DAPI", "GFP", "(feature 3: none)")


def test_scatter_of_a_result_uses_its_centres(astronaut):
    result = segment(astronaut[::4, ::4], 3)
    colors = np.ones((3, 4))
    rng = np.random.default_rng(0)
    layout = result.model.layout_for(astronaut[::4, ::4].shape)
    given = make_scatter(
        astronaut[::4, ::4],
        result.labels,
        layout,
        colors,
        centres=result.channel_means,
        n_points=500,
        rng=rng,
    )
    assert given.exact and len(given.values) == 500
    np.testing.assert_array_equal(given.centres, result.channel_means)
    # without centres: the means of the labels, equal to the result's
    means = label_means(astronaut[::4, ::4], result.labels, layout, given.ids)
    np.testing.assert_allclose(means, result.channel_means, rtol=1e-9)
