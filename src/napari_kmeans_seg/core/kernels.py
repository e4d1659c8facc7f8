"""Compiled loops of the k-means engine (numba; ``nogil``, so threads run in parallel).

Every pass reads a range of rows of the pixel matrix ``X`` (``(n, d)``, any real
dtype, any strides), given as a slice (a loop over ``range(X.shape[0])`` compiles to
faster code than one over ``range(start, stop)``), and never writes to it. A row is
*valid* when the optional mask allows it and all its values are finite; every pass
skips the same invalid rows.

Pixels are binned into a grid of *cells* over the first ``min(d, 3)`` features. The
grid only decides which pixels are handled together; correctness never depends on it,
because the box each cell stands for holds every value that was binned into it.

Three integer features (8-bit RGB, three-channel uint16: the common cases) have their
own unrolled loops: numba does not unroll loops over a run-time ``d``, and a call per
pixel to a helper costs more than the arithmetic. A bin index is ``(x - lo) >> shift``
for integer data and ``⌊(x - lo)·inv⌋`` (clamped) for floats.
"""

from __future__ import annotations

import numpy as np

from .compile_cache import caching_enabled, njit

_OPTS = {"nogil": True, "cache": caching_enabled(__file__), "boundscheck": False}

#: relative margin of box ownership (see :func:`box_owner`): keeps the per-pixel
#: comparison, made in floating point, on the owner's side
OWNER_TOL = 1e-9
#: relative widening of a centroid's move in the incremental iterations
MOVE_TOL = 1e-9
#: relative widening of the distance bounds stored as float32
BOUND_TOL = 1e-6


# ---------------------------------------------------------------- shared helpers
@njit(**_OPTS)
def _valid(X, i, mask, use_mask):
    if use_mask and not mask[i]:
        return False
    for j in range(X.shape[1]):
        v = X[i, j]
        if v - v != 0:  # NaN or ±inf (always true for integers)
            return False
    return True


@njit(**_OPTS)
def _bin(x, ilo, flo, inv, shift, G):
    if shift >= 0:
        return (np.int64(x) - ilo) >> shift
    return min(max(int((np.float64(x) - flo) * inv), 0), G - 1)


@njit(**_OPTS)
def _cell(X, i, ilo, flo, inv, shift, G, D):
    c = 0
    for j in range(D):
        c = c * G + _bin(X[i, j], ilo[j], flo[j], inv[j], shift, G)
    return c


@njit(**_OPTS)
def _nearest_row(X, i, C):
    """Index of the centroid nearest to row ``i`` of ``X`` (the first on ties) and the
    squared distance to it, computed in float64."""
    best = 0
    best_d = np.inf
    for a in range(C.shape[0]):
        s = 0.0
        for j in range(C.shape[1]):
            t = np.float64(X[i, j]) - C[a, j]
            s += t * t
        if s < best_d:
            best_d = s
            best = a
    return best, best_d


# The helpers below do what np.sum, np.searchsorted and np.argmax would, with the
# same result: numba compiles its implementations of those NumPy functions anew in
# every process whose cache is empty, for about 0.3 s each.
@njit(**_OPTS)
def _sqnorm(C, a):
    """``np.sum(C[a] * C[a])``, summed in the same order."""
    s = 0.0
    for j in range(C.shape[1]):
        s += C[a, j] * C[a, j]
    return s


@njit(**_OPTS)
def _search_right(a, v):
    """``np.searchsorted(a, v, side="right")`` for a sorted ``a`` without NaN."""
    lo, hi = 0, a.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(**_OPTS)
def _nearest3(x0, x1, x2, C):
    """:func:`_nearest_row` for one three-feature pixel; the index only."""
    best = 0
    best_d = np.inf
    for a in range(C.shape[0]):
        t0 = np.float64(x0) - C[a, 0]
        t1 = np.float64(x1) - C[a, 1]
        t2 = np.float64(x2) - C[a, 2]
        s = t0 * t0 + t1 * t1 + t2 * t2
        if s < best_d:
            best_d = s
            best = a
    return best


