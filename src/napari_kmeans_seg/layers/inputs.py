"""What the widget's **Segment** clusters, read from the viewer, and how the result
becomes layers again: the non-GUI half of the widget's inputs.

A :class:`SegmentationInput` is read in the main thread when Segment is clicked
(layer choices, mask, current slice, layers as channels), carries only data
objects and plain values to the worker thread, and turns a result (or a merged
one) into layer data there. No Qt here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.lazy import is_lazy
from ..core.parallel import current_check
from ..core.segment import SegmentationResult
from .levels import label_levels, multiscale_levels
from .memory_check import check_layers_memory
from .names import SOURCE_KEY, cluster_name, labels_name, mean_color_name
from .outputs import compute_layers
from .owned import made, mark_made
from .placement import SourceInfo, spatial_scale
from .result_layers import prepare_colormaps, result_layer_data
from .viewer_layers import iter_add_or_update_layers

if TYPE_CHECKING:
    import napari

#: the layer options of the result layers (see :func:`result_layer_data`)
LAYER_OPTIONS = ("label_colors", "mean_color_layer", "masked_layers")


@dataclass(frozen=True, eq=False)
class SegmentationInput:
    """What one click of Segment clusters, as read from the viewer.

    Attributes
    ----------
    name : str
        What the outputs are named after: the labels layer is ``"<name>
        clusters"``.
    data : array-like
        What is clustered, as given (a numpy, dask or zarr array; loaded in the
        worker thread).
    source : SourceInfo
        The name, display settings and placement of the outputs.
    layers : tuple of napari.layers.Image
        The layers read.
    datas : tuple
        Their ``data`` objects when read (replaced data: the result is stale).
    names : tuple of str
        Their names when read.
    options : dict
        Keyword options of :func:`segment` that come from the inputs (``mask``,
        ``channel_axis``, ``scale``).
    channels : tuple of SourceInfo
        With several layers as channels (:func:`channels_input`): each layer's
        name, display and placement, in the order of :attr:`data`'s axis 0; its
        masked (and mean-colour) outputs are named after it. Empty otherwise.
    channel_dtypes : tuple of numpy.dtype
        The dtype of each of those layers (the stack may have a wider one).
    stacked_in_worker : bool
        :attr:`data` is a lazy stack of in-memory layers: :meth:`load` stacks them
        into one array in the worker thread (a copy of every layer: not in the
        main thread).
    """

    name: str
    data: Any
    source: SourceInfo
    layers: tuple = ()
    datas: tuple = ()
    names: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    channels: tuple[SourceInfo, ...] = ()
    channel_dtypes: tuple[np.dtype, ...] = ()
    stacked_in_worker: bool = False

    @property
    def lazy(self) -> bool:
        """Whether the data is lazy and stays so (dask, zarr; not a stack of
        in-memory layers)."""
        return is_lazy(self.data) and not self.stacked_in_worker

    def load(self) -> Any:
        """:attr:`data` as it is segmented (call it in a worker thread): lazy data
        as it is, anything else as an array (a stack of in-memory layers is
        stacked here)."""
        return self.data if self.lazy else np.asarray(self.data)

    @property
    def channel_names(self) -> tuple[str, ...]:
        """The names of the layers clustered as channels (empty otherwise)."""
        return tuple(c.name for c in self.channels)

    @property
    def n_pixels(self) -> int:
        """Number of pixels clustered (the finest level of a multiscale layer)."""
        shape = tuple(self.data[0].shape if self.source.multiscale else self.data.shape)
        if self.channels:
            shape = shape[1:]
        elif self.source.rgb:
            shape = shape[:-1]
        return int(np.prod(shape))

    @property
    def source_names(self) -> tuple[str, ...]:
        """The source names the output layers are grouped under (their
        ``metadata[SOURCE_KEY]``)."""
        return (self.name, *(c.name for c in self.channels))

    def renamed(self, name: str) -> SegmentationInput:
        """The same input after its single layer was renamed ``name``."""
        return replace(
            self, name=name, source=replace(self.source, name=name), names=(name,)
        )

    def problem(self, viewer: napari.components.ViewerModel) -> str | None:
        """Why a result of this input no longer fits the viewer's layers (one was
        removed, renamed or given new data), or None."""
        for layer, data, name in zip(self.layers, self.datas, self.names, strict=True):
            if layer not in viewer.layers:
                return f"layer {name!r} was removed"
            if layer.name != name:
                return f"layer {name!r} was renamed {layer.name!r}"
            if layer.data is not data:
                return f"the data of layer {name!r} was replaced"
        return None

    def outputs(
        self,
        result: SegmentationResult,
        image: np.ndarray | None = None,
        *,
        label_colors: str = "mean",
        mean_color_layer: bool = False,
        masked_layers: bool = True,
    ) -> list[tuple[Any, dict, str]]:
        """The layer data of ``result`` (e.g. a merged one) on this input: what
        :func:`compute_layers` makes. ``image``: :attr:`data` already loaded (None:
        :attr:`data`, loaded here unless lazy; call it in a worker thread). A
        multiscale layer's levels are labelled again with the result's model,
        lazily."""
        levels = None
        if self.source.multiscale:
            image, levels = multiscale_levels(self.data)
            scale = spatial_scale(self.source.scale, self.options)
            levels = label_levels(result, levels, scale)
        elif image is None:
            image = self.load()
        layer_data = result_layer_data(
            result,
            image,
            self.source,
            label_colors=label_colors,
            mean_color_layer=mean_color_layer and not self.channels,
            masked_layers=masked_layers and not self.channels,
            levels=levels,
        )
        if label_colors == "mean" and not self.source.rgb and not self.channels:
            grey_labels(layer_data, result, self.source)
        prepare_colormaps(layer_data)
        if self.channels:
            layer_data += self.channel_outputs(
                result,
                image,
                mean_color_layer=mean_color_layer,
                masked_layers=masked_layers,
            )
        return layer_data

    def channel_outputs(
        self,
        result: SegmentationResult,
        image: np.ndarray,
        *,
        mean_color_layer: bool = False,
        masked_layers: bool = True,
    ) -> list[tuple[Any, dict, str]]:
        """The outputs of each layer clustered as a channel: ``"<layer> mean
        colour"`` (its cluster means, if asked) and ``"<layer> cluster i"`` (the
        layer masked to cluster ``i``), in the layer's dtype, display and
        placement. ``image``: the loaded stack, channels on axis 0."""
        stop = current_check()  # a cancelled run stops between two outputs
        out: list[tuple[Any, dict, str]] = []
        means = result.mean_color_image() if mean_color_layer else None
        below: list[tuple[Any, dict, str]] = []  # the mean-colour layers
        for c, (info, dtype) in enumerate(
            zip(self.channels, self.channel_dtypes, strict=True)
        ):
            meta = {
                "metadata": {SOURCE_KEY: info.name},
                "colormap": info.colormap,
                "contrast_limits": info.contrast_limits,
                **info.placement(),
            }
            channel = image[c].astype(dtype, copy=False)
            if means is not None:
                below.append(
                    (
                        means[c].astype(dtype),
                        {"name": mean_color_name(info.name), **meta},
                        "image",
                    )
                )
            for i in range(1, result.n_clusters + 1 if masked_layers else 1):
                stop()
                out.append(
                    (
                        np.where(result.labels == i, channel, np.zeros((), dtype)),
                        {
                            "name": cluster_name(info.name, i),
                            "visible": False,
                            **meta,
                        },
                        "image",
                    )
                )
        return below + out

    def iter_add_layers(
        self,
        viewer: napari.components.ViewerModel,
        layer_data: list[tuple[Any, dict, str]],
    ) -> Iterator:
        """Add or update ``layer_data`` one layer per step (see
        :func:`iter_add_or_update_layers`), grouped by source, so that each
        source's stale cluster layers are removed."""
        steps = []
        for source in self.source_names:
            group = [t for t in layer_data if t[1]["metadata"][SOURCE_KEY] == source]
            steps.append(iter_add_or_update_layers(viewer, group, source_name=source))
        steps.append(self._iter_means_below_labels(viewer))
        return itertools.chain.from_iterable(steps)

    def _iter_means_below_labels(self, viewer) -> Iterator[None]:
        """Move the mean-colour layers just below the labels layer, so that
        they never hide it (a re-run may add them on top)."""
        layers = viewer.layers
        lname = labels_name(self.name)
        for source in self.source_names:
            mname = mean_color_name(source)
            if lname in layers and mname in layers:
                at, labels_at = layers.index(mname), layers.index(lname)
                if at > labels_at:
                    layers.move(at, labels_at)
        yield None


