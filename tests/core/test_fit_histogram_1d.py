"""The one-feature path (greyscale, one channel): exact Lloyd on a histogram plus
the values of the bins that the thresholds between centroids fall in."""

import numpy as np
import pytest
from fixed_point import assert_fit, without_the_optimum
from skimage import data, transform
from sklearn.cluster import KMeans

from napari_kmeans_seg.core.engine import fit_predict
from napari_kmeans_seg.core.fit import fast_1d as _one_feature


def grey(dtype, shape=(600, 700)):
    """A photo resized (every value nearly unique for floats), with noise."""
    rng = np.random.default_rng(1)
    img = transform.resize(data.camera() / 255.0, shape, order=1)
    img = img + rng.normal(0, 0.004, shape)
    if dtype == np.uint16:
        return (img.clip(0, 1) * 4095).astype(np.uint16).reshape(-1, 1)
    if dtype == np.uint8:
        return (img.clip(0, 1) * 255).astype(np.uint8).reshape(-1, 1)
    return img.astype(dtype).reshape(-1, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16, np.uint8])
@pytest.mark.parametrize("k", [2, 3, 5, 8, 16])
def test_one_feature_is_a_fixed_point(dtype, k):
    X = grey(dtype)
    fit = fit_predict(X, n_clusters=k)
    assert fit.converged
    assert_fit(X, fit)


@pytest.mark.parametrize("k", [3, 6])
def test_same_fixed_point_as_the_general_path_from_the_same_start(k):
    """A second, constant feature changes no distance: the general path (cells
    and boxes) and the one-feature path must reach the same fixed point."""
    X = grey(np.float32)
    rng = np.random.default_rng(k)
    init = np.sort(X[rng.choice(len(X), k, replace=False), 0].astype(np.float64))
    one = fit_predict(X, n_clusters=k, init=init[:, None])
    X2 = np.concatenate([X, np.zeros_like(X)], axis=1)
    init2 = np.stack([init, np.zeros(k)], axis=1)
    two = fit_predict(X2, n_clusters=k, init=init2)
    assert one.converged and two.converged
    np.testing.assert_array_equal(one.labels, two.labels)
    np.testing.assert_allclose(one.centroids[:, 0], two.centroids[:, 0], rtol=1e-12)


@pytest.mark.parametrize("k", [2, 4, 8])
def test_inertia_not_worse_than_scikit_learn(k):
    X = grey(np.float32, (300, 400))
    ours = fit_predict(X, n_clusters=k)
    km = KMeans(n_clusters=k, n_init=1, random_state=0).fit(X.astype(np.float64))
    assert ours.inertia <= km.inertia_ * (1 + 1e-4)


def test_only_the_bins_around_thresholds_are_gathered(monkeypatch):
    """The pixels handled one by one are a small part of the image."""
    gathered = []
    real = _one_feature._core_pass

    def spy(*args):
        found = real(*args)
        gathered.append(found.values.size)
        return found

    monkeypatch.setattr(_one_feature, "_core_pass", spy)
    X = grey(np.float32)
    with without_the_optimum():  # the optimum's own gathering: its tests
        fit = fit_predict(X, n_clusters=5)
    assert fit.converged and gathered
    assert max(gathered) < 0.2 * len(X)


def test_mask_and_non_finite_values_are_left_out():
    X = grey(np.float32)
    X[::7] = np.nan
    mask = np.ones(len(X), bool)
    mask[::5] = False
    fit = fit_predict(X, n_clusters=4, mask=mask)
    keep = mask & np.isfinite(X[:, 0])
    assert np.all(fit.labels[~keep] == 0) and np.all(fit.labels[keep] > 0)
    assert fit.n_valid == keep.sum()
    sub = type(fit)(
        **{**fit.__dict__, "labels": fit.labels[keep]},
    )
    assert_fit(X[keep], sub)
