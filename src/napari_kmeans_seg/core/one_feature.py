"""Exact k-means of one feature (greyscale, or one channel).

In one dimension the clusters of a Lloyd step are intervals between the midpoints
of consecutive centroids (the thresholds). Two ways to an exact fixed point:

- the histogram path: the values are binned once (one bin per value for integers,
  2**16 bins for floats, by a monotone formula, so that only the bin a threshold
  falls in can hold values on both sides of it); Lloyd on the bins' means gives a
  close start; exact Lloyd runs on the histogram plus the values of the few bins
  that a threshold falls in (one gathering pass, usually); a labelling pass counts
  the thresholds below each value;
- for float data (up to 8 clusters), starts from a strided sample of the rows,
  then a single pass that labels the values far from the thresholds, sums them
  per cluster and gathers the values in a window around each threshold: exact
  Lloyd on those sums and values needs no other pass while the thresholds stay
  in their windows (see the section "the fast path").

The general engine (:mod:`.engine`) calls :func:`fit` and lends it its seeding
and checks (:class:`EngineParts`): it imports this module, so this module does
not import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import kernels as K
from . import one_feature_kernels as OK
from .parallel import map_spans, spans

#: bins of the one-feature histogram of float data
_BINS_1D = 1 << 16
#: the one-feature starts are seeded on at most this many groups of bins
_SEED_GROUPS_1D = 1 << 12
#: bins gathered on each side of a bin a threshold falls in
_GATHER_MARGIN_1D = 64
#: one-feature Lloyd iterations per kernel call (the stop hook is polled between)
_LLOYD_BATCH_1D = 64
#: the fast path: at least this many rows, at most this many clusters (beyond,
#: the fixed point on all rows lies farther from the sample's than a window
#: reaches, and passes add up; the pass itself takes up to 32)
_FAST_MIN_ROWS = 1 << 16
_FAST_MAX_K = 8
#: the fast path's starts come from a sample of about this many rows (of one row
#: in this many at least), binned in this many bins
_SAMPLE = 1 << 18
_SAMPLE_STEP = 16
_FAST_BINS = 1 << 12
#: the fast path's starts are seeded on at most this many groups of bins
_FAST_SEED_GROUPS = 1 << 10
#: half the width of a window around a threshold, in sample values on each side
#: (fourfold at each further pass)
_WINDOW_SAMPLES = 320
#: passes of the fast path before the histogram path takes over
_FAST_PASSES = 3


@dataclass(frozen=True)
class EngineParts:
    """What the engine lends this path (see the module's docstring)."""

    seeds: Callable  #: k-means++ and weighted Lloyd starts on weighted points
    starts_to_refine: Callable  #: the starts worth refining exactly
    cluster_order: Callable  #: the order of the clusters in the result
    check_enough_values: Callable  #: raises unless there are k distinct values
    too_few_values: Callable  #: the error for ``n`` distinct values
    #: whether float values of this largest magnitude are clustered as they are
    #: (neither refused as too large nor scaled as too small)
    magnitude_ok: Callable


@dataclass(frozen=True)
class OneFeatureFit:
    """One refined start: a Lloyd fixed point on all values when ``converged``."""

    centroids: np.ndarray  #: (k, 1) float64, sorted, in the engine's (scaled) units
    counts: np.ndarray  #: (k,) int64 values per centroid
    inertia: float
    n_iter: int
    converged: bool


@dataclass(frozen=True)
class _Hist1:
    """One feature binned by :func:`~.one_feature_kernels.bin1` (``lo``, ``inv``, ``B``
    bins): per bin count, sum and sum of squares (``acc``), per row range the
    counts; ``exact`` when each bin holds a single value (integer data)."""

    lo: float
    inv: float
    acc: np.ndarray
    part_counts: list
    bins: np.ndarray
    exact: bool

    @classmethod
    def measure(cls, px, parts: EngineParts) -> _Hist1:
        if px.X.dtype.kind == "u":  # one bin per integer value
            lo, inv, exact = 0.0, 1.0, True
            B = 256
            if px.lo_hi is not None:
                mn, mx = (float(v[0]) for v in px.lo_hi)
                lo, B = (mn, int(mx - mn) + 1) if np.isfinite(mn) else (0.0, 1)
        else:
            mn, mx = (float(v[0]) for v in px.lo_hi)
            lo, B, inv, exact = mn, _BINS_1D, 1.0, False
            if not np.isfinite(mn):
                lo, B = 0.0, 1
            elif mx > mn:
                inv = B / (mx - mn)

        return cls.binned(px, parts, lo, inv, B, exact)

    @classmethod
    def binned(cls, px, parts: EngineParts, lo, inv, B, exact=False) -> _Hist1:
        """The histogram of ``px``'s valid values in ``B`` bins of
        :func:`~.one_feature_kernels.bin1` (clamped at both ends)."""

        def part(start, stop):
            acc = np.zeros((B, 3))
            for a, b in px._chunks(start, stop):
                OK.hist1_kernel(*px._common(a, b), lo, inv, B, acc)
            return acc

        accs = map_spans(part, px.n)
        acc = np.sum(accs, axis=0)
        bins = np.flatnonzero(acc[:, 0])
        counts = [p[:, 0].astype(np.int64) for p in accs]
        return cls(lo, inv, acc, counts, bins, exact)


class _Lloyd1:
    """Exact Lloyd in one dimension over a :class:`_Hist1`, gathering the values
    of the bins that thresholds fall in (each gathering strictly grows the set)."""

    def __init__(self, px, hist: _Hist1, parts: EngineParts):
        self.px, self.h, self.parts = px, hist, parts
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
            self._gather(want)

    def _gather(self, selected) -> None:
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
            for a, b in px._chunks(start, stop):
                OK.gather1_kernel(
                    *px._common(a, b), h.lo, h.inv, h.acc.shape[0], cursors[start], P
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
                    self._gather(self.selected | np.isin(np.arange(h.acc.shape[0]), at))
                    far, far_d = OK.farthest1(C, h.acc, h.bins, self.gathered)
            if far_d <= 0:
                raise self.parts.too_few_values(full.size + n_placed)
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


def _group_means(hist: _Hist1, groups: int) -> tuple:
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


def _starts(
    px, hist: _Hist1, k, rng, opts, parts: EngineParts, groups=_SEED_GROUPS_1D
) -> list:
    """The starts worth refining, as (inertia, (k, 1) centroids): seeds on at most
    ``groups`` groups of bins (or the given ``init``), then Lloyd on the bins'
    means."""
    means, weights, width = _group_means(hist, groups)
    if opts["init"] is not None:
        C0 = np.array(opts["init"], dtype=np.float64).reshape(k, 1)
        starts = [(0.0, px.scaled(C0))]
    else:
        starts = parts.seeds(
            means, weights, k, rng, opts["n_init"], opts["max_iter"], px.check
        )
    starts = parts.starts_to_refine(starts, opts["n_refine"], width)
    if not hist.exact:  # Lloyd on the bins' means first: close to the fixed point
        w, sums = hist.acc[hist.bins, 0], hist.acc[hist.bins, 1]
        x = sums / w
        cw = np.concatenate([[0.0], np.cumsum(w)])
        cs = np.concatenate([[0.0], np.cumsum(sums)])
        for _, C0 in starts:
            C1 = np.sort(C0.ravel())
            OK.lloyd1_points(C1, x, cw, cs, opts["max_iter"])
            C0[:, 0] = C1
    return starts


def _fit_1d(px, hist: _Hist1, k, rng, opts, parts: EngineParts) -> tuple:
    """The exact method for one feature: seeds on groups of bins, exact Lloyd on
    the histogram and the values of the bins that thresholds fall in."""
    starts = _starts(px, hist, k, rng, opts, parts)
    lloyd = _Lloyd1(px, hist, parts)
    lloyd.gather_near([C0 for _, C0 in starts])
    runs = (lloyd.run(C0, opts["max_iter"]) for _, C0 in starts)
    best = min(runs, key=lambda fit: fit.inertia)  # the first on ties
    order = parts.cluster_order(best.centroids, best.counts)
    lut = np.empty(k, np.uint8 if k < 255 else np.uint16)
    lut[order] = np.arange(1, k + 1)
    t = lloyd._thresholds(best.centroids[:, 0])
    labels = np.empty(px.n, lut.dtype)

    def part(start, stop):
        for a, b in px._chunks(start, stop):
            OK.label1_kernel(*px._common(a, b), t, lut, labels[a:b])

    map_spans(part, px.n)
    return best, order, labels


# ------------------------------------------------------------------ the fast path
# For float data: the starts come from a sample of the rows (every n/2**18-th):
# seeds and Lloyd on it; around each of their thresholds a window holding a few
# hundred sample values. Then one pass labels every value far from the
# thresholds, sums those values per cluster and gathers the values in the windows
# (and beyond the sample's range, so that the magnitudes are checked on all
# values); exact Lloyd runs on those sums plus the gathered values while each
# threshold stays in its window. A threshold that leaves its window costs one more
# pass around the new thresholds; after a few, the histogram path takes over.


@dataclass(frozen=True)
class _Pass:
    """What :func:`~.one_feature_kernels.core_pass` found, all ranges merged."""

    ref: np.ndarray  #: per cluster, the reference its core sums are taken from
    acc: np.ndarray  #: per cluster: core count, sum of ``x - ref``, of its square
    values: np.ndarray  #: the gathered values (float64), sorted
    shift: float  #: a gathered value, near the others
    prefix: np.ndarray  #: the prefix sums of ``values - shift``, from 0
    rows: np.ndarray  #: the gathered values' rows and values (in the pixels'
    row_values: np.ndarray  #: dtype), in row order
    lo: np.ndarray  #: per threshold, its window (float64, as the pass compared)
    hi: np.ndarray


def _applies(px, k: int, opts: dict) -> bool:
    return (
        px.X.dtype.kind == "f"
        and 2 <= k <= _FAST_MAX_K
        and opts["init"] is None
        and px.n >= _FAST_MIN_ROWS
    )


def _edges(starts, half, lo, hi, dtype) -> tuple:
    """The pass's ``2k`` edges, in ``dtype``: the value range and a window of
    ``half`` width around each threshold of every start (windows kept apart at
    the midpoints between thresholds); and the windows as compared (float64)."""
    t = np.array([0.5 * (C[:-1] + C[1:]) for C in starts])
    t_lo, t_hi = t.min(axis=0), t.max(axis=0)
    mids = np.concatenate([[lo], 0.5 * (t_hi[:-1] + t_lo[1:]), [hi]])
    L = np.clip(t_lo - half, mids[:-1], t_lo)
    H = np.clip(t_hi + half, t_hi, mids[1:])
    edges = np.empty(2 * len(starts[0]), np.float64)
    edges[0], edges[-1] = lo, hi
    edges[1:-1:2], edges[2:-1:2] = L, H
    cast = edges.astype(dtype)
    # lower edges rounded down, upper ones up: each window still holds its threshold
    down = np.arange(cast.size) % 2 == 1
    cast = np.where(
        down & (cast > edges), np.nextafter(cast, dtype.type(-np.inf)), cast
    )
    cast = np.where(
        ~down & (cast < edges), np.nextafter(cast, dtype.type(np.inf)), cast
    )
    edges = np.maximum.accumulate(cast)
    e64 = edges.astype(np.float64)
    # the pass takes the edges four at a time from any one: +inf, above every
    # value, fills up (and -0.0 is 0.0, whose key is above -0.0's)
    padded = np.full(edges.size + 3, np.inf, dtype)
    padded[: edges.size] = edges + dtype.type(0.0)
    return padded, e64[1:-1:2], e64[2:-1:2]


def _keys(x: np.ndarray) -> tuple[np.ndarray, int]:
    """The bits of the (contiguous) float array ``x`` as integers, and the shift
    that gives their sign (see :func:`~.one_feature_kernels.core_pass`)."""
    return x.view(np.int32 if x.dtype == np.float32 else np.int64), 8 * x.itemsize - 1


def _edge_keys(edges: np.ndarray) -> np.ndarray:
    """The keys of the edges (int64): ordered as the edges."""
    u, nb = _keys(edges)
    u = u.astype(np.int64)
    return u ^ ((u >> nb) & ((1 << nb) - 1))


def _core_pass(px, x, C, edges, lo, hi, share, labels) -> _Pass:
    """Run :func:`~.one_feature_kernels.core_pass` over all rows of ``x`` (the
    values, contiguous; ``share``: the expected fraction of rows gathered, for
    the first room made)."""
    k, ref = C.size, np.ascontiguousarray(C)
    u, nb = _keys(x)
    keys = _edge_keys(edges)

    def part(start, stop):
        acc, g = np.zeros((k, 3)), 0
        room = int((stop - start) * min(1.0, 2 * share + 1e-3)) + 2 * OK._BLOCK
        rows, vals = np.empty(room, np.int64), np.empty(room, x.dtype)
        for a, b in px._chunks(start, stop):
            ms = px.mask[a:b] if px.use_mask else px.mask
            while True:  # a chunk gathering more than there is room for: again
                got = np.zeros((k, 3))
                found = OK.core_pass(
                    x[a:b],
                    u[a:b],
                    nb,
                    ms,
                    px.use_mask,
                    edges,
                    keys,
                    ref,
                    labels[a:b],
                    got,
                    rows[g:],
                    vals[g:],
                )
                if found >= 0:
                    break
                room = max(2 * rows.size, g + (b - a))  # enough for the whole chunk
                rows = np.concatenate([rows[:g], np.empty(room - g, np.int64)])
                vals = np.concatenate([vals[:g], np.empty(room - g, x.dtype)])
            acc += got
            rows[g : g + found] += a
            g += found
        return acc, rows[:g], vals[:g]

    found = map_spans(part, px.n)
    values = np.concatenate([f[2] for f in found])
    ordered = np.sort(values)
    # sums from a value near the others: exact Lloyd tells apart values far
    # below the magnitude of their sums (1e6 + noise of 1e-3)
    shift = float(ordered[ordered.size // 2]) if ordered.size else 0.0
    return _Pass(
        ref=ref,
        acc=np.sum([f[0] for f in found], axis=0),
        values=ordered.astype(np.float64),
        shift=shift,
        prefix=OK.prefix_sums(ordered, shift),
        rows=np.concatenate([f[1] for f in found]),
        row_values=values,
        lo=lo,
        hi=hi,
    )


def _means(ps: _Pass, split) -> np.ndarray:
    """The float64 means of the clusters with the gathered values ``split``,
    summed from the references."""
    n = ps.acc[:, 0] + np.diff(split)
    gathered = [
        np.sum(ps.values[split[a] : split[a + 1]] - ps.ref[a])
        for a in range(ps.ref.size)
    ]
    return ps.ref + (ps.acc[:, 1] + np.array(gathered)) / n


def _solve(ps: _Pass, C, max_iter: int) -> tuple:
    """Exact Lloyd from ``C`` on a pass's findings: (code, iterations, centroids,
    split of the sorted gathered values per cluster)."""
    sh, n_core = ps.shift, ps.acc[:, 0]
    s_core = n_core * (ps.ref - sh) + ps.acc[:, 1]  # all from the shift
    rel, lo, hi = ps.values - sh, ps.lo - sh, ps.hi - sh
    n_iter = 0
    # the means summed from the references may differ from those of the prefix
    # sums in the last bits: a few more steps if they move a value
    for _ in range(3):
        C = C - sh
        code, it = OK.window_lloyd(
            C, n_core, s_core, rel, ps.prefix, lo, hi, max_iter - n_iter
        )
        C, n_iter = C + sh, n_iter + it
        if code != K.CONVERGED:
            return code, n_iter, C, None
        t = 0.5 * (C[:-1] + C[1:])
        inner = np.searchsorted(ps.values, t, "right")
        split = np.concatenate([[0], inner, [ps.values.size]])
        C = _means(ps, split)
        t = 0.5 * (C[:-1] + C[1:])
        inside = np.all((t >= ps.lo) & (t <= ps.hi))
        if inside and np.array_equal(np.searchsorted(ps.values, t, "right"), inner):
            return code, n_iter, C, split
    return K.MAX_ITER, n_iter, C, None


def _inertia(ps: _Pass, C, split) -> float:
    """The inertia of the fixed point ``C`` with the gathered values ``split``."""
    n_core = ps.acc[:, 0]
    d = C - ps.ref
    core = ps.acc[:, 2] - 2 * d * ps.acc[:, 1] + n_core * d * d
    inertia = float(np.sum(np.maximum(core, 0)))
    for a in range(C.size):
        inertia += float(np.sum((ps.values[split[a] : split[a + 1]] - C[a]) ** 2))
    return inertia


def _finish(ps: _Pass, C, split, inertia, labels, n_iter, parts) -> tuple:
    """Label the gathered values, count and order the clusters: ``(fit, order,
    labels, n_valid)``."""
    k = C.size
    counts = ps.acc[:, 0].astype(np.int64) + np.diff(split)
    t = 0.5 * (C[:-1] + C[1:])
    OK.label_rows(labels, ps.rows, ps.row_values, t)
    order = parts.cluster_order(C[:, None], counts)
    if np.any(order != np.arange(k)):
        relabel = np.zeros(k + 1, labels.dtype)
        relabel[order + 1] = np.arange(1, k + 1)
        np.take(relabel, labels, out=labels)
    fit_ = OneFeatureFit(C[:, None], counts, inertia, n_iter, True)
    return fit_, order, labels, int(counts.sum())


def _share(sample: np.ndarray, edges) -> float:
    """The fraction of the (sorted) sample a pass with these edges gathers: the
    values in the windows and beyond the outer edges."""
    at = np.searchsorted(sample, edges.astype(np.float64), "right")
    at[-3:] = sample.size  # the padding +inf
    inside = np.sum(at[1::2] - at[0::2][: at[1::2].size])
    return float(1.0 - inside / sample.size)


def _half_widths(sample: np.ndarray, starts, q: int) -> np.ndarray:
    """Per threshold, half the width of its window: reaching ``q`` sample values
    on each side of the threshold of every start."""
    t = np.array([0.5 * (C[:-1] + C[1:]) for C in starts])
    pos = np.searchsorted(sample, t)
    below = sample[np.clip(pos - q, 0, sample.size - 1)]
    above = sample[np.clip(pos + q, 0, sample.size - 1)]
    return np.maximum(t - below, above - t).max(axis=0)


def _refine(px, sample, starts, max_iter, parts) -> tuple | None:
    """From the sorted starts, passes until exact Lloyd converges inside the
    windows (a pass serves every start still moving): the best fixed point as
    ``(fit, order, labels, n_valid)``, or None."""
    dt = px.X.dtype.type
    lo, hi = sample[0], sample[-1]
    below = float(np.nextafter(dt(lo), dt(-np.inf)))  # the lowest value is core
    q = _WINDOW_SAMPLES
    x = np.ascontiguousarray(px.X[:, 0])  # one channel of several: a copy
    best, labels = None, np.empty(px.n, np.uint8)
    for _ in range(_FAST_PASSES):
        half = _half_widths(sample, starts, q)
        edges, wlo, whi = _edges(starts, half, below, hi, px.X.dtype)
        share = _share(sample, edges)
        ps = _core_pass(px, x, starts[0], edges, wlo, whi, share, labels)
        if not _in_range(ps, lo, hi, parts):
            return None  # values to refuse or to scale: the histogram path's care
        done, moved = [], []
        for C in starts:
            code, it, C, split = _solve(ps, C, max_iter)
            if code == K.CONVERGED:
                done.append((_inertia(ps, C, split), C, split, it))
            elif code == K.NEED_GATHER:
                moved.append(C)
            else:  # an empty cluster or no convergence: the histogram path's care
                return None
        if done:
            inertia, C, split, it = min(done, key=lambda d: d[0])
            if best is None or inertia < best[0].inertia:
                best = _finish(ps, C, split, inertia, labels, it, parts)
                labels = np.empty(px.n, np.uint8)  # that one is the best's now
        if not moved:
            return best
        starts, q = moved, 4 * q
    return None  # a start still unfinished: the histogram path refines them all


def _in_range(ps: _Pass, lo: float, hi: float, parts) -> bool:
    """Whether the values' magnitudes need neither a refusal nor a scaling (the
    values beyond the sample's range were all gathered)."""
    if ps.values.size:
        lo, hi = min(lo, ps.values[0]), max(hi, ps.values[-1])
    return parts.magnitude_ok(max(abs(lo), abs(hi)))


def _sample(px) -> np.ndarray:
    """The valid values of every ``step``-th row, sorted, in float64 (``step``
    odd, so as not to follow the rows of an image whose width is a power of
    two)."""
    step = max(_SAMPLE_STEP, px.n // _SAMPLE) | 1
    v = px.X[::step, 0]
    ok = np.isfinite(v)
    if px.use_mask:
        ok &= px.mask[::step]
    # sorted in the pixels' dtype (faster), searched in float64 (each search of a
    # float32 array for a float64 value would convert it)
    return np.sort(v if ok.all() else v[ok]).astype(np.float64)


def _sample_hist(sample: np.ndarray, cs: np.ndarray) -> _Hist1:
    """The (sorted) sample in :data:`_FAST_BINS` bins: counts and sums, by a
    search of the bins' edges (``cs``: the sample's prefix sums, from 0)."""
    lo, B = float(sample[0]), _FAST_BINS
    inv = B / (float(sample[-1]) - lo)
    at = np.searchsorted(sample, lo + np.arange(1, B) / inv, "left")
    at = np.concatenate([[0], at, [sample.size]])
    acc = np.zeros((B, 3))
    acc[:, 0] = np.diff(at)
    acc[:, 1] = np.diff(cs[at])
    return _Hist1(lo, inv, acc, [], np.flatnonzero(acc[:, 0]), False)


def _sample_lloyd(sample: np.ndarray, cs: np.ndarray, starts, max_iter: int) -> list:
    """The starts moved by Lloyd on the (sorted) sample, each value a point
    (``cs``: the sample's prefix sums, from 0), sorted; those that meet, once;
    as (inertia on the sample, centroids), best first."""
    cw = np.empty(0)  # every value a point of weight 1
    moved: list[tuple] = []
    for C in starts:
        OK.lloyd1_points(C, sample, cw, cs, max_iter)
        C.sort()  # an empty cluster keeps its place, which may be out of order
        if not any(np.array_equal(C, other) for _, other in moved):
            at = np.searchsorted(sample, 0.5 * (C[:-1] + C[1:]), "right")
            moved.append((OK.sorted_inertia(sample, at, C), C))
    return sorted(moved, key=lambda m: m[0])


def _sample_starts(px, sample, cs, k, rng, opts, parts) -> list:
    """The fast path's starts, sorted: k-means++ on groups of the sample's bins,
    then Lloyd on the bins' means and on the sample itself; those worth
    refining (as the engine picks them among its starts)."""
    hist = _sample_hist(sample, cs)
    if hist.bins.size < k:
        return []
    means, weights, width = _group_means(hist, _FAST_SEED_GROUPS)
    # no Lloyd on the groups: Lloyd on the sorted sample costs less per step
    seeds = parts.seeds(means, weights, k, rng, opts["n_init"], 0, px.check)
    starts = [np.sort(C[:, 0]) for _, C in seeds]
    # Lloyd on the bins' means first: most steps at a fraction of the cost
    w, sums = hist.acc[hist.bins, 0], hist.acc[hist.bins, 1]
    cw, cb = OK.prefix_sums(w, 0.0), OK.prefix_sums(sums, 0.0)
    for C in starts:
        OK.lloyd1_points(C, sums / w, cw, cb, opts["max_iter"])
    moved = _sample_lloyd(sample, cs, starts, opts["max_iter"])
    picked = parts.starts_to_refine(
        [(inertia, C[:, None]) for inertia, C in moved], opts["n_refine"], width
    )
    return [C[:, 0] for _, C in picked]


def _fit_fast(px, k, rng, opts, parts) -> tuple | None:
    """The fast path (see above), or None where the histogram path must run."""
    sample = _sample(px)
    if sample.size < 2 * k or not sample[-1] > sample[0]:
        return None
    if not parts.magnitude_ok(max(abs(sample[0]), abs(sample[-1]))):
        return None
    cs = OK.prefix_sums(sample, 0.0)
    starts = _sample_starts(px, sample, cs, k, rng, opts, parts)
    if not starts:
        return None
    return _refine(px, sample, starts, opts["max_iter"], parts)


def fit(px, k: int, rng, opts: dict, parts: EngineParts) -> tuple:
    """The exact method on the one-feature pixels ``px`` (an engine ``Pixels``):
    ``(fit, order, labels, n_valid)``, as the engine's other methods return."""
    if _applies(px, k, opts):
        state = rng.bit_generator.state
        found = _fit_fast(px, k, rng, opts, parts)
        if found is not None:
            return found
        rng.bit_generator.state = state  # the histogram path draws the same starts
    if px.lo_hi is None and px.X.dtype != np.uint8:
        # the histogram path bins by the value range (measured with the
        # magnitudes' checks and scaling)
        px.grid = px._make_grid()
    hist = _Hist1.measure(px, parts)
    n_valid = int(hist.acc[:, 0].sum())
    parts.check_enough_values(px, hist.bins, n_valid, k)
    fit_, order, labels = _fit_1d(px, hist, k, rng, opts, parts)
    return fit_, order, labels, n_valid