def is_output(layer) -> bool:
    """Whether ``layer`` is one of this plugin's outputs (a layer object it made,
    see :mod:`.owned`): never offered back as an input."""
    return made(layer) is not None


def rename_outputs(viewer, old: str, new: str) -> list[str]:
    """Rename the outputs of the source layer ``old``, now called ``new``
    (``"<old> clusters"`` → ``"<new> clusters"``, its cluster and mean-colour
    layers), so that the next run updates them instead of leaving them behind.
    Returns the new names."""
    renamed = []
    for layer in list(viewer.layers):
        record = made(layer)
        if record is None or record.source != old or not layer.name.startswith(old):
            continue
        name = new + layer.name[len(old) :]
        if name in viewer.layers:  # never take another layer's name
            continue
        role = record.role  # the name it was made under follows too
        role = new + role[len(old) :] if role.startswith(old) else name
        mark_made(layer, source=new, role=role)
        layer.metadata = {**layer.metadata, SOURCE_KEY: new}
        layer.name = name
        renamed.append(name)
    return renamed


def spatial_shape(layer: napari.layers.Image) -> tuple[int, ...]:
    """The shape of an image layer's data without its RGB(A) axis."""
    shape = tuple(int(n) for n in layer.data.shape)
    return shape[:-1] if layer.rgb else shape


