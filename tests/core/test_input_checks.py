"""Bad masks get an error that names them and says what to do, through
every door (issue 26)."""

import dask.array as da
import numpy as np
import pytest

from napari_kmeans_seg import segment, suggest_n_clusters


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def model(image):
    return segment(image, 3).model


def _doors(image, model):
    """Every way a mask reaches the engine, as callables of the mask."""
    return {
        "segment": lambda m: segment(image, 3, mask=m),
        "segment on a region": lambda m: segment(image, 3, mask=m, fit_pixels=50),
        "masked array": lambda m: segment(
            np.ma.masked_array(image, np.zeros(image.shape, bool)), 3, mask=m
        ),
        "lazy": lambda m: segment(da.from_array(image, chunks=6), 3, mask=m),
        "model": lambda m: segment(image, model=model, mask=m),
        "predict": lambda m: model.predict(image, mask=m),
        "suggest": lambda m: suggest_n_clusters(image, range(2, 4), mask=m),
    }


@pytest.mark.parametrize("door", list(_doors(None, None)))
@pytest.mark.parametrize("shape", [(), (12,), (16, 12), (12, 16, 3)])
def test_a_mask_of_the_wrong_shape_says_both_shapes_and_what_to_do(
    image, model, door, shape
):
    with pytest.raises(ValueError) as refused:
        _doors(image, model)[door](np.ones(shape, bool))
    message = str(refused.value)
    assert f"mask shape {shape} does not match" in message
    assert "spatial shape (12, 16)" in message
    assert "pass a bool array of shape (12, 16)" in message


@pytest.mark.parametrize("door", list(_doors(None, None)))
@pytest.mark.parametrize(
    "mask",
    [
        np.full((12, 16), "yes"),
        np.full((12, 16), b"1"),
        np.full((12, 16), True, dtype=object),
        np.full((12, 16), 1 + 0j),
    ],
    ids=["str", "bytes", "object", "complex"],
)
def test_a_mask_that_is_not_bool_or_numbers_is_a_type_error(image, model, door, mask):
    with pytest.raises(TypeError, match=r"mask must be an array of bool") as refused:
        _doors(image, model)[door](mask)
    assert str(mask.dtype) in str(refused.value)


def test_a_mask_of_zeros_and_ones_is_still_taken(image):
    mask = np.ones((12, 16), np.uint8)
    mask[0, 0] = 0
    labels = segment(image, 3, mask=mask).labels
    assert labels[0, 0] == 0 and np.count_nonzero(labels == 0) == 1


def test_a_wrong_mask_is_refused_before_the_fit_region_is_cut(image):
    with pytest.raises(ValueError, match=r"mask shape \(3, 3\) does not match"):
        segment(image, 3, mask=np.ones((3, 3), bool), fit_pixels=50)
