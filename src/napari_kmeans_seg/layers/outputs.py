"""Segmentation result → napari layers, and the console one-liner ``segment_layer``.

No Qt here: this works with a headless ``napari.components.ViewerModel`` too.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import lazy as _lazy
from ..core.model import KMeansModel
from ..core.options import check_bool
from ..core.parallel import current_check
from ..core.segment import SegmentationResult, segment
from .label_colors import check_label_colors, labels_colormap
from .owned import Made, made, mark_made
from .probabilities import (
    is_mixture_output,
    mixture_layer_data,
    n_mixture_layers,
    probability_levels,
    with_probabilities,
)

if TYPE_CHECKING:
    import napari

#: metadata key naming the source layer of an output (information only: a copy of
#: a layer carries it too, so ownership is known by identity, see :mod:`.owned`)
SOURCE_KEY = "napari_kmeans_seg_source"


def labels_name(image_name: str) -> str:
    """Name of the labels layer made from the image layer ``image_name``."""
    return f"{image_name} clusters"


def cluster_name(image_name: str, cluster_id: int) -> str:
    """Name of the masked image layer of one cluster."""
    return f"{image_name} cluster {cluster_id}"


def mean_color_name(image_name: str) -> str:
    """Name of the mean-colour image layer made from the image layer
    ``image_name``."""
    return f"{image_name} mean colour"


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
                out[key] = value if key in _NAMES else np.asarray(value)
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
    :func:`~napari_kmeans_seg.core.zarr_io.write_ome_labels`), without the
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
        masked to it; for a large image (:data:`LAZY_MASKS_BYTES`) a lazy view
        (:func:`lazy_view`), computed plane by plane when shown, so that it costs
        neither time nor memory when made.

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
        placement (:meth:`SourceInfo.placement`), so each pixel lands on its
        image pixel.

    Raises
    ------
    ValueError
        If ``label_colors`` is not one of :data:`~.label_colors.LABEL_COLORS`.
    """
    check_label_colors(label_colors)
    if levels is None:
        levels = [(image, result.labels)]
    at = _Levels(
        [(im, replace(result, labels=labels)) for im, labels in levels], source
    )
    progress = _OutputProgress(
        (_n_blocks(result.labels) if mean_color_layer else 0)
        + 1
        + (result.n_clusters if masked_layers else 0)
        + n_mixture_layers(result)
    )
    layers = []
    if mean_color_layer:
        layers.append(_mean_color_layer(at, progress))
    layers.append(_labels_layer(at, result, label_colors))
    progress.step()
    if masked_layers:
        layers += _masked_layers(at, image, progress)
    layers += _mixture_layers(at, result, label_colors, progress)
    return layers


def _mixture_layers(
    at: _Levels, result: SegmentationResult, colors: str, progress: _OutputProgress
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
        _labels_placement(source.placement(), result, source),
        label_colors=colors,
        rgb=source.rgb,
        levels=levels,
        metadata={SOURCE_KEY: source.name},
        step=progress.step,
    )


@dataclass(frozen=True)
class _Levels:
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


class _OutputProgress:
    """Counts the outputs (and blocks of the mean-colour image) built, telling the
    callback of :func:`reporting_outputs` in this thread, if any."""

    def __init__(self, total: int):
        self.done, self.total = 0, total
        self._report = getattr(_reporting, "callback", None)

    def step(self) -> None:
        self.done += 1
        if self._report is not None:
            self._report(self.done, self.total)


_reporting = threading.local()


@contextlib.contextmanager
def reporting_outputs(callback: Callable[[int, int], None]):
    """Call ``callback(done, total)`` as :func:`result_layer_data` (run in this
    thread, in this context) builds each output, and each block of rows of the
    mean-colour image: how far building the outputs got."""
    before = getattr(_reporting, "callback", None)
    _reporting.callback = callback
    try:
        yield
    finally:
        _reporting.callback = before


def _mean_color_layer(at: _Levels, progress: _OutputProgress):
    """The mean-colour layer: every level in its clusters' mean colours."""
    data = [_mean_color_image(r, im, progress) for im, r in at.pairs]
    return (_levels(data), at.meta(mean_color_name(at.source.name)), "image")


def _labels_layer(at: _Levels, result: SegmentationResult, colors: str):
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
        **_labels_placement(source.placement(), result, source),
    }
    return (_levels([r.labels for _, r in at.pairs]), meta, "labels")


