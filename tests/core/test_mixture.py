"""Gaussian mixtures (``segment(..., mixture=...)``, ``fit_predict(mixture=...)``)
against scikit-learn's ``GaussianMixture`` from the same start, and as a user
meets them: labels, probabilities, uncertainty, models, lazy images, masks."""

from __future__ import annotations

import threading
import warnings

import dask.array as da
import numpy as np
import pytest
from skimage import data
from sklearn.mixture import GaussianMixture

from napari_kmeans_seg import KMeansModel, segment
from napari_kmeans_seg.core.engine import Cancelled, MixtureOptions, fit_predict
from napari_kmeans_seg.core.fit import mixture as fit_mixture
from napari_kmeans_seg.core.fit.ordering import cluster_order
from napari_kmeans_seg.core.fit.pixels import Pixels
from napari_kmeans_seg.core.fit.records import NotConvergedWarning

REG = 1e-6


def sklearn_from_kmeans(X, labels, k, covariance_type, **options):
    """scikit-learn's GaussianMixture started where ours starts: the Gaussians of
    the k-means partition ``labels`` (1..k), ``reg_covar`` on the diagonal.

    ``X`` should be centred: scikit-learn computes diagonal covariances as
    ``E[x²] - mean²``, which loses most digits on data far from 0."""
    Xf = np.asarray(X, np.float64)
    resp = np.eye(k)[labels - 1]
    nk = resp.sum(axis=0) + 10 * np.finfo(np.float64).eps
    means = resp.T @ Xf / nk[:, None]
    covs = np.empty((k, Xf.shape[1], Xf.shape[1]))
    for c in range(k):
        diff = Xf - means[c]
        covs[c] = (resp[:, c] * diff.T) @ diff / nk[c] + REG * np.eye(Xf.shape[1])
    if covariance_type == "diag":
        precisions = 1 / np.diagonal(covs, axis1=1, axis2=2)
    else:
        precisions = np.linalg.inv(covs)
    gm = GaussianMixture(
        k,
        covariance_type=covariance_type,
        weights_init=nk / nk.sum(),
        means_init=means,
        precisions_init=precisions,
        reg_covar=REG,
        **options,
    )
    return gm.fit(Xf)


def _rgb_noise(shape=(96, 96), seed=0):
    rng = np.random.default_rng(seed)
    base = data.astronaut()[: shape[0], : shape[1]] / 255.0
    return (base + rng.normal(0, 0.02, base.shape)).astype(np.float32)


