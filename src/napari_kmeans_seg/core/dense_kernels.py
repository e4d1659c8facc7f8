"""Compiled loops of the per-pixel Lloyd iterations (see :mod:`.fit.dense`).

Each pixel keeps its cluster ``lab``, its second-nearest centroid ``sec`` and two
*keys*, float32 numbers that say when the pixel must be looked at again (or, where
memory is short, ``lab`` and one key: ``key3`` then bounds every other centroid by
the second-nearest distance):

- ``key2``: the pixel cannot prefer ``sec`` while ``drift[lab] + drift[sec] <
  key2``;
- ``key3``: it cannot prefer any other centroid while ``drift[lab] + far < key3``.

``drift[a]`` is how far centroid ``a`` has moved in all, summed over the iterations,
and ``far`` the sum of the largest move of each iteration. A key is the gap between
the distances (to the second or third nearest centroid, less the distance to the
nearest: Elkan's and Hamerly's bounds) plus the drifts at the time it was computed,
so that skipping a pixel reads two numbers and writes nothing. Keys are rounded
down: a pixel is looked at too early, never too late.

Rows are read as they are (any real dtype); distances are computed in float64.
Gaps and drifts are kept multiplied by ``scale``, a power of two chosen by the
caller so that they are near 1: keys of data of any magnitude stay normal float32
numbers (multiplying by a power of two rounds nothing).
"""

from __future__ import annotations

import numpy as np

from .compile_cache import njit
from .kernels import _OPTS

#: relative widening of the distance gaps, for the rounding of the distances
GAP_TOL = 1e-6
#: relative rounding down of a key stored as float32 (2**-23, with room)
_KEY_TOL = 1.5e-7
#: keys are stored as float32 within these magnitudes (normal numbers, with room)
_KEY_MAX = 1e38
_KEY_MIN = 1e-30


@njit(inline="always", **_OPTS)
def _key(gap, base):
    """``gap + base``, rounded down to a float32 (infinite when there is no second
    or third centroid)."""
    v = gap + base
    if v == np.inf:
        return np.float32(np.inf)
    if v > _KEY_MAX:  # beyond float32: any smaller key is safe
        return np.float32(_KEY_MAX)
    if abs(v) < _KEY_MIN:  # float32 rounds these absolutely, not relatively
        return np.float32(0.0)  # always due: drifts are never negative
    return np.float32(v - abs(v) * _KEY_TOL)


@njit(inline="always", **_OPTS)
def _three_nearest(X, i, Ct, dist, scale):
    """The nearest and second-nearest centroids of row ``i`` (the first on ties),
    and the gaps of the second and of the third nearest distance over the nearest,
    rounded down and multiplied by ``scale``. ``Ct`` holds the centroids as
    columns (``(d, k)``), so that the distances to all of them are computed
    together (vectorised); ``dist`` is scratch space of ``k`` numbers."""
    d, k = Ct.shape
    for q in range(k):
        dist[q] = 0.0
    for j in range(d):
        x = np.float64(X[i, j])
        for q in range(k):
            t = x - Ct[j, q]
            dist[q] += t * t
    b1 = np.inf
    b2 = np.inf
    b3 = np.inf
    a1 = 0
    a2 = 0
    for q in range(k):
        s = dist[q]
        if s < b3:  # most distances are not among the three smallest: test once
            if s < b2:
                b3 = b2
                if s < b1:
                    b2 = b1
                    a2 = a1
                    b1 = s
                    a1 = q
                else:
                    b2 = s
                    a2 = q
            else:
                b3 = s
    r1 = np.sqrt(b1)
    g2 = (np.sqrt(b2) - r1) * (1.0 - GAP_TOL) - GAP_TOL * r1
    g3 = (np.sqrt(b3) - r1) * (1.0 - GAP_TOL) - GAP_TOL * r1
    return a1, a2, g2 * scale, g3 * scale


@njit(inline="always", **_OPTS)
def _keys(a, s, g2, g3, drift, far, two):
    """The keys of a row just assigned to ``a`` (second nearest ``s``, gaps ``g2``,
    ``g3``): ``key2``, ``key3``. With one key (``two`` False: no ``sec``, ``key2``),
    ``key3`` bounds every other centroid by the second-nearest distance (Hamerly's
    bound). (The kernels store them themselves: an inlined helper that writes to
    arrays makes numba count references to them on every row.)"""
    if two:
        return _key(g2, drift[a] + drift[s]), _key(g3, drift[a] + far)
    return np.float32(0.0), _key(g2, drift[a] + far)


