"""Labelling three integer features through a grid laid over the centroids: a
table of each cell's label where one centroid owns the cell whole. Built once per
set of centroids and kept (e.g. for every chunk of a lazy image)."""

from __future__ import annotations

import os
import threading

import numpy as np

from .. import kernels as K
from .grid import cell_boxes

#: bins per feature of :func:`centroid_grid` before its cells are halved
_CENTROID_GRID_BINS = 32
#: pixels from which labelling three integer features builds that grid (cheaper
#: than comparing distances from about a million pixels on; once built, it is
#: reused, e.g. for every chunk of a lazy image)
_CENTROID_GRID_MIN_PIXELS = 1 << 20
_centroid_grids: dict[tuple, tuple] = {}
_centroid_grids_lock = threading.Lock()


def _renew_after_fork() -> None:
    """In a forked child: a lock held by one of the parent's other threads would
    never be released."""
    global _centroid_grids_lock
    _centroid_grids_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_after_fork)


def centroid_grid(C: np.ndarray, itemsize: int, n: int) -> tuple | None:
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
    blo, bhi = cell_boxes(ilo, shift, G, cells)
    blo[blo == ilo] = 0.0  # the first and last bins reach to the dtype's limits
    bhi[bhi == ilo + (G << shift) - 1] = float(vmax)
    owner = np.full(len(cells), -1, np.int64)
    K.owners(C, np.arange(len(cells)), blo, bhi, owner)
    return (owner + 1).astype(np.uint16)
