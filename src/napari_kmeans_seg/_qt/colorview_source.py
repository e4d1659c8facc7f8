"""Where the colour-space view's drawing comes from in the viewer: which images
are segmented, which labels layer is followed (its data and its selected label),
and reading a layer's segmentation when no result was handed over."""

import contextlib
import logging

import napari
import numpy as np
from qtpy.QtCore import QTimer

from ..core import features as _features
from ..core import lazy as _lazy
from ..layers import colorspace as _cs
from ..layers.names import labels_name
from ..layers.viewer_layers import find_output_layer

logger = logging.getLogger(__name__)

#: wait after a labels layer's data changes before redrawing (ms); coalesces edits
UPDATE_DELAY_MS = 50


class LayerFollower:
    """Links a :class:`ColorSpaceView` to the labels layer this plugin made for
    the image it shows (found by identity: a user's layer named
    ``"<image> clusters"`` is never it): redraws on new data, mirrors the
    selected label.

    Parameters
    ----------
    view : ColorSpaceView
        The view it feeds.
    viewer : napari.viewer.Viewer or None
        The viewer (None: the view only draws results given to it).
    """

    def __init__(self, view, viewer):
        self._view, self._viewer = view, viewer
        self.image_name: str | None = None
        self._tracked = None  # the labels layer whose events we follow
        #: its selected label last seen: napari re-emits ``selected_label``
        #: unchanged whenever the layer's colormap is set
        self._seen = 0
        self._result_labels = None  # the labels of a result handed over
        self._updating_choice = False
        self._timer = QTimer(view.native)
        self._timer.setSingleShot(True)
        self._timer.setInterval(UPDATE_DELAY_MS)
        self._timer.timeout.connect(self._on_timer)

    # ----------------------------------------------------------- the choice

    def segmented_images(self) -> list[str]:
        """Names of the image layers that have a labels layer from Segment."""
        if self._viewer is None:
            return []
        return [
            layer.name
            for layer in self._viewer.layers
            if isinstance(layer, napari.layers.Image)
            and self._labels_of(layer.name) is not None
        ]

    def _labels_of(self, name: str):
        """The labels layer this plugin made for image layer ``name``, or None."""
        layer = find_output_layer(self._viewer, name, labels_name(name))
        return layer if isinstance(layer, napari.layers.Labels) else None

    def show_last(self) -> None:
        """Show the last segmented image, if any (when the view opens)."""
        if self._viewer is None:
            return
        self._view.reset_choices()
        names = [c for c in self._view.image.choices if c is not None]
        if self._view.image.value is None and names:
            self._view.image.value = names[-1]

    def reset_choices(self, refresh) -> None:
        """Run ``refresh`` (the combo's own reset), then show a newly segmented
        image, or clear the view when the shown one went away."""
        combo = self._view.image
        known, before = set(combo.choices), combo.value
        self._updating_choice = True
        try:
            refresh()
            new = [c for c in combo.choices if c is not None and c not in known]
            if new:
                combo.value = new[-1]
        finally:
            self._updating_choice = False
        after = combo.value
        if after is None:
            if self.image_name is not None:  # what we showed is gone
                self.on_image_chosen(None)
            return
        labels_layer = self._labels_of(after)
        # == not `is`: the layers may be (new) proxies of the same layer
        replaced = labels_layer is None or labels_layer != self._tracked
        if after != before or self._tracked is None or replaced:
            self.on_image_chosen(after)

    def _set_choice(self, name: str | None) -> None:
        self._updating_choice = True
        try:
            if name is None or name in self._view.image.choices:
                self._view.image.value = name
        finally:
            self._updating_choice = False

    def on_image_chosen(self, name=None) -> None:
        if self._updating_choice:
            return
        if name is None:
            self._view.clear()
            return
        try:
            self.show_layer(name)
        except ValueError as err:
            self._view.clear()
            self._view.status.value = str(err)

    # --------------------------------------------------------- the layers

    def show_layer(self, name: str) -> None:
        """Draw image layer ``name``'s segmentation read from its labels layer."""
        image_layer, labels_layer = self._layers_of(name)
        image, labels = image_layer.data, labels_layer.data
        if image_layer.multiscale:  # the finest level (a region of it, below)
            image = image[0]
        if labels_layer.multiscale:
            labels = labels[0]
        layout = _features.guess_layout(
            image.shape, channel_axis=None, rgb=bool(image_layer.rgb)
        )
        if layout.spatial_shape(image.shape) != tuple(labels.shape):
            raise ValueError(
                f"labels layer {labels_layer.name!r} (shape {labels.shape}) does "
                f"not fit image layer {name!r} (shape {image.shape})"
            )
        note = ""
        if _lazy.is_lazy(image) or _lazy.is_lazy(labels):
            image, labels = _cs.lazy_region(image, labels, layout)
            note = f"pixels of a regular grid of {labels.size:,} (lazy image)"
        image, labels = np.asarray(image), np.asarray(labels)
        ids = np.arange(1, int(labels.max(initial=0)) + 1)
        self._follow(name, labels_layer, result_labels=None)
        colors = _cs.layer_colors(labels_layer, ids)
        self._view.show_layers(image, labels, layout, colors, note=note)

    def _layers_of(self, name: str):
        if self._viewer is None:
            raise ValueError("this view has no viewer; use show_result(image, result)")
        layers = self._viewer.layers
        if name not in layers or not isinstance(layers[name], napari.layers.Image):
            raise ValueError(f"no image layer named {name!r} in the viewer")
        labels_layer = self._labels_of(name)
        if labels_layer is None:
            raise ValueError(
                f"image layer {name!r} has no labels layer from Segment: segment "
                "it first"
            )
        return layers[name], labels_layer

    def attach(self, name: str | None, result) -> None:
        """A result was handed to the view: follow the labels layer of image
        ``name`` (None: none), not redrawing while it holds these labels."""
        labels_layer = None
        if name is not None and self._viewer is not None:
            labels_layer = find_output_layer(self._viewer, name, labels_name(name))
        if labels_layer is None:
            self.detach()
            self._set_choice(None)
            return
        self._follow(name, labels_layer, result_labels=result.labels)

    def _follow(self, name, labels_layer, *, result_labels) -> None:
        self._result_labels = result_labels
        self.image_name = name
        self._set_choice(name)
        if self._tracked is not None and self._tracked == labels_layer:
            return
        self.detach(keep_name=True)
        events = labels_layer.events
        events.data.connect(self._on_data)
        events.selected_label.connect(self._on_picked)
        events.show_selected_label.connect(self._on_selection)
        self._tracked = labels_layer
        self._seen = int(labels_layer.selected_label)

    def detach(self, *, keep_name: bool = False) -> None:
        """Stop following the labels layer."""
        if self._tracked is not None:
            events = self._tracked.events
            events.data.disconnect(self._on_data)
            events.selected_label.disconnect(self._on_picked)
            events.show_selected_label.disconnect(self._on_selection)
            self._tracked = None
        if not keep_name:
            self.image_name = None
            self._result_labels = None
        with contextlib.suppress(RuntimeError):  # the widget may be gone already
            self._timer.stop()

    def _on_data(self, event=None) -> None:
        # wait a moment: Segment sets the data, then the colormap; painting sends
        # many events
        try:
            self._timer.start()
        except RuntimeError:  # the dock widget was closed and deleted: let go
            self.detach()

    def _on_timer(self) -> None:
        layer = self._tracked
        if layer is None or self.image_name is None:
            return
        if self._result_labels is not None and layer.data is self._result_labels:
            return  # the result handed over is what the layer shows
        self.on_image_chosen(self.image_name)

    # ---------------------------------------------------------- selection

    def _on_picked(self, event=None) -> None:
        """``selected_label`` changed (napari's picker): its centre is selected,
        whether or not the layer shows it alone."""
        layer = self._tracked
        if layer is None or int(layer.selected_label) == self._seen:
            return
        self._seen = int(layer.selected_label)
        with contextlib.suppress(RuntimeError):  # the view was closed
            self._view.show_selected(self._seen)

    def _on_selection(self, event=None) -> None:
        """``show_selected_label`` toggled: the selected centre, or none."""
        layer = self._tracked
        if layer is None:
            return
        with contextlib.suppress(RuntimeError):  # the view was closed
            self._view.show_selected(
                int(layer.selected_label) if layer.show_selected_label else 0
            )

    def select_in_layer(self, cluster_id: int) -> None:
        """Show cluster ``cluster_id`` alone in the followed labels layer (0: all)
        and make that layer the selected one."""
        layer = self._tracked
        if layer is None or self._viewer is None or layer not in self._viewer.layers:
            return
        if cluster_id:
            layer.selected_label = cluster_id
        layer.show_selected_label = bool(cluster_id)
        self._viewer.layers.selection.active = layer


class StepRunner:
    """Runs a generator one step per turn of the event loop and hands its return
    value to ``done``: long sums that neither freeze the viewer nor need a
    thread. A failure is logged and forgotten (the view keeps what it has)."""

    def __init__(self, parent, *, done):
        self._job = None
        self._done = done
        self._timer = QTimer(parent)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._step)

    @property
    def running(self) -> bool:
        return self._job is not None

    def start(self, job) -> None:
        self._job = job
        self._timer.start()

    def stop(self) -> None:
        self._job = None
        with contextlib.suppress(RuntimeError):  # the widget may be gone already
            self._timer.stop()

    def _step(self) -> None:
        if self._job is None:
            self.stop()
            return
        try:
            next(self._job)
        except StopIteration as finished:
            self.stop()
            self._done(finished.value)
        except Exception as err:
            self.stop()
            logger.warning("computing the cluster means failed", exc_info=err)