def _masked_layers(at: _Levels, image, progress: _OutputProgress) -> list:
    """One hidden layer per cluster: each level masked to it (lazy views of a
    large image, see :func:`lazy_view`)."""
    pairs = at.pairs
    if _lazy_masks(image):
        pairs = [
            (lazy_view(im, rgb=at.source.rgb), replace(r, labels=lazy_view(r.labels)))
            for im, r in pairs
        ]
    stop = current_check()  # a cancelled run stops between two outputs
    layers = []
    for i in range(1, pairs[0][1].n_clusters + 1):
        stop()
        data = _levels([r.masked_image(im, i) for im, r in pairs])
        meta = at.meta(cluster_name(at.source.name, i), visible=False)
        layers.append((data, meta, "image"))
        progress.step()
    return layers


#: pixels per block of the mean-colour image: a cancelled run stops between two
MEAN_BLOCK_PIXELS = 1 << 21


def _n_blocks(labels) -> int:
    """How many blocks of rows (first axis) :func:`_mean_color_image` makes."""
    if _lazy.is_lazy(labels) or labels.ndim == 0 or not labels.size:
        return 1
    rows = max(1, MEAN_BLOCK_PIXELS // (labels.size // labels.shape[0]))
    return -(-labels.shape[0] // rows)


def _mean_color_image(result: SegmentationResult, image, progress) -> Any:
    """:meth:`SegmentationResult.mean_color_image` in ``image``'s dtype, from the
    result's own channel means (not summed again from the pixels), made block
    by block of rows: a cancelled run stops between two blocks."""
    result = replace(result, image_dtype=np.dtype(image.dtype).name)
    labels = result.labels
    stop = current_check()
    if _lazy.is_lazy(labels):
        stop()
        out = result.mean_color_image()
        progress.step()
        return out
    layout = result.model.layout
    axis = 0  # the output's axis of the labels' first axis
    if not layout.rgb and layout.channel_axis is not None:
        axis = int(layout.channel_axis % (labels.ndim + 1) == 0)
    n = _n_blocks(labels)
    out = None
    for a, b in itertools.pairwise(np.linspace(0, labels.shape[0], n + 1).astype(int)):
        stop()
        block = replace(result, labels=labels[a:b]).mean_color_image()
        if out is None:
            shape = list(block.shape)
            shape[axis] = labels.shape[0]
            out = np.empty(shape, block.dtype)
        out[(slice(None),) * axis + (slice(a, b),)] = block
        progress.step()
    return out


def _levels(arrays: list) -> Any:
    """One array, or the list of a multiscale layer's levels."""
    return arrays if len(arrays) > 1 else arrays[0]


#: in-memory images from this size on get lazy masked layers (:func:`lazy_view`);
#: smaller ones are masked at once, faster than a first dask computation
LAZY_MASKS_BYTES = 32 * 2**20


def _lazy_masks(image) -> bool:
    """Whether the masked layers of ``image`` are lazy views; for an in-memory one,
    dask's scheduler is loaded here (in the worker thread), so that showing the
    first of them does not wait for it."""
    if _lazy.is_lazy(image):
        return True
    if getattr(image, "nbytes", 0) < LAZY_MASKS_BYTES:
        return False
    _warm_up_dask()
    return True


@functools.cache
def _warm_up_dask() -> None:
    """One tiny dask computation: the first in a process loads the scheduler's
    modules (about a second)."""
    import dask.array as da

    da.zeros(2, chunks=1).sum().compute()


def lazy_view(array, *, rgb: bool = False) -> Any:
    """``array`` as a dask array without a copy (a lazy one as it is), one chunk
    per plane (the last two axes, and the colour axis of an RGB(A) image): an
    output computed from it costs neither time nor memory until napari shows a
    plane of it, and then only that plane."""
    if _lazy.is_lazy(array):
        return array
    import dask.array as da

    whole = min(array.ndim, 3 if rgb else 2)
    leading = array.ndim - whole
    # name=False: a random name, not a hash of all the data (~0.1 s per 100 MB)
    return da.from_array(
        array, chunks=(1,) * leading + array.shape[leading:], name=False
    )


def _labels_placement(
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
    for key in _NAMES:
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
    the layers (see :func:`result_layer_data`); the other ``options`` go to
    :func:`segment`, with the layer's ``scale`` unless given. Before any work, a
    request that would not fit in the memory available is refused
    (:func:`check_layers_memory`).

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
    """Refuse, before any work, a :func:`compute_layers` request that does not fit
    in the memory available: the labels, the engine's working memory and one image
    copy per masked layer (unless they are lazy views, see :func:`result_layer_data`)
    and for the mean-colour layer (see :mod:`._memory`); for a Gaussian mixture
    (``mixture=``, or a mixture ``model``), also its k probability maps and the
    uncertainty map (float32 each, counted with the working memory).

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
    estimate = estimate_memory(
        image.shape, image.dtype, rgb=source.rgb, n_image_layers=n_layers, **options
    )
    mixture = options.get("mixture") or getattr(model, "mixture", None) is not None
    if mixture and valid_k:  # labels: 1 byte per pixel; each map 4
        maps = (int(k) + 1) * 4 * estimate.labels
        estimate = replace(estimate, engine=estimate.engine + maps)
    check_memory(estimate, what=f"segmenting {source.name!r}")


def prepare_colormaps(layer_data: list[tuple[Any, dict, str]]) -> None:
    """Map a label through each labels colormap, here in the worker thread: napari
    compiles its label-colour lookup (numba) on first use in a process, which takes
    seconds, and caches each colormap's lookup table; done here, neither blocks the
    main thread when the layer is added."""
    for data, meta, kind in layer_data:
        cmap = meta.get("colormap")
        if kind == "labels" and hasattr(cmap, "map"):
            cmap.map(np.zeros(1, _first_level(data).dtype))


def _first_level(data):
    """The data itself, or its finest level when it is multiscale (a list)."""
    return data[0] if isinstance(data, list) else data


def output_name(layer) -> str | None:
    """The name this plugin gave ``layer`` when it made it (``"<image> clusters"``,
    ``"<image> cluster 2"``, ...; it keeps that role when renamed, or when a
    user's layer held the name and it got another), or None for a layer the
    plugin did not make (a copy of an output included)."""
    record = made(layer)
    return None if record is None else record.role


def find_output_layer(
    viewer: napari.components.ViewerModel, source_name: str, name: str
) -> napari.layers.Layer | None:
    """The layer this plugin made as ``name`` (e.g. :func:`labels_name` of the
    image) for the image layer ``source_name``, whatever it is called now; None
    if there is none. A user's layer that merely has the name is never it."""
    for layer in viewer.layers:
        if made(layer) == Made(source=source_name, role=name):
            return layer
    return None


def free_name(viewer: napari.components.ViewerModel, name: str) -> str:
    """``name``, or ``"name [i]"`` with the smallest ``i`` no layer has."""
    if name not in viewer.layers:
        return name
    i = 1
    while f"{name} [{i}]" in viewer.layers:
        i += 1
    return f"{name} [{i}]"


def add_or_update_layers(
    viewer: napari.components.ViewerModel,
    layer_data: list[tuple[Any, dict, str]],
    *,
    source_name: str,
) -> list[napari.layers.Layer]:
    """Add the layers, or update in place those this plugin made for
    ``source_name`` (see :func:`iter_add_or_update_layers`). Keeps the layer
    selection as it was."""
    return [
        layer
        for layer in iter_add_or_update_layers(
            viewer, layer_data, source_name=source_name
        )
        if layer is not None
    ]


def iter_add_or_update_layers(
    viewer: napari.components.ViewerModel,
    layer_data: list[tuple[Any, dict, str]],
    *,
    source_name: str,
) -> Iterator[napari.layers.Layer | None]:
    """:func:`add_or_update_layers` one step at a time, for the main thread of a GUI.

    Only the layer objects this plugin made for ``source_name`` (see
    :mod:`.owned`) are updated or removed: a user's layer that has an output's
    name, or a copy of an output (napari's *Duplicate Layer* copies its metadata),
    is left as it is, and the output gets a free
    name (:func:`free_name`). This plugin's cluster, mean-colour, probability and
    uncertainty layers of ``source_name`` that the new result no longer has (a
    re-run with fewer clusters, without them, or with k-means after a Gaussian
    mixture) are removed.

    Adding a big layer takes a noticeable fraction of a second (napari builds its
    controls, thumbnail and texture), so the widget lets the event loop run between
    steps. The first steps remove the stale layers, one each (yield None), then
    each step adds or updates one layer (yields it), and the last restores the
    selection (yields None). Stopping early leaves the layers done so far.
    """
    selected = set(viewer.layers.selection)
    active = viewer.layers.selection.active
    names = {meta["name"] for _, meta, _ in layer_data}
    for layer in list(viewer.layers):
        record = made(layer)
        if (
            record is not None
            and record.source == source_name
            and record.role not in names
            and (
                record.role.startswith(f"{source_name} cluster ")
                or record.role == mean_color_name(source_name)
                or is_mixture_output(source_name, record.role)
            )
        ):
            viewer.layers.remove(layer)
            yield None  # removing a big layer takes a moment too
    yield None
    for data, meta, kind in layer_data:
        yield from _add_or_update_one(viewer, data, meta, kind, source_name)
    viewer.layers.selection.clear()
    viewer.layers.selection.update(
        layer for layer in selected if layer in viewer.layers
    )
    if active in viewer.layers:
        viewer.layers.selection.active = active
    yield None


#: what places a layer, and the value that leaves an axis as it is
_PLACEMENT = {
    "scale": lambda n: np.ones(n),
    "translate": lambda n: np.zeros(n),
    "rotate": lambda n: np.eye(n),
    "shear": lambda n: np.zeros(n * (n - 1) // 2),
    "affine": lambda n: np.eye(n + 1),
    "units": lambda n: ("pixel",) * n,
    "axis_labels": _default_axis_labels,
}
#: the placement entries that are names, one per axis
_NAMES = ("units", "axis_labels")


def _add_or_update_one(viewer, data, meta, kind, source_name):
    """Update this plugin's layer made as ``meta["name"]`` (yield it), or add a
    new one under a free name (yield None, then it, once shown)."""
    from napari.layers import Layer

    role = meta["name"]
    source = meta.get("metadata", {}).get(SOURCE_KEY, source_name)
    existing = find_output_layer(viewer, source, role)
    if existing is not None and _fits(existing, data, meta, kind):
        existing.data = data
        ndim = existing.ndim
        for key, default in _PLACEMENT.items():  # a placement left out is reset
            _set_if_changed(existing, key, meta.get(key, default(ndim)))
        for key, value in meta.items():
            if key not in ("name", "rgb", "visible", *_PLACEMENT):
                setattr(existing, key, value)
        yield existing
        return
    # a new layer is added hidden, then shown in a step of its own: napari
    # builds its controls and visual in one, slices and uploads its data in
    # the other, so neither holds the event loop for both
    visible = meta.get("visible", True)
    index = None
    if existing is not None:  # ours, of another kind: replaced at its place
        index = viewer.layers.index(existing)
        viewer.layers.remove(existing)
    name = free_name(viewer, role)
    layer = Layer.create(data, {**meta, "name": name, "visible": False}, kind)
    mark_made(layer, source=source, role=role)
    if index is not None:
        viewer.layers.insert(index, layer)
    else:
        viewer.add_layer(layer)
    if visible:
        yield None
        layer.visible = True
    yield layer


def _set_if_changed(layer, key: str, value) -> None:
    """Set a placement attribute only if it changes: each change refreshes the
    layer (slicing and uploading its data again)."""
    current = getattr(layer, key)
    if key in _NAMES:
        same = tuple(str(u) for u in current) == tuple(str(u) for u in value)
    else:
        if key == "affine":
            current = current.affine_matrix
        value_array = np.asarray(value, dtype=float)
        if key == "rotate" and value_array.ndim == 0:  # an angle (2D)
            same = False
        else:
            same = np.shape(current) == value_array.shape and np.array_equal(
                current, value_array
            )
    if not same:
        setattr(layer, key, value)


def _fits(existing, data, meta, kind) -> bool:
    """Whether ``existing`` can take the new data in place (same kind, RGB-ness,
    multiscale-ness and dimensions)."""
    return (
        existing.__class__.__name__.lower() == kind  # public, unlike
        # _type_string (napari's plugin proxy warns on private attributes)
        and getattr(existing, "rgb", None) == meta.get("rgb")
        and existing.multiscale == isinstance(data, list)
        and existing.ndim == _first_level(data).ndim - (1 if meta.get("rgb") else 0)
    )


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
    :func:`find_output_layer`).

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
        :func:`result_layer_data`). The channel layout (``rgb``) and the pixel
        size (``scale``) come from the layer.

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
