"""The colour-space view beside the segmentation widget: docked on request (napari's
own dock, one per viewer), given half the column's height, and handed the
widget's results."""

import contextlib

from napari.utils.notifications import show_error
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QWidget

from ..layers.outputs import find_output_layer, labels_name
from .colorview import views_in

#: the plugin and the dock widget name of the colour-space view
PLUGIN_NAME = "napari-kmeans-seg"
COLORVIEW_NAME = "Colour Space View"


class ColorViewDock:
    """Opens the colour-space view for a segmentation widget and keeps it showing
    the widget's results.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose window docks the view.
    inside : QWidget
        A widget inside the segmentation widget's dock (to find that dock).
    """

    def __init__(self, viewer, inside: QWidget):
        self._viewer, self._inside = viewer, inside

    def open(self, shown=None, image_layer=None):
        """Dock the view (or show the one docked) and return it, showing
        ``shown`` (``(data, result, name)``, the last result of the widget) or
        else the plugin's labels layer of ``image_layer``, if any."""
        dock, view = self._viewer.window.add_plugin_dock_widget(
            PLUGIN_NAME, COLORVIEW_NAME
        )
        with contextlib.suppress(Exception):
            dock.show()
            _share_height(self._inside, dock)
        try:
            if shown is not None:
                data, result, name = shown
                view.show_result(data, result, name=name)
            elif image_layer is not None:
                name = image_layer.name
                if find_output_layer(self._viewer, name, labels_name(name)):
                    view.update_from_layer(name)
        except ValueError as err:
            show_error(str(err))
        return view

    def show_result(self, data, result, name: str) -> None:
        """Show a new result in the views docked in the widget's window."""
        for view in views_in(self._inside.window()):
            view.show_result(data, result, name=name)


def _share_height(inside: QWidget, view_dock) -> None:
    """Give the colour view's dock and the dock holding ``inside`` half the
    main window's height each, when they are stacked in the same column."""
    window = inside.window()
    own = inside
    while own is not None and own.parentWidget() is not window:
        own = own.parentWidget()
    if own is None or not hasattr(window, "resizeDocks"):
        return
    if window.dockWidgetArea(own) != window.dockWidgetArea(view_dock):
        return
    half = max(window.height() // 2, 1)
    window.resizeDocks([own, view_dock], [half, half], Qt.Orientation.Vertical)