@njit(inline="always", **_OPTS)
def _move(X, i, a, b, S, N):
    """Row ``i`` leaves cluster ``a`` for ``b``: its sums follow it."""
    N[a] -= 1.0
    N[b] += 1.0
    for j in range(X.shape[1]):
        v = X[i, j]
        S[a, j] -= v
        S[b, j] += v


@njit(inline="always", **_OPTS)
def _due(i, lab, sec, key2, key3, drift, far, margin, two):
    """Whether row ``i``'s keys run out once the drifts grow by ``margin``."""
    da = drift[lab[i]] + margin
    if key3[i] <= da + far:
        return True
    return two and key2[i] <= da + drift[sec[i]]


#: rows assigned together by :func:`assign_all` (their distances vectorised)
BLOCK = 256


@njit(**_OPTS)
def _nearest_block(X, i0, m, Ct, blk):
    """For the rows ``i0 .. i0 + m``: whether each is finite (``ok``), and its
    three smallest squared distances ``b1 <= b2 <= b3`` with the nearest and
    second-nearest centroids ``a1``, ``a2`` (the first on ties), as
    :func:`_three_nearest` finds them, a block at a time: each step runs over the
    block's rows (vectorised) and rounds as the row-by-row code does."""
    ok, xs, dist, b1, b2, b3, a1, a2 = blk
    d, k = Ct.shape
    for j in range(m):
        ok[j] = True
    for q in range(k):
        for j in range(m):
            dist[q, j] = 0.0
    for c in range(d):
        for j in range(m):
            v = np.float64(X[i0 + j, c])
            ok[j] = ok[j] and v - v == 0  # not NaN nor ±inf
            xs[j] = v
        for q in range(k):
            cq = Ct[c, q]
            for j in range(m):
                t = xs[j] - cq
                dist[q, j] += t * t
    for j in range(m):
        b1[j] = np.inf
        b2[j] = np.inf
        b3[j] = np.inf
        a1[j] = 0
        a2[j] = 0
    for q in range(k):
        for j in range(m):
            s = dist[q, j]
            lt1 = s < b1[j]
            lt2 = s < b2[j]
            b3[j] = b2[j] if lt2 else (s if s < b3[j] else b3[j])
            b2[j] = b1[j] if lt1 else (s if lt2 else b2[j])
            a2[j] = a1[j] if lt1 else (q if lt2 else a2[j])
            b1[j] = s if lt1 else b1[j]
            a1[j] = q if lt1 else a1[j]


@njit(**_OPTS)
def assign_all(
    X, mask, use_mask, C, drift, far, lab, sec, key2, key3, two, S, N, invalid, scale
):
    """Assign every valid row from scratch (``lab = invalid`` for the others) and
    add the rows to the cluster sums ``S`` and counts ``N``. ``drift``, ``far``
    and the keys are multiplied by ``scale`` (see the module notes). The
    distances go a block of rows at a time (:func:`_nearest_block`)."""
    Ct = np.ascontiguousarray(C.T)
    k = C.shape[0]
    d = X.shape[1]
    ok = np.empty(BLOCK, np.bool_)
    xs = np.empty(BLOCK)
    dist = np.empty((k, BLOCK))
    b1 = np.empty(BLOCK)
    b2 = np.empty(BLOCK)
    b3 = np.empty(BLOCK)
    a1 = np.empty(BLOCK, np.int64)
    a2 = np.empty(BLOCK, np.int64)
    blk = (ok, xs, dist, b1, b2, b3, a1, a2)
    n = X.shape[0]
    for i0 in range(0, n, BLOCK):
        m = min(BLOCK, n - i0)
        _nearest_block(X, i0, m, Ct, blk)
        for j in range(m):
            i = i0 + j
            if not ok[j] or (use_mask and not mask[i]):
                lab[i] = invalid
                continue
            a, s = a1[j], a2[j]
            r1 = np.sqrt(b1[j])
            g2 = ((np.sqrt(b2[j]) - r1) * (1.0 - GAP_TOL) - GAP_TOL * r1) * scale
            g3 = ((np.sqrt(b3[j]) - r1) * (1.0 - GAP_TOL) - GAP_TOL * r1) * scale
            k2, k3 = _keys(a, s, g2, g3, drift, far, two)
            lab[i], key3[i] = a, k3
            if two:
                sec[i], key2[i] = s, k2
            N[a] += 1.0
            for c in range(d):
                S[a, c] += X[i, c]