@njit(inline="always", **_OPTS)
def _cell3(x0, x1, x2, l0, l1, l2, shift, G):
    """Cell of a pixel of three integer features (as int64) on a grid of ``G`` bins
    per feature ``2**shift`` wide from ``(l0, l1, l2)``: the one formula (inlined,
    as a call per pixel costs more than the arithmetic)."""
    return (((x0 - l0) >> shift) * G + ((x1 - l1) >> shift)) * G + ((x2 - l2) >> shift)


# ---------------------------------------------------------------- passes, any d
@njit(**_OPTS)
def minmax_kernel(X, mask, use_mask, mn, mx):
    """Per-feature minimum and maximum of the valid rows; returns their number."""
    n_valid = 0
    d = X.shape[1]
    for i in range(X.shape[0]):
        if not _valid(X, i, mask, use_mask):
            continue
        n_valid += 1
        for j in range(d):
            v = np.float64(X[i, j])
            mn[j] = min(mn[j], v)
            mx[j] = max(mx[j], v)
    return n_valid


@njit(**_OPTS)
def minmax1_kernel(X, mask, use_mask, mn, mx):
    """:func:`minmax_kernel` for one feature, in registers (a kernel of its own:
    a branch for it inside the general one slows that one down)."""
    n_valid = 0
    lo, hi = mn[0], mx[0]
    for i in range(X.shape[0]):
        v = np.float64(X[i, 0])
        if v - v != 0 or (use_mask and not mask[i]):
            continue
        n_valid += 1
        lo = min(lo, v)
        hi = max(hi, v)
    mn[0], mx[0] = lo, hi
    return n_valid


@njit(**_OPTS)
def stats_kernel(X, mask, use_mask, ilo, flo, inv, shift, G, D, acc, bmin, bmax):
    """Per cell: valid-row count (``acc[c, 0]``), feature sums (``acc[c, 1:d+1]``),
    sum of squared norms (``acc[c, d+1]``) and the bounding box of the values."""
    d = X.shape[1]
    for i in range(X.shape[0]):
        if not _valid(X, i, mask, use_mask):
            continue
        c = _cell(X, i, ilo, flo, inv, shift, G, D)
        acc[c, 0] += 1
        for j in range(d):
            v = X[i, j]
            acc[c, 1 + j] += v
            w = np.float64(v)  # a float32 square in float64: exact
            acc[c, 1 + d] += w * w
            bmin[c, j] = min(bmin[c, j], np.float64(v))
            bmax[c, j] = max(bmax[c, j], np.float64(v))


@njit(**_OPTS)
def gather_rows_kernel(X, mask, use_mask, ilo, flo, inv, shift, G, D, cursor, P):
    """Copy the valid rows of the cells with ``cursor[c] >= 0`` into ``P``, grouped
    by cell (``cursor`` holds this range's next slot in each cell)."""
    d = X.shape[1]
    for i in range(X.shape[0]):
        if not _valid(X, i, mask, use_mask):
            continue
        c = _cell(X, i, ilo, flo, inv, shift, G, D)
        p = cursor[c]
        if p < 0:
            continue
        cursor[c] = p + 1
        for j in range(d):
            P[p, j] = X[i, j]


@njit(**_OPTS)
def label_kernel(X, mask, use_mask, ilo, flo, inv, shift, G, D, owner, C, perm, labels):
    """Write ``perm[nearest centroid] + 1`` (0 for invalid rows) into ``labels``.

    Rows of a cell owned whole (``owner[c] >= 0``) take its owner without comparing
    distances."""
    for i in range(X.shape[0]):
        if not _valid(X, i, mask, use_mask):
            labels[i] = 0
            continue
        o = owner[_cell(X, i, ilo, flo, inv, shift, G, D)]
        if o < 0:
            o = _nearest_row(X, i, C)[0]
        labels[i] = perm[o] + 1


#: rows per block of :func:`label_nearest_kernel` (its scratch stays in L1)
_LABEL_BLOCK = 256


