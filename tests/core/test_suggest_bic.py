"""Suggest k for Gaussian mixtures: each k scored by the BIC of the mixture that
``segment(..., mixture=...)`` fits on the sample (lower is better). No napari here."""

import numpy as np
import pytest

from conftest import colour_groups
from napari_kmeans_seg import segment, suggest_n_clusters


@pytest.mark.parametrize("mixture", ["full", "diag"])
@pytest.mark.parametrize("k", [3, 4])
def test_bic_recovers_k(k, mixture):
    s = suggest_n_clusters(colour_groups(k, 0), range(2, 8), mixture=mixture)
    assert s.criterion == "bic" and s.mixture == mixture
    assert s.bic.shape == s.inertia.shape == s.silhouette.shape == (6,)
    assert s.suggested == k == s.k_values[int(np.argmin(s.bic))]
    assert s.best("silhouette") == k  # the other scores are still there
    assert not s.bic.flags.writeable


def test_bic_is_that_of_segment_on_the_sample():
    """With every pixel in the sample, each k's BIC is what scikit-learn's
    GaussianMixture (fitted on all pixels from its k-means start) gives."""
    from sklearn.mixture import GaussianMixture

    image = colour_groups(3, 1, shape=(30, 40))
    X = image.reshape(-1, 3).astype(float)
    s = suggest_n_clusters(image, [2, 3, 4], mixture="full", sample_size=X.shape[0])
    assert s.n_samples == X.shape[0]
    for k, bic in zip(s.k_values, s.bic, strict=True):
        ours = segment(image, k, mixture="full").bic()
        assert bic == pytest.approx(ours, rel=1e-6)
        theirs = GaussianMixture(k, random_state=0).fit(X).bic(X)
        assert bic == pytest.approx(theirs, rel=1e-3)


def test_kmeans_scores_are_unchanged_and_have_no_bic():
    image = colour_groups(4, 0)
    s = suggest_n_clusters(image, range(2, 7))
    assert s.criterion == "silhouette" and s.bic is None and s.mixture is None
    with pytest.raises(ValueError, match="BIC scores Gaussian mixtures"):
        s.best("bic")
    g = suggest_n_clusters(image, range(2, 7), mixture="diag", criterion="silhouette")
    assert g.criterion == "silhouette" and g.suggested == 4
    assert g.best("bic") == 4


def test_bad_criterion_or_mixture_is_refused():
    image = colour_groups(3, 0, shape=(30, 30))
    with pytest.raises(ValueError, match="criterion='bic' scores Gaussian mixtures"):
        suggest_n_clusters(image, criterion="bic")
    with pytest.raises(ValueError, match="mixture must be None"):
        suggest_n_clusters(image, mixture="spherical")
    with pytest.raises(ValueError, match="criterion must be one of"):
        suggest_n_clusters(image, mixture="full", criterion="aic")
