"""Exact k-means on the cells of a grid (the engine's way for most images).

1. the valid pixels are binned into a grid of cells, recording per cell the pixel
   count and the feature sums (and, unless the cells' bin ranges bound them well,
   as for three integer features, the bounding box of the values);
2. k-means++ and weighted Lloyd on the cell means (several starts; cheap: at most
   a few tens of thousands of points) give the starting centroids;
3. exact Lloyd on *all* pixels: a cell whose box lies entirely in one centroid's
   Voronoi region contributes its sums whole; only the pixels of the cells that
   straddle a boundary are gathered (one more pass; as distinct values with
   counts for 8-bit colour) and assigned one by one. This repeats until no pixel
   changes cluster: a Lloyd fixed point on all pixels;
4. a last pass writes every pixel's label (pixels of cells owned whole need no
   distance comparisons).

Every loop ends: Lloyd iterations and re-seeds of empty clusters count against
``max_iter``; gathering more pixels strictly grows the gathered set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import kernels as K
from . import dense
from .convergence import is_fixed_point
from .gather import Gathered, gather
from .job import Job
from .ordering import cluster_order, ordered, ranks
from .pixels import CellStats, Pixels
from .records import Fit, too_few_values
from .seeding import given_start, seeds, starts_to_refine

#: cells within this fraction of a cell width of a Voronoi boundary are gathered too
_MARGIN = 0.25
#: incremental Lloyd iterations per kernel call: the stop hook is polled between
_LLOYD_BATCH = 8
#: from this many clusters and pixels on, the start is settled on samples of the
#: pixels (see :func:`_sampled_start`)
SAMPLED_START_K = 8
SAMPLED_START_ROWS = 1 << 18


@dataclass(frozen=True)
class _Start:
    """One start refined on all pixels: a Lloyd fixed point when ``converged``."""

    centroids: np.ndarray  #: (k, d) float64, in the engine's (scaled) units
    owner: np.ndarray  #: per cell, the centroid owning it whole, or -1
    counts: np.ndarray  #: (k,) int64 pixels per centroid
    inertia: float
    n_iter: int
    converged: bool


class _Refiner:
    """Exact Lloyd on all pixels; the pixels gathered for one start are kept for the
    next, which usually needs the same ones."""

    def __init__(self, px: Pixels, stats: CellStats, cells: np.ndarray):
        self.px = px
        self.stats = stats
        #: per-cell aggregates as the kernels take them
        self.agg = (
            cells,
            stats.count.astype(np.float64),
            stats.sums,
            stats.sumsq,
            stats.blo,
            stats.bhi,
        )
        nc = stats.count.size
        self.selected = np.zeros(nc, np.bool_)
        self.gathered = Gathered.nothing(nc, px.d)

    def _step(self, C, owner, need):
        k, d = C.shape
        new_sums = np.zeros((k, d))
        new_cnt = np.zeros(k)
        need[:] = False
        margin = _MARGIN * self.px.grid.width
        n_need, inertia = K.refine_step(
            C, self.agg, self.gathered.args(), margin, owner, need, new_sums, new_cnt
        )
        return n_need, inertia, new_sums, new_cnt

    def gather_for(self, starts) -> None:
        """Gather, in one pass, the pixels that all these starts need first."""
        nc = self.selected.size
        owner = np.full(nc, -1, np.int64)
        need = np.zeros(nc, np.bool_)
        for C in starts:
            if self._step(C, owner, need)[0]:
                self.selected |= need
        if self.selected.any():
            self.gathered = gather(self.px, self.selected, self.stats)

    def _gather_needed(self, C, owner, need) -> bool:
        """Gather what a full step from ``C`` needs; True if anything was."""
        if not self._step(C, owner, need)[0]:
            return False
        self._gather_more(need)
        return True

    def _gather_more(self, need) -> None:
        """Gather the cells in ``need`` too: the gathered set strictly grows."""
        if not np.any(need & ~self.selected):  # cannot happen with finite data
            raise RuntimeError("k-means refinement made no progress (non-finite data?)")
        self.selected |= need
        self.gathered = gather(self.px, self.selected, self.stats)

    def _farthest(self, C, owner) -> tuple[np.ndarray, float]:
        """The position farthest from its nearest centroid and its squared
        distance; 0 only if every pixel coincides with a centroid."""
        far, far_d = K.farthest(C, self.agg, self.gathered.args(), owner)
        if far_d > 0:
            return far, far_d
        # a cell owned whole may hold pixels away from its mean: look at them
        cells, blo, bhi = self.agg[0], self.agg[4], self.agg[5]
        spread = cells[(owner[cells] >= 0) & np.any(bhi[cells] > blo[cells], axis=1)]
        if spread.size == 0:
            return far, far_d
        if not self.selected[spread].all():
            self.selected[spread] = True
            self.gathered = gather(self.px, self.selected, self.stats)
        owner = owner.copy()
        owner[spread] = -1
        return K.farthest(C, self.agg, self.gathered.args(), owner)

    def _reseed(self, C, empty, owner) -> np.ndarray:
        """``C`` with each empty cluster moved, one after the other, to the position
        farthest from every centroid (so never onto a centroid).

        Raises
        ------
        TooFewValuesError
            If every pixel already coincides with a centroid: the data hold fewer
            values that k-means can tell apart than clusters.
        """
        C = C.copy()
        full = np.flatnonzero(~empty)
        C[empty] = C[full[0]]  # out of the way: a copy changes no nearest distance
        for n_placed, a in enumerate(np.flatnonzero(empty)):
            far, far_d = self._farthest(C, owner)
            if far_d <= 0:
                raise too_few_values(full.size + n_placed)
            C[a] = far
        return C

    def run(self, C, max_iter: int) -> _Start:
        """From ``C`` to a fixed point, or to ``max_iter`` iterations (a re-seed
        counts as one). Incremental iterations (:func:`_kernels.lloyd_incremental`)
        do the bulk of the work; full steps from scratch then confirm the fixed
        point."""
        nc = self.selected.size
        owner = np.full(nc, -1, np.int64)
        need = np.zeros(nc, np.bool_)
        C, n_iter = self._iterate(np.array(C, dtype=np.float64), owner, need, max_iter)
        return self._confirm(C, owner, need, n_iter, max_iter)

    def _iterate(self, C, owner, need, max_iter) -> tuple[np.ndarray, int]:
        """Incremental Lloyd iterations from ``C``: the centroids and the number of
        iterations made. Each turn of the loop counts an iteration or strictly
        grows the gathered pixels."""
        k, d = C.shape
        n_iter = 0
        while n_iter < max_iter:
            self.px.check()
            if self._gather_needed(C, owner, need):
                continue
            g = self.gathered
            m = len(g.P)
            S, N = np.zeros((k, d)), np.zeros(k)
            state = (
                owner,
                np.full(m, -1, np.int16),
                np.empty(m, np.float32),
                np.empty(m, np.float32),
                S,
                N,
            )
            K.lloyd_init(C, self.agg, g.args(), state)
            code = K.MAX_ITER
            while code == K.MAX_ITER and n_iter < max_iter:
                self.px.check()
                batch = min(_LLOYD_BATCH, max_iter - n_iter)
                code, it = K.lloyd_incremental(C, self.agg, g.args(), state, batch)
                n_iter += it
            if code == K.EMPTY_CLUSTER:
                empty = N <= 0
                means = S / np.where(empty, 1.0, N)[:, None]
                C = self._reseed(means, empty, owner)
                n_iter += 1
            elif code != K.NEED_GATHER:
                break
        return C, n_iter

    def _confirm(self, C, owner, need, n_iter, max_iter) -> _Start:
        """Full steps from ``C`` until one changes nothing (a fixed point) or
        ``max_iter`` is reached."""
        while True:
            self.px.check()
            n_need, inertia, new_sums, new_cnt = self._step(C, owner, need)
            if n_need:
                self._gather_more(need)
                continue
            empty = new_cnt == 0
            new_C = new_sums / np.maximum(new_cnt, 1)[:, None]
            converged = is_fixed_point(new_C, C, new_cnt)
            if converged or n_iter >= max_iter:
                counts = new_cnt.astype(np.int64)
                return _Start(C, owner, counts, inertia, n_iter, converged)
            n_iter += 1
            C = self._reseed(new_C, empty, owner) if empty.any() else new_C


def _sampled_start(job: Job):
    """For large images at many clusters (and no ``init``), the best k-means++
    start settled on samples of the pixels (see :func:`.dense.sampled_start`),
    else None. Starts on the cell means lose the values' detail inside each cell:
    from them, an 8-bit photo (2048²) reached fixed points 0.1–1.5 % above
    (k = 8…64), at k = 32 in 2.8× the time."""
    px, opts = job.px, job.options
    if job.k < SAMPLED_START_K or px.n < SAMPLED_START_ROWS:
        return None
    return dense.sampled_start(
        px.X,
        px.mask,
        px.use_mask,
        job.k,
        rng=job.rng,
        n_init=opts.n_init,
        max_iter=opts.max_iter,
        check=px.check,
    )


def exact_starts(job: Job) -> list:
    """The starts the cells refine: ``init``, the best k-means++ start settled on
    samples of the pixels (large images, many clusters), or the best k-means++
    runs on the cell means (drawn once per job)."""
    plan, px, opts, k = job.plan(), job.px, job.options, job.k
    if plan.starts is None:
        sampled = None if opts.init is not None else _sampled_start(job)
        if opts.init is not None:
            starts = [(0.0, given_start(px, opts.init, k))]
        elif sampled is not None:
            starts = [(0.0, sampled)]
        else:
            stats, cells = plan.stats, plan.cells
            means = stats.sums[cells] / stats.count[cells][:, None]
            weights = stats.count[cells].astype(np.float64)
            starts = seeds(
                means, weights, k, job.rng, opts.n_init, opts.max_iter, px.check
            )
        plan.starts = starts_to_refine(starts, opts.n_refine, px.grid.width)
    return plan.starts


class Cells:
    """Exact Lloyd on the cells (see the module's docstring): takes any pixels."""

    name = "cells"

    def applies(self, job: Job) -> bool:
        return job.options.method == "exact"

    def fit(self, job: Job) -> Fit:
        starts = exact_starts(job)
        plan, px = job.plan(), job.px
        refiner = _Refiner(px, plan.stats, plan.cells)
        refiner.gather_for([C0 for _, C0 in starts])
        runs = (refiner.run(C0, job.options.max_iter) for _, C0 in starts)
        best = min(runs, key=lambda fit: fit.inertia)  # the first on ties
        order = cluster_order(best.centroids, best.counts)
        labels = px.label(best.centroids, best.owner, ranks(order))
        return ordered(best, order, labels, plan.n_valid)
