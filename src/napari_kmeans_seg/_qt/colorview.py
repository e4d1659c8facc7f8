"""The colour-space view: a dock widget with an interactive 3D scatter of the pixels.

A random sample of the clustered pixels is drawn as points in the image's channel
values (the RGB cube for 8-bit colour, else the first three channels), with the
cluster centres as large markers. Drag to turn the view, scroll to zoom, click a
centre to select that cluster: the labels layer then shows it alone
(``selected_label`` + ``show_selected_label``, napari's own mechanism), and
selecting a label there selects the centre here. Click it again, or the
background, to show all.

The segmentation widget hands the view its :class:`SegmentationResult` (the
centres are its ``channel_means``: nothing is recomputed); a labels layer made
from the console or painted is read from the layers. What is drawn is computed
without Qt in :mod:`..layers.colorspace`; the canvas is :class:`ScatterCanvas`.
"""

# No ``from __future__ import annotations`` here: napari injects the viewer only when
# the annotation is the literal string 'napari.viewer.Viewer'.

import contextlib
import logging
import weakref

import napari
import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    Label,
    PushButton,
    RadioButtons,
    SpinBox,
)
from psygnal import Signal

from ..layers import colorspace as _cs
from .colorview_save import ask_and_save
from .colorview_source import LayerFollower, StepRunner
from .gl_context import ContextWatch
from .scatter import BACKGROUND, ScatterCanvas

__all__ = ["BACKGROUND", "BY_CLUSTER", "DEFAULT_N_POINTS", "ColorSpaceView"]

logger = logging.getLogger(__name__)

#: points drawn by default, and most the spin box offers
DEFAULT_N_POINTS = 20_000
MAX_N_POINTS = 500_000
#: colour modes of the points
TRUE_COLOUR = "true colour"
BY_CLUSTER = "cluster"
#: every view alive, so that the segmentation widget can hand it its results
VIEWS: "weakref.WeakSet[ColorSpaceView]" = weakref.WeakSet()


