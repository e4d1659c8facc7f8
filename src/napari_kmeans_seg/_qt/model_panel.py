"""The model row of the segmentation widget: which model Segment applies (a loaded
one, or a new fit), and the Load / Save / Fit new buttons."""

import os
from pathlib import Path

from magicgui.widgets import Container, Label, PushButton
from napari.utils.notifications import show_error, show_info
from psygnal import Signal

from ..core.model import KMeansModel
from .reflow import wrap_text

#: file-dialog filter for model files
MODEL_FILTER = "k-means model (*.json);;All files (*)"
#: what the model label says when Segment fits a new model
FIT_NEW_TEXT = "fitting new model"
NOTHING_TO_SAVE = "No model to save yet: click Segment first."


class ModelPanel(Container):
    """Load a model for Segment to apply, save the last result's model.

    Attributes
    ----------
    model_changed : Signal()
        Emitted when a model is loaded or forgotten (:attr:`model`).
    saved : Signal(Path)
        Emitted with the file written by :meth:`save_model`.
    """

    model_changed = Signal()
    saved = Signal(object)

    def __init__(self):
        self.model: KMeansModel | None = None
        self.model_path: Path | None = None
        #: the model of the last result: what Save model… saves
        self.last_model: KMeansModel | None = None
        self.model_label = Label(value=FIT_NEW_TEXT, label="model")
        wrap_text(self.model_label.native)  # long file names stay in the dock
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
        # two buttons a row: three would widen the dock
        super().__init__(
            widgets=[
                self.model_label,
                Container(
                    widgets=[self.load_button, self.save_button],
                    layout="horizontal",
                    labels=False,
                ),
                self.fit_new_button,
            ]
        )
        self.load_button.changed.connect(self._on_load_clicked)
        self.save_button.changed.connect(self._on_save_clicked)
        self.fit_new_button.changed.connect(self.fit_new)

    def save_model(self, path: str | os.PathLike) -> Path | None:
        """Save :attr:`last_model` to ``path`` (JSON); None when there is nothing
        to save or writing failed (a notification says why)."""
        if self.last_model is None:
            show_info(NOTHING_TO_SAVE)
            return None
        try:
            written = self.last_model.save(path)
        except OSError as err:
            show_error(f"Could not save the model: {err}")
            return None
        self.saved.emit(written)
        return written

    def load_model(self, path: str | os.PathLike) -> KMeansModel | None:
        """Load a model from ``path``: Segment then applies it. None when the file
        could not be loaded (a notification says why; nothing changes)."""
        path = Path(path)
        try:
            model = KMeansModel.load(path)
        except (OSError, ValueError) as err:
            show_error(f"Could not load the model: {err}")
            return None
        self.model, self.model_path = model, path
        self._show_state()
        return model

    def fit_new(self, _=None) -> None:
        """Forget the loaded model: Segment fits a new model again."""
        self.model = self.model_path = None
        self._show_state()

    def _show_state(self) -> None:
        model = self.model
        if model is None:
            self.model_label.value = FIT_NEW_TEXT
            self.model_label.tooltip = "Segment fits a new model"
        else:
            self.model_label.value = (
                f"using model {self.model_path.name} (k={model.n_clusters})"
            )
            self.model_label.tooltip = f"Segment applies {self.model_path}"
        self.fit_new_button.enabled = model is not None
        self.model_changed.emit()

    def _on_load_clicked(self, _=None) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self.native, "Load k-means model", "", MODEL_FILTER
        )
        if path:
            self.load_model(path)

    def _on_save_clicked(self, _=None) -> bool:
        from qtpy.QtWidgets import QFileDialog

        if self.last_model is None:
            show_info(NOTHING_TO_SAVE)
            return False
        path, _ = QFileDialog.getSaveFileName(
            self.native, "Save k-means model", "kmeans-model.json", MODEL_FILTER
        )
        if path:
            if not Path(path).suffix:
                path += ".json"
            return self.save_model(path) is not None
        return False
