"""The engine's Gaussian mixture as a scikit-learn estimator.

:class:`ExactGaussianMixture` fits the rows of an ``(n_samples, n_features)``
matrix like :class:`sklearn.mixture.GaussianMixture` with ``init_params="kmeans"``
does, with the same attributes (``weights_``, ``means_``, ``covariances_``,
``precisions_cholesky_``, ...) and methods (``predict_proba``, ``score``,
``bic``, ...), so it fits in a :class:`~sklearn.pipeline.Pipeline` or a
:class:`~sklearn.model_selection.GridSearchCV`. Its start is the engine's exact
k-means fit (a Lloyd fixed point on all samples, not a sample's k-means), and EM
runs over all samples (over their distinct values with counts for 8- and 16-bit
integers with few of them); see :mod:`.fit.mixture`.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from . import engine as _engine
from . import mixture_kernels as MK
from .estimator import _seed
from .fit.mixture import Gaussians
from .fit.records import NotConvergedWarning, TooFewValuesError
from .mixture import GaussianMixtureParams
from .values import check_exact_integers

#: dtypes the engine fits as they are (others are converted to float64)
_FIT_DTYPES = [np.float64, np.float32, np.uint8, np.uint16]
#: the kernels' mask argument when every row is used
_NO_MASK = np.ones(1, dtype=np.bool_)


class ExactGaussianMixture(DensityMixin, BaseEstimator):
    """A Gaussian mixture fitted by EM over all samples from the exact k-means
    fit, with scikit-learn's API (that of :class:`sklearn.mixture.GaussianMixture`).

    Parameters
    ----------
    n_components : int
        Number of mixture components, at least 1.
    covariance_type : {"full", "diag"}
        One full covariance matrix per component, or one variance per feature.
    tol : float
        EM stops when the mean log-likelihood per sample changes by less than this
        (scikit-learn's rule and default).
    reg_covar : float
        Added to the diagonal of every covariance, >= 0.
    max_iter : int
        EM iterations at most.
    n_init : int
        Initialisations (each an exact k-means with its own seed, then EM); the
        one of highest log-likelihood is kept.
    random_state : int, RandomState instance or None
        Seed of the k-means++ starts; an int gives the same result on every fit
        (with ``n_init=1``, that of ``segment(..., random_state=...)``).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The components' weights, summing to 1.
    means_ : ndarray of shape (n_components, n_features)
        The components' means.
    covariances_ : ndarray
        ``(n_components, n_features, n_features)`` for "full",
        ``(n_components, n_features)`` (the variances) for "diag".
    precisions_ : ndarray
        The inverses of the covariances, shaped as ``covariances_``.
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions (upper-triangular for "full", as
        scikit-learn's; their square roots for "diag").
    converged_ : bool
        Whether EM stopped on ``tol`` (not at ``max_iter``).
    n_iter_ : int
        EM iterations of the kept initialisation.
    lower_bound_ : float
        The mean log-likelihood of the samples under the fitted parameters (EM's
        lower bound at its end; scikit-learn's is taken one M step earlier and
        differs from it by less than ``tol`` when converged).
    n_features_in_ : int
        Number of features seen by :meth:`fit`.

    Notes
    -----
    The start is scikit-learn's start from k-means, on the exact k-means fit:
    each component is one cluster of the partition by the nearest centroid
    (weight, mean and covariance, ``reg_covar`` added). Given that start
    (``weights_init``, ``means_init``, ``precisions_init``),
    :class:`sklearn.mixture.GaussianMixture` reaches the same parameters.
    Components are numbered in the engine's cluster order (by the brightness of
    their means). Samples have no weights (as in scikit-learn).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_seg import ExactGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (500, 2)), rng.normal(8, 1, (500, 2))])
    >>> gm = ExactGaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(gm.means_).astype(int)
    array([[0, 0],
           [8, 8]])
    >>> gm.predict([[1.0, 0.0], [7.0, 9.0]])
    array([0, 1])
    >>> gm.predict_proba([[1.0, 0.0]]).round(3)
    array([[1., 0.]])
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        random_state=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X, y=None):
        """Fit the mixture to the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite samples (uint8, uint16, float32 and float64 are used as they
            are).
        y : ignored

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If ``X`` is not finite, has fewer samples (or distinct samples) than
            ``n_components``, or an option is invalid.

        Warns
        -----
        ConvergenceWarning
            If EM stopped at ``max_iter`` before its log-likelihood settled.
        """
        self._fit(X)
        return self

    def fit_predict(self, X, y=None):
        """Fit the mixture to ``X`` and return each row's most probable
        component.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        labels : ndarray of int64, shape (n_samples,)
            Component index (from 0).
        """
        return self._fit(X)

    def _fit(self, X) -> np.ndarray:
        if np.dtype(getattr(X, "dtype", object)).kind in "iu":
            check_exact_integers(np.asarray(X), "X")
        X = validate_data(self, X, dtype=_FIT_DTYPES, ensure_min_samples=2)
        k = self._check_params(X)
        options = _engine.MixtureOptions(
            covariance_type=self.covariance_type,
            tol=float(self.tol),
            reg_covar=float(self.reg_covar),
            max_iter=int(self.max_iter),
        )
        seed = _seed(self.random_state)
        seeds = [seed]
        if self.n_init > 1:
            rng = np.random.default_rng(seed)
            seeds += [int(s) for s in rng.integers(2**31 - 1, size=self.n_init - 1)]
        best = None
        for s in seeds:
            with warnings.catch_warnings():  # said below, as scikit-learn says it
                warnings.simplefilter("ignore", NotConvergedWarning)
                try:
                    fit = _engine.fit_predict(
                        X, n_clusters=k, random_state=s, mixture=options
                    )
                except TooFewValuesError as err:
                    raise ValueError(
                        f"{err} (n_components={k}): give fewer components"
                    ) from None
            m = fit.mixture
            if best is None or m.log_likelihood > best.mixture.log_likelihood:
                best = fit
        m = best.mixture
        if not m.converged:
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations "
                f"(tol={self.tol}); raise max_iter or tol, or check the data",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._set_parameters(m.weights, m.means, m.covariances)
        self.converged_ = bool(m.converged)
        self.n_iter_ = int(m.n_iter)
        self.lower_bound_ = float(m.log_likelihood)
        return best.labels.astype(np.int64) - 1

    def _set_parameters(self, weights, means, covariances) -> None:
        """The fitted attributes from the weights, means and ``(k, d, d)``
        covariances (their Cholesky factors are those the engine's kernels
        take)."""
        mixture = GaussianMixtureParams(weights, covariances, self.covariance_type)
        g = mixture.gaussians(means)
        self.weights_, self.means_ = g.weights, g.means
        if self.covariance_type == "diag":
            self.covariances_ = np.diagonal(g.covariances, axis1=1, axis2=2).copy()
            self.precisions_cholesky_ = np.diagonal(g.prec, axis1=1, axis2=2).copy()
            self.precisions_ = 1.0 / self.covariances_
            return
        self.covariances_ = g.covariances
        self.precisions_cholesky_ = g.prec
        self.precisions_ = g.prec @ g.prec.transpose(0, 2, 1)

    def _check_params(self, X) -> int:
        """The number of components, after checking the options against ``X``
        (``covariance_type`` is the engine's :class:`MixtureOptions` to check)."""
        for name in ("n_components", "max_iter", "n_init"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
        for name in ("tol", "reg_covar"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, Real)
                or not value >= 0
                or not math.isfinite(value)
            ):
                raise ValueError(f"{name} must be a number >= 0, not {value!r}")
        k = int(self.n_components)
        if X.shape[0] < k:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {k}, "
                f"n_samples = {X.shape[0]}"
            )
        return k

    # ------------------------------------------------------------ prediction

    def _mixture(self) -> GaussianMixtureParams:
        """The fitted mixture as the engine's record (covariances as matrices)."""
        check_is_fitted(self)
        cov = self.covariances_
        if self.covariance_type == "diag":
            cov = cov[:, :, None] * np.eye(cov.shape[1])
        return GaussianMixtureParams(self.weights_, cov, self.covariance_type)

    def _rows_and_gaussians(self, X) -> tuple[np.ndarray, Gaussians]:
        """``X`` checked, as float64 rows, and the fitted components as the
        engine's kernels take them."""
        g = self._mixture().gaussians(self.means_)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return np.ascontiguousarray(X, dtype=np.float64), g

    def score_samples(self, X):
        """The log-likelihood of each row of ``X`` under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        X, g = self._rows_and_gaussians(X)
        out = np.empty(X.shape[0])
        MK.log_likelihood_kernel(X, _NO_MASK, False, g.means, g.prec, g.const, out)
        return out

    def score(self, X, y=None):
        """The mean log-likelihood of the rows of ``X`` (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        log_likelihood : float
        """
        return float(self.score_samples(X).mean())

    def predict(self, X):
        """Each row's most probable component (from 0).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of int64, shape (n_samples,)
        """
        return self._posterior(X)[0]

    def predict_proba(self, X):
        """Each row's posterior probability of each component.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        probabilities : ndarray of shape (n_samples, n_components)
            Rows sum to 1.
        """
        return self._posterior(X)[1]

    def _posterior(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Each row's most probable component (from 0; the first on ties) and
        its posterior probabilities ``(n_samples, n_components)``, float64 (the
        engine's pass; its maps of images are float32)."""
        X, g = self._rows_and_gaussians(X)
        probs = np.empty((X.shape[0], g.means.shape[0]))
        labels = np.empty(X.shape[0], np.int64)
        MK.posterior_kernel(
            X, _NO_MASK, False, g.means, g.prec, g.const, probs.T, 0, labels
        )
        return labels - 1, probs

    def bic(self, X) -> float:
        """The Bayesian information criterion on ``X`` (lower is better):
        ``-2 · log-likelihood + n_parameters · log(n_samples)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        bic : float
        """
        n = _n_rows(X)
        return -2 * self.score(X) * n + self._mixture().n_parameters * math.log(n)

    def aic(self, X) -> float:
        """The Akaike information criterion on ``X`` (lower is better):
        ``-2 · log-likelihood + 2 · n_parameters``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        aic : float
        """
        return -2 * self.score(X) * _n_rows(X) + 2 * self._mixture().n_parameters


def _n_rows(X) -> int:
    return int(np.shape(X)[0])
