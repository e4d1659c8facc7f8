"""The memory guard of the result layers: a request whose labels, engine and
output layers would not fit is refused before any work."""

from __future__ import annotations

import numpy as np

from ..core.model import KMeansModel
from .masked import LAZY_MASKS_BYTES
from .placement import SourceInfo


def check_layers_memory(
    image,
    source: SourceInfo,
    n_clusters: int | None,
    *,
    model: KMeansModel | None = None,
    mean_color_layer: bool = False,
    masked_layers: bool = True,
    **options,
) -> None:
    """Refuse, before any work, a :func:`~.outputs.compute_layers` request that
    does not fit in the memory available: the labels, the engine's working memory
    and one image copy per masked layer (unless they are lazy views, see
    :func:`~.result_layers.result_layer_data`) and for the mean-colour layer (see
    :mod:`._memory`); for a Gaussian mixture (``mixture=``, or a mixture
    ``model``), also its k probability maps and the uncertainty map (float32 each,
    counted with the working memory).

    Raises
    ------
    InsufficientMemoryError
        A ``MemoryError`` whose message names the sizes and what to do.
    """
    from ..core.features import MAX_CLUSTERS
    from ..core.memory import check_memory, estimate_memory

    k = model.n_clusters if model is not None else n_clusters
    k = 3 if k is None else k
    valid_k = (
        isinstance(k, int | np.integer)
        and not isinstance(k, bool)
        and 2 <= k <= MAX_CLUSTERS
    )  # an invalid k is refused by segment, with its own message
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        image = np.asarray(image)
    copies = masked_layers and valid_k and image.nbytes < LAZY_MASKS_BYTES
    n_layers = (int(k) if copies else 0) + bool(mean_color_layer)
    mixture = options.get("mixture") or getattr(model, "mixture", None) is not None
    # a mixture's layers: k probability maps and the uncertainty map
    n_maps = int(k) + 1 if mixture and valid_k else 0
    estimate = estimate_memory(
        image.shape,
        image.dtype,
        rgb=source.rgb,
        n_image_layers=n_layers,
        n_maps=n_maps,
        n_clusters=int(k) if valid_k else None,
        **options,
    )
    check_memory(estimate, what=f"segmenting {source.name!r}")
