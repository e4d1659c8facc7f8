"""One feature of floats (and of integers the engine holds as floats): the global
optimum of the k-means objective, from the bins an optimal boundary may split
and their values. Checked against an independent dynamic program over every
distinct value, and against brute force; with few bins (many values in each) the
bounds themselves are checked to keep every bin that an optimum splits."""

import itertools

import numpy as np
import pytest
from fixed_point import assert_fit, path_spy

from napari_kmeans_seg import segment
from napari_kmeans_seg.core.engine import TooFewValuesError, fit_predict
from napari_kmeans_seg.core.fit import bounds_1d, histogram_1d, optimum_binned_1d
from napari_kmeans_seg.core.fit.dp_1d import optimum


def reference(x: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """The least sum of squares of the values ``x`` in ``k`` intervals of their
    sorted distinct values, and the first value of each interval: the plain
    O(k m**2) program ``D[c, j] = min_i D[c - 1, i] + cost(i, j)``."""
    v, n = np.unique(x.astype(np.float64), return_counts=True)
    m = v.size
    d = v - np.average(v, weights=n)
    W = np.concatenate([[0.0], np.cumsum(n)])
    S = np.concatenate([[0.0], np.cumsum(n * d)])
    Q = np.concatenate([[0.0], np.cumsum(n * d * d)])
    i, j = np.meshgrid(np.arange(m + 1), np.arange(m + 1), indexing="ij")
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = Q[j] - Q[i] - (S[j] - S[i]) ** 2 / (W[j] - W[i])
    cost[i >= j] = np.inf
    D = np.full(m + 1, np.inf)
    D[0] = 0.0
    arg = np.zeros((k, m + 1), np.int64)
    for c in range(k):
        total = D[:, None] + cost
        arg[c] = np.argmin(total, axis=0)
        D = total[arg[c], np.arange(m + 1)]
    starts, j = [], m
    for c in range(k - 1, -1, -1):
        j = arg[c, j]
        starts.append(j)
    return float(D[m]), v[np.array(starts[::-1])]


def sum_of_squares(x: np.ndarray, labels: np.ndarray) -> float:
    """Of the values ``x`` about their clusters' means (taken after subtracting
    a value of ``x``: exact for values on a large offset)."""
    x = x.astype(np.float64)
    x = x - x[0]
    return sum(
        ((x[labels == c] - x[labels == c].mean()) ** 2).sum() for c in set(labels)
    )


def brute_force(x: np.ndarray, k: int) -> float:
    v = np.unique(x)
    best = np.inf
    for cuts in itertools.combinations(range(1, v.size), k - 1):
        labels = np.searchsorted([v[0], *(v[c] for c in cuts)], x, side="right")
        best = min(best, sum_of_squares(x, labels))
    return best


def assert_optimal(x, k, fit, rel=1e-12):
    """``fit`` of the values ``x`` is an exact fixed point that says it is the
    optimum, and no partition of ``x`` costs less than it (the reference)."""
    valid = np.isfinite(x)
    assert_fit(x[:, None], fit, valid)
    assert fit.converged and fit.optimal
    best, _ = reference(x[valid], k)
    ours = sum_of_squares(x[valid], fit.labels[valid])
    assert ours <= best * (1 + rel) + 1e-300
    assert fit.inertia == pytest.approx(ours, rel=1e-9)


@pytest.fixture
def few_bins(monkeypatch):
    """A histogram of 64 bins: each holds many distinct values, so that the
    bounds decide (with 2**16 bins a small image has one value per bin)."""
    monkeypatch.setattr(histogram_1d, "_BINS_1D", 64)


def _values(kind, n, rng):
    if kind == "normal":
        return rng.normal(0, 1, n)
    if kind == "uniform":
        return rng.random(n)
    if kind == "classes":  # separated classes of different widths and sizes
        centre = rng.choice([0.0, 1.0, 1.3, 5.0, 9.0], n, p=[0.4, 0.1, 0.1, 0.3, 0.1])
        return centre + rng.normal(0, 0.05, n) * (1 + centre)
    if kind == "heavy tail":
        return rng.standard_cauchy(n).clip(-50, 50)
    return np.round(rng.normal(0, 40, n))  # "ties": few distinct values


KINDS = ["normal", "uniform", "classes", "heavy tail", "ties"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k", [2, 3, 5, 9, 17])
def test_the_optimum_against_the_full_program_with_many_values_per_bin(
    few_bins, kind, k
):
    rng = np.random.default_rng(k)
    x = _values(kind, 1500, rng)
    assert_optimal(x, k, fit_predict(x[:, None], n_clusters=k, random_state=0))


@pytest.mark.parametrize("seed", range(60))
def test_the_bounds_keep_every_bin_an_optimum_splits(seed):
    """With 16 to 1024 bins of values: each bin that the optimum of the values
    splits (values on both sides of a boundary) is one the bounds keep, and
    each edge between bins where it has a boundary. (Bounds 20 times as tight
    as these would miss some.)"""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 9))
    x = _values(KINDS[seed % len(KINDS)], int(rng.integers(200, 1500)), rng)
    B = int(rng.choice([16, 64, 256, 1024]))
    lo, hi = x.min(), x.max()
    if not hi > lo or np.unique(x).size < k:
        return
    inv = B / (hi - lo)
    in_bin = np.clip(((x - lo) * inv).astype(np.int64), 0, B - 1)
    bins = np.unique(in_bin)
    w = np.bincount(in_bin, minlength=B)[bins].astype(float)
    s = np.bincount(in_bin, x, minlength=B)[bins]
    q = np.bincount(in_bin, x * x, minlength=B)[bins]
    mean = s / w
    within = np.maximum(q - s * mean, 0.0)
    b_lo = np.array([x[in_bin == b].min() for b in bins])
    b_hi = np.array([x[in_bin == b].max() for b in bins])
    whole = np.zeros(bins.size, np.bool_)
    split, possible = bounds_1d.where_boundaries_may_lie(
        w, mean, within, b_lo, b_hi, whole, k
    )
    _, firsts = reference(x, k)
    for t in firsts[1:]:  # each boundary of the optimum: inside a bin, or at an edge
        j = int(np.searchsorted(b_hi, t))  # the first bin reaching t
        if b_lo[j] < t:
            assert split[j], (t, j)
        else:
            assert possible[j], (t, j)


