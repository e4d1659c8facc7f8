"""A model's Gaussian mixture: the components' weights and covariances (their
means are the model's centroids), and the posterior probabilities of pixels under
it. No napari and no Qt here; the fit is :mod:`.fit.mixture`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fit.mixture import Gaussians, posteriors
from .fit.pixels import Pixels
from .fit.records import COVARIANCE_TYPES


@dataclass(frozen=True, eq=False)
class GaussianMixtureParams:
    """The Gaussian mixture of a model, in the feature space the model's centroids
    are in (the centroids are the components' means).

    Attributes
    ----------
    weights : (k,) ndarray of float64
        The components' weights (mixing proportions), summing to 1.
    covariances : (k, d, d) ndarray of float64
        The components' covariance matrices (diagonal ones for "diag").
    covariance_type : {"full", "diag"}
        Whether the covariances were fitted whole or only their diagonal.

    Raises
    ------
    ValueError
        If the weights are not positive and summing to 1, or a covariance is not
        a symmetric positive definite ``d × d`` matrix.
    """

    weights: np.ndarray
    covariances: np.ndarray
    covariance_type: str = "full"

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=np.float64)
        cov = np.asarray(self.covariances, dtype=np.float64)
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                "covariance_type must be 'full' or 'diag', not "
                f"{self.covariance_type!r}"
            )
        if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("mixture weights must be finite numbers >= 0")
        if not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-9):
            raise ValueError(f"mixture weights must sum to 1, not {w.sum():.12g}")
        k = w.size
        if cov.ndim != 3 or cov.shape[0] != k or cov.shape[1] != cov.shape[2]:
            raise ValueError(
                f"covariances must be {k} square matrices, got shape {cov.shape}"
            )
        if not np.all(np.isfinite(cov)) or not np.allclose(
            cov, cov.transpose(0, 2, 1), rtol=1e-12, atol=0
        ):
            raise ValueError("covariances must be finite and symmetric")
        if self.covariance_type == "diag" and np.any(cov * (1 - np.eye(cov.shape[1]))):
            raise ValueError("'diag' covariances must be diagonal matrices")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "covariances", cov)
        self.gaussians(np.zeros((k, cov.shape[1])))  # positive definite

    @property
    def n_features(self) -> int:
        """Features per pixel."""
        return self.covariances.shape[1]

    @property
    def n_parameters(self) -> int:
        """Free parameters of the mixture: weights, means and covariances."""
        k, d = self.covariances.shape[:2]
        per = d * (d + 1) // 2 if self.covariance_type == "full" else d
        return k * per + k * d + k - 1

    def gaussians(self, means: np.ndarray) -> Gaussians:
        """The components with these means (what the kernels take)."""
        means = np.asarray(means, np.float64)
        return Gaussians.of(self.weights, means, self.covariances)


def posterior(
    X: np.ndarray, means: np.ndarray, mixture: GaussianMixtureParams, *, mask=None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Each valid row's most probable component + 1 (0 where invalid), its
    posterior probabilities ``(k, n)`` float32 (0 where invalid) and the mean
    log-likelihood of the valid rows (NaN if none)."""
    if X.shape[1] != mixture.n_features:
        raise ValueError(
            f"the image has {X.shape[1]} features per pixel, the model "
            f"{mixture.n_features}"
        )
    px = Pixels(X, mask, binned=False)
    dtype = np.uint8 if means.shape[0] < 255 else np.uint16
    labels = np.empty(px.n, dtype)
    probs, labels, ll = posteriors(px, mixture.gaussians(means), labels)
    n_valid = int(np.count_nonzero(labels))
    return labels, probs, ll / n_valid if n_valid else float("nan")
