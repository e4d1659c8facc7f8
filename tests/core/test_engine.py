"""The k-means engine on its own: exactness, agreement with scikit-learn,
determinism, dtypes and memory. No napari here."""

import tracemalloc

import numpy as np
import pytest
from fixed_point import assert_fit
from sklearn.cluster import KMeans

from napari_kmeans_seg.core import engine as _engine
from napari_kmeans_seg.core import parallel as _parallel
from napari_kmeans_seg.core.engine import TooFewValuesError, fit_predict
from napari_kmeans_seg.core.fit import centroid_grid


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_exact_is_a_fixed_point_on_photos(small_photos, k):
    for img in small_photos.values():
        X = img.reshape(img.shape[0] * img.shape[1], -1)
        fit = fit_predict(X, n_clusters=k)
        assert fit.converged
        assert_fit(X, fit)


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.int16, np.int64, np.float32, np.float64]
)
@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_fixed_point_every_dtype_and_width(dtype, d):
    rng = np.random.default_rng(d)
    hi = 255 if dtype == np.uint8 else 4000
    X = (rng.gamma(2.0, 0.15, (3000, d)) * hi).clip(0, hi).astype(dtype)
    fit = fit_predict(X, n_clusters=4, random_state=1)
    assert fit.converged
    assert_fit(X, fit)


