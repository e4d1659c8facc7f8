"""The public API: ``segment``, its result and the model, on every layout."""

import subprocess
import sys

import numpy as np
import pytest

from napari_kmeans_seg import KMeansModel, SegmentationResult, segment


def test_import_loads_no_qt_and_no_napari_gui():
    code = (
        "import sys, numpy as np\n"
        "import napari_kmeans_seg\n"
        "from napari_kmeans_seg import segment\n"
        "segment(np.arange(64, dtype=np.uint8).reshape(8, 8), 2)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'qtpy', 'napari', 'vispy')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rgb_photo(astronaut):
    before = astronaut.copy()
    result = segment(astronaut, n_clusters=3)
    assert isinstance(result, SegmentationResult)
    assert result.labels.shape == (512, 512)
    assert result.labels.dtype == np.uint8
    assert set(np.unique(result.labels)) == {1, 2, 3}
    assert result.centroids.shape == (3, 3)
    assert result.counts.sum() == 512 * 512
    assert result.converged and result.inertia > 0
    assert isinstance(result.model, KMeansModel)
    np.testing.assert_array_equal(astronaut, before)


def test_same_seed_same_labels_other_seed_valid(astronaut):
    a = segment(astronaut, 4, random_state=3)
    b = segment(astronaut, 4, random_state=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    c = segment(astronaut, 4, random_state=None)
    assert set(np.unique(c.labels)) == {1, 2, 3, 4}


def test_masked_image(astronaut):
    result = segment(astronaut, 3)
    for i in (1, 2, 3):
        masked = result.masked_image(astronaut, i)
        assert masked.shape == astronaut.shape and masked.dtype == astronaut.dtype
        inside = result.labels == i
        np.testing.assert_array_equal(masked[inside], astronaut[inside])
        assert not masked[~inside].any()
    total = sum(result.masked_image(astronaut, i).astype(int) for i in (1, 2, 3))
    np.testing.assert_array_equal(total, astronaut)
    with pytest.raises(ValueError, match="between 1 and 3"):
        result.masked_image(astronaut, 4)
    with pytest.raises(ValueError, match="does not fit"):
        result.masked_image(astronaut[:10], 1)


def test_rgba_alpha_not_clustered_transparent_pixels_get_zero(astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:64, :, 3] = 0
    rgba[64:80, :, 3] = 128  # partly transparent pixels are clustered
    result = segment(rgba, 3)
    assert result.centroids.shape == (3, 3)
    assert np.all(result.labels[:64] == 0)
    assert np.all(result.labels[64:] > 0)
    masked = result.masked_image(rgba, 1)
    assert np.all(masked[:64] == 0)


def _camera_as(dtype):
    from skimage import data

    camera = data.camera()
    scale = {np.uint8: 1, np.uint16: 257, np.float32: 1 / 255, np.float64: 1 / 255}
    return (camera.astype(np.float64) * scale[dtype]).astype(dtype), scale[dtype]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_greyscale_dtypes_agree(dtype):
    """8- and 16-bit integers get the optimum, the same partition at any scale."""
    image, scale = _camera_as(dtype)
    result = segment(image, 4)
    reference = segment(_camera_as(np.uint8)[0], 4)
    assert result.labels.shape == image.shape and result.optimal
    np.testing.assert_array_equal(result.labels, reference.labels)
    np.testing.assert_allclose(result.centroids, reference.centroids * scale, rtol=1e-5)


def test_float_greyscale_dtypes_agree():
    """float32 and float64 reach the same fixed point, no better than the optimum
    of the same values as 8-bit integers."""
    (image32, scale), (image64, _) = _camera_as(np.float32), _camera_as(np.float64)
    r32, r64 = segment(image32, 4), segment(image64, 4)
    np.testing.assert_array_equal(r32.labels, r64.labels)
    np.testing.assert_allclose(r32.centroids, r64.centroids, rtol=1e-5)
    optimum = segment(_camera_as(np.uint8)[0], 4).inertia * scale**2
    assert r64.converged and r64.inertia >= optimum * (1 - 1e-9)


@pytest.mark.parametrize("channel_axis", [0, 1, -1])
def test_channel_axis(channel_axis):
    rng = np.random.default_rng(0)
    base = np.full((30, 40, 2), 100.0)
    base[:, 20:] = [1000, 50]
    base[10:, :, 1] += 400
    image = np.moveaxis(base + rng.normal(0, 5, base.shape), -1, channel_axis)
    image = image.astype(np.uint16)
    result = segment(image, 4, channel_axis=channel_axis)
    assert result.labels.shape == (30, 40)
    assert result.centroids.shape == (4, 2)
    # the four quadrant-like regions are recovered exactly
    assert len(np.unique(result.labels[:10, :20])) == 1
    assert len(np.unique(result.labels)) == 4
    np.testing.assert_array_equal(result.model.predict(image), result.labels)


def test_nd_stack_one_model_for_all_slices():
    from skimage import data

    stack = np.stack([data.camera(), data.camera()[::-1], data.camera().T])
    result = segment(stack, 3)
    assert result.labels.shape == stack.shape
    np.testing.assert_array_equal(result.labels[1], result.labels[0][::-1])
    np.testing.assert_array_equal(result.labels[2], result.labels[0].T)


def test_predict_on_other_image_and_same_image(astronaut):
    from skimage import data

    result = segment(astronaut, 4)
    np.testing.assert_array_equal(result.model.predict(astronaut), result.labels)
    coffee = result.model.predict(data.coffee())
    assert coffee.shape == (400, 600) and coffee.min() >= 1 and coffee.max() <= 4
    with pytest.raises(ValueError, match="fitted on 6 channels"):
        segment(
            np.random.default_rng(0).random((5, 4, 6)), 2, channel_axis=2
        ).model.predict(np.zeros((5, 4, 3)))


def test_float_nan_pixels_are_left_out():
    rng = np.random.default_rng(0)
    image = rng.random((50, 60)).astype(np.float32)
    image[0, :5] = np.nan
    image[1, 0] = np.inf
    before = image.copy()
    result = segment(image, 3)
    assert np.all(result.labels[0, :5] == 0) and result.labels[1, 0] == 0
    assert result.n_invalid == 6
    assert (
        np.all(result.labels.ravel()[6:] > 0) or (result.labels > 0).sum() == 3000 - 6
    )
    np.testing.assert_array_equal(image, before)


def test_mask_option(astronaut):
    mask = np.zeros(astronaut.shape[:2], bool)
    mask[100:300, 100:300] = True
    result = segment(astronaut, 3, mask=mask)
    assert np.all(result.labels[~mask] == 0)
    assert np.all(result.labels[mask] > 0)


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (np.zeros((0, 5)), {}, "empty"),
        (np.arange(10), {}, "at least 2 dimensions"),
        (np.zeros((5, 5), complex), {}, "complex"),
        (np.array([["a", "b"], ["c", "d"]]), {}, "dtype"),
        (np.zeros((5, 5)), {}, "only 1 distinct value; choose n_clusters <= 1"),
        (
            np.eye(5),
            {"n_clusters": 3},
            "only 2 distinct values; choose n_clusters <= 2",
        ),
        (np.eye(5), {"n_clusters": 1}, "between 2 and 254"),
        (np.eye(5), {"n_clusters": 300}, "between 2 and 254"),
        (np.eye(5), {"n_clusters": 2.5}, "integer"),
        (np.zeros((4, 5, 6)), {"channel_axis": 3}, "out of range"),
        (np.eye(5), {"method": "fast"}, "method"),
        (np.full((5, 5), np.nan), {}, "no pixel to cluster"),
        (np.eye(5), {"mask": np.ones((4, 4), bool)}, "mask shape"),
    ],
)
def test_bad_input_gives_clear_message(image, kwargs, message):
    kwargs = {"n_clusters": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        segment(image, **kwargs)


def test_read_only_and_non_contiguous_input(astronaut):
    view = astronaut[::2, ::3]
    ro = astronaut.copy()
    ro.flags.writeable = False
    a = segment(view, 3)
    b = segment(np.ascontiguousarray(view), 3)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert segment(ro, 3).labels.shape == (512, 512)


def test_bool_and_small_images():
    img = np.zeros((1, 7), bool)
    img[0, 3:] = True
    result = segment(img, 2)
    assert result.labels.tolist() == [[1, 1, 1, 2, 2, 2, 2]]
    one_pixel = np.array([[5.0]])
    with pytest.raises(ValueError, match="only 1 distinct"):
        segment(one_pixel, 2)
