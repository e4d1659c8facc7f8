"""Property tests of the engine and the API (hypothesis): whatever the small image,
the result is a valid, exact k-means partition."""

from __future__ import annotations

import numpy as np
import pytest
from fixed_point import assert_fixed_point
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from napari_kmeans_seg import segment
from napari_kmeans_seg.core.engine import fit_predict

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

DTYPES = [np.uint8, np.uint16, np.float32, np.float64]


@st.composite
def images(draw, nan=False):
    """A small greyscale (2D) or RGB image of a few to a few hundred pixels, with
    values on a coarse palette (so that ties and repeated values are common)."""
    dtype = draw(st.sampled_from(DTYPES))
    c = draw(st.sampled_from([1, 3]))
    shape = (draw(st.integers(1, 14)), draw(st.integers(1, 14)))
    if c > 1:
        shape = (*shape, c)
    levels = draw(st.integers(2, 40))
    img = draw(arrays(np.int64, shape, elements=st.integers(0, levels)))
    img = (img * (255 // levels)).astype(dtype)
    if nan and dtype in (np.float32, np.float64):
        holes = draw(arrays(np.bool_, shape[:2]))
        img[holes] = np.nan
    return img


def _pixels(img: np.ndarray) -> np.ndarray:
    return img.reshape(-1, img.shape[-1] if img.ndim == 3 else 1).astype(np.float64)


def _n_distinct(X: np.ndarray) -> int:
    X = X[np.isfinite(X).all(axis=1)]
    return len(np.unique(X, axis=0))


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labellings split the pixels the same way (up to renaming)."""
    pairs = np.unique(np.stack([a, b]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


@SETTINGS
@given(img=images(), k=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_segment_labels_are_an_exact_partition(img, k, seed):
    X = _pixels(img)
    assume(_n_distinct(X) >= k)
    before = img.copy()
    result = segment(img, k, random_state=seed)
    labels = result.labels
    assert labels.shape == img.shape[:2] and labels.dtype == np.uint8
    assert labels.min() >= 1 and labels.max() <= k  # no NaN here: all clustered
    assert set(np.unique(labels)) == set(range(1, k + 1)), "an id has no pixels"
    np.testing.assert_array_equal(
        result.counts, np.bincount(labels.ravel(), minlength=k + 1)[1:]
    )
    assert result.converged
    assert_fixed_point(X, labels.ravel(), result.centroids)
    np.testing.assert_array_equal(img, before)


@SETTINGS
@given(img=images(nan=True), k=st.integers(2, 4))
def test_nan_pixels_get_zero_and_are_counted(img, k):
    X = _pixels(img)
    assume(_n_distinct(X) >= k)
    result = segment(img, k)
    invalid = ~np.isfinite(X).all(axis=1)
    np.testing.assert_array_equal(result.labels.ravel() == 0, invalid)
    assert result.n_invalid == int(invalid.sum())
    assert_fixed_point(X, result.labels.ravel(), result.centroids)


@SETTINGS
@given(img=images(), k=st.integers(2, 6))
def test_predicting_the_centroids_gives_their_own_ids(img, k):
    assume(_n_distinct(_pixels(img)) >= k)
    result = segment(img, k)
    C = result.centroids
    as_image = C.reshape(k, 1, C.shape[1]) if img.ndim == 3 else C.reshape(k, 1)
    ids = result.model.predict(as_image)
    np.testing.assert_array_equal(ids.ravel(), np.arange(1, k + 1))


@SETTINGS
@given(
    img=images(),
    k=st.integers(2, 5),
    seed=st.integers(0, 2**16),
    order=st.randoms(use_true_random=False),
)
def test_permuting_pixels_still_gives_a_fixed_point(img, k, seed, order):
    """The pixel order may change the k-means++ draws, hence the local optimum found,
    but never the exactness: both are Lloyd fixed points."""
    X = _pixels(img).astype(img.dtype)
    assume(_n_distinct(X) >= k)
    perm = np.arange(len(X))
    order.shuffle(perm)
    a = fit_predict(X, n_clusters=k, random_state=seed)
    b = fit_predict(X[perm], n_clusters=k, random_state=seed)
    assert a.converged and b.converged
    assert_fixed_point(X, a.labels, a.centroids)
    assert_fixed_point(X[perm], b.labels, b.centroids)


@SETTINGS
@given(
    n=st.tuples(st.integers(1, 60), st.integers(1, 60)),
    spread=st.integers(0, 30),
    d=st.sampled_from([1, 3]),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_two_separated_groups_give_one_partition_in_any_order(
    n, spread, d, dtype, seed, data
):
    """With two well-separated groups (gap far wider than each group) and k=2, the
    partition is the groups themselves, whatever the pixel order."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, spread + 1, (n[0], d))
    high = 200 + rng.integers(0, spread + 1, (n[1], d))
    X = np.concatenate([low, high]).astype(dtype)
    assume(_n_distinct(X) >= 2)
    group = np.repeat([0, 1], n)
    perm = np.asarray(data.draw(st.permutations(range(len(X)))))
    a = fit_predict(X, n_clusters=2, random_state=seed)
    b = fit_predict(X[perm], n_clusters=2, random_state=seed)
    assert same_partition(a.labels, group)
    assert same_partition(b.labels, group[perm])
    np.testing.assert_array_equal(a.labels[perm], b.labels)  # ids by luminance


@pytest.mark.parametrize("dtype", DTYPES)
def test_fixed_point_helper_catches_a_wrong_label(dtype):
    """The checker itself: a pixel moved to the wrong cluster is caught."""
    X = np.array([[0.0], [1.0], [10.0], [11.0]]).astype(dtype)
    C = np.array([[0.5], [10.5]])
    assert_fixed_point(X, np.array([1, 1, 2, 2], np.uint8), C)
    with pytest.raises(AssertionError):
        assert_fixed_point(X, np.array([1, 2, 2, 2], np.uint8), C)