def mask_from_layer(
    mask_layer: napari.layers.Labels | napari.layers.Shapes,
    image: napari.layers.Image,
) -> np.ndarray:
    """The pixels of ``image`` to cluster, from a Labels layer (non-zero) or a
    Shapes layer (inside any shape).

    Both layers must sit where the image does (same scale and translate): the
    mask is taken in data coordinates, pixel for pixel.

    Parameters
    ----------
    mask_layer : napari.layers.Labels or napari.layers.Shapes
        The layer that says which pixels to cluster.
    image : napari.layers.Image
        The image layer to be segmented.

    Returns
    -------
    ndarray of bool
        Shaped like the image without its RGB axis (:func:`spatial_shape`).

    Raises
    ------
    ValueError
        If the layer is of another kind, is multiscale, does not have the image's
        spatial shape (Labels) or number of dimensions (Shapes), is placed
        differently (scale, translate), or selects no pixel.
    """
    from napari.layers import Labels, Shapes

    shape = spatial_shape(image)
    what = f"mask layer {mask_layer.name!r}"
    if not isinstance(mask_layer, Labels | Shapes):
        raise ValueError(
            f"{what} is a {type(mask_layer).__name__} layer; choose a Labels or "
            "Shapes layer"
        )
    if mask_layer.ndim != len(shape):
        raise ValueError(
            f"{what} has {mask_layer.ndim} dimensions but image {image.name!r} has "
            f"{len(shape)} (shape {shape} without its RGB axis); draw the mask on "
            "the image"
        )
    for attr in ("scale", "translate"):
        theirs, ours = getattr(mask_layer, attr), getattr(image, attr)
        if not np.allclose(theirs, ours):
            raise ValueError(
                f"{what} has {attr} {tuple(float(v) for v in theirs)} but image "
                f"{image.name!r} has {tuple(float(v) for v in ours)}; the mask is "
                f"read pixel for pixel, so give both layers the same {attr}"
            )
    if isinstance(mask_layer, Labels):
        if mask_layer.multiscale:
            raise ValueError(f"{what} is multiscale; choose a single-scale layer")
        data = mask_layer.data
        if tuple(data.shape) != shape:
            raise ValueError(
                f"{what} has shape {tuple(data.shape)} but image {image.name!r} "
                f"has {shape} (without its RGB axis); the mask must have the "
                "image's shape"
            )
        mask = np.asarray(data) != 0
    else:
        mask = np.asarray(mask_layer.to_labels(labels_shape=shape)) != 0
    if not mask.any():
        kind = (
            "has no shape inside the image"
            if isinstance(mask_layer, Shapes)
            else ("has no non-zero pixel")
        )
        raise ValueError(f"{what} {kind}: nothing to cluster")
    return mask


