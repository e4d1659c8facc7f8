"""The engine: k-means on a pixel matrix (one row per pixel, one column per
feature), labels and centroids out, and labelling with given centroids. No napari
and no Qt here.

How the pixels are fitted is chosen in :mod:`.fit.registry`; each way lives in
its own module of :mod:`.fit`. Every pass over the pixels is split into row
ranges that run in parallel threads; a caller stops a computation with a
``should_stop`` hook (:func:`~.parallel.stop_when`), polled between passes and
between chunks of rows within a pass.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np

from .defaults import (
    DEFAULT_MAX_ITER,
    DEFAULT_N_INIT,
    DEFAULT_N_REFINE,
    DEFAULT_SAMPLE_SIZE,
)
from .fit import registry
from .fit.job import Job
from .fit.pixels import Pixels
from .fit.records import (
    EngineResult,
    FitOptions,
    MixtureFit,
    MixtureOptions,
    NotConvergedWarning,
    PrecisionWarning,
    TooFewValuesError,
    em_not_converged,
    not_converged,
)
from .parallel import Cancelled, stop_scope, stop_when
from .values import MIN_MAGNITUDE

__all__ = [
    "Cancelled",
    "EngineResult",
    "MixtureOptions",
    "NotConvergedWarning",
    "PrecisionWarning",
    "TooFewValuesError",
    "fit_predict",
    "predict",
    "stop_when",
]


def fit_predict(
    X: np.ndarray,
    *,
    n_clusters: int,
    mask: np.ndarray | None = None,
    random_state: int | None = 0,
    method: str = "exact",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = DEFAULT_MAX_ITER,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    n_refine: int = DEFAULT_N_REFINE,
    init: np.ndarray | None = None,
    mixture: MixtureOptions | None = None,
    should_stop=None,
) -> EngineResult:
    """k-means on the rows of ``X`` (one row per pixel, one column per feature).

    Parameters
    ----------
    X : (n, d) ndarray
        Pixel features, any real dtype and strides; never modified.
    n_clusters : int
        Number of clusters, at least 1.
    mask : (n,) bool ndarray, optional
        Rows to cluster; the others get label 0. Rows with a NaN or infinite value
        are always left out (label 0).
    random_state : int or None
        Seed of the k-means++ starts.
    method : {"exact", "sample"}
        "exact" iterates to a Lloyd fixed point on all rows; "sample" fits on a random
        sample of ``sample_size`` rows and assigns every row to the nearest centroid.
    n_init : int
        k-means++ starts tried on the binned data; the best is refined.
    max_iter : int
        Maximum number of Lloyd iterations (re-seeding an empty cluster counts as
        one).
    sample_size : int
        Rows drawn by method="sample".
    n_refine : int
        Number of the best distinct binned-data solutions refined on all rows; the
        one with the lowest inertia is kept. (Images whose pixels are nearly all
        distinct compare their ``n_init`` starts on a sample instead and refine
        the best.)
    init : (n_clusters, d) ndarray, optional
        Start from these centroids instead of k-means++ (method "exact" only).
    mixture : MixtureOptions, optional
        Fit a Gaussian mixture from the k-means result (see :mod:`.fit.mixture`):
        the labels are then each row's most probable component, the centroids the
        components' means, and ``result.mixture`` holds the mixture.
    should_stop : threading.Event or callable, optional
        Polled between passes and between chunks of rows within a pass; once it
        is set (or returns True) the computation stops with :class:`Cancelled`.

    Returns
    -------
    EngineResult

    Warns
    -----
    NotConvergedWarning
        If method "exact" stopped at ``max_iter`` before a fixed point.

    Raises
    ------
    TooFewValuesError
        If the valid rows hold fewer distinct values than ``n_clusters`` (or fewer
        that k-means can tell apart in float64).
    Cancelled
        If ``should_stop`` (or the hook of an enclosing :func:`stop_when`) is set.

    Notes
    -----
    Float data whose largest magnitude is below ``2**-400`` is clustered after an
    exact scaling by a power of two (squared differences of such values underflow
    in float64); the centroids are scaled back.
    """
    options = FitOptions(
        method=method,
        n_init=n_init,
        max_iter=max_iter,
        sample_size=sample_size,
        n_refine=n_refine,
        init=init,
        mixture=mixture,
    )
    with stop_scope(should_stop):
        binned = registry.bins_cells(method, np.shape(X)[1] if np.ndim(X) == 2 else 0)
        px = Pixels(X, mask, binned=binned)
        rng = np.random.default_rng(random_state)
        fit = registry.fit(Job(px, int(n_clusters), options, rng))
        centroids = px.unscaled(fit.centroids)
        if px.offset is not None and mixture is None:  # a pass Cancel stops too
            _check_held(X, mask, fit.labels, centroids)
    if method == "exact" and not fit.converged:
        warnings.warn(not_converged(max_iter), stacklevel=2)
    if fit.mixture is not None and not fit.mixture.converged:
        warnings.warn(em_not_converged(mixture), stacklevel=2)
    n_masked = px.n - int(px.mask.sum()) if px.use_mask else 0
    return EngineResult(
        labels=fit.labels,
        centroids=centroids,
        counts=fit.counts,
        inertia=math.ldexp(fit.inertia, -2 * px.exponent),
        n_iter=fit.n_iter,
        converged=fit.converged,
        n_valid=fit.n_valid,
        n_invalid=px.n - fit.n_valid - n_masked,
        optimal=fit.optimal,
        mixture=None if fit.mixture is None else _unscaled(fit.mixture, px),
    )


def _unscaled(m: MixtureFit, px: Pixels) -> MixtureFit:
    """The mixture ``m`` fitted on ``px`` in the caller's units."""
    if not px.exponent and px.offset is None:
        return m
    return replace(
        m,
        means=px.unscaled(m.means),
        covariances=np.ldexp(m.covariances, -2 * px.exponent),
        log_likelihood=m.log_likelihood + px.d * px.exponent * math.log(2),
    )


