"""The dock widget: a thin magicgui Container over :func:`compute_layers`.

It collects the options, runs the work in a napari ``thread_worker`` (so the viewer
stays responsive) and hands the layers to :func:`iter_add_or_update_layers`, as
``segment_layer`` does from the console, one layer per turn of the event loop. A
model can be saved from the last result and loaded to apply it to other layers
(:meth:`KMeansWidget.save_model`, :meth:`KMeansWidget.load_model`; the buttons only
ask for the file).

Reliability: each click of **Segment** is a run with its own id. **Cancel** returns
the widget to idle at once and discards the run's result; the engine cannot be
interrupted, so its thread finishes in the background and what it returns is ignored
(a new run may start meanwhile). A result is also discarded when its layer was
removed or its data replaced while it was computed, or when the viewer was closed.
Expected errors (bad input, too little memory) are notifications; unexpected ones
are notifications too, and logged with the layer name and options.
"""

# No ``from __future__ import annotations`` here: napari injects the viewer only when
# the annotation is the literal string 'napari.viewer.Viewer'.

import contextlib
import gc
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import napari
import numpy as np

# pandas (the clusters table) is imported with the widget, in the main thread, not on
# the first Segment in the worker: its import holds the GIL ~0.2 s, long enough to
# freeze the viewer while the work runs
import pandas  # noqa: F401
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    Select,
    SpinBox,
    create_widget,
)
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QObject, QTimer, Signal

from ..core.features import COLOR_SPACES, MAX_CLUSTERS
from ..core.lazy import is_lazy
from ..core.model import KMeansModel
from ..core.segment import SegmentationResult
from ..layers.inputs import (
    LAYER_OPTIONS,
    SegmentationInput,
    channels_input,
    current_plane,
    image_input,
    merge_layers,
    spatial_shape,
)
from ..layers.outputs import (
    LABEL_COLORS,
    SOURCE_KEY,
    check_layers_memory,
    compute_layers,
    labels_name,
    resolve_image_layer,
)
from .suggest_panel import SuggestKPanel
from .table import ClusterTablePanel

logger = logging.getLogger(__name__)

#: set once the compiled passes are loaded (see :func:`start_warm_up`)
WARM = threading.Event()
_warm_up_started = threading.Lock()


def start_warm_up() -> None:
    """Load the engine's compiled passes and napari's label-colour lookup in a
    background thread, once per process (:data:`WARM` is set when done).

    Loading them (numba's cache) holds the GIL for about a second in all; done on
    the first Segment, in its worker thread, it would freeze the viewer for
    stretches of 0.1–0.2 s. Done when the widget opens, it is over before the
    user has chosen what to segment. A full garbage collection follows, for the
    same reason."""
    if not _warm_up_started.acquire(blocking=False):
        return
    threading.Thread(target=_warm_up, name="kmeans-seg-warm-up", daemon=True).start()


def _warm_up() -> None:
    try:
        from napari.utils.colormaps import DirectLabelColormap

        from ..core.engine import warm_up

        warm_up()
        colors = {None: np.zeros(4), 0: np.zeros(4), 1: np.ones(4)}
        DirectLabelColormap(color_dict=colors).map(np.zeros(1, np.uint8))
        # a full collection now, rather than one triggered by the allocations of
        # the first Segment: in a napari process it takes ~0.2 s, GIL held
        gc.collect()
    except Exception:  # only an optimisation: the first Segment loads them then
        logger.debug("warm-up failed", exc_info=True)
    finally:
        WARM.set()


#: largest number of clusters offered by the widget (the API allows up to 254)
WIDGET_MAX_CLUSTERS = min(20, MAX_CLUSTERS)
#: file-dialog filter for model files
MODEL_FILTER = "k-means model (*.json);;All files (*)"
#: what the model label says when Segment fits a new model
FIT_NEW_TEXT = "fitting new model"
#: the input choices: one image layer, or several layers as the channels of one
INPUT_IMAGE = "image"
INPUT_CHANNELS = "layers as channels"
#: the mask choice that clusters every pixel
NO_MASK = "none"
#: what the status says after Cancel
CANCELLED_TEXT = "cancelled"
#: the plugin and the dock widget name of the colour-space view
PLUGIN_NAME = "napari-kmeans-seg"
COLORVIEW_NAME = "Colour Space View"
#: errors that are the user's to fix: shown as they are, not logged as failures
EXPECTED_ERRORS = (ValueError, TypeError, MemoryError)


