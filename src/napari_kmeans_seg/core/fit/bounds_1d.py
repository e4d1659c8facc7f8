"""Which bins of one feature may hold a boundary of an optimal partition.

The one-feature optimum is a partition of the sorted values into intervals. On
binned values (float data: 2**16 bins, each a run of values) every bin kept whole
is one item of the dynamic program, with its count, mean and own sum of squares;
only a bin that an optimal boundary may split needs its values one by one. The
partitions that keep every bin whole give an upper bound of the optimum (their
own optimum); an optimal partition with a boundary at an edge between items, or
inside an item next to it, costs at least the edge's lower bound (see
:mod:`..optimum_kernels`: the relaxed costs before and after the edge, two
programs run side by side). Edges whose bound exceeds the upper bound hold no
optimal boundary: the items on both sides may be merged; items with such an
edge on either side are split by no optimal partition: they stay whole, and the
optimum over the rest, values one by one, is the global optimum.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .. import optimum_kernels as OPT
from ..parallel import in_parallel

#: relative margin of the comparison against the upper bound: rounding in the
#: prefix sums must not rule out a bin that an optimum splits
_MARGIN = 1e-7
#: most memory of the bounds of one set of items (two arrays of k x items floats)
MAX_BOUND_BYTES = 1 << 25


def prefix_sums(w, mean, within, shift=None) -> tuple:
    """Prefix sums of the items' counts ``w``, sums and sums of squares (from
    their ``mean`` values and their own sums of squares ``within`` about them),
    taken about ``shift`` (by default the weighted mean of all items: fewer
    digits lost to cancellation in the differences)."""
    if shift is None:
        shift = np.average(mean, weights=w)
    x = mean - shift
    zero = np.zeros(1)
    W = np.concatenate([zero, np.cumsum(w)])
    S = np.concatenate([zero, np.cumsum(w * x)])
    Q = np.concatenate([zero, np.cumsum(within + w * x * x)])
    return W, S, Q


def where_boundaries_may_lie(
    w, mean, within, lo, hi, whole, k: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per item (a run of values: count ``w``, mean ``mean``, own sum of squares
    ``within``, values within ``[lo, hi]``; ``whole``: known to hold no optimal
    boundary inside), in value order: whether an optimal partition of the
    values into ``k`` clusters may split it; and per edge between items
    (``m + 1``: the two ends never), whether such a partition may have a
    boundary there or inside an item next to it. Every item and edge may, when
    there are too few items to tell. None when the bounds would take more than
    :data:`MAX_BOUND_BYTES`."""
    edges = np.ones(w.size + 1, np.bool_)
    edges[0] = edges[-1] = False
    if k == 1:  # no boundary at all
        return np.zeros(w.size, np.bool_), np.zeros(w.size + 1, np.bool_)
    if w.size < max(k, 2):
        return ~whole, edges
    if 2 * k * (w.size + 1) * 8 > MAX_BOUND_BYTES:
        return None
    shift = np.average(mean, weights=w)
    W, S, Q = prefix_sums(w, mean, within, shift)
    upper = OPT.optimal_starts(W, S, Q, k, np.zeros(k, np.int64))
    # rounding: of the differences of the prefix sums, and of the items' own
    # sums of squares (made from sums of squares about 0)
    squares = float(np.sum(within + w * mean * mean))
    margin = _MARGIN * upper + 1e3 * np.finfo(float).eps * (Q[-1] + squares)
    # the means on both sides of a boundary inside an item: their midpoint is in
    # the item, so they are at most twice as far apart as the item's far side
    # is from either end of the values, and closer where the values between
    # them would cost more than the upper bound
    far = 2 * np.minimum(hi - lo[0], hi[-1] - lo)
    gap = OPT.gap_bounds(W, lo, hi, upper + margin, far)
    # a boundary inside an item moves to its right edge with the values above
    # it, to its left edge with those below: at most twice the gap times their
    # distances from the item's least, or greatest, value
    to_right = np.where(whole, 0.0, 2 * gap * w * np.maximum(mean - lo, 0.0))
    to_left = np.where(whole, 0.0, 2 * gap * w * np.maximum(hi - mean, 0.0))
    credit = np.zeros(w.size + 1)
    credit[1:-1] = np.maximum(to_right[:-1], to_left[1:])  # the inner edges
    Wr, Sr, Qr = prefix_sums(w[::-1], mean[::-1], within[::-1], shift)
    before, after = in_parallel(
        [
            partial(OPT.relaxed_costs, W, S, Q, credit, k),
            partial(OPT.relaxed_costs, Wr, Sr, Qr, credit[::-1].copy(), k),
        ]
    )
    lower = _edge_bounds(before, after, credit)
    possible = lower <= upper + margin
    # a split item rounds to either of its edges (not to the ends of the values)
    split = possible[:-1] & possible[1:] & ~whole
    return split, possible & edges


def _edge_bounds(before, after, credit) -> np.ndarray:
    """Per edge ``e`` between items (the first item's start and the last one's
    end as their neighbours'), a lower bound of the sum of squares of every
    optimal partition with a boundary at ``e`` or inside an item next to it:
    the bound of the items before ``e`` in ``c`` clusters (``before``, from
    :func:`~..optimum_kernels.relaxed_costs`) plus that of the items after it
    in ``k - c`` (``after``, on the reversed items) minus the edge's credit,
    least over ``c``."""
    k, m = before.shape[0], before.shape[1] - 1
    e = np.arange(1, m)
    lower = np.empty(m + 1)
    c = np.arange(1, k)[:, None]
    lower[1:-1] = np.min(before[c, e] + after[k - c, m - e], axis=0) - credit[1:-1]
    lower[0], lower[-1] = lower[1], lower[-2]
    return lower