@njit(**_OPTS)
def label_nearest_kernel(X, mask, use_mask, Ct, perm, labels):
    """Write ``perm[nearest centroid] + 1`` (0 for invalid rows) into ``labels``,
    comparing every row with every centroid: :func:`_nearest_row`'s distances (the
    same sums, in the same order; the first centroid on ties), computed for a
    block of rows at a time, centroid by centroid, so that the loops over the rows
    vectorise. ``Ct`` holds the centroids as columns (``(d, k)``)."""
    d, k = Ct.shape
    n = X.shape[0]
    xt = np.empty((d, _LABEL_BLOCK))
    dist = np.empty(_LABEL_BLOCK)
    best_d = np.empty(_LABEL_BLOCK)
    best = np.empty(_LABEL_BLOCK, np.int64)
    ok = np.empty(_LABEL_BLOCK, np.bool_)
    for s in range(0, n, _LABEL_BLOCK):
        m = min(_LABEL_BLOCK, n - s)
        for b in range(m):
            ok[b] = not use_mask or mask[s + b]
            best_d[b] = np.inf
            best[b] = 0
        for j in range(d):
            for b in range(m):
                v = np.float64(X[s + b, j])
                xt[j, b] = v
                ok[b] = ok[b] and v - v == 0  # NaN or ±inf: invalid
        for q in range(k):
            for b in range(m):
                dist[b] = 0.0
            for j in range(d):
                c = Ct[j, q]
                for b in range(m):
                    t = xt[j, b] - c
                    dist[b] += t * t
            for b in range(m):
                nearer = dist[b] < best_d[b]
                best_d[b] = dist[b] if nearer else best_d[b]
                best[b] = q if nearer else best[b]
        for b in range(m):
            labels[s + b] = perm[best[b]] + 1 if ok[b] else 0


@njit(**_OPTS)
def label_stats_kernel(X, labels, C, N, S, total):
    """Add each labelled row to its cluster's count ``N`` and sums ``S`` (label
    ``l`` is cluster ``l - 1``; label 0 is skipped), and return ``total`` plus the
    sum of the squared distances of the rows to their centroid ``C[l - 1]``."""
    for i in range(X.shape[0]):
        a = np.int64(labels[i]) - 1
        if a < 0:
            continue
        N[a] += 1
        for j in range(X.shape[1]):
            x = np.float64(X[i, j])
            S[a, j] += x
            t = x - C[a, j]
            total += t * t
    return total


# ------------------------------------------------- passes, three integer features
# The cell index comes from :func:`_cell3`, inlined by numba.


@njit(**_OPTS)
def stats_int3_kernel(X, mask, use_mask, ilo, shift, G, acc):
    """:func:`stats_kernel` for three integer features, without bounding boxes (each
    cell's box is its bin range), with two interleaved accumulators (``acc`` is
    ``(2, n_cells, 5)``) so that neighbouring pixels, which often share a cell, do
    not wait on each other's update."""
    l0, l1, l2 = ilo[0], ilo[1], ilo[2]
    n = X.shape[0]
    for i in range(0, n - 1, 2):
        x0 = np.int64(X[i, 0])
        x1 = np.int64(X[i, 1])
        x2 = np.int64(X[i, 2])
        y0 = np.int64(X[i + 1, 0])
        y1 = np.int64(X[i + 1, 1])
        y2 = np.int64(X[i + 1, 2])
        c = _cell3(x0, x1, x2, l0, l1, l2, shift, G)
        e = _cell3(y0, y1, y2, l0, l1, l2, shift, G)
        if not use_mask or mask[i]:
            acc[0, c, 0] += 1
            acc[0, c, 1] += x0
            acc[0, c, 2] += x1
            acc[0, c, 3] += x2
            acc[0, c, 4] += x0 * x0 + x1 * x1 + x2 * x2
        if not use_mask or mask[i + 1]:
            acc[1, e, 0] += 1
            acc[1, e, 1] += y0
            acc[1, e, 2] += y1
            acc[1, e, 3] += y2
            acc[1, e, 4] += y0 * y0 + y1 * y1 + y2 * y2
    if n % 2 and (not use_mask or mask[n - 1]):
        x0 = np.int64(X[n - 1, 0])
        x1 = np.int64(X[n - 1, 1])
        x2 = np.int64(X[n - 1, 2])
        c = _cell3(x0, x1, x2, l0, l1, l2, shift, G)
        acc[0, c, 0] += 1
        acc[0, c, 1] += x0
        acc[0, c, 2] += x1
        acc[0, c, 3] += x2
        acc[0, c, 4] += x0 * x0 + x1 * x1 + x2 * x2


