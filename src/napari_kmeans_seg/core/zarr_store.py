"""Where a zarr write goes and how it stays all or nothing: the target (a folder, or
a store that is not one), the hidden partial folder, the move into place, the guarded
chunk writes and the clean-up after a failure.

A write that fails part-way (a chunk that raises, a full disk, a killed process)
leaves nothing at the target that reads as a result: everything is written under a
hidden temporary name next to the target (``.NAME.partial-XXXX``) and moved into place
by a rename once the last chunk is stored. A plain array's ``zarr.json`` is held back
until then, so not even the temporary folder opens as an array. Stores that are not
folders (e.g. a ``zarr.storage.MemoryStore``) cannot be renamed: what was written is
deleted when the write fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_PARTIAL = ".partial-"
_HELD_BACK = "zarr.json.incomplete"


def _zarr():
    try:
        import zarr
        from zarr.codecs import BloscCodec  # noqa: F401  (zarr 3 only)
    except ImportError as err:
        raise ImportError(
            'writing zarr needs zarr 3: pip install "zarr>=3" '
            "(or napari-kmeans-seg[lazy])"
        ) from err
    return zarr


def _compressors(compressors: Any):
    """``"lz4"``: Blosc-LZ4 (fast on label images); ``"auto"``: zarr's default;
    anything else as :func:`zarr.create_array` takes it."""
    if isinstance(compressors, str) and compressors == "lz4":
        from zarr.codecs import BloscCodec

        return BloscCodec(cname="lz4", clevel=5, shuffle="noshuffle")
    return compressors


def regular_dask(labels, chunks=None):
    """``labels`` as a dask array with regular chunks (zarr's are all one size):
    ``chunks`` if given, else a lazy array's own (made regular), else dask's
    automatic chunks."""
    import dask.array as da

    if not isinstance(labels, da.Array):
        if not hasattr(labels, "dask") and hasattr(labels, "chunks"):
            labels = da.from_array(labels, chunks=labels.chunks)
        else:
            labels = da.from_array(
                np.asarray(labels) if not hasattr(labels, "shape") else labels,
                chunks="auto" if chunks is None else chunks,
            )
            chunks = None
    if chunks is not None:
        labels = labels.rechunk(chunks)
    regular = tuple(c[0] if c else 1 for c in labels.chunks)
    if labels.chunks != da.core.normalize_chunks(regular, labels.shape):
        labels = labels.rechunk(regular)
    return labels


@dataclass(frozen=True)
class _Target:
    """Where a write goes: a folder ``path`` (with the zarr ``root`` holding it and
    the ``component`` inside it), or a store that is not a folder."""

    store: Any
    component: str | None
    root: Path | None = None

    @property
    def path(self) -> Path | None:
        if self.root is None:
            return None
        return self.root / self.component if self.component else self.root

    @classmethod
    def of(cls, store, component: str | None) -> _Target:
        if component is not None:
            component = component.strip("/")
            if not component or ".." in component.split("/"):
                raise ValueError(
                    f"component must name a node inside the store, got {component!r}"
                )
        if isinstance(store, str) and "://" in store:  # a URL (fsspec): no rename
            return cls(store, component)
        if isinstance(store, str | os.PathLike):
            return cls(store, component, Path(os.fspath(store)))
        root = getattr(store, "root", None)  # zarr.storage.LocalStore
        if isinstance(root, str | os.PathLike) and type(store).__name__ == "LocalStore":
            return cls(store, component, Path(os.fspath(root)))
        return cls(store, component)


def _partial_path(final: Path) -> Path:
    return final.parent / f".{final.name}{_PARTIAL}{uuid.uuid4().hex[:8]}"


def _refuse_existing(final: Path, overwrite: bool) -> None:
    if os.path.lexists(final) and not overwrite:
        raise FileExistsError(
            f"{final} already exists: pass overwrite=True to replace it, or choose "
            "another path"
        )


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``, replacing what is there (a symlink is replaced,
    never followed); the old one is removed only once the new one is in place."""
    old = None
    if os.path.lexists(final):
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _discard(path: Path) -> None:
    """Remove a failed write's temporary folder. When one chunk fails, the
    scheduler raises at once while chunks already running may still be stored
    (after a first removal), so it is removed until it stays gone."""
    quiet = 0
    for _ in range(100):  # bounded: at most ~5 s
        if os.path.lexists(path):
            _remove(path)
            quiet = 0
        else:
            quiet += 1
            if quiet == 4:
                return
        time.sleep(0.05)


class _Guarded:
    """A zarr array that refuses chunks once the write has failed (chunks still
    running when another one raised must not land after the clean-up)."""

    def __init__(self, array):
        self.array, self.failed = array, False

    def __setitem__(self, key, value) -> None:
        if self.failed:
            raise RuntimeError("the write was abandoned: another chunk failed")
        self.array[key] = value


def _require_groups(target: _Target) -> None:
    """Create the group at the store's root and the groups above ``component``."""
    import zarr

    group = zarr.open_group(str(target.root), mode="a")
    parent = target.component.rpartition("/")[0]
    if parent:
        group.require_group(parent)


def _create_array(zarr, store, name, labels, compressors, overwrite):
    return zarr.create_array(
        store,
        name=name,
        shape=labels.shape,
        chunks=tuple(c[0] for c in labels.chunks) if labels.ndim else (),
        dtype=labels.dtype,
        compressors=_compressors(compressors),
        overwrite=overwrite,
        # checking each chunk for zeros before writing it costs more than
        # compressing it
        config={"write_empty_chunks": True},
    )


def _store(labels, array) -> None:
    import dask.array as da

    da.store(labels, array, lock=False)


def _write_in_store(labels, target: _Target, overwrite: bool, compressors):
    zarr = _zarr()
    array = _create_array(
        zarr, target.store, target.component, labels, compressors, overwrite
    )
    try:
        _store(labels, array)
    except BaseException:
        with contextlib.suppress(Exception):
            _delete_node(zarr, target)
        raise
    return _open(zarr, target)


def _delete_node(zarr, target: _Target) -> None:
    import asyncio

    prefix = target.component or ""
    store = target.store

    async def clear() -> None:
        if prefix:
            await store.delete_dir(prefix)
        else:
            await store.clear()

    asyncio.run(clear())


def _open(zarr, target: _Target):
    store = str(target.root) if target.root is not None else target.store
    if target.component is None:
        return zarr.open_array(store, mode="r")
    return zarr.open_group(store, mode="r")[target.component]