def _posterised():
    """8-bit colour of fewer distinct values than pixels: four regions of a
    colour each, with integer noise in every channel (no channel of a region is
    constant: there scikit-learn's diagonal covariances, ``E[x²] - mean²``, fall
    below ``reg_covar`` and its likelihood grows without bound)."""
    rng = np.random.default_rng(1)
    colours = np.array([[40, 60, 90], [200, 80, 50], [90, 170, 70], [150, 150, 200]])
    yy, xx = np.mgrid[:128, :128]
    region = (yy > 60).astype(int) * 2 + (xx + yy // 3 > 70)
    noise = rng.integers(-6, 7, (128, 128, 3))
    return (colours[region] + noise).astype(np.uint8)


CASES = {
    "uint8 RGB (distinct values)": lambda: _posterised().reshape(-1, 3),
    "float32 RGB (every pixel)": lambda: _rgb_noise().reshape(-1, 3),
    "uint16 one channel": lambda: (
        data.camera()[::4, ::4].astype(np.uint16) * 200
    ).reshape(-1, 1),
    "float64 two channels at 1e6": lambda: (
        _rgb_noise()[..., :2].reshape(-1, 2).astype(np.float64) * 10 + 1e6
    ),
}


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("case", list(CASES))
def test_as_scikit_learn_from_the_same_start(case, covariance_type):
    X = CASES[case]()
    k = 4
    km = fit_predict(X, n_clusters=k)
    ours = fit_predict(
        X,
        n_clusters=k,
        mixture=MixtureOptions(
            covariance_type=covariance_type, tol=1e-8, max_iter=3000
        ),
    ).mixture
    # scikit-learn on the data translated to 0 (the same mixture, translated)
    shift = np.round(np.median(X, axis=0))
    Xf = X.astype(np.float64) - shift
    gm = sklearn_from_kmeans(Xf, km.labels, k, covariance_type, tol=1e-8, max_iter=3000)
    assert ours.converged and gm.converged_
    score = gm.score(Xf)  # scikit-learn's diagonal scores lose digits off 0 too
    assert abs(ours.log_likelihood - score) <= 1e-6 * abs(score)
    # the same components, in our order
    order = cluster_order(gm.means_ + shift, gm.weights_)
    np.testing.assert_allclose(ours.weights, gm.weights_[order], rtol=1e-6)
    spread = np.sqrt(np.max(np.diagonal(ours.covariances, axis1=1, axis2=2)))
    np.testing.assert_allclose(
        ours.means, gm.means_[order] + shift, rtol=0, atol=1e-6 * spread
    )
    covs = gm.covariances_
    if covariance_type == "diag":
        covs = covs[:, :, None] * np.eye(X.shape[1])
    np.testing.assert_allclose(
        ours.covariances, covs[order], rtol=1e-5, atol=1e-9 * spread**2
    )
    proba = gm.predict_proba(Xf)[:, order].T
    np.testing.assert_allclose(ours.probabilities, proba, rtol=0, atol=1e-5)
    assert ours.n_iter == gm.n_iter_


def test_better_than_scikit_learn_far_from_zero():
    """At an offset of 1e6 scikit-learn's diagonal covariances (``E[x²] -
    mean²``) lose their digits and its EM does not settle; ours are taken around
    the means."""
    X = CASES["float64 two channels at 1e6"]()
    km = fit_predict(X, n_clusters=4)
    options = {"tol": 1e-8, "max_iter": 300}
    ours = fit_predict(
        X, n_clusters=4, mixture=MixtureOptions(covariance_type="diag", **options)
    ).mixture
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = sklearn_from_kmeans(X, km.labels, 4, "diag", **options)
    assert ours.converged
    assert ours.log_likelihood >= gm.score(X - 1e6) - 1e-9


def test_integer_pixels_are_summed_over_their_distinct_values():
    X = _posterised().reshape(-1, 3)
    points = fit_mixture.Points.of(Pixels(X, None, binned=False))
    assert points.use_w and points.X.shape[0] == len(np.unique(X, axis=0))
    assert points.w.sum() == X.shape[0]
    floats = fit_mixture.Points.of(Pixels(_rgb_noise().reshape(-1, 3), None))
    assert not floats.use_w


def test_segment_gives_labels_probabilities_and_uncertainty():
    image = data.astronaut()[::2, ::2]
    result = segment(image, 4, mixture="full")
    p = result.probabilities
    assert p.shape == (4, *result.labels.shape) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=0), 1, atol=1e-5)
    # labels: the most probable component, in the k-means order of the means
    np.testing.assert_array_equal(result.labels, p.argmax(axis=0) + 1)
    order = cluster_order(result.engine_centroids, result.counts)
    np.testing.assert_array_equal(order, np.arange(4))
    np.testing.assert_allclose(result.uncertainty, 1 - p.max(axis=0))
    assert result.mixture_converged and result.converged
    assert np.array_equal(np.bincount(result.labels.ravel())[1:], result.counts)
    # the model labels and gives probabilities as the fit did
    np.testing.assert_array_equal(result.model.predict(image), result.labels)
    np.testing.assert_array_equal(result.model.predict_proba(image), p)
    gm = GaussianMixture(4).fit(np.zeros((8, 1)) + np.arange(8)[:, None])
    assert isinstance(result.bic(), float) and np.isfinite(gm.bic(np.ones((8, 1))))


def test_bic_as_scikit_learn_computes_it():
    X = _rgb_noise((48, 48))
    result = segment(X, 3, mixture="diag")
    flat = X.reshape(-1, 3).astype(np.float64)
    gm = sklearn_from_kmeans(
        flat, segment(X, 3).labels.ravel(), 3, "diag", tol=1e-3, max_iter=100
    )
    assert result.bic() == pytest.approx(gm.bic(flat), rel=1e-6)


def test_masked_and_invalid_pixels_have_no_probability():
    image = data.camera()[::2, ::2].astype(np.float32)
    image[:5] = np.nan
    mask = image > 30
    result = segment(image, 3, mixture="full", mask=mask)
    out = ~mask | np.isnan(image)
    assert (result.labels[out] == 0).all()
    assert (result.probabilities[:, out] == 0).all()
    assert (result.uncertainty[out] == 1).all()
    assert (result.labels[~out] > 0).all()


def test_colour_spaces_and_options_go_through_the_mixture():
    image = data.astronaut()[::4, ::4]
    result = segment(image, 3, mixture="diag", color_space="lab", spatial_weight=0.05)
    assert result.model.mixture.covariances.shape == (3, 5, 5)
    np.testing.assert_array_equal(result.model.predict(image), result.labels)


