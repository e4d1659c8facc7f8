"""Lazy arrays (dask, zarr, HDF5): what counts as one, a dask view of it, and a
lookup table applied block by block. Reading and fitting them is in
:mod:`.lazy`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import dask.array as da


def is_lazy(image: Any) -> bool:
    """Whether ``image`` is an array whose values are read on demand: a dask array,
    or a chunked array such as a zarr or HDF5 array (anything with ``shape``,
    ``dtype`` and ``chunks`` that is not a NumPy array)."""
    if isinstance(image, np.ndarray):
        return False
    if type(image).__module__.startswith("dask."):
        return hasattr(image, "dask")
    return all(hasattr(image, a) for a in ("shape", "dtype", "chunks", "__getitem__"))


def as_dask(image: Any) -> da.Array:
    """``image`` (lazy, see :func:`is_lazy`) as a dask array, reading nothing."""
    import dask.array as da

    if isinstance(image, da.Array):
        return image
    chunks = getattr(image, "chunks", None)
    if not isinstance(chunks, tuple) or not all(
        isinstance(c, int | np.integer) for c in chunks
    ):
        chunks = "auto"
    return da.from_array(image, chunks=chunks)


def relabel(lut: np.ndarray, labels) -> Any:
    """``lut[labels]``, lazily for lazy labels (a 2D ``lut`` adds a last axis of
    ``lut.shape[1]``)."""
    if not is_lazy(labels):
        return lut[labels]
    if lut.ndim == 1:
        return labels.map_blocks(_lookup, lut=lut, dtype=lut.dtype)
    return labels.map_blocks(
        _lookup,
        lut=lut,
        dtype=lut.dtype,
        new_axis=labels.ndim,
        chunks=(*labels.chunks, (lut.shape[1],)),
    )


def _lookup(block, *, lut):
    return lut[block]
