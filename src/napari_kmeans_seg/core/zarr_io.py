"""Labels to zarr: a plain zarr array or an OME-NGFF labels image, never half-written.

A write that fails part-way (a chunk that raises, a full disk, a killed process)
leaves nothing at the target that reads as a result: everything is written under a
hidden temporary name next to the target (``.NAME.partial-XXXX``) and moved into place
by a rename once the last chunk is stored. A plain array's ``zarr.json`` is held back
until then, so not even the temporary folder opens as an array. Stores that are not
folders (e.g. a ``zarr.storage.MemoryStore``) cannot be renamed: what was written is
deleted when the write fails.

No napari here: the OME-NGFF metadata is written by ``ome-zarr`` (ome-zarr-py), which
napari's OME-Zarr reader (``napari-ome-zarr``) reads.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: a pyramid level is added while the previous level's Y or X is longer than this
PYRAMID_MIN_SIZE = 512
#: the axes' default names, by number of dimensions (OME-NGFF: t, c, z, y, x)
DEFAULT_AXES = {2: "yx", 3: "zyx", 4: "tzyx"}
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


# ---------------------------------------------------------------------- OME-NGFF


def pyramid_levels(labels, *, n_levels: int | None = None) -> list:
    """The levels of a labels pyramid, finest first: each level keeps every other
    pixel of the previous one along Y and X (the last two axes), so labels stay
    labels (no averaging). ``n_levels`` None: add levels while the last one's Y or X
    is longer than :data:`PYRAMID_MIN_SIZE`."""
    if n_levels is not None and (
        not isinstance(n_levels, int | np.integer)
        or isinstance(n_levels, bool)
        or n_levels < 1
    ):
        raise ValueError(f"n_levels must be an integer >= 1 or None, got {n_levels!r}")
    levels = [labels]
    while len(levels) < (n_levels or 64):
        last = levels[-1]
        if n_levels is None and max(last.shape[-2:]) <= PYRAMID_MIN_SIZE:
            break
        if min(last.shape[-2:]) < 2:
            break
        index = (slice(None),) * (last.ndim - 2) + (slice(None, None, 2),) * 2
        levels.append(last[index])
    return levels


@dataclass(frozen=True)
class OmeAxes:
    """Names, pixel size, origin and units of the labels' axes, checked once."""

    names: tuple[str, ...]
    scale: tuple[float, ...]
    translation: tuple[float, ...]
    units: tuple[str | None, ...]

    @classmethod
    def make(cls, ndim, axes=None, scale=None, translation=None, units=None):
        if axes is None:
            if ndim not in DEFAULT_AXES:
                raise ValueError(
                    f"labels with {ndim} dimensions need axes= (names such as 'tzyx')"
                )
            axes = DEFAULT_AXES[ndim]
        names = tuple(axes)
        if len(names) != ndim or len(set(names)) != ndim:
            raise ValueError(
                f"axes must name each of the {ndim} axes once, got {axes!r}"
            )
        if not set(names) <= set("tczyx") or "c" in names:
            raise ValueError(
                f"axes must be among 't', 'z', 'y', 'x' (labels have no channel "
                f"axis), got {axes!r}"
            )
        return cls(
            names,
            _floats("scale", scale, ndim, 1.0, positive=True),
            _floats("translation", translation, ndim, 0.0, positive=False),
            _units(units, ndim),
        )

    @property
    def channel_position(self) -> int:
        """Where OME-NGFF puts a channel axis among these (after ``t``)."""
        return int(self.names[:1] == ("t",))

    def with_channel(self) -> OmeAxes:
        """These axes with a channel axis ``c`` at :attr:`channel_position`
        (pixel size 1, origin 0, no unit)."""
        at = self.channel_position

        def put(values, value):
            return (*values[:at], value, *values[at:])

        return OmeAxes(
            put(self.names, "c"),
            put(self.scale, 1.0),
            put(self.translation, 0.0),
            put(self.units, None),
        )

    def types(self) -> list[dict[str, str]]:
        out = []
        kinds = {"t": "time", "c": "channel"}
        for name, unit in zip(self.names, self.units, strict=True):
            axis = {"name": name, "type": kinds.get(name, "space")}
            if unit:
                axis["unit"] = unit
            out.append(axis)
        return out


