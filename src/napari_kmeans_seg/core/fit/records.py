"""What the engine's ways of fitting share: the options they take, the fit they
return, and the error for data too poor for ``k`` clusters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..defaults import (
    DEFAULT_MAX_ITER,
    DEFAULT_N_INIT,
    DEFAULT_N_REFINE,
    DEFAULT_SAMPLE_SIZE,
)

#: the methods of :class:`FitOptions`
METHODS = ("exact", "sample")
#: the covariance types of a Gaussian mixture (see :class:`MixtureOptions`)
COVARIANCE_TYPES = ("full", "diag")


class TooFewValuesError(ValueError):
    """The data holds fewer distinct values than the requested number of clusters."""


class NotConvergedWarning(UserWarning):
    """The iterations stopped at ``max_iter``, before a Lloyd fixed point."""


class PrecisionWarning(UserWarning):
    """The centroids, in the caller's units, lose what float64 cannot hold."""


def not_converged(max_iter: int) -> NotConvergedWarning:
    """The warning for a fit that stopped at ``max_iter`` iterations."""
    return NotConvergedWarning(
        f"k-means stopped after max_iter={max_iter} iterations, before a fixed "
        "point (some pixels may not lie on their nearest centroid); raise "
        "max_iter to go on to one"
    )


def em_not_converged(options: MixtureOptions) -> NotConvergedWarning:
    """The warning for a Gaussian mixture whose EM stopped at its ``max_iter``."""
    return NotConvergedWarning(
        f"the Gaussian mixture's EM stopped after max_iter={options.max_iter} "
        f"iterations, before its log-likelihood settled (tol={options.tol}); its "
        "probabilities may still change"
    )


def too_few_values(n: int) -> TooFewValuesError:
    """The error for an image whose pixels k-means can tell apart only ``n`` ways."""
    return TooFewValuesError(
        f"the image has only {n} distinct value{'s' * (n != 1)} that k-means can tell "
        "apart (values whose squared differences are 0 in float64 count as one); "
        f"choose n_clusters <= {n}"
    )


@dataclass(frozen=True)
class MixtureOptions:
    """A Gaussian mixture fitted by expectation–maximisation (EM) from the k-means
    result, as scikit-learn's ``GaussianMixture`` does from its k-means start.

    Parameters
    ----------
    covariance_type : {"full", "diag"}
        One full covariance matrix per component, or one variance per feature.
    tol : float
        EM stops when the mean log-likelihood per pixel changes by less than this
        from one iteration to the next (scikit-learn's default, 1e-3).
    reg_covar : float
        Added to the diagonal of every covariance (scikit-learn's default): keeps
        them positive definite when a component holds a single value.
    max_iter : int
        EM iterations at most.
    """

    covariance_type: str = "full"
    tol: float = 1e-3
    reg_covar: float = 1e-6
    max_iter: int = 100

    def __post_init__(self) -> None:
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                "covariance_type must be 'full' or 'diag', not "
                f"{self.covariance_type!r}"
            )
        if not (self.tol >= 0 and self.reg_covar >= 0 and self.max_iter >= 1):
            raise ValueError(
                "a mixture needs tol >= 0, reg_covar >= 0 and max_iter >= 1, not "
                f"{self.tol}, {self.reg_covar}, {self.max_iter}"
            )


@dataclass(frozen=True)
class MixtureFit:
    """A fitted Gaussian mixture, components in the clusters' order."""

    weights: np.ndarray  #: (k,) float64, summing to 1
    means: np.ndarray  #: (k, d) float64
    covariances: np.ndarray  #: (k, d, d) float64 (diagonal for "diag")
    covariance_type: str  #: "full" or "diag"
    log_likelihood: float  #: mean log-likelihood per clustered pixel
    n_iter: int  #: EM iterations
    converged: bool  #: the change of the mean log-likelihood fell below tol
    probabilities: np.ndarray  #: (k, n) float32: each row's posterior; 0 if invalid


@dataclass(frozen=True, eq=False)
class FitOptions:
    """How to fit: the options every way of fitting takes.

    Parameters
    ----------
    method : {"exact", "sample"}
        "exact": a Lloyd fixed point on all pixels; "sample": k-means on a random
        sample of ``sample_size`` pixels, then every pixel labelled.
    n_init : int
        k-means++ starts tried.
    max_iter : int
        Lloyd iterations at most (re-seeding an empty cluster counts as one).
    sample_size : int
        Pixels drawn by the method "sample".
    n_refine : int
        The best distinct starts refined on all pixels.
    init : (k, d) ndarray, optional
        Start from these centroids (in the caller's units) instead of k-means++.
    mixture : MixtureOptions, optional
        Then fit a Gaussian mixture from the k-means result; None: k-means only.
    """

    method: str = "exact"
    n_init: int = DEFAULT_N_INIT
    max_iter: int = DEFAULT_MAX_ITER
    sample_size: int = DEFAULT_SAMPLE_SIZE
    n_refine: int = DEFAULT_N_REFINE
    init: np.ndarray | None = None
    mixture: MixtureOptions | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be 'exact' or 'sample', not {self.method!r}")


@dataclass(frozen=True)
class Fit:
    """What a way of fitting returns: clusters in their final order (see
    :func:`~.ordering.cluster_order`), in the engine's units (see
    :meth:`~.pixels.Pixels.unscaled`)."""

    centroids: np.ndarray  #: (k, d) float64
    counts: np.ndarray  #: (k,) int64 pixels per cluster
    labels: np.ndarray  #: (n,) uint8 or uint16; 0: not clustered, else 1..k
    inertia: float  #: sum of squared distances of the pixels to their centroid
    n_iter: int  #: Lloyd iterations on all pixels (0 for a sample's fit)
    converged: bool  #: a Lloyd fixed point on all pixels
    n_valid: int  #: pixels clustered
    optimal: bool = False  #: the global optimum of the k-means objective
    mixture: MixtureFit | None = None  #: the Gaussian mixture, when one was asked


@dataclass(frozen=True)
class EngineResult:
    """Output of :func:`~..engine.fit_predict` (arrays over the rows of the pixel
    matrix), in the caller's units."""

    labels: np.ndarray  #: (n,) uint8 or uint16; 0 = not clustered, 1..k
    centroids: np.ndarray  #: (k, d) float64, row i-1 is the centroid of label i
    counts: np.ndarray  #: (k,) int64 pixels per label
    inertia: float  #: sum of squared distances of the pixels to their centroid
    n_iter: int  #: exact Lloyd iterations on all pixels (0 for method="sample")
    converged: bool  #: True when the result is a Lloyd fixed point on all pixels
    n_valid: int  #: number of clustered pixels
    n_invalid: int  #: pixels left out because a value is NaN or infinite
    optimal: bool = False  #: the global optimum of the k-means objective
    #: the Gaussian mixture (labels: its most probable component), when one was asked
    mixture: MixtureFit | None = None
