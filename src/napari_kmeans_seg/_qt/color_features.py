"""Fiji-style choice of the clustering features: one checkbox per channel of RGB,
HSV and L*a*b*, in a compact 3 × 3 grid (a column per colour space)."""

from magicgui.widgets import CheckBox, Container
from psygnal import Signal
from qtpy.QtWidgets import QGridLayout, QWidget

from ..core.options import COLOR_FEATURES

#: what each box adds to the features (its tooltip)
_TIPS = {
    "red": "Red, scaled to 0-1 by the image's type",
    "green": "Green, scaled to 0-1 by the image's type",
    "blue": "Blue, scaled to 0-1 by the image's type",
    "hue": "Hue as a point of a circle (two features: hue cos, hue sin), so that "
    "reds at both ends of the scale are close; greys at its centre",
    "saturation": "HSV saturation, 0-1",
    "brightness": "HSV value (the brightest channel), 0-1",
    "L*": "CIELAB lightness L*/100",
    "a*": "CIELAB green-red a*/100",
    "b*": "CIELAB blue-yellow b*/100",
}
#: the group's tooltip when it applies
FEATURES_TIP = (
    "Cluster on a mix of channels of several colour spaces, as Fiji's Color "
    "Clustering: each on a 0-1 scale. None ticked (or red, green and blue alone): "
    "the image's own values, in the colour space above"
)


class ColorFeaturesBox(Container):
    """Nine checkboxes (red, green, blue / hue, saturation, brightness / L*, a*,
    b*) whose ticked names are ``color_features`` for :func:`segment`.

    Attributes
    ----------
    boxes : dict of str to CheckBox
        The checkbox of each name of :data:`COLOR_FEATURES`.
    ticked_changed : Signal()
        Emitted when a box is ticked or unticked.
    """

    ticked_changed = Signal()

    def __init__(self, **kwargs):
        self.boxes = {
            name: CheckBox(value=False, text=name, tooltip=_TIPS[name])
            for name in COLOR_FEATURES
        }
        super().__init__(labels=False, **kwargs)
        # a grid with a column per colour space: the columns line up, take
        # little height, and the long names (saturation, brightness) share one
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(0)
        for i, name in enumerate(COLOR_FEATURES):
            grid.addWidget(self.boxes[name].native, i % 3, i // 3)
            self.boxes[name].changed.connect(self._on_box)
        holder = QWidget()
        holder.setLayout(grid)
        self.native.layout().addWidget(holder)
        self.margins = (0, 0, 0, 0)
        self.tooltip = FEATURES_TIP

    def _on_box(self, _=None) -> None:
        self.ticked_changed.emit()

    @property
    def ticked(self) -> tuple[str, ...] | None:
        """The ticked names in feature order, or None when none is ticked."""
        names = tuple(n for n in COLOR_FEATURES if self.boxes[n].value)
        return names or None

    def set_enabled(self, enabled: bool, reason: str | None) -> None:
        """Enable the boxes, or disable them saying why in their tooltips."""
        for name, box in self.boxes.items():
            box.enabled = enabled
            box.tooltip = _TIPS[name] if enabled else reason
        self.tooltip = FEATURES_TIP if enabled else reason
