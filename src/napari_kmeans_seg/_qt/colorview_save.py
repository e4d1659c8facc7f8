"""Saving the colour-space view's picture from its **Save as PNG…** button."""

from napari.utils.notifications import show_error
from qtpy.QtWidgets import QFileDialog

#: file-dialog filter for the PNG export
PNG_FILTER = "PNG image (*.png);;All files (*)"


def ask_and_save(view) -> None:
    """Ask for a file name, save the view's picture there, say so."""
    name = f"{view.image_name or 'clusters'} colour space.png"
    path, _ = QFileDialog.getSaveFileName(
        view.native, "Save colour-space view", name, PNG_FILTER
    )
    if path:
        try:
            written = view.save_png(path)
        except (OSError, RuntimeError) as err:
            show_error(f"Could not save the picture: {err}")
            return
        view.status.value = f"saved {written.name}"
