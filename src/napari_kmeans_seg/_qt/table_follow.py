"""The widget's table follows segmentations made outside it (``segment_layer`` in
napari's console): their labels layer carries the clusters table as its
``features``, which the table then shows."""

import contextlib

import napari

from ..layers.inputs import is_output, rename_outputs
from ..layers.owned import made
from .table import display_frame


class ConsoleFollower:
    """Shows in ``widget``'s table the clusters of a labels layer of this plugin
    whose data was set by someone else than the widget.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer watched.
    widget : KMeansWidget
        The widget whose table and selection link are updated.
    """

    def __init__(self, viewer, widget, *, alive):
        self._viewer, self._widget, self._alive = viewer, widget, alive
        self._watched: list = []
        self._names: dict[int, str] = {}  # source layers' names, to see renames
        viewer.layers.events.inserted.connect(self._on_inserted)
        for layer in viewer.layers:
            self._watch(layer)

    def _on_inserted(self, event) -> None:
        layer = event.value
        if self._watch(layer):
            self._on_new_labels(layer)

    def _watch(self, layer) -> bool:
        if isinstance(layer, napari.layers.Image) and not is_output(layer):
            self._names[id(layer)] = layer.name
            layer.events.name.connect(self._on_renamed)
            self._watched.append(layer)
            return False
        if not (isinstance(layer, napari.layers.Labels) and is_output(layer)):
            return False
        layer.events.features.connect(self._on_features)
        self._watched.append(layer)
        return True

    def _on_renamed(self, event) -> None:
        layer = event.source
        old, new = self._names.get(id(layer)), layer.name
        self._names[id(layer)] = new
        if old is not None and old != new and not self._widget.busy:
            rename_outputs(self._viewer, old, new)
            self._widget.source_renamed(old, new)

    def _on_features(self, event) -> None:
        self._on_new_labels(event.source)

    def _on_new_labels(self, layer) -> None:
        widget = self._widget
        if widget.busy or not self._alive():
            return  # the widget's own run: it shows its result itself
        shown = widget.last_result
        if shown is not None and layer.data is shown.labels:
            return
        frame = layer.features
        if frame is None or "label" not in frame or not len(frame):
            return
        frame = display_frame(frame.drop(columns=["index"], errors="ignore"))
        record = made(layer)
        source = record.source if record is not None else ""
        widget.show_console_result(layer, frame, source)

    def close(self) -> None:
        """Stop watching (the widget is gone)."""
        with contextlib.suppress(Exception):
            self._viewer.layers.events.inserted.disconnect(self._on_inserted)
        for layer in self._watched:
            with contextlib.suppress(Exception):
                layer.events.features.disconnect(self._on_features)
            with contextlib.suppress(Exception):
                layer.events.name.disconnect(self._on_renamed)
        self._watched = []