@dataclass(eq=False)
class _Run:
    """One click of Segment (or Merge): what it was started on, and how far it
    got."""

    id: int
    #: what is clustered: the layers and their data objects when Segment was
    #: clicked (a layer removed or given new data meanwhile: result discarded)
    inputs: SegmentationInput
    model: KMeansModel | None
    options: dict[str, Any]
    started: float
    #: "segment" or "merge"
    kind: str = "segment"
    worker: Any = None
    cancelled: bool = False
    result: SegmentationResult | None = None
    #: adding the layers in the main thread, one per turn of the event loop
    steps: Iterator | None = field(default=None, repr=False)
    #: the signal relaying a lazy image's reading progress (kept alive with the run)
    relay: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.inputs.name

    @property
    def layer_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.options.items() if k in LAYER_OPTIONS}


class _ProgressRelay(QObject):
    """Carries ``(done, total)`` from the worker thread to the main thread (a
    queued signal): the engine's ``progress`` callback for lazy images."""

    moved = Signal(int, int)


@dataclass(frozen=True, eq=False)
class _Shown:
    """The result shown in the table: what Merge merges."""

    inputs: SegmentationInput
    result: SegmentationResult
    layer_options: dict[str, Any]


def _compute(
    inputs: SegmentationInput,
    n_clusters: int | None,
    *,
    model: KMeansModel | None,
    **options,
) -> tuple[SegmentationResult, list[tuple[Any, dict, str]]]:
    """The work of Segment on ``inputs``, in the worker thread."""
    if not inputs.channels:
        return compute_layers(
            inputs.data,
            inputs.source,
            n_clusters,
            model=model,
            **inputs.options,
            **options,
        )
    # layers as channels: the labels from compute_layers, the masked layers of
    # each layer from the stack: loaded (checked against the memory first), or
    # lazy (a dask stack of lazy layers: its outputs stay lazy)
    layer_options = {k: options.pop(k) for k in LAYER_OPTIONS if k in options}
    if not inputs.lazy:
        check_layers_memory(
            inputs.data,
            inputs.source,
            n_clusters,
            model=model,
            mean_color_layer=layer_options.get("mean_color_layer", False),
            masked_layers=layer_options.get("masked_layers", True),
            **inputs.options,
            **options,
        )
    image = inputs.load()
    result, labels_data = compute_layers(
        image,
        inputs.source,
        n_clusters,
        model=model,
        label_colors=layer_options.get("label_colors", "mean"),
        masked_layers=False,
        mean_color_layer=False,
        **inputs.options,
        **options,
    )
    return result, labels_data + inputs.channel_outputs(
        result,
        image,
        mean_color_layer=layer_options.get("mean_color_layer", False),
        masked_layers=layer_options.get("masked_layers", True),
    )


