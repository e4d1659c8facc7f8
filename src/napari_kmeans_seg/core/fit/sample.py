"""The method "sample": k-means on a random sample of the pixels, then every
pixel labelled with its nearest centroid. A quick look, not a fixed point on all
pixels."""

from __future__ import annotations

import numpy as np

from .. import kernels as K
from .job import Job
from .ordering import cluster_order
from .records import Fit
from .seeding import seeds


class Sample:
    """k-means++ and Lloyd on ``sample_size`` random pixels (or, when they hold
    fewer than ``k`` distinct values, on the cell means)."""

    name = "sample"

    def applies(self, job: Job) -> bool:
        return job.options.method == "sample"

    def fit(self, job: Job) -> Fit:
        px, k, opts, rng = job.px, job.k, job.options, job.rng
        plan = job.plan()
        stats, cells = plan.stats, plan.cells
        P = px.sample(rng, opts.sample_size)
        if len(P) == 0 or len(np.unique(P, axis=0)) < k:
            # an unlucky sample: seed on the cell means instead
            P = stats.sums[cells] / stats.count[cells][:, None]
        starts = seeds(P, np.ones(len(P)), k, rng, opts.n_init, opts.max_iter, px.check)
        C = starts[0][1]
        owner = np.full(stats.count.size, -1, np.int64)
        K.owners(C, cells, stats.blo, stats.bhi, owner)
        labels = px.label(C, owner)
        measured = px.label_stats(labels, C)
        order = cluster_order(C, measured.counts)
        relabel = np.zeros(k + 1, labels.dtype)
        relabel[order + 1] = np.arange(1, k + 1)
        return Fit(
            C[order],
            measured.counts[order],
            relabel[labels],
            measured.inertia,
            0,
            False,
            plan.n_valid,
        )
