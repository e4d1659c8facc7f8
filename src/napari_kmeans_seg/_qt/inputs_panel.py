"""What Segment clusters: one image layer, or several layers as the channels of one
image; a mask; the current slice. Never the plugin's own outputs."""

from typing import Any

import napari
from magicgui.widgets import CheckBox, ComboBox, Container, Select
from psygnal import Signal

from ..layers.inputs import (
    SegmentationInput,
    channels_input,
    current_plane,
    image_input,
    is_output,
    spatial_shape,
)
from .reflow import narrow_combo

#: the input choices: one image layer, or several layers as the channels of one
INPUT_IMAGE = "image"
INPUT_CHANNELS = "layers as channels"
#: the mask choice that clusters every pixel
NO_MASK = "none"
#: why Segment is disabled without an image
NO_IMAGE_REASON = "Add or open an image layer first (File ▸ Open, or a sample)"


class InputsPanel(Container):
    """The input choices of the segmentation widget.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Where the layers are chosen from.

    Attributes
    ----------
    changed_inputs : Signal()
        Emitted when what would be clustered changes.
    """

    changed_inputs = Signal()

    def __init__(self, viewer):
        self._viewer = viewer
        self.input_mode = ComboBox(
            choices=[INPUT_IMAGE, INPUT_CHANNELS],
            value=INPUT_IMAGE,
            label="input",
            tooltip="What to cluster: one image layer, or several single-channel "
            "image layers of the same shape as the channels of one image",
        )
        self.image = ComboBox(
            choices=self._image_choices,
            label="image",
            tooltip="Image layer to segment (follows the selected layer); the "
            "plugin's own outputs are not offered",
        )
        self.channel_layers = Select(
            choices=self._image_choices,
            value=[],
            label="layers",
            visible=False,
            tooltip="The single-channel image layers clustered together, one "
            "channel each (Ctrl/Shift-click to choose several); outputs: "
            "'<a>+<b> clusters' and '<layer> cluster i' per layer",
        )
        self.channel_layers.native.setMaximumHeight(110)
        self.mask = ComboBox(
            choices=self._mask_choices,
            value=None,
            label="mask",
            tooltip="Cluster only some pixels: non-zero in a Labels layer, or inside "
            "the shapes of a Shapes layer (same shape and placement as the image); "
            "the others get label 0",
        )
        self.current_slice = CheckBox(
            value=False,
            text="current slice only",
            tooltip="For a stack or time series: cluster only the 2D plane shown; "
            "the outputs sit on that slice (disabled for 2D images)",
        )
        super().__init__(
            widgets=[
                self.input_mode,
                self.image,
                self.channel_layers,
                self.mask,
                self.current_slice,
            ]
        )
        for combo in (self.image, self.mask):  # a long layer name is elided
            narrow_combo(combo.native)
        self.input_mode.changed.connect(self._on_input_mode)
        self.image.changed.connect(self._emit)
        self.channel_layers.changed.connect(self._emit)

    def _emit(self, _=None) -> None:
        self.changed_inputs.emit()

    @property
    def channels_mode(self) -> bool:
        """Whether several layers are clustered as channels."""
        return self.input_mode.value == INPUT_CHANNELS

    def _image_choices(self, _widget=None) -> list[tuple[str, Any]]:
        """The image layers a user may segment: not the plugin's outputs."""
        return [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, napari.layers.Image) and not is_output(layer)
        ]

    def _mask_choices(self, _widget=None) -> list[tuple[str, Any]]:
        """The mask choices: none, then the Labels and Shapes layers (a labels
        output too: clustering within a cluster is a use)."""
        kinds = (napari.layers.Labels, napari.layers.Shapes)
        return [(NO_MASK, None)] + [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, kinds)
        ]

    def chosen_channel_layers(self) -> list:
        """The layers chosen as channels, in the viewer's layer order."""
        chosen = list(self.channel_layers.value or [])
        return [layer for layer in self._viewer.layers if layer in chosen]

    def first_layer(self):
        """The (first) image layer that would be clustered, or None."""
        if self.channels_mode:
            chosen = self.chosen_channel_layers()
            return chosen[0] if chosen else None
        return self.image.value

    def missing_reason(self) -> str | None:
        """Why nothing can be clustered now, or None."""
        if self.channels_mode:
            n = len(self.chosen_channel_layers())
            if n < 2:
                return f"Choose two or more layers as channels ({n} chosen)"
            return None
        if self.image.value is None:
            return NO_IMAGE_REASON
        return None

    def read(self) -> SegmentationInput:
        """What Segment would cluster now (ValueError: the choices do not make an
        input; the message says what to do)."""
        if self.channels_mode:
            layers = self.chosen_channel_layers()
            if len(layers) < 2:  # channels_input says why
                return channels_input(layers)
            first = layers[0]
        else:
            layers, first = None, self.image.value
            if first is None or first not in self._viewer.layers:
                raise ValueError(NO_IMAGE_REASON)
        plane = None
        if self.current_slice.value and len(spatial_shape(first)) > 2:
            plane = current_plane(self._viewer, first)
        mask_layer = self._mask_layer()
        if layers is not None:
            return channels_input(layers, mask_layer=mask_layer, plane=plane)
        return image_input(first, mask_layer=mask_layer, plane=plane)

    def _mask_layer(self):
        layer = self.mask.value
        if layer is not None and layer not in self._viewer.layers:
            raise ValueError(
                f"Choose another mask: layer {layer.name!r} is no longer in the viewer"
            )
        return layer

    def _on_input_mode(self, _=None) -> None:
        channels = self.channels_mode
        self.image.visible = not channels
        self.channel_layers.visible = channels
        self._emit()

    def follow(self, active) -> str | None:
        """Choose the image layer ``active`` (the selected one), unless it is one
        of the plugin's outputs. Another kind of layer keeps the image chosen:
        returns a hint saying so (None otherwise)."""
        if active is None or is_output(active):
            return None
        image = self.image.value
        if not isinstance(active, napari.layers.Image):
            if image is None:
                return None
            kind = active.__class__.__name__  # the proxy forwards __class__
            return (
                f"Segment clusters image {image.name!r} (the selected layer "
                f"{active.name!r} is a {kind} layer, not an image)"
            )
        if active in self.image.choices:
            self.image.value = active
        return None

    def update_enabled(self) -> None:
        """The current slice applies to stacks only."""
        layer = self.first_layer()
        self.current_slice.enabled = layer is not None and len(spatial_shape(layer)) > 2
