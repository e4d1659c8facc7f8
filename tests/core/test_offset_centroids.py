"""Centroids at a large offset are rounded to float64 in the image's units: the
model then labels the image as the fit did, up to ties; a rounding that would put
a pixel strictly farther from its centroid is warned of, with what to do."""

import warnings

import numpy as np
import pytest

from napari_kmeans_seg import segment
from napari_kmeans_seg.core.engine import _check_held
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


def test_where_rounded_centroids_label_otherwise_it_is_a_tie_not_a_warning():
    """Clusters a few float64 steps apart at 1e8: the model's centroids, rounded
    in the image's units, may pick the other of two equally near centroids
    (ties), never a farther one; no warning."""
    image = offset_image(1e8, 1e-7, 3e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = segment(image, 4)
    again = result.model.predict(image)
    differ = again != result.labels
    assert differ.any()  # the case is one of ties
    x = image[differ]
    C = result.model.centroids
    fit = np.sum((x - C[result.labels[differ] - 1]) ** 2, axis=1)
    other = np.sum((x - C[again[differ] - 1]) ** 2, axis=1)
    np.testing.assert_array_equal(fit, other)


def test_centroids_that_would_move_pixels_warn_with_the_fix():
    """The check itself: labels that the rounded centroids put strictly farther
    are counted, with what to do."""
    X = 1e8 + np.array([[0.0], [1.5e-8], [6e-8], [7.5e-8]])
    centroids = 1e8 + np.array([[0.0], [7.5e-8]])
    wrong = np.array([1, 2, 2, 2], np.uint8)  # the second pixel is nearer 1
    with pytest.warns(PrecisionWarning, match=r"1 of 4 pixels.*image - image.min\(\)"):
        _check_held(X, None, wrong, centroids)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_held(X, None, np.array([1, 1, 2, 2], np.uint8), centroids)