def test_model_files_keep_the_mixture(tmp_path):
    image = data.astronaut()[::4, ::4]
    result = segment(image, 3, mixture="full")
    path = result.model.save(tmp_path / "gmm.json")
    model = KMeansModel.load(path)
    np.testing.assert_array_equal(
        model.mixture.covariances, result.model.mixture.covariances
    )
    np.testing.assert_array_equal(model.predict_proba(image), result.probabilities)
    applied = segment(image, model=model)
    np.testing.assert_array_equal(applied.labels, result.labels)
    np.testing.assert_array_equal(applied.probabilities, result.probabilities)


def test_lazy_images():
    image = data.astronaut()[::2, ::2]
    lazy = da.from_array(image, chunks=(64, 64, 3))
    whole = segment(lazy, 3, mixture="full")
    direct = segment(image, 3, mixture="full")
    assert isinstance(whole.probabilities, da.Array)
    np.testing.assert_array_equal(whole.probabilities.compute(), direct.probabilities)
    region = segment(lazy, 3, mixture="full", fit_pixels=4096)
    p = region.probabilities.compute()
    assert p.shape == (3, 256, 256)
    np.testing.assert_allclose(p.sum(axis=0), 1, atol=1e-5)
    np.testing.assert_array_equal(region.labels.compute(), p.argmax(axis=0) + 1)
    np.testing.assert_array_equal(
        region.model.predict_proba(lazy).compute(),
        region.model.predict_proba(image),
    )


def test_a_component_of_one_value_stays_finite():
    image = np.zeros((64, 64), np.uint8)
    image[:20] = 200  # one value: a covariance of reg_covar only
    image[20:] = np.random.default_rng(0).integers(40, 120, (44, 64))
    result = segment(image, 2, mixture="full")
    assert np.isfinite(result.log_likelihood)
    assert (result.labels[:20] == 2).all()
    assert np.allclose(result.model.mixture.covariances[1], REG)


def test_bad_options_say_what_to_do():
    with pytest.raises(ValueError, match="mixture must be None"):
        segment(data.camera(), 3, mixture="spherical")
    kmeans = segment(data.camera()[::4, ::4], 3)
    with pytest.raises(ValueError, match="no probabilities"):
        kmeans.model.predict_proba(data.camera())
    assert kmeans.probabilities is None and kmeans.uncertainty is None
    with pytest.raises(ValueError, match="Gaussian mixture"):
        kmeans.bic()
    gmm = segment(data.camera()[::4, ::4], 3, mixture="full")
    with pytest.raises(ValueError, match="cannot be merged"):
        gmm.merge([1, 2])


def test_em_that_stops_at_max_iter_warns():
    X = _rgb_noise((48, 48)).reshape(-1, 3)
    with pytest.warns(NotConvergedWarning, match="EM stopped after max_iter=2"):
        result = fit_predict(X, n_clusters=4, mixture=MixtureOptions(max_iter=2, tol=0))
    assert not result.mixture.converged and result.mixture.n_iter == 2


def test_cancel_stops_em():
    X = _rgb_noise((256, 256)).reshape(-1, 3)
    stop = threading.Event()
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 40  # during EM, after k-means

    stop.is_set = should_stop
    with warnings.catch_warnings(), pytest.raises(Cancelled):
        fit_predict(
            X,
            n_clusters=4,
            mixture=MixtureOptions(tol=0, max_iter=10_000),
            should_stop=should_stop,
        )


