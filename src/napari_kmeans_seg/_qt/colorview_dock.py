"""The colour-space view beside the segmentation widget: opened on request
(napari's own dock widget, one per viewer) as a window of its own, so that its
canvas is large enough to read and the segmentation dock keeps its height, and
handed the widget's results."""

import contextlib
import weakref

from napari.utils.notifications import show_error
from qtpy.QtWidgets import QWidget

from ..layers.names import labels_name
from ..layers.viewer_layers import find_output_layer
from .colorview import views_in

#: the plugin and the dock widget name of the colour-space view
PLUGIN_NAME = "napari-kmeans-seg"
COLORVIEW_NAME = "Colour Space View"
#: the floating view's size: a share of the main window's, within these bounds
#: (pixels), never larger than the screen's free area
VIEW_SHARE = (0.45, 0.85)
VIEW_MIN = (500, 470)
VIEW_MAX = (900, 820)


class ColorViewDock:
    """Opens the colour-space view for a segmentation widget and keeps it showing
    the widget's results.

    The first time a view is opened it floats over the viewer's canvas, sized
    after the main window (:func:`float_beside`); the user may dock it again,
    and opening it later leaves it where the user put it.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose window docks the view.
    inside : QWidget
        A widget inside the segmentation widget's dock (to find its window).
    """

    def __init__(self, viewer, inside: QWidget):
        self._viewer, self._inside = viewer, inside
        self._placed: weakref.WeakSet = weakref.WeakSet()  # views floated once

    def open(self, shown=None, image_layer=None):
        """Open the view (or show the one open) and return it, showing
        ``shown`` (``(data, result, name)``, the last result of the widget) or
        else the plugin's labels layer of ``image_layer``, if any."""
        dock, view = self._viewer.window.add_plugin_dock_widget(
            PLUGIN_NAME, COLORVIEW_NAME
        )
        with contextlib.suppress(RuntimeError):  # the window is closing
            if view not in self._placed:
                self._placed.add(view)
                float_beside(dock, self._inside.window())
            dock.show()
            dock.raise_()
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
        """Show a new result in the views of the widget's window (docked or
        floating)."""
        for view in views_in(self._inside.window()):
            view.show_result(data, result, name=name)


def float_beside(dock: QWidget, window: QWidget) -> None:
    """Make ``dock`` (a QDockWidget) a floating window over the left part of
    ``window`` (napari's canvas; its docks are on the right), a
    :data:`VIEW_SHARE` of its size within :data:`VIEW_MIN`..:data:`VIEW_MAX`."""
    frame = window.frameGeometry()
    screen = window.screen()
    free = screen.availableGeometry() if screen is not None else frame
    width, height = (
        int(min(max(share * size, low), high, limit))
        for share, size, low, high, limit in zip(
            VIEW_SHARE,
            (frame.width(), frame.height()),
            VIEW_MIN,
            VIEW_MAX,
            (free.width(), free.height()),
            strict=True,
        )
    )
    dock.setFloating(True)
    dock.resize(width, height)
    left = max(free.left(), min(frame.left() + 40, free.right() - width))
    top = max(
        free.top(),
        min(frame.top() + (frame.height() - height) // 2, free.bottom() - height),
    )
    dock.move(left, top)
