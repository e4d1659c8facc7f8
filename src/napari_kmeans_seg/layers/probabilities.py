"""A Gaussian mixture's soft outputs as layer data: one probability map per cluster
(``"<image> probability i"``, hidden at first) and the uncertainty map
(``"<image> uncertainty"``, 1 − max probability, shown). No Qt here.

Each map has the labels' shape and is placed as the labels are; lazy results give
dask maps as they are (napari computes the chunks it shows), a multiscale layer one
map per level (:func:`probability_levels`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..core.parallel import current_check
from ..core.segment import SegmentationResult
from .label_colors import labels_colormap


def probability_name(image_name: str, cluster_id: int) -> str:
    """Name of the probability map of cluster ``cluster_id`` of a Gaussian mixture
    made from the image layer ``image_name``."""
    return f"{image_name} probability {cluster_id}"


def uncertainty_name(image_name: str) -> str:
    """Name of the uncertainty map (1 − max probability) made from the image layer
    ``image_name``."""
    return f"{image_name} uncertainty"


def is_mixture_output(source_name: str, role: str) -> bool:
    """Whether ``role`` (the name an output was made under) is a probability or
    uncertainty map of the image layer ``source_name``: what a k-means re-run, which
    has none, removes."""
    return role == uncertainty_name(source_name) or (
        role.startswith(f"{source_name} probability ")
        and role.rsplit(" ", 1)[-1].isdigit()
    )


def cluster_colormaps(result: SegmentationResult, label_colors: str, *, rgb: bool):
    """Each cluster's colour in the labels layer (:func:`labels_colormap`) as a
    napari colormap name ``"#rrggbb"`` (black to that colour), brightened to full
    value so that a dark cluster's map still shows; a grey or black cluster gets
    black to white. A single-channel image's labels in their mean grey
    (``"mean"``) leave the maps their distinct colours: a grey says nothing."""
    cmap = labels_colormap(result, label_colors, rgb=rgb)
    names = []
    for i in range(1, result.n_clusters + 1):
        color = np.asarray(cmap.color_dict.get(i, np.ones(4)), float)[:3]
        top = float(color.max())
        color = color / top if top > 1e-3 else np.ones(3)
        if np.ptp(color) < 0.05:  # a grey: its hue says nothing
            color = np.ones(3)
        names.append("#" + "".join(f"{round(255 * c):02x}" for c in color))
    return names


def with_probabilities(
    result: SegmentationResult, image, *, mask=None, scale=None
) -> SegmentationResult:
    """``result`` with its Gaussian mixture's probability maps: those of
    :func:`segment` or, should it give none though its model is a mixture (it
    did for an in-memory image fitted on ``fit_pixels`` of it), the model's
    :meth:`~KMeansModel.predict_proba` of ``image`` (``mask`` and ``scale`` as
    given to :func:`segment`). k-means results as they are."""
    if result.probabilities is not None or result.model.mixture is None:
        return result
    probabilities = result.model.predict_proba(image, mask=mask, scale=scale)
    return replace(result, probabilities=probabilities)


def probability_levels(
    result: SegmentationResult, images: Sequence[Any], scale: Sequence[float] | None
) -> list[Any]:
    """Each level's probabilities, finest first: the result's own for the finest,
    the model's lazy :meth:`~KMeansModel.predict_proba` for the others (with the
    level's pixel size, as the labels of the levels are made)."""
    model = result.model
    finest = model.layout_for(images[0].shape).spatial_shape(images[0].shape)
    out = [result.probabilities]
    for image in images[1:]:
        shape = model.layout_for(image.shape).spatial_shape(image.shape)
        level_scale = None
        if scale is not None:
            level_scale = tuple(
                s * n0 / n for s, n0, n in zip(scale, finest, shape, strict=True)
            )
        out.append(model.predict_proba(image, scale=level_scale))
    return out


def mixture_layer_data(
    result: SegmentationResult,
    source_name: str,
    placement: dict[str, Any],
    *,
    label_colors: str = "mean",
    rgb: bool = False,
    levels: Sequence[Any] | None = None,
    metadata: dict[str, Any] | None = None,
    step: Callable[[], None] | None = None,
) -> list[tuple[Any, dict, str]]:
    """The layer data of a Gaussian mixture's probability and uncertainty maps
    (none for k-means).

    Parameters
    ----------
    result : SegmentationResult
        A result with ``probabilities`` (``mixture=``); k-means gives ``[]``.
    source_name : str
        The image layer the maps are named after.
    placement : dict
        The labels layer's placement (the source's whole transform, without a
        channel axis): every map lands on its pixels.
    label_colors : {"mean", "distinct"}
        How the labels are coloured: each probability map goes from black to its
        cluster's colour (:func:`cluster_colormaps`).
    rgb : bool
        Whether the source is an RGB image (for those colours).
    levels : sequence of arrays, optional
        Each level's ``(k, ...)`` probabilities, finest first (a multiscale
        layer: :func:`probability_levels`); None: ``result.probabilities``.
    metadata : dict, optional
        The layers' metadata (information only; ownership is by identity).
    step : callable, optional
        Called after each layer is built (progress).

    Returns
    -------
    list of (data, meta, kind)
        ``"<image> probability i"`` for each cluster ``i`` (float32 in [0, 1],
        hidden, contrast limits (0, 1), additive blending), then ``"<image>
        uncertainty"`` (``1 - max`` probability, shown, magma, contrast limits
        (0, 1), additive: certain pixels add nothing over the image). Lazy where
        the probabilities are.
    """
    if result.probabilities is None:
        return []
    levels = [result.probabilities] if levels is None else list(levels)
    stop = current_check()  # a cancelled run stops between two outputs
    common = {
        "rgb": False,
        "contrast_limits": (0.0, 1.0),
        "blending": "additive",
        "metadata": dict(metadata or {}),
        **placement,
    }
    out = []
    colors = cluster_colormaps(result, label_colors, rgb=rgb)
    for i, color in enumerate(colors, start=1):
        stop()
        data = _levels([level[i - 1] for level in levels])
        meta = {
            "name": probability_name(source_name, i),
            "visible": False,
            "colormap": color,
            **common,
        }
        out.append((data, meta, "image"))
        if step is not None:
            step()
    stop()
    uncertainty = [
        result.uncertainty if level is result.probabilities else 1 - level.max(axis=0)
        for level in levels
    ]
    meta = {"name": uncertainty_name(source_name), "colormap": "magma", **common}
    out.append((_levels(uncertainty), meta, "image"))
    if step is not None:
        step()
    return out


def n_mixture_layers(result: SegmentationResult) -> int:
    """How many layers :func:`mixture_layer_data` makes of ``result``."""
    return 0 if result.probabilities is None else result.n_clusters + 1


def _levels(arrays: list) -> Any:
    return arrays if len(arrays) > 1 else arrays[0]
