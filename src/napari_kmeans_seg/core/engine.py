"""Exact k-means on the pixels of an image: a pixel matrix in, labels and centroids out.

No napari and no Qt here. The algorithm, in passes over the pixel matrix ``X`` (each
pass split into a fixed number of row ranges that run in parallel threads):

1. bin the valid pixels into a grid of cells, recording per cell the pixel count and
   the feature sums (and, unless the cells' bin ranges bound them well, as for
   three integer features, the bounding box of the values);
2. k-means++ and weighted Lloyd on the cell means (several starts; cheap: at most a
   few tens of thousands of points) give the starting centroids;
3. exact Lloyd on *all* pixels: a cell whose box lies entirely in one centroid's
   Voronoi region contributes its sums whole; only the pixels of the cells that
   straddle a boundary are gathered (one more pass; as distinct values with counts
   for 8-bit colour) and assigned one by one. This repeats until no pixel changes
   cluster: a Lloyd fixed point on all pixels;
4. a last pass writes every pixel's label (pixels of cells owned whole need no
   distance comparisons).

With one feature (greyscale, one channel) the clusters are intervals between the
midpoints of consecutive centroids, and the passes are simpler: a histogram of the
values (one bin per value for integers, 2**16 bins for floats), Lloyd on the bins'
means for a close start, then exact Lloyd on the histogram plus the values of the
few bins that a midpoint falls in (one gathering pass, usually), and a labelling
pass that counts the midpoints below each value.

Large images of several features whose pixels are nearly all distinct (float data,
16-bit with shot noise) take another way, :mod:`.dense`: there most cells would
straddle a boundary and gathering their pixels would copy the image, so each pixel
keeps a few bytes of state instead (its cluster and distance bounds), and the
starts are settled on samples of the pixels before the iterations on all of them.

The method ``"sample"`` replaces 1–3 by k-means on a random sample of pixels: a quick
look, not a fixed point on all pixels.

Every loop ends by construction: Lloyd iterations and re-seeds of empty clusters
count against ``max_iter``; gathering more pixels strictly grows the gathered set. A
caller stops a computation with a ``should_stop`` hook (:func:`stop_when`), polled
between passes and between chunks of rows within a pass. The thread pool is made
anew in a forked child process.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np

from . import dense, one_feature
from . import kernels as K
from .parallel import (
    Cancelled,
    chunks,
    current_check,
    in_parallel,
    in_this_thread,
    map_spans,
    never,
    spans,
    stop_scope,
    stop_when,
)

__all__ = [
    "GRID_BINS",
    "Cancelled",
    "EngineResult",
    "Pixels",
    "TooFewValuesError",
    "as_supported",
    "check_exact_integers",
    "cluster_order",
    "fit_predict",
    "in_this_thread",
    "predict",
    "spans",
    "stop_when",
    "warm_up",
]


def _renew_after_fork() -> None:
    """In a forked child: a lock held by one of the parent's other threads would
    never be released."""
    global _centroid_grids_lock
    _centroid_grids_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_after_fork)

#: images from this many pixels on may use the per-pixel iterations (:mod:`.dense`)
_PER_PIXEL_MIN_ROWS = 1 << 18
#: ... three integer features when more than this share of their pixels lie in cells
#: that straddle a boundary of the best start
_PER_PIXEL_SHARE = 0.2
#: grid bins per binned feature, by number of binned features
GRID_BINS = {1: 4096, 2: 256, 3: 32}
#: number of k-means++ starts tried on the cell means
DEFAULT_N_INIT = 4
#: best distinct starts refined exactly on all pixels
DEFAULT_N_REFINE = 4
#: starts within this relative inertia of the best (on binned data) are refined too
_REFINE_WITHIN = 1e-3
#: a start whose centroids all lie within this fraction of a cell width of a better
#: one's reaches the same fixed point on all pixels: it is not refined
_SAME_FIXED_POINT = 0.1
#: tolerances under which two binned starts count as one (``np.allclose``)
_SAME_START_RTOL, _SAME_START_ATOL = 1e-6, 1e-9
#: pixels drawn by method="sample"
DEFAULT_SAMPLE_SIZE = 100_000
#: cells within this fraction of a cell width of a Voronoi boundary are gathered too
_MARGIN = 0.25
#: largest histogram (entries per range) the gather may allocate: 16 MB of int32
_MAX_HIST = 1 << 22
#: largest magnitude of a pixel value: squared distances must stay finite in float64
_MAX_MAGNITUDE = 1e150
#: a float feature whose spread is at most this share of its offset (its values
#: share about 20 leading bits) is clustered after subtracting that offset
_OFFSET_SHARE = 2.0**-20
#: float data whose largest magnitude is below this is scaled by a power of two
#: (exactly) before clustering: the squared differences of its distinct values
#: could underflow in float64
_MIN_MAGNITUDE = 2.0**-400
#: largest magnitude of an integer clustered exactly (as float64)
#: largest number of distinct values per cell counted by the histogram gather
_MAX_SUBCELL = 4096
#: incremental Lloyd iterations per kernel call: the stop hook is polled between
_LLOYD_BATCH = 8
#: Lloyd iterations per kernel call on the seeds' points (the hook is polled between)
_SEED_BATCH = 16


class TooFewValuesError(ValueError):
    """The data holds fewer distinct values than the requested number of clusters."""


def _too_few_values(n: int) -> TooFewValuesError:
    """The error for an image whose pixels k-means can tell apart only ``n`` ways."""
    return TooFewValuesError(
        f"the image has only {n} distinct value{'s' * (n != 1)} that k-means can tell "
        "apart (values whose squared differences are 0 in float64 count as one); "
        f"choose n_clusters <= {n}"
    )


@dataclass(frozen=True)
class EngineResult:
    """Output of :func:`fit_predict` (arrays over the rows of the pixel matrix)."""

    labels: np.ndarray  #: (n,) uint8 or uint16; 0 = not clustered, 1..k
    centroids: np.ndarray  #: (k, d) float64, row i-1 is the centroid of label i
    counts: np.ndarray  #: (k,) int64 pixels per label
    inertia: float  #: sum of squared distances of the pixels to their centroid
    n_iter: int  #: exact Lloyd iterations on all pixels (0 for method="sample")
    converged: bool  #: True when the result is a Lloyd fixed point on all pixels
    n_valid: int  #: number of clustered pixels
    n_invalid: int  #: pixels left out because a value is NaN or infinite


@dataclass(frozen=True)
class _Grid:
    """Cells: bin ``(x - ilo) >> shift`` (integers) or ``⌊(x - flo)·inv⌋`` (floats,
    ``shift == -1``) of each of the first ``n_dims`` features, ``bins`` per feature."""

    ilo: np.ndarray
    flo: np.ndarray
    inv: np.ndarray
    shift: int
    bins: int
    n_dims: int

    @property
    def n_cells(self) -> int:
        return self.bins**self.n_dims

    @property
    def width(self) -> float:
        """Widest side of a cell."""
        if self.shift >= 0:
            return float(1 << self.shift)
        return float(np.max(1.0 / self.inv))

    def args(self) -> tuple:
        """The grid as the generic kernels take it."""
        return self.ilo, self.flo, self.inv, self.shift, self.bins

    def int_args(self) -> tuple:
        """The grid as the three-integer-feature kernels take it."""
        return self.ilo, self.shift, self.bins

    def boxes(self) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's box (lower and upper corner), ``(n_cells, n_dims)``, for an
        integer grid (``shift >= 0``): the range of values binned into it."""
        lo, hi = _int_boxes(tuple(self.ilo.tolist()), self.shift, self.bins)
        # writable copies: the kernels take them with the (writable) boxes of
        # float data in one compiled signature, rather than one per flag
        return lo.copy(), hi.copy()