@pytest.mark.parametrize(
    "dtype",
    [
        np.float16,
        np.float32,
        np.float64,
        np.int8,
        np.int16,
        np.int32,
        np.uint32,
        np.int64,
    ],
)
def test_every_dtype_of_one_feature_gets_the_optimum(dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, 40_000) * (1 if np.dtype(dtype).kind == "f" else 50)
    if np.dtype(dtype).kind == "u":
        x = np.abs(x)
    x = x.astype(dtype)
    result = segment(x.reshape(200, 200), 6, random_state=0)
    assert result.optimal and result.converged
    v, n = np.unique(x.astype(np.float64), return_counts=True)
    best, _ = optimum(v, n.astype(float), 6)  # the program on every value
    ours = sum_of_squares(x.ravel(), result.labels.ravel())
    assert ours <= best * (1 + 1e-12)
    assert result.inertia == pytest.approx(ours, rel=1e-9)


@pytest.mark.parametrize(
    "scale, offset", [(1e-30, 0.0), (1.0, 1e6), (1e3, -1e12), (1e-3, 1e9)]
)
def test_magnitudes_and_offsets(few_bins, scale, offset):
    x = offset + scale * _values("classes", 1200, np.random.default_rng(5))
    fit = fit_predict(x[:, None], n_clusters=4, random_state=0)
    assert_optimal(x, 4, fit, rel=1e-9)


def test_masks_and_values_that_are_not_finite(few_bins):
    rng = np.random.default_rng(7)
    x = _values("normal", 1500, rng)
    x[rng.random(x.size) < 0.05] = np.nan
    x[:3] = [np.inf, -np.inf, np.nan]
    fit = fit_predict(x[:, None], n_clusters=5, random_state=0)
    assert np.all(fit.labels[~np.isfinite(x)] == 0)
    assert_optimal(x, 5, fit)
    image = x.reshape(30, 50)
    mask = rng.random(image.shape) < 0.7
    result = segment(image, 3, mask=mask)
    inside = mask & np.isfinite(image)
    assert result.optimal and np.all(result.labels[~inside] == 0)
    best, _ = reference(image[inside], 3)
    assert sum_of_squares(image[inside], result.labels[inside]) <= best * (1 + 1e-12)


def test_the_optimum_beats_lloyd_where_lloyd_stops_short():
    """A group far from two close ones: from k-means++ starts, Lloyd can stop
    with two centroids in the far group; the optimum never does."""
    x = np.concatenate(
        [np.full(500, 0.0), [10.0, 10.5, 11.0], np.linspace(100, 102, 400)]
    )
    for seed in range(6):
        fit = fit_predict(x[:, None], n_clusters=3, random_state=seed)
        assert fit.optimal
        assert fit.inertia == pytest.approx(brute_force(x, 3), rel=1e-12)


def test_only_few_values_are_taken_one_by_one(monkeypatch):
    """On a large float image only the values of the few bins an optimal
    boundary may split are gathered (not the image)."""
    taken = []
    real = optimum_binned_1d._values_of

    def spy(px, hist, bins):
        found = real(px, hist, bins)
        taken.append(found.w.sum())
        return found

    monkeypatch.setattr(optimum_binned_1d, "_values_of", spy)
    x = np.random.default_rng(0).normal(0, 1, (1024, 1024)).astype(np.float32)
    for k in (2, 8, 16):
        assert segment(x, k).optimal
    assert len(taken) == 3 and max(taken) < 0.05 * x.size


def test_many_clusters_on_spread_values_fall_back_but_not_on_integers():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (200, 200))
    k = optimum_binned_1d.MAX_K_SPREAD + 1
    with path_spy() as taken:
        result = segment(x, k)
    assert taken == ["histogram (one feature)"] and not result.optimal
    assert result.converged
    integers = np.round(x * 300).astype(np.int16)  # one value per bin
    result = segment(integers, k)
    v, n = np.unique(integers, return_counts=True)
    assert result.optimal
    ours = sum_of_squares(integers.ravel(), result.labels.ravel())
    assert ours <= optimum(v.astype(float), n.astype(float), k)[0] * (1 + 1e-12)


def test_bounds_too_large_fall_back_to_a_fixed_point(monkeypatch):
    monkeypatch.setattr(bounds_1d, "MAX_BOUND_BYTES", 1000)
    x = np.random.default_rng(0).random((200, 200))
    with path_spy() as taken:
        result = segment(x, 5)
    assert taken == ["histogram (one feature)"]
    assert result.converged and not result.optimal


def test_fewer_distinct_values_than_clusters_is_refused():
    x = np.repeat([0.5, 1.5, 2.5], 1000).astype(np.float32)
    with pytest.raises(TooFewValuesError, match="n_clusters"):
        fit_predict(x[:, None], n_clusters=4)
    assert fit_predict(x[:, None], n_clusters=3).optimal
