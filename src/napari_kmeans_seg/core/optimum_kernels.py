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
    prefix sums of the weights ``W``, weighted values ``S`` and squares ``Q``."""
    w = W[j] - W[i]
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
    # ranges of j (and of the i that may serve them) still to solve
    todo = np.empty((4 * (m + 2), 4), np.int64)
    for c in range(1, k):
        # cur[j] for j in c+1 .. m: the last interval starts at i in c .. j-1
        todo[0] = (c + 1, m, c, m - 1)
        n_todo = 1
        while n_todo > 0:
            n_todo -= 1
            jlo, jhi, ilo, ihi = todo[n_todo]
            if jlo > jhi:
                continue
            j = (jlo + jhi) // 2
            best_i, best = ilo, np.inf
            for i in range(ilo, min(ihi, j - 1) + 1):
                v = prev[i] + _cost(W, S, Q, i, j)
                if v < best:
                    best, best_i = v, i
            cur[j] = best
            arg[c, j] = best_i
            todo[n_todo] = (jlo, j - 1, ilo, best_i)
            todo[n_todo + 1] = (j + 1, jhi, best_i, ihi)
            n_todo += 2
        for j in range(c + 1, m + 1):
            prev[j] = cur[j]
    total = prev[m]
    j = m
    for c in range(k - 1, 0, -1):
        j = arg[c, j]
        start[c] = j
    start[0] = 0
    return total