def current_plane(
    viewer: napari.components.ViewerModel, layer: napari.layers.Image
) -> tuple[int, ...]:
    """The indices, along the leading axes of ``layer``, of the 2D plane the
    viewer shows: ``viewer.dims.point`` mapped to the layer's data with
    ``layer.world_to_data``.

    Parameters
    ----------
    viewer : napari.components.ViewerModel
        The viewer, showing a 2D view of its last two axes.
    layer : napari.layers.Image
        A layer with more than two spatial dimensions.

    Returns
    -------
    tuple of int
        One index per axis but the last two (of the data without its RGB axis).

    Raises
    ------
    ValueError
        If the layer has two spatial dimensions or fewer, the view is 3D or shows
        other axes than the layer's last two, or the current point is outside the
        layer.
    """
    shape = spatial_shape(layer)
    n = len(shape)
    if n <= 2:
        raise ValueError(f"layer {layer.name!r} is 2D: it has no slices to choose from")
    dims = viewer.dims
    if dims.ndisplay != 2:
        raise ValueError(
            "'current slice only' needs the 2D view: switch the viewer to 2D"
        )
    world_n = dims.ndim
    if tuple(dims.displayed) != (world_n - 2, world_n - 1):
        raise ValueError(
            "'current slice only' clusters the plane of the layer's last two axes; "
            "the view shows other axes: reset the axis order (transpose) first"
        )
    position = np.asarray(layer.world_to_data(dims.point), dtype=float)[-n:]
    index = tuple(int(np.round(v)) for v in position[: n - 2])
    for axis, (i, size) in enumerate(zip(index, shape, strict=False)):
        if not 0 <= i < size:
            raise ValueError(
                f"the current slice is outside layer {layer.name!r} (index {i} "
                f"along its axis {axis}, which has {size}); move the slider onto "
                "the layer"
            )
    return index


def plane_slices(index: tuple[int, ...]) -> tuple[slice, ...]:
    """Slices keeping the plane ``index`` with length-1 leading axes."""
    return tuple(slice(i, i + 1) for i in index)


def image_input(
    layer: napari.layers.Image,
    *,
    mask_layer: napari.layers.Labels | napari.layers.Shapes | None = None,
    plane: tuple[int, ...] | None = None,
) -> SegmentationInput:
    """The input of Segment for one image layer.

    Parameters
    ----------
    layer : napari.layers.Image
        The image layer to segment.
    mask_layer : napari.layers.Labels or napari.layers.Shapes, optional
        Only the pixels it selects are clustered (see :func:`mask_from_layer`);
        the others get label 0.
    plane : tuple of int, optional
        Cluster only this 2D plane (indices along the leading axes, see
        :func:`current_plane`): the data, the mask and the outputs keep the
        layer's dimensions, with length 1 on the leading axes, and the outputs
        are placed at the plane (:meth:`SourceInfo.shifted`).

    Raises
    ------
    ValueError
        If the mask layer does not fit the image.
    """
    options = {}
    source = SourceInfo.from_layer(layer)
    data = layer.data
    if layer.multiscale and (mask_layer is not None or plane):
        raise ValueError(
            f"layer {layer.name!r} is multiscale: a mask and 'current slice only' "
            "are not supported for it yet (set mask to none, untick current slice)"
        )
    if mask_layer is not None:
        options["mask"] = mask_from_layer(mask_layer, layer)
    if plane:
        slices = plane_slices(plane)
        data = data[slices]  # a view (numpy) or a lazy slice (dask, zarr)
        source = source.shifted(plane)
        if "mask" in options:
            options["mask"] = options["mask"][slices]
    return SegmentationInput(
        name=layer.name,
        data=data,
        source=source,
        layers=(layer,),
        datas=(layer.data,),
        names=(layer.name,),
        options=options,
    )


def channels_name(names: list[str] | tuple[str, ...]) -> str:
    """What the outputs of layers clustered as channels are named after: their
    names joined by "+" (the labels layer is ``"<a>+<b> clusters"``)."""
    return "+".join(names)


