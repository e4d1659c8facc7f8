"""The shared fixed-point check (tests/core/fixed_point.py) fails on wrong
results: a pixel on the farther centroid, even one float64 step across a
midpoint at a large offset; a centroid off its mean; wrong counts or inertia."""

import numpy as np
import pytest
from fixed_point import assert_fixed_point


def two_clusters(offset=0.0):
    """Values 0..9 (plus ``offset``) split at the midpoint 4.5: an exact fixed
    point with centroids 2 and 7."""
    X = offset + np.arange(10.0)[:, None]
    labels = np.repeat([1, 2], 5)
    centroids = offset + np.array([[2.0], [7.0]])
    return X, labels, centroids


@pytest.mark.parametrize("offset", [0.0, 1e3, 2.0**52])
def test_a_fixed_point_passes(offset):
    X, labels, centroids = two_clusters(offset)
    assert_fixed_point(X, labels, centroids, counts=[5, 5], inertia=20.0)
    assert_fixed_point(X, labels - 1, centroids, first=0)


@pytest.mark.parametrize("offset", [0.0, 1e3, 2.0**52])
def test_a_pixel_on_the_farther_centroid_fails(offset):
    X, labels, centroids = two_clusters(offset)
    labels[5] = 1  # the value 5 is nearer 7 than 2
    with pytest.raises(AssertionError, match="nearest"):
        assert_fixed_point(X, labels, centroids)


def test_one_step_across_the_midpoint_at_an_offset_fails():
    """At 2**40 the float64 step is 2**-12: centroids 3 steps apart, the value
    2 steps above the lower one is nearer the upper (1 step); labelled lower
    (as a midpoint rounded to 2 steps would send it), it fails."""
    step = 2.0**-12
    X = 2.0**40 + step * np.array([[0.0], [2.0], [3.0]])
    labels = np.array([1, 1, 2])
    with pytest.raises(AssertionError, match="nearest"):
        assert_fixed_point(X, labels, X[[0, 2]])
    assert_fixed_point(X, [1, 2, 2], [X[0], X[1:].mean(axis=0)])


@pytest.mark.parametrize("offset", [0.0, 1e3, 2.0**40])
def test_a_centroid_off_its_mean_fails(offset):
    X, labels, centroids = two_clusters(offset)
    centroids[1] += 0.01  # a thousandth of the spread
    with pytest.raises(AssertionError, match="mean"):
        assert_fixed_point(X, labels, centroids)


def test_wrong_counts_inertia_or_left_out_labels_fail():
    X, labels, centroids = two_clusters()
    with pytest.raises(AssertionError):
        assert_fixed_point(X, labels, centroids, counts=[6, 4])
    with pytest.raises(AssertionError):
        assert_fixed_point(X, labels, centroids, inertia=20.001)
    mask = np.ones(10, bool)
    mask[0] = False
    with pytest.raises(AssertionError, match="left-out"):
        assert_fixed_point(X, labels, centroids, mask=mask)
    labels[0] = 0  # left out: the first cluster is 1..4, mean 2.5
    assert_fixed_point(X, labels, [[2.5], [7.0]], mask=mask)


def test_weights_make_the_weighted_mean():
    X, labels, _ = two_clusters()
    w = np.arange(1.0, 11.0)
    means = [[(X[:5, 0] * w[:5]).sum() / w[:5].sum()], [7.0]]
    means[1][0] = (X[5:, 0] * w[5:]).sum() / w[5:].sum()
    assert_fixed_point(X, labels, means, weights=w)
    with pytest.raises(AssertionError, match="mean"):
        assert_fixed_point(X, labels, [[2.0], [7.0]], weights=w)
