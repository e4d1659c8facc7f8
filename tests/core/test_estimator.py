"""ExactKMeans is a scikit-learn estimator: it passes scikit-learn's estimator checks,
reaches exact Lloyd fixed points as good as scikit-learn's KMeans, works in pipelines
and grid searches, and KMeansModel converts to and from a fitted KMeans."""

import warnings

import fixed_point
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, load_wine, make_blobs, make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from napari_kmeans_seg import segment
from napari_kmeans_seg.core.estimator import (
    EXPECTED_FAILED_CHECKS,
    SAMPLE_SIZE,
    ExactKMeans,
)
from napari_kmeans_seg.core.features import Layout
from napari_kmeans_seg.core.model import KMeansModel
from napari_kmeans_seg.core.sklearn_models import (
    as_model,
    model_from_sklearn,
    model_to_sklearn,
)


@parametrize_with_checks(
    [ExactKMeans(n_clusters=2, n_init=2, max_iter=5), ExactKMeans()],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def _astronaut():
    data = pytest.importorskip("skimage.data")
    return data.astronaut()[::4, ::4]


def datasets():
    rng = np.random.default_rng(1)
    return {
        "blobs": make_blobs(5000, n_features=2, centers=6, random_state=1)[0],
        "iris": load_iris().data,
        "wine": load_wine().data,
        "uniform": rng.random((5000, 3)),
        "float32": rng.normal(size=(5000, 5)).astype(np.float32),
        "rgb": _astronaut().reshape(-1, 3),
    }


def assert_fixed_point(km, X, w=None):
    """Each sample is labelled with its nearest centroid, each centroid is the
    weighted mean of its samples."""
    fixed_point.assert_fixed_point(
        X, km.labels_, km.cluster_centers_, weights=w, first=0, inertia=km.inertia_
    )
    assert km.converged_


@pytest.mark.parametrize("name", list(datasets()))
def test_fits_are_exact_fixed_points(name):
    X = datasets()[name]
    for k in (3, 8):
        assert_fixed_point(ExactKMeans(k, random_state=0).fit(X), X)


@pytest.mark.parametrize("name", list(datasets()))
@pytest.mark.parametrize("k", [3, 8])
def test_as_good_as_sklearn_with_the_same_seed(name, k):
    """Never worse than scikit-learn's KMeans with as many starts and the same
    seed (on data of at most SAMPLE_SIZE rows, where its result is a start)."""
    X = datasets()[name]
    assert len(X) <= SAMPLE_SIZE
    ours = ExactKMeans(k, random_state=k).fit(X)
    with threadpool_limits(1, user_api="openmp"):  # as ExactKMeans calls it
        theirs = KMeans(k, n_init=4, random_state=k).fit(X)
    assert ours.inertia_ <= theirs.inertia_ * (1 + 1e-12)


@pytest.mark.parametrize("name", ["blobs", "iris", "uniform", "rgb"])
def test_from_the_same_start_it_matches_or_beats_sklearn(name):
    X = datasets()[name]
    C0 = X[np.random.default_rng(0).choice(len(X), 8, replace=False)]
    C0 = np.asarray(C0, dtype=np.float64)
    if len(np.unique(C0, axis=0)) < 8:
        pytest.skip("duplicate start")
    ours = ExactKMeans(8, init=C0).fit(X)
    theirs = KMeans(8, init=C0, n_init=1).fit(X)
    assert_fixed_point(ours, X)
    assert ours.inertia_ <= theirs.inertia_ * (1 + 1e-12)


@pytest.mark.parametrize("n_features", [1, 2, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_an_init_array_keeps_its_row_order_as_sklearn_does(n_features, weighted):
    X, _ = make_blobs(600, n_features=n_features, centers=4, random_state=4)
    w = np.random.default_rng(2).random(len(X)) + 0.5 if weighted else None
    # starts far from the luminance/size order the engine would choose
    C0 = np.asarray(X[[5, 300, 17, 450]], dtype=np.float64)
    C0 = C0[np.argsort(-C0[:, 0])]
    ours = ExactKMeans(4, init=C0).fit(X, sample_weight=w)
    theirs = KMeans(4, init=C0, n_init=1, tol=0).fit(X, sample_weight=w)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(
        ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-9, atol=1e-9
    )
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_sample_weight_fit_is_a_weighted_fixed_point():
    X = make_blobs(3000, n_features=3, centers=5, random_state=2)[0]
    w = np.random.default_rng(0).random(len(X))
    km = ExactKMeans(5, random_state=0).fit(X, sample_weight=w)
    assert_fixed_point(km, X, w)
    with threadpool_limits(1, user_api="openmp"):
        theirs = KMeans(5, n_init=4, random_state=0).fit(X, sample_weight=w)
    assert km.inertia_ <= theirs.inertia_ * (1 + 1e-9)


def test_integer_weights_from_one_start_equal_repeated_samples():
    X = make_blobs(400, n_features=2, centers=4, random_state=3)[0]
    w = np.random.default_rng(1).integers(1, 4, len(X))
    C0 = X[:4].astype(np.float64)
    weighted = ExactKMeans(4, init=C0).fit(X, sample_weight=w)
    repeated = ExactKMeans(4, init=C0).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(
        weighted.cluster_centers_, repeated.cluster_centers_, rtol=1e-12
    )
    np.testing.assert_array_equal(weighted.predict(X), repeated.predict(X))
    assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=1e-12)


def test_zero_weight_is_leaving_the_sample_out():
    X = make_blobs(1000, n_features=3, centers=4, random_state=4)[0]
    w = np.ones(len(X))
    w[::3] = 0
    with_zeros = ExactKMeans(4, random_state=0).fit(X, sample_weight=w)
    without = ExactKMeans(4, random_state=0).fit(X[w > 0])
    np.testing.assert_array_equal(with_zeros.cluster_centers_, without.cluster_centers_)


def test_labels_are_zero_based_and_predict_transform_score_agree():
    X = make_blobs(2000, n_features=3, centers=3, random_state=5)[0]
    km = ExactKMeans(3, random_state=0)
    labels = km.fit_predict(X)
    assert labels.min() == 0 and labels.max() == 2
    np.testing.assert_array_equal(km.predict(X), labels)
    D = km.transform(X)
    assert D.shape == (len(X), 3)
    np.testing.assert_array_equal(D.argmin(axis=1), labels)
    assert km.score(X) == pytest.approx(-km.inertia_)
    assert ExactKMeans(3, random_state=0).fit_transform(X).shape == (len(X), 3)


def test_same_seed_same_result_and_clone():
    X = make_blobs(2000, n_features=2, centers=5, random_state=6)[0]
    a = ExactKMeans(5, random_state=7).fit(X)
    b = clone(a).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert clone(a).get_params() == a.get_params()
    assert a.set_params(n_clusters=4).n_clusters == 4


def test_too_few_distinct_samples_warns_like_sklearn():
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 5, axis=0)
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):
        km = ExactKMeans(3).fit(X)
    assert km.inertia_ == 0
    assert km.cluster_centers_.shape == (3, 2)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_clusters": 0}, "n_clusters"),
        ({"n_clusters": 2.5}, "n_clusters"),
        ({"n_init": 0}, "n_init"),
        ({"max_iter": True}, "max_iter"),
        ({"init": "random"}, "init"),
        ({"init": np.zeros((3, 2))}, "init"),
        ({"n_clusters": 20}, "n_samples=10"),
    ],
)
def test_bad_options_name_the_parameter(params, match):
    X = np.random.default_rng(0).random((10, 3))
    with pytest.raises(ValueError, match=match):
        ExactKMeans(**params).fit(X)


