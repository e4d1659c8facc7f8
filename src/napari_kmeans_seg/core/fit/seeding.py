"""Where Lloyd's iterations start: k-means++ and weighted Lloyd on a few weighted
points (cell means, groups of histogram bins, a sample), the starts worth
refining on all pixels, or the caller's own centroids."""

from __future__ import annotations

from functools import partial

import numpy as np

from .. import kernels as K
from ..parallel import in_parallel, never

#: starts within this relative inertia of the best (on binned data) are refined too
_REFINE_WITHIN = 1e-3
#: a start whose centroids all lie within this fraction of a cell width of a better
#: one's reaches the same fixed point on all pixels: it is not refined
_SAME_FIXED_POINT = 0.1
#: tolerances under which two binned starts count as one (``np.allclose``)
_SAME_START_RTOL, _SAME_START_ATOL = 1e-6, 1e-9
#: Lloyd iterations per kernel call on the seeds' points (the hook is polled between)
_SEED_BATCH = 16


def _draws(rng, k: int, n_init: int) -> tuple[int, list]:
    """The candidates tried per centre, and each start's random numbers."""
    n_trials = 2 + int(np.log(k))
    return n_trials, [rng.random(1 + (k - 1) * n_trials) for _ in range(n_init)]


def plusplus(P, w, k: int, rng, n_init: int) -> list[np.ndarray]:
    """``n_init`` k-means++ starts on the points ``P`` of weights ``w``."""
    n_trials, draws = _draws(rng, k, n_init)
    return [K.kmeans_plusplus(P, w, k, rand, n_trials) for rand in draws]


def seeds(
    P, w, k, rng, n_init, max_iter, check=never
) -> list[tuple[float, np.ndarray]]:
    """``n_init`` runs of k-means++ + weighted Lloyd on the points ``P``: their
    distinct results as (inertia, centroids), best first."""
    n_trials, draws = _draws(rng, k, n_init)

    def run(rand):
        check()
        C = K.kmeans_plusplus(P, w, k, rand, n_trials)
        lab = np.full(len(P), -1, np.int64)
        n_iter, done, inertia = 0, False, 0.0
        while not done and n_iter < max_iter:  # in batches: the hook is polled
            check()
            batch = min(_SEED_BATCH, max_iter - n_iter)
            inertia, it, done = K.weighted_lloyd(P, w, C, batch, lab)
            n_iter += it
        return inertia, C[np.lexsort(C.T[::-1])]

    found: list[tuple[float, np.ndarray]] = []
    runs = (
        in_parallel([partial(run, rand) for rand in draws])
        if n_init > 1
        else [run(draws[0])]
    )
    for inertia, C in runs:  # the starts are independent: run at once, kept in order
        if not any(
            np.allclose(C, other, rtol=_SAME_START_RTOL, atol=_SAME_START_ATOL)
            for _, other in found
        ):
            found.append((inertia, C))
    return sorted(found, key=lambda f: f[0])


def starts_to_refine(starts, n_refine: int, width: float) -> list:
    """Of the binned starts (best first), those worth refining on all pixels."""
    # refine the starts that came out (nearly) as good as the best on the binned
    # data; a clearly worse one rarely overtakes it on all pixels
    top = starts[0][0]
    near = [s for s in starts[:n_refine] if s[0] <= top * (1 + _REFINE_WITHIN)]
    # a start whose centroids all lie within a tenth of a cell of a better one's
    # (a different binned optimum by a hair) reaches the same fixed point on all
    # pixels: refine only the better
    tol = _SAME_FIXED_POINT * width
    kept: list = []
    for s in near:
        if not any(np.max(np.abs(s[1] - t[1])) <= tol for t in kept):
            kept.append(s)
    return kept


def given_start(px, init, k: int) -> np.ndarray:
    """The caller's starting centroids ``init`` in the units of ``px``'s pixels."""
    return px.scaled(np.array(init, dtype=np.float64).reshape(k, px.d))