def _check_held(X, mask, labels, centroids) -> None:
    """Warn if the centroids, rounded to the caller's units (the pixels were
    fitted after subtracting a large offset), label the pixels otherwise."""
    again = predict(X, centroids, mask=mask)
    rows = np.flatnonzero(again != labels)
    if rows.size:  # moved only where the fit's centroid is now strictly farther
        x = np.asarray(X, dtype=np.float64)[rows]
        old = np.sum((x - centroids[labels[rows].astype(np.intp) - 1]) ** 2, axis=1)
        new = np.sum((x - centroids[again[rows].astype(np.intp) - 1]) ** 2, axis=1)
        rows = rows[old > new]
    moved = int(rows.size)
    if moved:
        warnings.warn(
            PrecisionWarning(
                f"the image's values sit on a large offset, and its centroids, "
                f"rounded to float64 at that offset, put {moved} of {labels.size} "
                "pixels in another cluster than the fit did (model.predict will "
                "label them so); subtract the offset first (e.g. image - "
                "image.min()) to keep the centroids exact"
            ),
            stacklevel=3,
        )


def predict(
    X: np.ndarray, centroids: np.ndarray, *, mask=None, should_stop=None
) -> np.ndarray:
    """Label each valid row of ``X`` with its nearest centroid's index + 1 (the first
    on ties; 0 for invalid rows).

    ``should_stop`` (a ``threading.Event`` or a callable returning True to stop)
    makes the pass raise :class:`Cancelled` once set."""
    with stop_scope(should_stop):
        px = Pixels(X, mask, binned=False)
        if px.d != centroids.shape[1]:
            raise ValueError(
                f"the image has {px.d} features per pixel, the model "
                f"{centroids.shape[1]}"
            )
        C = np.asarray(centroids, dtype=np.float64)
        finite = np.abs(C[np.isfinite(C)])
        top = float(finite.max(initial=0.0))
        if px.X.dtype.kind == "f" and 0.0 < top < MIN_MAGNITUDE:
            # tiny values: compare in the scale the fit used, where their squared
            # differences do not underflow
            px.rescale(top)
            C = np.ldexp(C, px.exponent)
        return px.label(C)
