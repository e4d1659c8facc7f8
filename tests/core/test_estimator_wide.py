"""Many features: the estimator's Lloyd goes through BLAS (scikit-learn's, to
strict convergence) and is finished exactly here: an exact fixed point, at least
as good as scikit-learn's KMeans from the same start."""

import numpy as np
import pytest
from fixed_point import assert_fixed_point
from sklearn.cluster import KMeans

from napari_kmeans_seg import ExactKMeans
from napari_kmeans_seg.core import estimator


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
