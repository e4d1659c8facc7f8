"""Compiled loops of the one-feature optimum: dynamic programming over the
sorted distinct values (numba; conventions as in :mod:`.kernels`).

In one dimension the clusters of an optimal k-means partition are intervals of
the sorted values. ``best[c, j]``, the least sum of squares of the first ``j``
values in ``c + 1`` intervals, is the least ``best[c - 1, i] + cost(i, j)`` over
the last interval's start ``i``; the smallest best ``i`` does not decrease with
``j`` (the cost satisfies the quadrangle inequality), so each row is solved by
divide and conquer in ``O(m log m)`` (Wu 1991; Grønlund et al. 2017).
"""

from __future__ import annotations

import numpy as np

from .compile_cache import njit
from .kernels import _OPTS


@njit(inline="always", **_OPTS)
def _cost(W, S, Q, i, j):
    """Sum of squares of the values ``i .. j - 1`` about their mean, from the
    prefix sums of the weights ``W``, weighted values ``S`` and squares ``Q``
    (0 for no values, ``i == j``)."""
    w = W[j] - W[i]
    if w <= 0.0:
        return 0.0
    s = S[j] - S[i]
    return max(Q[j] - Q[i] - s * s / w, 0.0)


@njit(**_OPTS)
def optimal_starts(W, S, Q, k, start):
    """The optimal partition of the ``m`` values (prefix sums ``W``, ``S``, ``Q``
    of length ``m + 1``) into ``k`` intervals: ``start[c]`` is the first value
    of interval ``c`` (``start[0] == 0``). Returns the least sum of squares."""
    m = W.size - 1
    prev = np.empty(m + 1)
    cur = np.empty(m + 1)
    arg = np.zeros((k, m + 1), np.int32)
    for j in range(1, m + 1):
        prev[j] = _cost(W, S, Q, 0, j)
    no_credit = np.zeros(m + 1)
    todo = np.empty((4 * (m + 2), 4), np.int64)
    for c in range(1, k):
        # cur[j] for j in c+1 .. m: the last interval starts at i in c .. j-1
        _layer(W, S, Q, prev, no_credit, cur, arg[c], c + 1, c, 1, todo)
        for j in range(c + 1, m + 1):
            prev[j] = cur[j]
    total = prev[m]
    j = m
    for c in range(k - 1, 0, -1):
        j = arg[c, j]
        start[c] = j
    start[0] = 0
    return total


@njit(**_OPTS)
def _layer(W, S, Q, prev, credit, cur, arg, jlo, ilo, shortest, todo):
    """One more interval: ``cur[j]`` for ``j`` in ``jlo .. m``, the least
    ``prev[i] - credit[i]`` plus the cost of the values ``i .. j - 1``, over
    ``i`` in ``ilo .. j - shortest`` (``shortest`` 0: an empty interval too);
    the best ``i`` in ``arg[j]``. The best ``i`` does not decrease with ``j``
    (the cost is Monge, whatever ``prev`` and ``credit`` are): divide and
    conquer, in ``O(m log m)``."""
    m = W.size - 1
    todo[0] = (jlo, m, ilo, m)
    n_todo = 1
    while n_todo > 0:
        n_todo -= 1
        lo, hi, i_lo, i_hi = todo[n_todo]
        if lo > hi:
            continue
        j = (lo + hi) // 2
        best_i, best = i_lo, np.inf
        for i in range(i_lo, min(i_hi, j - shortest) + 1):
            v = prev[i] - credit[i] + _cost(W, S, Q, i, j)
            if v < best:
                best, best_i = v, i
        cur[j] = best
        arg[j] = best_i
        todo[n_todo] = (lo, j - 1, i_lo, best_i)
        todo[n_todo + 1] = (j + 1, hi, best_i, i_hi)
        n_todo += 2


# Where an optimal boundary may lie (binned values, :mod:`.fit.bounds_1d`).
#
# The items are now runs of values. An optimal partition P whose boundary falls
# inside an item t (between clusters whose means are g apart) has its midpoint
# inside t. Moving t's values above the midpoint to the cluster below, the means
# kept, raises the cost by at most 2 g x (their distances from t's least value)
# and puts the boundary at t's right edge; moving those below it up, at most 2 g
# x (their distances from t's greatest value), at its left edge; re-fitting the
# means only lowers the cost. So P costs at least the whole-item partition so
# made minus the ``credit`` of the edge. ``relaxed[c, j]`` is the least such
# bound for the first ``j`` items in ``c`` clusters (an empty cluster allowed, a
# credit taken at each boundary, ``credit[e]`` at the edge before item ``e``).


@njit(**_OPTS)
def relaxed_costs(W, S, Q, credit, k):
    """``relaxed[c, j]`` for ``c`` in ``0 .. k - 1`` clusters and the first ``j``
    of the ``m`` items (prefix sums ``W``, ``S``, ``Q`` of length ``m + 1``; the
    edges' ``credit``, ``credit[0] == 0``)."""
    m = W.size - 1
    relaxed = np.full((k, m + 1), np.inf)
    relaxed[0, 0] = 0.0
    todo = np.empty((4 * (m + 2), 4), np.int64)
    arg = np.empty(m + 1, np.int32)  # not needed
    for c in range(1, k):
        _layer(W, S, Q, relaxed[c - 1], credit, relaxed[c], arg, 0, 0, 0, todo)
    return relaxed


#: the distances r of :func:`gap_bounds` go down to the values' span over 2**this
_GAP_SCALES = 24


@njit(**_OPTS)
def gap_bounds(W, lo, hi, upper, g_max):
    """Per item ``t`` (values within ``[lo[t], hi[t]]``, prefix counts ``W``),
    a bound of the gap between the means on both sides of a boundary inside it
    in any partition costing at most ``upper``, and at most ``g_max[t]``.

    The midpoint of such means ``g`` apart is inside ``t``; the values between
    the means are theirs, and those within ``r`` of ``t`` (``N`` of them) at
    least ``g / 2 - r - width`` from them: ``N (g / 2 - r - width)**2`` is at
    most ``upper``. The least bound over ``r`` = the least width (not below the
    span over 2**24) times 1, 2, 4, ...; the items within ``r`` of ``t``
    followed by two pointers."""
    m = lo.size
    bound = g_max.copy()
    span = hi[m - 1] - lo[0]
    r = span
    for t in range(m):
        if hi[t] > lo[t]:
            r = min(r, hi[t] - lo[t])
    r = max(r, span * 2.0**-_GAP_SCALES)
    while r <= 2 * span:
        p, q = 0, 0
        for t in range(m):
            while lo[p] < lo[t] - r:  # items from p on start within r
                p += 1
            if q < t:
                q = t
            while q + 1 < m and hi[q + 1] <= hi[t] + r:  # up to q end within r
                q += 1
            g = 2 * (hi[t] - lo[t] + r + np.sqrt(upper / (W[q + 1] - W[p])))
            if g < bound[t]:
                bound[t] = g
        r *= 2
    return bound
