"""One validation: the same bad value gets the same error through every door."""

import dask.array as da
import numpy as np
import pytest

from napari_kmeans_seg import KMeansModel, segment, suggest_n_clusters
from napari_kmeans_seg.core.memory import estimate_memory
from napari_kmeans_seg.core.options import MAX_N_INIT, OptionTypeError


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)


@pytest.fixture
def model(image):
    return segment(image, 3).model


def test_float_n_clusters_is_refused_with_and_without_a_model(image, model):
    with pytest.raises(TypeError, match="n_clusters must be an integer") as plain:
        segment(image, 3.0)
    with pytest.raises(TypeError, match="n_clusters must be an integer") as modelled:
        segment(image, 3.0, model=model)
    assert str(plain.value) == str(modelled.value)


@pytest.mark.parametrize("name", ["rgb", "normalize"])
def test_flags_must_be_bools(image, name):
    with pytest.raises(TypeError, match=f"{name} must be True"):
        segment(image, 3, **{name: "no"})
    with pytest.raises(TypeError, match=f"{name} must be True"):
        suggest_n_clusters(image, range(2, 4), **{name: "no"})


def test_a_string_flag_is_refused_also_with_a_model(image, model):
    with pytest.raises(TypeError, match="rgb must be True"):
        segment(image, model=model, rgb="no")


def test_option_type_errors_are_still_value_errors(image):
    # callers that catch ValueError for any refused option keep working
    with pytest.raises(ValueError):
        segment(image, 3, rgb="no")
    assert issubclass(OptionTypeError, TypeError)


def test_n_init_is_bounded_and_the_message_says_what_to_do(image):
    with pytest.raises(ValueError, match=rf"n_init=1000000 .*use at most {MAX_N_INIT}"):
        segment(image, 3, n_init=10**6)
    with pytest.raises(ValueError, match="n_init"):
        suggest_n_clusters(image, range(2, 4), n_init=10**6)


def test_fit_pixels_below_n_clusters_names_fit_pixels(image):
    with pytest.raises(ValueError, match=r"fit_pixels=1 .*n_clusters=3"):
        segment(image, 3, fit_pixels=1)


def test_a_fit_region_with_too_few_values_names_fit_pixels():
    image = np.zeros((40, 40), np.uint8)
    image[::2, ::2] = 7  # the grid of fit_pixels pixels sees one value
    image[1::2] = 9
    with pytest.raises(ValueError, match="fit_pixels=4"):
        segment(image, 2, fit_pixels=4)


def test_a_masked_array_honours_its_mask():
    data = np.zeros((10, 10), np.float64)
    data[:, 5:] = 1.0
    data[0, 0] = 1e6  # masked: must not pull a centroid
    image = np.ma.masked_array(data, mask=np.zeros_like(data, bool))
    image.mask[0, 0] = True
    result = segment(image, 2)
    assert result.labels[0, 0] == 0
    assert result.centroids.max() == 1.0
    expected = segment(data, 2, mask=~image.mask)
    np.testing.assert_array_equal(result.labels, expected.labels)


def test_a_masked_rgb_array_leaves_out_pixels_with_any_channel_masked(image):
    masked = np.ma.masked_array(image, mask=np.zeros(image.shape, bool))
    masked.mask[3, 4, 1] = True
    result = segment(masked, 3)
    assert result.labels[3, 4] == 0
    assert np.count_nonzero(result.labels == 0) == 1
    # the model door honours it too
    again = result.model.segment(masked)
    assert again.labels[3, 4] == 0


def test_a_masked_array_and_a_mask_combine(image):
    masked = np.ma.masked_array(image, mask=np.zeros(image.shape, bool))
    masked.mask[0, 0] = True
    mask = np.ones(image.shape[:2], bool)
    mask[1, 1] = False
    labels = segment(masked, 3, mask=mask).labels
    assert labels[0, 0] == 0 and labels[1, 1] == 0


def test_dask_with_unknown_chunk_sizes_gets_a_clear_message():
    x = da.from_array(np.arange(400, dtype=np.float64).reshape(20, 20), chunks=10)
    unknown = x[x[:, 0] > 50]  # rows unknown until computed
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        segment(unknown, 2)
    unknown.compute_chunk_sizes()
    assert segment(unknown, 2).labels.shape == unknown.shape


def test_the_memory_estimate_checks_options_as_segment_does():
    with pytest.raises(ValueError, match="color_space"):
        estimate_memory((10, 10), "uint8", color_space="lab")
    with pytest.raises(TypeError, match="rgb must be True"):
        estimate_memory((10, 10, 3), "uint8", rgb="yes")


def test_a_model_file_refuses_options_with_the_segment_message(image, tmp_path):
    data = segment(image, 3, channel_weights=(1.0, 0.5, 0.5)).model.to_dict()
    data["features"]["channel_weights"] = [1.0, -1.0, 0.5]
    with pytest.raises(ValueError) as from_file:
        KMeansModel.from_dict(data)
    with pytest.raises(ValueError) as from_api:
        segment(image, 3, channel_weights=[1.0, -1.0, 0.5])
    assert str(from_api.value) in str(from_file.value)


def test_model_segment_is_the_model_door(image, model):
    via_model = model.segment(image)
    via_segment = segment(image, model=model)
    np.testing.assert_array_equal(via_model.labels, via_segment.labels)
    assert via_model.inertia == via_segment.inertia
    assert via_model.n_iter == 0


def test_a_model_of_another_dtype_range_warns(image, model):
    with pytest.warns(UserWarning, match="fitted on a uint8 image and this image is"):
        model.segment(image.astype(np.uint16) * 257)
    floats = segment(image.astype(np.float64) / 255, 3).model
    with pytest.warns(UserWarning, match="float64 image and this image is uint8"):
        segment(image, model=floats)


def test_a_colour_feature_model_of_another_range_says_the_features_differ(image):
    mixed = segment(image, 3, color_features=("hue", "L*")).model
    with pytest.warns(UserWarning, match="chosen colour features are computed"):
        mixed.segment(image.astype(np.uint16) * 257)
