"""napari-kmeans-seg: split an image into its k colour/intensity classes.

Public API (importing the package loads neither Qt nor the engine; each name is
imported on first use):

- :func:`segment` — k-means segmentation of an array → :class:`SegmentationResult`
- :func:`segment_layer` — the same on a napari image layer, adding the result layers
- :class:`KMeansModel` — the fitted model (``result.model``): ``predict`` new images,
  ``save``/``load`` as JSON; ``segment(image, model=...)`` applies it
- :func:`suggest_n_clusters` — score several k on one random pixel sample →
  :class:`KSuggestion`, to help choose ``n_clusters``

The command line ``napari-kmeans-seg segment`` (``python -m napari_kmeans_seg``)
segments batches of image files.
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
    "suggest_n_clusters": "._suggest",
    "KSuggestion": "._suggest",
}

__all__ = [
    "KMeansModel",
    "KSuggestion",
    "SegmentationResult",
    "__version__",
    "segment",
    "segment_layer",
    "suggest_n_clusters",
]

if TYPE_CHECKING:
    from ._layers import segment_layer
    from ._model import KMeansModel
    from ._segment import SegmentationResult, segment
    from ._suggest import KSuggestion, suggest_n_clusters


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
