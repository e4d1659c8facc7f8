"""A layer's levels: one array, or the levels of a multiscale layer (finest first),
each with its labels, and what every output layer built of them takes from the
source layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core import lazy as _lazy
from ..core.segment import SegmentationResult
from .names import SOURCE_KEY
from .placement import SourceInfo


@dataclass(frozen=True)
class Levels:
    """Each level's image and result (one, unless the layer is multiscale), and
    what every output layer of them takes from the source."""

    pairs: list[tuple[Any, SegmentationResult]]
    source: SourceInfo

    def meta(self, name: str, **more) -> dict[str, Any]:
        """An output image layer's keyword arguments: the source's display and
        placement, and the metadata naming it."""
        display: dict[str, Any] = {"rgb": self.source.rgb}
        if not self.source.rgb:
            display["colormap"] = self.source.colormap
            display["contrast_limits"] = self.source.contrast_limits
        return {
            "name": name,
            **more,
            "metadata": {SOURCE_KEY: self.source.name},
            **display,
            **self.source.placement(),
        }


def as_levels(arrays: list) -> Any:
    """One array, or the list of a multiscale layer's levels."""
    return arrays if len(arrays) > 1 else arrays[0]


def first_level(data):
    """The data itself, or its finest level when it is multiscale (a list)."""
    return data[0] if isinstance(data, list) else data


def multiscale_levels(data) -> tuple[Any, list]:
    """The finest level of multiscale ``data`` (a sequence of levels, finest
    first) and all levels, each as a lazy array (in-memory levels wrapped, not
    copied)."""
    import dask.array as da

    levels = [
        _lazy.as_dask(level) if _lazy.is_lazy(level) else da.from_array(level)
        for level in data
    ]
    if not levels:
        raise ValueError("the multiscale layer has no levels")
    return levels[0], levels


def label_levels(
    result: SegmentationResult, levels: list, scale: Sequence[float] | None
) -> list[tuple[Any, Any]]:
    """Each level with its labels: the result's own for the finest, the model's
    lazy prediction for the others (with the level's pixel size, so coordinate
    features stay in the same units)."""
    layout = result.model.layout_for(levels[0].shape)
    finest = layout.spatial_shape(levels[0].shape)
    out = [(levels[0], result.labels)]
    for level in levels[1:]:
        shape = result.model.layout_for(level.shape).spatial_shape(level.shape)
        level_scale = None
        if scale is not None:
            level_scale = tuple(
                s * n0 / n for s, n0, n in zip(scale, finest, shape, strict=True)
            )
        out.append((level, result.model.predict(level, scale=level_scale)))
    return out