def channels_input(
    layers: list[napari.layers.Image] | tuple[napari.layers.Image, ...],
    *,
    mask_layer: napari.layers.Labels | napari.layers.Shapes | None = None,
    plane: tuple[int, ...] | None = None,
) -> SegmentationInput:
    """The input of Segment for several single-channel image layers of the same
    shape, clustered together as the channels of one image.

    The layers are stacked along a new axis 0 (``np.stack``; ``dask.array.stack``
    when one of them is a dask array, so nothing is loaded until the worker
    thread converts it) and segmented with ``channel_axis=0``. The labels layer
    is named :func:`channels_name` + ``" clusters"`` and placed like the first
    layer; each layer gets its own masked outputs, ``"<layer> cluster i"``.

    Parameters
    ----------
    layers : sequence of napari.layers.Image
        Two or more single-channel (not RGB) image layers of the same shape.
    mask_layer : napari.layers.Labels or napari.layers.Shapes, optional
        Only the pixels it selects are clustered (see :func:`mask_from_layer`,
        checked against the first layer).
    plane : tuple of int, optional
        Cluster only this 2D plane of every layer (see :func:`image_input`).

    Raises
    ------
    ValueError
        With fewer than two layers, an RGB or multiscale layer, layers of
        different shapes, or a mask that does not fit.
    """
    layers = tuple(layers)
    _check_channel_layers(layers)
    first = layers[0]
    # the layers' own axes are the spatial axes of the stack
    options: dict[str, Any] = {
        "channel_axis": 0,
        "scale": spatial_scale(tuple(first.scale), {}),
    }
    if mask_layer is not None:
        options["mask"] = mask_from_layer(mask_layer, first)
    parts = [layer.data for layer in layers]
    infos = [SourceInfo.from_layer(layer) for layer in layers]
    if plane:
        slices = plane_slices(plane)
        parts = [part[slices] for part in parts]
        infos = [info.shifted(plane) for info in infos]
        if "mask" in options:
            options["mask"] = options["mask"][slices]
    # stacked lazily here: dask or zarr layers stay lazy; in-memory layers are
    # stacked by SegmentationInput.load in the worker (a copy of each)
    import dask.array as da

    in_memory = all(isinstance(part, np.ndarray) for part in parts)
    data = da.stack(
        [
            da.from_array(p, chunks=p.shape) if in_memory else da.asarray(p)
            for p in parts
        ]
    )
    name = channels_name([layer.name for layer in layers])
    return SegmentationInput(
        name=name,
        data=data,
        source=replace(infos[0], name=name),
        layers=layers,
        datas=tuple(layer.data for layer in layers),
        names=tuple(layer.name for layer in layers),
        options=options,
        channels=tuple(infos),
        channel_dtypes=tuple(np.dtype(layer.data.dtype) for layer in layers),
        stacked_in_worker=in_memory,
    )


def _check_channel_layers(layers) -> None:
    """A clear ``ValueError`` unless ``layers`` can be clustered as channels: two
    or more single-channel, single-scale layers of the same shape."""
    if len(layers) < 2:
        raise ValueError(
            "choose at least two image layers to cluster as channels (Ctrl-click "
            f"in the list); {len(layers)} chosen"
        )
    for layer in layers:
        if layer.rgb:
            raise ValueError(
                f"layer {layer.name!r} is RGB; layers as channels takes "
                "single-channel layers (segment an RGB layer on its own)"
            )
        if layer.multiscale:
            raise ValueError(
                f"layer {layer.name!r} is multiscale; layers as channels takes "
                "single-scale layers"
            )
    shapes = {layer.name: tuple(layer.data.shape) for layer in layers}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{n!r} {s}" for n, s in shapes.items())
        raise ValueError(
            f"layers clustered as channels must have the same shape: {listed}"
        )


def merge_layers(
    inputs: SegmentationInput,
    result: SegmentationResult,
    ids: list[int],
    **layer_options,
) -> tuple[SegmentationResult, list[tuple[Any, dict, str]]]:
    """Merge the clusters ``ids`` of ``result`` and build the layer data of the
    merged result on ``inputs``: the work of **Merge**, safe to run outside the
    main thread.

    Raises
    ------
    ValueError
        If :meth:`SegmentationResult.merge` refuses ``ids`` (fewer than two, out
        of range, or leaving a single cluster).
    """
    merged = result.merge(ids)
    return merged, inputs.outputs(merged, **layer_options)


def suggest_input(inputs: SegmentationInput, **options) -> tuple[Any, dict[str, Any]]:
    """What :func:`suggest_n_clusters` scores for ``inputs`` (the finest level of
    a multiscale layer; a lazy image or stack stays lazy: it is sampled, not
    loaded) and its keyword options (``options`` added)."""
    data = inputs.data
    if inputs.source.multiscale:
        data = data[0]
    elif not is_lazy(data):
        data = np.asarray(data)
    return data, {
        "rgb": inputs.source.rgb,
        "scale": spatial_scale(tuple(inputs.source.scale), inputs.options),
        **inputs.options,
        **options,
    }


