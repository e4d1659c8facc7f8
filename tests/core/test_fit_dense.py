"""The steps with momentum of the per-pixel Lloyd iterations (core/fit/dense.py):
fewer iterations to the same kind of result, an exact fixed point on every pixel."""

from __future__ import annotations

import numpy as np
import pytest
from fixed_point import assert_fit
from test_fit_per_pixel import CASES

from napari_kmeans_seg.core.engine import fit_predict
from napari_kmeans_seg.core.fit import dense


def start(X: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return X[rng.choice(len(X), k, replace=False)].astype(np.float64)


def plain_lloyd_moves(X: np.ndarray, C: np.ndarray) -> int:
    """The rows that one plain Lloyd step from ``C`` (in float64, ties to the
    first centroid) would move: 0 at a fixed point."""
    V = np.asarray(X, dtype=np.float64)
    d2 = ((V[:, None, :] - C[None]) ** 2).sum(axis=2)
    lab = d2.argmin(axis=1)
    means = (
        np.stack([np.bincount(lab, V[:, j], len(C)) for j in range(V.shape[1])], axis=1)
        / np.bincount(lab, minlength=len(C))[:, None]
    )
    d2 = ((V[:, None, :] - means[None]) ** 2).sum(axis=2)
    return int(np.count_nonzero(d2.argmin(axis=1) != lab))


def level_fit(X, C0, k, monkeypatch, **settings):
    for name, value in settings.items():
        monkeypatch.setattr(dense, name, value)
    level = dense._Level(X, np.ones(1, bool), False, k, lambda: None)
    return level.run(C0, 2000)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["float32 rgb", "float64 2ch", "uint16 5ch"])
def test_steps_with_momentum_need_fewer_iterations_to_a_fixed_point(name, monkeypatch):
    """From the same start at k = 16, the steps with momentum reach a Lloyd fixed
    point in clearly fewer iterations than plain Lloyd steps (the steps
    themselves, whose count does not depend on the machine), and it is one: a
    plain Lloyd step from its centroids moves no row."""
    X = CASES[name]()
    C0 = start(X, 16)
    plain = level_fit(X, C0, 16, monkeypatch, _MOMENTUM_MAX=0.0)
    fast = level_fit(X, C0, 16, monkeypatch, _MOMENTUM_MAX=0.9)
    assert plain.converged and fast.converged
    assert fast.n_iter < 0.8 * plain.n_iter, (fast.n_iter, plain.n_iter)
    assert plain_lloyd_moves(X, fast.centroids) == 0
    # another local optimum may be reached, of about the same quality
    assert fast.inertia <= plain.inertia * 1.001


def test_slow_drifts_of_many_clusters_take_a_fraction_of_the_plain_steps(monkeypatch):
    """Issue #28: smooth 2-channel data at k = 64, where plain Lloyd steps creep
    for hundreds of iterations (groups of clusters drifting together, slowly to
    start and to end). Over three starts, the steps with momentum reach exact
    fixed points in less than 0.45 times the plain steps' iterations (263
    against 757; the over-relaxed steps used before took 435, 0.57 times, and
    int16 2-channel 2048² at k = 64 stopped at max_iter = 300)."""
    X = CASES["float64 2ch"]()
    fast = plain = 0
    for seed in range(3):
        C0 = start(X, 64, seed)
        p = level_fit(X, C0, 64, monkeypatch, _MOMENTUM_MAX=0.0)
        f = level_fit(X, C0, 64, monkeypatch, _MOMENTUM_MAX=0.9)
        assert p.converged and f.converged
        assert f.inertia <= p.inertia * 1.01  # a local optimum of the same kind
        fast, plain = fast + f.n_iter, plain + p.n_iter
    assert fast < 0.45 * plain, (fast, plain)
    assert plain_lloyd_moves(X, f.centroids) == 0