def _floats(what, values, ndim, default, *, positive) -> tuple[float, ...]:
    if values is None:
        return (default,) * ndim
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must hold {ndim} numbers, got {values!r}") from None
    ok = len(out) == ndim and np.isfinite(out).all()
    if not ok or (positive and min(out) <= 0):
        raise ValueError(
            f"{what} must hold {ndim} finite numbers"
            + (" > 0" if positive else "")
            + f", got {values!r}"
        )
    return out


def _units(units, ndim) -> tuple[str | None, ...]:
    if units is None:
        return (None,) * ndim
    if isinstance(units, str):
        units = (units,) * ndim
    units = tuple(None if u in (None, "", "pixel") else str(u) for u in units)
    if len(units) != ndim:
        raise ValueError(f"units must hold {ndim} names, got {units!r}")
    return units


def label_colors(colors) -> dict[int, tuple[float, ...]] | None:
    """``{label: colour}`` for ``colors[i]``, the colour of label ``i + 1`` (e.g.
    :attr:`SegmentationResult.mean_colors`), leaving out colours that are not
    finite (a cluster without pixels); None for None."""
    if colors is None:
        return None
    return {
        i + 1: tuple(float(v) for v in c)
        for i, c in enumerate(np.asarray(colors, dtype=float))
        if np.isfinite(c).all()
    }


