"""Compiled loops of the one-feature (greyscale, one channel) k-means path (numba;
``nogil``, so threads run in parallel). Conventions as in :mod:`.kernels`.
"""

from __future__ import annotations

import numpy as np

from .compile_cache import njit
from .kernels import _OPTS, CONVERGED, EMPTY_CLUSTER, MAX_ITER, NEED_GATHER

# ------------------------------------------------------------------ one feature
# In one dimension the clusters of a Lloyd step are intervals between thresholds
# (the midpoints of consecutive sorted centroids; a value equal to a threshold
# goes to the lower cluster). Values are binned by a monotone formula, so a bin
# lies wholly below or above every threshold except the one bin a threshold
# falls in: only the values of those bins are needed one by one.


@njit(**_OPTS)
def bin1(x, lo, inv, B):
    """The bin of value ``x``: monotone non-decreasing in ``x``."""
    return min(max(int((np.float64(x) - lo) * inv), 0), B - 1)


@njit(**_OPTS)
def hist1_kernel(X, mask, use_mask, lo, inv, B, acc, ranges, mn, mx):
    """Per bin of the valid values of ``X[:, 0]``: count (``acc[b, 0]``), sum and
    sum of squares; with ``ranges``, also the least (``mn[b]``) and greatest
    (``mx[b]``) value (left as they are for an empty bin)."""
    for i in range(X.shape[0]):
        if use_mask and not mask[i]:
            continue
        x = np.float64(X[i, 0])
        if x - x != 0:  # NaN or ±inf
            continue
        b = min(max(int((x - lo) * inv), 0), B - 1)
        acc[b, 0] += 1.0
        acc[b, 1] += x
        acc[b, 2] += x * x
        if ranges:
            if x < mn[b]:
                mn[b] = x
            if x > mx[b]:
                mx[b] = x


@njit(**_OPTS)
def gather1_kernel(X, mask, use_mask, lo, inv, B, cursor, P):
    """Copy the valid values of the bins with ``cursor[b] >= 0`` into ``P``
    (``cursor`` holds this range's next slot in each bin)."""
    for i in range(X.shape[0]):
        if use_mask and not mask[i]:
            continue
        x = np.float64(X[i, 0])
        if x - x != 0:
            continue
        b = min(max(int((x - lo) * inv), 0), B - 1)
        p = cursor[b]
        if p >= 0:
            cursor[b] = p + 1
            P[p] = x


@njit(**_OPTS)
def step1(C, hist, bins, lo, inv, gathered, S, N):
    """One exact Lloyd step in one dimension from the sorted centroids ``C``: the
    new sums ``S`` and counts ``N`` per cluster; ``hist`` is :func:`hist1_kernel`'s
    ``acc``, ``bins`` the non-empty bins in order, ``gathered`` ``(pstart, pcount,
    P, W)`` the values of some bins with their weights (``W`` empty: all 1;
    ``pstart[b] < 0``: not gathered).

    Returns (bin, inertia): the first bin a threshold falls in whose values are
    not gathered (-1 if none: the step is complete), and the inertia of this
    assignment with respect to ``C``."""
    pstart, pcount, P, W = gathered
    weighted = W.size > 0
    k = C.shape[0]
    B = hist.shape[0]
    t = np.empty(max(k - 1, 0))
    tb = np.empty(max(k - 1, 0), np.int64)
    for j in range(k - 1):
        t[j] = 0.5 * (C[j] + C[j + 1])
        tb[j] = bin1(t[j], lo, inv, B)
    S[:] = 0.0
    N[:] = 0.0
    inertia = 0.0
    j = 0
    for b in bins:
        while j < k - 1 and tb[j] < b:
            j += 1
        if j < k - 1 and tb[j] == b:  # a threshold falls in this bin
            if pstart[b] < 0:
                return b, inertia
            for p in range(pstart[b], pstart[b] + pcount[b]):
                x = P[p]
                w = W[p] if weighted else 1.0
                a = j
                while a < k - 1 and x > t[a]:
                    a += 1
                S[a] += w * x
                N[a] += w
                inertia += w * (x - C[a]) * (x - C[a])
        else:
            c = C[j]
            S[j] += hist[b, 1]
            N[j] += hist[b, 0]
            inertia += max(hist[b, 2] - 2.0 * c * hist[b, 1] + hist[b, 0] * c * c, 0.0)
    return -1, inertia