def test_the_change_of_the_inertia_of_a_step_is_exact():
    """What a step returns (the rows that changed cluster, with their change of
    the squared distance) plus the centroids' move about the means gives the
    change of the inertia made from scratch: what decides whether a step with
    momentum is taken back."""
    X = CASES["float64 2ch"]()
    C0 = start(X, 8, seed=3)
    level = dense._Level(X, np.ones(1, bool), False, 8, lambda: None)
    S, N = level.assign(C0)
    before = level.exact_sums(C0)[2]
    M = S / N[:, None]
    for over in (1.0, 2.5, 6.0):
        C1 = C0 + over * (M - C0)
        level.assign(C0)
        delta = np.sqrt(((C1 - C0) ** 2).sum(axis=1)) * (1 + 1e-9)
        changed, _, _, gain = level.update(C1, delta)
        assert changed > 0
        moved = ((C1 - M) ** 2).sum(axis=1) - ((C0 - M) ** 2).sum(axis=1)
        after = level.exact_sums(C1)[2]
        np.testing.assert_allclose(
            before + N @ moved + gain, after, rtol=1e-9, atol=1e-9 * before
        )


@pytest.mark.parametrize("name", ["float32 rgb", "uint16 3ch"])
def test_steps_that_overshoot_are_taken_back(name, monkeypatch):
    """With an absurd momentum most steps raise the inertia: each is taken back
    to the plain step's centroids, and the iterations still end on an exact
    fixed point (through the public call)."""
    monkeypatch.setattr(dense, "_momentum", lambda t: 50.0 * t)
    taken_back = []
    original = dense._Level._step

    def recording(self, *args):
        out = original(self, *args)
        taken_back.append(out[-1] is not None)
        return out

    monkeypatch.setattr(dense._Level, "_step", recording)
    X = CASES[name]()
    fit = fit_predict(X, n_clusters=8, random_state=0, max_iter=2000)
    assert any(taken_back)
    assert fit.converged
    assert_fit(X, fit)


def test_given_starting_centroids_take_plain_lloyd_steps(monkeypatch):
    """From centroids the caller gives, the result is the fixed point plain Lloyd
    steps reach from them (as other paths of the engine and scikit-learn do),
    bit for bit; k-means++ starts take the steps with momentum."""
    X = CASES["float32 rgb"]()
    init = start(X, 12, seed=5)
    relaxed = fit_predict(X, n_clusters=12, init=init)
    monkeypatch.setattr(dense, "_MOMENTUM_MAX", 0.0)
    plain = fit_predict(X, n_clusters=12, init=init)
    assert relaxed.converged and plain.converged
    assert relaxed.n_iter == plain.n_iter
    np.testing.assert_array_equal(relaxed.labels, plain.labels)
    assert relaxed.centroids.tobytes() == plain.centroids.tobytes()


def recorded_run(X: np.ndarray, C0: np.ndarray, k: int) -> tuple:
    """A level's fit from ``C0`` and, per iteration, the rows that changed cluster
    and the sizes of the lists of rows near a boundary (None for a list that
    does not hold or overflowed): the work the keys spare."""
    level = dense._Level(X, np.ones(1, bool), False, k, lambda: None)
    seen = []
    update = level.update

    def recording(C, delta):
        out = update(C, delta)
        lists = [None if m is None else tuple(m[3]) for m in (level.long, level.short)]
        seen.append((out[0], *lists))
        return out

    level.update = recording
    return level.run(C0, 1000), seen


@pytest.mark.parametrize(
    ("exponent", "dtype"),
    [
        (-100, np.float32),
        (-120, np.float32),
        (126, np.float32),
        (500, np.float64),
        (-500, np.float64),
    ],
)
def test_the_keys_spare_the_same_work_at_any_magnitude(exponent, dtype):
    """Data scaled by a power of two (float32 of magnitude 1e-30, 1e-36 or 1e38,
    float64 of 1e150 or 1e-150) is fitted as at magnitude 1, bit for bit, and
    with the same work: the same rows move in each iteration and the lists of
    rows near a boundary are as long (keys below or beyond float32's normal
    numbers would make every row due in every iteration)."""
    X1 = (CASES["float32 rgb"]() + np.float32(1.0)).astype(dtype)
    C0 = start(X1, 16)
    unit, unit_work = recorded_run(X1, C0, 16)
    factor = 2.0**exponent
    X = (X1 * dtype(factor)).astype(dtype)
    assert np.array_equal(X / dtype(factor), X1)  # the scaling is exact
    fit, work = recorded_run(X, C0 * factor, 16)
    assert unit.converged and fit.converged
    assert any(lists[0] is not None for lists in unit_work[1:])
    assert work == unit_work
    np.testing.assert_array_equal(fit.labels, unit.labels)
    assert (fit.centroids / factor).tobytes() == unit.centroids.tobytes()


