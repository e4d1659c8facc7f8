"""The options of Segment: the method (k-means or a Gaussian mixture), k, the seed,
the colour space, the less common feature
options (in a collapsible group: Fiji-style colour features, normalisation,
coordinates, smoothing), the sampling and the outputs."""

import math

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, SpinBox

from ..core.features import COLOR_SPACES, MAX_CLUSTERS
from ..layers.label_colors import LABEL_COLORS
from .color_features import ColorFeaturesBox
from .reflow import narrow_combo

#: largest number of clusters offered by the widget (the API allows up to 254)
WIDGET_MAX_CLUSTERS = min(20, MAX_CLUSTERS)
#: why the colour space is disabled
NOT_RGB_REASON = "The colour space applies to RGB images only"
MODEL_REASON = "A loaded model applies its own feature options (Fit new to change)"
#: why the colour space is disabled while colour features are ticked
FEATURES_CHOSEN_REASON = (
    "The ticked colour features choose the features; untick them to use a colour space"
)
#: why the colour features are disabled for an image that is not RGB
FEATURES_NOT_RGB_REASON = "The colour features apply to RGB images only"
#: why k and the seed are off with a loaded model
K_FIXED_REASON = "A loaded model fixes k (Fit new to change)"
SEED_REASON = "A loaded model is applied, not fitted: no seed (Fit new to change)"
METHOD_REASON = "A loaded model applies its own method (Fit new to change)"
#: the methods offered, and the ``mixture`` of :func:`segment` each stands for
METHODS = {
    "k-means": None,
    "Gaussian mixture (full)": "full",
    "Gaussian mixture (diagonal)": "diag",
}
METHOD_TIP = (
    "How the pixels are clustered: k-means gives every pixel one cluster; a "
    "Gaussian mixture (fitted by EM from the k-means result; full or diagonal "
    "covariances) also gives each cluster's probability at every pixel: one "
    "hidden layer '<image> probability i' per cluster and a layer '<image> "
    "uncertainty' (1 - the highest probability)"
)
#: what the Options group holds: its header's tooltip
OPTIONS_TIP = (
    "More options: the colour features (Fiji-style), normalise features, spatial "
    "weight, smoothing, fit on a share of the pixels (fit on %), label colours and "
    "the mean colour layer"
)
COLOR_SPACE_TIP = (
    "Colour space the pixels are clustered in: rgb, hsv (hue, saturation, value) "
    "or lab (CIELAB, perceptual)"
)


def collapsible(title: str, content: Container, host: Container, tooltip: str):
    """Put ``content`` in a collapsible group ``title`` (superqt's QCollapsible,
    collapsed) inside ``host``; its header says ``tooltip``."""
    from qtpy.QtWidgets import QAbstractButton
    from superqt import QCollapsible

    group = QCollapsible(title)
    for header in group.findChildren(QAbstractButton):  # before the content's
        header.setToolTip(tooltip)
    group.addWidget(content.native)
    host.native.layout().addWidget(group)
    return group