def test_in_a_pipeline_and_a_grid_search():
    X, y = make_classification(
        400, n_features=4, n_informative=3, n_redundant=0, random_state=0
    )
    pipe = make_pipeline(
        StandardScaler(), ExactKMeans(random_state=0), LogisticRegression()
    )
    search = GridSearchCV(pipe, {"exactkmeans__n_clusters": [2, 8]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["exactkmeans__n_clusters"] in (2, 8)
    assert search.score(X, y) > 0.5
    clusterer = make_pipeline(StandardScaler(), ExactKMeans(3, random_state=0))
    labels = clusterer.fit_predict(X)
    np.testing.assert_array_equal(clusterer.predict(X), labels)


def test_unsupervised_grid_search_prefers_more_clusters_by_score():
    X = make_blobs(600, n_features=2, centers=4, random_state=8)[0]
    search = GridSearchCV(ExactKMeans(random_state=0), {"n_clusters": [2, 4]}, cv=3)
    search.fit(X)
    assert search.best_params_ == {"n_clusters": 4}


# ------------------------------------------------------------------ conversions


def test_model_to_sklearn_predicts_like_the_model():
    image = _astronaut()
    model = segment(image, 4).model
    km = model_to_sklearn(model)
    np.testing.assert_array_equal(km.cluster_centers_, model.centroids)
    pixels = image.reshape(-1, 3)
    np.testing.assert_array_equal(
        km.predict(pixels.astype(np.float64)) + 1, model.predict(image).ravel()
    )
    back = model_from_sklearn(km, dtype="uint8")
    np.testing.assert_array_equal(back.centroids, model.centroids)
    assert back.layout == model.layout


def test_model_from_a_fitted_sklearn_kmeans_labels_images():
    image = _astronaut()
    pixels = image.reshape(-1, 3).astype(np.float64)
    km = KMeans(3, n_init=1, random_state=0).fit(pixels)
    model = model_from_sklearn(km)
    assert isinstance(model, KMeansModel) and model.layout.rgb
    np.testing.assert_array_equal(model.predict(image).ravel(), km.predict(pixels) + 1)
    result = segment(image, model=as_model(km, image.shape))
    np.testing.assert_array_equal(result.labels.ravel(), km.predict(pixels) + 1)


def test_model_from_sklearn_single_channel_and_explicit_layout():
    image = np.random.default_rng(0).random((2, 20, 30))
    km = ExactKMeans(2, random_state=0).fit(image.reshape(-1, 1))
    model = model_from_sklearn(km)
    assert model.layout == Layout(None, 1)
    two = ExactKMeans(2, random_state=0).fit(np.moveaxis(image, 0, -1).reshape(-1, 2))
    with pytest.raises(ValueError, match="layout="):
        model_from_sklearn(two)
    model = model_from_sklearn(two, layout=Layout(0, 2))
    labels = model.predict(image)
    assert labels.shape == (20, 30)
    np.testing.assert_array_equal(
        labels.ravel(), two.predict(np.moveaxis(image, 0, -1).reshape(-1, 2)) + 1
    )


def test_conversions_refuse_what_they_cannot_convert():
    with pytest.raises(NotFittedError):
        model_from_sklearn(KMeans(3))
    image = _astronaut()
    merged = segment(image, 3).merge([1, 2]).model
    with pytest.raises(ValueError, match="label_map"):
        model_to_sklearn(merged)
    with pytest.raises(TypeError, match="KMeansModel"):
        model_to_sklearn(KMeans(3))
    assert as_model(None, image.shape) is None


def test_exported_by_the_package():
    import napari_kmeans_seg

    assert napari_kmeans_seg.ExactKMeans is ExactKMeans
    assert "ExactKMeans" in napari_kmeans_seg.__all__