def compute_input_layers(
    inputs: SegmentationInput,
    n_clusters: int | None,
    *,
    model=None,
    label_colors: str = "mean",
    mean_color_layer: bool = False,
    masked_layers: bool = True,
    **options,
) -> tuple[SegmentationResult, list[tuple[Any, dict, str]]]:
    """The work of Segment on ``inputs`` (call it in a worker thread): the result
    and its layer data, the mean-colour layers below the labels and a
    single-channel image's clusters in their mean grey (``label_colors="mean"``).

    ``options`` are those of :func:`segment`; layers as channels are loaded
    (checked against the memory first) or stay lazy, and each layer gets its own
    masked outputs.
    """
    layer_options = {
        "label_colors": label_colors,
        "mean_color_layer": mean_color_layer,
        "masked_layers": masked_layers,
    }
    if inputs.channels:
        result, layer_data = _channels_layers(
            inputs, n_clusters, model=model, **layer_options, **options
        )
    else:
        result, layer_data = compute_layers(
            inputs.data,
            inputs.source,
            n_clusters,
            model=model,
            **layer_options,
            **inputs.options,
            **options,
        )
    if label_colors == "mean" and not inputs.source.rgb and not inputs.channels:
        grey_labels(layer_data, result, inputs.source)
    return result, layer_data


def _channels_layers(
    inputs: SegmentationInput,
    n_clusters: int | None,
    *,
    model,
    label_colors: str,
    mean_color_layer: bool,
    masked_layers: bool,
    **options,
) -> tuple[SegmentationResult, list[tuple[Any, dict, str]]]:
    """:func:`compute_input_layers` for layers clustered as channels: the stack
    loaded (checked against the memory first) unless lazy, and each layer's own
    mean-colour and masked outputs."""
    if not inputs.lazy:
        check_layers_memory(
            inputs.data,
            inputs.source,
            n_clusters,
            model=model,
            mean_color_layer=mean_color_layer,
            masked_layers=masked_layers,
            **inputs.options,
            **options,
        )
    image = inputs.load()
    result, layer_data = compute_layers(
        image,
        inputs.source,
        n_clusters,
        model=model,
        label_colors=label_colors,
        masked_layers=False,
        mean_color_layer=False,
        **inputs.options,
        **options,
    )
    channel_data = inputs.channel_outputs(
        result, image, mean_color_layer=mean_color_layer, masked_layers=masked_layers
    )
    return result, _labels_first_after_means(channel_data + layer_data)


def _labels_first_after_means(layer_data: list) -> list:
    """Mean-colour layers, then the labels, then the masked layers."""
    kinds = {"mean": [], "labels": [], "other": []}
    for item in layer_data:
        if item[2] == "labels":
            kinds["labels"].append(item)
        elif item[1]["name"].endswith(mean_color_name("")):
            kinds["mean"].append(item)
        else:
            kinds["other"].append(item)
    return kinds["mean"] + kinds["labels"] + kinds["other"]


def grey_colors(result: SegmentationResult, contrast_limits) -> np.ndarray:
    """Each cluster's mean grey as RGBA in [0, 1], through ``contrast_limits``
    (how the image layer shows its values)."""
    lo, hi = (float(v) for v in contrast_limits)
    means = np.asarray(result.channel_means, float)[:, 0]
    span = hi - lo if hi > lo else 1.0
    grey = np.clip((means - lo) / span, 0.0, 1.0)
    rgba = np.ones((len(grey), 4))
    rgba[:, :3] = np.nan_to_num(grey, nan=0.5)[:, None]
    return rgba


def grey_labels(layer_data: list, result: SegmentationResult, source) -> None:
    """Colour the labels layer of a single-channel ``result`` by each cluster's
    mean grey (in place on ``layer_data``'s labels entry)."""
    from napari.utils.colormaps import DirectLabelColormap

    colors = grey_colors(result, source.contrast_limits)
    color_dict: dict = {None: np.zeros(4), 0: np.zeros(4)}
    color_dict.update({i + 1: c for i, c in enumerate(colors)})
    for _, meta, kind in layer_data:
        if kind == "labels" and meta["name"] == labels_name(source.name):
            meta["colormap"] = DirectLabelColormap(color_dict=color_dict)
    prepare_colormaps(layer_data)
