"""The exact engine as a scikit-learn estimator (conversions between
:class:`KMeansModel` and a fitted :class:`sklearn.cluster.KMeans` are in
:mod:`.sklearn_models`).

:class:`ExactKMeans` clusters the rows of an ``(n_samples, n_features)`` matrix like
:class:`sklearn.cluster.KMeans` does, with the same attributes (``cluster_centers_``,
``labels_`` from 0, ``inertia_``, ``n_iter_``), so it fits in a
:class:`~sklearn.pipeline.Pipeline` or a :class:`~sklearn.model_selection.GridSearchCV`.
Its result is a Lloyd fixed point on all samples: every sample is nearest its own
centroid, and every centroid is the (weighted) mean of its samples.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, replace
from numbers import Integral

import numpy as np
from sklearn import config_context
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)
from threadpoolctl import ThreadpoolController, threadpool_limits

from . import engine as _engine
from . import kernels as _kernels
from .compile_cache import caching_enabled, njit
from .defaults import DEFAULT_N_INIT
from .fit.convergence import is_fixed_point
from .fit.ordering import cluster_order
from .fit.records import NotConvergedWarning, TooFewValuesError
from .parallel import map_spans
from .values import check_exact_integers

#: rows scikit-learn's k-means seeds on (a random sample of larger data)
SAMPLE_SIZE = 1 << 15
#: dtypes the engine clusters as they are (others are converted to float64)
_FIT_DTYPES = [np.float64, np.float32, np.uint8, np.uint16]
#: from this many features on, Lloyd's distances go through BLAS (a matrix
#: product, each row checked exactly where its rounding could decide the nearest)
WIDE = 16
#: from this many features on, the wide path's Lloyd is all its own (one pass of
#: BLAS products and sums per assignment, :func:`_nearest`); below, where
#: scikit-learn's is faster, scikit-learn's runs first (see ``_fit_wide``)
OWN_LLOYD = 256
#: rows of the wide path are assigned and summed this many values at a time
#: (256 KiB: a block stays in a core's cache from its product to its sums)
_BLOCK_NUMBERS = 1 << 15
#: elements of ``X`` per block when summing the inertia (a block stays in cache)
_INERTIA_BLOCK = 1 << 16

#: scikit-learn estimator checks that do not apply, with the reason (pass it as
#: ``check_estimator(..., expected_failed_checks=EXPECTED_FAILED_CHECKS)``)
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "k-means has several local optima: repeated samples are fitted by the "
        "engine (its own seeding and scikit-learn's), integer weights by weighted "
        "Lloyd from scikit-learn's seeding; both reach a Lloyd fixed point, not "
        "always the same one (scikit-learn lists this check for its KMeans too)"
    ),
}


class ExactKMeans(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator
):
    """K-means clustering to an exact Lloyd fixed point, with scikit-learn's API.

    Parameters
    ----------
    n_clusters : int
        Number of clusters, at least 1.
    init : "k-means++" or array-like of shape (n_clusters, n_features)
        "k-means++": ``n_init`` greedy k-means++ starts, the best refined; an array:
        Lloyd iterations on all samples from these centroids, row ``j`` staying
        cluster ``j`` (as in scikit-learn).
    n_init : int
        Number of k-means++ starts of each seeding: the engine's (on binned data)
        and scikit-learn's KMeans on at most :data:`SAMPLE_SIZE` samples (all of
        them when there are no more), whose result is a start too when it does
        better there. With weights, only scikit-learn's.
    max_iter : int
        Maximum number of Lloyd iterations on all samples.
    random_state : int, RandomState instance or None
        Seed of the k-means++ starts; an int gives the same result on every fit.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The centroids (float64); each is the weighted mean of its samples.
    labels_ : ndarray of shape (n_samples,)
        Index (from 0) of the centroid nearest each sample (the first on ties).
    inertia_ : float
        Weighted sum of squared distances of the samples to their centroid.
    n_iter_ : int
        Lloyd iterations run on all samples.
    converged_ : bool
        Whether the result is a Lloyd fixed point (False after ``max_iter``).
    n_features_in_ : int
        Number of features seen by :meth:`fit`.

    Notes
    -----
    Both starts are refined by Lloyd iterations on all samples to a fixed point, and
    the better kept: on data of at most :data:`SAMPLE_SIZE` samples, the inertia is
    never above that of ``sklearn.cluster.KMeans(n_clusters, n_init=n_init,
    random_state=random_state)``.

    With k-means++ starts, clusters are numbered in the engine's order (by
    centroid brightness); with an ``init`` array, in its row order. Data with
    fewer distinct samples than ``n_clusters`` gets the distinct samples as
    centroids, repeated to fill, and a ``ConvergenceWarning``, as with
    :class:`sklearn.cluster.KMeans`.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_kmeans_seg.core.estimator import ExactKMeans
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [9.0, 9.0], [9.0, 10.0]])
    >>> km = ExactKMeans(n_clusters=2, random_state=0).fit(X)
    >>> km.cluster_centers_
    array([[0. , 0.5],
           [9. , 9.5]])
    >>> km.labels_
    array([0, 0, 1, 1], dtype=int32)
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        n_init=DEFAULT_N_INIT,
        max_iter=300,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self) -> int:
        return self.cluster_centers_.shape[0]

    def fit(self, X, y=None, sample_weight=None):
        """Cluster the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite samples (uint8, uint16, float32 and float64 are used as they are).
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each sample; a sample of weight 0 is as if left
            out. None: all 1.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If ``X`` is not finite or has fewer samples than ``n_clusters``, holds
            64-bit integers that float64 would merge, or an option or
            ``sample_weight`` is invalid.
        """
        if np.dtype(getattr(X, "dtype", object)).kind in "iu":
            check_exact_integers(np.asarray(X), "X")
        X = validate_data(self, X, dtype=_FIT_DTYPES)
        k = self._check_params(X)
        sw = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if not sw.sum() > 0:
            raise ValueError("sample_weight must have a positive sum")
        keep = sw > 0
        Xk, wk = (X, sw) if keep.all() else (X[keep], sw[keep])
        init = None if _is_kmeanspp(self.init) else self._init_array(X, k)
        opts = dict(
            seed=_seed(self.random_state), n_init=self.n_init, max_iter=self.max_iter
        )
        try:
            if X.shape[1] >= WIDE:
                fit = _fit_wide(Xk, wk, k, init=init, **opts)
            elif init is not None:  # keeps its row order
                fit = _fit_from_init(Xk, wk, init, max_iter=self.max_iter)
            elif np.all(wk == wk[0]):  # equal weights: the same fit as none
                fit = _fit_unweighted(Xk, k, **opts)
            else:
                fit = _fit_weighted(Xk, wk, k, **opts)
        except TooFewValuesError:
            fit = _Fit(_distinct_centroids(Xk, k), n_iter=0, converged=True)
        C, converged = fit.centroids, fit.converged
        if not converged:
            warnings.warn(
                f"k-means did not reach a fixed point in max_iter={self.max_iter} "
                "iterations; increase max_iter",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.cluster_centers_ = C
        if fit.labels is not None and keep.all():
            self.labels_ = fit.labels.astype(np.int32) - 1
        else:
            self.labels_ = self._labels(X)
        # summed here in float64 over the samples (the engine's sum over cells
        # is for choosing between fits)
        self.inertia_ = _inertia(X, C, self.labels_, sw)
        self.n_iter_ = int(fit.n_iter)
        self.converged_ = bool(converged)
        return self

    def predict(self, X):
        """Index (from 0) of the centroid nearest each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of int32, shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FIT_DTYPES, reset=False)
        return self._labels(X)

    def transform(self, X):
        """Euclidean distance of each row of ``X`` to each centroid.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        distances : ndarray of shape (n_samples, n_clusters)
            float32 for float32 ``X``, else float64.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return euclidean_distances(X, self.cluster_centers_.astype(X.dtype))

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the inertia of ``X`` on the fitted centroids (higher is
        better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each sample; None: all 1.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FIT_DTYPES, reset=False)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
        return -_inertia(X, self.cluster_centers_, self._labels(X), sw)

    def _labels(self, X) -> np.ndarray:
        labels = _engine.predict(X, self.cluster_centers_)
        return labels.astype(np.int32) - 1

    def _check_params(self, X) -> int:
        """The number of clusters, after checking the options against ``X``."""
        for name in ("n_clusters", "n_init", "max_iter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
        k = int(self.n_clusters)
        if X.shape[0] < k:
            raise ValueError(
                f"n_samples={X.shape[0]} should be >= n_clusters={k}: give more "
                "samples or fewer clusters"
            )
        return k

    def _init_array(self, X, k) -> np.ndarray:
        init = None if isinstance(self.init, str) else np.asarray(self.init, float)
        if (
            init is None
            or init.shape != (k, X.shape[1])
            or not np.all(np.isfinite(init))
        ):
            raise ValueError(
                f"init must be 'k-means++' or a finite array of shape "
                f"(n_clusters, n_features) = {(k, X.shape[1])}, not {self.init!r}"
            )
        return init


def _is_kmeanspp(init) -> bool:
    return isinstance(init, str) and init == "k-means++"


def _seed(random_state) -> int | None:
    """The engine's seed: an int as it is (the same as ``segment``'s), a draw from
    a RandomState instance, or None for fresh entropy."""
    if random_state is None or (
        isinstance(random_state, Integral) and not isinstance(random_state, bool)
    ):
        return None if random_state is None else int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@dataclass(frozen=True)
class _Fit:
    """The best of the fits tried."""

    centroids: np.ndarray  #: (k, d) float64, in the engine's cluster order
    n_iter: int  #: Lloyd iterations on all samples
    converged: bool  #: a Lloyd fixed point
    labels: np.ndarray | None = None  #: the engine's labels (1..k) when it made them
    inertia: float = 0.0  #: weighted inertia of the samples fitted


def _sample_start(X, w, k, *, seed, n_init, against=None) -> np.ndarray | None:
    """Centroids of scikit-learn's KMeans (``n_init`` k-means++ starts) on at most
    :data:`SAMPLE_SIZE` rows of ``X`` (all of them when there are no more); None
    when the centroids ``against`` do at least as well on those rows."""
    n = len(X)
    rows = slice(None)
    if n > SAMPLE_SIZE:
        rows = np.sort(
            np.random.default_rng(seed).choice(n, SAMPLE_SIZE, replace=False)
        )
    S, ws = X[rows], None if w is None else w[rows]
    # one OpenMP thread: the sample is small, and OpenMP threads that wait by
    # spinning slow it down many times on a machine busy with other work
    with threadpool_limits(1, user_api="openmp"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # too few distinct rows
        km = KMeans(k, n_init=n_init, random_state=seed).fit(S, sample_weight=ws)
    if against is not None:
        sw = np.ones(len(S)) if ws is None else ws
        labels = _engine.predict(S, against).astype(np.intp) - 1
        if _inertia(S, against, labels, sw) <= km.inertia_:
            return None
    return km.cluster_centers_.astype(np.float64)


def _fit_unweighted(X, k, *, seed, n_init, max_iter) -> _Fit:
    """The engine's exact Lloyd from its own start (k-means++ on binned data), and
    from scikit-learn's on a sample when that does better there: the fit of
    lowest inertia."""
    with warnings.catch_warnings():  # fit() warns for the fit it keeps
        warnings.simplefilter("ignore", NotConvergedWarning)
        # the engine's own fit first: it refuses too few distinct samples
        fits = [
            _engine.fit_predict(
                X, n_clusters=k, random_state=seed, n_init=n_init, max_iter=max_iter
            )
        ]
        C0 = _sample_start(
            X, None, k, seed=seed, n_init=n_init, against=fits[0].centroids
        )
        if C0 is not None:
            fits.append(
                _engine.fit_predict(X, n_clusters=k, init=C0, max_iter=max_iter)
            )
    best = min(fits, key=lambda f: f.inertia)
    return _Fit(best.centroids, best.n_iter, best.converged, best.labels, best.inertia)


def _fit_weighted(X, w, k, *, seed, n_init, max_iter) -> _Fit:
    """Weighted Lloyd on all samples from scikit-learn's weighted k-means on a
    sample; centroids in the engine's order."""
    P = _enough_distinct(X, k)
    fit = _lloyd_from(P, w, _sample_start(P, w, k, seed=seed, n_init=n_init), max_iter)
    return _in_engine_order(P, w, fit)


def _fit_wide(X, w, k, *, init, seed, n_init, max_iter) -> _Fit:
    """Many features: Lloyd with BLAS distances from ``init`` or from each of
    ``n_init`` of scikit-learn's k-means++ starts (those of its ``KMeans`` with
    this seed), the best kept; centroids in the engine's order unless ``init``
    fixed it.

    From :data:`OWN_LLOYD` features on, every assignment is made here
    (:func:`_blas_lloyd`); below, scikit-learn's Lloyd (``tol=0``), faster there,
    runs first, and :func:`_blas_lloyd` finishes from its assignment."""
    P = _enough_distinct(X, k)
    x_sq = np.einsum("ij,ij->i", P, P)
    rng = np.random.RandomState(seed)
    if P.shape[1] < OWN_LLOYD:
        km = _sklearn_lloyd(
            P, w, k, init=init, rng=rng, n_init=n_init, max_iter=max_iter
        )
        left = max(max_iter - km.n_iter_, 1)
        with _one_blas_thread():
            fit = _blas_lloyd(P, w, x_sq, km.cluster_centers_, left, km.labels_)
        fit = replace(fit, n_iter=int(km.n_iter_) + fit.n_iter)
        return fit if init is not None else _in_engine_order(P, w, fit)
    fits = []
    with _one_blas_thread(), config_context(assume_finite=True):  # fit() checked X
        for _ in range(1 if init is not None else n_init):
            start = init
            if init is None:
                start, _ = kmeans_plusplus(
                    P, k, sample_weight=w, x_squared_norms=x_sq, random_state=rng
                )
            fits.append(_blas_lloyd(P, w, x_sq, start, max_iter))
    if len(fits) > 1:
        fits = [
            replace(f, inertia=_inertia(P, f.centroids, f.labels - 1, w)) for f in fits
        ]
    best = min(fits, key=lambda f: f.inertia)
    return best if init is not None else _in_engine_order(P, w, best)


def _sklearn_lloyd(P, w, k, *, init, rng, n_init, max_iter) -> KMeans:
    """scikit-learn's Lloyd (BLAS distances, ``tol=0``) from ``init`` or the best
    of ``n_init`` k-means++ starts drawn from ``rng``."""
    starts = [init] if init is not None else ["k-means++"] * n_init
    best = None
    with warnings.catch_warnings(), config_context(assume_finite=True):
        warnings.simplefilter("ignore", ConvergenceWarning)  # checked here
        for start in starts:
            km = KMeans(k, init=start, n_init=1, max_iter=max_iter, tol=0.0)
            km.set_params(random_state=rng).fit(P, sample_weight=w)
            if best is None or km.inertia_ < best.inertia_:
                best = km
    return best


def _one_blas_thread():
    """One BLAS thread per product (in every BLAS loaded: :func:`_nearest`'s
    compiled pass calls scipy's): the products run one range of rows per
    thread of the engine's pool (see :func:`_nearest`), and BLAS threads that
    wait for a core spin (on a machine busy with other work, or after
    scikit-learn's OpenMP loop, they slowed these small products down many
    times)."""
    return _threadpools().limit(limits=1, user_api="blas")


@functools.cache
def _threadpools() -> ThreadpoolController:
    """The thread pools loaded (found once: looking for them takes milliseconds)."""
    return ThreadpoolController()


def _blas_lloyd(P, w, x_sq, init, max_iter, labels=None) -> _Fit:
    """Weighted Lloyd iterations on ``P`` (``x_sq``: its rows' squared norms)
    from ``init`` (rows kept in place), or from the assignment ``labels`` made
    with it: the exact assignment (:func:`_nearest`), then the weighted means,
    until the assignment no longer changes (a Lloyd fixed point) or after
    ``max_iter`` updates; an empty cluster hands over to :func:`_lloyd_from`,
    which re-seeds it.

    ``n_iter`` counts the assignments made here (as scikit-learn's ``KMeans``
    counts them); the labels are those of the nearest centroids, also when not
    converged."""
    C = np.array(init, dtype=np.float64)
    k = len(C)
    if labels is None:
        labels, sums = _nearest(P, x_sq, C, w)
        n_iter = 1
    else:
        labels, n_iter = np.asarray(labels, dtype=np.intp), 0
        sums = _weighted_sums(P, w, labels, k)
    for _ in range(max_iter):
        weight = np.bincount(labels, weights=w, minlength=k)
        if not np.all(weight > 0):
            fit = _lloyd_from(P, w, C, max_iter)
            return replace(fit, n_iter=n_iter + fit.n_iter)
        C = sums / weight[:, None]
        (new, sums), n_iter = _nearest(P, x_sq, C, w), n_iter + 1
        if np.array_equal(new, labels):
            return _Fit(C, n_iter, True, labels=labels + 1)
        labels = new
    return _Fit(C, n_iter, False, labels=labels + 1)


def _weighted_sums(P, w, labels, k: int) -> np.ndarray:
    """Per cluster, the ``w``-weighted sum of the rows of ``P`` labelled with it,
    in float64 (:func:`_add_rows`), the ranges of rows in parallel."""

    def span(a: int, b: int) -> np.ndarray:
        sums = np.zeros((k, P.shape[1]))
        _add_rows(P[a:b], w[a:b], labels[a:b], sums)
        return sums

    return sum(map_spans(span, len(P), P.shape[1]))


_OPTS = {"nogil": True, "cache": caching_enabled(__file__), "boundscheck": False}


@njit(**_OPTS)
def _add_rows(P, w, labels, sums):
    """Add each row ``P[i]``, times its weight ``w[i]``, to ``sums[labels[i]]``."""
    for i in range(P.shape[0]):
        a, wi = labels[i], w[i]
        for j in range(P.shape[1]):
            sums[a, j] += wi * P[i, j]


@njit(**_OPTS)
def _assign(P, CtT, offset, w, norms, scale, reach, step, labels, sums, unsure):
    """The pass of :func:`_nearest` over the rows of ``P`` (C-contiguous), ``step``
    rows at a time: their products with the translated centroids (one BLAS
    product ``P[a:b] @ CtT``), then each row labelled with the first ``j`` of
    least ``offset[j] - 2 x.c'_j`` and added (times ``w[i]``) to ``sums[j]``
    while the block is in cache. A row whose two least differ by at most
    ``(2 norms[i] + reach) scale`` (NaN: also) is written to ``unsure``.
    Returns the number of unsure rows."""
    n_unsure = 0
    for a in range(0, P.shape[0], step):
        b = min(a + step, P.shape[0])
        S = np.dot(P[a:b], CtT)
        for r in range(b - a):
            i = a + r
            first = offset[0] - 2.0 * S[r, 0]
            second, lab, bad = np.inf, 0, first != first
            for j in range(1, S.shape[1]):
                v = offset[j] - 2.0 * S[r, j]
                if v < first:
                    second, first, lab = first, v, j
                elif v < second:
                    second = v
                bad |= v != v
            labels[i] = lab
            if bad or not second - first > (2.0 * norms[i] + reach) * scale:
                unsure[n_unsure] = i
                n_unsure += 1
            wi = w[i]
            for j in range(P.shape[1]):
                sums[lab, j] += wi * P[i, j]
    return n_unsure


def _nearest(P, x_sq, C, w) -> tuple[np.ndarray, np.ndarray]:
    """Index (from 0) of the centroid nearest each row of ``P`` (the first on
    ties), as exact distances give it, and the ``w``-weighted sums of the rows
    per cluster of that assignment (made in the same pass, a block of rows at a
    time while it is in cache).

    The distances come from matrix products (one per block of
    :data:`_BLOCK_NUMBERS` values, made and used by one compiled pass per range
    of rows, :func:`_assign`; the ranges in parallel threads, split by their
    values: :func:`.parallel.spans`), with the centroids translated to their
    mean ``r``:
    ``|x - c|^2 - |x - r|^2 = |c'|^2 + 2 r.c' - 2 x.c'``
    (``c' = c - r``). Each of these is within ``(d + 4) u B`` of its exact value
    (``u`` = 2**-53, ``B = m (m + 2|r| + 2|x|)``, ``m`` the largest ``|c'|``: the
    rounding of the product, of ``c'`` and of the sums), so a row whose two
    nearest differ by more than twice that (four times here) has its nearest;
    the others are compared again with exact distances (:func:`.engine.predict`)
    and their weights moved in the sums if their cluster changes."""
    k, d = C.shape
    if k == 1:
        return np.zeros(len(P), np.intp), (w @ P)[None, :]
    r = C.mean(axis=0)
    Ct = C - r
    offset = np.einsum("ij,ij->i", Ct, Ct) + 2.0 * (Ct @ r)
    m = float(np.sqrt(np.einsum("ij,ij->i", Ct, Ct).max()))
    scale = 4.0 * (d + 4) * 2.0**-53 * m
    reach = m + 2.0 * float(np.linalg.norm(r))
    labels = np.empty(len(P), np.intp)
    norms = np.sqrt(x_sq)
    CtT = np.ascontiguousarray(Ct.T)
    step = max(1, _BLOCK_NUMBERS // d)

    def span(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        sums, unsure = np.zeros((k, d)), np.empty(b - a, np.intp)
        n = _assign(
            P[a:b],
            CtT,
            offset,
            w[a:b],
            norms[a:b],
            scale,
            reach,
            step,
            labels[a:b],
            sums,
            unsure,
        )
        return sums, a + unsure[:n]

    parts = map_spans(span, len(P), P.shape[1])
    sums = sum(p[0] for p in parts)
    unsure = np.concatenate([p[1] for p in parts])
    if unsure.size:
        exact = _engine.predict(P[unsure], C).astype(np.intp) - 1
        moved = unsure[exact != labels[unsure]]
        if moved.size:
            Pm, wm = P[moved], w[moved]
            _add_rows(Pm, -wm, labels[moved], sums)
            labels[moved] = exact[exact != labels[unsure]]
            _add_rows(Pm, wm, labels[moved], sums)
    return labels, sums


def _fit_from_init(X, w, init, *, max_iter) -> _Fit:
    """Weighted Lloyd on all samples from ``init``, whose row ``j`` stays cluster
    ``j`` (as in scikit-learn)."""
    P = _enough_distinct(X, len(init))
    return _lloyd_from(P, w, init, max_iter)


def _enough_distinct(X, k) -> np.ndarray:
    """``X`` as contiguous float64, or :class:`TooFewValuesError` when it has
    fewer than ``k`` distinct rows."""
    P = np.ascontiguousarray(X, dtype=np.float64)
    if len(np.unique(P[:, 0])) < k and len(np.unique(P, axis=0)) < k:
        raise TooFewValuesError("fewer distinct samples than clusters")
    return P


def _lloyd_from(P, w, init, max_iter) -> _Fit:
    """Weighted Lloyd iterations on ``P`` from ``init`` (rows kept in place) to a
    fixed point or ``max_iter``."""
    C = np.array(init, dtype=np.float64)
    lab = np.full(len(P), -1, np.int64)  # no point assigned yet
    inertia, n_iter, _ = _kernels.weighted_lloyd(P, w, C, max_iter, lab)
    # a fixed point: each centroid is the weighted mean of the samples nearest it
    labels = _engine.predict(P, C)
    k = len(C)
    cnt = np.bincount(labels, weights=w, minlength=k + 1)[1:]
    sums = [
        np.bincount(labels, weights=w * P[:, j], minlength=k + 1)[1:]
        for j in range(P.shape[1])
    ]
    means = np.stack(sums, axis=1) / np.maximum(cnt, 1e-300)[:, None]
    converged = is_fixed_point(means, C, cnt)
    return _Fit(C, n_iter, converged, labels=labels, inertia=inertia)


def _in_engine_order(P, w, fit: _Fit) -> _Fit:
    """``fit`` with its clusters in the engine's order (see
    :func:`~.fit.ordering.cluster_order`), its labels renumbered to match."""
    labels = fit.labels if fit.labels is not None else _engine.predict(P, fit.centroids)
    k = len(fit.centroids)
    weights = np.bincount(labels, weights=w, minlength=k + 1)[1:]
    order = cluster_order(fit.centroids, weights)
    lut = np.zeros(k + 1, labels.dtype)
    lut[1:][order] = np.arange(1, k + 1)
    return replace(fit, centroids=fit.centroids[order], labels=lut[labels])


def _distinct_centroids(X, k) -> np.ndarray:
    """Centroids for data with fewer distinct rows than ``k``: the distinct rows,
    the last repeated to fill (as scikit-learn's KMeans ends up)."""
    rows = np.unique(np.asarray(X, dtype=np.float64), axis=0)
    warnings.warn(
        f"Number of distinct clusters ({len(rows)}) found smaller than "
        f"n_clusters ({k}). Possibly due to duplicate points in X.",
        ConvergenceWarning,
        stacklevel=3,
    )
    return np.concatenate([rows, np.repeat(rows[-1:], k - len(rows), axis=0)])


def _inertia(X, C, labels, w) -> float:
    """Weighted sum of squared distances of the rows of ``X`` to their centroid,
    in float64, a block of rows at a time (no copy of ``X``)."""
    total = 0.0
    step = max(1, _INERTIA_BLOCK // max(X.shape[1], 1))
    for a in range(0, len(X), step):
        diff = X[a : a + step] - C[labels[a : a + step]]
        total += float(np.einsum("ij,ij->i", diff, diff) @ w[a : a + step])
    return total
