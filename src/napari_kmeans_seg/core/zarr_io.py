"""Labels to zarr: a plain zarr array (:func:`write_labels_zarr`), or an OME-NGFF
labels image (:mod:`.ome_ngff`), the one :func:`labels_to_zarr` chooses; never
half-written (:mod:`.zarr_store`).
"""

from __future__ import annotations

import os
from typing import Any

from .ome_ngff import label_colors, write_ome_labels
from .zarr_store import (
    _HELD_BACK,
    _create_array,
    _discard,
    _Guarded,
    _move_into_place,
    _open,
    _partial_path,
    _refuse_existing,
    _require_groups,
    _store,
    _Target,
    _write_in_store,
    _zarr,
    regular_dask,
)


def write_labels_zarr(
    labels,
    store,
    *,
    component: str | None = None,
    overwrite: bool = False,
    chunks=None,
    compressors: Any = "lz4",
):
    """Write ``labels`` to a zarr array, chunk by chunk, all or nothing.

    Lazy labels are computed one chunk at a time as they are written (on the
    current dask scheduler, e.g. a ``dask.distributed`` client), so labels larger
    than memory can be saved.

    Parameters
    ----------
    labels : ndarray or dask array
        The labels (any integer dtype).
    store : str, path-like or zarr store
        Where to write (a folder for a path).
    component : str, optional
        Name of the array inside the zarr group at ``store`` (created if needed).
    overwrite : bool
        Replace an existing array; it is replaced only once the new one is whole.
    chunks : optional
        Chunks of the written array; None: those of lazy labels (made regular if
        they are not), or dask's automatic chunks for in-memory labels.
    compressors : "lz4", "auto" or zarr codecs
        "lz4" (default): Blosc-LZ4; "auto": zarr's default; otherwise passed to
        :func:`zarr.create_array` (None: uncompressed).

    Returns
    -------
    zarr.Array
        The written array, opened read-only. Every chunk is written, also chunks
        of zeros.

    Raises
    ------
    FileExistsError
        If the target exists and ``overwrite`` is False (checked before any work).
    ImportError
        If zarr 3 is not installed.
    """
    zarr = _zarr()
    target = _Target.of(store, component)
    labels = regular_dask(labels, chunks)
    final = target.path
    if final is None:  # not a folder: write in place, delete on failure
        return _write_in_store(labels, target, overwrite, compressors)
    _refuse_existing(final, overwrite)
    if target.component is not None:
        _require_groups(target)
    tmp = _partial_path(final)
    guard = _Guarded(None)
    try:
        array = _create_array(zarr, str(tmp), None, labels, compressors, False)
        # held back until the last chunk is stored: the partial folder is no array
        os.replace(tmp / "zarr.json", tmp / _HELD_BACK)
        guard.array = array
        _store(labels, guard)
        os.replace(tmp / _HELD_BACK, tmp / "zarr.json")
        _move_into_place(tmp, final)
    except BaseException:
        guard.failed = True
        _discard(tmp)
        raise
    return _open(zarr, target)


def labels_to_zarr(
    labels,
    store,
    *,
    ome: bool,
    component: str | None,
    overwrite: bool,
    chunks,
    compressors: Any,
    colors=None,
    **placement,
):
    """A plain zarr array (:func:`write_labels_zarr`), or with ``ome`` an OME-NGFF
    labels image (:func:`write_ome_labels`: ``component`` its name, ``colors``
    each label's RGB, ``placement`` its axes, scale, translation, units and
    n_levels) opened as a read-only group."""
    if not ome:
        return write_labels_zarr(
            labels,
            store,
            component=component,
            overwrite=overwrite,
            chunks=chunks,
            compressors=compressors,
        )
    import zarr

    path = write_ome_labels(
        labels,
        store,
        name=component,
        colors=label_colors(colors),
        chunks=chunks,
        compressors=compressors,
        overwrite=overwrite,
        **placement,
    )
    return zarr.open_group(path, mode="r")
