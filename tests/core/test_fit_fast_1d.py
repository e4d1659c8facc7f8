"""The one-feature path (greyscale, one channel) of the engine: one pass labels the
values far from the thresholds and sums them per cluster, exact Lloyd runs on those
sums plus the values gathered around the thresholds. Every result is checked to be
an exact Lloyd fixed point on every value, in float64. (Where the one-feature
optimum fits, it comes first: these tests take it out of the chain.)"""

import threading

import numpy as np
import pytest
from fixed_point import assert_fit, without_the_optimum
from sklearn.cluster import KMeans

from napari_kmeans_seg.core.engine import Cancelled, TooFewValuesError, fit_predict
from napari_kmeans_seg.core.fit import fast_1d as one_feature

#: rows of the test images: enough for the one-pass path
N_ROWS = 300 * 400


def smooth_image(dtype, n=N_ROWS, seed=1):
    """A smooth image (every float value nearly unique) with noise, as rows."""
    rng = np.random.default_rng(seed)
    side = int(np.sqrt(n))
    y, x = np.mgrid[0:side, 0 : n // side] / side
    img = 0.5 + 0.3 * np.sin(6 * x) * np.cos(4 * y) + 0.1 * (x > 0.6)
    img = img + rng.normal(0, 0.01, img.shape)
    if dtype == np.uint16:
        return (img.clip(0, 1) * 4095).astype(np.uint16).reshape(-1, 1)
    if dtype == np.uint8:
        return (img.clip(0, 1) * 255).astype(np.uint8).reshape(-1, 1)
    return img.astype(dtype).reshape(-1, 1)


@pytest.fixture(autouse=True)
def _lloyd_paths():
    """These are the ways the one-feature optimum falls back to (when its
    program would grow too large, or with given starts): tested without it."""
    with without_the_optimum():
        yield


def assert_fixed_point(X, fit, mask=None):
    """The shared fixed-point check (label 0 exactly for the invalid values),
    and converged."""
    assert_fit(X, fit, mask)
    assert fit.converged


@pytest.fixture
def fast_runs(monkeypatch):
    """The fits the one-pass path returned (None: the histogram path ran)."""
    runs = []
    real = one_feature._fit_fast

    def spy(*args):
        found = real(*args)
        runs.append(found)
        return found

    monkeypatch.setattr(one_feature, "_fit_fast", spy)
    return runs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_float_data_is_fitted_in_one_pass_to_a_fixed_point(dtype, k, fast_runs):
    X = smooth_image(dtype)
    fit = fit_predict(X, n_clusters=k)
    assert fast_runs and fast_runs[-1] is not None
    assert_fixed_point(X, fit)


@pytest.mark.parametrize(
    ("dtype", "k"),
    [(d, k) for d in (np.uint16, np.uint8) for k in (1, 4, 32)]
    + [(np.float32, 1), (np.float32, 12), (np.float32, 32), (np.float64, 40)],
)
def test_other_data_and_other_k_go_the_histogram_way_to_a_fixed_point(
    dtype, k, fast_runs
):
    X = smooth_image(dtype)
    fit = fit_predict(X, n_clusters=k)
    assert not any(r is not None for r in fast_runs)
    assert_fixed_point(X, fit)


def test_a_fixed_point_as_good_as_the_histogram_path(monkeypatch):
    """The histogram path starts from the optimum of its bins: the fast path's
    fixed point (from k-means++ on a sample) is as good, on this image."""
    X = smooth_image(np.float32)
    fast = fit_predict(X, n_clusters=6)
    monkeypatch.setattr(one_feature, "_FAST_MAX_K", 0)
    slow = fit_predict(X, n_clusters=6)
    assert_fixed_point(X, fast)
    assert_fixed_point(X, slow)
    assert fast.inertia == pytest.approx(slow.inertia, rel=1e-6)


def test_masked_and_non_finite_values_get_label_0(fast_runs):
    X = smooth_image(np.float32)
    X[::7] = np.nan
    X[3::11] = np.inf
    X[5::13] = -np.inf
    mask = np.ones(len(X), bool)
    mask[::5] = False
    fit = fit_predict(X, n_clusters=4, mask=mask)
    assert fast_runs[-1] is not None
    keep = mask & np.isfinite(X[:, 0])
    assert fit.n_valid == keep.sum()
    assert fit.n_invalid == (mask & ~np.isfinite(X[:, 0])).sum()
    assert_fixed_point(X, fit, mask)


@pytest.mark.parametrize("scale", [1e-130, 1e-30, 1e30, 1e120])
def test_tiny_and_huge_magnitudes(scale):
    X = smooth_image(np.float64) * scale
    fit = fit_predict(X, n_clusters=5)
    assert_fixed_point(X, fit)
    assert fit.centroids.min() > 0.1 * scale


def test_values_beyond_float64_squares_are_refused():
    X = smooth_image(np.float64) * 1e200
    with pytest.raises(ValueError, match="too large to cluster exactly"):
        fit_predict(X, n_clusters=3)


def test_far_outliers(fast_runs):
    """A few values far outside the others: their bins are nearly all the range."""
    X = smooth_image(np.float32)
    X[[10, 5000, 70000], 0] = [1e6, -3e5, 2e6]
    for k in (3, 6):
        fit = fit_predict(X, n_clusters=k)
        assert_fixed_point(X, fit)


def test_many_equal_values(fast_runs):
    """Few distinct values, each many times, some on the thresholds' windows."""
    rng = np.random.default_rng(2)
    levels = np.array([0.1, 0.2, 0.25, 0.7, 0.71, 0.9], np.float32)
    X = levels[rng.integers(0, levels.size, N_ROWS)].reshape(-1, 1)
    for k in (2, 4, 6):
        fit = fit_predict(X, n_clusters=k)
        assert_fixed_point(X, fit)
    with pytest.raises(TooFewValuesError, match="only 6 distinct values"):
        fit_predict(X, n_clusters=7)


def test_thresholds_leaving_their_windows_cost_more_passes(monkeypatch, fast_runs):
    """Starts moved off the sample's fixed points and windows of one sample value:
    exact Lloyd leaves them, the next pass is centred on the thresholds it
    reached; with too few passes the histogram path takes over. Both end at a
    fixed point."""
    X = smooth_image(np.float32)
    passes = []
    real_pass, real_lloyd = one_feature._core_pass, one_feature._sample_lloyd

    def spy(*args):
        passes.append(1)
        return real_pass(*args)

    def moved(*args):
        return [(w, C * 1.05) for w, C in real_lloyd(*args)]

    monkeypatch.setattr(one_feature, "_core_pass", spy)
    monkeypatch.setattr(one_feature, "_sample_lloyd", moved)
    monkeypatch.setattr(one_feature, "_WINDOW_SAMPLES", 1)
    monkeypatch.setattr(one_feature, "_FAST_PASSES", 8)
    fit = fit_predict(X, n_clusters=5)
    assert len(passes) > 1 and fast_runs[-1] is not None
    assert_fixed_point(X, fit)
    monkeypatch.setattr(one_feature, "_FAST_PASSES", 1)
    fit = fit_predict(X, n_clusters=5)
    assert fast_runs[-1] is None
    assert_fixed_point(X, fit)


def test_a_full_gather_buffer_grows(monkeypatch, fast_runs):
    """Room made for no gathered value at all: each chunk that gathers more runs
    again with more room, and the pass still ends at a fixed point."""
    X = smooth_image(np.float32)
    monkeypatch.setattr(one_feature, "_share", lambda sample, edges: 0.0)
    monkeypatch.setattr(one_feature, "_WINDOW_SAMPLES", 4096)
    fit = fit_predict(X, n_clusters=4)
    assert fast_runs[-1] is not None
    assert_fixed_point(X, fit)


def test_one_channel_of_several(fast_runs):
    """A strided column (one channel of an RGB image's rows) is read in place."""
    rows = np.repeat(smooth_image(np.float32), 3, axis=1)
    rows[:, 0] *= 2
    X = rows[:, 1:2]
    fit = fit_predict(X, n_clusters=4)
    assert fast_runs[-1] is not None
    assert_fixed_point(X, fit)
    np.testing.assert_array_equal(rows[:, 1], X[:, 0])  # untouched


@pytest.mark.timeout(60)
def test_cancel_stops_the_pass():
    X = smooth_image(np.float32, n=1 << 22)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        fit_predict(X, n_clusters=4, should_stop=stop)


@pytest.mark.parametrize("k", [2, 4, 8])
def test_inertia_not_worse_than_scikit_learn(k):
    X = smooth_image(np.float32, seed=k)
    ours = fit_predict(X, n_clusters=k)
    km = KMeans(n_clusters=k, n_init=1, random_state=0).fit(X.astype(np.float64))
    assert ours.inertia <= km.inertia_ * (1 + 1e-4)


@pytest.mark.parametrize("k", [20, 32])
def test_the_pass_takes_up_to_32_clusters(monkeypatch, k):
    """The pass keeps the clusters present in a block as the bits of a 32-bit
    word: every one of 32 clusters is summed."""
    monkeypatch.setattr(one_feature, "_FAST_MAX_K", 32)
    X = smooth_image(np.float64)
    fit = fit_predict(X, n_clusters=k, max_iter=2000)
    assert_fixed_point(X, fit)


@pytest.mark.parametrize("offset", [-0.5, -3.0, 1e6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_negative_values_and_offsets(dtype, offset, fast_runs):
    """Values below zero, across zero and far from it: the blocks' ranges are
    read from the values' bits, whose order flips for negative values."""
    X = (smooth_image(np.float64) + offset).astype(dtype)
    if abs(offset) < 10:
        X[::97] = -X[::97]  # a sprinkle of the other sign
    for k in (2, 4, 8):
        fit = fit_predict(X, n_clusters=k)
        assert fast_runs[-1] is not None
        assert_fixed_point(X, fit)


def test_signed_zeros_are_one_value(fast_runs):
    """-0.0 and 0.0 compare equal, though their bits order them apart: they get
    one label, and the blocks holding both are read right."""
    rng = np.random.default_rng(4)
    X = rng.choice(np.array([-1.0, -0.0, 0.0, 1.0, 3.0], np.float32), N_ROWS)
    X = X.reshape(-1, 1)
    for k in (2, 3, 4):
        fit = fit_predict(X, n_clusters=k)
        assert fast_runs[-1] is not None
        assert_fixed_point(X, fit)
        assert np.unique(fit.labels[X[:, 0] == 0]).size == 1


def test_two_values_and_a_constant_image(fast_runs):
    X = np.zeros((N_ROWS, 1), np.float32)
    X[::3] = 2.5
    fit = fit_predict(X, n_clusters=2)
    assert_fixed_point(X, fit)
    np.testing.assert_array_equal(np.sort(fit.centroids[:, 0]), [0.0, 2.5])
    with pytest.raises(TooFewValuesError):
        fit_predict(np.full((N_ROWS, 1), 0.25, np.float32), n_clusters=2)


def test_tiny_noise_on_a_large_offset(fast_runs):
    """1e6 plus noise of 1e-3: float64 keeps the values apart, and the sums are
    taken from references near the centroids."""
    X = 1e6 + smooth_image(np.float64) * 1e-3
    for k in (2, 5):
        fit = fit_predict(X, n_clusters=k)
        assert fast_runs[-1] is not None
        assert_fixed_point(X, fit)


def test_nan_and_inf_in_blocks_of_one_cluster(fast_runs):
    """A NaN or an infinity alone in a block of otherwise equal values: the
    block's range shows it, it gets label 0."""
    X = np.full((N_ROWS, 1), 0.2, np.float32)
    X[N_ROWS // 2 :] = 0.8
    X[1000], X[5000], X[9000] = np.nan, np.inf, -np.inf
    X[70000] = -np.nan  # the sign bit set: below -inf in the bits' order
    fit = fit_predict(X, n_clusters=2)
    assert fast_runs[-1] is not None
    assert fit.n_invalid == 4
    assert_fixed_point(X, fit)


def test_a_mask_with_whole_blocks_out(fast_runs):
    X = smooth_image(np.float32)
    mask = np.ones(len(X), bool)
    mask[: len(X) // 3] = False
    mask[len(X) // 2 :: 7] = False
    fit = fit_predict(X, n_clusters=4, mask=mask)
    assert fast_runs[-1] is not None
    assert_fixed_point(X, fit, mask)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_value_on_the_threshold_goes_to_the_lower_cluster(dtype, fast_runs):
    """0, 1 and 3, as many of each: with centroids 0 and 2 the 1s lie on the
    threshold; the engine puts such a value in the lower cluster, so the only
    fixed point is {0, 1}, {3} (with the 1s above, {0}, {1, 3} would be one)."""
    X = np.repeat(np.array([0.0, 1.0, 3.0], dtype), N_ROWS // 3)
    X = np.random.default_rng(5).permutation(X).reshape(-1, 1)
    fit = fit_predict(X, n_clusters=2)
    assert fast_runs[-1] is not None
    assert_fixed_point(X, fit)
    # the partition decides; the means' last bit depends on the summation order
    # of the numba release (0.59 sums the 0s and 1s to 0.5 - 2**-53)
    np.testing.assert_allclose(np.sort(fit.centroids[:, 0]), [0.5, 3.0], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prefix_sums_are_those_of_numpy(dtype):
    """The windows' prefix sums are summed in order from a shift, as
    ``np.cumsum`` sums: the same bits."""
    from napari_kmeans_seg.core import one_feature_kernels as OK

    x = np.sort(np.random.default_rng(0).normal(1e3, 5.0, 10_001).astype(dtype))
    got = OK.prefix_sums(x, 1e3)
    want = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) - 1e3)])
    np.testing.assert_array_equal(got, want)


def test_sample_starts_ranked_by_their_inertia_on_the_sample():
    """Starts moved by Lloyd on the sorted sample: each kept once, with its
    inertia on the sample, best first."""
    rng = np.random.default_rng(2)
    sample = np.sort(
        np.concatenate([rng.normal(m, 0.05, n) for m, n in [(0, 900), (1, 90), (3, 9)]])
    )
    cs = np.concatenate([[0.0], np.cumsum(sample)])
    starts = [np.array([0.0, 0.1]), np.array([0.5, 3.0]), np.array([0.51, 3.0])]
    moved = one_feature._sample_lloyd(sample, cs, starts, 300)
    assert len(moved) == 2  # the last two meet
    inertias = [w for w, _ in moved]
    assert inertias == sorted(inertias)
    for w, C in moved:
        t = 0.5 * (C[:-1] + C[1:])
        lab = np.searchsorted(t, sample, "left")
        assert w == pytest.approx(np.sum((sample - C[lab]) ** 2), rel=1e-12)