@njit(**_OPTS)
def lloyd1(C, hist, bins, lo, inv, gathered, max_iter):
    """Exact Lloyd iterations in one dimension from the sorted centroids ``C``
    (updated in place) until a step leaves them unchanged.

    Returns (code, iterations, bin, inertia): ``CONVERGED``, ``NEED_GATHER`` (the
    values of ``bin`` are needed; ``C`` is the last complete step's),
    ``EMPTY_CLUSTER`` (``C`` then holds the means, an empty cluster's entry being
    NaN) or ``MAX_ITER``; inertia with respect to ``C``."""
    k = C.shape[0]
    S = np.empty(k)
    N = np.empty(k)
    inertia = 0.0
    for it in range(max_iter):
        b, inertia = step1(C, hist, bins, lo, inv, gathered, S, N)
        if b >= 0:
            return NEED_GATHER, it, b, inertia
        same = True
        empty = False
        for a in range(k):
            if N[a] <= 0.0:
                empty = True
                v = np.nan
            else:
                v = S[a] / N[a]
            if v != C[a]:
                same = False
            C[a] = v
        if empty:
            return EMPTY_CLUSTER, it + 1, -1, inertia
        if same:
            return CONVERGED, it + 1, -1, inertia
    return MAX_ITER, max_iter, -1, inertia


@njit(**_OPTS)
def farthest1(C, hist, bins, gathered):
    """:func:`farthest` in one dimension: the bin mean (or gathered value)
    farthest from its nearest centroid, and its squared distance."""
    pstart, pcount, P, _ = gathered
    far = 0.0
    far_d = 0.0
    for b in bins:
        if pstart[b] >= 0:
            for p in range(pstart[b], pstart[b] + pcount[b]):
                s = np.min((P[p] - C) ** 2)
                if s > far_d:
                    far_d = s
                    far = P[p]
        else:
            x = hist[b, 1] / hist[b, 0]
            s = np.min((x - C) ** 2)
            if s > far_d:
                far_d = s
                far = x
    return far, far_d


@njit(**_OPTS)
def label1_kernel(X, mask, use_mask, t, lut, labels):
    """``labels[i] = lut[number of thresholds t below X[i, 0]]`` (0 for invalid
    rows); ``t`` sorted."""
    m = t.shape[0]
    for i in range(X.shape[0]):
        x = np.float64(X[i, 0])
        if x - x != 0 or (use_mask and not mask[i]):
            labels[i] = 0
            continue
        a = 0
        if m <= 32:  # branch-free count, vectorised
            for j in range(m):
                a += x > t[j]
        else:
            hi = m
            while a < hi:
                mid = (a + hi) // 2
                if x > t[mid]:
                    a = mid + 1
                else:
                    hi = mid
        labels[i] = lut[a]


@njit(**_OPTS)
def lloyd1_points(C, x, cw, cs, max_iter):
    """Lloyd iterations on sorted points ``x`` (prefix sums of their weights
    ``cw`` and weighted values ``cs``, each of length ``len(x) + 1``) from the
    sorted centroids ``C``, updated in place; an empty cluster keeps its place
    (``cw`` empty: every weight 1).
    Each iteration costs ``O(k log len(x))``: for a close start, not an exact
    answer (prefix differences round). Returns the number of iterations."""
    k = C.shape[0]
    m = x.shape[0]
    new = np.empty(k)
    for it in range(max_iter):
        lo = 0
        for a in range(k):
            hi = m
            if a < k - 1:
                hi = max(np.searchsorted(x, 0.5 * (C[a] + C[a + 1]), "right"), lo)
            w = cw[hi] - cw[lo] if cw.shape[0] else np.float64(hi - lo)
            new[a] = (cs[hi] - cs[lo]) / w if w > 0 else C[a]
            lo = hi
        same = True
        for a in range(k):
            same = same and new[a] == C[a]
            C[a] = new[a]
        if same:
            return it + 1
    return max_iter


@njit(**_OPTS)
def prefix_sums(x, shift):
    """``[0, cumsum(x - shift)]`` in float64, summed in order (as ``np.cumsum``)."""
    out = np.empty(x.shape[0] + 1)
    s = 0.0
    out[0] = s
    for i in range(x.shape[0]):
        s += np.float64(x[i]) - shift
        out[i + 1] = s
    return out


@njit(**_OPTS)
def sorted_inertia(x, at, C):
    """The inertia of the sorted values ``x`` split at ``at`` (``k - 1`` places)
    into the clusters of ``C``."""
    total = 0.0
    lo = 0
    for a in range(C.shape[0]):
        hi = at[a] if a < at.shape[0] else x.shape[0]
        c = C[a]
        for i in range(lo, hi):
            d = x[i] - c
            total += d * d
        lo = hi
    return total


# ------------------------------------------------------------ one pass, from a start
# The values are compared with ``2k`` increasing edges: the lowest and highest
# sampled value and, around each threshold, a window ``(lo, hi]``. The number ``r``
# of edges below a value is odd for a *core* value, of cluster ``(r - 1) / 2``;
# even for a value outside the sampled range or inside a window, which is gathered
# one by one. While each threshold stays inside its window, a core value's cluster
# does not change. A block of rows is handled a loop at a time (over the edges,
# then over the block's rows), which vectorises.