@njit(**_OPTS)
def update_all(
    X,
    C,
    drift,
    far,
    lab,
    sec,
    key2,
    key3,
    two,
    S,
    N,
    invalid,
    margin,
    cand,
    m,
    offset,
    scale,
):
    """One iteration over every row: rows whose keys ran out are assigned again
    (moving their sums when their cluster changes). The rows that will be due
    once the drifts grow by ``margin`` are listed in ``cand`` from its entry ``m``
    on (as ``offset + i``, as many as fit). Returns the number of rows that
    changed cluster, the new ``m`` (more than ``cand.size`` when the list
    overflowed) and the change of the inertia by the rows that changed cluster
    (their squared distances to their new centroid less those to their old one)."""
    Ct = np.ascontiguousarray(C.T)
    dist = np.empty(C.shape[0])
    changed = 0
    gain = 0.0
    cap = cand.size
    for i in range(X.shape[0]):
        a = lab[i]
        if a == invalid:
            continue
        if _due(i, lab, sec, key2, key3, drift, far, 0.0, two):
            b, s, g2, g3 = _three_nearest(X, i, Ct, dist, scale)
            k2, k3 = _keys(b, s, g2, g3, drift, far, two)
            lab[i], key3[i] = b, k3
            if two:
                sec[i], key2[i] = s, k2
            if b != a:
                _move(X, i, a, b, S, N)
                changed += 1
                gain += dist[b] - dist[a]
        if _due(i, lab, sec, key2, key3, drift, far, margin, two):
            if m < cap:
                cand[m] = offset + i
            m += 1
    return changed, m, gain


@njit(**_OPTS)
def update_listed(
    X, C, drift, far, lab, sec, key2, key3, two, S, N, cand, margin, sub, m, scale
):
    """:func:`update_all` restricted to the rows listed in ``cand``: valid while no
    other row can be due (the drifts grew less than the list's margin). The listed
    rows due once the drifts grow by ``margin`` are listed in turn in ``sub`` (if
    it is not empty), from its entry ``m`` on: a shorter list, made without a pass
    over every row. Returns the number of rows that changed cluster, the new
    ``m`` (more than ``sub.size`` when it overflowed) and the change of the
    inertia as for :func:`update_all`."""
    Ct = np.ascontiguousarray(C.T)
    dist = np.empty(C.shape[0])
    changed = 0
    gain = 0.0
    cap = sub.size
    for q in range(cand.size):
        i = cand[q]
        if _due(i, lab, sec, key2, key3, drift, far, 0.0, two):
            a = lab[i]
            b, s, g2, g3 = _three_nearest(X, i, Ct, dist, scale)
            k2, k3 = _keys(b, s, g2, g3, drift, far, two)
            lab[i], key3[i] = b, k3
            if two:
                sec[i], key2[i] = s, k2
            if b != a:
                _move(X, i, a, b, S, N)
                changed += 1
                gain += dist[b] - dist[a]
        if cap > 0 and _due(i, lab, sec, key2, key3, drift, far, margin, two):
            if m < cap:
                sub[m] = i
            m += 1
    return changed, m, gain


@njit(**_OPTS)
def cluster_sums(X, C, lab, S, N, invalid):
    """Add every labelled row to its cluster's sums and counts, from scratch;
    returns the sum of squared distances to ``C[lab]``."""
    inertia = 0.0
    for i in range(X.shape[0]):
        a = lab[i]
        if a == invalid:
            continue
        N[a] += 1.0
        for j in range(X.shape[1]):
            v = np.float64(X[i, j])
            S[a, j] += v
            t = v - C[a, j]
            inertia += t * t
    return inertia


@njit(**_OPTS)
def farthest_row(X, C, lab, invalid):
    """The labelled row farthest from its centroid (the first on ties) and its
    squared distance (-1.0 when no row is labelled)."""
    best = -1.0
    at = -1
    for i in range(X.shape[0]):
        a = lab[i]
        if a == invalid:
            continue
        s = 0.0
        for j in range(X.shape[1]):
            t = np.float64(X[i, j]) - C[a, j]
            s += t * t
        if s > best:
            best = s
            at = i
    return at, best


@njit(**_OPTS)
def relabel(lab, table):
    """``lab[i] = table[lab[i]]`` in place."""
    for i in range(lab.size):
        lab[i] = table[lab[i]]
