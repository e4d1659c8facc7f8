"""The optimum of k-means on one feature of 8- or 16-bit integers: the global
least sum of squares, by dynamic programming over the histogram's distinct values
(:mod:`..optimum_kernels`), not a local fixed point from a start.

Its partition is then labelled like the histogram's (:mod:`.histogram_1d`):
exact Lloyd from it, which stops at once (an optimum is a Lloyd fixed point) and
would only mend a tie that rounding decided the other way.
"""

from __future__ import annotations

from .dp_1d import optimum
from .histogram_1d import measured, refine
from .job import Job
from .records import Fit


class Optimum1D:
    """The global optimum for one feature of unsigned integers (8- or 16-bit),
    from k-means++-free dynamic programming; not with given starting centroids
    (they ask for Lloyd's fixed point from them)."""

    name = "optimum (one feature)"

    def applies(self, job: Job) -> bool:
        opts, px = job.options, job.px
        return (
            opts.method == "exact"
            and px.d == 1
            and opts.init is None
            and px.X.dtype.kind == "u"
        )

    def fit(self, job: Job) -> Fit:
        px, k = job.px, job.k
        hist, n_valid = measured(px, k)
        b = hist.bins
        values = hist.acc[b, 1] / hist.acc[b, 0]  # one value per bin: exact
        inertia, C0 = optimum(values, hist.acc[b, 0], k)
        starts = [(inertia, C0)]
        return refine(px, hist, k, starts, job.options.max_iter, n_valid, True)
