"""Distinct label colours for images that are not RGB: saturated hues, far from
every grey of the image under them and from each other, at any k."""

import numpy as np
import pytest
from skimage.color import rgb2lab

from napari_kmeans_seg import segment
from napari_kmeans_seg.layers.label_colors import distinct_colors, labels_colormap

#: CIELAB distance (Delta E 1976): ~2.3 is just noticeable, 25 reads at a glance
APART, FROM_GREY = 25.0, 45.0


def lab(rgba) -> np.ndarray:
    return rgb2lab(np.asarray(rgba, float)[None, :, :3])[0]


@pytest.mark.parametrize("k", range(2, 17))
def test_distinct_colours_stand_apart_and_off_the_grey_ramp(k):
    colors = lab(distinct_colors(k))
    apart = np.linalg.norm(colors[:, None] - colors[None], axis=-1)
    assert apart[np.triu_indices(k, 1)].min() >= APART
    greys = lab(np.repeat(np.linspace(0, 1, 256)[:, None], 4, axis=1))
    from_grey = np.linalg.norm(colors[:, None] - greys[None], axis=-1)
    assert from_grey.min() >= FROM_GREY


def test_distinct_colours_keep_their_order_as_k_grows():
    np.testing.assert_array_equal(distinct_colors(16)[:5], distinct_colors(5))
    assert len(distinct_colors(254)) == 254


def test_a_greyscale_result_gets_them_an_rgb_one_napari_s():
    from napari.utils.colormaps import label_colormap

    rng = np.random.default_rng(0)
    grey = segment(rng.random((40, 50)), 8, random_state=0)
    ids = np.arange(1, 9)
    np.testing.assert_allclose(
        labels_colormap(grey, "distinct", rgb=False).map(ids), distinct_colors(8)
    )
    rgb = segment(rng.random((40, 50, 3)), 8, random_state=0)
    np.testing.assert_allclose(
        labels_colormap(rgb, "distinct", rgb=True).map(ids),
        label_colormap(9).map(ids),
    )
    # label 0 (not clustered) is transparent
    assert labels_colormap(grey, "distinct", rgb=False).map(np.array([0]))[0, 3] == 0
