"""The per-row state of the per-pixel Lloyd iterations (:mod:`.dense`) and the
passes over it: each row's cluster, its second-nearest centroid and two distance
bounds (about 10 bytes: see :mod:`..dense_kernels`), and the lists of rows near
a boundary that late iterations go over instead of the image."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from .. import dense_kernels as DK
from ..parallel import chunks, in_parallel, spans

#: at most this fraction of a range's rows go in its long list, and in its short
_LIST_SHARE = 16
_SHORT_SHARE = 128
_NO_LIST = np.empty(0, np.int32)
#: bytes per pixel of the state with two keys, and with one (with the lists)
_TWO_KEYS_BYTES = 10.25
_ONE_KEY_BYTES = 5.25
#: a list (long, short) is first made to last while the drifts grow by this many
#: times the last move; at most by the second
_REACH = (8.0, 2.0)
_MAX_REACH = (1024.0, 64.0)


class NoFarthestRow(Exception):
    """Every row lies on a centroid: an empty cluster has nowhere to go."""

    def __init__(self, n_full: int):
        super().__init__(n_full)
        self.n_full = n_full  #: clusters that still have rows


def state_bytes(n_features: int, itemsize: int) -> float | None:
    """Bytes per pixel of the per-pixel state when it fits in the input's own size
    (two keys where the input has room for them, else one), or None."""
    room = n_features * itemsize
    for nbytes in (_TWO_KEYS_BYTES, _ONE_KEY_BYTES):
        if nbytes <= room:
            return nbytes
    return None


class RowState:
    """The per-row state of Lloyd iterations on the rows ``X``, and its passes."""

    def __init__(self, X, mask, use_mask: bool, k: int, check: Callable):
        n, d = X.shape
        self.X, self.mask, self.use_mask = X, mask, use_mask
        self.k, self.check = k, check
        dtype = np.uint8 if k < 255 else np.uint16
        self.invalid = int(np.iinfo(dtype).max)
        self.two = state_bytes(d, X.dtype.itemsize) == _TWO_KEYS_BYTES
        size = n if self.two else 1  # one key: no second centroid nor its key
        self.lab = np.empty(n, dtype)
        self.sec = np.empty(size, dtype)
        self.key2 = np.empty(size, np.float32)
        self.key3 = np.empty(n, np.float32)
        self.parts = spans(n)
        #: per range, the long and the short list of rows near a boundary
        self.cand = [
            np.empty(max(1024, (b - a) // _LIST_SHARE), np.int32) for a, b in self.parts
        ]
        self.cand2 = [
            np.empty(max(256, (b - a) // _SHORT_SHARE), np.int32) for a, b in self.parts
        ]
        self.reach = list(_REACH)

    def _rows(self, a: int, b: int) -> tuple:
        """The kernels' row arguments for the rows ``[a, b)``: rows, ``lab``,
        ``sec``, ``key2``, ``key3``, ``two``."""
        two = self.two
        return (
            self.X[a:b],
            self.lab[a:b],
            self.sec[a:b] if two else self.sec,
            self.key2[a:b] if two else self.key2,
            self.key3[a:b],
            two,
        )

    def _each(self, fn) -> list:
        """``fn(a, b, S, N)`` for each range ``[a, b)`` with zeroed sums, in
        parallel; returns their results and the sums, added in range order."""
        k, d = self.k, self.X.shape[1]

        def call(a, b):
            S, N = np.zeros((k, d)), np.zeros(k)
            return fn(a, b, S, N), S, N

        out = in_parallel([partial(call, a, b) for a, b in self.parts])
        S, N = np.zeros((k, d)), np.zeros(k)
        for _, dS, dN in out:
            S += dS
            N += dN
        return [r for r, _, _ in out], S, N

    def assign(self, C) -> tuple[np.ndarray, np.ndarray]:
        """Every row assigned from scratch; the drifts start at 0, and the keys'
        scale is chosen from ``C`` (see :func:`_key_scale`)."""
        self.drift, self.far = np.zeros(self.k), 0.0
        self.scale = _key_scale(C)
        self.long = self.short = None  # no lists yet

        def fn(a, b, S, N):
            for c0, c1 in chunks(a, b, self.check):
                X, *state = self._rows(c0, c1)
                mask = self.mask[c0:c1] if self.use_mask else self.mask
                DK.assign_all(
                    X,
                    mask,
                    self.use_mask,
                    C,
                    self.drift,
                    0.0,
                    *state,
                    S,
                    N,
                    self.invalid,
                    self.scale,
                )

        return self._each(fn)[1:]

    def exact_sums(self, C) -> tuple[np.ndarray, np.ndarray, float]:
        """Cluster sums and counts from scratch, and the inertia about ``C``."""

        def fn(a, b, S, N):
            return sum(
                DK.cluster_sums(self.X[c0:c1], C, self.lab[c0:c1], S, N, self.invalid)
                for c0, c1 in chunks(a, b, self.check)
            )

        inertias, S, N = self._each(fn)
        return S, N, float(sum(inertias))

    def update(self, C, delta) -> tuple[int, np.ndarray, np.ndarray, float]:
        """One iteration after the centroids moved to ``C`` by ``delta``: the rows
        that changed cluster, the change of the sums, and the change of the
        inertia about ``C`` by the rows that changed cluster.

        It goes over the short list if it still holds, else over the long list
        (making a new short one), else over every row (making a new long one).
        The drifts, the margins and the keys are kept multiplied by the keys'
        scale."""
        delta = delta * self.scale  # a power of two: exact
        self.drift = self.drift + delta
        self.far += float(delta.max())
        step = 2.0 * float(delta.max())
        long_holds = self._holds(self.long)  # the short list is made of the long
        if long_holds and self._holds(self.short):
            out, dS, dN = self._each(self._over_list(C, self.cand2, self.short))
        elif long_holds:
            margin = self.reach[1] * step
            out, dS, dN = self._each(
                self._over_list(C, self.cand, self.long, margin, self.cand2)
            )
            self.short = self._made(out, self.cand2, margin, 1)
        else:
            margin = self.reach[0] * step
            out, dS, dN = self._each(self._over_all(C, margin))
            self.long = self._made(out, self.cand, margin, 0)
            self.short = None
        return sum(c for c, _, _ in out), dS, dN, sum(g for _, _, g in out)

    def _made(self, out, lists, margin, which: int) -> tuple | None:
        """The record of lists just made (None if one overflowed: then a shorter
        reach next time, else a longer one)."""
        counts = [m for _, m, _ in out]
        if any(m > c.size for m, c in zip(counts, lists, strict=True)):
            self.reach[which] /= 4.0
            return None
        self.reach[which] = min(self.reach[which] * 2.0, _MAX_REACH[which])
        return (self.drift.copy(), self.far, margin, counts)

    def _over_all(self, C, margin):
        def fn(a, b, S, N):
            cand, m, changed, gain = self.cand[self.parts.index((a, b))], 0, 0, 0.0
            for c0, c1 in chunks(a, b, self.check):
                X, *state = self._rows(c0, c1)
                ch, m, g = DK.update_all(
                    X,
                    C,
                    self.drift,
                    self.far,
                    *state,
                    S,
                    N,
                    self.invalid,
                    margin,
                    cand,
                    m,
                    c0 - a,
                    self.scale,
                )
                changed, gain = changed + ch, gain + g
            return changed, m, gain

        return fn

    def _over_list(self, C, lists, made, margin=0.0, subs=None):
        counts = made[3]

        def fn(a, b, S, N):
            q = self.parts.index((a, b))
            X, *state = self._rows(a, b)
            sub = subs[q] if subs is not None else _NO_LIST
            changed, m, gain = 0, 0, 0.0
            for c0, c1 in chunks(0, counts[q], self.check):
                ch, m, g = DK.update_listed(
                    X,
                    C,
                    self.drift,
                    self.far,
                    *state,
                    S,
                    N,
                    lists[q][c0:c1],
                    margin,
                    sub,
                    m,
                    self.scale,
                )
                changed, gain = changed + ch, gain + g
            return changed, m, gain

        return fn

    def _holds(self, made) -> bool:
        """Whether no row outside these lists can be due: the drifts grew by less
        than the lists' margin since they were made (with room for the rounding
        of the running sums)."""
        if made is None:
            return False
        built_drift, built_far, margin, _ = made
        grown = float(np.max(self.drift - built_drift)) + self.far - built_far
        slack = 8.0 * float(np.spacing(self.far + float(self.drift.max())))
        return grown + slack <= margin * (1.0 - 1e-6)

    def farthest(self, C) -> np.ndarray:
        """The valid row farthest from its centroid (the first on ties)."""

        def fn(a, b, S, N):
            best = (-1.0, -1)
            for c0, c1 in chunks(a, b, self.check):
                i, dist = DK.farthest_row(
                    self.X[c0:c1], C, self.lab[c0:c1], self.invalid
                )
                if dist > best[0]:
                    best = (dist, c0 + i)
            return best

        found = self._each(fn)[0]
        dist, at = max(found, key=lambda f: (f[0], -f[1]))
        if dist <= 0.0:
            raise NoFarthestRow(0)
        return np.asarray(self.X[at], dtype=np.float64)


def _key_scale(C) -> float:
    """A power of two that brings the largest magnitude of the centroids ``C`` to
    [0.5, 1): the scale of the keys, so that they are normal float32 numbers
    whatever the data's magnitude (distance gaps and centroid moves are at most
    about the centroids' spread). Multiplying by it rounds nothing."""
    top = float(np.max(np.abs(C))) if C.size else 0.0
    if not 0.0 < top < np.inf:
        return 1.0
    # within float64's normal range (subnormal centroids: data beyond help)
    return float(np.ldexp(1.0, -min(max(int(np.frexp(top)[1]), -1000), 1000)))
