"""Where the result layers land: the source layer's whole transform read once
(:class:`SourceInfo`), the labels' placement without a channel axis, the pixel
size given to the engine, and the placement OME-NGFF labels can keep. No Qt here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.segment import SegmentationResult

if TYPE_CHECKING:
    import napari


@dataclass(frozen=True)
class SourceInfo:
    """What the result layers take from the image layer, read once in the main
    thread so that the work can run in another.

    The placement is the layer's whole transform (``scale`` — negative entries
    included —, ``translate``, ``rotate``, ``shear``, ``affine``) and its
    ``units``, so that each output pixel lands on its image pixel
    (:meth:`placement`)."""

    name: str
    rgb: bool
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    colormap: str
    contrast_limits: tuple[float, float]
    #: the layer's data is a list of levels, finest first
    multiscale: bool = False
    #: rotation matrix (None: no rotation)
    rotate: tuple[tuple[float, ...], ...] | None = None
    #: shear, as napari keeps it (None: no shear)
    shear: tuple[float, ...] | None = None
    #: the layer's extra affine matrix, (ndim + 1) squared (None: identity)
    affine: tuple[tuple[float, ...], ...] | None = None
    #: unit name of each axis (None: napari's default, pixels)
    units: tuple[str, ...] | None = None
    #: name of each axis (None: napari's default, "-n" … "-1")
    axis_labels: tuple[str, ...] | None = None

    @classmethod
    def from_layer(cls, layer: napari.layers.Image) -> SourceInfo:
        return cls(
            name=layer.name,
            rgb=bool(layer.rgb),
            scale=tuple(float(v) for v in layer.scale),
            translate=tuple(float(v) for v in layer.translate),
            colormap=layer.colormap.name,
            contrast_limits=tuple(layer.contrast_limits),
            multiscale=bool(layer.multiscale),
            rotate=_matrix_or_none(layer.rotate),
            shear=None if not np.any(layer.shear) else _floats(layer.shear),
            affine=_matrix_or_none(layer.affine.affine_matrix),
            units=_unit_names(layer.units),
            axis_labels=_axis_labels(layer.axis_labels),
        )

    def placement(self) -> dict[str, Any]:
        """The keyword arguments that place a layer where the source is."""
        out: dict[str, Any] = {"scale": self.scale, "translate": self.translate}
        for key in ("rotate", "shear", "affine", "units", "axis_labels"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value if key in NAME_ENTRIES else np.asarray(value)
        return out

    def shifted(self, index: Sequence[int]) -> SourceInfo:
        """This placement for data cut to start at ``index`` on the leading axes
        (one plane of a stack): ``translate`` moves by ``index`` taken through the
        layer's scale, shear and rotation (napari applies ``affine`` after
        ``translate``), so the plane lands where it was, rotated or not."""
        from napari.utils.transforms import Affine

        step = np.zeros(len(self.scale))
        step[: len(index)] = index
        linear = Affine(
            scale=self.scale, rotate=self.rotate, shear=self.shear
        ).linear_matrix
        move = linear @ step
        return replace(
            self, translate=tuple(float(v) for v in np.add(self.translate, move))
        )


def ome_placement(
    source: SourceInfo, *, channel_axis: int | None = None
) -> dict[str, Any]:
    """The ``scale``, ``translation`` and ``units`` of the labels of layer
    ``source`` as OME-NGFF stores them (keyword arguments of
    :func:`~napari_kmeans_seg.core.ome_ngff.write_ome_labels`), without the
    channel axis ``channel_axis`` of a multichannel layer.

    Raises
    ------
    ValueError
        If the layer is rotated, sheared, has an affine or a negative scale:
        OME-NGFF 0.5 keeps only a positive scale and a translation per axis.
    """
    moved = [key for key in ("rotate", "shear", "affine") if getattr(source, key)]
    if moved or min(source.scale) <= 0:
        why = ", ".join(moved) or "a negative scale"
        raise ValueError(
            f"layer {source.name!r} has {why}: OME-NGFF labels keep only a positive "
            "scale and a translation per axis; reset it (or write a plain zarr "
            "with to_zarr)"
        )
    keep = [
        i
        for i in range(len(source.scale))
        if channel_axis is None or i != channel_axis % len(source.scale)
    ]
    units = source.units or ("pixel",) * len(source.scale)
    return {
        "scale": tuple(source.scale[i] for i in keep),
        "translation": tuple(source.translate[i] for i in keep),
        "units": tuple(units[i] for i in keep),
    }


def _floats(values) -> tuple[float, ...]:
    return tuple(float(v) for v in np.ravel(values))


def _matrix_or_none(matrix) -> tuple[tuple[float, ...], ...] | None:
    matrix = np.asarray(matrix, dtype=float)
    if np.array_equal(matrix, np.eye(len(matrix))):
        return None
    return tuple(_floats(row) for row in matrix)


def _unit_names(units) -> tuple[str, ...] | None:
    names = tuple(str(u) for u in units)
    return None if all(n == "pixel" for n in names) else names


def _default_axis_labels(ndim: int) -> tuple[str, ...]:
    """napari's names of the axes of a layer that names none."""
    return tuple(str(i) for i in range(-ndim, 0))