@pytest.mark.parametrize("width", [512, 1000, 1024, 2048, 2100, 4096])
def test_samples_spread_over_every_column_whatever_the_width(width):
    # every step-th row of an image whose width is a multiple of the step holds
    # a few columns only (2048 wide, step 256: 8 columns): a biased sample
    n = width * 2048
    step = n // (1 << 14)
    at = dense.sample_rows(n, step)
    assert at.size == n // step
    assert np.all(np.diff(at) > 0) and at[0] >= 0 and at[-1] < n
    assert np.all(at // step == np.arange(at.size))  # one row of each run
    columns = np.unique(at % width)
    assert columns.size >= 0.9 * min(width, at.size)


@pytest.mark.parametrize(
    ("dtype", "d", "k"),
    [(np.float32, 3, 2), (np.float64, 2, 5), (np.int16, 2, 8), (np.uint16, 5, 67)],
)
@pytest.mark.parametrize("two", [False, True])
def test_rows_assigned_by_blocks_find_the_first_nearest_two(dtype, d, k, two):
    """The distances go a block of rows at a time: each row still gets its
    nearest and second-nearest centroid (the first on ties, with a repeated
    centroid), keys that never promise more than its distance gaps, and invalid
    rows (NaN, ±inf, masked) are left out; blocks end mid-array."""
    from napari_kmeans_seg.core import dense_kernels as DK

    rng = np.random.default_rng(1)
    n = 3 * DK.BLOCK + 17
    if np.dtype(dtype).kind == "f":
        X = rng.normal(size=(n, d)).astype(dtype)
        X[rng.integers(0, n, 20), rng.integers(0, d, 20)] = np.nan
        X[3, 0] = np.inf
        C = rng.normal(size=(k, d))
    else:
        X = rng.integers(0, 5, (n, d)).astype(dtype)
        C = np.round(rng.normal(2.0, 1.5, (k, d)))  # ties between rows' distances
    C[-1] = C[0]  # a repeated centroid: the first is nearest
    mask = rng.random(n) > 0.1
    lab, key3 = np.empty(n, np.uint8), np.empty(n, np.float32)
    sec = np.empty(n if two else 1, np.uint8)
    key2 = np.empty(n if two else 1, np.float32)
    S, N = np.zeros((k, d)), np.zeros(k)
    drift = np.zeros(k)
    state = (lab, sec, key2, key3, two)
    DK.assign_all(X, mask, True, C, drift, 0.0, *state, S, N, 255, 1.0)
    P = X.astype(np.float64)
    valid = mask & np.isfinite(P).all(axis=1)
    assert np.array_equal(lab == 255, ~valid)
    D = ((P[valid, None, :] - C[None]) ** 2).sum(axis=2)
    order = np.argsort(D, axis=1, kind="stable")  # the first on ties
    assert np.array_equal(lab[valid], order[:, 0])
    R = np.sqrt(np.take_along_axis(D, order[:, :3], axis=1))
    R = np.column_stack([R, np.full((len(R), 3 - R.shape[1]), np.inf)])
    gap2, gap3 = R[:, 1] - R[:, 0], R[:, 2] - R[:, 0]
    # with one key, key3 bounds every other centroid by the second-nearest gap
    gap = gap3 if two else gap2
    assert np.all(key3[valid] <= gap + 1e-9)
    assert np.all(key3[valid] >= gap * (1 - 1e-5) - 1e-5 * R[:, 0])
    if two:
        assert np.array_equal(sec[valid], order[:, 1])
        assert np.all(key2[valid] <= gap2 + 1e-9)
        assert np.all(key2[valid] >= gap2 * (1 - 1e-5) - 1e-5 * R[:, 0])
    assert np.array_equal(N, np.bincount(lab[valid], minlength=k))
    np.testing.assert_allclose(S, [P[valid][lab[valid] == a].sum(0) for a in range(k)])
