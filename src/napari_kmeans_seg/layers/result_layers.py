"""A segmentation result → the layer data tuples of its outputs: the labels with
the clusters' table, the masked and mean-colour images, a Gaussian mixture's maps
(:mod:`.probabilities`), all placed as the source layer. No Qt here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..core.segment import SegmentationResult
from .label_colors import check_label_colors, labels_colormap
from .levels import Levels, as_levels, first_level
from .masked import masked_layer_data
from .mean_color import mean_color_layer_data, n_mean_color_blocks
from .names import SOURCE_KEY, labels_name
from .placement import SourceInfo, labels_placement, spatial_scale
from .probabilities import mixture_layer_data, n_mixture_layers, probability_levels
from .progress import OutputProgress


def result_layer_data(
    result: SegmentationResult,
    image: np.ndarray,
    source: SourceInfo,
    *,
    label_colors: str = "mean",
    mean_color_layer: bool = False,
    masked_layers: bool = True,
    levels: Sequence[tuple[Any, Any]] | None = None,
) -> list[tuple[Any, dict, str]]:
    """Layer data tuples for a result on ``image``, the data of layer ``source``.

    Parameters
    ----------
    result : SegmentationResult
        The segmentation of ``image``.
    image : ndarray
        The data of the layer ``source`` (its finest level, for a multiscale one).
    levels : sequence of (image, labels), optional
        For a multiscale layer: each level's image and labels, finest first; the
        layers are then multiscale too (lazy where the levels are).
    source : SourceInfo
        The image layer's name, display settings and placement.
    label_colors : {"mean", "distinct"}
        Colour of each cluster in the labels layer: its mean colour (RGB images;
        others get distinct colours anyway) or distinct colours (napari's for an
        RGB image, saturated hues apart from any grey for others:
        :func:`distinct_colors`).
    mean_color_layer : bool
        Also make the image layer ``"<image> mean colour"``: each pixel in its
        cluster's mean colour (:meth:`SegmentationResult.mean_color_image`).
    masked_layers : bool
        Make one hidden image layer ``"<image> cluster i"`` per cluster, the image
        masked to it; for a large image (:data:`~.masked.LAZY_MASKS_BYTES`) a lazy
        view (:func:`~.masked.lazy_view`), computed plane by plane when shown, so
        that it costs neither time nor memory when made.

    Returns
    -------
    list of (data, meta, kind)
        The mean-colour layer (if asked, below the labels), the labels layer
        ``"<image> clusters"`` whose ``features`` are :meth:`result.table()
        <SegmentationResult.table>` with an ``index`` column (= label, which napari
        uses to match rows to label values, so hovering shows the cluster's row),
        then the masked layers, then for a Gaussian mixture (``mixture=``) its
        probability maps and uncertainty map
        (:func:`~.probabilities.mixture_layer_data`). All carry the source's whole
        placement (:meth:`~.placement.SourceInfo.placement`), so each pixel lands
        on its image pixel.

    Raises
    ------
    ValueError
        If ``label_colors`` is not one of :data:`~.label_colors.LABEL_COLORS`.
    """
    check_label_colors(label_colors)
    if levels is None:
        levels = [(image, result.labels)]
    at = Levels([(im, replace(result, labels=labels)) for im, labels in levels], source)
    progress = OutputProgress(
        (n_mean_color_blocks(result.labels) if mean_color_layer else 0)
        + 1
        + (result.n_clusters if masked_layers else 0)
        + n_mixture_layers(result)
    )
    layers = []
    if mean_color_layer:
        layers.append(mean_color_layer_data(at, progress))
    layers.append(_labels_layer(at, result, label_colors))
    progress.step()
    if masked_layers:
        layers += masked_layer_data(at, image, progress)
    layers += _mixture_layers(at, result, label_colors, progress)
    return layers


def _mixture_layers(
    at: Levels, result: SegmentationResult, colors: str, progress: OutputProgress
) -> list:
    """A Gaussian mixture's probability and uncertainty maps, placed as the labels
    (every level of a multiscale layer); none for k-means."""
    if result.probabilities is None:
        return []
    source = at.source
    levels = None
    if len(at.pairs) > 1:  # multiscale: each level's probabilities, lazily
        axis = None if source.rgb else result.model.layout.channel_axis
        scale = spatial_scale(source.scale, {"channel_axis": axis})
        levels = probability_levels(result, [im for im, _ in at.pairs], scale)
    return mixture_layer_data(
        result,
        source.name,
        labels_placement(source.placement(), result, source),
        label_colors=colors,
        rgb=source.rgb,
        levels=levels,
        metadata={SOURCE_KEY: source.name},
        step=progress.step,
    )


def _labels_layer(at: Levels, result: SegmentationResult, colors: str):
    """The labels layer (every level), its colours and the clusters' table."""
    source = at.source
    features = result.table()
    features.insert(0, "index", features["label"].to_numpy())
    meta = {
        "name": labels_name(source.name),
        "colormap": labels_colormap(result, colors, rgb=source.rgb),
        "opacity": 0.7,
        "features": features,
        "metadata": {SOURCE_KEY: source.name},
        **labels_placement(source.placement(), result, source),
    }
    return (as_levels([r.labels for _, r in at.pairs]), meta, "labels")


def prepare_colormaps(layer_data: list[tuple[Any, dict, str]]) -> None:
    """Map a label through each labels colormap, here in the worker thread: napari
    compiles its label-colour lookup (numba) on first use in a process, which takes
    seconds, and caches each colormap's lookup table; done here, neither blocks the
    main thread when the layer is added."""
    for data, meta, kind in layer_data:
        cmap = meta.get("colormap")
        if kind == "labels" and hasattr(cmap, "map"):
            cmap.map(np.zeros(1, first_level(data).dtype))
