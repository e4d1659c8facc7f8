"""A Gaussian mixture fitted by expectation–maximisation (EM) from a k-means fit.

The start is scikit-learn's ``GaussianMixture`` start from k-means: each
component's weight, mean and covariance are those of one cluster of the k-means
partition (the pixels nearest each centroid), ``reg_covar`` added to the
covariances' diagonal. EM then runs over all pixels, never a sample: over the
image's distinct values weighted by their counts where the pixels are integers
with few distinct values (8-bit colour, one channel of 16-bit: the same sums, at
the cost of the distinct values), else over every pixel. Each iteration is one
pass (the E step and the sums of the M step together); it stops when the mean
log-likelihood per pixel changes by less than ``tol``, as scikit-learn's does.
A last pass over every pixel gives the posterior probabilities, the labels (the
most probable component) and the log-likelihood of the final parameters.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass, replace

import numpy as np

from .. import mixture_kernels as MK
from ..parallel import chunks, current_check, map_spans
from .job import Job
from .ordering import cluster_order
from .pixels import Pixels
from .records import Fit, MixtureFit, MixtureOptions

#: integer pixels are counted per distinct value when their codes fit this many
#: bins (8-bit colour: 2**24) and they have at most half as many distinct values
#: as pixels
MAX_CODES = 1 << 24

#: added to the components' mass, as scikit-learn does (keeps an empty one finite)
_TINY_MASS = 10 * np.finfo(np.float64).eps


@dataclass
class Points:
    """The rows EM runs over: the pixels, or their distinct values weighted by
    their counts."""

    X: np.ndarray
    mask: np.ndarray
    use_mask: bool
    w: np.ndarray
    use_w: bool

    @classmethod
    def of(cls, px: Pixels) -> Points:
        """The distinct values of ``px`` with their counts where that saves work,
        else the pixels themselves."""
        found = _distinct(px)
        if found is None:
            return cls(px.X, px.mask, px.use_mask, np.ones(0), False)
        values, counts = found
        return cls(values, np.ones(0, bool), False, counts, True)

    def sums(self, kernel, *args) -> list:
        """``kernel(X, mask, use_mask, w, use_w, *args, N, S1, S2)`` over the rows
        in parallel; the per-component sums added over the row ranges, then the
        kernel's own return values."""

        def call(a, b, *sums):
            mask = self.mask[a:b] if self.use_mask else self.mask
            w = self.w[a:b] if self.use_w else self.w
            return kernel(self.X[a:b], mask, self.use_mask, w, self.use_w, *args, *sums)

        return summed(call, self.X.shape[0], args[0].shape)


def summed(call, n: int, shape: tuple[int, int]) -> list:
    """``call(a, b, N, S1, S2)`` over the row ranges ``[a, b)`` of ``n`` rows in
    parallel, each range adding to sums of its own, for ``shape = (k, d)``: the
    sums ``N`` (k,), ``S1`` (k, d) and ``S2`` (k, d, d) added over the ranges,
    then the calls' return values."""
    check = current_check()
    k, d = shape

    def part(start, stop):
        sums = np.zeros(k), np.zeros((k, d)), np.zeros((k, d, d))
        out = [call(a, b, *sums) for a, b in chunks(start, stop, check)]
        return (*sums, out)

    parts = map_spans(part, n)
    totals = [sum(p[j] for p in parts) for j in range(3)]
    return [*totals, [r for p in parts for r in p[3]]]


