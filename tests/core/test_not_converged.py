"""A fit that stops at ``max_iter`` before a fixed point says so (a warning), in
memory and on a lazy image; a converged one says nothing."""

import warnings

import dask.array as da
import numpy as np
import pytest

from napari_kmeans_seg import segment
from napari_kmeans_seg.core.fit.records import NotConvergedWarning


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.random((200, 200, 3))


def test_stopping_at_max_iter_warns(image):
    with pytest.warns(NotConvergedWarning, match="max_iter=1 iterations"):
        result = segment(image, 8, max_iter=1)
    assert not result.converged


def test_a_lazy_image_stopping_at_max_iter_warns(image):
    lazy = da.from_array(image, chunks=(50, 50, 3))
    with pytest.warns(NotConvergedWarning, match="raise max_iter"):
        result = segment(lazy, 8, max_iter=2, fit_pixels=2000)
    assert not result.converged


def test_a_converged_fit_does_not_warn(image):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = segment(image, 4)
    assert result.converged
