"""The optimum of k-means on one feature: the global least sum of squares, by
dynamic programming over the sorted distinct values (:mod:`..optimum_kernels`),
not a local fixed point from a start.

8- and 16-bit integers: one histogram bin per value, the program runs over the
bins. Other data (floats; other integers, which the engine holds as floats):
2**16 bins of runs of values, narrowed by :mod:`.optimum_binned_1d` to the few
bins an optimal boundary may split, whose distinct values enter the program one
by one, the other bins whole.

Its partition is then labelled like the histogram's (:mod:`.histogram_1d`):
exact Lloyd from it, which stops at once (an optimum is a Lloyd fixed point) and
would only mend a tie that rounding decided the other way.
"""

from __future__ import annotations

from .dp_1d import optimum
from .histogram_1d import measured, refine
from .job import Job
from .optimum_binned_1d import binned_optimum
from .records import Fit

#: most clusters for binned values (beyond, the bounds of their programs would
#: rarely fit in memory: k rows per item)
MAX_K_BINNED = 128


class Optimum1D:
    """The global optimum for one feature, from dynamic programming (no
    k-means++); not with given starting centroids (they ask for Lloyd's fixed
    point from them). Declines on binned values whose program would be too
    large."""

    name = "optimum (one feature)"

    def applies(self, job: Job) -> bool:
        opts, px = job.options, job.px
        exact_bins = px.X.dtype.kind == "u"
        return (
            opts.method == "exact"
            and px.d == 1
            and opts.init is None
            and (exact_bins or job.k <= MAX_K_BINNED)
        )

    def fit(self, job: Job) -> Fit | None:
        px, k = job.px, job.k
        hist, n_valid = measured(px, k, ranges=True)
        if hist.exact:
            b = hist.bins
            values = hist.acc[b, 1] / hist.acc[b, 0]  # one value per bin: exact
            start = optimum(values, hist.acc[b, 0], k)
        else:
            start = binned_optimum(px, hist, k)
            if start is None:
                return None
        return refine(px, hist, k, [start], job.options.max_iter, n_valid, True)
