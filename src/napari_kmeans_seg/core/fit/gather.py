"""Gathering the pixels of some cells of the grid, grouped by cell: as distinct
values with counts for integer colour data, otherwise as rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import kernels as K
from ..parallel import map_spans, spans
from .pixels import CellStats, Pixels

#: largest histogram (entries per range) the gather may allocate: 16 MB of int32
_MAX_HIST = 1 << 22
#: largest number of distinct values per cell counted by the histogram gather
_MAX_SUBCELL = 4096


@dataclass(frozen=True)
class Gathered:
    """Pixels of some cells, grouped by cell: cell ``c`` holds ``P[pstart[c] :
    pstart[c] + pcount[c]]`` (``pstart[c] < 0``: not gathered), as distinct values
    with counts ``W``, or as rows (``W`` empty: weight 1)."""

    P: np.ndarray
    W: np.ndarray
    pstart: np.ndarray
    pcount: np.ndarray

    @classmethod
    def nothing(cls, n_cells: int, d: int) -> Gathered:
        return cls(
            np.empty((0, d)),
            np.empty(0),
            np.full(n_cells, -1, np.int64),
            np.zeros(n_cells, np.int64),
        )

    def args(self) -> tuple:
        """As the kernels take it."""
        return self.pstart, self.pcount, self.P, self.W


def counts_values(px: Pixels, n_selected: int) -> bool:
    """Count distinct values (integer colour data, small cells, and histograms
    of bounded size) rather than copy rows."""
    if not px.int3 or px.n >= 1 << 31:  # counts are int32
        return False
    sub = 1 << (3 * px.grid.shift)
    return sub <= _MAX_SUBCELL and n_selected * sub <= _MAX_HIST


def gather(px: Pixels, selected: np.ndarray, stats: CellStats) -> Gathered:
    """The pixels of the ``selected`` cells, grouped by cell: as distinct values
    with counts for integer colour data, otherwise as rows."""
    sel = np.flatnonzero(selected)
    if counts_values(px, sel.size):
        return _gather_values(px, sel)
    nc, grid = px.grid.n_cells, px.grid
    pstart = np.full(nc, -1, np.int64)
    pcount = np.zeros(nc, np.int64)
    pcount[sel] = stats.count[sel]
    offsets = np.cumsum(pcount) - pcount
    pstart[sel] = offsets[sel]
    P = np.empty((int(pcount.sum()), px.d), px.X.dtype)
    cursors, running = {}, offsets
    for (start, _), pc in zip(spans(px.n), stats.part_counts, strict=True):
        cursors[start] = np.where(selected, running, -1)
        running = running + np.where(selected, pc, 0)

    def part(start, stop):
        cursor = cursors[start]
        for a, b in px.chunks(start, stop):
            if px.int3:
                K.gather_rows_int3_kernel(*px.common(a, b), *grid.int_args(), cursor, P)
            else:
                K.gather_rows_kernel(
                    *px.common(a, b), *grid.args(), grid.n_dims, cursor, P
                )

    map_spans(part, px.n)
    return Gathered(P, np.empty(0), pstart, pcount)


def _gather_values(px: Pixels, sel: np.ndarray) -> Gathered:
    """:func:`gather` of the cells ``sel`` as distinct values with counts."""
    nc, grid = px.grid.n_cells, px.grid
    s = grid.shift
    slot = np.full(nc, -1, np.int64)
    slot[sel] = np.arange(sel.size)
    parts = spans(px.n)
    index = {start: q for q, (start, _) in enumerate(parts)}
    # one histogram per range (zeroed lazily by the OS, in the threads)
    hists = np.zeros((len(parts), sel.size, 1 << (3 * s)), np.int32)

    def part(start, stop):
        for a, b in px.chunks(start, stop):
            K.gather_hist_int3_kernel(
                *px.common(a, b), *grid.int_args(), slot, hists[index[start]]
            )

    map_spans(part, px.n)
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
    return Gathered(P, W, pstart, pcount)