@dataclass(frozen=True)
class CodeSet:
    """The set of the codes ``Σ (x[a] - lo[a]) · strides[a]`` of the valid rows of
    unsigned integer pixels: a bit set (2 MiB for 8-bit colour) and, per word,
    the set bits before it."""

    lo: np.ndarray  #: (d,) int64
    strides: np.ndarray  #: (d,) int64
    bits: np.ndarray  #: uint64 words
    ranks: np.ndarray  #: (words,) int64
    m: int  #: distinct valid rows

    @classmethod
    def of(cls, px: Pixels) -> CodeSet | None:
        """The code set of ``px``, or None for other dtypes or more than
        :data:`MAX_CODES` possible codes."""
        if px.X.dtype.kind != "u" or px.n == 0:
            return None
        lo = px.X.min(axis=0).astype(np.int64)
        sizes = px.X.max(axis=0).astype(np.int64) - lo + 1
        if math.prod(sizes.tolist()) > MAX_CODES:
            return None
        strides = np.ones(px.d, np.int64)
        for a in range(px.d - 2, -1, -1):
            strides[a] = strides[a + 1] * sizes[a + 1]
        bits = np.zeros(-(-int(strides[0] * sizes[0]) // 64), np.uint64)
        MK.mark_codes(px.X, px.mask, px.use_mask, lo, strides, bits)
        ranks = np.empty(bits.size, np.int64)
        m = MK.ranks_of(bits, ranks)
        return cls(lo, strides, bits, ranks, m)


def _distinct(px: Pixels) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct valid rows of integer pixels (float64) and their counts, or
    None when they would not save work. Two passes and a bit set of the rows'
    codes (:class:`CodeSet`): no table of counts per code."""
    found = CodeSet.of(px)
    if found is None or 2 * found.m > px.n:
        return None
    lo, strides, bits, ranks, m = (
        found.lo,
        found.strides,
        found.bits,
        found.ranks,
        found.m,
    )
    counts = np.zeros(m, np.int64)
    MK.count_ranked(px.X, px.mask, px.use_mask, lo, strides, bits, ranks, counts)
    codes = np.empty(m, np.int64)
    MK.set_codes(bits, codes)
    values = np.empty((m, px.d))
    for a in range(px.d):
        values[:, a] = codes // strides[a] + lo[a]
        codes = codes % strides[a]
    return values, counts.astype(np.float64)


@dataclass(frozen=True)
class Gaussians:
    """The parameters of a mixture, with what the kernels take."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    prec: np.ndarray  #: upper-triangular Cholesky factors of the precisions
    const: np.ndarray  #: log weight + log det prec - d/2 log 2π

    @classmethod
    def of(cls, weights, means, covariances) -> Gaussians:
        """The mixture of these parameters; a ``ValueError`` if a covariance is
        not positive definite."""
        k, d = means.shape
        prec = np.empty((k, d, d))
        for c in range(k):
            try:
                chol = np.linalg.cholesky(covariances[c])
            except np.linalg.LinAlgError:
                raise ValueError(
                    f"the covariance of component {c + 1} of the Gaussian mixture is "
                    "not positive definite: its pixels lie on a line or plane of "
                    "the features (e.g. an RGB image whose channels are equal); "
                    "use diagonal covariances (mixture='diag'), one channel, fewer "
                    "clusters, or a larger reg_covar (ExactGaussianMixture)"
                ) from None
            prec[c] = np.linalg.solve(chol, np.eye(d)).T
        log_det = np.log(np.diagonal(prec, axis1=1, axis2=2)).sum(axis=1)
        with np.errstate(divide="ignore"):  # an emptied component: weight 0
            const = np.log(weights) + log_det - 0.5 * d * math.log(2 * math.pi)
        return cls(weights, means, covariances, prec, const)

    @classmethod
    def from_sums(cls, N, S1, S2, around, options: MixtureOptions, reg: float):
        """The M step: the parameters from the sums of a pass taken around the
        means ``around``."""
        d = around.shape[1]
        mass = N + _TINY_MASS
        shift = S1 / mass[:, None]
        upper = S2 / mass[:, None, None] - shift[:, :, None] * shift[:, None, :]
        cov = np.triu(upper) + np.triu(upper, 1).transpose(0, 2, 1)
        if options.covariance_type == "diag":
            cov = np.diagonal(cov, axis1=1, axis2=2)[:, :, None] * np.eye(d)
        cov = cov + reg * np.eye(d)
        return cls.of(mass / mass.sum(), around + shift, cov)

    def take(self, order: np.ndarray) -> Gaussians:
        """The components in ``order``."""
        return Gaussians(*(field[order] for field in astuple(self)))


def start(points: Points, kmeans: Fit, options, reg) -> Gaussians:
    """The Gaussians of the k-means partition: the fit's labels when EM runs over
    the pixels, else the points' nearest centroids (the same partition at a
    fixed point)."""
    C = kmeans.centroids
    if points.use_w:
        N, S1, S2, _ = points.sums(MK.hard_kernel, C)
    else:
        N, S1, S2 = _label_sums(points.X, kmeans.labels, C)
    return Gaussians.from_sums(N, S1, S2, C, options, reg)


def _label_sums(X, labels, C) -> list:
    """Per label of ``labels``: the sums of :func:`.mixture_kernels.em_kernel`."""

    def call(a, b, *sums):
        MK.label_kernel(X[a:b], labels[a:b], C, *sums)

    return summed(call, X.shape[0], C.shape)[:3]


def em(points: Points, g: Gaussians, options: MixtureOptions, reg: float):
    """EM from ``g`` until the mean log-likelihood changes by less than ``tol``
    (or ``max_iter`` iterations); the parameters after the last M step, the
    number of iterations and whether it converged."""
    previous = -np.inf
    kernel = MK.em3_kernel if g.means.shape[1] == 3 else MK.em_kernel
    for n_iter in range(1, options.max_iter + 1):
        N, S1, S2, out = points.sums(kernel, g.means, g.prec, g.const)
        ll = sum(r[0] for r in out) / sum(r[1] for r in out)
        g = Gaussians.from_sums(N, S1, S2, g.means, options, reg)
        if abs(ll - previous) < options.tol:
            return g, n_iter, True
        previous = ll
    return g, options.max_iter, False


def posteriors(px: Pixels, g: Gaussians, labels: np.ndarray) -> tuple:
    """Every pixel's posterior probabilities ``(k, n)`` float32, labels (the most
    probable component + 1; 0 where invalid), written into ``labels``, and the
    sum of the log-likelihoods."""
    k = g.means.shape[0]
    probs = np.empty((k, px.n), np.float32)
    kernel = MK.posterior3_kernel if px.d == 3 else MK.posterior_kernel
    params = (g.means, g.prec, g.const)

    def part(start, stop):
        ll = 0.0
        for a, b in px.chunks(start, stop):
            ll += kernel(*px.common(a, b), *params, probs, a, labels[a:b])
        return ll

    return probs, labels, sum(map_spans(part, px.n))


class EM:
    """A Gaussian mixture from the k-means fit (see the module's notes)."""

    name = "em"

    def fit(self, job: Job, kmeans: Fit) -> Fit:
        """The mixture started from the fit ``kmeans`` of ``job``."""
        options = job.options.mixture
        px = job.px
        reg = math.ldexp(options.reg_covar, 2 * px.exponent)
        points = Points.of(px)
        g = start(points, kmeans, options, reg)
        g, n_iter, converged = em(points, g, options, reg)
        del points  # the distinct values, before the maps are made
        order = cluster_order(g.means, g.weights)
        g = g.take(order)
        # the k-means labels are the fit's own: written over, no second array
        probs, labels, ll = posteriors(px, g, kmeans.labels)
        stats = px.label_stats(labels, g.means)
        n_valid = int(stats.counts.sum())
        mixture = MixtureFit(
            weights=g.weights,
            means=g.means,
            covariances=g.covariances,
            covariance_type=options.covariance_type,
            log_likelihood=ll / max(n_valid, 1),
            n_iter=n_iter,
            converged=converged,
            probabilities=probs,
        )
        return replace(
            kmeans,
            centroids=g.means,
            counts=stats.counts,
            labels=labels,
            inertia=stats.inertia,
            n_valid=n_valid,
            optimal=False,
            mixture=mixture,
        )
