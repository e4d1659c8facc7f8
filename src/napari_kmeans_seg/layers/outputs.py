"""An image layer segmented into its result layers: the work of **Segment**
(:func:`compute_layers`) and the console one-liner ``segment_layer``.

No Qt here: this works with a headless ``napari.components.ViewerModel`` too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import lazy as _lazy
from ..core.model import KMeansModel
from ..core.options import check_bool
from ..core.parallel import current_check
from ..core.segment import SegmentationResult, segment
from .label_colors import check_label_colors
from .levels import label_levels, multiscale_levels
from .memory_check import check_layers_memory
from .placement import SourceInfo, spatial_scale
from .probabilities import with_probabilities
from .result_layers import prepare_colormaps, result_layer_data
from .viewer_layers import add_or_update_layers

if TYPE_CHECKING:
    import napari


def compute_layers(
    image: np.ndarray,
    source: SourceInfo,
    n_clusters: int | None,
    *,
    model: KMeansModel | None = None,
    label_colors: str = "mean",
    mean_color_layer: bool = False,
    masked_layers: bool = True,
    **options,
) -> tuple[SegmentationResult, list[tuple[Any, dict, str]]]:
    """Segment ``image`` (the data of layer ``source``) and build its layer data:
    the work of **Segment**, safe to run outside the main thread. With ``model``,
    the model is applied instead of fitting a new one (``n_clusters`` None or the
    model's). ``label_colors``, ``mean_color_layer`` and ``masked_layers`` choose
    the layers (see :func:`~.result_layers.result_layer_data`); the other
    ``options`` go to :func:`segment`, with the layer's ``scale`` unless given.
    Before any work, a request that would not fit in the memory available is
    refused (:func:`~.memory_check.check_layers_memory`).

    ``image`` may be any array-like. A lazy one (dask, zarr) stays lazy: the fit
    reads a bounded region (``fit_pixels``) and every output layer is a lazy dask
    array that napari computes chunk by chunk as it shows them. A multiscale layer
    (``source.multiscale``; ``image`` the list of levels, finest first) is fitted
    on its finest level, as a lazy image, and every level is labelled lazily: the
    outputs are multiscale."""
    check_label_colors(label_colors)
    mean_color_layer = check_bool(mean_color_layer, "mean_color_layer")
    masked_layers = check_bool(masked_layers, "masked_layers")
    options = {"scale": spatial_scale(source.scale, options), **options}
    levels = None
    if source.multiscale:
        image, levels = multiscale_levels(image)
    if not _lazy.is_lazy(image):
        check_layers_memory(
            image,
            source,
            n_clusters,
            model=model,
            mean_color_layer=mean_color_layer,
            masked_layers=masked_layers,
            **options,
        )
        image = np.asarray(image)
    result = segment(image, n_clusters, rgb=source.rgb, model=model, **options)
    current_check()()  # cancelled while segmenting: no outputs
    result = with_probabilities(
        result, image, mask=options.get("mask"), scale=options.get("scale")
    )
    if levels is not None:
        levels = label_levels(result, levels, options.get("scale"))
    layer_data = result_layer_data(
        result,
        image,
        source,
        label_colors=label_colors,
        mean_color_layer=mean_color_layer,
        masked_layers=masked_layers,
        levels=levels,
    )
    prepare_colormaps(layer_data)
    return result, layer_data


def resolve_image_layer(viewer, layer) -> napari.layers.Image:
    """The image layer ``layer`` (a layer or its name) of ``viewer``, or a clear
    ``ValueError`` (also for a layer object no longer in the viewer)."""
    from napari.layers import Image

    if layer is None:
        raise ValueError("no image layer chosen: open an image and select it")
    if isinstance(layer, str):
        if layer not in viewer.layers:
            known = ", ".join(repr(x.name) for x in viewer.layers) or "none"
            raise ValueError(
                f"no layer named {layer!r} in the viewer (layers: {known})"
            )
        layer = viewer.layers[layer]
    if not isinstance(layer, Image):
        raise ValueError(
            f"layer {getattr(layer, 'name', layer)!r} is a {type(layer).__name__} "
            "layer; choose an image layer"
        )
    if layer not in viewer.layers:
        raise ValueError(
            f"layer {layer.name!r} is no longer in the viewer (it was removed); "
            "choose a layer of the viewer"
        )
    return layer


def segment_layer(
    viewer: napari.components.ViewerModel,
    layer,
    n_clusters: int | None = None,
    **options,
) -> SegmentationResult:
    """Segment an image layer and add (or update) the result layers, as **Segment**
    does in the widget.

    A lazy layer (dask, zarr) is fitted on a bounded region and gets lazy output
    layers; a multiscale layer is fitted on its finest level and every level is
    labelled (multiscale outputs): see :func:`compute_layers`.

    The outputs carry the layer's whole placement (scale, translate, rotate,
    shear, affine, units), so each lands on its image pixels. Only layers this
    plugin made are updated; a user's layer that has an output's name is left
    as it is and the output takes a free name (``"img clusters [1]"``; see
    :func:`~.viewer_layers.find_output_layer`).

    Parameters
    ----------
    viewer : napari.Viewer or napari.components.ViewerModel
        The viewer holding the layer.
    layer : napari.layers.Image or str
        The image layer, or its name.
    n_clusters : int, optional
        Number of clusters, from 2 to 254; 3 when None, or the model's with
        ``model=``.
    **options
        Keyword options of :func:`segment` (``random_state``, ``method``,
        ``model``, ``color_space``, ``spatial_weight``, ``fit_pixels``, ...) and of
        the layers
        (``label_colors``, ``mean_color_layer``, ``masked_layers``: see
        :func:`~.result_layers.result_layer_data`). The channel layout (``rgb``)
        and the pixel size (``scale``) come from the layer.

    Returns
    -------
    SegmentationResult

    Raises
    ------
    ValueError
        If the layer does not exist, is no longer in the viewer or is not an
        image layer, or :func:`segment` refuses the data; the message says what
        to do.
    MemoryError
        If the labels, the engine's working memory and the masked layers would not
        fit in the memory available; refused before any work, and the message names
        the sizes and what to do (e.g. ``masked_layers=False``).

    Examples
    --------
    In napari's console, with the astronaut sample open:

    >>> from napari_kmeans_seg import segment_layer
    >>> result = segment_layer(viewer, "astronaut", n_clusters=3)  # doctest: +SKIP

    The same classes on another layer, with a saved model:

    >>> from napari_kmeans_seg import KMeansModel
    >>> model = KMeansModel.load("astronaut-k3.json")  # doctest: +SKIP
    >>> segment_layer(viewer, "coffee", model=model)  # doctest: +SKIP
    """
    source = resolve_image_layer(viewer, layer)
    result, layer_data = compute_layers(
        source.data, SourceInfo.from_layer(source), n_clusters, **options
    )
    add_or_update_layers(viewer, layer_data, source_name=source.name)
    return result