@njit(**_OPTS)
def gather_rows_int3_kernel(X, mask, use_mask, ilo, shift, G, cursor, P):
    """:func:`gather_rows_kernel` for three integer features."""
    l0, l1, l2 = ilo[0], ilo[1], ilo[2]
    for i in range(X.shape[0]):
        x0 = np.int64(X[i, 0])
        x1 = np.int64(X[i, 1])
        x2 = np.int64(X[i, 2])
        c = _cell3(x0, x1, x2, l0, l1, l2, shift, G)
        p = cursor[c]
        if p < 0 or (use_mask and not mask[i]):
            continue
        cursor[c] = p + 1
        P[p, 0] = x0
        P[p, 1] = x1
        P[p, 2] = x2


@njit(**_OPTS)
def gather_hist_int3_kernel(X, mask, use_mask, ilo, shift, G, slot, hist):
    """Count the distinct values in the cells with ``slot[c] >= 0``:
    ``hist[slot[c], sub]``, ``sub`` holding the low ``shift`` bits of each value."""
    l0, l1, l2 = ilo[0], ilo[1], ilo[2]
    low = (1 << shift) - 1
    for i in range(X.shape[0]):
        x0 = np.int64(X[i, 0])
        x1 = np.int64(X[i, 1])
        x2 = np.int64(X[i, 2])
        s = slot[_cell3(x0, x1, x2, l0, l1, l2, shift, G)]
        if s < 0 or (use_mask and not mask[i]):
            continue
        sub = ((((x0 - l0) & low) << shift) | ((x1 - l1) & low)) << shift
        hist[s, sub | ((x2 - l2) & low)] += 1


@njit(**_OPTS)
def hist_merge_kernel(hists, r0, r1, nonzero):
    """Add the histograms of every range into the first (``hists[0]``), rows
    ``r0..r1``, and count each row's non-zero entries into ``nonzero``."""
    nq, _, S = hists.shape
    for r in range(r0, r1):
        c = 0
        for j in range(S):
            v = hists[0, r, j]
            for q in range(1, nq):
                v += hists[q, r, j]
            hists[0, r, j] = v
            if v != 0:
                c += 1
        nonzero[r] = c


