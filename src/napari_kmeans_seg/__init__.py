"""napari-kmeans-seg: split an image into its k colour/intensity classes.

Public API (importing the package loads neither Qt nor the engine; each name is
imported on first use):

- :func:`segment` — k-means segmentation of an array → :class:`SegmentationResult`
- :func:`segment_layer` — the same on a napari image layer, adding the result layers
- :class:`KMeansModel` — the fitted model (``result.model``), ``predict`` new images
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_LAZY = {
    "segment": "._segment",
    "SegmentationResult": "._segment",
    "KMeansModel": "._model",
    "segment_layer": "._layers",
}

__all__ = [
    "KMeansModel",
    "SegmentationResult",
    "__version__",
    "segment",
    "segment_layer",
]

if TYPE_CHECKING:
    from ._layers import segment_layer
    from ._model import KMeansModel
    from ._segment import SegmentationResult, segment


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