#: rows per block of :func:`core_pass`
_BLOCK = 128
#: the sums are reassociated (vectorised): float64 sums of one block, in lanes
_SUM_OPTS = {**_OPTS, "fastmath": {"reassoc"}}


# The helpers take a block as its rows' range ``s:e`` (a slice per block would
# cost reference counts), counted in unsigned integers: a signed index may be
# negative, and the wraparound it would need keeps the loops from vectorising.


@njit(**_OPTS)
def _u(i):
    return np.uint64(i)


@njit(**_OPTS)
def _add_codes(x, r, s, e, e0, e1, e2, e3):
    """``r[i] +=`` the number of the four edges below ``x[i]``, rows ``s:e`` (a
    loop over the rows with the edges in registers: vectorised)."""
    for i in range(_u(s), _u(e)):
        v = x[i]
        r[i] += (
            np.uint8(v > e0) + np.uint8(v > e1) + np.uint8(v > e2) + np.uint8(v > e3)
        )


@njit(**_OPTS)
def _key_range(u, s, e, nb, top):
    """The lowest and highest key of the values of rows ``s:e``, ``u`` their bits
    as integers: the key (the bits, negative values' flipped) orders the values
    as floats do, NaN beyond ±inf (an integer reduction: vectorised)."""
    lo = top
    hi = -top - 1
    for i in range(_u(s), _u(e)):
        v = np.int64(u[i])
        key = v ^ ((v >> nb) & top)
        lo = min(lo, key)
        hi = max(hi, key)
    return lo, hi


@njit(**_OPTS)
def _code_range(r, mask, use_mask, s, e):
    """The lowest and highest code of rows ``s:e`` (masked rows: code 0)."""
    if use_mask:
        for i in range(_u(s), _u(e)):
            r[i] = r[i] if mask[i] else np.uint8(0)
    lo = np.uint8(255)
    hi = np.uint8(0)
    for i in range(_u(s), _u(e)):
        lo = min(lo, r[i])
        hi = max(hi, r[i])
    return lo, hi


@njit(**_OPTS)
def _n_masked(mask, s, e):
    c = 0
    for i in range(_u(s), _u(e)):
        c += not mask[i]
    return c


@njit(**_SUM_OPTS)
def _block_sums(x, r, s, e, code, ref, acc, a):
    """Adds the count, the sum of ``x - ref`` and of its square over the rows
    ``s:e`` of code ``code`` to ``acc[a]``."""
    n = 0
    s1 = 0.0
    s2 = 0.0
    for i in range(_u(s), _u(e)):
        w = r[i] == code
        d = np.float64(x[i]) - ref
        d = d if w else 0.0
        n += np.int64(w)
        s1 += d
        s2 += d * d
    acc[a, 0] += n
    acc[a, 1] += s1
    acc[a, 2] += s2


@njit(**_SUM_OPTS)
def _block_sums_all(x, s, e, ref, acc, a):
    """:func:`_block_sums` for rows ``s:e`` all of cluster ``a``."""
    s1 = 0.0
    s2 = 0.0
    for i in range(_u(s), _u(e)):
        d = np.float64(x[i]) - ref
        s1 += d
        s2 += d * d
    acc[a, 0] += e - s
    acc[a, 1] += s1
    acc[a, 2] += s2


@njit(**_OPTS)
def _n_outside(r, s, e):
    """The number of rows ``s:e`` of even code (outside the core): a vectorised
    count."""
    c = 0
    for i in range(_u(s), _u(e)):
        c += np.int64(r[i] & np.uint8(1)) ^ 1
    return c


@njit(**_OPTS)
def _block_gather(x, mask, use_mask, r, s, e, gidx, gval, g):
    """Appends the valid rows ``s:e`` of even code (outside the core) from slot
    ``g``."""
    for i in range(_u(s), _u(e)):
        if r[i] & np.uint8(1):
            continue
        v = x[i]
        if v - v != 0 or (use_mask and not mask[i]):
            continue
        gidx[g] = i
        gval[g] = v
        g += 1
    return g


@njit(**_OPTS)
def _block_labels(r, s, e):
    """In place: label ``cluster + 1`` of the core rows ``s:e`` (odd code), 0 for
    the others."""
    one = np.uint8(1)
    for i in range(_u(s), _u(e)):
        c = r[i]
        r[i] = ((c >> one) + one) * (c & one)


@njit(**_OPTS)
def _fill(r, s, e, c):
    for i in range(_u(s), _u(e)):
        r[i] = c