def test_large_pass_split_in_ranges_is_exact():
    """Above the single-range size every pass runs in parallel ranges."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (_parallel._SMALL * 3 + 7, 3), dtype=np.uint8)
    X[: len(X) // 2] //= 4  # two populations
    fit = fit_predict(X, n_clusters=3)
    assert fit.converged
    assert_fit(X, fit)


def test_same_partition_as_scikit_learn_from_same_start(small_photos):
    for name, img in small_photos.items():
        X = img.reshape(img.shape[0] * img.shape[1], -1)
        Xf = X.astype(np.float64)
        k = 4
        init = Xf[np.random.default_rng(3).choice(len(Xf), k, replace=False)]
        while len(np.unique(init, axis=0)) < k:  # pragma: no cover - unlikely
            init = Xf[np.random.default_rng().choice(len(Xf), k, replace=False)]
        ours = fit_predict(X, n_clusters=k, init=init)
        ref = KMeans(k, init=init, n_init=1, tol=0, max_iter=300).fit(Xf)
        # same partition up to relabelling: a one-to-one label correspondence
        pairs = set(zip(ours.labels.tolist(), ref.labels_.tolist(), strict=True))
        assert len(pairs) == k, name
        np.testing.assert_allclose(ours.inertia, ref.inertia_, rtol=1e-9)


@pytest.mark.parametrize("k", [2, 3, 4, 6, 8])
@pytest.mark.parametrize("seed", [0, 1])
def test_inertia_never_worse_than_scikit_learn(small_photos, k, seed):
    for name, img in small_photos.items():
        X = img.reshape(img.shape[0] * img.shape[1], -1)
        ref = KMeans(n_clusters=k, random_state=seed).fit(X.astype(np.float64))
        ours = fit_predict(X, n_clusters=k, random_state=seed)
        assert ours.inertia <= ref.inertia_ * (1 + 1e-9), name


def test_deterministic_and_independent_of_thread_count(astronaut, monkeypatch):
    X = astronaut.reshape(-1, 3)
    a = fit_predict(X, n_clusters=5, random_state=7)
    b = fit_predict(X, n_clusters=5, random_state=7)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    monkeypatch.setattr(_parallel, "_pool", None)
    monkeypatch.setattr(_parallel.os, "cpu_count", lambda: 1)
    c = fit_predict(X, n_clusters=5, random_state=7)
    np.testing.assert_array_equal(a.labels, c.labels)
    monkeypatch.setattr(_parallel, "_SMALL", 10**9)  # everything in one range
    d = fit_predict(X, n_clusters=5, random_state=7)
    np.testing.assert_array_equal(a.labels, d.labels)


@pytest.mark.slow
def test_float_determinism_over_ranges():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200_000, 3)).astype(np.float32)
    a = fit_predict(X, n_clusters=4)
    b = fit_predict(X, n_clusters=4)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.inertia == b.inertia


def test_cluster_ids_ordered_by_luminance(astronaut):
    fit = fit_predict(astronaut.reshape(-1, 3), n_clusters=6)
    lum = fit.centroids @ [0.299, 0.587, 0.114]
    assert np.all(np.diff(lum) > 0)


def test_mask_and_non_finite_rows_are_left_out():
    rng = np.random.default_rng(1)
    X = rng.random((5000, 3))
    X[10] = np.nan
    X[11, 2] = np.inf
    mask = np.ones(len(X), bool)
    mask[100:200] = False
    fit = fit_predict(X, n_clusters=3, mask=mask)
    assert fit.labels[10] == 0 and fit.labels[11] == 0
    assert np.all(fit.labels[100:200] == 0)
    assert fit.n_invalid == 2 and fit.n_valid == 5000 - 102
    assert_fit(X, fit, mask)


def test_sample_method_assigns_every_pixel_to_nearest(astronaut):
    X = astronaut.reshape(-1, 3)
    fit = fit_predict(X, n_clusters=4, method="sample", sample_size=2000)
    assert not fit.converged
    Xf = X.astype(float)
    d2 = ((Xf[:, None] - fit.centroids[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(fit.labels, d2.argmin(1) + 1)
    np.testing.assert_allclose(d2.min(1).sum(), fit.inertia, rtol=1e-9)


def test_predict_equals_fit_labels(astronaut):
    X = astronaut.reshape(-1, 3)
    fit = fit_predict(X, n_clusters=4)
    np.testing.assert_array_equal(_engine.predict(X, fit.centroids), fit.labels)
    # the centroids themselves get their own ids
    C = np.round(fit.centroids).astype(np.uint8)
    Xc = fit.centroids
    np.testing.assert_array_equal(_engine.predict(Xc, fit.centroids), [1, 2, 3, 4])
    assert _engine.predict(C, fit.centroids).shape == (4,)


def first_nearest(X, C):
    """Reference labels: the nearest centroid (the first on ties) + 1, distances
    summed feature by feature in float64; 0 for rows with a NaN or infinity."""
    Xf = X.astype(np.float64)
    d2 = np.zeros((len(Xf), len(C)))
    for j in range(Xf.shape[1]):
        d2 += (Xf[:, j : j + 1] - C[None, :, j]) ** 2
    labels = np.argmin(d2, axis=1) + 1
    labels[~np.all(np.isfinite(Xf), axis=1)] = 0
    return labels


@pytest.mark.parametrize(
    "dtype,d,k",
    [
        (np.float32, 3, 8),
        (np.float64, 2, 5),
        (np.float32, 1, 4),
        (np.uint16, 5, 16),
        (np.int16, 4, 3),
        (np.float64, 7, 300),  # more than 254 clusters: uint16 labels
    ],
)
def test_predict_is_the_first_nearest_centroid(dtype, d, k):
    """Labelling rows of any dtype and width compares every row with every
    centroid exactly as the fit does: ties (rows halfway between two centroids,
    rows on a centroid) go to the first, NaN and infinite rows and masked rows get
    0, and the rows of a block that is not full are labelled too."""
    rng = np.random.default_rng(d * k)
    C = np.round(rng.uniform(0, 100, (k, d)))
    X = rng.uniform(-10, 110, (3000 + 37, d))
    X[:k] = C  # on a centroid
    X[k : 2 * k] = (C + np.roll(C, 1, axis=0)) / 2  # halfway between two
    if np.issubdtype(dtype, np.integer):
        X = np.round(X).clip(np.iinfo(dtype).min, np.iinfo(dtype).max)
    X = X.astype(dtype)
    if X.dtype.kind == "f":
        X[2 * k, 0] = np.nan
        X[2 * k + 1, -1] = np.inf
    expected = first_nearest(X, C)
    got = _engine.predict(X, C)
    assert got.dtype == (np.uint8 if k < 255 else np.uint16)
    np.testing.assert_array_equal(got, expected)
    mask = rng.random(len(X)) < 0.7
    np.testing.assert_array_equal(
        _engine.predict(X, C, mask=mask), np.where(mask, expected, 0)
    )
    # a strided, read-only view labels the same rows alike
    view = X[::3]
    view.flags.writeable = False
    np.testing.assert_array_equal(_engine.predict(view, C), expected[::3])


def test_too_few_distinct_values():
    X = np.repeat(np.array([[0, 0, 0], [255, 0, 0]], np.uint8), 500, axis=0)
    with pytest.raises(TooFewValuesError, match="only 2 distinct values; choose n"):
        fit_predict(X, n_clusters=3)
    fit = fit_predict(X, n_clusters=2)
    assert sorted(fit.counts.tolist()) == [500, 500]


def test_input_is_never_modified(astronaut):
    X = astronaut.reshape(-1, 3)[::2]  # a non-contiguous view
    before = X.copy()
    X.flags.writeable = False  # read-only input works too
    fit_predict(X, n_clusters=3)
    fit_predict(X, n_clusters=3, method="sample")
    np.testing.assert_array_equal(X, before)


def test_memory_beyond_input_is_bounded():
    """Working memory of the general (uint16) path stays below the input's size."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 4000, (16, 3), dtype=np.uint16)
    X = base[rng.integers(0, 16, 6_000_000)]
    X += rng.integers(0, 300, X.shape, dtype=np.uint16)
    X = np.ascontiguousarray(X.T).T  # channel-first layout, as (C, Z, Y, X) stacks
    fit_predict(X[:300_000], n_clusters=4)  # compiled first: its objects are not data
    tracemalloc.start()
    fit = fit_predict(X, n_clusters=4)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert fit.converged
    # labels (1 byte/pixel) + bounded working memory: below one input size (6 B/px)
    assert peak < X.nbytes, peak / X.nbytes


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_labelling_through_the_centroid_grid_equals_comparing_distances(
    dtype, monkeypatch
):
    """Three integer features labelled with given centroids go through a grid laid
    over the centroids (cells owned whole take their owner): the labels are those
    of the nearest centroid, the first on ties, for values inside and outside the
    grid, with a mask, and reused from the cache."""
    monkeypatch.setattr(centroid_grid, "_CENTROID_GRID_MIN_PIXELS", 1_000)
    monkeypatch.setattr(centroid_grid, "_centroid_grids", {})
    top = np.iinfo(dtype).max
    rng = np.random.default_rng(5)
    n = 60_000

    def nearest(X, C):
        d = ((X[:, None, :].astype(np.float64) - C[None]) ** 2).sum(axis=2)
        return (d.argmin(axis=1) + 1).astype(np.uint8)

    for k in (2, 4, 8):
        C = rng.uniform(0.4 * top, 0.55 * top, (k, 3))  # a grid on part of the range
        X = C[rng.integers(0, k, n)] + rng.normal(0, 0.05 * top, (n, 3))
        X = np.clip(X, 0, top).astype(dtype)
        X[:500], X[500:1000] = top, 0  # outside the grid, into its edge bins
        mask = rng.random(n) > 0.2
        expected = nearest(X, C)
        assert np.array_equal(_engine.predict(X, C), expected)
        assert np.array_equal(_engine.predict(X, C), expected)  # from the cache
        assert np.array_equal(
            _engine.predict(X, C, mask=mask), np.where(mask, expected, 0)
        )
    ties = np.full((5_000, 3), 3 * (top // 255), dtype)  # equidistant: the first
    C = np.array([[2.0, 2, 2], [4, 4, 4]]) * (top // 255)
    assert (_engine.predict(ties, C) == 1).all()
    assert len(centroid_grid._centroid_grids) == 4


def test_passes_in_this_thread_give_the_same_result():
    """Under ``in_this_thread`` (dask tasks) a pass is not split over the engine's
    threads, and gives the same labels and centroids."""
    X = np.random.default_rng(3).integers(0, 255, (300_000, 3)).astype(np.uint8)
    split = _engine.fit_predict(X, n_clusters=4, random_state=0)
    with _parallel.in_this_thread():
        whole = _engine.fit_predict(X, n_clusters=4, random_state=0)
        assert _parallel.spans(len(X)) == [(0, len(X))]
    assert _parallel.spans(len(X)) != [(0, len(X))]
    np.testing.assert_array_equal(whole.labels, split.labels)
    np.testing.assert_allclose(whole.centroids, split.centroids, rtol=1e-12)
