"""OME-NGFF (OME-Zarr 0.5) labels and images: the axes (names, pixel size, origin,
units), the pyramid levels, the labels' ``image-label`` colours and an image's
``omero`` channels, each written all or nothing (:mod:`.zarr_store`).

No napari here: the OME-NGFF metadata is written by ``ome-zarr`` (ome-zarr-py), which
napari's OME-Zarr reader (``napari-ome-zarr``) reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .zarr_store import (
    _compressors,
    _discard,
    _move_into_place,
    _partial_path,
    _refuse_existing,
    _zarr,
    regular_dask,
)

#: a pyramid level is added while the previous level's Y or X is longer than this
PYRAMID_MIN_SIZE = 512
#: the axes' default names, by number of dimensions (OME-NGFF: t, c, z, y, x)
DEFAULT_AXES = {2: "yx", 3: "zyx", 4: "tzyx"}


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