@njit(**_OPTS)
def hist_points_kernel(hist, cells, ilo, shift, G, starts, P, W):
    """The distinct values counted in ``hist`` (row ``r``: cell ``cells[r]``) as
    points ``P`` with counts ``W``, row ``r``'s from ``starts[r]`` on, in the order
    of their sub-cell index (that of ``np.nonzero(hist)``)."""
    side = 1 << shift
    for r in range(hist.shape[0]):
        c = cells[r]
        base0 = ilo[0] + ((c // (G * G)) << shift)
        base1 = ilo[1] + (((c // G) % G) << shift)
        base2 = ilo[2] + ((c % G) << shift)
        o = starts[r]
        for j in range(hist.shape[1]):
            v = hist[r, j]
            if v != 0:
                P[o, 0] = base0 + j // (side * side)
                P[o, 1] = base1 + (j // side) % side
                P[o, 2] = base2 + j % side
                W[o] = v
                o += 1


#: pixels per tile of :func:`label_int3_table_kernel` (their cell indices stay in L1)
_LABEL_TILE = 1024


@njit(**_OPTS)
def label_int3_table_kernel(X, mask, use_mask, ilo, shift, G, table, C, perm, labels):
    """:func:`label_kernel` for three integer features: the label of each cell is
    in ``table`` (0: the cell straddles a boundary, compare distances; then
    ``perm[nearest] + 1``), on a grid of ``G`` bins per feature (a power of two)
    that need not cover the data: a value below or above it falls into the first
    or last bin of its axis (the table accounts for that).

    Tile by tile: first every pixel's cell index, a loop of shifts and clamps the
    compiler vectorises, then the table look-ups."""
    l0, l1, l2 = ilo[0], ilo[1], ilo[2]
    top = G - 1
    gb = 0
    while (1 << gb) < G:
        gb += 1
    n = X.shape[0]
    cell = np.empty(_LABEL_TILE, np.int64)
    todo = np.empty(_LABEL_TILE, np.int64)
    for s in range(0, n, _LABEL_TILE):
        m = min(_LABEL_TILE, n - s)
        for j in range(m):
            b0 = min(max((np.int64(X[s + j, 0]) - l0) >> shift, 0), top)
            b1 = min(max((np.int64(X[s + j, 1]) - l1) >> shift, 0), top)
            b2 = min(max((np.int64(X[s + j, 2]) - l2) >> shift, 0), top)
            cell[j] = (((b0 << gb) | b1) << gb) | b2
        n_todo = 0  # the pixels to compare, gathered without a branch
        for j in range(m):
            v = table[cell[j]]
            labels[s + j] = v
            todo[n_todo] = s + j
            n_todo += v == 0
        for t in range(n_todo):
            i = todo[t]
            labels[i] = perm[_nearest3(X[i, 0], X[i, 1], X[i, 2], C)] + 1
        if use_mask:
            for j in range(s, s + m):
                if not mask[j]:
                    labels[j] = 0


# ---------------------------------------------------------------- the fit itself
@njit(**_OPTS)
def box_owner(C, Cn, lo, hi, tol):
    """The centroid nearest to every point of the box ``[lo, hi]``, or -1.

    For centroids ``o`` and ``a`` the sign of ``|x-C_o|² - |x-C_a|²`` is that of the
    linear function ``2 x·(C_a - C_o) + |C_o|² - |C_a|²``, whose maximum over a box is
    reached at a corner chosen coordinate by coordinate; ``o`` owns the box when that
    maximum is below ``-tol·(|C_o|² + |C_a|² + 1)`` for every other ``a`` (the margin
    keeps the per-pixel comparison, made in floating point, on the same side)."""
    k, d = C.shape
    o = 0
    best = np.inf
    for a in range(k):
        s = 0.0
        for j in range(d):
            t = 0.5 * (lo[j] + hi[j]) - C[a, j]
            s += t * t
        if s < best:
            best = s
            o = a
    for a in range(k):
        if a == o:
            continue
        m = Cn[o] - Cn[a]
        for j in range(d):
            g = 2.0 * (C[a, j] - C[o, j])
            m += max(g * lo[j], g * hi[j])
        if m >= -tol * (Cn[o] + Cn[a] + 1.0):
            return -1
    return o


@njit(**_OPTS)
def owners(C, cells, blo, bhi, owner):
    """``owner[c] = box_owner(...)`` for each cell in ``cells``."""
    k = C.shape[0]
    Cn = np.empty(k)
    for a in range(k):
        Cn[a] = _sqnorm(C, a)
    for c in cells:
        owner[c] = box_owner(C, Cn, blo[c], bhi[c], OWNER_TOL)


@njit(**_OPTS)
def refine_step(C, agg, gathered, margin, owner, need, new_sums, new_cnt):
    """One exact Lloyd step over all valid pixels, from per-cell aggregates.

    ``agg`` is ``(cells, cnt, sums, sumsq, blo, bhi)``: the non-empty cells and per
    cell the pixel count, feature sums, sum of squared norms and box. A cell that
    one centroid owns whole adds its sums to it; the pixels of the other cells must
    be in ``gathered`` = ``(pstart, pcount, P, W)`` (values ``P`` with weights
    ``W``, all 1 if ``W`` is empty; cell ``c`` holding ``P[pstart[c] : pstart[c] +
    pcount[c]]``, ``pstart[c] < 0`` if not gathered) and are assigned one by one.
    Cells that are ambiguous but not gathered are flagged in ``need`` and counted:
    the step is then incomplete and must be redone after gathering them (with them,
    the cells within ``margin`` of ambiguity, so that small centroid moves need no
    new gathering).

    Returns the number of such cells and the inertia of this assignment."""
    cells, cnt, sums, sumsq, blo, bhi = agg
    pstart, pcount, P, W = gathered
    k, d = C.shape
    Cn = np.empty(k)
    for a in range(k):
        Cn[a] = _sqnorm(C, a)
    n_need = 0
    inertia = 0.0
    weighted = W.size > 0
    for c in cells:
        o = box_owner(C, Cn, blo[c], bhi[c], OWNER_TOL)
        owner[c] = o
        if o >= 0:
            new_cnt[o] += cnt[c]
            cs = 0.0
            for j in range(d):
                new_sums[o, j] += sums[c, j]
                cs += C[o, j] * sums[c, j]
            inertia += max(sumsq[c] - 2.0 * cs + cnt[c] * Cn[o], 0.0)
        elif pstart[c] >= 0:
            for p in range(pstart[c], pstart[c] + pcount[c]):
                wp = W[p] if weighted else 1.0
                if d == 3:  # the common case, unrolled
                    p0, p1, p2 = P[p, 0], P[p, 1], P[p, 2]
                    a = _nearest3(p0, p1, p2, C)
                    t0, t1, t2 = p0 - C[a, 0], p1 - C[a, 1], p2 - C[a, 2]
                    inertia += wp * (t0 * t0 + t1 * t1 + t2 * t2)
                    new_sums[a, 0] += wp * p0
                    new_sums[a, 1] += wp * p1
                    new_sums[a, 2] += wp * p2
                else:
                    a, s = _nearest_row(P, p, C)
                    inertia += wp * s
                    for j in range(d):
                        new_sums[a, j] += wp * P[p, j]
                new_cnt[a] += wp
        else:
            need[c] = True
            n_need += 1
    if n_need > 0 and margin > 0.0:
        lo = np.empty(d)
        hi = np.empty(d)
        for c in cells:
            if owner[c] < 0:
                continue
            for j in range(d):
                lo[j] = blo[c, j] - margin
                hi[j] = bhi[c, j] + margin
            if box_owner(C, Cn, lo, hi, OWNER_TOL) < 0:
                need[c] = True
    return n_need, inertia


@njit(**_OPTS)
def farthest(C, agg, gathered, owner):
    """The position (mean of a cell owned whole, or a gathered pixel) farthest from
    its nearest centroid, and its squared distance to it (0 when every position
    coincides with a centroid): where a centroid that lost all its pixels is
    re-seeded. Arguments as for :func:`refine_step`."""
    cells, cnt, sums, _, _, _ = agg
    pstart, pcount, P, _ = gathered
    d = C.shape[1]
    far_d = 0.0
    far = np.zeros(d)
    row = np.empty((1, d))
    for c in cells:
        if owner[c] >= 0:
            for j in range(d):
                row[0, j] = sums[c, j] / cnt[c]
            s = _nearest_row(row, 0, C)[1]
            if s > far_d:
                far_d = s
                for j in range(d):
                    far[j] = row[0, j]
        elif pstart[c] >= 0:
            for p in range(pstart[c], pstart[c] + pcount[c]):
                s = _nearest_row(P, p, C)[1]
                if s > far_d:
                    far_d = s
                    for j in range(d):
                        far[j] = P[p, j]
    return far, far_d


@njit(**_OPTS)
def weighted_lloyd(P, w, C, max_iter, lab):
    """Weighted Lloyd iterations on points ``P`` from centroids ``C`` (updated in
    place) until no point changes cluster; ``lab`` (-1 at first) keeps each
    point's cluster, so that a run split over several calls gives the same result
    as one call. Returns (inertia, n_iter, converged)."""
    m, d = P.shape
    k = C.shape[0]
    converged = False
    sums = np.zeros((k, d))
    cnt = np.zeros(k)
    dist = np.zeros(m)
    n_iter = 0
    for it in range(max_iter):
        n_iter = it + 1
        changed = 0
        sums[:] = 0.0
        cnt[:] = 0.0
        for i in range(m):
            a, s = _nearest_row(P, i, C)
            dist[i] = s
            if a != lab[i]:
                changed += 1
                lab[i] = a
            cnt[a] += w[i]
            for j in range(d):
                sums[a, j] += w[i] * P[i, j]
        if changed == 0:
            converged = True
            break
        for a in range(k):
            if cnt[a] > 0:
                for j in range(d):
                    C[a, j] = sums[a, j] / cnt[a]
            else:  # re-seed an empty cluster at the worst-served point
                far = 0  # np.argmax(dist * w): the first largest
                for i in range(1, m):
                    if dist[i] * w[i] > dist[far] * w[far]:
                        far = i
                for j in range(d):
                    C[a, j] = P[far, j]
                dist[far] = 0.0
                lab[:] = -1
    inertia = 0.0
    for i in range(m):
        inertia += w[i] * dist[i]
    return inertia, n_iter, converged


@njit(**_OPTS)
def kmeans_plusplus(P, w, k, rand, n_trials):
    """Greedy weighted k-means++ seeding (as scikit-learn's): each new centre is the
    best of ``n_trials`` candidates drawn with probability ``∝ w·D²``. ``rand`` holds
    ``1 + (k-1)·n_trials`` uniform numbers in [0, 1)."""
    m, d = P.shape
    C = np.empty((k, d))
    cw = np.empty(m)  # np.cumsum(w), cp below np.cumsum(w * closest)
    cp = np.empty(m)
    acc = 0.0
    for i in range(m):
        acc += w[i]
        cw[i] = acc
    first = min(_search_right(cw, rand[0] * cw[-1]), m - 1)
    for j in range(d):
        C[0, j] = P[first, j]
    closest = np.empty(m)
    for i in range(m):
        s = 0.0
        for j in range(d):
            t = P[i, j] - C[0, j]
            s += t * t
        closest[i] = s
    r = 1
    cand = np.empty(m)
    best_d = np.empty(m)
    for c in range(1, k):
        acc = 0.0
        for i in range(m):
            acc += w[i] * closest[i]
            cp[i] = acc
        total = cp[-1]
        best_pot = np.inf
        best_idx = 0
        for _ in range(n_trials):
            u = rand[r]
            r += 1
            idx = min(_search_right(cp, u * total), m - 1)
            pot = 0.0
            for i in range(m):
                s = 0.0
                for j in range(d):
                    q = P[i, j] - P[idx, j]
                    s += q * q
                cand[i] = min(closest[i], s)
                pot += w[i] * cand[i]
            if pot < best_pot:
                best_pot = pot
                best_idx = idx
                for i in range(m):
                    best_d[i] = cand[i]
        for j in range(d):
            C[c, j] = P[best_idx, j]
        for i in range(m):
            closest[i] = best_d[i]
    return C


# ------------------------------------------------- incremental exact Lloyd iterations
#: return codes of :func:`lloyd_incremental`
CONVERGED, NEED_GATHER, EMPTY_CLUSTER, MAX_ITER = 0, 1, 2, 3


@njit(**_OPTS)
def _add_point(P, p, C, w, S, N, plab, ub, lb):
    """Assign gathered value ``p`` to its nearest centroid (the first on ties), store
    its distance bounds, and add its weight ``w`` to that cluster's sums."""
    k, d = C.shape
    best = np.inf
    second = np.inf
    a = 0
    for q in range(k):
        s = 0.0
        for j in range(d):
            t = P[p, j] - C[q, j]
            s += t * t
        if s < best:
            second = best
            best = s
            a = q
        elif s < second:
            second = s
    plab[p] = a
    # bounds on distances, rounded outwards when stored as float32
    ub[p] = np.float32(np.sqrt(best) * (1.0 + BOUND_TOL))
    lb[p] = np.float32(np.sqrt(second) * (1.0 - BOUND_TOL))
    N[a] += w
    for j in range(d):
        S[a, j] += w * P[p, j]
    return a


@njit(**_OPTS)
def _drop_point(P, p, w, S, N, plab):
    a = plab[p]
    N[a] -= w
    for j in range(P.shape[1]):
        S[a, j] -= w * P[p, j]


@njit(**_OPTS)
def lloyd_init(C, agg, gathered, state):
    """Assign everything from scratch for centroids ``C``: cell owners, gathered
    values' labels and distance bounds, and the cluster sums ``S`` and weights
    ``N``; ``state`` is ``(owner, plab, ub, lb, S, N)``, the other arguments as for
    :func:`refine_step`. Every ambiguous cell must have been gathered."""
    cells, cnt, sums, _, blo, bhi = agg
    pstart, pcount, P, W = gathered
    owner, plab, ub, lb, S, N = state
    k = C.shape[0]
    Cn = np.empty(k)
    for a in range(k):
        Cn[a] = _sqnorm(C, a)
    S[:] = 0.0
    N[:] = 0.0
    weighted = W.size > 0
    for c in cells:
        o = box_owner(C, Cn, blo[c], bhi[c], OWNER_TOL)
        owner[c] = o
        if o >= 0:
            N[o] += cnt[c]
            for j in range(S.shape[1]):
                S[o, j] += sums[c, j]
        else:
            for p in range(pstart[c], pstart[c] + pcount[c]):
                _add_point(P, p, C, W[p] if weighted else 1.0, S, N, plab, ub, lb)


@njit(**_OPTS)
def _move_centroids(C, S, N, Cn, delta):
    """``C = S / N``; ``Cn`` their squared norms, ``delta`` how far each moved
    (widened); returns the largest move."""
    k, d = C.shape
    dmax = 0.0
    for a in range(k):
        s = 0.0
        for j in range(d):
            v = S[a, j] / N[a]
            t = v - C[a, j]
            s += t * t
            C[a, j] = v
        delta[a] = np.sqrt(s) * (1.0 + MOVE_TOL)
        dmax = max(dmax, delta[a])
        Cn[a] = _sqnorm(C, a)
    return dmax


@njit(**_OPTS)
def lloyd_incremental(C, agg, gathered, state, max_iter):
    """Lloyd iterations that only revisit what may have changed, from the state left
    by :func:`lloyd_init` (or a previous call) for centroids ``C``.

    Each iteration sets ``C = S / N``, re-tests every cell's owner (moving whole-cell
    sums between clusters when it changes) and, for the values of ambiguous cells,
    skips those whose distance bounds (Hamerly's: an upper bound to the own
    centroid, a lower bound to every other, loosened by how far the centroids moved)
    prove the nearest centroid unchanged. Sums are updated by differences, which is
    exact for integer data; the caller confirms the final fixed point with a full
    step. Returns (code, iterations): ``CONVERGED`` when an iteration changed
    nothing, ``NEED_GATHER`` when a cell not gathered became ambiguous (nothing was
    changed for that iteration), ``EMPTY_CLUSTER`` or ``MAX_ITER``. A run split
    over several calls gives the same result as one call."""
    cells, cnt, sums, _, blo, bhi = agg
    pstart, pcount, P, W = gathered
    owner, plab, ub, lb, S, N = state
    k, d = C.shape
    weighted = W.size > 0
    Cn = np.empty(k)
    delta = np.empty(k)
    new_owner = np.empty(cells.size, np.int64)
    for it in range(max_iter):
        for a in range(k):
            if N[a] <= 0.0:
                return EMPTY_CLUSTER, it
        dmax = _move_centroids(C, S, N, Cn, delta)
        for i in range(cells.size):
            c = cells[i]
            o = box_owner(C, Cn, blo[c], bhi[c], OWNER_TOL)
            new_owner[i] = o
            if o < 0 and pstart[c] < 0:
                return NEED_GATHER, it
        changed = 0
        for i in range(cells.size):
            c = cells[i]
            old = owner[c]
            new = new_owner[i]
            if old >= 0 and new == old:
                continue
            if old >= 0:  # owned whole before: take its sums away
                N[old] -= cnt[c]
                for j in range(d):
                    S[old, j] -= sums[c, j]
                changed += 1
            if new >= 0:
                if old < 0:  # its values were assigned one by one: take them away
                    for p in range(pstart[c], pstart[c] + pcount[c]):
                        _drop_point(P, p, W[p] if weighted else 1.0, S, N, plab)
                    changed += 1
                N[new] += cnt[c]
                for j in range(d):
                    S[new, j] += sums[c, j]
            elif old >= 0:  # newly ambiguous: assign its values one by one
                for p in range(pstart[c], pstart[c] + pcount[c]):
                    w = W[p] if weighted else 1.0
                    _add_point(P, p, C, w, S, N, plab, ub, lb)
            else:  # ambiguous before and now: revisit the values that may move
                for p in range(pstart[c], pstart[c] + pcount[c]):
                    a = plab[p]
                    u = ub[p] + delta[a]
                    low = lb[p] - dmax
                    if u < low:  # stored rounded outwards, as in _add_point
                        ub[p] = np.float32(u * (1.0 + BOUND_TOL))
                        lb[p] = np.float32(low - BOUND_TOL * abs(low))
                        continue
                    w = W[p] if weighted else 1.0
                    _drop_point(P, p, w, S, N, plab)
                    if _add_point(P, p, C, w, S, N, plab, ub, lb) != a:
                        changed += 1
            owner[c] = new
        if changed == 0:
            return CONVERGED, it + 1
    return MAX_ITER, max_iter