def write_ome_labels(
    labels,
    store,
    *,
    name: str | None = None,
    axes: str | Sequence[str] | None = None,
    scale: Sequence[float] | None = None,
    translation: Sequence[float] | None = None,
    units: str | Sequence[str | None] | None = None,
    colors: Mapping[int, Sequence[float]] | None = None,
    n_levels: int | None = None,
    chunks=None,
    compressors: Any = "lz4",
    overwrite: bool = False,
    attributes: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``labels`` as an OME-NGFF (OME-Zarr 0.5) labels image, all or nothing.

    Parameters
    ----------
    labels : ndarray or dask array
        The labels, (Y, X), (Z, Y, X) or (T, Z, Y, X) (see ``axes``).
    store : str or path-like
        A folder. Without ``name`` it becomes the labels image itself (open it with
        ``ome_zarr`` or napari's ``napari-ome-zarr``). With ``name``, it is an
        OME-Zarr image (created if missing) and the labels go to
        ``store/labels/<name>``, where OME-Zarr readers find the labels of an image.
    name : str, optional
        Name of the labels inside the image at ``store``.
    axes : str or sequence of str, optional
        One name per axis among t, z, y, x; default "yx", "zyx", "tzyx" by ndim.
    scale, translation : sequence of float, optional
        Pixel size (> 0) and position of pixel 0 per axis, in ``units``.
    units : str or sequence of str, optional
        OME-NGFF unit names ("micrometer", "second", ...); a str for every axis.
    colors : mapping of int to RGBA, optional
        Colour of each label value, RGBA in [0, 1] (e.g. each cluster's mean
        colour), written as the ``image-label`` colours.
    n_levels : int, optional
        Number of pyramid levels (1: none); None: as many as make Y and X at most
        :data:`PYRAMID_MIN_SIZE` (see :func:`pyramid_levels`).
    chunks, compressors
        As for :func:`write_labels_zarr` (every level has the finest one's chunks).
    overwrite : bool
        Replace an existing labels image of that path (or name).
    attributes : mapping, optional
        More attributes of the labels group, beside OME's (JSON values), e.g.
        what wrote it.

    Returns
    -------
    Path
        The folder of the labels image.

    Raises
    ------
    FileExistsError
        If the target exists and ``overwrite`` is False (checked before any work).
    ValueError
        If ``axes``, ``scale``, ``translation`` or ``units`` do not fit the labels.
    ImportError
        If ``ome-zarr`` is not installed (``pip install ome-zarr``).
    """
    try:
        from ome_zarr import writer as ome_writer
    except ImportError as err:
        raise ImportError(
            "writing OME-Zarr needs ome-zarr: pip install ome-zarr"
        ) from err
    zarr = _zarr()
    labels = regular_dask(labels, chunks)
    spec = OmeAxes.make(labels.ndim, axes, scale, translation, units)
    root = Path(os.fspath(store))
    final = root / "labels" / name if name else root
    if name is not None and (not name or "/" in name or name.startswith(".")):
        raise ValueError(f"name must be a plain folder name, got {name!r}")
    _refuse_existing(final, overwrite)
    levels = [
        regular_dask(level, labels.chunksize)
        for level in pyramid_levels(labels, n_levels=n_levels)
    ]
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _partial_path(final)
    try:
        group = zarr.open_group(str(tmp), mode="w")
        _write_ome_pyramid(ome_writer, group, levels, spec, compressors, name, colors)
        if attributes:
            group.attrs.update(dict(attributes))
        _move_into_place(tmp, final)
    except BaseException:
        _discard(tmp)
        raise
    if name is not None:
        _list_label(ome_writer, zarr, root, name)
    return final


def _write_ome_pyramid(
    ome_writer, group, levels, spec, compressors, name, colors, *, label=True
):
    """The multiscale labels (an image unless ``label``) in ``group`` with
    ome-zarr, then each level's placement: level i keeps pixel 0 of the finest
    level and every 2**i-th pixel along Y and X, so its origin is the finest
    level's and its pixel size 2**i times larger there."""
    ome_writer.write_multiscale(
        levels,
        group,
        axes=spec.types(),
        scale=dict(zip(spec.names, spec.scale, strict=True)),
        storage_options={"compressors": _compressors(compressors)},
        name=name or ("labels" if label else "image"),
    )
    ome = dict(group.attrs["ome"])
    multiscale = ome["multiscales"][0]
    # ome-zarr >= 0.21 rebuilds the axes from ``scale`` without their units
    multiscale["axes"] = spec.types()
    finest = levels[0].shape
    for dataset, level in zip(multiscale["datasets"], levels, strict=True):
        factors = [
            n0 / n if n else 1 for n0, n in zip(finest, level.shape, strict=True)
        ]
        factors = [
            f if i >= level.ndim - 2 else 1.0 for i, f in enumerate(np.ceil(factors))
        ]
        dataset["coordinateTransformations"] = [
            {
                "type": "scale",
                "scale": [s * f for s, f in zip(spec.scale, factors, strict=True)],
            },
            {"type": "translation", "translation": list(spec.translation)},
        ]
    if not label:
        group.attrs["ome"] = ome
        return
    label_meta: dict[str, Any] = {"version": ome["version"]}
    if colors:
        label_meta["colors"] = [
            {
                "label-value": int(value),
                "rgba": [round(255 * float(c)) for c in (*rgba, 1.0)[:4]],
            }
            for value, rgba in sorted(colors.items())
        ]
    if name is not None:
        label_meta["source"] = {"image": "../../"}
    ome["image-label"] = label_meta
    group.attrs["ome"] = ome


def _list_label(ome_writer, zarr, root: Path, name: str) -> None:
    """Add ``name`` to the ``labels`` list of the image at ``root`` (where readers
    look for an image's labels)."""
    image = zarr.open_group(str(root), mode="a")
    labels = image.require_group("labels")
    listed = ome_writer.get_metadata(labels).get("labels", [])
    if name not in listed:
        ome = dict(labels.attrs.get("ome", {}))
        ome.setdefault("version", "0.5")
        ome["labels"] = [*listed, name]
        labels.attrs["ome"] = ome


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


# ------------------------------------------------- images (probability maps)


def _hex(color) -> str:
    return "".join(
        f"{round(255 * min(max(float(c), 0.0), 1.0)):02X}" for c in color[:3]
    )


def write_ome_image(
    data,
    store,
    *,
    name: str = "image",
    channel_names: Sequence[str] | None = None,
    channel_colors: Sequence[Sequence[float] | None] | None = None,
    window: tuple[float, float] = (0.0, 1.0),
    visible: bool = True,
    axes: str | Sequence[str] | None = None,
    scale: Sequence[float] | None = None,
    translation: Sequence[float] | None = None,
    units: str | Sequence[str | None] | None = None,
    n_levels: int | None = None,
    chunks=None,
    compressors: Any = "lz4",
    overwrite: bool = False,
    attributes: Mapping[str, Any] | None = None,
) -> Path:
    """Write an image of values (e.g. probability or uncertainty maps) as an
    OME-NGFF (OME-Zarr 0.5) image, all or nothing.

    Parameters
    ----------
    data : ndarray or dask array
        The spatial axes alone, or with ``channel_names`` the channels first:
        ``(c, *spatial)``. The channel axis is written where OME-NGFF puts it
        (first, or after ``t``), one channel per chunk.
    store : str or path-like
        The folder of the image.
    name : str
        The image's (multiscale) name, which readers show: napari-ome-zarr names
        the layers ``"<name>: <channel name>"``.
    channel_names : sequence of str, optional
        One name per channel (the ``omero`` channel labels readers such as
        napari-ome-zarr name their layers after); None: no channel axis (the
        one ``omero`` channel is named ``name``).
    channel_colors : sequence of RGB(A) in [0, 1] or None, optional
        Each channel's display colour (None or not finite: white).
    window : (float, float)
        The display range of every channel (``omero`` window), e.g. (0, 1) for
        probabilities and uncertainties.
    visible : bool
        Whether the channels are shown when opened (``omero`` active).
    axes, scale, translation, units
        Of the spatial axes, as for :func:`write_ome_labels`.
    n_levels : int, optional
        Pyramid levels (as for :func:`write_ome_labels`; each level keeps every
        other pixel of the previous one, so values are not averaged).
    chunks : optional
        Chunks of the spatial axes; None: those of lazy data, or dask's
        automatic chunks.
    compressors, overwrite, attributes
        As for :func:`write_ome_labels`.

    Returns
    -------
    Path
        The folder of the image.

    Raises
    ------
    FileExistsError
        If the target exists and ``overwrite`` is False (checked before any work).
    ValueError
        If the channel names or the axes options do not fit ``data``.
    ImportError
        If ``ome-zarr`` or zarr 3 is not installed.
    """
    import dask.array as da

    try:
        from ome_zarr import writer as ome_writer
    except ImportError as err:
        raise ImportError(
            "writing OME-Zarr needs ome-zarr: pip install ome-zarr"
        ) from err
    zarr = _zarr()
    channels = channel_names is not None
    spatial_ndim = np.ndim(data) - channels
    spec = OmeAxes.make(spatial_ndim, axes, scale, translation, units)
    spatial = None if chunks is None else tuple(chunks)
    if channels:
        names = [str(n) for n in channel_names]
        if len(names) != np.shape(data)[0]:
            raise ValueError(
                f"{len(names)} channel names for {np.shape(data)[0]} channels"
            )
        data = regular_dask(data, None if spatial is None else (-1, *spatial))
        at = spec.channel_position
        data = da.moveaxis(data, 0, at)
        spec = spec.with_channel()
        sizes = list(data.chunksize)
        sizes[at] = 1
        data = regular_dask(data, tuple(sizes))
    else:
        data = regular_dask(data, spatial)
    final = Path(os.fspath(store))
    _refuse_existing(final, overwrite)
    levels = [
        regular_dask(level, data.chunksize)
        for level in pyramid_levels(data, n_levels=n_levels)
    ]
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _partial_path(final)
    try:
        group = zarr.open_group(str(tmp), mode="w")
        _write_ome_pyramid(
            ome_writer, group, levels, spec, compressors, name, None, label=False
        )
        ome = dict(group.attrs["ome"])
        ome["omero"] = _omero(
            names if channels else [name], channel_colors, window, visible
        )
        group.attrs["ome"] = ome
        if attributes:
            group.attrs.update(dict(attributes))
        _move_into_place(tmp, final)
    except BaseException:
        _discard(tmp)
        raise
    return final


def _omero(names, colors, window, visible) -> dict[str, Any]:
    """OMERO rendering settings: each channel's name, colour and display range."""
    lo, hi = (float(v) for v in window)
    channels = []
    for i, name in enumerate(names):
        color = None if colors is None else colors[i]
        ok = color is not None and np.isfinite(np.asarray(color, float)).all()
        channels.append(
            {
                "label": name,
                "color": _hex(color) if ok else "FFFFFF",
                "window": {"start": lo, "end": hi, "min": lo, "max": hi},
                "active": bool(visible),
            }
        )
    return {"channels": channels, "rdefs": {"model": "color"}}


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
