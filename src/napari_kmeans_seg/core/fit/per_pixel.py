"""Exact Lloyd on every pixel (:mod:`.dense`), for large images of several
features whose values are mostly distinct: there most cells would straddle a
boundary between clusters."""

from __future__ import annotations

import numpy as np

from .. import kernels as K
from ..parallel import spans
from . import dense
from .cells import exact_starts
from .dense_rows import NoFarthestRow, state_bytes
from .gather import counts_values
from .job import Job
from .mixture import CodeSet
from .ordering import cluster_order, ordered, ranks
from .records import Fit, too_few_values
from .seeding import given_start

#: images from this many pixels on may be fitted on every pixel
MIN_ROWS = 1 << 18
#: 8-bit values from this many clusters on (uniform random colours, 512², k = 16:
#: 0.45 s against 2.3 s by the cells; k = 254: a fixed point in 5 s, where the
#: cells stopped at max_iter after 98 s; at k = 8 the cells are faster)
MIN_K_8BIT = 16
#: ... three integer features when more than this share of their pixels lie in cells
#: that straddle a boundary of the best start
_STRADDLING_SHARE = 0.2


def suits(px, k: int) -> bool:
    """Whether the pixels suit the per-pixel iterations better than the cells:
    large images of several features whose values are mostly distinct (then
    most cells straddle a boundary between clusters). 8-bit values only from
    :data:`MIN_K_8BIT` clusters on (the cells count their few distinct values
    faster at fewer), with one key per pixel (5.25 bytes: more than the input,
    less than the straddling values the cells would gather), and only when more
    than half the pixels are distinct colours, counted exactly (a sample of a
    smooth 8-bit photo holds mostly distinct colours; the photo does not: 2048²,
    509,040 colours, where the cells are 1.7–5× faster at k = 128–254); other
    dtypes only where the state fits in the input's own size."""
    if px.d < 2 or px.n < MIN_ROWS:
        return False
    if px.X.dtype == np.uint8:
        if k < MIN_K_8BIT:
            return False
        codes = CodeSet.of(px)  # counted exactly: a sample cannot tell
        if codes is not None:
            return 2 * codes.m > px.n
    elif state_bytes(px.d, px.X.dtype.itemsize) is None:
        return False  # its state would outgrow the input
    return dense.mostly_distinct(px.X, px.mask, px.use_mask)


def _cells_cost_more(job: Job) -> bool:
    """Whether the cells would cost more than the per-pixel iterations: many
    pixels in cells that straddle a boundary of the best start (their work), or
    gathering them would take more than half the input's size (their memory)."""
    px, C = job.px, exact_starts(job)[0][1]
    plan = job.plan()
    stats, cells = plan.stats, plan.cells
    owner = np.full(stats.count.size, -1, np.int64)
    K.owners(np.ascontiguousarray(C), cells, stats.blo, stats.bhi, owner)
    straddle = cells[owner[cells] < 0]
    n_straddling = int(stats.count[straddle].sum())
    if counts_values(px, straddle.size):  # a histogram per cell and row range
        nbytes = len(spans(px.n)) * straddle.size * (4 << (3 * px.grid.shift))
    else:  # the rows, and their state in the iterations
        nbytes = n_straddling * (px.d * px.X.dtype.itemsize + 10)
    share = n_straddling / max(int(stats.count.sum()), 1)
    return share > _STRADDLING_SHARE or nbytes > px.X.nbytes // 2


class PerPixel:
    """Exact Lloyd on every pixel; declines when a sample of the pixels holds
    fewer than ``k`` distinct values. Three integer features (cheap to bin) take
    it only where the cells would cost more."""

    name = "per-pixel"

    def applies(self, job: Job) -> bool:
        px = job.px
        if job.options.method != "exact" or not suits(px, job.k):
            return False
        return not px.int3 or _cells_cost_more(job)

    def fit(self, job: Job) -> Fit | None:
        px, k, opts = job.px, job.k, job.options
        init = None if opts.init is None else given_start(px, opts.init, k)
        job.free_cells()  # before the per-pixel state is made
        try:
            fit = dense.fit(
                px.X,
                px.mask,
                px.use_mask,
                k,
                rng=job.rng,
                n_init=opts.n_init,
                init=init,
                max_iter=opts.max_iter,
                check=px.check,
            )
        except NoFarthestRow as e:
            raise too_few_values(e.n_full) from None
        if fit is None:
            return None
        order = cluster_order(fit.centroids, fit.counts)
        labels = dense.labels_in_place(fit, ranks(order))
        return ordered(fit, order, labels, int(fit.counts.sum()))
