"""The plugin's output layers in a viewer: found by identity (:mod:`.owned`), added
under a free name, updated in place, and removed when a re-run no longer has them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .levels import first_level
from .names import SOURCE_KEY, mean_color_name
from .owned import Made, made, mark_made
from .placement import NAME_ENTRIES, PLACEMENT_DEFAULTS
from .probabilities import is_mixture_output

if TYPE_CHECKING:
    import napari


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
    """The layer this plugin made as ``name`` (e.g. :func:`~.names.labels_name` of the
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
        for key, default in PLACEMENT_DEFAULTS.items():  # a placement left out is reset
            _set_if_changed(existing, key, meta.get(key, default(ndim)))
        for key, value in meta.items():
            if key not in ("name", "rgb", "visible", *PLACEMENT_DEFAULTS):
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
    if key in NAME_ENTRIES:
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
        and existing.ndim == first_level(data).ndim - (1 if meta.get("rgb") else 0)
    )
