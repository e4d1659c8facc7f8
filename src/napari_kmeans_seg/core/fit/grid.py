"""The grid of cells that the engine bins pixels into (up to three features)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

#: grid bins per binned feature, by number of binned features
GRID_BINS = {1: 4096, 2: 256, 3: 32}


@dataclass(frozen=True)
class Grid:
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
    lo, hi = cell_boxes(np.asarray(ilo), shift, G, np.arange(G ** len(ilo)))
    lo.flags.writeable = hi.flags.writeable = False
    return lo, hi


def cell_boxes(ilo: np.ndarray, shift: int, G: int, cells) -> tuple:
    """The boxes of ``cells`` of the grid of ``G`` bins per feature ``2**shift``
    wide from ``ilo``: their lowest and highest corners, float64 ``(len(cells), D)``."""
    b = np.stack(np.unravel_index(cells, (G,) * len(ilo)), axis=1)
    lo = ilo + (b << shift)
    hi = lo + (1 << shift) - 1
    return lo.astype(np.float64), hi.astype(np.float64)


#: a grid of one cell for float features: ``⌊x·0⌋``
ONE_CELL = Grid(np.zeros(1, np.int64), np.zeros(1), np.zeros(1), -1, 1, 1)
