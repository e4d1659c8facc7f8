"""Exact k-means of one feature (greyscale, or one channel) on its histogram.

In one dimension the clusters of a Lloyd step are intervals between the midpoints
of consecutive centroids (the thresholds). The values are binned once (one bin
per value for integers, 2**16 bins for floats, by a monotone formula, so that
only the bin a threshold falls in can hold values on both sides of it); Lloyd on
the bins' means gives a close start; exact Lloyd runs on the histogram plus the
values of the few bins that a threshold falls in (one gathering pass, usually);
a labelling pass counts the thresholds below each value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import kernels as K
from .. import one_feature_kernels as OK
from ..parallel import map_spans, spans
from .dp_1d import optimum
from .job import Job
from .ordering import cluster_order, ordered
from .pixels import check_enough_values
from .records import Fit, too_few_values
from .seeding import given_start, seeds, starts_to_refine

#: bins of the one-feature histogram of float data
_BINS_1D = 1 << 16
#: the one-feature starts are seeded on at most this many groups of bins
_SEED_GROUPS_1D = 1 << 12
#: bins gathered on each side of a bin a threshold falls in
_GATHER_MARGIN_1D = 64
#: values farther from 0 than this many times their spread get their inertia
#: from a pass over the pixels (the bins' sums of squares would cancel)
_CANCELLING = 2.0**10
#: an inertia below this share of the values' sum of squares about 0 is taken
#: from a pass over the pixels (made from the bins' sums, it would have lost most
#: of its digits: values a few units in the last place apart, clusters of equal
#: values)
_CANCELLING_INERTIA = 1e-6
#: one-feature Lloyd iterations per kernel call (the stop hook is polled between)
_LLOYD_BATCH_1D = 64


@dataclass(frozen=True)
class OneFeatureFit:
    """One refined start: a Lloyd fixed point on all values when ``converged``."""

    centroids: np.ndarray  #: (k, 1) float64, sorted, in the engine's (scaled) units
    counts: np.ndarray  #: (k,) int64 values per centroid
    inertia: float
    n_iter: int
    converged: bool


@dataclass(frozen=True)
class Hist1:
    """One feature binned by :func:`~.one_feature_kernels.bin1` (``lo``, ``inv``, ``B``
    bins): per bin count, sum and sum of squares (``acc``), per row range the
    counts; ``exact`` when each bin holds a single value (integer data); when
    measured with them, per bin the least and greatest value (``ranges``: inf
    and -inf for an empty bin)."""

    lo: float
    inv: float
    acc: np.ndarray
    part_counts: list
    bins: np.ndarray
    exact: bool
    ranges: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def measure(cls, px, ranges: bool = False) -> Hist1:
        """One bin per value for unsigned integers, else :data:`_BINS_1D` bins
        over the values' range (with their ``ranges`` when asked)."""
        if px.X.dtype.kind == "u":  # one bin per integer value
            lo, inv, exact = 0.0, 1.0, True
            B = 256
            if px.lo_hi is not None:
                mn, mx = (float(v[0]) for v in px.lo_hi)
                lo, B = (mn, int(mx - mn) + 1) if np.isfinite(mn) else (0.0, 1)
            return cls.binned(px, lo, inv, B, exact)
        mn, mx = (float(v[0]) for v in px.lo_hi)
        lo, B, inv = mn, _BINS_1D, 1.0
        if not np.isfinite(mn):
            lo, B = 0.0, 1
        elif mx > mn:
            inv = B / (mx - mn)
        return cls.binned(px, lo, inv, B, ranges=ranges)

    @classmethod
    def binned(cls, px, lo, inv, B, exact=False, ranges=False) -> Hist1:
        """The histogram of ``px``'s valid values in ``B`` bins of
        :func:`~.one_feature_kernels.bin1` (clamped at both ends), with the
        bins' ``ranges`` when asked (in the same pass)."""

        def part(start, stop):
            acc = np.zeros((B, 3))
            size = B if ranges else 1
            mn, mx = np.full(size, np.inf), np.full(size, -np.inf)
            for a, b in px.chunks(start, stop):
                args = (lo, inv, B, acc, ranges, mn, mx)
                OK.hist1_kernel(*px.common(a, b), *args)
            return acc, mn, mx

        accs, lows, highs = zip(*map_spans(part, px.n), strict=True)
        acc = np.sum(accs, axis=0)
        bins = np.flatnonzero(acc[:, 0])
        counts = [p[:, 0].astype(np.int64) for p in accs]
        found = (np.min(lows, axis=0), np.max(highs, axis=0)) if ranges else None
        return cls(lo, inv, acc, counts, bins, exact, found)


