"""Lazy and multiscale image layers through ``segment_layer`` (no Qt needed)."""

import dask.array as da
import numpy as np
import pytest
from napari.components import ViewerModel

from napari_kmeans_seg import segment, segment_layer
from napari_kmeans_seg.core.lazy import is_lazy


def pyramid(image, n_levels=3):
    """Levels of ``image`` (RGB), each half the size of the one before."""
    levels = [image]
    for _ in range(n_levels - 1):
        levels.append(levels[-1][::2, ::2])
    return levels


def test_lazy_layer_gets_lazy_outputs_equal_to_in_memory(astronaut):
    viewer = ViewerModel()
    lazy = da.from_array(astronaut, chunks=(128, 128, 3))
    viewer.add_image(lazy, name="lazy", scale=(0.5, 0.5), translate=(3, 4))
    viewer.add_image(astronaut, name="eager")
    a = segment_layer(viewer, "lazy", 3, mean_color_layer=True)
    b = segment_layer(viewer, "eager", 3, mean_color_layer=True)
    for name in ("lazy clusters", "lazy cluster 2", "lazy mean colour"):
        layer = viewer.layers[name]
        assert is_lazy(layer.data), name
        np.testing.assert_array_equal(layer.scale, (0.5, 0.5))
        np.testing.assert_array_equal(layer.translate, (3, 4))
        eager = viewer.layers[name.replace("lazy", "eager")].data
        assert np.array_equal(np.asarray(layer.data), eager), name
    assert a.lazy and not b.lazy
    assert np.array_equal(np.asarray(viewer.layers["lazy"].data), astronaut)


def test_multiscale_layer_is_fitted_on_finest_level_and_labels_every_level(
    astronaut,
):
    viewer = ViewerModel()
    levels = pyramid(astronaut)
    before = [level.copy() for level in levels]
    viewer.add_image(levels, multiscale=True, name="ms", scale=(2, 2))
    result = segment_layer(viewer, "ms", 4, fit_pixels=40_000)
    labels = viewer.layers["ms clusters"]
    assert labels.multiscale
    assert [d.shape for d in labels.data] == [lv.shape[:2] for lv in levels]
    np.testing.assert_array_equal(labels.scale, (2, 2))
    # finest level: the model's labels; coarser levels: the model on each level
    for level, data in zip(levels, labels.data, strict=True):
        assert np.array_equal(np.asarray(data), result.model.predict(level))
    masked = viewer.layers["ms cluster 3"]
    assert masked.multiscale and len(masked.data) == 3
    top = np.asarray(masked.data[2])
    keep = np.asarray(labels.data[2]) == 3
    assert np.array_equal(top[keep], levels[2][keep]) and not top[~keep].any()
    assert result.n_fit <= 40_000
    assert all(np.array_equal(a, b) for a, b in zip(levels, before, strict=True))


def test_multiscale_rerun_updates_layers_by_name(astronaut):
    viewer = ViewerModel()
    viewer.add_image(pyramid(astronaut), multiscale=True, name="ms")
    segment_layer(viewer, "ms", 4)
    first = viewer.layers["ms clusters"]
    segment_layer(viewer, "ms", 3)
    assert viewer.layers["ms clusters"] is first
    assert "ms cluster 4" not in viewer.layers
    assert np.asarray(first.data[1]).max() == 3


def test_multiscale_with_spatial_weight_uses_each_levels_pixel_size(astronaut):
    viewer = ViewerModel()
    levels = pyramid(astronaut[:, :, :3], 2)
    viewer.add_image(levels, multiscale=True, name="ms")
    result = segment_layer(viewer, "ms", 3, spatial_weight=0.2, masked_layers=False)
    coarse = np.asarray(viewer.layers["ms clusters"].data[1])
    # the coarse level's coordinates are those of the finest level (pixel size 2)
    expected = result.model.predict(levels[1], scale=(2.0, 2.0))
    assert np.array_equal(coarse, expected)
    assert (coarse == np.asarray(result.labels)[::2, ::2]).mean() > 0.95


def test_lazy_multichannel_stack_layer():
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 3000, (3, 8, 40, 40)).astype(np.uint16)
    stack[0, :, :20] += 20000
    viewer = ViewerModel()
    viewer.add_image(da.from_array(stack, chunks=(3, 2, 40, 40)), name="s")
    result = segment_layer(viewer, "s", 2, channel_axis=0, masked_layers=False)
    labels = viewer.layers["s clusters"]
    assert labels.data.shape == (8, 40, 40) and is_lazy(labels.data)
    expected = segment(stack, 2, channel_axis=0).labels
    assert np.array_equal(np.asarray(labels.data), expected)
    assert result.lazy


def test_lazy_layer_bad_options_are_clear(astronaut):
    viewer = ViewerModel()
    viewer.add_image(da.from_array(astronaut, chunks=(128, 128, 3)), name="lazy")
    with pytest.raises(ValueError, match="smoothing needs the whole image"):
        segment_layer(viewer, "lazy", 3, smoothing=2.0, fit_pixels=1000)
    assert [layer.name for layer in viewer.layers] == ["lazy"]