def _axis_labels(labels) -> tuple[str, ...] | None:
    names = tuple(str(a) for a in labels)
    return None if names == _default_axis_labels(len(names)) else names


#: what places a layer, and the value that leaves an axis as it is
PLACEMENT_DEFAULTS = {
    "scale": lambda n: np.ones(n),
    "translate": lambda n: np.zeros(n),
    "rotate": lambda n: np.eye(n),
    "shear": lambda n: np.zeros(n * (n - 1) // 2),
    "affine": lambda n: np.eye(n + 1),
    "units": lambda n: ("pixel",) * n,
    "axis_labels": _default_axis_labels,
}
#: the placement entries that are names, one per axis
NAME_ENTRIES = ("units", "axis_labels")


def labels_placement(
    placement: dict[str, Any],
    result: SegmentationResult,
    source: SourceInfo,
) -> dict[str, Any]:
    """The placement of the labels: without the channel axis of a multichannel
    layer (``channel_axis=``), which napari shows as an axis of its own while the
    labels do not have it. A rotated, sheared or affine placement becomes one
    affine matrix without that axis's row and column."""
    axis = result.model.layout.channel_axis
    if source.rgb or axis is None or len(source.scale) != result.labels.ndim + 1:
        return placement
    axis %= len(source.scale)
    out: dict[str, Any] = {}
    for key in NAME_ENTRIES:
        if key in placement:
            out[key] = tuple(u for i, u in enumerate(placement[key]) if i != axis)
    if not any(key in placement for key in ("rotate", "shear", "affine")):
        for key in ("scale", "translate"):
            out[key] = tuple(v for i, v in enumerate(placement[key]) if i != axis)
        return out
    from napari.utils.transforms import Affine

    full = Affine(
        scale=source.scale,
        translate=source.translate,
        rotate=source.rotate,
        shear=source.shear,
    ).affine_matrix
    if source.affine is not None:
        full = np.asarray(source.affine) @ full
    keep = [i for i in range(len(full)) if i != axis]
    out["affine"] = full[np.ix_(keep, keep)]
    return out


def spatial_scale(scale: tuple[float, ...], options: dict) -> tuple[float, ...]:
    """The pixel size of each spatial axis for :func:`segment`, from the layer's
    ``scale``: without the entry of ``options["channel_axis"]`` (napari gives
    every axis of a layer a scale, :func:`segment` one per spatial axis), and
    without sign (a negative scale mirrors the layer; the pixel size is its
    magnitude, and the outputs carry the sign in their own placement)."""
    axis = options.get("channel_axis")
    n = len(scale)
    valid = isinstance(axis, int | np.integer) and not isinstance(axis, bool)
    if valid and -n <= axis < n:
        scale = tuple(s for i, s in enumerate(scale) if i != axis % n)
    return tuple(abs(s) if isinstance(s, int | float) else s for s in scale)