class Lloyd1:
    """Exact Lloyd in one dimension over a :class:`Hist1`, gathering the values
    of the bins that thresholds fall in (each gathering strictly grows the set)."""

    def __init__(self, px, hist: Hist1):
        self.px, self.h = px, hist
        B = hist.acc.shape[0]
        self.selected = np.zeros(B, np.bool_)
        pstart, pcount = np.full(B, -1, np.int64), np.zeros(B, np.int64)
        P, W = np.empty(0), np.empty(0)
        if hist.exact:  # every bin is one value with its count: all "gathered"
            b = hist.bins
            P, W = hist.acc[b, 1] / hist.acc[b, 0], hist.acc[b, 0]
            pstart[b], pcount[b] = np.arange(b.size), 1
            self.selected[b] = True
        self.gathered = (pstart, pcount, P, W)

    def _thresholds(self, C) -> np.ndarray:
        return 0.5 * (C[:-1] + C[1:])

    def gather_near(self, starts, extra=()) -> None:
        """Gather the bins within the margin of the starts' thresholds (and of the
        bins ``extra``), in one pass."""
        h, B = self.h, self.h.acc.shape[0]
        centre = [*extra]
        for C in starts:
            t = self._thresholds(np.sort(np.ravel(C)))
            centre.extend(np.clip(((t - h.lo) * h.inv).astype(np.int64), 0, B - 1))
        want = self.selected.copy()
        for b in map(int, centre):
            want[max(b - _GATHER_MARGIN_1D, 0) : b + _GATHER_MARGIN_1D + 1] = True
        want &= h.acc[:, 0] > 0
        if np.any(want & ~self.selected):
            self.gather(want)

    def gather(self, selected) -> None:
        h, px = self.h, self.px
        self.selected = selected
        sel = np.flatnonzero(selected)
        pcount = np.zeros(selected.size, np.int64)
        pcount[sel] = h.acc[sel, 0].astype(np.int64)
        offsets = np.cumsum(pcount) - pcount
        pstart = np.full(selected.size, -1, np.int64)
        pstart[sel] = offsets[sel]
        P = np.empty(int(pcount.sum()))
        cursors, running = {}, offsets
        for (start, _), pc in zip(spans(px.n), h.part_counts, strict=True):
            cursors[start] = np.where(selected, running, -1)
            running = running + np.where(selected, pc, 0)

        def part(start, stop):
            for a, b in px.chunks(start, stop):
                OK.gather1_kernel(
                    *px.common(a, b), h.lo, h.inv, h.acc.shape[0], cursors[start], P
                )

        map_spans(part, px.n)
        self.gathered = (pstart, pcount, P, np.empty(0))

    def evaluate(self, C) -> tuple[np.ndarray, float]:
        """Counts per cluster and inertia of the assignment to the sorted ``C``."""
        h = self.h
        S, N = np.empty(C.size), np.empty(C.size)
        while True:
            b, inertia = OK.step1(C, h.acc, h.bins, h.lo, h.inv, self.gathered, S, N)
            if b < 0:
                return N.astype(np.int64), inertia
            self.gather_near([C], [b])

    def _reseed(self, C) -> np.ndarray:
        """The means ``C`` with each empty cluster (NaN) moved to the value farthest
        from every centroid; sorted."""
        h = self.h
        empty = np.isnan(C)
        full = np.flatnonzero(~empty)
        C = C.copy()
        C[empty] = C[full[0]]
        for n_placed, a in enumerate(np.flatnonzero(empty)):
            far, far_d = OK.farthest1(C, h.acc, h.bins, self.gathered)
            if far_d <= 0 and not h.exact:  # a bin whose mean is a centroid
                means = h.acc[h.bins, 1] / h.acc[h.bins, 0]
                at = h.bins[np.isin(means, C) & ~self.selected[h.bins]]
                if at.size:
                    self.gather(self.selected | np.isin(np.arange(h.acc.shape[0]), at))
                    far, far_d = OK.farthest1(C, h.acc, h.bins, self.gathered)
            if far_d <= 0:
                raise too_few_values(full.size + n_placed)
            C[a] = far
        return np.sort(C)

    def run(self, C, max_iter: int) -> OneFeatureFit:
        """From ``C`` to a fixed point or ``max_iter`` iterations (a re-seed counts
        as one)."""
        h = self.h
        C = np.sort(np.array(C, dtype=np.float64).ravel())
        n_iter, converged = 0, False
        while n_iter < max_iter:
            self.px.check()
            batch = min(_LLOYD_BATCH_1D, max_iter - n_iter)
            code, it, b, _ = OK.lloyd1(
                C, h.acc, h.bins, h.lo, h.inv, self.gathered, batch
            )
            n_iter += it
            if code == K.NEED_GATHER:
                self.gather_near([C], [b])
            elif code == K.EMPTY_CLUSTER:
                C = self._reseed(C)
                n_iter += 1
            elif code == K.CONVERGED:
                converged = True
                break
        counts, inertia = self.evaluate(C)
        return OneFeatureFit(C[:, None], counts, inertia, n_iter, converged)