@functools.lru_cache(maxsize=8)
def _int_boxes(ilo: tuple, shift: int, G: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = _cell_boxes(np.asarray(ilo), shift, G, np.arange(G ** len(ilo)))
    lo.flags.writeable = hi.flags.writeable = False
    return lo, hi


def _cell_boxes(ilo: np.ndarray, shift: int, G: int, cells) -> tuple:
    """The boxes of ``cells`` of the grid of ``G`` bins per feature ``2**shift``
    wide from ``ilo``: their lowest and highest corners, float64 ``(len(cells), D)``."""
    b = np.stack(np.unravel_index(cells, (G,) * len(ilo)), axis=1)
    lo = ilo + (b << shift)
    hi = lo + (1 << shift) - 1
    return lo.astype(np.float64), hi.astype(np.float64)


#: a grid of one cell for float features: ``⌊x·0⌋``
_ONE_CELL = _Grid(np.zeros(1, np.int64), np.zeros(1), np.zeros(1), -1, 1, 1)


#: bins per feature of :func:`_centroid_grid` before its cells are halved
_CENTROID_GRID_BINS = 32
#: pixels from which labelling three integer features builds that grid (cheaper
#: than comparing distances from about a million pixels on; once built, it is
#: reused, e.g. for every chunk of a lazy image)
_CENTROID_GRID_MIN_PIXELS = 1 << 20
_centroid_grids: dict[tuple, tuple] = {}
_centroid_grids_lock = threading.Lock()


def _centroid_grid(C: np.ndarray, itemsize: int, n: int) -> tuple | None:
    """For labelling ``n`` pixels of three unsigned integer features of
    ``itemsize`` bytes with centroids ``C``: a grid laid over the centroids and
    the label of each cell owned whole (0: it straddles a Voronoi boundary), as
    ``(ilo, shift, bins, table)`` for :func:`~._kernels.label_int3_table_kernel`;
    None below :data:`_CENTROID_GRID_MIN_PIXELS` unless already built for these
    centroids.

    The grid has 32³ cells ``2**shift`` wide, the smallest power of two whose 32
    bins span the centroids' range plus half of it on each side (at least 1),
    starting at ``ilo`` per feature; then, if they are wider than 1, the cells
    are halved (64³), deciding again only the halves of straddling cells, which
    halves the pixels whose distances are compared. Values outside the grid fall
    into the first or last bin of their axis, so the boxes of those bins reach to
    the dtype's limits. Ownership is decided with a margin
    (:func:`~._kernels.box_owner`), so the labels are those of comparing
    distances."""
    key = (C.tobytes(), C.shape, itemsize)
    with _centroid_grids_lock:
        found = _centroid_grids.get(key)
    if found is not None or n < _CENTROID_GRID_MIN_PIXELS:
        return found
    G = _CENTROID_GRID_BINS
    vmax = (1 << (8 * itemsize)) - 1
    lo, hi = C.min(axis=0), C.max(axis=0)
    span = float(np.max(hi - lo))
    shift = max(0, int(np.ceil(np.log2(max(2 * span, 1.0) / G))))
    ilo = np.floor(0.5 * (lo + hi) - (G << shift) / 2).astype(np.int64)
    ilo = np.clip(ilo, 0, max(vmax + 1 - (G << shift), 0))
    table = _cell_labels(C, ilo, shift, G, vmax, np.arange(G**3))
    if shift > 0:  # halve the cells: a half of an owned cell has the same owner
        halves = np.unravel_index(np.arange((2 * G) ** 3), (2 * G,) * 3)
        table = table[np.ravel_multi_index(tuple(b >> 1 for b in halves), (G,) * 3)]
        G, shift = 2 * G, shift - 1
        straddling = np.flatnonzero(table == 0)
        table[straddling] = _cell_labels(C, ilo, shift, G, vmax, straddling)
    if C.shape[0] < 255:
        table = table.astype(np.uint8)
    found = (ilo, shift, G, table)
    with _centroid_grids_lock:
        if len(_centroid_grids) >= 16:
            _centroid_grids.pop(next(iter(_centroid_grids)))
        _centroid_grids[key] = found
    return found


def _cell_labels(C, ilo, shift: int, G: int, vmax: int, cells) -> np.ndarray:
    """``owner + 1`` (uint16; 0: no single owner) of each of ``cells`` of the grid
    of ``G`` bins per feature ``2**shift`` wide from ``ilo``, whose first and last
    bins reach to 0 and ``vmax``."""
    blo, bhi = _cell_boxes(ilo, shift, G, cells)
    blo[blo == ilo] = 0.0  # the first and last bins reach to the dtype's limits
    bhi[bhi == ilo + (G << shift) - 1] = float(vmax)
    owner = np.full(len(cells), -1, np.int64)
    K.owners(C, np.arange(len(cells)), blo, bhi, owner)
    return (owner + 1).astype(np.uint16)


#: integers up to this magnitude are exact in float64, which k-means computes in
EXACT_INTEGER_LIMIT = 2**53


#: distinct 64-bit integers beyond 2**53 fewer float64 steps apart than this
#: (at their magnitude), in an image too spread for the engine to subtract an
#: offset, are refused: means and midpoints between values a few steps apart
#: round onto them, and Lloyd iterations stop short of a fixed point (seen up
#: to 64 steps apart with three features)
MIN_FLOAT_STEPS = 1 << 12


def check_exact_integers(X: np.ndarray, name: str = "image") -> None:
    """Refuse 64-bit integer values that float64, in which k-means computes,
    would merge or cannot keep apart: distinct values of magnitude 2**53 or
    more that round to the same float (2**53 itself included: 2**53 + 1 rounds
    onto it), or to floats fewer than :data:`MIN_FLOAT_STEPS` steps apart
    (unless all values sit on an offset that the engine subtracts, see
    :func:`offset_of`). Counted on the integers. Values far enough apart (e.g.
    a dtype's extremes) are clustered.

    Parameters
    ----------
    X : ndarray
        The values (any shape).
    name : str
        The variable ``X`` is, for the message ("image": "the image").

    Raises
    ------
    ValueError
        If float64 merges or crowds some of the distinct values; the message
        says which and what to do.
    """
    if X.dtype.kind not in "iu" or X.dtype.itemsize < 8 or X.size == 0:
        return
    flat = X.reshape(-1)
    big = flat[(flat >= EXACT_INTEGER_LIMIT) | (flat <= -EXACT_INTEGER_LIMIT)]
    if big.size == 0:
        return
    # below 2**53 every integer is its own float, and none rounds across it
    distinct = np.unique(big)
    floats = np.unique(distinct.astype(np.float64))
    what = "the image" if name == "image" else name
    if floats.size < distinct.size:
        raise ValueError(
            f"{what} holds {distinct.size} distinct {X.dtype} values at or beyond "
            f"2**53 in magnitude, which float64 (what k-means computes in) merges "
            f"into {floats.size}; {_integer_advice(flat, name)}"
        )
    lo, hi = float(flat.min()), float(flat.max())
    close = None if np.any(offset_of(lo, hi)) else _closest_steps(floats)
    if close is not None:  # not on an offset the engine subtracts (exactly)
        a, b = (int(v) for v in close)
        raise ValueError(
            f"{what} holds {X.dtype} values at or beyond 2**53 in magnitude only a "
            f"few float64 steps apart ({a} and {b}): k-means in float64 cannot "
            f"keep them apart exactly; {_integer_advice(flat, name)}"
        )


def _closest_steps(values: np.ndarray) -> tuple[float, float] | None:
    """The first two neighbours of the sorted distinct floats ``values`` fewer
    than :data:`MIN_FLOAT_STEPS` float64 steps apart, or None."""
    if values.size < 2:
        return None
    step = np.spacing(np.maximum(np.abs(values[:-1]), np.abs(values[1:])))
    near = np.flatnonzero(np.diff(values) < MIN_FLOAT_STEPS * step)
    return None if near.size == 0 else (values[near[0]], values[near[0] + 1])


def _integer_advice(flat: np.ndarray, name: str) -> str:
    """What to do with 64-bit integers float64 cannot cluster exactly."""
    if int(flat.max()) - int(flat.min()) <= EXACT_INTEGER_LIMIT:
        return (
            f"subtract the minimum first ({name} - {name}.min()), which makes "
            "them exact"
        )
    return (
        "their range is too wide for float64 to keep them apart even after "
        f"subtracting the minimum; convert to float64 ({name}.astype(float)) if "
        "merging them is acceptable"
    )


def offset_of(lo, hi) -> np.ndarray:
    """Per feature, the offset to subtract before clustering values from ``lo``
    to ``hi``: the value nearest 0 where they share their sign and about 20
    leading bits (a spread of at most :data:`_OFFSET_SHARE` of it), else 0.
    Subtracting it is exact (the values lie within a factor 2 of it); left in,
    it would crowd the values' means and midpoints into a few float64 steps."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    with np.errstate(invalid="ignore"):
        near = np.where(lo > 0, lo, np.where(hi < 0, hi, 0.0))
        crowded = np.isfinite(near) & (hi - lo <= np.abs(near) * _OFFSET_SHARE)
    return np.where(crowded, near, 0.0)


def as_supported(X: np.ndarray) -> np.ndarray:
    """``X`` in a dtype the kernels are compiled for, converted only if needed and
    always exactly: uint8, uint16, float32 and float64 pass through; bool → uint8;
    int8, int16 and float16 → float32; other integers → float64.

    Raises
    ------
    ValueError
        If distinct integers beyond ``2**53`` in magnitude would be merged by the
        conversion to float64 (see :func:`check_exact_integers`).
    """
    dt = X.dtype
    if not dt.isnative:  # big-endian data on a little-endian machine, or vice versa
        X = X.astype(dt.newbyteorder("="))
        dt = X.dtype
    if dt in (np.uint8, np.uint16, np.float32, np.float64):
        return X
    if dt == np.bool_:
        return X.view(np.uint8)
    if dt in (np.int8, np.int16, np.float16):
        return X.astype(np.float32)
    if dt.kind in "iu":
        check_exact_integers(X)
        return X.astype(np.float64)
    raise TypeError(f"pixels of dtype {dt} cannot be clustered")


def _mask_arg(mask: np.ndarray | None, n: int) -> tuple[np.ndarray, bool]:
    if mask is None:
        return np.ones(1, dtype=np.bool_), False
    m = np.ascontiguousarray(mask, dtype=np.bool_).reshape(-1)
    if m.size != n:
        raise ValueError(f"mask has {m.size} elements, expected {n}")
    return m, True


@dataclass(frozen=True)
class _CellStats:
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


@dataclass(frozen=True)
class _Gathered:
    """Pixels of some cells, grouped by cell: cell ``c`` holds ``P[pstart[c] :
    pstart[c] + pcount[c]]`` (``pstart[c] < 0``: not gathered), as distinct values
    with counts ``W``, or as rows (``W`` empty: weight 1)."""

    P: np.ndarray
    W: np.ndarray
    pstart: np.ndarray
    pcount: np.ndarray

    @classmethod
    def nothing(cls, n_cells: int, d: int) -> _Gathered:
        return cls(
            np.empty((0, d)),
            np.empty(0),
            np.full(n_cells, -1, np.int64),
            np.zeros(n_cells, np.int64),
        )

    def args(self) -> tuple:
        """As the kernels take it."""
        return self.pstart, self.pcount, self.P, self.W


class Pixels:
    """The pixel matrix with its validity mask and cell grid; runs the passes."""

    def __init__(self, X: np.ndarray, mask: np.ndarray | None, *, binned=True):
        """``binned=False`` skips choosing the cell grid (a pass over the data for
        all but uint8): enough for labelling with given centroids and counting."""
        self.X = as_supported(X)
        self.n, self.d = self.X.shape
        self.mask, self.use_mask = _mask_arg(mask, self.n)
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
        self.grid = self._make_grid() if binned else _ONE_CELL

    def _chunks(self, start: int, stop: int) -> Iterator[tuple[int, int]]:
        """The rows ``[start, stop)`` in chunks, polling the stop hook before each."""
        return chunks(start, stop, self.check)

    def _common(self, start, stop) -> tuple:
        """The kernels' first arguments for the rows ``[start, stop)``."""
        mask = self.mask[start:stop] if self.use_mask else self.mask
        return (self.X[start:stop], mask, self.use_mask)

    def _range(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature minimum and maximum of the valid pixels (inf, -inf if none)."""

        kernel = K.minmax1_kernel if self.d == 1 else K.minmax_kernel

        def part(start, stop):
            mn = np.full(self.d, np.inf)
            mx = np.full(self.d, -np.inf)
            for a, b in self._chunks(start, stop):
                kernel(*self._common(a, b), mn, mx)
            return mn, mx

        parts = map_spans(part, self.n)
        mn = np.min([p[0] for p in parts], axis=0)
        mx = np.max([p[1] for p in parts], axis=0)
        return mn, mx

    def _rescale(self, top: float) -> None:
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

    def _make_grid(self) -> _Grid:
        X, D = self.X, min(self.d, 3)
        G = GRID_BINS[D]
        if X.dtype == np.uint8:
            shift = {1: 0, 2: 0, 3: 3}[D]
            return _Grid(
                np.zeros(D, np.int64), np.zeros(D), np.ones(D), shift, 256 >> shift, D
            )
        mn, mx = self._range()
        ends = np.abs(np.concatenate([mn, mx]))
        top = float(ends[np.isfinite(ends)].max(initial=0.0))
        if top > _MAX_MAGNITUDE:
            raise ValueError(
                f"pixel values reach {top:.3g}, too large to cluster exactly in "
                "float64; rescale the image first (e.g. image / np.abs(image).max())"
            )
        if X.dtype.kind == "f":
            mn, mx = self._translate(mn, mx)
            ends = np.abs(np.concatenate([mn, mx]))
            top = float(ends[np.isfinite(ends)].max(initial=0.0))
        if X.dtype.kind == "f" and 0.0 < top < _MIN_MAGNITUDE:
            self._rescale(top)
            mn, mx = np.ldexp(mn, self.exponent), np.ldexp(mx, self.exponent)
        self.lo_hi = (mn, mx)
        mn, mx = mn[:D], mx[:D]
        if not np.all(np.isfinite(mn)):  # no valid pixel: any grid will do
            mn, mx = np.zeros(D), np.zeros(D)
        if X.dtype.kind == "u":
            top = int(np.max(mx - mn))
            shift = max(0, top.bit_length() - (G.bit_length() - 1))
            return _Grid(mn.astype(np.int64), np.zeros(D), np.ones(D), shift, G, D)
        span = mx - mn
        inv = np.where(span > 0, G / np.where(span > 0, span, 1.0), 1.0)
        return _Grid(np.zeros(D, np.int64), mn, inv, -1, G, D)

    def stats(self) -> _CellStats:
        """Per cell: count, feature sums, sum of squared norms, box; and each
        range's counts."""
        nc, d, grid = self.grid.n_cells, self.d, self.grid
        acc_dtype = np.int64 if self.X.dtype.kind == "u" else np.float64

        def part(start, stop):
            if self.int3:
                acc = np.zeros((2, nc, 5), acc_dtype)
                for a, b in self._chunks(start, stop):
                    K.stats_int3_kernel(*self._common(a, b), *grid.int_args(), acc)
                return acc[0] + acc[1], None, None
            acc = np.zeros((nc, 2 + d), acc_dtype)
            bmin = np.full((nc, d), np.inf)
            bmax = np.full((nc, d), -np.inf)
            for a, b in self._chunks(start, stop):
                K.stats_kernel(
                    *self._common(a, b), *grid.args(), grid.n_dims, acc, bmin, bmax
                )
            return acc, bmin, bmax

        parts = map_spans(part, self.n)
        acc = np.sum([p[0] for p in parts], axis=0)
        if self.int3:
            blo, bhi = grid.boxes()
        else:
            blo = np.min([p[1] for p in parts], axis=0)
            bhi = np.max([p[2] for p in parts], axis=0)
        return _CellStats(
            part_counts=[p[0][:, 0].astype(np.int64) for p in parts],
            count=acc[:, 0].astype(np.int64),
            sums=acc[:, 1 : d + 1].astype(np.float64),
            sumsq=acc[:, d + 1].astype(np.float64),
            blo=blo,
            bhi=bhi,
        )

    def _hist_gather(self, n_selected: int) -> bool:
        """Count distinct values (integer colour data, small cells, and histograms
        of bounded size) rather than copy rows."""
        if not self.int3 or self.n >= 1 << 31:  # counts are int32
            return False
        sub = 1 << (3 * self.grid.shift)
        return sub <= _MAX_SUBCELL and n_selected * sub <= _MAX_HIST

    def gather(self, selected: np.ndarray, stats: _CellStats) -> _Gathered:
        """The pixels of the ``selected`` cells, grouped by cell: as distinct values
        with counts for integer colour data, otherwise as rows."""
        sel = np.flatnonzero(selected)
        if self._hist_gather(sel.size):
            return self._gather_hist(sel)
        nc, grid = self.grid.n_cells, self.grid
        pstart = np.full(nc, -1, np.int64)
        pcount = np.zeros(nc, np.int64)
        pcount[sel] = stats.count[sel]
        offsets = np.cumsum(pcount) - pcount
        pstart[sel] = offsets[sel]
        P = np.empty((int(pcount.sum()), self.d), self.X.dtype)
        cursors, running = {}, offsets
        for (start, _), pc in zip(spans(self.n), stats.part_counts, strict=True):
            cursors[start] = np.where(selected, running, -1)
            running = running + np.where(selected, pc, 0)

        def part(start, stop):
            cursor = cursors[start]
            for a, b in self._chunks(start, stop):
                if self.int3:
                    K.gather_rows_int3_kernel(
                        *self._common(a, b), *grid.int_args(), cursor, P
                    )
                else:
                    K.gather_rows_kernel(
                        *self._common(a, b), *grid.args(), grid.n_dims, cursor, P
                    )

        map_spans(part, self.n)
        return _Gathered(P, np.empty(0), pstart, pcount)

    def _gather_hist(self, sel: np.ndarray) -> _Gathered:
        """:meth:`gather` of the cells ``sel`` as distinct values with counts."""
        nc, grid = self.grid.n_cells, self.grid
        s = grid.shift
        slot = np.full(nc, -1, np.int64)
        slot[sel] = np.arange(sel.size)
        parts = spans(self.n)
        index = {start: q for q, (start, _) in enumerate(parts)}
        # one histogram per range (zeroed lazily by the OS, in the threads)
        hists = np.zeros((len(parts), sel.size, 1 << (3 * s)), np.int32)

        def part(start, stop):
            for a, b in self._chunks(start, stop):
                K.gather_hist_int3_kernel(
                    *self._common(a, b), *grid.int_args(), slot, hists[index[start]]
                )

        map_spans(part, self.n)
        counts = np.empty(sel.size, np.int64)  # distinct values per cell
        S = hists.shape[2]

        def merge(a, b):  # the entries a..b, as whole rows
            K.hist_merge_kernel(hists, a // S, b // S, counts)

        map_spans(merge, sel.size * S)
        starts = np.cumsum(counts) - counts
        P = np.empty((int(counts.sum()), 3))
        W = np.empty(P.shape[0])
        K.hist_points_kernel(hists[0], sel, grid.ilo, s, grid.bins, starts, P, W)
        pstart = np.full(nc, -1, np.int64)
        pcount = np.zeros(nc, np.int64)
        pcount[sel] = counts
        pstart[sel] = starts
        return _Gathered(P, W, pstart, pcount)

    def label(self, C, owner=None, perm=None) -> np.ndarray:
        """Labels ``perm[nearest centroid] + 1`` (0 for invalid pixels); ``owner``
        gives the cells of :attr:`grid` owned whole by one centroid (-1: compare
        distances).

        Three integer features are labelled through a table of each cell's label
        (0: compare distances): the owners' cells, or without ``owner``, for
        enough pixels, a grid laid over the centroids (:func:`_centroid_grid`);
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
            for a, b in self._chunks(start, stop):
                if self.int3:
                    K.label_int3_table_kernel(
                        *self._common(a, b), *table, C, perm, labels[a:b]
                    )
                elif owner is None:
                    K.label_nearest_kernel(*self._common(a, b), Ct, perm, labels[a:b])
                else:
                    K.label_kernel(
                        *self._common(a, b),
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
            else _centroid_grid(C, self.X.dtype.itemsize, self.n)
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
            for a, b in self._chunks(start, stop):
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


def _seeds(
    P, w, k, rng, n_init, max_iter, check=never
) -> list[tuple[float, np.ndarray]]:
    """``n_init`` runs of k-means++ + weighted Lloyd on the points ``P``: their
    distinct results as (inertia, centroids), best first."""
    n_trials = 2 + int(np.log(k))
    draws = [rng.random(1 + (k - 1) * n_trials) for _ in range(n_init)]

    def run(rand):
        check()
        C = K.kmeans_plusplus(P, w, k, rand, n_trials)
        lab = np.full(len(P), -1, np.int64)
        n_iter, done, inertia = 0, False, 0.0
        while not done and n_iter < max_iter:  # in batches: the hook is polled
            check()
            batch = min(_SEED_BATCH, max_iter - n_iter)
            inertia, it, done = K.weighted_lloyd(P, w, C, batch, lab)
            n_iter += it
        return inertia, C[np.lexsort(C.T[::-1])]

    found: list[tuple[float, np.ndarray]] = []
    runs = (
        in_parallel([partial(run, rand) for rand in draws])
        if n_init > 1
        else [run(draws[0])]
    )
    for inertia, C in runs:  # the starts are independent: run at once, kept in order
        if not any(
            np.allclose(C, other, rtol=_SAME_START_RTOL, atol=_SAME_START_ATOL)
            for _, other in found
        ):
            found.append((inertia, C))
    return sorted(found, key=lambda f: f[0])


@dataclass(frozen=True)
class _Fit:
    """One refined start: a Lloyd fixed point on all pixels when ``converged``."""

    centroids: np.ndarray  #: (k, d) float64, in the engine's (scaled) units
    owner: np.ndarray  #: per cell, the centroid owning it whole, or -1
    counts: np.ndarray  #: (k,) int64 pixels per centroid
    inertia: float
    n_iter: int
    converged: bool


class _Refiner:
    """Exact Lloyd on all pixels; the pixels gathered for one start are kept for the
    next, which usually needs the same ones."""

    def __init__(self, px: Pixels, stats: _CellStats, cells: np.ndarray):
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
        self.gathered = _Gathered.nothing(nc, px.d)

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
            self.gathered = self.px.gather(self.selected, self.stats)

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
        self.gathered = self.px.gather(self.selected, self.stats)

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
            self.gathered = self.px.gather(self.selected, self.stats)
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
                raise _too_few_values(full.size + n_placed)
            C[a] = far
        return C

    def run(self, C, max_iter: int) -> _Fit:
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

    def _confirm(self, C, owner, need, n_iter, max_iter) -> _Fit:
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
            converged = not empty.any() and np.array_equal(new_C, C)
            if converged or n_iter >= max_iter:
                counts = new_cnt.astype(np.int64)
                return _Fit(C, owner, counts, inertia, n_iter, converged)
            n_iter += 1
            C = self._reseed(new_C, empty, owner) if empty.any() else new_C


def cluster_order(C: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Stable cluster order: by luminance of the centroid (Rec. 601 weights for three
    features, the feature mean otherwise), then larger clusters first, then by the
    centroid's coordinates. Returns the old indices in their new order."""
    lum = C @ np.array([0.299, 0.587, 0.114]) if C.shape[1] == 3 else C.mean(axis=1)
    keys = [C[:, j] for j in range(C.shape[1] - 1, -1, -1)]
    return np.lexsort([*keys, -counts, np.round(lum, 9)])


def predict(
    X: np.ndarray, centroids: np.ndarray, *, mask=None, should_stop=None
) -> np.ndarray:
    """Label each valid row of ``X`` with its nearest centroid's index + 1 (the first
    on ties; 0 for invalid rows).

    ``should_stop`` (a ``threading.Event`` or a callable returning True to stop)
    makes the pass raise :class:`Cancelled` once set."""
    with stop_scope(should_stop):
        px = Pixels(X, mask, binned=False)
        if px.d != centroids.shape[1]:
            raise ValueError(
                f"the image has {px.d} features per pixel, the model "
                f"{centroids.shape[1]}"
            )
        C = np.asarray(centroids, dtype=np.float64)
        finite = np.abs(C[np.isfinite(C)])
        top = float(finite.max(initial=0.0))
        if px.X.dtype.kind == "f" and 0.0 < top < _MIN_MAGNITUDE:
            # tiny values: compare in the scale the fit used, where their squared
            # differences do not underflow
            px._rescale(top)
            C = np.ldexp(C, px.exponent)
        return px.label(C)


def _check_enough_values(px: Pixels, cells: np.ndarray, n_valid: int, k: int):
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


def _starts_to_refine(starts, n_refine: int, width: float) -> list:
    """Of the binned starts (best first), those worth refining on all pixels."""
    # refine the starts that came out (nearly) as good as the best on the binned
    # data; a clearly worse one rarely overtakes it on all pixels
    top = starts[0][0]
    near = [s for s in starts[:n_refine] if s[0] <= top * (1 + _REFINE_WITHIN)]
    # a start whose centroids all lie within a tenth of a cell of a better one's
    # (a different binned optimum by a hair) reaches the same fixed point on all
    # pixels: refine only the better
    tol = _SAME_FIXED_POINT * width
    kept: list = []
    for s in near:
        if not any(np.max(np.abs(s[1] - t[1])) <= tol for t in kept):
            kept.append(s)
    return kept


def _exact_starts(px, stats, cells, k, rng, opts) -> list:
    """The starts the exact method refines: ``init``, or the best k-means++ runs
    on the cell means."""
    if opts["init"] is not None:
        C0 = np.array(opts["init"], dtype=np.float64).reshape(k, px.d)
        starts = [(0.0, px.scaled(C0))]
    else:
        means = stats.sums[cells] / stats.count[cells][:, None]
        weights = stats.count[cells].astype(np.float64)
        starts = _seeds(
            means, weights, k, rng, opts["n_init"], opts["max_iter"], px.check
        )
    return _starts_to_refine(starts, opts["n_refine"], px.grid.width)


def _fit_exact(px, stats, cells, k, starts, opts) -> tuple:
    """The exact method on the cells: the best refined start and the labels."""
    refiner = _Refiner(px, stats, cells)
    refiner.gather_for([C0 for _, C0 in starts])
    runs = (refiner.run(C0, opts["max_iter"]) for _, C0 in starts)
    best = min(runs, key=lambda fit: fit.inertia)  # the first on ties
    order = cluster_order(best.centroids, best.counts)
    perm = np.empty(k, np.int64)
    perm[order] = np.arange(k)
    return best, order, px.label(best.centroids, best.owner, perm)


def _per_pixel(px: Pixels, k: int) -> bool:
    """Whether the per-pixel iterations (:mod:`.dense`) suit these pixels better
    than the cells: large images of several features, not 8-bit, whose values are
    mostly distinct (then most cells straddle a boundary between clusters)."""
    if px.X.dtype == np.uint8 or px.d < 2 or px.n < _PER_PIXEL_MIN_ROWS:
        return False
    if dense.state_bytes(px.d, px.X.dtype.itemsize) is None:
        return False  # its state would outgrow the input
    return dense.mostly_distinct(px.X, px.mask, px.use_mask)


def _cells_cost_more(px: Pixels, stats: _CellStats, cells, C) -> bool:
    """Whether the cells would cost more than the per-pixel iterations: many
    pixels in cells that straddle a boundary of ``C`` (their work), or gathering
    them would take more than half the input's size (their memory)."""
    owner = np.full(stats.count.size, -1, np.int64)
    K.owners(np.ascontiguousarray(C), cells, stats.blo, stats.bhi, owner)
    straddle = cells[owner[cells] < 0]
    n_straddling = int(stats.count[straddle].sum())
    if px._hist_gather(straddle.size):  # a histogram per cell and row range
        nbytes = len(spans(px.n)) * straddle.size * (4 << (3 * px.grid.shift))
    else:  # the rows, and their state in the iterations
        nbytes = n_straddling * (px.d * px.X.dtype.itemsize + 10)
    share = n_straddling / max(int(stats.count.sum()), 1)
    return share > _PER_PIXEL_SHARE or nbytes > px.X.nbytes // 2


def _fit_per_pixel(px: Pixels, k: int, rng, opts) -> tuple | None:
    """The exact method by per-pixel iterations: the fit, its order and labels;
    None if a sample of the pixels holds fewer than ``k`` distinct values."""
    init = opts["init"]
    if init is not None:
        init = px.scaled(np.array(init, dtype=np.float64).reshape(k, px.d))
    try:
        fit = dense.fit(
            px.X,
            px.mask,
            px.use_mask,
            k,
            rng=rng,
            n_init=opts["n_init"],
            init=init,
            max_iter=opts["max_iter"],
            check=px.check,
        )
    except dense.NoFarthestRow as e:
        raise _too_few_values(e.n_full) from None
    if fit is None:
        return None
    order = cluster_order(fit.centroids, fit.counts)
    perm = np.empty(k, np.int64)
    perm[order] = np.arange(k)
    labels = dense.labels_in_place(fit, perm)
    return (
        _Fit(
            fit.centroids,
            np.empty(0, np.int64),
            fit.counts,
            fit.inertia,
            fit.n_iter,
            fit.converged,
        ),
        order,
        labels,
    )


def _fit_features(px: Pixels, k: int, rng, method: str, opts) -> tuple:
    """k-means on several features (or by sample): the fit, its order, the labels
    and the number of valid pixels."""
    per_pixel = method == "exact" and _per_pixel(px, k)
    if per_pixel and not px.int3:
        found = _fit_per_pixel(px, k, rng, opts)
        if found is not None:
            return *found, int(found[0].counts.sum())
    stats = px.stats()
    cells = np.flatnonzero(stats.count)
    n_valid = int(stats.count.sum())
    _check_enough_values(px, cells, n_valid, k)
    if method == "sample":
        return *_fit_sample(px, stats, cells, k, rng, opts), n_valid
    starts = _exact_starts(px, stats, cells, k, rng, opts)
    # three integer features: the cells are cheap to make, and tell which way
    if per_pixel and _cells_cost_more(px, stats, cells, starts[0][1]):
        stats = None  # freed before the per-pixel state is made
        found = _fit_per_pixel(px, k, rng, opts)  # its own starts, on samples
        if found is not None:
            return *found, n_valid
        stats = px.stats()
    return *_fit_exact(px, stats, cells, k, starts, opts), n_valid


def _fit_sample(px, stats, cells, k, rng, opts) -> tuple:
    """The sample method: k-means on a random sample, then every pixel labelled."""
    P = px.sample(rng, opts["sample_size"])
    if len(P) == 0 or len(np.unique(P, axis=0)) < k:
        # an unlucky sample: seed on the cell means instead
        P = stats.sums[cells] / stats.count[cells][:, None]
    C = _seeds(P, np.ones(len(P)), k, rng, opts["n_init"], opts["max_iter"], px.check)[
        0
    ][1]
    owner = np.full(stats.count.size, -1, np.int64)
    K.owners(C, cells, stats.blo, stats.bhi, owner)
    labels = px.label(C, owner)
    measured = px.label_stats(labels, C)
    counts, inertia = measured.counts, measured.inertia
    order = cluster_order(C, counts)
    relabel = np.zeros(k + 1, labels.dtype)
    relabel[order + 1] = np.arange(1, k + 1)
    return _Fit(C, owner, counts, inertia, 0, False), order, relabel[labels]


#: what the one-feature path uses of this module (it cannot import it back)
_ONE_PARTS = one_feature.EngineParts(
    seeds=_seeds,
    starts_to_refine=_starts_to_refine,
    cluster_order=cluster_order,
    check_enough_values=_check_enough_values,
    too_few_values=_too_few_values,
    magnitude_ok=lambda top: top <= _MAX_MAGNITUDE and not 0.0 < top < _MIN_MAGNITUDE,
)


def fit_predict(
    X: np.ndarray,
    *,
    n_clusters: int,
    mask: np.ndarray | None = None,
    random_state: int | None = 0,
    method: str = "exact",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    n_refine: int = DEFAULT_N_REFINE,
    init: np.ndarray | None = None,
    should_stop=None,
) -> EngineResult:
    """k-means on the rows of ``X`` (one row per pixel, one column per feature).

    Parameters
    ----------
    X : (n, d) ndarray
        Pixel features, any real dtype and strides; never modified.
    n_clusters : int
        Number of clusters, at least 1.
    mask : (n,) bool ndarray, optional
        Rows to cluster; the others get label 0. Rows with a NaN or infinite value
        are always left out (label 0).
    random_state : int or None
        Seed of the k-means++ starts.
    method : {"exact", "sample"}
        "exact" iterates to a Lloyd fixed point on all rows; "sample" fits on a random
        sample of ``sample_size`` rows and assigns every row to the nearest centroid.
    n_init : int
        k-means++ starts tried on the binned data; the best is refined.
    max_iter : int
        Maximum number of Lloyd iterations (re-seeding an empty cluster counts as
        one).
    sample_size : int
        Rows drawn by method="sample".
    n_refine : int
        Number of the best distinct binned-data solutions refined on all rows; the
        one with the lowest inertia is kept. (Images whose pixels are nearly all
        distinct compare their ``n_init`` starts on a sample instead and refine
        the best.)
    init : (n_clusters, d) ndarray, optional
        Start from these centroids instead of k-means++ (method "exact" only).
    should_stop : threading.Event or callable, optional
        Polled between passes and between chunks of rows within a pass; once it
        is set (or returns True) the computation stops with :class:`Cancelled`.

    Returns
    -------
    EngineResult

    Raises
    ------
    TooFewValuesError
        If the valid rows hold fewer distinct values than ``n_clusters`` (or fewer
        that k-means can tell apart in float64).
    Cancelled
        If ``should_stop`` (or the hook of an enclosing :func:`stop_when`) is set.

    Notes
    -----
    Float data whose largest magnitude is below ``2**-400`` is clustered after an
    exact scaling by a power of two (squared differences of such values underflow
    in float64); the centroids are scaled back.
    """
    if method not in ("exact", "sample"):
        raise ValueError(f"method must be 'exact' or 'sample', not {method!r}")
    k = int(n_clusters)
    opts = dict(
        n_init=n_init,
        max_iter=max_iter,
        sample_size=sample_size,
        n_refine=n_refine,
        init=init,
    )
    with stop_scope(should_stop):
        one = method == "exact" and np.ndim(X) == 2 and np.shape(X)[1] == 1
        px = Pixels(X, mask, binned=not one)  # the one-feature path bins its own way
        rng = np.random.default_rng(random_state)
        if one:
            fit, order, labels, n_valid = one_feature.fit(px, k, rng, opts, _ONE_PARTS)
        else:
            fit, order, labels, n_valid = _fit_features(px, k, rng, method, opts)
    n_masked = px.n - int(px.mask.sum()) if px.use_mask else 0
    return EngineResult(
        labels=labels,
        centroids=px.unscaled(fit.centroids[order]),
        counts=fit.counts[order],
        inertia=math.ldexp(fit.inertia, -2 * px.exponent),
        n_iter=fit.n_iter,
        converged=fit.converged,
        n_valid=n_valid,
        n_invalid=px.n - n_valid - n_masked,
    )


#: the kinds of pixel matrix whose passes :func:`warm_up` loads (or compiles), most
#: common first: dtype, number of features, and whether the matrix is a view of
#: the first three of four channels (RGBA: a non-contiguous layout, compiled apart)
WARM_UP_KINDS = {
    "8-bit RGB": (np.uint8, 3, False),
    "8-bit greyscale": (np.uint8, 1, False),
    "16-bit greyscale": (np.uint16, 1, False),
    "16-bit 3 channels": (np.uint16, 3, False),
    "16-bit 2 channels": (np.uint16, 2, False),
    "8-bit RGBA": (np.uint8, 3, True),
    "float32 greyscale": (np.float32, 1, False),
    "float32 RGB": (np.float32, 3, False),
    "float64 greyscale": (np.float64, 1, False),
    "float64 RGB": (np.float64, 3, False),
}


def _warm_up_kinds(names) -> None:
    """Fit (exactly, and by sampling with a mask) and label a small synthetic
    pixel matrix of each kind in ``names`` (keys of :data:`WARM_UP_KINDS`)."""
    rng = np.random.default_rng(0)
    centres = rng.uniform(0.1, 0.9, (4, 3))
    n = _PER_PIXEL_MIN_ROWS  # large enough for the per-pixel way where it applies
    rows = centres[rng.integers(0, 4, n)] + rng.normal(0, 0.15, (n, 3))
    small = n // 2  # and a smaller image for the cells
    rows = np.clip(rows, 0, 1)
    mask = np.ones(len(rows), bool)
    for name in names:
        dtype, d, rgba = WARM_UP_KINDS[name]
        top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1
        if rgba:  # an opaque alpha channel, left out as segment() does
            X = (np.column_stack([rows, np.ones(len(rows))]) * top).astype(dtype)[:, :3]
        else:
            X = (rows[:, :d] * top).astype(dtype)
        fit = fit_predict(X[:small], n_clusters=3, random_state=0)
        predict(X[:small], fit.centroids)
        fit_predict(X[:small], n_clusters=3, mask=mask[:small], method="sample")
        if d > 1 and dtype != np.uint8:  # the per-pixel way, whichever way X takes
            opts = {"n_init": DEFAULT_N_INIT, "init": None, "max_iter": 300}
            _fit_per_pixel(Pixels(X, None), 3, np.random.default_rng(0), opts)
        if d == 1:  # one feature: small images take the histogram's way alone
            fit_predict(X[: small // 4], n_clusters=3, random_state=0)


def _n_compiled() -> int:
    """How many functions the engine's compiled modules compiled in this process
    (rather than loaded from numba's cache)."""
    import sys

    from numba.core.dispatcher import Dispatcher

    return sum(
        sum(obj.stats.cache_misses.values())
        for name, module in list(sys.modules.items())
        if name.startswith(__name__.rpartition(".")[0])
        for obj in list(vars(module).values())
        if isinstance(obj, Dispatcher)
    )


def _compile_in_children(names: list[str], processes: int) -> None:
    """Compile the passes of ``names`` in ``processes`` child processes at once
    (numba compiles in one thread, holding the GIL): they write numba's cache,
    from which this process then loads. Failures are left to the caller's own
    warm-up, which compiles whatever was not cached."""
    import subprocess
    import sys

    package_root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    children = []
    for share in (names[i::processes] for i in range(processes)):
        code = f"from {__name__} import _warm_up_kinds; _warm_up_kinds({share!r})"
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", code],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    for child in children:
        try:
            child.wait(timeout=600)
        except subprocess.TimeoutExpired:
            child.kill()


def warm_up(*, processes: int | None = None) -> None:
    """Load the compiled passes for the common kinds of image
    (:data:`WARM_UP_KINDS`), each fitted and labelled once on a small synthetic
    pixel matrix.

    numba loads a pass's machine code from its on-disk cache (compiling it the
    first time on a machine) on its first call in a process, holding the GIL for
    tens of milliseconds per pass; a GUI calls this in a background thread when it
    opens, so that the first segmentation does not freeze its event loop.

    Parameters
    ----------
    processes : int, optional
        When the first kind had to be compiled (an empty cache), the others are
        compiled in this many child processes, then loaded here: compiling, which
        holds the GIL for seconds, stays out of this process (and, with several
        processes on enough cores, takes less time). Default: 2 from 4 cores on,
        else 1, when numba can cache; 0 compiles everything in this process.
    """
    import sys

    names = list(WARM_UP_KINDS)
    before = _n_compiled()
    _warm_up_kinds(names[:1])
    if processes is None:
        can_start = K._OPTS["cache"] and not getattr(sys, "frozen", False)
        processes = (2 if (os.cpu_count() or 1) >= 4 else 1) if can_start else 0
    if processes > 0 and _n_compiled() > before:
        _compile_in_children(names[1:], processes)
    _warm_up_kinds(names[1:])
