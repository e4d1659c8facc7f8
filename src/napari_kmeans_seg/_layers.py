"""Segmentation result → napari layers, and the console one-liner ``segment_layer``.

No Qt here: this works with a headless ``napari.components.ViewerModel`` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._model import KMeansModel
from ._segment import SegmentationResult, segment

if TYPE_CHECKING:
    import napari

#: metadata key marking the layers this plugin made (value: the source layer's name)
SOURCE_KEY = "napari_kmeans_seg_source"


def labels_name(image_name: str) -> str:
    """Name of the labels layer made from the image layer ``image_name``."""
    return f"{image_name} clusters"


def cluster_name(image_name: str, cluster_id: int) -> str:
    """Name of the masked image layer of one cluster."""
    return f"{image_name} cluster {cluster_id}"


def mean_colors(result: SegmentationResult, dtype: np.dtype) -> np.ndarray | None:
    """Each cluster's mean colour as RGBA in [0, 1] for an RGB result, else None."""
    if not result.model.layout.rgb:
        return None
    C = result.centroids[:, :3]
    if np.issubdtype(dtype, np.integer):
        C = C / np.iinfo(dtype).max
    rgba = np.ones((len(C), 4))
    rgba[:, :3] = np.clip(C, 0.0, 1.0)
    return rgba


def _labels_colormap(result: SegmentationResult, dtype: np.dtype):
    from napari.utils.colormaps import DirectLabelColormap, label_colormap

    colors = mean_colors(result, dtype)
    if colors is None:  # napari's own distinct label colours
        cmap = label_colormap(result.n_clusters + 1)
        colors = cmap.map(np.arange(1, result.n_clusters + 1))
    color_dict: dict[int | None, Any] = {None: np.zeros(4), 0: np.zeros(4)}
    color_dict.update({i + 1: c for i, c in enumerate(colors)})
    return DirectLabelColormap(color_dict=color_dict)


@dataclass(frozen=True)
class SourceInfo:
    """What the result layers take from the image layer, read once in the main
    thread so that the work can run in another."""

    name: str
    rgb: bool
    scale: tuple[float, ...]
    translate: tuple[float, ...]
    colormap: str
    contrast_limits: tuple[float, float]

    @classmethod
    def from_layer(cls, layer: napari.layers.Image) -> SourceInfo:
        return cls(
            name=layer.name,
            rgb=bool(layer.rgb),
            scale=tuple(layer.scale),
            translate=tuple(layer.translate),
            colormap=layer.colormap.name,
            contrast_limits=tuple(layer.contrast_limits),
        )


def result_layer_data(
    result: SegmentationResult, image: np.ndarray, source: SourceInfo
) -> list[tuple[Any, dict, str]]:
    """Layer data tuples for a result on ``image``, the data of layer ``source``.

    One labels layer ``"<image> clusters"`` coloured by each cluster's mean colour
    (RGB) or napari's label colours, and one hidden image layer
    ``"<image> cluster i"`` per cluster holding the image masked to it. All carry the
    source's scale and translate.
    """
    placement = {"scale": source.scale, "translate": source.translate}
    meta = {SOURCE_KEY: source.name}
    counts = result.counts
    ids = np.arange(1, result.n_clusters + 1)
    features = {  # napari matches rows to label values by the "index" column
        "index": ids,
        "label": ids,
        "pixels": counts,
        "fraction": counts / max(int(counts.sum()), 1),
    }
    layers = [
        (
            result.labels,
            {
                "name": labels_name(source.name),
                "colormap": _labels_colormap(result, image.dtype),
                "opacity": 0.7,
                "features": features,
                "metadata": meta,
                **placement,
            },
            "labels",
        )
    ]
    display: dict[str, Any] = {"rgb": source.rgb}
    if not source.rgb:
        display["colormap"] = source.colormap
        display["contrast_limits"] = source.contrast_limits
    for i in range(1, result.n_clusters + 1):
        layers.append(
            (
                result.masked_image(image, i),
                {
                    "name": cluster_name(source.name, i),
                    "visible": False,
                    "metadata": meta,
                    **display,
                    **placement,
                },
                "image",
            )
        )
    return layers


def compute_layers(
    image: np.ndarray,
    source: SourceInfo,
    n_clusters: int | None,
    *,
    model: KMeansModel | None = None,
    **options,
) -> tuple[SegmentationResult, list[tuple[Any, dict, str]]]:
    """Segment ``image`` (the data of layer ``source``) and build its layer data:
    the work of **Segment**, safe to run outside the main thread. With ``model``,
    the model is applied instead of fitting a new one (``n_clusters`` None or the
    model's)."""
    result = segment(image, n_clusters, rgb=source.rgb, model=model, **options)
    return result, result_layer_data(result, image, source)


def add_or_update_layers(
    viewer: napari.components.ViewerModel,
    layer_data: list[tuple[Any, dict, str]],
    *,
    source_name: str,
) -> list[napari.layers.Layer]:
    """Add the layers, or update those of the same name and kind in place; remove
    this plugin's cluster layers of ``source_name`` that the new result no longer
    has (a re-run with fewer clusters). Keeps the layer selection as it was."""
    from napari.layers import Layer

    selected = set(viewer.layers.selection)
    active = viewer.layers.selection.active
    names = {meta["name"] for _, meta, _ in layer_data}
    for layer in list(viewer.layers):
        if (
            layer.metadata.get(SOURCE_KEY) == source_name
            and layer.name not in names
            and layer.name.startswith(f"{source_name} cluster ")
        ):
            viewer.layers.remove(layer)
    out = []
    for data, meta, kind in layer_data:
        name = meta["name"]
        existing = viewer.layers[name] if name in viewer.layers else None  # noqa: SIM401
        if (
            existing is not None
            and existing._type_string == kind
            and getattr(existing, "rgb", None) == meta.get("rgb")
            and existing.ndim == data.ndim - (1 if meta.get("rgb") else 0)
        ):
            existing.data = data
            for key, value in meta.items():
                if key not in ("name", "rgb", "visible"):
                    setattr(existing, key, value)
            out.append(existing)
            continue
        layer = Layer.create(data, meta, kind)
        if existing is not None:  # same name, other kind: replace at its place
            index = viewer.layers.index(existing)
            viewer.layers.remove(existing)
            viewer.layers.insert(index, layer)
        else:
            viewer.add_layer(layer)
        out.append(layer)
    viewer.layers.selection.clear()
    viewer.layers.selection.update(
        layer for layer in selected if layer in viewer.layers
    )
    if active in viewer.layers:
        viewer.layers.selection.active = active
    return out


def resolve_image_layer(viewer, layer) -> napari.layers.Image:
    """The image layer ``layer`` (a layer or its name) of ``viewer``, or a clear
    ``ValueError``."""
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
            f"layer {layer.name!r} is a {type(layer).__name__} layer; choose an image "
            "layer"
        )
    if layer.multiscale:
        raise ValueError(
            f"layer {layer.name!r} is multiscale, which is not supported yet; add its "
            "finest level as an image layer: viewer.add_image(layer.data[0])"
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
        ``model``, ...). The channel layout comes from the layer (``rgb``).

    Returns
    -------
    SegmentationResult

    Raises
    ------
    ValueError
        If the layer does not exist or is not an image layer, or :func:`segment`
        refuses the data; the message says what to do.

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
        np.asarray(source.data), SourceInfo.from_layer(source), n_clusters, **options
    )
    add_or_update_layers(viewer, layer_data, source_name=source.name)
    return result