def _group_means(hist: Hist1, groups: int) -> tuple:
    """The non-empty bins in at most ``groups`` groups of consecutive bins: the
    groups' means as (m, 1) points, their weights, and a group's width."""
    B = hist.acc.shape[0]
    shift = max(0, (B - 1).bit_length() - (groups.bit_length() - 1))
    group = hist.bins >> shift
    weights = np.bincount(group, weights=hist.acc[hist.bins, 0])
    sums = np.bincount(group, weights=hist.acc[hist.bins, 1])
    used = np.flatnonzero(weights)
    means = (sums[used] / weights[used])[:, None]
    return means, weights[used], (1 << shift) / hist.inv


def _starts(px, hist: Hist1, k, rng, opts, groups=_SEED_GROUPS_1D) -> list:
    """The starts worth refining, as (inertia, (k, 1) centroids): the given
    ``init``, or the optimum of the bins' means (binned floats), or seeds on at
    most ``groups`` groups of bins; then Lloyd on the bins' means."""
    means, weights, width = _group_means(hist, groups)
    if opts.init is not None:
        starts = [(0.0, given_start(px, opts.init, k))]
    elif not hist.exact and hist.bins.size >= k:  # the bins' optimum: one start
        w = hist.acc[hist.bins, 0]
        starts = [optimum(hist.acc[hist.bins, 1] / w, w, k)]
    else:
        starts = seeds(means, weights, k, rng, opts.n_init, opts.max_iter, px.check)
    starts = starts_to_refine(starts, opts.n_refine, width)
    if not hist.exact:  # Lloyd on the bins' means first: close to the fixed point
        w, sums = hist.acc[hist.bins, 0], hist.acc[hist.bins, 1]
        x = sums / w
        cw = np.concatenate([[0.0], np.cumsum(w)])
        cs = np.concatenate([[0.0], np.cumsum(sums)])
        for _, C0 in starts:
            C1 = np.sort(C0.ravel())
            OK.lloyd1_points(C1, x, cw, cs, opts.max_iter)
            C0[:, 0] = C1
    return starts


def refine(
    px, hist: Hist1, k: int, starts, max_iter: int, n_valid: int, optimal=False
) -> Fit:
    """Exact Lloyd from each start on the histogram and the values of the bins
    that thresholds fall in; the best fixed point, its pixels labelled
    (``optimal``: the start is the global optimum, which Lloyd keeps)."""
    lloyd = Lloyd1(px, hist)
    lloyd.gather_near([C0 for _, C0 in starts])
    runs = (lloyd.run(C0, max_iter) for _, C0 in starts)
    best = min(runs, key=lambda fit: fit.inertia)  # the first on ties
    order = cluster_order(best.centroids, best.counts)
    lut = np.empty(k, np.uint8 if k < 255 else np.uint16)
    lut[order] = np.arange(1, k + 1)
    t = lloyd._thresholds(best.centroids[:, 0])
    labels = np.empty(px.n, lut.dtype)

    def part(start, stop):
        for a, b in px.chunks(start, stop):
            OK.label1_kernel(*px.common(a, b), t, lut, labels[a:b])

    map_spans(part, px.n)
    fit = ordered(best, order, labels, n_valid)
    if sums_cancel(hist, fit.inertia):  # per-pixel distances, not the bins' sums
        fit = replace(fit, inertia=px.label_stats(labels, fit.centroids).inertia)
    return replace(fit, optimal=optimal and fit.converged)


def sums_cancel(hist: Hist1, inertia: float) -> bool:
    """Whether the values lie so far from 0 for their spread, or ``inertia`` is
    so small beside their squares, that an inertia made from the bins' sums of
    squares would lose digits to cancellation."""
    b = hist.bins
    if b.size == 0:
        return False
    if inertia < _CANCELLING_INERTIA * hist.acc[b, 2].sum():
        return True
    lo = hist.acc[b[0], 1] / hist.acc[b[0], 0]
    hi = hist.acc[b[-1], 1] / hist.acc[b[-1], 0]
    return max(abs(lo), abs(hi)) > _CANCELLING * (hi - lo)


def measured(px, k: int, ranges: bool = False) -> tuple[Hist1, int]:
    """The histogram of the one-feature pixels ``px`` (with its bins' ``ranges``
    when asked, for binned values) and the number of valid pixels, checked to
    hold ``k`` distinct values."""
    if px.lo_hi is None and px.X.dtype != np.uint8:
        # bins by the value range (measured with the magnitudes' checks and
        # scaling)
        px.grid = px.make_grid()
    hist = Hist1.measure(px, ranges)
    n_valid = int(hist.acc[:, 0].sum())
    check_enough_values(px, hist.bins, n_valid, k)
    return hist, n_valid


class Histogram1D:
    """Exact Lloyd on the histogram of one feature: takes any such pixels."""

    name = "histogram (one feature)"

    def applies(self, job: Job) -> bool:
        return job.options.method == "exact" and job.px.d == 1

    def fit(self, job: Job) -> Fit:
        px, k, opts = job.px, job.k, job.options
        hist, n_valid = measured(px, k)
        starts = _starts(px, hist, k, job.rng, opts)
        return refine(px, hist, k, starts, opts.max_iter, n_valid)