@njit(**_OPTS)
def core_pass(x, u, nb, mask, use_mask, edges, keys, ref, labels, acc, gidx, gval):
    """Labels ``cluster + 1`` of the core values of ``x`` (0 for invalid values and
    for the gathered ones, labelled later); per cluster ``a`` the count, the sum of
    ``x - ref[a]`` and of its square over its core values (added to ``acc[a]``);
    the other valid values with their rows (``gval``, ``gidx``). ``u``: the bits
    of ``x`` as integers (``nb + 1`` of them); ``edges``: the ``2k`` edges, then
    ``+inf`` three times or more; ``keys``: the edges' keys (see
    :func:`_key_range`). Returns the number gathered, or -1 if ``gidx`` is too
    short.

    The code of a value is the number of edges below it. A block's values lie
    between its lowest and highest key, which tells the codes it can hold: one
    odd code (the common case in images: neighbouring pixels are alike) makes
    the block one fill and two sums; else the codes are counted, only against
    the edges within the block's range, four at a time."""
    n = x.shape[0]
    top = np.int64(-1) ^ (np.int64(-1) << nb)
    n_keys = 2 * ref.shape[0]
    g = 0
    r = labels
    for s in range(0, n, _BLOCK):
        e = min(s + _BLOCK, n)
        lo, hi = _key_range(u, s, e, nb, top)
        c0 = 0  # the codes of the block's values lie in [c0, c1]
        while c0 < n_keys and keys[c0] < lo:
            c0 += 1
        c1 = c0
        while c1 < n_keys and keys[c1] < hi:
            c1 += 1
        if lo < -1 - keys[n_keys] or (use_mask and _n_masked(mask, s, e)):
            c0 = 0  # NaN below -inf (or masked rows): code 0 must be possible
        elif c0 == c1 and c0 & 1:
            _fill(r, s, e, np.uint8((c0 >> 1) + 1))
            _block_sums_all(x, s, e, ref[c0 >> 1], acc, c0 >> 1)
            continue
        _fill(r, s, e, np.uint8(c0))
        for p in range(c0, c1, 4):
            _add_codes(x, r, s, e, edges[p], edges[p + 1], edges[p + 2], edges[p + 3])
        if hi > keys[n_keys]:  # NaN above +inf: code 0
            for i in range(_u(s), _u(e)):
                r[i] = r[i] if x[i] - x[i] == 0 else np.uint8(0)
        c0, c1 = _code_range(r, mask, use_mask, s, e)
        for c in range(c0 | 1, c1 + 1, 2):
            _block_sums(x, r, s, e, np.uint8(c), ref[c >> 1], acc, c >> 1)
        n_out = _n_outside(r, s, e)
        if n_out:
            if g + n_out > gidx.shape[0]:
                return -1
            g = _block_gather(x, mask, use_mask, r, s, e, gidx, gval, g)
        _block_labels(r, s, e)
    return g


@njit(**_OPTS)
def window_lloyd(C, n_core, s_core, P, cs, lo, hi, max_iter):
    """Exact Lloyd iterations from the sorted centroids ``C`` (updated in place)
    on core counts and sums per cluster plus the gathered values ``P`` (sorted;
    ``cs`` their prefix sums), while each threshold ``j`` stays in ``[lo[j],
    hi[j]]``.

    Returns (code, iterations): ``CONVERGED`` (the assignment no longer changes;
    ``C`` its means), ``NEED_GATHER`` (a threshold left its window; ``C`` is the
    last step's means), ``EMPTY_CLUSTER`` or ``MAX_ITER``."""
    k = C.shape[0]
    split = np.full(k + 1, -1, np.int64)
    new = np.empty(k + 1, np.int64)
    new[0] = 0
    new[k] = P.shape[0]
    for it in range(max_iter):
        for j in range(k - 1):
            t = 0.5 * (C[j] + C[j + 1])
            if t < lo[j] or t > hi[j]:
                return NEED_GATHER, it
            new[j + 1] = np.searchsorted(P, t, "right")
        same = True
        for j in range(k + 1):
            same = same and new[j] == split[j]
            split[j] = new[j]
        if same:
            return CONVERGED, it
        for a in range(k):
            n = n_core[a] + (split[a + 1] - split[a])
            if n <= 0:
                return EMPTY_CLUSTER, it + 1
            C[a] = (s_core[a] + cs[split[a + 1]] - cs[split[a]]) / n
    return MAX_ITER, max_iter


@njit(**_OPTS)
def label_rows(labels, rows, values, t):
    """``labels[rows[i]] = 1 +`` the number of thresholds ``t`` below
    ``values[i]`` (a value on a threshold goes to the lower cluster)."""
    for i in range(rows.shape[0]):
        v = values[i]
        a = 1
        for j in range(t.shape[0]):
            a += v > t[j]
        labels[rows[i]] = a
