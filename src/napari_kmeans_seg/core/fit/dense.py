"""Exact Lloyd iterations on every pixel, for images where nearly every pixel is
distinct (16-bit fluorescence with shot noise, float data after processing).

There the engine's cells (see :mod:`.cells`) do not help: most of them straddle a
boundary between clusters, and gathering their pixels would copy the image. Here
each pixel keeps its own state instead (its cluster, its second-nearest centroid
and two distance bounds, about 10 bytes: see :mod:`.dense_kernels`), and an
iteration looks again only at the pixels whose bounds ran out. Late iterations,
where centroids barely move, go over a short list of the pixels close to a
boundary rather than over the image.

The start is moved closer first: Lloyd to a fixed point on one pixel in 64, then
one in 8 (copies of 1/64 and 1/8 of the image, spread over every column: see
:func:`sample_rows`), which costs a fraction of the
iterations on all pixels that it saves. The steps from k-means++ starts carry
momentum while that lowers the inertia (each goes to its pixels' means plus a
growing share of the centroids' last move, where plain steps creep along a slow
direction: a collective drift of many clusters, slow to start and slow to end,
as on smooth data at many clusters); this takes about the square root of the
plain steps' number of iterations where they are many (int16 2-channel 2048²,
k = 64, from one start on all pixels: 194 iterations, where plain steps take
1048 and the over-relaxed steps used before took 455). The result is still a
fixed point on all pixels: every valid pixel on its nearest centroid (the first
on ties), every centroid the float64 mean of its pixels, confirmed from sums
made from scratch.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import partial

import numpy as np

from .. import dense_kernels as DK
from ..parallel import in_parallel, in_this_thread
from .convergence import is_fixed_point
from .dense_rows import NoFarthestRow, RowState
from .seeding import plusplus

#: rows of the sample the starts are drawn and compared on
_SEED_ROWS = 1 << 14
#: the finest sample (every this-many-th row) before all rows
_MIN_STEP = 8
#: a sample's iterations stop once one moves at most this share of its rows
_SETTLE = 1e-4
#: rows of the sample that tells whether most values are distinct
_DISTINCT_ROWS = 1 << 14
#: the golden ratio's fractional part: offsets of the sampled rows
_GOLDEN = 0.6180339887498949
#: relative widening of a centroid's move
_MOVE_TOL = 1e-9
#: the momentum of the Lloyd steps: the share of the centroids' last move added to
#: their rows' means, ``t / (t + 3)`` after ``t`` steps that lowered the inertia
#: (Nesterov's schedule), up to this
_MOMENTUM_MAX = 0.9


def _momentum(t: int) -> float:
    """The share of the last move carried by the step after ``t`` steps with
    momentum that lowered the inertia (0: a plain Lloyd step)."""
    return min(t / (t + 3.0), _MOMENTUM_MAX)


@dataclass(frozen=True)
class DenseFit:
    """Where the iterations ended: a Lloyd fixed point on all rows when
    ``converged``."""

    centroids: np.ndarray  #: (k, d) float64
    labels: np.ndarray  #: per row, its cluster (``invalid`` for rows left out)
    invalid: int  #: the label of rows left out (masked, NaN or infinite)
    counts: np.ndarray  #: (k,) int64 rows per cluster
    inertia: float
    n_iter: int
    converged: bool


class _Level(RowState):
    """Lloyd iterations on the rows ``X`` from given centroids."""

    def run(
        self, C, max_iter: int, settle: float = 0.0, *, relax: bool = True
    ) -> DenseFit:
        """Lloyd iterations from ``C`` to a fixed point or ``max_iter`` iterations
        (moving an empty cluster counts as one); with ``settle`` > 0, also until
        an iteration moves at most that share of the rows (close enough, on a
        sample, for the next level to finish).

        With ``relax``, the steps carry momentum while that lowers the inertia
        (see :meth:`_step`): near a fixed point, and along the collective drifts
        of many clusters that smooth data shows at many clusters, the plain
        steps creep (their number grows as the inverse of the slowest rate,
        the momentum's as its square root). A step that raised the inertia is
        taken back and the momentum starts again, from the step back; when
        the first step with momentum after that fails too, from a plain Lloyd
        step (rows moved back and forth by failing steps, which always move
        some, cannot keep the iterations from ending). Every step after one
        that moved no row is a plain Lloyd step, and the fixed point is
        confirmed from sums made from scratch. Without, every step is a plain
        Lloyd step (the fixed point Lloyd's algorithm reaches from ``C``)."""
        C = np.array(C, dtype=np.float64)
        S, N = self.assign(C)
        if N.sum() == 0:  # no valid row (a sample of a sparse mask)
            raise NoFarthestRow(0)
        # t: steps since the momentum started again; prev: the centroids before
        # the last step (the move the momentum carries); back: the means to go
        # back to, from the centroids ``anchor``; resume: whether the momentum
        # goes on from there
        n_iter, t, prev, back, anchor, resume = 0, 0, None, None, None, False
        while True:
            self.check()
            empty = N <= 0  # (a step taken back is taken back first)
            if empty.any() and back is None and n_iter < max_iter:
                C = self._reseed(C, S, N, empty)
                S, N = self.assign(C)
                n_iter, t, prev, back = n_iter + 1, 0, None, None
                continue
            if n_iter >= max_iter:
                return self._result(C, n_iter, *self.exact_sums(C), converged=False)
            beta = _momentum(t) if relax and prev is not None else 0.0
            last = C
            C, changed, dS, dN, back_next = self._step(C, S, N, beta, prev, back)
            n_iter += 1
            S, N = S + dS, N + dN
            if back is None and back_next is None:
                t, prev = t + 1, last
            elif back_next is not None:  # raised the inertia: back next
                t, prev, anchor, resume = 0, None, last, t > 1
            elif resume:  # back on the plain step from ``anchor``: on from there
                t, prev = 1, anchor
            else:  # the first step with momentum failed too: a plain step next
                t, prev = 0, None
            back = back_next
            if 0 < changed <= settle * N.sum():
                return self._result(C, n_iter, *self.exact_sums(C), converged=False)
            if changed == 0:  # sums from scratch: no rounding of differences left
                t = 0  # only a plain step ends on the means
                S, N, inertia = self.exact_sums(C)
                if back is None and is_fixed_point(S / N[:, None], C, N):
                    return self._result(C, n_iter, S, N, inertia, converged=True)

    def _step(self, C, S, N, beta: float, prev, back) -> tuple:
        """One iteration from ``C`` (every row on its nearest centroid, with sums
        ``S``, ``N``) to ``means + beta * (C - prev)`` (the means, a plain Lloyd
        step, when ``beta`` is 0), or to ``back`` if given: the new centroids,
        the rows that changed cluster, the change of the sums, and the means to
        go back to (None if the step stands).

        A step with momentum that raised the inertia is taken back: the next
        step goes to the means before it, where the plain step would have gone
        (Nesterov's momentum with adaptive restart, as in O'Donoghue and
        Candès, 2015)."""
        if back is not None:  # (some cluster may have no rows now)
            M = new = back
        elif beta == 0.0:
            M = new = S / N[:, None]
        else:
            M = S / N[:, None]
            new = M + beta * (C - prev)
        delta = np.sqrt(np.sum((new - C) ** 2, axis=1)) * (1.0 + _MOVE_TOL)
        changed, dS, dN, gain = self.update(new, delta)
        if back is not None or beta == 0.0:
            return new, changed, dS, dN, None
        # the change of the inertia: the centroids moved about the means, then
        # the rows that changed cluster
        moved = np.sum((new - M) ** 2, axis=1) - np.sum((C - M) ** 2, axis=1)
        if float(N @ moved) + gain > 0.0:
            return new, changed, dS, dN, M
        return new, changed, dS, dN, None

    def _reseed(self, C, S, N, empty) -> np.ndarray:
        """Each empty cluster moved, one at a time, to the row farthest from its
        nearest centroid (so never onto a centroid)."""
        full = np.flatnonzero(~empty)
        C = S / np.where(empty, 1.0, N)[:, None]
        C[empty] = C[full[0]]  # out of the way: a copy changes no nearest distance
        for n_placed, a in enumerate(np.flatnonzero(empty)):
            self.assign(C)
            try:
                C[a] = self.farthest(C)
            except NoFarthestRow:
                raise NoFarthestRow(full.size + n_placed) from None
        return C

    def _result(self, C, n_iter, S, N, inertia, *, converged: bool) -> DenseFit:
        return DenseFit(
            C, self.lab, self.invalid, N.astype(np.int64), inertia, n_iter, converged
        )


def _ladder(n: int) -> list[int]:
    """Sample steps from the seeding sample (about _SEED_ROWS rows) down to 1,
    each 8 times finer than the one before; none between :data:`_MIN_STEP` and 1
    (such a sample costs nearly what all rows cost, and holds a copy of them)."""
    steps = []
    step = max(1, n // _SEED_ROWS)
    while step > _MIN_STEP:
        steps.append(step)
        step //= 8
    if n // _SEED_ROWS >= _MIN_STEP:
        steps.append(_MIN_STEP)
    return [*steps, 1]


def _sample(X, mask, use_mask: bool, step: int) -> tuple:
    """One row of each run of ``step`` rows (see :func:`sample_rows`; a copy) and
    its mask."""
    if step == 1:
        return X, mask
    at = sample_rows(X.shape[0], step)
    return X[at], (mask[at] if use_mask else mask)


def sample_rows(n: int, step: int) -> np.ndarray:
    """One row of each run of ``step`` rows, at an offset that moves along the
    golden-ratio (Weyl) sequence: a sample spread over every column of an image,
    whatever its width (every ``step``-th row of an image whose width is a multiple
    of ``step`` would hold a few columns only)."""
    runs = np.arange(n // step)
    offsets = ((runs * _GOLDEN) % 1.0 * step).astype(np.int64)
    return runs * step + offsets


def _starts(X, mask, use_mask: bool, k: int, rng, n_init: int) -> list | None:
    """``n_init`` k-means++ starts drawn on the valid rows of ``X`` (None when they
    hold fewer than ``k`` distinct values)."""
    P = np.asarray(X, dtype=np.float64)
    ok = np.all(np.isfinite(P), axis=1)
    if use_mask:
        ok &= mask
    P = P[ok]
    if not _has_distinct(P, k):
        return None
    return plusplus(P, np.ones(len(P)), k, rng, n_init)


def _has_distinct(P: np.ndarray, k: int) -> bool:
    """Whether the rows ``P`` hold at least ``k`` distinct values (looking no
    further than needed: for most data the first ``k`` rows tell)."""
    found: set = set()
    for start in range(0, len(P), 4 * k):
        found.update(map(tuple, P[start : start + 4 * k].tolist()))
        if len(found) >= k:
            return True
    return False


def _row_hashes(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's bytes (FNV-1 style; equal rows, equal hashes)."""
    raw = np.ascontiguousarray(rows).view(np.uint8).reshape(len(rows), -1)
    h = np.zeros(len(rows), np.uint64)
    for j in range(raw.shape[1]):
        h = (h * np.uint64(1099511628211)) ^ raw[:, j].astype(np.uint64)
    return h


def mostly_distinct(X, mask, use_mask: bool) -> bool:
    """Whether most valid rows of a sample of ``X`` are distinct: data where the
    per-pixel iterations beat the engine's cells. (Rows whose hashes collide count
    as one: a rare undercount, and this only chooses a way to the same kind of
    result.)"""
    rows, m = _sample(X, mask, use_mask, max(1, X.shape[0] // _DISTINCT_ROWS))
    rows = rows[m] if use_mask else rows
    return len(rows) > 0 and 2 * len(np.unique(_row_hashes(rows))) > len(rows)


def fit(
    X, mask, use_mask: bool, k: int, *, rng, n_init: int, init, max_iter: int, check
) -> DenseFit | None:
    """Exact Lloyd on all valid rows of ``X``: the best of ``n_init`` k-means++
    starts (or ``init``) on a sample of rows, then iterations on ever larger
    samples (see :func:`_ladder`), the last on all rows to a fixed point. None
    when the seeding sample holds fewer than ``k`` distinct valid values (the
    caller then takes another way). From a given ``init`` every step is a plain
    Lloyd step; from k-means++ starts the steps carry momentum (see
    :meth:`_Level.run`).

    Raises
    ------
    NoFarthestRow
        If a cluster became empty and every valid row lies on a centroid.
    """
    C = _approach(
        X,
        mask,
        use_mask,
        k,
        rng=rng,
        n_init=n_init,
        init=init,
        max_iter=max_iter,
        check=check,
    )
    if C is None:
        return None
    # given starting centroids: Lloyd's own fixed point from them, as elsewhere
    relax = init is None
    return _Level(X, mask, use_mask, k, check).run(C, max_iter, relax=relax)


def sampled_start(X, mask, use_mask, k, *, rng, n_init, max_iter, check):
    """The best of ``n_init`` k-means++ starts settled on the two smallest samples
    of the rows (a start for another way of fitting); None as for :func:`fit`."""
    return _approach(
        X,
        mask,
        use_mask,
        k,
        rng=rng,
        n_init=n_init,
        init=None,
        max_iter=max_iter,
        check=check,
        n_levels=2,
    )


def _approach(
    X, mask, use_mask, k, *, rng, n_init, init, max_iter, check, n_levels=None
):
    """Centroids close to a fixed point on all rows, from samples of the rows
    (whose copies are freed on return; the ``n_levels`` smallest, or all but the
    rows themselves); None as for :func:`fit`.

    The starts settle on the smallest sample, and the best goes on through the
    larger samples."""
    steps = _ladder(X.shape[0])
    steps = [*steps[:-1][:n_levels], 1]
    if init is not None:
        candidates = [np.asarray(init, dtype=np.float64)]
    else:
        rows, m = _sample(X, mask, use_mask, steps[0])
        candidates = _starts(rows, m, use_mask, k, rng, n_init)
        if candidates is None:
            return None
    best = None
    for step in steps[:-1]:
        rows, m = _sample(X, mask, use_mask, step)
        fits = _settle_all(
            rows, m, use_mask, k, candidates, max_iter, check, relax=init is None
        )
        if not fits:  # a sample too poor for k clusters: go on as we are
            break
        best = min(fits, key=lambda f: f.inertia).centroids  # the first on ties
        candidates = [best]
    return best if best is not None else candidates[0]


def _settle_all(rows, mask, use_mask, k, starts, max_iter, check, *, relax) -> list:
    """Each start's iterations on ``rows`` until they settle; those that ran out
    of rows to move an empty cluster to are left out. A small sample runs one
    start per thread; a larger one, one start after the other on all threads (one
    state in memory at a time)."""
    small = len(rows) <= _SEED_ROWS * 2

    def attempt(C):
        with in_this_thread() if small else contextlib.nullcontext():
            try:
                level = _Level(rows, mask, use_mask, k, check)
                return level.run(C, max_iter, settle=_SETTLE, relax=relax)
            except NoFarthestRow:
                return None

    calls = [partial(attempt, C) for C in starts]
    fits = in_parallel(calls) if small else [call() for call in calls]
    return [f for f in fits if f is not None]


def labels_in_place(fit: DenseFit, perm: np.ndarray) -> np.ndarray:
    """``fit.labels`` turned, in place, into ``perm[cluster] + 1`` (0 for the rows
    left out)."""
    table = np.zeros(fit.invalid + 1, fit.labels.dtype)
    table[: perm.size] = perm + 1
    DK.relabel(fit.labels, table)
    return fit.labels
