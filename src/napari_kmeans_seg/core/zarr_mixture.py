"""A Gaussian mixture's labels, probabilities and uncertainty to zarr, all or
nothing: one plain zarr group of the three arrays written in one pass, or an
OME-NGFF image of the probabilities with its labels and the uncertainty image.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .ome_ngff import OmeAxes, label_colors, write_ome_image, write_ome_labels
from .zarr_store import (
    _HELD_BACK,
    _create_array,
    _delete_node,
    _discard,
    _Guarded,
    _move_into_place,
    _partial_path,
    _refuse_existing,
    _require_groups,
    _Target,
    _zarr,
    regular_dask,
)


def cluster_names(k: int) -> list[str]:
    """The names of the probability maps of ``k`` clusters: ``cluster 1``, …"""
    return [f"cluster {i}" for i in range(1, k + 1)]


def _mixture_arrays(labels, probabilities, uncertainty, chunks) -> dict[str, Any]:
    """The labels, probabilities (one cluster per chunk) and uncertainty as dask
    arrays with the same spatial chunks: ``chunks``, else those of lazy labels,
    else dask's automatic chunks for float32."""
    import dask.array as da

    if chunks is None and not hasattr(labels, "dask"):
        chunks = tuple(
            c[0] for c in da.core.normalize_chunks("auto", labels.shape, dtype="f4")
        )
    labels = regular_dask(labels, chunks)
    spatial = labels.chunksize
    return {
        "labels": labels,
        "probabilities": regular_dask(probabilities, (1, *spatial)),
        "uncertainty": regular_dask(uncertainty, spatial),
    }


def write_arrays_zarr(
    arrays: Mapping[str, Any],
    store,
    *,
    component: str | None = None,
    overwrite: bool = False,
    compressors: Any = "lz4",
    attributes: Mapping[str, Any] | None = None,
):
    """Write several dask arrays as the arrays of one zarr group, in one pass
    (chunks that share work, such as probabilities and the uncertainty made of
    them, are computed once), all or nothing.

    Parameters
    ----------
    arrays : mapping of str to dask array
        Name -> array (with regular chunks, see :func:`regular_dask`).
    store : str, path-like or zarr store
        Where the group goes (a folder for a path).
    component : str, optional
        Path of the group inside the zarr group at ``store``.
    overwrite : bool
        Replace an existing group; it is replaced only once the new one is whole.
    compressors : "lz4", "auto" or zarr codecs
        As for :func:`write_labels_zarr`.
    attributes : mapping, optional
        Attributes of the group (JSON values).

    Returns
    -------
    zarr.Group
        The written group, opened read-only.

    Raises
    ------
    FileExistsError
        If the target exists and ``overwrite`` is False (checked before any work).
    """
    import dask.array as da

    zarr = _zarr()
    target = _Target.of(store, component)
    final = target.path
    names = list(arrays)
    if final is None:  # not a folder: write in place, delete on failure
        group = zarr.open_group(
            target.store, path=target.component or "", mode="w" if overwrite else "w-"
        )
        try:
            if attributes:
                group.attrs.update(dict(attributes))
            made = [
                _create_array(
                    zarr, group.store, _join(target, n), arrays[n], compressors, True
                )
                for n in names
            ]
            da.store([arrays[n] for n in names], made, lock=False)
        except BaseException:
            with contextlib.suppress(Exception):
                _delete_node(zarr, target)
            raise
        return zarr.open_group(target.store, path=target.component or "", mode="r")
    _refuse_existing(final, overwrite)
    if target.component is not None:
        _require_groups(target)
    tmp = _partial_path(final)
    guards = [_Guarded(None) for _ in names]
    try:
        group = zarr.open_group(str(tmp), mode="w")
        if attributes:
            group.attrs.update(dict(attributes))
        # held back until the last chunk is stored: the partial folder is no group
        os.replace(tmp / "zarr.json", tmp / _HELD_BACK)
        for guard, name in zip(guards, names, strict=True):
            guard.array = _create_array(
                zarr, str(tmp / name), None, arrays[name], compressors, False
            )
        da.store([arrays[n] for n in names], guards, lock=False)
        os.replace(tmp / _HELD_BACK, tmp / "zarr.json")
        _move_into_place(tmp, final)
    except BaseException:
        for guard in guards:
            guard.failed = True
        _discard(tmp)
        raise
    return zarr.open_group(str(final), mode="r")


def _join(target: _Target, name: str) -> str:
    return f"{target.component}/{name}" if target.component else name


def mixture_to_zarr(
    labels,
    probabilities,
    uncertainty,
    store,
    *,
    ome: bool,
    component: str | None,
    overwrite: bool,
    chunks,
    compressors: Any,
    colors=None,
    attributes: Mapping[str, Any] | None = None,
    **placement,
):
    """A Gaussian mixture's labels, probabilities ``(k, *labels.shape)`` and
    uncertainty (labels' shape), all or nothing, computed chunk by chunk.

    Plain zarr: a group at ``store`` (``component`` inside it) holding the
    arrays ``labels``, ``probabilities`` (one chunk per cluster) and
    ``uncertainty``, written in one pass. With ``ome``: ``store`` becomes an
    OME-NGFF image of the probabilities (a channel axis ``c``, the channels named
    ``cluster 1``, …, greyscale from 0 to 1, hidden at first), its labels image
    (coloured by ``colors``) at
    ``labels/<component or "clusters">`` and the uncertainty as an image of its
    own at ``uncertainty``; ``placement`` is the spatial axes, scale,
    translation, units and n_levels. Returns the written group, read-only."""
    import zarr

    arrays = _mixture_arrays(labels, probabilities, uncertainty, chunks)
    if not ome:
        return write_arrays_zarr(
            arrays,
            store,
            component=component,
            overwrite=overwrite,
            compressors=compressors,
            attributes=attributes,
        )
    final = Path(os.fspath(store))
    name = component or "clusters"
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"component must be a plain folder name, got {component!r}")
    OmeAxes.make(
        arrays["labels"].ndim,
        placement.get("axes"),
        placement.get("scale"),
        placement.get("translation"),
        placement.get("units"),
    )  # refused before any work
    _refuse_existing(final, overwrite)
    k = arrays["probabilities"].shape[0]
    rgb = None if colors is None else np.asarray(colors, float)
    same = {"compressors": compressors, **placement}
    tmp = _partial_path(final)
    try:
        write_ome_image(
            arrays["probabilities"],
            tmp,
            name="probabilities",
            channel_names=cluster_names(k),
            visible=False,
            attributes=attributes,
            **same,
        )
        write_ome_labels(
            arrays["labels"], tmp, name=name, colors=label_colors(rgb), **same
        )
        write_ome_image(
            arrays["uncertainty"], tmp / "uncertainty", name="uncertainty", **same
        )
        _move_into_place(tmp, final)
    except BaseException:
        _discard(tmp)
        raise
    return zarr.open_group(final, mode="r")
