"""Many features: the estimator's Lloyd takes its distances from a BLAS product
(its own Lloyd, or scikit-learn's first below ``OWN_LLOYD`` features), each row
whose nearest the product's rounding could decide checked with exact distances:
an exact fixed point, at least as good as scikit-learn's KMeans from the same
start."""

from fractions import Fraction

import numpy as np
import pytest
from fixed_point import assert_fixed_point
from sklearn.cluster import KMeans

from napari_kmeans_seg import ExactKMeans
from napari_kmeans_seg.core import estimator, parallel


def blobs(n, d, k, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, (k, d))
    return centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))


@pytest.mark.parametrize("d", [estimator.WIDE, 64])
@pytest.mark.parametrize("seed", [0, 1])
def test_wide_data_reach_an_exact_fixed_point(d, seed):
    X = blobs(1500, d, 6, seed)
    est = ExactKMeans(n_clusters=6, random_state=seed).fit(X)
    assert est.converged_
    assert_fixed_point(X, est.labels_, est.cluster_centers_, first=0)
    np.testing.assert_allclose(
        est.inertia_, ((X - est.cluster_centers_[est.labels_]) ** 2).sum(), rtol=1e-9
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_from_the_same_start_no_worse_than_scikit_learn(seed):
    X = blobs(2000, 40, 5, seed).astype(np.float64)
    start = X[np.random.default_rng(seed).choice(len(X), 5, replace=False)]
    ours = ExactKMeans(n_clusters=5, init=start).fit(X)
    theirs = KMeans(5, init=start, n_init=1).fit(X)
    assert ours.converged_
    assert ours.inertia_ <= theirs.inertia_ * (1 + 1e-12)
    assert_fixed_point(X, ours.labels_, ours.cluster_centers_, first=0)


def test_weights_on_wide_data():
    X = blobs(800, 20, 4, 3)
    w = np.random.default_rng(3).uniform(0.1, 3.0, len(X))
    est = ExactKMeans(n_clusters=4, random_state=0).fit(X, sample_weight=w)
    assert est.converged_
    assert_fixed_point(X, est.labels_, est.cluster_centers_, weights=w, first=0)


@pytest.fixture(params=["own Lloyd", "scikit-learn's Lloyd first"])
def lloyd(request, monkeypatch):
    """Both ways of the wide path, whatever the number of features."""
    own = request.param == "own Lloyd"
    monkeypatch.setattr(estimator, "OWN_LLOYD", estimator.WIDE if own else 1 << 30)
    return request.param


def exact_nearest(X, C):
    """Index of the nearest row of ``C`` to each row of ``X`` (the first on ties),
    from float64 differences summed feature by feature (no matrix product)."""
    X = np.asarray(X, dtype=np.float64)
    d2 = np.zeros((len(X), len(C)))
    for f in range(X.shape[1]):
        d2 += (X[:, f, None] - C[None, :, f]) ** 2
    return d2.argmin(axis=1)


def near_ties(d=32, n_ties=300, seed=0):
    """Two clusters at ``4096 ± u`` (heavy rows, symmetric, so their means are
    exactly the centres) and light rows within ``1e-9`` of the bisecting plane:
    their nearest centre is decided by a gap far below the rounding of a
    matrix product at this offset, but above that of exact distances. Returns
    ``(X, weights, centres, exact labels of the light rows)``."""
    rng = np.random.default_rng(seed)
    u = rng.integers(128, 256, d) / 256 * rng.choice([-1.0, 1.0], d)
    centres = np.stack([4096.0 + u, 4096.0 - u])
    steps = np.concatenate([0.5 * np.eye(d), -0.5 * np.eye(d)])
    heavy = np.concatenate([centres[0] + steps, centres[1] + steps])
    z = rng.normal(size=(n_ties, d))
    z -= np.outer(z @ u, u) / (u @ u)  # on the plane through 4096, normal to u
    eps = rng.choice([-1.0, 1.0], n_ties) * 10.0 ** rng.uniform(-12, -9, n_ties)
    light = 4096.0 + z + np.outer(eps, u) / (u @ u)
    # the exact sign of (x - 4096).u decides: 0 (nearer centres[0]) when > 0
    gap = np.array(
        [
            sum(
                Fraction(float(v)) * Fraction(float(c))
                for v, c in zip(row - 4096.0, u, strict=True)
            )
            for row in light
        ]
    )
    keep = np.abs(gap.astype(float)) > 1e-13  # exact distances tell these apart
    light, gap = light[keep], gap[keep]
    X = np.concatenate([heavy, light])
    w = np.concatenate([np.ones(len(heavy)), np.full(len(light), 2.0**-200)])
    return X, w, centres, np.where(gap > 0, 0, 1)


def test_near_ties_are_assigned_exactly(lloyd):
    X, w, centres, truth = near_ties()
    est = ExactKMeans(n_clusters=2, init=centres).fit(X, sample_weight=w)
    assert est.converged_
    # the light rows weigh nothing in the means: the centres stay put exactly
    np.testing.assert_array_equal(est.cluster_centers_, centres)
    light = slice(len(X) - len(truth), None)
    np.testing.assert_array_equal(est.labels_[light], truth)
    # a matrix product alone misses some of them: the test can fail
    naive = (X[light] @ centres.T * -2 + (centres**2).sum(axis=1)).argmin(axis=1)
    assert np.any(naive != truth)


def test_near_ties_in_many_blocks_and_ranges(monkeypatch, lloyd):
    """Rows re-checked exactly anywhere in the pass: in every block of rows (7
    rows a block here) of every parallel range, shuffled among the others."""
    monkeypatch.setattr(estimator, "_BLOCK_NUMBERS", 7 * 32)
    X, w, centres, truth = near_ties(d=32, n_ties=2100, seed=1)
    assert len(parallel.spans(len(X), X.shape[1])) > 1
    order = np.random.default_rng(1).permutation(len(X))
    est = ExactKMeans(n_clusters=2, init=centres).fit(X[order], sample_weight=w[order])
    assert est.converged_
    np.testing.assert_array_equal(est.cluster_centers_, centres)
    labels = np.empty_like(est.labels_)
    labels[order] = est.labels_
    np.testing.assert_array_equal(labels[len(X) - len(truth) :], truth)


@pytest.mark.parametrize("k", [5, 12])
def test_labels_are_the_exact_nearest(k, lloyd):
    X = blobs(3000, 48, k, k)
    est = ExactKMeans(n_clusters=k, n_init=2, random_state=0).fit(X)
    assert est.converged_
    np.testing.assert_array_equal(est.labels_, exact_nearest(X, est.cluster_centers_))
    np.testing.assert_array_equal(est.predict(X), est.labels_)


@pytest.mark.parametrize("seed", [0, 1])
def test_float32_input(seed, lloyd):
    X = (blobs(2500, 40, 6, seed) + 100.0).astype(np.float32)
    est = ExactKMeans(n_clusters=6, n_init=1, random_state=seed).fit(X)
    assert est.converged_
    assert est.cluster_centers_.dtype == np.float64
    assert_fixed_point(X, est.labels_, est.cluster_centers_, first=0)
    np.testing.assert_array_equal(est.labels_, exact_nearest(X, est.cluster_centers_))
    X64 = X.astype(np.float64)
    diff = X64 - est.cluster_centers_[est.labels_]
    np.testing.assert_allclose(est.inertia_, (diff**2).sum(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", [0, 3])
def test_one_start_same_as_scikit_learn(dtype, seed, lloyd):
    """``n_init=1``: scikit-learn's k-means++ start with the same seed, Lloyd to
    the same partition and inertia as its KMeans run to strict convergence."""
    X = blobs(2000, 30, 5, seed).astype(dtype)
    ours = ExactKMeans(n_clusters=5, n_init=1, random_state=seed).fit(X)
    theirs = KMeans(5, n_init=1, tol=0.0, random_state=seed).fit(X.astype(np.float64))
    np.testing.assert_allclose(ours.inertia_, theirs.inertia_, rtol=1e-10)
    pairs = set(zip(ours.labels_.tolist(), theirs.labels_.tolist(), strict=True))
    assert len(pairs) == 5  # the same partition, numbered differently