class ColorSpaceView(Container):
    """See the clusters: the pixels of an image as points in its colour space.

    Points are a random sample of the clustered pixels, coloured by their own colour
    or by their cluster; the cluster centres are the large markers with a dark edge
    (a yellow ring: the selected cluster). Drag to turn, scroll to zoom. Clicking a
    centre selects its cluster in the labels layer (``show_selected_label``);
    clicking it again, or the background, shows all clusters again.

    The view follows the labels layer this plugin made for the image (by
    identity: a user's layer of that name is never it): it redraws when that
    layer's data changes (a new segmentation, painting) and when its selected
    label changes (napari's label picker included). The view opens looking
    from where the points' spread shows (:mod:`.camera`); docked or floated
    again, it gets a new canvas (:mod:`.gl_context`).

    Parameters
    ----------
    viewer : napari.viewer.Viewer, optional
        The viewer whose segmented layers are shown; None for a view that only
        draws what :meth:`show_result` gets.

    Attributes
    ----------
    cluster_selected : Signal(int)
        Emitted with the cluster id when a cluster is selected (0: all again).
    """

    cluster_selected = Signal(int)

    def __init__(self, viewer: "napari.viewer.Viewer" = None):
        self._viewer = viewer
        self._rng = np.random.default_rng(0)
        self._scatter: _cs.Scatter | None = None
        self._shown: tuple | None = None  # what to redraw: (image, labels, ...)
        self._note = ""
        self._selected = 0
        self._make_controls()
        # few rows around the canvas: the view shares the screen's height
        super().__init__(widgets=[self.image, self.color_by])
        self._plot = ScatterCanvas()
        self._context = ContextWatch(self._plot.canvas, self._new_canvas)
        self.native.layout().addWidget(self._plot.native, 1)
        bottom = Container(
            widgets=[self.n_points, self.save_button], layout="horizontal"
        )
        bottom.margins = (0, 0, 0, 0)
        self._bottom = bottom  # kept: its Qt widget is in our layout
        self.native.layout().addWidget(bottom.native)
        self.native.layout().addWidget(self.status.native)
        self._follower = LayerFollower(self, viewer)
        self._means = StepRunner(self.native, done=self._exact_centres)
        self._plot.clicked.connect(self._on_click)
        self.image.changed.connect(self._follower.on_image_chosen)
        self.n_points.changed.connect(self._refresh)
        self.color_by.changed.connect(self._redraw)
        self.save_button.changed.connect(self._on_save_clicked)
        VIEWS.add(self)
        self._follower.show_last()

    def _make_controls(self) -> None:
        """The image choice, the number of points, the colouring, Save, status."""
        self.image = ComboBox(
            label="image",
            choices=self._segmented_images,
            nullable=True,
            tooltip="Segmented image layer to show (one with a '<image> clusters' "
            "labels layer)",
        )
        self.n_points = SpinBox(
            value=DEFAULT_N_POINTS,
            min=100,
            max=MAX_N_POINTS,
            step=1000,
            label="points",
            tooltip="Number of randomly sampled pixels drawn",
        )
        self.color_by = RadioButtons(
            choices=[TRUE_COLOUR, BY_CLUSTER],
            value=TRUE_COLOUR,
            orientation="horizontal",
            label="colour by",
            tooltip="Colour the points by their own colour or by their cluster",
        )
        self.save_button = PushButton(
            text="Save as PNG…", tooltip="Save the 3D view as a PNG image"
        )
        self.status = Label(value="")
        self.status.native.setWordWrap(True)

    # -------------------------------------------------------------- reading

    @property
    def canvas(self):
        """The vispy canvas (:meth:`render` gives the picture)."""
        return self._plot.canvas

    @property
    def point_markers(self):
        """The vispy visual of the sampled pixels."""
        return self._plot.points

    @property
    def centre_markers(self):
        """The vispy visual of the cluster centres."""
        return self._plot.centres

    @property
    def axis_text(self):
        """The vispy visual of the axis names."""
        return self._plot.axis_text

    @property
    def tick_text(self):
        """The vispy visual of the axis ends' values."""
        return self._plot.tick_text

    @property
    def cluster_ids(self) -> np.ndarray:
        """Ids of the clusters drawn, one per centre marker."""
        s = self._scatter
        return np.zeros(0, np.intp) if s is None else s.ids.copy()

    @property
    def centres(self) -> np.ndarray:
        """Centres drawn ``(k, n_features)``; row ``i``: cluster ``cluster_ids[i]``."""
        s = self._scatter
        return np.zeros((0, 3)) if s is None else s.centres.copy()

    @property
    def points(self) -> np.ndarray:
        """The sampled pixels drawn ``(n, n_features)``, in the image's values."""
        s = self._scatter
        return np.zeros((0, 3)) if s is None else s.values.copy()

    @property
    def labels_shown(self) -> np.ndarray | None:
        """The labels the drawing was sampled from (a lazy image's: a region)."""
        return None if self._shown is None else self._shown[1]

    @property
    def selected_cluster(self) -> int:
        """The selected cluster id, 0 when all are shown."""
        return self._selected

    @property
    def busy(self) -> bool:
        """True while the exact centres of a layer's labels are being summed."""
        return self._means.running

    @property
    def image_name(self) -> str | None:
        """The image layer whose segmentation is shown (None: a bare result)."""
        return self._follower.image_name

    def _new_canvas(self) -> None:
        """Put a new canvas in place of one whose OpenGL context is gone (the
        view was floated or docked again), looking from the same place."""
        old = self._plot
        with contextlib.suppress(RuntimeError):  # the view itself is gone
            layout = self.native.layout()
            plot = ScatterCanvas()
            plot.adopt_camera(old)
            layout.insertWidget(layout.indexOf(old.native), plot.native, 1)
            layout.removeWidget(old.native)
            old.native.hide()
            old.native.deleteLater()
            self._plot = plot
            self._context = ContextWatch(plot.canvas, self._new_canvas)
            plot.clicked.connect(self._on_click)
            self._redraw()

    # -------------------------------------------------------------- drawing

    def show_result(self, image, result, *, layout=None, name=None) -> None:
        """Draw a segmentation result of ``image``: its labels, its centres
        (``result.channel_means``, the clusters' mean channel values) and colours;
        nothing is recomputed.

        Parameters
        ----------
        image : array_like
            The segmented image (what was clustered).
        result : SegmentationResult
            What :func:`segment` returned for it.
        layout : Layout, optional
            The image's channel layout; by default the result's model's.
        name : str, optional
            The image layer it is the segmentation of: the view then links the
            selection with the labels layer ``"<name> clusters"``.

        Raises
        ------
        ValueError
            If the labels do not fit the image.
        """
        drawing = _cs.result_drawing(image, result, layout)
        self._note = drawing.note
        self._follower.attach(name, result)
        self._draw(
            drawing.image,
            drawing.labels,
            drawing.layout,
            drawing.colors,
            drawing.centres,
            names=(),
        )

    def show_layers(self, image, labels, layout, colors, *, note="", names=()):
        """Draw labels read from a layer: centres from a sample now, exact means
        summed between the viewer's events (:attr:`busy` until done)."""
        self._note = note
        self._draw(image, labels, layout, colors, None, names=names)

    def update_from_layer(self, image_layer_name: str) -> None:
        """Draw the segmentation of the image layer ``image_layer_name`` from the
        labels layer this plugin made for it, and follow that layer from now on.

        Raises
        ------
        ValueError
            If there is no viewer, no such image layer or no labels layer for it,
            or the labels do not fit the image.
        """
        self._follower.show_layer(str(image_layer_name))

    def _draw(self, image, labels, layout, colors, centres, *, names, fit=True) -> None:
        """Draw new data; ``fit``: frame it anew (not for another number of
        points of the same data: the user's turn and zoom stay)."""
        self._means.stop()  # a computation under way is now stale
        self._scatter = _cs.make_scatter(
            image,
            labels,
            layout,
            colors,
            centres=centres,
            n_points=int(self.n_points.value),
            rng=self._rng,
            names=names,
        )
        self._shown = (image, labels, layout, colors, centres, names)
        if self._selected not in (0, *self._scatter.ids.tolist()):
            self._selected = 0
        self._redraw()
        if fit:
            self._plot.fit_camera()
        if not self._scatter.exact:
            ids = self._scatter.all_ids
            self._means.start(_cs.label_means_steps(image, labels, layout, ids))

    def _refresh(self, _=None) -> None:
        """Draw again what is shown (e.g. another number of points)."""
        if self._shown is not None:
            image, labels, layout, colors, centres, names = self._shown
            self._draw(image, labels, layout, colors, centres, names=names, fit=False)

    def _redraw(self, _=None) -> None:
        self._plot.draw(
            self._scatter,
            by_cluster=self.color_by.value == BY_CLUSTER,
            selected=self._selected,
        )
        self._update_status()

    def _exact_centres(self, centres: np.ndarray) -> None:
        self._scatter = self._scatter.with_centres(centres)
        self._redraw()

    def _update_status(self) -> None:
        self.status.value = _cs.describe(self._scatter, self._note, self._selected)

    def clear(self) -> None:
        """Draw nothing and stop following any layer."""
        self._means.stop()
        self._follower.detach()
        self._scatter = self._shown = None
        self._selected = 0
        self._redraw()

    # ------------------------------------------------------------ selection

    def pick(self, pos) -> int:
        """The id of the cluster whose centre marker is under canvas position
        ``pos`` (logical pixels, as in mouse events), or 0 when none is."""
        return self._plot.pick(pos)

    def centre_screen_positions(self) -> np.ndarray:
        """Where the centre markers are on the canvas, ``(k, 2)`` logical pixels."""
        return self._plot.centre_screen_positions()

    def point_screen_positions(self) -> np.ndarray:
        """Where the sampled pixels are on the canvas, ``(n, 2)`` logical pixels."""
        return self._plot.point_screen_positions()

    def select_cluster(self, cluster_id: int) -> None:
        """Select cluster ``cluster_id`` (0: all clusters again).

        The labels layer this plugin made for the image gets ``selected_label`` and
        ``show_selected_label`` (off for 0). Emits :attr:`cluster_selected`.

        Raises
        ------
        ValueError
            If ``cluster_id`` is not 0 nor a drawn cluster's id.
        """
        if isinstance(cluster_id, bool) or not isinstance(cluster_id, int | np.integer):
            raise ValueError(f"cluster_id must be an integer, not {cluster_id!r}")
        i = int(cluster_id)
        ids = self.cluster_ids
        if i != 0 and i not in ids:
            known = ", ".join(map(str, ids.tolist())) or "none"
            raise ValueError(f"no cluster {i} in the view (clusters: {known}); 0 = all")
        self.show_selected(i)
        self._follower.select_in_layer(i)
        self.cluster_selected.emit(i)

    def show_selected(self, cluster_id: int) -> None:
        """Highlight cluster ``cluster_id`` (0: none) without touching the layers."""
        if cluster_id and cluster_id not in self.cluster_ids:
            cluster_id = 0
        if cluster_id != self._selected:
            self._selected = int(cluster_id)
            self._redraw()

    def _on_click(self, picked: int) -> None:
        """A click on the canvas (not a drag): on a centre, or the background."""
        if picked == self._selected:
            picked = 0  # the selected centre again: show all
        if picked or self._selected:
            self.select_cluster(picked)

    # ------------------------------------------------------------ following

    def _segmented_images(self, widget=None) -> list[str]:
        follower = self.__dict__.get("_follower")  # None while being built
        return [] if follower is None else follower.segmented_images()

    def reset_choices(self, *args) -> None:
        """Refresh the list of segmented images (napari calls this when layers are
        added, removed or renamed): a newly segmented image is shown at once; the
        view is cleared when the shown one goes away."""
        self._follower.reset_choices(
            lambda: super(ColorSpaceView, self).reset_choices(*args)
        )

    # --------------------------------------------------------------- export

    def render(self) -> np.ndarray:
        """The 3D view as drawn, RGBA ``(height, width, 4)`` uint8.

        Raises
        ------
        RuntimeError
            If the view has never been shown (it has no OpenGL context yet).
        """
        return self._plot.render()

    def save_png(self, path):
        """Save the 3D view, as drawn, to a PNG file (``.png`` added when the
        name has no suffix); returns the path written (RuntimeError: never
        shown; OSError: not writable)."""
        return self._plot.save_png(path)

    def _on_save_clicked(self, _=None) -> None:
        ask_and_save(self)


def views_in(window) -> list[ColorSpaceView]:
    """The colour-space views of the Qt main window ``window``: docked in it, or
    floating (a floating dock is a window of its own, still its child)."""
    out = []
    for view in list(VIEWS):
        with contextlib.suppress(RuntimeError):  # its Qt side is gone
            parent = view.native
            while parent is not None and parent is not window:
                parent = parent.parentWidget()
            if parent is window:
                out.append(view)
    return out
