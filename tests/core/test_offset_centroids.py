"""Centroids at a large offset are rounded to float64 in the image's units: where
that rounding would move pixels to another cluster, a warning says so and what
to do; where it does not, the model labels the image as the fit did."""

import warnings

import numpy as np
import pytest

from napari_kmeans_seg import segment
from napari_kmeans_seg.core.fit.records import PrecisionWarning


def offset_image(offset, step, noise, seed=0):
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 4, (200, 200))
    return offset + classes[..., None] * step + rng.normal(0, noise, (200, 200, 3))


def test_centroids_that_hold_at_an_offset_label_as_the_fit():
    image = offset_image(1e9, 5e-4, 1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = segment(image, 4)
    assert result.converged
    np.testing.assert_array_equal(result.model.predict(image), result.labels)


def test_centroids_rounded_at_an_offset_warn_with_the_fix():
    image = offset_image(1e8, 1e-7, 3e-8)  # clusters a few float64 steps apart
    with pytest.warns(PrecisionWarning, match=r"image - image.min\(\)"):
        result = segment(image, 4)
    moved = np.count_nonzero(result.model.predict(image) != result.labels)
    assert moved > 0
    shifted = segment(image - image.min(), 4)  # the advice works
    np.testing.assert_array_equal(
        shifted.model.predict(image - image.min()), shifted.labels
    )