class KMeansWidget(Container):
    """Segment the chosen image layer into k colour/intensity classes.

    Segment fits a new model, unless one was loaded (**Load model…**): then it applies
    that model, so that every layer gets the same cluster ids. **Save model…** saves
    the model of the last result; **Fit new** goes back to fitting. **masked
    layers** adds one image layer per cluster (each a copy of the image).
    **Cancel** discards the running segmentation at once (:meth:`cancel`).

    The feature options (colour space, normalise, spatial weight, smoothing) change
    what is clustered; with a loaded model they are disabled (the model's apply).
    **Suggest k** scores several k on a sample of the pixels, with the same
    options; **Open colour-space view** docks the view of the last segmentation.

    After each run, a table lists the clusters (label, pixels, fraction, centroid
    features, mean colour); selecting two or more rows and clicking **Merge**
    merges them (:meth:`merge`): the labels, masked layers and table are updated,
    and **Save model…** then saves the merged model.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers are segmented.
    """

    def __init__(self, viewer: "napari.viewer.Viewer"):
        self._viewer = viewer
        #: the run in progress (None: idle) and the ids of runs
        self._run: _Run | None = None
        self._run_ids = itertools.count(1)
        #: workers of cancelled runs still computing in the background
        self._background: set = set()
        self._destroyed = False
        #: the loaded model Segment applies (None: fit a new one) and its file
        self._model: KMeansModel | None = None
        self._model_path: Path | None = None
        #: the model of the last result, what Save model… saves
        self._last_model: KMeansModel | None = None
        #: the last result and what it was made from: what the table shows
        self._shown: _Shown | None = None
        self.input_mode = ComboBox(
            choices=[INPUT_IMAGE, INPUT_CHANNELS],
            value=INPUT_IMAGE,
            label="input",
            tooltip=(
                "What to cluster: one image layer, or several single-channel image "
                "layers of the same shape as the channels of one image"
            ),
        )
        self.image = create_widget(
            annotation=napari.layers.Image,
            label="image",
            options={
                "tooltip": "Image layer to segment (defaults to the selected one)"
            },
        )
        self.channel_layers = Select(
            choices=self._channel_choices,
            value=[],
            label="layers",
            tooltip=(
                "The single-channel image layers clustered together, one channel "
                "each (Ctrl/Shift-click to choose several); outputs: "
                "'<a>+<b> clusters' and '<layer> cluster i' per layer"
            ),
            visible=False,
        )
        self.channel_layers.native.setMaximumHeight(110)
        self.current_slice = CheckBox(
            value=False,
            text="current slice only",
            tooltip=(
                "For a stack or time series: cluster only the 2D plane shown; the "
                "outputs sit on that slice (disabled for 2D images)"
            ),
        )
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
        self.suggest_k = SuggestKPanel(self.n_clusters, self._image_for_suggest)
        self.mask = ComboBox(
            choices=self._mask_choices,
            value=None,
            label="mask",
            tooltip=(
                "Cluster only some pixels: non-zero in a Labels layer, or inside the "
                "shapes of a Shapes layer (same shape and placement as the image); "
                "the others get label 0"
            ),
        )
        self.color_space = ComboBox(
            choices=list(COLOR_SPACES),
            value="rgb",
            label="colour space",
            tooltip=(
                "Colour space the pixels are clustered in (RGB images only): rgb, "
                "hsv (hue, saturation, value) or lab (CIELAB, perceptual)"
            ),
        )
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
            tooltip=(
                "Weight of the pixel coordinates as features: above 0, clusters "
                "become spatially compact (0: colour only)"
            ),
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
        self.label_colors = ComboBox(
            choices=list(LABEL_COLORS),
            value="mean",
            label="label colours",
            tooltip=(
                "Colour of each cluster in the labels layer: its mean colour (RGB "
                "images) or napari's distinct label colours"
            ),
        )
        self.mean_color_layer = CheckBox(
            value=False,
            text="mean colour layer",
            tooltip="Also add an image layer '<image> mean colour': each pixel in "
            "its cluster's mean colour",
        )
        #: the less common options, in a collapsible group
        self.more_options = Container(
            widgets=[
                self.normalize,
                self.spatial_weight,
                self.smoothing,
                self.label_colors,
                self.mean_color_layer,
            ]
        )
        self.masked_layers = CheckBox(
            value=True,
            text="masked layers",
            tooltip=(
                "Also add one image layer per cluster: the image masked to it (each "
                "holds a copy of the image)"
            ),
        )
        self.run_button = PushButton(
            text="Segment", tooltip="Cluster the image's pixels"
        )
        self.cancel_button = PushButton(
            text="Cancel",
            tooltip="Stop waiting for the segmentation and discard its result",
            enabled=False,
        )
        self.model_label = Label(value=FIT_NEW_TEXT, label="model")
        self.model_label.native.setWordWrap(True)  # long file names stay in the dock
        self.load_button = PushButton(
            text="Load model…",
            tooltip="Load a saved model (JSON) and apply it with Segment",
        )
        self.save_button = PushButton(
            text="Save model…",
            tooltip="Save the model of the last segmentation as JSON",
        )
        self.fit_new_button = PushButton(
            text="Fit new",
            tooltip="Forget the loaded model: Segment fits a new one",
            enabled=False,
        )
        self.colorview_button = PushButton(
            text="Open colour-space view",
            tooltip="Dock the colour-space view, showing the chosen image's "
            "segmentation",
        )
        self.status = Label(value="")
        self.table_panel = ClusterTablePanel()
        options_box = Container(labels=False)
        super().__init__(
            widgets=[
                self.input_mode,
                self.image,
                self.channel_layers,
                self.mask,
                self.current_slice,
                self.n_clusters,
                self.suggest_k,
                self.random_state,
                self.color_space,
                options_box,
                self.model_label,
                Container(
                    widgets=[self.load_button, self.save_button, self.fit_new_button],
                    layout="horizontal",
                    labels=False,
                ),
                self.masked_layers,
                Container(
                    widgets=[self.run_button, self.cancel_button],
                    layout="horizontal",
                    labels=False,
                ),
                self.status,
                self.table_panel,
                self.colorview_button,
            ]
        )
        self._options_group = _collapsible("Options", self.more_options, options_box)
        self.run_button.changed.connect(self._on_segment)
        self.cancel_button.changed.connect(self.cancel)
        self.load_button.changed.connect(self._on_load_clicked)
        self.save_button.changed.connect(self._on_save_clicked)
        self.fit_new_button.changed.connect(self.fit_new)
        self.colorview_button.changed.connect(self.open_colorview)
        self.table_panel.merge_requested.connect(self.merge)
        self.image.changed.connect(self._update_enabled)
        self.channel_layers.changed.connect(self._update_enabled)
        self.input_mode.changed.connect(self._on_input_mode)
        viewer.layers.selection.events.active.connect(self._follow_selection)
        self.native.destroyed.connect(self._on_destroyed)
        self._follow_selection()
        self._update_enabled()
        start_warm_up()

    @property
    def busy(self) -> bool:
        """True from a click of Segment until its layers are added, it fails or it
        is cancelled."""
        return self._run is not None

    @property
    def n_background(self) -> int:
        """Number of cancelled computations still finishing in the background."""
        return len(self._background)

    @property
    def model(self) -> KMeansModel | None:
        """The loaded model that Segment applies, or None when it fits a new one."""
        return self._model

    @property
    def last_model(self) -> KMeansModel | None:
        """The model of the last result (fitted or applied): what Save saves."""
        return self._last_model

    @property
    def last_result(self) -> SegmentationResult | None:
        """The last result (merged, after a Merge): what the table shows."""
        return None if self._shown is None else self._shown.result

    # ----------------------------------------------------------------- options

    def feature_options(self, layer: napari.layers.Image | None = None) -> dict:
        """The feature options for :func:`segment` as set in the widget (the colour
        space only for an RGB ``layer``, default: the chosen one)."""
        layer = self.image.value if layer is None else layer
        rgb = layer is not None and bool(layer.rgb)
        return {
            "color_space": self.color_space.value if rgb else "rgb",
            "normalize": bool(self.normalize.value),
            "spatial_weight": float(self.spatial_weight.value),
            "smoothing": float(self.smoothing.value),
        }

    def _update_enabled(self, _=None) -> None:
        """Enable the options that apply: none of the feature options with a loaded
        model, the colour space only for an RGB layer."""
        if not self._alive():
            return
        fitting = self._model is None
        layer = self.image.value
        if self.input_mode.value == INPUT_CHANNELS:
            chosen = self._chosen_channel_layers()
            layer = chosen[0] if chosen else None
        self.color_space.enabled = fitting and layer is not None and bool(layer.rgb)
        for widget in (self.normalize, self.spatial_weight, self.smoothing):
            widget.enabled = fitting
        self.suggest_k.enabled = fitting
        self.current_slice.enabled = layer is not None and _n_spatial(layer) > 2

    def _image_for_suggest(self) -> tuple[np.ndarray, dict[str, Any]]:
        """What Segment would cluster (:meth:`read_inputs`: the image, or the
        layers as channels; the mask; the current slice) and the options for
        **Suggest k** (ValueError: no valid input)."""
        inputs = self.read_inputs()
        data = inputs.data
        if inputs.source.multiscale:  # its finest level
            data = data[0]
        elif not is_lazy(data):  # a lazy one (or stack) is sampled, not loaded
            data = np.asarray(data)
        return data, {
            "rgb": inputs.source.rgb,
            "random_state": self.random_state.value,
            "scale": tuple(inputs.source.scale),
            **inputs.options,
            **self.feature_options(inputs.layers[0]),
        }

    def open_colorview(self, _=None):
        """Dock the colour-space view and show the chosen image's segmentation in
        it (if it has one).

        Returns
        -------
        ColorSpaceView
            The view (the one already docked, if any).
        """
        dock, view = self._viewer.window.add_plugin_dock_widget(
            PLUGIN_NAME, COLORVIEW_NAME
        )
        with contextlib.suppress(Exception):
            dock.show()
        layer = self.image.value
        if layer is not None and labels_name(layer.name) in self._viewer.layers:
            try:
                view.update_from_layer(layer.name)
            except ValueError as err:
                show_error(str(err))
        return view

    # ------------------------------------------------------------------ models

    def save_model(self, path: str | os.PathLike) -> Path | None:
        """Save the model of the last result to ``path`` (JSON).

        Parameters
        ----------
        path : str or path-like
            The file to write.

        Returns
        -------
        Path or None
            The file written, or None when there was nothing to save or writing
            failed (a notification says why).
        """
        if self._last_model is None:
            show_info("No model to save yet: click Segment first.")
            return None
        try:
            written = self._last_model.save(path)
        except OSError as err:
            show_error(f"Could not save the model: {err}")
            return None
        self.status.value = f"saved model to {written.name}"
        return written

    def load_model(self, path: str | os.PathLike) -> KMeansModel | None:
        """Load a model from ``path``; Segment then applies it instead of fitting.

        Parameters
        ----------
        path : str or path-like
            A model file written by :meth:`KMeansModel.save`.

        Returns
        -------
        KMeansModel or None
            The model, or None when the file could not be loaded (a notification
            says why; the active model stays as it was).
        """
        path = Path(path)
        try:
            model = KMeansModel.load(path)
        except (OSError, ValueError) as err:
            show_error(f"Could not load the model: {err}")
            return None
        self._model, self._model_path = model, path
        self._show_model_state()
        return model

    def fit_new(self, _=None) -> None:
        """Forget the loaded model: Segment fits a new model again."""
        self._model = self._model_path = None
        self._show_model_state()

    def _show_model_state(self) -> None:
        model = self._model
        if model is None:
            self.model_label.value = FIT_NEW_TEXT
            self.model_label.tooltip = "Segment fits a new model"
        else:
            self.model_label.value = (
                f"using model {self._model_path.name} (k={model.n_clusters})"
            )
            self.model_label.tooltip = f"Segment applies {self._model_path}"
        # a loaded model fixes k and needs no seed
        self.n_clusters.enabled = self.random_state.enabled = model is None
        self.fit_new_button.enabled = model is not None
        self._update_enabled()

    def _on_load_clicked(self, _=None) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self.native, "Load k-means model", "", MODEL_FILTER
        )
        if path:
            self.load_model(path)

    def _on_save_clicked(self, _=None) -> None:
        from qtpy.QtWidgets import QFileDialog

        if self._last_model is None:
            show_info("No model to save yet: click Segment first.")
            return
        path, _ = QFileDialog.getSaveFileName(
            self.native, "Save k-means model", "kmeans-model.json", MODEL_FILTER
        )
        if path:
            if not Path(path).suffix:
                path += ".json"
            self.save_model(path)

    # ------------------------------------------------------------ segmentation

    def reset_choices(self, *args) -> None:
        """Refresh the layer choices, then pick the selected image layer."""
        super().reset_choices(*args)
        self._follow_selection()

    def _follow_selection(self, event=None) -> None:
        if not self._alive():
            return
        active = self._viewer.layers.selection.active
        if SOURCE_KEY in getattr(active, "metadata", {}):
            return  # a layer this plugin made: keep segmenting its source
        if isinstance(active, napari.layers.Image) and active in self.image.choices:
            self.image.value = active

    def _alive(self) -> bool:
        """Whether the widget's Qt side still exists (closing the viewer deletes
        it while a computation may still be running)."""
        if self._destroyed:
            return False
        try:
            self.native.objectName()
        except RuntimeError:  # wrapped C/C++ object has been deleted
            self._destroyed = True
            return False
        return True

    def _on_destroyed(self, *_) -> None:
        self._destroyed = True
        run, self._run = self._run, None
        if run is not None:
            run.cancelled = True
            if run.worker is not None:
                run.worker.quit()
        with contextlib.suppress(Exception):  # already gone with the viewer
            self._viewer.layers.selection.events.active.disconnect(
                self._follow_selection
            )

    def _on_segment(self, _=None) -> None:
        if self.busy:  # a second click while running: the button is disabled too
            return
        try:
            inputs = self.read_inputs()
        except ValueError as err:
            show_error(str(err))
            return
        model = self._model
        options = {
            "random_state": self.random_state.value,
            "masked_layers": self.masked_layers.value,
            "label_colors": self.label_colors.value,
            "mean_color_layer": self.mean_color_layer.value,
        }
        if model is None:  # a model applies its own feature options
            options.update(self.feature_options(inputs.layers[0]))
        run = self._start_run(inputs, model, options)
        self.status.value = f"segmenting {inputs.name}…"
        # the data goes as it is: in the worker, in-memory data becomes an array
        # and lazy data (dask, zarr) stays lazy, its reading progress relayed to
        # the main thread
        relay = _ProgressRelay()
        relay.moved.connect(partial(self._on_progress, run))
        run.worker = create_worker(
            _compute,
            inputs,
            None if model is not None else self.n_clusters.value,
            model=model,
            progress=relay.moved.emit,
            **options,
            _progress={"total": 0, "desc": f"Segmenting {inputs.name}"},
            _connect=self._connections(run),
        )
        run.relay = relay

    def read_inputs(self) -> SegmentationInput:
        """What Segment would cluster now, read from the widget and the viewer.

        Raises
        ------
        ValueError
            With a message for the user, when the choices do not make an input.
        """
        if self.input_mode.value == INPUT_CHANNELS:
            layers = self._chosen_channel_layers()
            if len(layers) < 2:  # channels_input says why
                return channels_input(layers)
            first = layers[0]
        else:
            layers = None
            first = resolve_image_layer(self._viewer, self.image.value)
        plane = None
        if self.current_slice.value and _n_spatial(first) > 2:
            plane = current_plane(self._viewer, first)
        mask_layer = self._mask_layer()
        if layers is not None:
            return channels_input(layers, mask_layer=mask_layer, plane=plane)
        return image_input(first, mask_layer=mask_layer, plane=plane)

    def _channel_choices(self, _widget=None) -> list[tuple[str, Any]]:
        """The layers that can be clustered as channels: the image layers."""
        return [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, napari.layers.Image)
        ]

    def _chosen_channel_layers(self) -> list[napari.layers.Image]:
        """The layers chosen as channels, in the viewer's layer order."""
        chosen = list(self.channel_layers.value or [])
        return [layer for layer in self._viewer.layers if layer in chosen]

    def _on_input_mode(self, _=None) -> None:
        channels = self.input_mode.value == INPUT_CHANNELS
        self.image.visible = not channels
        self.channel_layers.visible = channels
        self._update_enabled()

    def _mask_choices(self, _widget=None) -> list[tuple[str, Any]]:
        """The mask choices: none, then the Labels and Shapes layers."""
        kinds = (napari.layers.Labels, napari.layers.Shapes)
        return [(NO_MASK, None)] + [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, kinds)
        ]

    def _mask_layer(self):
        """The chosen mask layer, or None (ValueError: it was removed)."""
        layer = self.mask.value
        if layer is not None and layer not in self._viewer.layers:
            raise ValueError(
                f"mask layer {layer.name!r} is no longer in the viewer; choose "
                "another mask"
            )
        return layer

    def _start_run(
        self,
        inputs: SegmentationInput,
        model: KMeansModel | None,
        options: dict[str, Any],
        kind: str = "segment",
    ) -> _Run:
        run = _Run(
            id=next(self._run_ids),
            inputs=inputs,
            model=model,
            options=options,
            started=time.perf_counter(),
            kind=kind,
        )
        self._run = run
        self.run_button.enabled = False
        self.table_panel.set_locked(True)
        self.cancel_button.enabled = True
        return run

    def _on_progress(self, run: _Run, done: int, total: int) -> None:
        """Progress of a lazy image's reading (the fit region, then the chunks of
        each Lloyd pass): to the run's progress bar and the status line."""
        if not self._is_current(run) or total <= 0:
            return
        pbar = getattr(run.worker, "pbar", None)
        if pbar is not None:
            pbar.total = total
            pbar.n = min(done, total)
            pbar.refresh()
        self.status.value = f"segmenting {run.name}… ({done}/{total})"

    def _connections(self, run: _Run) -> dict[str, Any]:
        return {
            "returned": partial(self._on_returned, run),
            "errored": partial(self._on_errored, run),
            "finished": partial(self._on_finished, run),
        }

    def merge(self, ids: list[int]) -> None:
        """Merge the clusters ``ids`` of the last result (in a worker thread), then
        update its labels, masked layers and the table, as the **Merge** button
        does. A merge that :meth:`SegmentationResult.merge` refuses (e.g. one that
        leaves a single cluster), no result, or a source layer removed or changed
        since are notifications.

        Parameters
        ----------
        ids : list of int
            At least two cluster labels of the last result.
        """
        if self.busy:
            show_info("Wait for the running segmentation to finish, then merge.")
            return
        shown = self._shown
        if shown is None:
            show_info("No clusters to merge yet: click Segment first.")
            return
        problem = shown.inputs.problem(self._viewer)
        if problem is not None:
            show_error(f"Cannot merge: {problem}; click Segment again.")
            return
        ids = [int(i) for i in ids]
        run = self._start_run(
            shown.inputs, None, dict(shown.layer_options), kind="merge"
        )
        self.status.value = f"merging clusters {ids} of {shown.inputs.name}…"
        run.worker = create_worker(
            merge_layers,
            shown.inputs,
            shown.result,
            ids,
            **shown.layer_options,
            _progress={"total": 0, "desc": f"Merging clusters of {run.name}"},
            _connect=self._connections(run),
        )

    def cancel(self, _=None) -> None:
        """Stop waiting for the running segmentation and discard its result.

        The widget is idle again at once; the computation itself cannot be
        interrupted and finishes in a background thread, its result ignored.
        Nothing happens once the result is being added (that takes a moment).
        """
        run = self._run
        if run is None or run.steps is not None:
            return
        run.cancelled = True
        worker = run.worker
        if worker is not None:
            worker.quit()  # its result is then not even emitted
            self._background.add(worker)
            pbar = getattr(worker, "pbar", None)
            if pbar is not None:
                pbar.set_description(f"Cancelled: {run.name}")
        self._end_run(run, CANCELLED_TEXT)

    def _is_current(self, run: _Run) -> bool:
        return run is self._run and not run.cancelled and self._alive()

    def _end_run(self, run: _Run, status: str | None = None) -> None:
        """Back to idle after ``run`` (if it is the current one)."""
        if run is not self._run:
            return
        self._run = None
        if not self._alive():
            return
        self.run_button.enabled = True
        self.cancel_button.enabled = False
        self.table_panel.set_locked(False)
        if status is not None:
            self.status.value = status

    def _source_problem(self, run: _Run) -> str | None:
        """Why the result of ``run`` no longer fits its layers, or None."""
        problem = run.inputs.problem(self._viewer)
        if problem is None:
            return None
        doing = "merged" if run.kind == "merge" else "segmented"
        return (
            f"{problem} while it was being {doing}; the result is discarded: click "
            "Segment again"
        )

    def _on_returned(self, run: _Run, output) -> None:
        if not self._is_current(run):  # cancelled, superseded or viewer closed
            logger.debug("run %d: result discarded", run.id)
            return
        result, layer_data = output
        inputs = run.inputs
        if (
            run.kind == "segment"
            and len(inputs.layers) == 1
            and inputs.layers[0] in self._viewer.layers
            and inputs.layers[0].name != inputs.name
        ):  # renamed meanwhile: name the layers after it
            name = inputs.layers[0].name
            layer_data = _renamed(layer_data, inputs.name, name)
            run.inputs = inputs.renamed(name)
        problem = self._source_problem(run)
        if problem is not None:
            show_info(problem)
            self._end_run(run, "")
            return
        run.result = result
        run.steps = run.inputs.iter_add_layers(self._viewer, layer_data)
        self.cancel_button.enabled = False
        self.status.value = f"adding the layers of {run.name}…"
        self._add_step(run)

    def _add_step(self, run: _Run) -> None:
        """Add or update one layer of ``run``, then let the event loop run."""
        if not self._is_current(run):
            return
        removed = [x for x in run.inputs.layers if x not in self._viewer.layers]
        if removed:
            show_info(
                f"layer {removed[0].name!r} was removed while its clusters were "
                "being added; the rest are not added"
            )
            self._end_run(run, "")
            return
        try:
            next(run.steps)
        except StopIteration:
            self._finished_adding(run)
            return
        except Exception as err:  # napari refused a layer: report, stay usable
            self._report_unexpected(run, err, "adding the result layers")
            self._end_run(run, "")
            return
        QTimer.singleShot(0, partial(self._add_step, run))

    def _finished_adding(self, run: _Run) -> None:
        result = run.result
        self._last_model = result.model
        self._shown = _Shown(run.inputs, result, run.layer_options)
        self.table_panel.set_result(result, title=run.name)
        seconds = time.perf_counter() - run.started
        if run.kind == "merge":
            status = f"merged: {result.n_clusters} clusters"
        elif run.model is not None:  # not a fit: "converged" says nothing about it
            status = f"model applied: {result.n_clusters} clusters in {seconds:.2f} s"
        else:
            status = f"{result.n_clusters} clusters in {seconds:.2f} s" + (
                "" if result.converged else " (not converged)"
            )
        self._end_run(run, status)

    def _on_errored(self, run: _Run, err: Exception) -> None:
        if not self._is_current(run):
            logger.debug("run %d (cancelled): error discarded: %r", run.id, err)
            return
        if isinstance(err, EXPECTED_ERRORS):
            show_error(str(err))
        else:
            self._report_unexpected(run, err, "segmentation")
        self._end_run(run, "")

    def _report_unexpected(self, run: _Run, err: BaseException, what: str) -> None:
        """Log ``err`` with its context and traceback; tell the user briefly."""
        options = {
            "n_clusters": None if run.model is not None else self.n_clusters.value,
            **run.options,
            "model": None if run.model is None else str(self._model_path),
        }
        logger.error(
            "%s of layer %r failed unexpectedly (shape %s, dtype %s, options %s)",
            what,
            run.name,
            getattr(run.inputs.data, "shape", "?"),
            getattr(run.inputs.data, "dtype", "?"),
            options,
            exc_info=(type(err), err, err.__traceback__),
        )
        show_error(
            f"{what.capitalize()} of {run.name!r} failed unexpectedly: {err!r} "
            "(details in the log)"
        )

    def _on_finished(self, run: _Run) -> None:
        self._background.discard(run.worker)
        if run is self._run and run.steps is None:
            # errored or its result was discarded: nothing to add
            self._end_run(run)


def _n_spatial(layer: napari.layers.Image) -> int:
    """Number of spatial dimensions of an image layer (without its RGB axis)."""
    return len(spatial_shape(layer))


def _collapsible(title: str, content: Container, host: Container):
    """Put ``content`` in a collapsible group ``title`` (superqt's QCollapsible,
    collapsed) inside ``host``; without superqt, a plain labelled group."""
    try:
        from superqt import QCollapsible
    except ImportError:  # pragma: no cover - superqt comes with napari
        host.append(Label(value=title))
        host.append(content)
        return None
    group = QCollapsible(title)
    group.addWidget(content.native)
    host.native.layout().addWidget(group)
    return group


def _renamed(
    layer_data: list[tuple[Any, dict, str]], old: str, new: str
) -> list[tuple[Any, dict, str]]:
    """The layer data of a result for layer ``old``, named after ``new``."""
    out = []
    for data, meta, kind in layer_data:
        meta = dict(meta)
        if meta["name"].startswith(old):
            meta["name"] = new + meta["name"][len(old) :]
        meta["metadata"] = {**meta.get("metadata", {}), SOURCE_KEY: new}
        out.append((data, meta, kind))
    return out
