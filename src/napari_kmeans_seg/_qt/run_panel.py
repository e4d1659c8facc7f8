"""Segment / Cancel, a progress bar and the status line of the segmentation widget.

Errors are shown here whole (wrapped, selectable), not only as a toast that napari
may cut short."""

from magicgui.widgets import Container, Label, PushButton
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QProgressBar

from .reflow import wrap_text

#: colour of an error in the status line
ERROR_STYLE = "color: #ff8a80;"


class RunPanel(Container):
    """The run controls: **Segment**, **Cancel**, a progress bar and a status."""

    def __init__(self):
        self.run_button = PushButton(
            text="Segment", tooltip="Cluster the image's pixels"
        )
        self.cancel_button = PushButton(
            text="Cancel",
            tooltip="Stop the segmentation and discard its result (while its "
            "layers are added: add no more of them)",
            enabled=False,
        )
        self.status = Label(value="")
        native = wrap_text(self.status.native)
        native.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        super().__init__(
            widgets=[
                Container(
                    widgets=[self.run_button, self.cancel_button],
                    layout="horizontal",
                    labels=False,
                )
            ],
            labels=False,
        )
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        layout = self.native.layout()
        layout.addWidget(self.progress)
        layout.addWidget(native)
        self._reason = ""

    def set_busy(self, busy: bool) -> None:
        """Running (Cancel on, progress shown) or idle."""
        self.run_button.enabled = not busy and not self._reason
        self.cancel_button.enabled = busy
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)  # indeterminate until a total is known

    def set_progress(self, done: int, total: int) -> None:
        """Determinate progress: ``done`` of ``total`` units."""
        self.progress.setRange(0, max(int(total), 1))
        self.progress.setValue(min(int(done), int(total)))
        self.progress.setFormat("%v / %m")

    def set_passes(self, passes: int) -> None:
        """No total known: a busy bar, with the passes over the pixels so far."""
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"pass {int(passes)}")

    def set_status(self, text: str) -> None:
        """A plain status message."""
        self.status.native.setStyleSheet("")
        self.status.value = text

    def set_error(self, text: str) -> None:
        """An error, whole, in the error colour."""
        self.status.native.setStyleSheet(ERROR_STYLE)
        self.status.value = text

    def set_reason(self, reason: str | None) -> None:
        """Why Segment cannot run now (None: it can), in its tooltip."""
        self._reason = reason or ""
        self.run_button.tooltip = reason or "Cluster the image's pixels"
        if not self.cancel_button.enabled:
            self.run_button.enabled = not self._reason