class OptionsPanel(Container):
    """The options of the segmentation widget (see :meth:`segment_options`)."""

    def __init__(self):
        self._make_main_options()
        self._make_feature_options()
        self._make_output_options()
        self.more_options = Container(
            widgets=[
                self.color_features,
                self.normalize,
                self.spatial_weight,
                self.smoothing,
                self.fit_percent,
                self.label_colors,
                self.mean_color_layer,
            ]
        )
        options_box = Container(labels=False)
        main = Container(
            widgets=[self.method, self.n_clusters, self.random_state, self.color_space]
        )
        # unlabelled: a labelled row would add an empty label column's width
        super().__init__(widgets=[main, options_box], labels=False)
        self.group = collapsible("Options", self.more_options, options_box, OPTIONS_TIP)
        self._applies = (False, True)  # (rgb, fitting) of the last update_enabled
        self._tips = (
            self.n_clusters.tooltip,
            self.random_state.tooltip,
            self.method.tooltip,
        )
        #: the masked layers choice of each input mode (channels: one per layer
        #: and cluster, so off unless asked)
        self._masked = {False: True, True: False}
        self._channels = False
        self.color_features.ticked_changed.connect(self._on_ticked)

    def _make_main_options(self) -> None:
        """The method, k, the seed and the colour space."""
        self.method = ComboBox(
            choices=list(METHODS),
            value="k-means",
            label="method",
            tooltip=METHOD_TIP,
        )
        narrow_combo(self.method.native)  # its long names never widen the dock
        self.n_clusters = SpinBox(
            value=3,
            min=2,
            max=WIDGET_MAX_CLUSTERS,
            label="clusters",
            tooltip="Number of colour/intensity classes (k)",
        )
        self.random_state = SpinBox(
            value=0,
            min=0,
            max=2**31 - 1,
            label="random seed",
            tooltip="Seed of the k-means++ starts: the same seed gives the same labels",
        )
        self.color_space = ComboBox(
            choices=list(COLOR_SPACES),
            value="rgb",
            label="colour space",
            tooltip=COLOR_SPACE_TIP,
        )

    def _make_output_options(self) -> None:
        """The label colours, the mean-colour layer and the masked layers."""
        self.label_colors = ComboBox(
            choices=list(LABEL_COLORS),
            value="mean",
            label="label colours",
            tooltip="Colour of each cluster in the labels layer: its mean colour "
            "(its mean grey for a single-channel image) or distinct colours "
            "(saturated hues, far from any grey, for an image that is not RGB). "
            "Distinct by default for an image that is not RGB: its mean grey "
            "over the grey image would hardly show",
        )
        #: whether the user picked the label colours (else they follow the image)
        self._colors_chosen = False
        self._setting_colors = False
        self.label_colors.changed.connect(self._on_colors_chosen)
        self.mean_color_layer = CheckBox(
            value=False,
            text="mean colour layer",
            tooltip="Also add an image layer '<image> mean colour' (below the "
            "labels): each pixel in its cluster's mean colour",
        )
        self.masked_layers = CheckBox(
            value=True,
            text="masked layers",
            tooltip="Also add one image layer per cluster: the image masked to it "
            "(each holds a copy of the image); off by default for layers as "
            "channels, which would make one per layer and cluster",
        )

    def _make_feature_options(self) -> None:
        """The less common feature options and the sampling."""
        self.color_features = ColorFeaturesBox(label="")
        self.normalize = CheckBox(
            value=False,
            text="normalise features",
            tooltip="Scale each feature to zero mean and unit variance before "
            "clustering",
        )
        self.spatial_weight = FloatSpinBox(
            value=0.0,
            min=0.0,
            max=1e6,
            step=0.1,
            label="spatial weight",
            tooltip="Weight of the pixel coordinates as features: above 0, clusters "
            "become spatially compact (0: colour only)",
        )
        self.smoothing = FloatSpinBox(
            value=0.0,
            min=0.0,
            max=1e3,
            step=0.5,
            label="smoothing (px)",
            tooltip="Gaussian smoothing (sigma in pixels) of the channels before "
            "clustering (0: none)",
        )
        self.fit_percent = FloatSpinBox(
            value=100.0,
            min=0.1,
            max=100.0,
            step=5.0,
            label="fit on (% pixels)",
            tooltip="Fit the clusters on this share of the pixels (a regular grid), "
            "then label every pixel: faster on large images. 100: all pixels "
            "(a lazy image: a bounded region by default)",
        )

    def feature_options(self, layer=None) -> dict:
        """The feature options for :func:`segment` as set (the colour space, or
        the ticked colour features, only for an RGB ``layer``)."""
        rgb = layer is not None and bool(layer.rgb)
        ticked = self.color_features.ticked if rgb else None
        space = self.color_space.value if rgb and ticked is None else "rgb"
        return {
            "color_space": space,
            "color_features": ticked,
            "normalize": bool(self.normalize.value),
            "spatial_weight": float(self.spatial_weight.value),
            "smoothing": float(self.smoothing.value),
        }

    @property
    def mixture(self) -> str | None:
        """The ``mixture`` of :func:`segment` for the method chosen: None
        (k-means), "full" or "diag"."""
        return METHODS[self.method.value]

    def layer_options(self) -> dict:
        """The options of the output layers."""
        return {
            "masked_layers": bool(self.masked_layers.value),
            "label_colors": self.label_colors.value,
            "mean_color_layer": bool(self.mean_color_layer.value),
        }

    def fit_pixels(self, n_pixels: int) -> int | None:
        """``fit_pixels`` for an image of ``n_pixels`` pixels (None: the default,
        all pixels in memory)."""
        percent = float(self.fit_percent.value)
        if percent >= 100.0:
            return None
        return max(1, math.ceil(n_pixels * percent / 100.0))

    def _on_ticked(self) -> None:
        self._update_color_options()

    def _update_color_options(self) -> None:
        """The colour space and the colour features: for RGB images when
        fitting, and the colour space not while colour features are ticked."""
        rgb, fitting = self._applies
        reason = MODEL_REASON if not fitting else None
        features_reason = reason or (None if rgb else FEATURES_NOT_RGB_REASON)
        self.color_features.set_enabled(features_reason is None, features_reason)
        if reason is None and not rgb:
            reason = NOT_RGB_REASON
        elif reason is None and self.color_features.ticked is not None:
            reason = FEATURES_CHOSEN_REASON
        self.color_space.enabled = reason is None
        self.color_space.tooltip = COLOR_SPACE_TIP if reason is None else reason

    def _on_colors_chosen(self, _=None) -> None:
        if not self._setting_colors:
            self._colors_chosen = True

    def _follow_image_colors(self, rgb: bool) -> None:
        """Label colours for the image, unless the user picked them: the mean
        colour for RGB, distinct colours for a single-channel image (a cluster
        in its mean grey would not show over it)."""
        if self._colors_chosen:
            return
        self._setting_colors = True
        try:
            self.label_colors.value = "mean" if rgb else "distinct"
        finally:
            self._setting_colors = False

    def update_enabled(self, layer, *, fitting: bool) -> None:
        """Enable what applies to ``layer`` (None: no image): the colour space for
        RGB images, the feature options when fitting (not with a loaded model);
        a disabled control says why in its tooltip."""
        rgb = layer is not None and bool(layer.rgb)
        self._applies = (rgb, fitting)
        self._update_color_options()
        if layer is not None:
            self._follow_image_colors(rgb)
        for widget in (
            self.normalize,
            self.spatial_weight,
            self.smoothing,
            self.fit_percent,
        ):
            widget.enabled = fitting
        self.n_clusters.enabled = self.random_state.enabled = fitting
        self.method.enabled = fitting
        k_tip, seed_tip, method_tip = self._tips
        self.n_clusters.tooltip = k_tip if fitting else K_FIXED_REASON
        self.random_state.tooltip = seed_tip if fitting else SEED_REASON
        self.method.tooltip = method_tip if fitting else METHOD_REASON

    def follow_input_mode(self, channels: bool) -> None:
        """Switch the masked layers box to the choice of the input mode
        (``channels``: layers as channels), keeping the other mode's."""
        if channels != self._channels:
            self._masked[self._channels] = bool(self.masked_layers.value)
            self._channels = channels
            self.masked_layers.value = self._masked[channels]
