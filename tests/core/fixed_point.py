"""One test of "this is a Lloyd fixed point", shared by the engine's tests.

The rule, the same for every path, in float64 on the caller's values translated
by a reference value (each feature's smallest valid value: the translation is
exact for data on a common offset, so the check sees the spread, not the
offset) and scaled by a power of two to a spread near 1 (exact, so that the
squares of tiny or huge values neither underflow nor overflow):

- **mean**: each centroid is the (weighted) mean of its pixels, computed here
  correctly rounded (``math.fsum``), in every feature to within the rounding of
  a float64 sum of its ``n`` pixels: ``sqrt(n)`` float64 steps at the
  centroid's magnitude (a long sum in the image's units: rounding errors add
  up as a random walk) plus ``REL`` of the data's spread;
- **nearest**: each pixel's squared distance to its own (reported) centroid is
  at most its squared distance to every other centroid plus ``REL`` of the two
  distances summed (ties allowed; a pixel sent across a midpoint by even one
  float64 step at the offset fails this at any offset the spread is small
  against);
- **counts and inertia** (where given): the labels' counts exactly; the
  inertia of the partition about its means to ``INERTIA_REL``, or more by what
  the centroids' own distance from the means adds.

Labels count from ``first`` (1 for the engine and :func:`segment`: 0 is "left
out"; 0 for the estimator). This module is also where the tests reach the
engine's internals to learn which path ran (:func:`path_spy`): one reach, easy
to follow when the engine moves.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest

#: the relative rounding allowed: 2**-40, about 1e-12 (4096 float64 epsilons)
REL = 2.0**-40
#: the relative error allowed in a reported inertia: the engine sums squares by
#: moments, whose cancellation costs digits (1e-6: the inertia is that of the
#: labels, not a bit-exact sum)
INERTIA_REL = 1e-6


def _as_rows(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X.reshape(len(X), -1) if X.ndim > 1 else X[:, None]


def _sums(values, lab, k):
    """Per cluster, the correctly rounded sums (``math.fsum``) of the columns
    of ``values``: ``(k, columns)``."""
    order = np.argsort(lab, kind="stable")
    bounds = np.searchsorted(lab[order], np.arange(k + 1))
    return np.array(
        [
            [math.fsum(column[order[bounds[j] : bounds[j + 1]]]) for column in values.T]
            for j in range(k)
        ]
    )


def _sq_dists(V, C):
    d2 = np.zeros((len(V), len(C)))
    for f in range(V.shape[1]):
        d2 += (V[:, f, None] - C[None, :, f]) ** 2
    return d2


def gaps(X, labels, centroids, *, mask=None, weights=None, first=1):
    """How far the result is from a fixed point, in units of the allowed
    rounding: ``(nearest, mean, counts, (inertia, off))``, the first two at most 1
    at a fixed point, then the labels' counts and inertia (about the means; one
    about the centroids may be larger by at most ``off``)."""
    V = _as_rows(X)
    C = np.asarray(centroids, dtype=np.float64).reshape(-1, V.shape[1])
    k = len(C)
    labels = np.asarray(labels).reshape(-1)
    w = np.ones(len(V)) if weights is None else np.asarray(weights, np.float64)
    valid = np.isfinite(V).all(axis=1)
    if mask is not None:
        valid &= np.asarray(mask, bool).reshape(-1)
    if first == 1:
        assert np.all(labels[~valid] == 0), "a left-out pixel has a label"
    lab = labels[valid].astype(np.int64) - first
    assert lab.size and lab.min() >= 0 and lab.max() < k, "labels out of range"
    V, w = V[valid], w[valid]
    # translated, then scaled by a power of two to a spread near 1: both exact
    # here, so tiny values' squares do not underflow nor huge ones overflow
    ref = V.min(axis=0)
    spread = float(np.ptp(np.concatenate([V - ref, C - ref]), axis=0).max())
    e = -math.frexp(spread)[1] if spread > 0 else 0
    Vt, Ct = np.ldexp(V - ref, e), np.ldexp(C - ref, e)
    d2 = _sq_dists(Vt, Ct)
    own = d2[np.arange(len(Vt)), lab]
    best = d2.min(axis=1)
    over = own > best
    allowed = REL * (own[over] + best[over])
    with np.errstate(divide="ignore"):
        nearest = float(np.max((own[over] - best[over]) / allowed, initial=0.0))
    n = np.bincount(lab, minlength=k)
    assert n.min() > 0, f"an empty cluster: counts {n}"
    sums = _sums(np.column_stack([w, Vt * w[:, None]]), lab, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums[:, 1:] / sums[:, :1]  # NaN for a cluster of weight 0
    tol = np.ldexp(np.sqrt(n)[:, None] * np.spacing(np.abs(C)) + REL * spread, e)
    mean = float(np.nanmax(np.abs(means - Ct) / tol, initial=0.0))
    # the partition's inertia, about the means, less what their rounding adds
    # (the corrected two-pass sum: 0 for clusters of one value)
    dev = np.nan_to_num(Vt - means[lab]) * np.sqrt(w)[:, None]
    moved = _sums(dev * np.sqrt(w)[:, None], lab, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        rounding = np.nan_to_num((moved**2).sum(axis=1) / sums[:, 0])
    sse = math.fsum((dev**2).ravel()) - math.fsum(rounding)
    # an inertia about the centroids adds each cluster's weight times its
    # centroid's distance from the mean, squared
    off = np.nansum(sums[:, 0] * ((Ct - means) ** 2).sum(axis=1))
    # and a sum of squares made by moments rounds at REL of the data's own
    # (a reported 0 may come out as a few steps of that)
    off += REL * math.fsum((((Vt - Vt.mean(axis=0)) ** 2) * w[:, None]).ravel())
    return nearest, mean, n, (math.ldexp(sse, -2 * e), math.ldexp(off, -2 * e))


def assert_fixed_point(
    X,
    labels,
    centroids,
    *,
    mask=None,
    weights=None,
    first=1,
    counts=None,
    inertia=None,
):
    """Assert ``labels`` and ``centroids`` are a Lloyd fixed point of the rows
    of ``X`` (pixels × features, any real dtype), by the module's rule; and, if
    given, that ``counts`` and ``inertia`` are those of the labels."""
    nearest, mean, n, sse = gaps(
        X, labels, centroids, mask=mask, weights=weights, first=first
    )
    assert nearest <= 1, f"a pixel is not on its nearest centroid ({nearest:.3g})"
    assert mean <= 1, f"a centroid is not the mean of its pixels ({mean:.3g})"
    if counts is not None:
        np.testing.assert_array_equal(counts, n)
    if inertia is not None:
        sse, off = sse
        np.testing.assert_allclose(inertia, sse, rtol=INERTIA_REL, atol=off + 1e-300)


def assert_fit(X, fit, mask=None):
    """:func:`assert_fixed_point` for an engine result ``fit`` (labels from 1,
    centroids, counts, inertia) on the rows of ``X``."""
    assert_fixed_point(
        X,
        fit.labels,
        fit.centroids,
        mask=mask,
        counts=fit.counts,
        inertia=fit.inertia,
    )


@contextlib.contextmanager
def path_spy():
    """Yields the list of the names of the engine's strategies that fitted
    (returned a fit) while the context lasts, in call order: the registry's
    names ("per-pixel", "cells", "fast (one feature)", "histogram (one
    feature)", ...). The one reach into the engine's internals."""
    from napari_kmeans_seg.core.fit import registry

    taken: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for strategy in {s for chain in registry.CHAINS.values() for s in chain}:

            def spy(job, _fit=strategy.fit, _name=strategy.name):
                found = _fit(job)
                if found is not None:
                    taken.append(_name)
                return found

            patch.setattr(strategy, "fit", spy)
        yield taken


@contextlib.contextmanager
def without_the_optimum():
    """One feature fitted by the Lloyd ways the one-feature optimum falls back
    to (when it declines, or is not asked for): the chain without it."""
    from napari_kmeans_seg.core.fit import registry

    chain = registry.CHAINS["exact", True]
    rest = tuple(s for s in chain if s.name != "optimum (one feature)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry.CHAINS, ("exact", True), rest)
        yield
