"""napari-kmeans-seg: split an image into its k colour/intensity classes.

Public API (importing the package loads neither Qt nor the engine; each name is
imported on first use):

- :func:`segment` — k-means segmentation of an array → :class:`SegmentationResult`
- :func:`segment_layer` — the same on a napari image layer, adding the result layers
- :class:`KMeansModel` — the fitted model (``result.model``): ``predict`` new images,
  ``save``/``load`` as JSON; ``segment(image, model=...)`` applies it
- :func:`suggest_n_clusters` — score several k on one random pixel sample →
  :class:`KSuggestion`, to help choose ``n_clusters``
- :class:`ExactKMeans` — the exact engine as a scikit-learn estimator for any
  ``(n_samples, n_features)`` data
- :class:`ExactGaussianMixture` — its Gaussian mixture (EM from the exact
  k-means) as a scikit-learn estimator, like ``sklearn.mixture.GaussianMixture``

The command line ``napari-kmeans-seg segment`` (``python -m napari_kmeans_seg``)
segments batches of image files.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .core.version import __version__

_LAZY = {
    "segment": ".core.segment",
    "SegmentationResult": ".core.segment",
    "KMeansModel": ".core.model",
    "segment_layer": ".layers.outputs",
    "suggest_n_clusters": ".core.suggest",
    "KSuggestion": ".core.suggest",
    "ExactKMeans": ".core.estimator",
    "ExactGaussianMixture": ".core.mixture_estimator",
}

__all__ = [
    "ExactGaussianMixture",
    "ExactKMeans",
    "KMeansModel",
    "KSuggestion",
    "SegmentationResult",
    "__version__",
    "segment",
    "segment_layer",
    "suggest_n_clusters",
]

if TYPE_CHECKING:
    from .core.estimator import ExactKMeans
    from .core.mixture_estimator import ExactGaussianMixture
    from .core.model import KMeansModel
    from .core.segment import SegmentationResult, segment
    from .core.suggest import KSuggestion, suggest_n_clusters
    from .layers.outputs import segment_layer


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
