"""The dock widget: a thin magicgui Container over :func:`compute_layers`.

It collects the options, runs the work in a napari ``thread_worker`` (so the viewer
stays responsive) and hands the layers to :func:`add_or_update_layers`, exactly as
``segment_layer`` does from the console. A model can be saved from the last result
and loaded to apply it to other layers (:meth:`KMeansWidget.save_model`,
:meth:`KMeansWidget.load_model`; the buttons only ask for the file).
"""

# No ``from __future__ import annotations`` here: napari injects the viewer only when
# the annotation is the literal string 'napari.viewer.Viewer'.

import logging
import os
import time
from functools import partial
from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import Container, Label, PushButton, SpinBox, create_widget
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info

from ._features import MAX_CLUSTERS
from ._layers import (
    SourceInfo,
    add_or_update_layers,
    compute_layers,
    resolve_image_layer,
)
from ._model import KMeansModel

logger = logging.getLogger(__name__)

#: largest number of clusters offered by the widget (the API allows up to 254)
WIDGET_MAX_CLUSTERS = min(20, MAX_CLUSTERS)
#: file-dialog filter for model files
MODEL_FILTER = "k-means model (*.json);;All files (*)"
#: what the model label says when Segment fits a new model
FIT_NEW_TEXT = "fitting new model"


class KMeansWidget(Container):
    """Segment the chosen image layer into k colour/intensity classes.

    Segment fits a new model, unless one was loaded (**Load model…**): then it applies
    that model, so that every layer gets the same cluster ids. **Save model…** saves
    the model of the last result; **Fit new** goes back to fitting.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers are segmented.
    """

    def __init__(self, viewer: "napari.viewer.Viewer"):
        self._viewer = viewer
        self._worker = None
        #: the loaded model Segment applies (None: fit a new one) and its file
        self._model: KMeansModel | None = None
        self._model_path: Path | None = None
        #: the model of the last result, what Save model… saves
        self._last_model: KMeansModel | None = None
        self.image = create_widget(
            annotation=napari.layers.Image,
            label="image",
            options={
                "tooltip": "Image layer to segment (defaults to the selected one)"
            },
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
        self.run_button = PushButton(
            text="Segment", tooltip="Cluster the image's pixels"
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
        self.status = Label(value="")
        super().__init__(
            widgets=[
                self.image,
                self.n_clusters,
                self.random_state,
                self.model_label,
                Container(
                    widgets=[self.load_button, self.save_button, self.fit_new_button],
                    layout="horizontal",
                    labels=False,
                ),
                self.run_button,
                self.status,
            ]
        )
        self.run_button.changed.connect(self._on_segment)
        self.load_button.changed.connect(self._on_load_clicked)
        self.save_button.changed.connect(self._on_save_clicked)
        self.fit_new_button.changed.connect(self.fit_new)
        viewer.layers.selection.events.active.connect(self._follow_selection)
        self._follow_selection()

    @property
    def busy(self) -> bool:
        """True while a segmentation runs."""
        return self._worker is not None

    @property
    def model(self) -> KMeansModel | None:
        """The loaded model that Segment applies, or None when it fits a new one."""
        return self._model

    @property
    def last_model(self) -> KMeansModel | None:
        """The model of the last result (fitted or applied): what Save saves."""
        return self._last_model

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
        active = self._viewer.layers.selection.active
        if isinstance(active, napari.layers.Image) and active in self.image.choices:
            self.image.value = active

    def _on_segment(self, _=None) -> None:
        if self.busy:
            return
        try:
            source = resolve_image_layer(self._viewer, self.image.value)
        except ValueError as err:
            show_error(str(err))
            return
        info = SourceInfo.from_layer(source)
        model = self._model
        self.run_button.enabled = False
        self.status.value = f"segmenting {info.name}…"
        self._worker = create_worker(
            compute_layers,
            np.asarray(source.data),
            info,
            None if model is not None else self.n_clusters.value,
            model=model,
            random_state=self.random_state.value,
            _progress={"total": 0, "desc": f"Segmenting {info.name}"},
            _connect={
                "returned": partial(
                    self._on_returned, info, time.perf_counter(), model
                ),
                "errored": self._on_errored,
                "finished": self._on_finished,
            },
        )

    def _on_returned(
        self, info: SourceInfo, started: float, applied: KMeansModel | None, output
    ) -> None:
        result, layer_data = output
        if info.name not in self._viewer.layers:
            show_info(f"layer {info.name!r} was removed; its segmentation is discarded")
            self.status.value = ""
            return
        self._last_model = result.model
        add_or_update_layers(self._viewer, layer_data, source_name=info.name)
        seconds = time.perf_counter() - started
        if applied is not None:  # not a fit: "converged" says nothing about it
            self.status.value = (
                f"model applied: {result.n_clusters} clusters in {seconds:.2f} s"
            )
        else:
            self.status.value = f"{result.n_clusters} clusters in {seconds:.2f} s" + (
                "" if result.converged else " (not converged)"
            )

    def _on_errored(self, err: Exception) -> None:
        self.status.value = ""
        if isinstance(err, ValueError | TypeError | MemoryError):
            show_error(str(err))
        else:
            logger.error("segmentation failed", exc_info=err)
            show_error(f"Segmentation failed unexpectedly: {err!r}")

    def _on_finished(self) -> None:
        self._worker = None
        self.run_button.enabled = True