def test_variances_never_fall_below_reg_covar():
    """A component whose pixels share one value in a channel keeps exactly
    ``reg_covar`` there (scikit-learn's ``E[x²] - mean²`` gives less, e.g.
    9.987e-7 on this image, and a likelihood that is only rounding)."""
    X = (data.astronaut()[::4, ::4] // 8 * 8).reshape(-1, 3)
    for covariance_type in ("full", "diag"):
        mixture = fit_predict(
            X, n_clusters=4, mixture=MixtureOptions(covariance_type=covariance_type)
        ).mixture
        variances = np.diagonal(mixture.covariances, axis1=1, axis2=2)
        assert variances.min() >= REG


def test_a_region_fit_labels_all_pixels_with_probabilities():
    image = data.astronaut()[::2, ::2]
    result = segment(image, 3, mixture="full", fit_pixels=8192)
    assert result.probabilities.shape == (3, 256, 256)
    np.testing.assert_array_equal(
        result.labels, result.probabilities.argmax(axis=0) + 1
    )
    assert result.mixture_n_iter > 0 and result.mixture_converged
    ll = result.model.segment(image).log_likelihood
    assert result.log_likelihood == pytest.approx(ll, rel=1e-12)
    assert np.isfinite(result.bic())


def test_a_singular_covariance_says_what_to_do():
    grey = data.camera()[::4, ::4].astype(np.float64) * 1e6
    rgb = np.stack([grey] * 3, axis=-1)  # equal channels: rank-one covariances
    with pytest.raises(ValueError, match="mixture='diag'"):
        segment(rgb, 3, mixture="full")
    result = segment(rgb, 3, mixture="diag")
    assert result.mixture_converged


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["weights"].__setitem__(0, 5.0), "sum to 1"),
        (lambda m: m["weights"].pop(), "list of 3 numbers"),
        (lambda m: m["weights"].__setitem__(0, "x"), "finite numbers"),
        (lambda m: m["covariances"].pop(), "list of 3 matrices"),
        (lambda m: m["covariances"][0].pop(), "list of 3 rows"),
        (lambda m: m["covariances"][0][0].__setitem__(1, 9.0), "symmetric"),
        (lambda m: m["covariances"][1][0].__setitem__(0, -1.0), "positive definite"),
        (lambda m: m.__setitem__("covariance_type", "spherical"), "'full' or 'diag'"),
        (lambda m: m.__setitem__("extra", 1), "does not know"),
        (lambda m: m.pop("weights"), "lacks the field"),
    ],
)
def test_a_damaged_mixture_in_a_model_file_is_refused(tmp_path, edit, message):
    import json

    model = segment(data.astronaut()[::8, ::8], 3, mixture="full").model
    content = model.to_dict()
    edit(content["mixture"])
    path = tmp_path / "model.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=message):
        KMeansModel.load(path)


def test_the_three_feature_passes_agree_with_the_general_ones():
    """RGB's passes go by blocks of rows (vectorised, sums reassociated): the
    same sums, probabilities and labels as the general passes, masks and NaN
    rows included, at any number of rows."""
    from napari_kmeans_seg.core import mixture_kernels as MK

    rng = np.random.default_rng(3)
    for n in (1, 511, 513, 5000):
        X = rng.random((n, 3)).astype(np.float32)
        X[::7, 1] = np.nan
        mask = rng.random(n) > 0.2
        w = rng.random(n) + 0.5
        g = fit_mixture.Gaussians.of(
            np.full(3, 1 / 3), rng.random((3, 3)), np.stack([np.eye(3) * 0.05] * 3)
        )
        sums = []
        for kernel in (MK.em_kernel, MK.em3_kernel):
            N, S1, S2 = np.zeros(3), np.zeros((3, 3)), np.zeros((3, 3, 3))
            ll, total = kernel(
                X, mask, True, w, True, g.means, g.prec, g.const, N, S1, S2
            )
            sums.append((ll, total, N, S1, np.triu(S2[:, :, :])))
        for a, b in zip(*sums, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        out = []
        for kernel in (MK.posterior_kernel, MK.posterior3_kernel):
            probs = np.full((3, n + 2), -1, np.float32)
            labels = np.full(n, 9, np.uint8)
            ll = kernel(X, mask, True, g.means, g.prec, g.const, probs, 1, labels)
            out.append((ll, probs, labels))
        np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-10)
        np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(out[0][2], out[1][2])


def test_the_log_likelihood_pass_gives_each_rows_share_of_the_posterior_pass():
    """Each row's log-likelihood (NaN for a masked or NaN row), as scipy's
    logsumexp of the weighted log densities; their sum is the posterior pass's."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    from napari_kmeans_seg.core import mixture_kernels as MK

    rng = np.random.default_rng(4)
    n = 300
    X = rng.random((n, 2)) + 1e6  # on an offset: differences taken first
    X[::11, 0] = np.nan
    mask = rng.random(n) > 0.2
    covs = np.stack([np.array([[0.05, 0.01], [0.01, 0.02]]), np.eye(2) * 0.1])
    g = fit_mixture.Gaussians.of(np.array([0.3, 0.7]), rng.random((2, 2)) + 1e6, covs)
    out = np.empty(n)
    MK.log_likelihood_kernel(X, mask, True, g.means, g.prec, g.const, out)
    valid = mask & np.isfinite(X).all(axis=1)
    assert np.isnan(out[~valid]).all()
    dens = np.stack(
        [
            np.log(w) + multivariate_normal(m - 1e6, c).logpdf(X[valid] - 1e6)
            for w, m, c in zip(g.weights, g.means, covs, strict=True)
        ],
        axis=1,
    )
    np.testing.assert_allclose(out[valid], logsumexp(dens, axis=1), rtol=1e-12)
    probs = np.empty((2, n), np.float32)
    labels = np.empty(n, np.uint8)
    ll = MK.posterior_kernel(X, mask, True, g.means, g.prec, g.const, probs, 0, labels)
    assert out[valid].sum() == pytest.approx(ll, rel=1e-12)
