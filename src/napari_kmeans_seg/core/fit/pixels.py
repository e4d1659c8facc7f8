"""The pixel matrix the engine clusters: its dtype admitted, its validity mask, the
grid of cells it is binned into, and the passes over it (per-cell statistics,
labelling, per-label statistics, sampling)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .. import kernels as K
from ..parallel import chunks, current_check, map_spans
from ..values import MAX_MAGNITUDE, MIN_MAGNITUDE, as_supported, offset_of
from .centroid_grid import centroid_grid
from .grid import GRID_BINS, ONE_CELL, Grid
from .records import TooFewValuesError

#: float32 values beyond this magnitude (or within its inverse of 0) are clustered
#: as float64: their squares would overflow (or lose bits as subnormal numbers)
FLOAT32_SQUARES = 2.0**60


def _squares_fit_float32(top: float) -> bool:
    """Whether float32 values of largest magnitude ``top`` square in float32's
    normal range (0: no value to square)."""
    return top == 0.0 or 1.0 / FLOAT32_SQUARES < top < FLOAT32_SQUARES


def mask_arg(mask: np.ndarray | None, n: int) -> tuple[np.ndarray, bool]:
    if mask is None:
        return np.ones(1, dtype=np.bool_), False
    m = np.ascontiguousarray(mask, dtype=np.bool_).reshape(-1)
    if m.size != n:
        raise ValueError(f"mask has {m.size} elements, expected {n}")
    return m, True


@dataclass(frozen=True)
class CellStats:
    """What the binning pass records, per cell of the grid."""

    part_counts: list  #: per row range, valid pixels per cell (int64)
    count: np.ndarray  #: valid pixels per cell (int64)
    sums: np.ndarray  #: feature sums, ``(n_cells, d)`` float64
    sumsq: np.ndarray  #: sum of squared norms (float64)
    blo: np.ndarray  #: box: lowest value per feature, ``(n_cells, d)``
    bhi: np.ndarray  #: box: highest value per feature


@dataclass(frozen=True)
class LabelStats:
    """What one pass over labelled pixels measures, per label 1..k."""

    counts: np.ndarray  #: pixels, ``(k,)`` int64
    sums: np.ndarray  #: feature sums, ``(k, d)`` float64
    inertia: float  #: sum of squared distances to the label's centroid


class Pixels:
    """The pixel matrix with its validity mask and cell grid; runs the passes."""

    def __init__(self, X: np.ndarray, mask: np.ndarray | None, *, binned=True):
        """``binned=False`` skips choosing the cell grid (a pass over the data for
        all but uint8): enough for labelling with given centroids and counting."""
        self.X = as_supported(X)
        self.n, self.d = self.X.shape
        self.mask, self.use_mask = mask_arg(mask, self.n)
        #: polled between chunks of rows: raises Cancelled when asked to stop
        self.check = current_check()
        #: ``X`` was multiplied by ``2**exponent`` (very small float data)
        self.exponent = 0
        #: per feature, what was subtracted from ``X`` (a large offset), or None
        self.offset: np.ndarray | None = None
        #: per-feature minimum and maximum of the valid pixels, once measured
        self.lo_hi: tuple[np.ndarray, np.ndarray] | None = None
        # three integer features (RGB, 3-channel uint16): the fast unrolled passes
        self.int3 = self.d == 3 and self.X.dtype.kind == "u"
        self.grid = self.make_grid() if binned else ONE_CELL

    def chunks(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        """The rows ``[start, stop)`` in chunks, polling the stop hook before each."""
        return chunks(start, stop, self.check)

    def common(self, start, stop) -> tuple:
        """The kernels' first arguments for the rows ``[start, stop)``."""
        mask = self.mask[start:stop] if self.use_mask else self.mask
        return (self.X[start:stop], mask, self.use_mask)

    def _range(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature minimum and maximum of the valid pixels (inf, -inf if none)."""

        kernel = K.minmax1_kernel if self.d == 1 else K.minmax_kernel

        def part(start, stop):
            mn = np.full(self.d, np.inf)
            mx = np.full(self.d, -np.inf)
            for a, b in self.chunks(start, stop):
                kernel(*self.common(a, b), mn, mx)
            return mn, mx

        parts = map_spans(part, self.n)
        mn = np.min([p[0] for p in parts], axis=0)
        mx = np.max([p[1] for p in parts], axis=0)
        return mn, mx

    def rescale(self, top: float) -> None:
        """Multiply the (float) pixels by the power of two that brings their largest
        magnitude ``top`` to [0.5, 1): exact, and squared differences no longer
        underflow."""
        self.exponent = -math.frexp(top)[1]
        self.X = np.ldexp(self.X.astype(np.float64), self.exponent)

    def _translate(self, mn: np.ndarray, mx: np.ndarray) -> tuple:
        """Subtract from the float features their :func:`offset_of` (when any is
        not 0); returns their range after."""
        offset = offset_of(mn, mx)
        if not np.any(offset):
            return mn, mx
        self.offset = offset
        self.X = self.X.astype(np.float64) - offset
        return mn - offset, mx - offset

    def scaled(self, C: np.ndarray) -> np.ndarray:
        """Centroids in the caller's units in those of :attr:`X` (translated and
        scaled as the pixels were)."""
        C = np.asarray(C, dtype=np.float64)
        if self.offset is not None:
            C = C - self.offset
        return np.ldexp(C, self.exponent) if self.exponent else C

    def unscaled(self, C: np.ndarray) -> np.ndarray:
        """Centroids back in the caller's units (exact for normal numbers, up to
        one rounding when the pixels were translated)."""
        C = np.ldexp(C, -self.exponent) if self.exponent else C
        return C if self.offset is None else C + self.offset

    def make_grid(self) -> Grid:
        X, D = self.X, min(self.d, 3)
        G = GRID_BINS[D]
        if X.dtype == np.uint8:
            shift = {1: 0, 2: 0, 3: 3}[D]
            return Grid(
                np.zeros(D, np.int64), np.zeros(D), np.ones(D), shift, 256 >> shift, D
            )
        mn, mx = self._range()
        ends = np.abs(np.concatenate([mn, mx]))
        top = float(ends[np.isfinite(ends)].max(initial=0.0))
        if top > MAX_MAGNITUDE:
            raise ValueError(
                f"pixel values reach {top:.3g}, too large to cluster exactly in "
                "float64; rescale the image first (e.g. image / np.abs(image).max())"
            )
        if X.dtype.kind == "f":
            mn, mx = self._translate(mn, mx)
            ends = np.abs(np.concatenate([mn, mx]))
            top = float(ends[np.isfinite(ends)].max(initial=0.0))
        if X.dtype.kind == "f" and 0.0 < top < MIN_MAGNITUDE:
            self.rescale(top)
            mn, mx = np.ldexp(mn, self.exponent), np.ldexp(mx, self.exponent)
        if self.X.dtype == np.float32 and not _squares_fit_float32(top):
            self.X = self.X.astype(np.float64)  # summed squares: overflow, subnormals
        self.lo_hi = (mn, mx)
        mn, mx = mn[:D], mx[:D]
        if not np.all(np.isfinite(mn)):  # no valid pixel: any grid will do
            mn, mx = np.zeros(D), np.zeros(D)
        if X.dtype.kind == "u":
            top = int(np.max(mx - mn))
            shift = max(0, top.bit_length() - (G.bit_length() - 1))
            return Grid(mn.astype(np.int64), np.zeros(D), np.ones(D), shift, G, D)
        span = mx - mn
        inv = np.where(span > 0, G / np.where(span > 0, span, 1.0), 1.0)
        return Grid(np.zeros(D, np.int64), mn, inv, -1, G, D)

    def stats(self) -> CellStats:
        """Per cell: count, feature sums, sum of squared norms, box; and each
        range's counts."""
        nc, d, grid = self.grid.n_cells, self.d, self.grid
        acc_dtype = np.int64 if self.X.dtype.kind == "u" else np.float64

        def part(start, stop):
            if self.int3:
                acc = np.zeros((2, nc, 5), acc_dtype)
                for a, b in self.chunks(start, stop):
                    K.stats_int3_kernel(*self.common(a, b), *grid.int_args(), acc)
                return acc[0] + acc[1], None, None
            acc = np.zeros((nc, 2 + d), acc_dtype)
            bmin = np.full((nc, d), np.inf)
            bmax = np.full((nc, d), -np.inf)
            for a, b in self.chunks(start, stop):
                K.stats_kernel(
                    *self.common(a, b), *grid.args(), grid.n_dims, acc, bmin, bmax
                )
            return acc, bmin, bmax

        parts = map_spans(part, self.n)
        acc = np.sum([p[0] for p in parts], axis=0)
        if self.int3:
            blo, bhi = grid.boxes()
        else:
            blo = np.min([p[1] for p in parts], axis=0)
            bhi = np.max([p[2] for p in parts], axis=0)
        return CellStats(
            part_counts=[p[0][:, 0].astype(np.int64) for p in parts],
            count=acc[:, 0].astype(np.int64),
            sums=acc[:, 1 : d + 1].astype(np.float64),
            sumsq=acc[:, d + 1].astype(np.float64),
            blo=blo,
            bhi=bhi,
        )

    def label(self, C, owner=None, perm=None) -> np.ndarray:
        """Labels ``perm[nearest centroid] + 1`` (0 for invalid pixels); ``owner``
        gives the cells of :attr:`grid` owned whole by one centroid (-1: compare
        distances).

        Three integer features are labelled through a table of each cell's label
        (0: compare distances): the owners' cells, or without ``owner``, for
        enough pixels, a grid laid over the centroids (:func:`centroid_grid`);
        other pixels without ``owner`` are compared with every centroid. The
        labels are those of comparing distances."""
        k = C.shape[0]
        C = np.ascontiguousarray(C, dtype=np.float64)
        labels = np.empty(self.n, np.uint8 if k < 255 else np.uint16)
        given_perm = perm
        perm = np.arange(k, dtype=np.int64) if perm is None else perm
        if self.int3:
            table = self._label_cells(C, owner, given_perm, labels.dtype)
        elif owner is None:  # no cell known to be owned whole: compare every row
            Ct = np.ascontiguousarray(C.T)

        def part(start, stop):
            for a, b in self.chunks(start, stop):
                if self.int3:
                    K.label_int3_table_kernel(
                        *self.common(a, b), *table, C, perm, labels[a:b]
                    )
                elif owner is None:
                    K.label_nearest_kernel(*self.common(a, b), Ct, perm, labels[a:b])
                else:
                    K.label_kernel(
                        *self.common(a, b),
                        *self.grid.args(),
                        self.grid.n_dims,
                        owner,
                        C,
                        perm,
                        labels[a:b],
                    )

        map_spans(part, self.n)
        return labels

    def _label_cells(self, C, owner, perm, dtype) -> tuple:
        """``(ilo, shift, bins, table)`` for :func:`~._kernels.label_int3_table_kernel`:
        the label ``perm[owner] + 1`` of each cell of :attr:`grid` owned whole (0:
        compare); without ``owner``, the grid over the centroids (labels without a
        permutation) or one cell to compare."""
        if owner is not None:
            g = self.grid
            if perm is not None:
                owner = np.where(owner >= 0, perm[np.maximum(owner, 0)], -1)
            return g.ilo, g.shift, g.bins, (owner + 1).astype(dtype)
        found = (
            None
            if perm is not None
            else centroid_grid(C, self.X.dtype.itemsize, self.n)
        )
        if found is None:  # one cell, to be compared
            return np.zeros(3, np.int64), 0, 1, np.zeros(1, dtype)
        return found

    def label_stats(self, labels, C) -> LabelStats:
        """Pixels and feature sums per label 1..k, and the sum of squared distances
        to ``C[label-1]``, in one pass."""
        k, d = C.shape
        C = np.ascontiguousarray(C, dtype=np.float64)

        def part(start, stop):
            N = np.zeros(k, np.int64)
            S = np.zeros((k, d))
            total = 0.0
            for a, b in self.chunks(start, stop):
                total = K.label_stats_kernel(self.X[a:b], labels[a:b], C, N, S, total)
            return N, S, total

        N, S, total = (
            sum(column) for column in zip(*map_spans(part, self.n), strict=True)
        )
        return LabelStats(counts=N, sums=S, inertia=float(total))

    def sample(self, rng, size) -> np.ndarray:
        idx = np.sort(rng.choice(self.n, size=min(size, self.n), replace=False))
        P = self.X[idx].astype(np.float64)
        ok = np.all(np.isfinite(P), axis=1)
        if self.use_mask:
            ok &= self.mask[idx]
        return P[ok]

    def n_distinct(self, cap: int) -> int:
        """Number of distinct valid rows, exact when below ``cap`` (else >= cap)."""
        X = self.X[self.mask] if self.use_mask else self.X
        if X.dtype.kind == "f":
            X = X[np.all(np.isfinite(X), axis=1)]
        found: set = set()
        for start in range(0, len(X), 1 << 16):
            self.check()
            found.update(map(tuple, np.unique(X[start : start + (1 << 16)], axis=0)))
            if len(found) >= cap:
                break
        return len(found)


def check_enough_values(px: Pixels, cells: np.ndarray, n_valid: int, k: int):
    """Raise :class:`TooFewValuesError` unless the valid pixels hold ``k`` distinct
    values."""
    if n_valid == 0:
        raise TooFewValuesError("there is no pixel to cluster (all are masked or NaN)")
    if cells.size < k:  # each non-empty cell has a value of its own; count exactly
        distinct = px.n_distinct(k)
        if distinct < k:
            raise TooFewValuesError(
                f"the image has only {distinct} distinct value"
                f"{'s' * (distinct != 1)}; choose n_clusters <= {distinct}"
            )
