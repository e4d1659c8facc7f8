"""ExactGaussianMixture is a scikit-learn estimator: it passes scikit-learn's
estimator checks, and from the same start (its exact k-means partition) it
reaches scikit-learn's GaussianMixture: the same means, covariances, weights,
log-likelihood and probabilities."""

import doctest
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from napari_kmeans_seg import segment
from napari_kmeans_seg.core import engine, mixture_estimator
from napari_kmeans_seg.core.mixture_estimator import ExactGaussianMixture

RTOL = 1e-6


@parametrize_with_checks(
    [
        ExactGaussianMixture(),
        ExactGaussianMixture(n_components=2, covariance_type="diag", max_iter=5),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def _astronaut_pixels():
    data = pytest.importorskip("skimage.data")
    return data.astronaut()[::8, ::8].reshape(-1, 3)


def datasets():
    """name -> (X, n_components, offset): the data fitted is ``X + offset``."""
    blobs = {
        d: make_blobs(
            3000,
            n_features=d,
            centers=k,
            cluster_std=[1.0, 2.0, 0.5, 1.5, 1.0][:k],
            random_state=d,
        )[0]
        for d, k in ((2, 3), (3, 4), (5, 5))
    }
    return {
        "blobs2": (blobs[2], 3, 0.0),
        "blobs3_offset": (blobs[3], 4, 1e6),
        "blobs5": (blobs[5], 5, 0.0),
        "iris_offset": (load_iris().data, 3, 1e6),
        "rgb_uint8": (_astronaut_pixels(), 4, 0.0),
    }


def sklearn_from_our_start(X, k, offset, covariance_type, *, reg_covar=1e-6, seed=0):
    """scikit-learn's GaussianMixture on ``X`` (without the offset: its diagonal
    covariances and log-probabilities are sums of squares that lose the digits
    of data on 1e6), started from our exact k-means partition of ``X + offset``
    as scikit-learn's own k-means start does (weights, means and covariances of
    the clusters, ``reg_covar`` added)."""
    fit = engine.fit_predict(np.asarray(X) + offset, n_clusters=k, random_state=seed)
    labels = fit.labels.astype(np.intp) - 1
    X = np.asarray(X, dtype=np.float64)
    d = X.shape[1]
    weights = np.bincount(labels, minlength=k) / len(X)
    means = np.stack([X[labels == j].mean(axis=0) for j in range(k)])
    diffs = [X[labels == j] - means[j] for j in range(k)]
    if covariance_type == "full":
        covs = np.stack([D.T @ D / len(D) + reg_covar * np.eye(d) for D in diffs])
        precisions = np.linalg.inv(covs)
    else:
        precisions = 1 / np.stack([(D**2).mean(axis=0) + reg_covar for D in diffs])
    return GaussianMixture(
        k,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
    ).fit(X)


def matching(ours, theirs, offset=0.0) -> list[int]:
    """theirs' component of each of ours (nearest means): a permutation."""
    order = [
        int(np.argmin(((theirs.means_ - m) ** 2).sum(axis=1)))
        for m in ours.means_ - offset
    ]
    assert sorted(order) == list(range(len(order)))
    return order


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("name", list(datasets()))
def test_same_start_same_mixture_as_sklearn(name, covariance_type):
    X, k, offset = datasets()[name]
    data = X + offset if offset else X
    ours = ExactGaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(
        data
    )
    theirs = sklearn_from_our_start(X, k, offset, covariance_type)
    X = X.astype(np.float64)  # scikit-learn scores uint8 in uint8 (X**2 wraps)
    order = matching(ours, theirs, offset)
    spread = float(np.abs(X - X.mean(axis=0)).max())
    assert ours.converged_ and theirs.converged_
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(
        ours.means_ - offset, theirs.means_[order], rtol=RTOL, atol=RTOL * spread
    )
    scale = np.abs(theirs.covariances_).max()
    np.testing.assert_allclose(
        ours.covariances_,
        theirs.covariances_[order],
        rtol=RTOL,
        atol=RTOL * scale,
    )
    np.testing.assert_allclose(ours.weights_, theirs.weights_[order], rtol=RTOL)
    np.testing.assert_allclose(
        ours.precisions_cholesky_,
        theirs.precisions_cholesky_[order],
        rtol=RTOL,
        atol=RTOL * np.abs(theirs.precisions_cholesky_).max(),
    )
    assert ours.score(data) == pytest.approx(theirs.score(X), rel=RTOL)
    np.testing.assert_allclose(
        ours.score_samples(data), theirs.score_samples(X), rtol=RTOL, atol=RTOL
    )
    proba = ours.predict_proba(data)
    np.testing.assert_allclose(proba, theirs.predict_proba(X)[:, order], atol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert ours.bic(data) == pytest.approx(theirs.bic(X), rel=RTOL)
    assert ours.aic(data) == pytest.approx(theirs.aic(X), rel=RTOL)
    # EM's bound after the last M step: never below scikit-learn's (one M step
    # earlier), above it by less than tol
    assert 0 <= ours.lower_bound_ - theirs.lower_bound_ + 1e-9 < ours.tol
    sure = np.sort(proba, axis=1)[:, -1] - np.sort(proba, axis=1)[:, -2] > 1e-6
    ours_of_theirs = np.argsort(order)
    np.testing.assert_array_equal(
        ours.predict(data)[sure], ours_of_theirs[theirs.predict(X)][sure]
    )


def test_the_same_mixture_as_segment_on_the_pixels():
    data = pytest.importorskip("skimage.data")
    image = data.astronaut()[::4, ::4]
    result = segment(image, 3, mixture="full", random_state=0)
    gm = ExactGaussianMixture(3, random_state=0).fit(image.reshape(-1, 3))
    np.testing.assert_allclose(gm.means_, result.centroids, rtol=1e-12)
    np.testing.assert_allclose(gm.weights_, result.model.mixture.weights, rtol=1e-12)
    np.testing.assert_allclose(
        gm.covariances_, result.model.mixture.covariances, rtol=1e-12
    )
    assert gm.lower_bound_ == pytest.approx(result.log_likelihood, rel=1e-12)
    assert gm.bic(image.reshape(-1, 3)) == pytest.approx(result.bic(), rel=1e-9)
    np.testing.assert_allclose(
        gm.predict_proba(image.reshape(-1, 3)).T.reshape(result.probabilities.shape),
        result.probabilities,
        atol=1e-5,
    )


def test_fit_predict_predict_and_diag_shapes():
    X, k, _ = datasets()["blobs3_offset"]
    gm = ExactGaussianMixture(k, covariance_type="diag", random_state=1)
    labels = gm.fit_predict(X)
    assert labels.min() == 0 and labels.max() == k - 1
    np.testing.assert_array_equal(labels, gm.predict(X))
    assert gm.covariances_.shape == gm.precisions_.shape == (k, 3)
    np.testing.assert_allclose(gm.precisions_, 1 / gm.covariances_)
    full = ExactGaussianMixture(k, random_state=1).fit(X)
    assert full.covariances_.shape == full.precisions_cholesky_.shape == (k, 3, 3)
    np.testing.assert_allclose(
        full.precisions_ @ full.covariances_,
        np.broadcast_to(np.eye(3), (k, 3, 3)),
        atol=1e-9,
    )
    # the upper-triangular Cholesky factors scikit-learn keeps
    assert np.allclose(np.tril(full.precisions_cholesky_, -1), 0)


def test_more_initialisations_keep_the_best_and_clone_refits_the_same():
    X = make_blobs(2000, n_features=2, centers=8, random_state=3)[0]
    one = ExactGaussianMixture(6, random_state=0).fit(X)
    five = ExactGaussianMixture(6, n_init=5, random_state=0).fit(X)
    assert five.lower_bound_ >= one.lower_bound_
    again = clone(one).fit(X)
    np.testing.assert_array_equal(again.means_, one.means_)


def test_bic_prefers_the_true_number_of_components_and_grid_search():
    X = make_blobs(1500, n_features=2, centers=3, random_state=4)[0]
    bics = [ExactGaussianMixture(k, random_state=0).fit(X).bic(X) for k in (1, 2, 3)]
    assert np.argmin(bics) == 2
    search = GridSearchCV(
        make_pipeline(StandardScaler(), ExactGaussianMixture(random_state=0)),
        {"exactgaussianmixture__n_components": [1, 3]},
        cv=3,
    ).fit(X)
    assert search.best_params_ == {"exactgaussianmixture__n_components": 3}


def test_not_converged_warns_and_bad_options_are_refused():
    X = make_blobs(500, n_features=2, centers=3, random_state=5)[0]
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        gm = ExactGaussianMixture(3, max_iter=1, tol=0, random_state=0).fit(X)
    assert not gm.converged_ and gm.n_iter_ == 1
    for params, match in [
        ({"n_components": 0}, "n_components"),
        ({"covariance_type": "spherical"}, "covariance_type"),
        ({"tol": -1.0}, "tol"),
        ({"reg_covar": float("nan")}, "reg_covar"),
        ({"n_init": 1.5}, "n_init"),
        ({"n_components": 600}, "n_samples >= n_components"),
    ]:
        with pytest.raises(ValueError, match=match):
            ExactGaussianMixture(**params).fit(X)
    with pytest.raises(ValueError, match="distinct"):
        ExactGaussianMixture(3).fit(np.repeat([[0.0, 1.0], [2.0, 3.0]], 10, axis=0))


def test_exported_by_the_package():
    import napari_kmeans_seg

    assert napari_kmeans_seg.ExactGaussianMixture is ExactGaussianMixture
    assert "ExactGaussianMixture" in napari_kmeans_seg.__all__


def test_docstring_example_runs():
    outcome = doctest.testmod(mixture_estimator, verbose=False)
    assert outcome.attempted > 0 and outcome.failed == 0
