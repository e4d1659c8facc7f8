"""Exactness does not depend on where the data sits: images on a large common
offset (a detector's baseline, time stamps, elevations) with a small spread reach a
Lloyd fixed point on every path, checked by an independent float64 test of the
translated values."""

import itertools

import dask.array as da
import numpy as np
import pytest

from napari_kmeans_seg import ExactKMeans, segment

OFFSETS = [1e3, 1e9, 1e15]
SPREADS = [5e-13, 1e-9, 1e-6, 1.0]  # relative to the offset


def assert_fixed_point(X, labels, centroids):
    """Each value on its nearest centroid and each centroid the mean of its
    values, in float64 after translating by one of the values (exact here, so the
    test sees the spread, not the offset). The centroids are reported in the
    image's units, so each is the mean to half a float64 step at the offset."""
    X = np.asarray(X, np.float64).reshape(-1, centroids.shape[1])
    lab = np.asarray(labels).ravel().astype(np.int64) - 1
    ref = X[0]
    Xs, Cs = X - ref, np.asarray(centroids, np.float64) - ref
    spread = np.ptp(Xs)
    ulp = np.spacing(np.max(np.abs(X)))
    d2 = ((Xs[:, None, :] - Cs[None]) ** 2).sum(-1)
    own = d2[np.arange(len(lab)), lab]
    rounding = 1e-9 * spread**2 + 4 * X.shape[1] * spread * ulp
    assert np.all(own <= d2.min(axis=1) + rounding), "not on the nearest"
    k = len(Cs)
    counts = np.bincount(lab, minlength=k)
    assert np.all(counts > 0)
    sums = np.stack([np.bincount(lab, Xs[:, j], k) for j in range(X.shape[1])], 1)
    atol = 1e-6 * spread + ulp
    np.testing.assert_allclose(sums / counts[:, None], Cs, rtol=0, atol=atol)


def image(offset, spread, channels):
    rng = np.random.default_rng(int(np.log10(offset) * 100 - np.log10(spread)))
    step = spread * offset
    classes = rng.integers(0, 3, (40, 50))
    weights = np.array([1.0, 0.5, 0.25])[:channels]
    noise = rng.normal(0, 0.1 * step, (40, 50, channels))
    return offset + classes[..., None] * step * weights + noise


@pytest.mark.parametrize(
    ("offset", "spread"), list(itertools.product(OFFSETS, SPREADS))
)
@pytest.mark.parametrize(
    "path", ["rgb float64", "grey float64", "grey float32", "lazy rgb", "estimator"]
)
def test_a_large_offset_keeps_the_fixed_point(offset, spread, path):
    rgb = image(offset, spread, 3)
    if path == "estimator":
        X = rgb.reshape(-1, 3)
        km = ExactKMeans(n_clusters=3, random_state=0).fit(X)
        assert_fixed_point(X, km.labels_ + 1, km.cluster_centers_)
        return
    if path == "grey float32" and spread < 1e-6:
        pytest.skip("float32 has no values that close at these offsets")
    if path.startswith("grey"):
        data = rgb[..., 0].astype(path.split()[1])
        result = segment(data, 3, random_state=0)
    else:
        data = rgb if path == "rgb float64" else da.from_array(rgb, chunks=(20, 25, 3))
        result = segment(data, 3, random_state=0, channel_axis=-1)
    assert result.converged
    centroids = np.asarray(result.model.centroids, np.float64).reshape(3, -1)
    assert_fixed_point(
        np.asarray(data, np.float64), np.asarray(result.labels), centroids
    )
