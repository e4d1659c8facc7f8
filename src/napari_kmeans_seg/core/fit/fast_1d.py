"""Exact k-means of one feature of float data (up to 8 clusters) in about one pass.

The starts come from a sample of the rows (every n/2**18-th): seeds and Lloyd on
it; around each of their thresholds (the midpoints between consecutive
centroids) a window holding a few hundred sample values. Then one pass labels
every value far from the thresholds, sums those values per cluster and gathers
the values in the windows (and beyond the sample's range, so that the magnitudes
are checked on all values); exact Lloyd runs on those sums plus the gathered
values while each threshold stays in its window. A threshold that leaves its
window costs one more pass around the new thresholds; after a few, this way
declines and the histogram's (:mod:`.histogram_1d`) takes over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import kernels as K
from .. import one_feature_kernels as OK
from ..parallel import map_spans
from ..values import magnitude_ok
from .histogram_1d import Hist1, OneFeatureFit, _group_means
from .job import Job
from .ordering import cluster_order, ordered
from .records import Fit
from .seeding import seeds, starts_to_refine

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


def _applies(px, k: int, opts) -> bool:
    return (
        px.X.dtype.kind == "f"
        and 2 <= k <= _FAST_MAX_K
        and opts.init is None
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
        for a, b in px.chunks(start, stop):
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


def _finish(ps: _Pass, C, split, inertia, labels, n_iter) -> tuple:
    """Label the gathered values, count and order the clusters: ``(fit, order,
    labels, n_valid)``."""
    k = C.size
    counts = ps.acc[:, 0].astype(np.int64) + np.diff(split)
    t = 0.5 * (C[:-1] + C[1:])
    OK.label_rows(labels, ps.rows, ps.row_values, t)
    order = cluster_order(C[:, None], counts)
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


def _refine(px, sample, starts, max_iter) -> tuple | None:
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
        if not _in_range(ps, lo, hi):
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
                best = _finish(ps, C, split, inertia, labels, it)
                labels = np.empty(px.n, np.uint8)  # that one is the best's now
        if not moved:
            return best
        starts, q = moved, 4 * q
    return None  # a start still unfinished: the histogram path refines them all


def _in_range(ps: _Pass, lo: float, hi: float) -> bool:
    """Whether the values' magnitudes need neither a refusal nor a scaling (the
    values beyond the sample's range were all gathered)."""
    if ps.values.size:
        lo, hi = min(lo, ps.values[0]), max(hi, ps.values[-1])
    return magnitude_ok(max(abs(lo), abs(hi)))


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


def _sample_hist(sample: np.ndarray, cs: np.ndarray) -> Hist1:
    """The (sorted) sample in :data:`_FAST_BINS` bins: counts and sums, by a
    search of the bins' edges (``cs``: the sample's prefix sums, from 0)."""
    lo, B = float(sample[0]), _FAST_BINS
    inv = B / (float(sample[-1]) - lo)
    at = np.searchsorted(sample, lo + np.arange(1, B) / inv, "left")
    at = np.concatenate([[0], at, [sample.size]])
    acc = np.zeros((B, 3))
    acc[:, 0] = np.diff(at)
    acc[:, 1] = np.diff(cs[at])
    return Hist1(lo, inv, acc, [], np.flatnonzero(acc[:, 0]), False)


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


def _sample_starts(px, sample, cs, k, rng, opts) -> list:
    """The fast path's starts, sorted: k-means++ on groups of the sample's bins,
    then Lloyd on the bins' means and on the sample itself; those worth
    refining (as the engine picks them among its starts)."""
    hist = _sample_hist(sample, cs)
    if hist.bins.size < k:
        return []
    means, weights, width = _group_means(hist, _FAST_SEED_GROUPS)
    # no Lloyd on the groups: Lloyd on the sorted sample costs less per step
    found = seeds(means, weights, k, rng, opts.n_init, 0, px.check)
    starts = [np.sort(C[:, 0]) for _, C in found]
    # Lloyd on the bins' means first: most steps at a fraction of the cost
    w, sums = hist.acc[hist.bins, 0], hist.acc[hist.bins, 1]
    cw, cb = OK.prefix_sums(w, 0.0), OK.prefix_sums(sums, 0.0)
    for C in starts:
        OK.lloyd1_points(C, sums / w, cw, cb, opts.max_iter)
    moved = _sample_lloyd(sample, cs, starts, opts.max_iter)
    picked = starts_to_refine(
        [(inertia, C[:, None]) for inertia, C in moved], opts.n_refine, width
    )
    return [C[:, 0] for _, C in picked]


def _fit_fast(px, k, rng, opts) -> tuple | None:
    """The fast path (see above), or None where the histogram path must run."""
    sample = _sample(px)
    if sample.size < 2 * k or not sample[-1] > sample[0]:
        return None
    if not magnitude_ok(max(abs(sample[0]), abs(sample[-1]))):
        return None
    cs = OK.prefix_sums(sample, 0.0)
    starts = _sample_starts(px, sample, cs, k, rng, opts)
    if not starts:
        return None
    return _refine(px, sample, starts, opts.max_iter)


class Fast1D:
    """The fast path (see the module's docstring) for float data of one feature,
    at least 2**16 rows and 2 to 8 clusters from k-means++ starts; declines
    where the histogram must take over."""

    name = "fast (one feature)"

    def applies(self, job: Job) -> bool:
        return (
            job.options.method == "exact"
            and job.px.d == 1
            and _applies(job.px, job.k, job.options)
        )

    def fit(self, job: Job) -> Fit | None:
        found = _fit_fast(job.px, job.k, job.rng, job.options)
        if found is None:
            return None
        return ordered(*found)
