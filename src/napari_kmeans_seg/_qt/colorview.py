"""The colour-space view: a dock widget with an interactive 3D scatter of the pixels.

A random sample of the clustered pixels is drawn as points in the feature space the
clustering used (the RGB cube for 8-bit colour, else the first three features), with
the cluster centres as large markers. Drag to turn the view, scroll to zoom, click a
centre to show that cluster alone in the labels layer (click it again, or the
background, to show all).

This is a GUI module: it imports Qt (through magicgui/qtpy), vispy and napari.
Nothing else in the package imports it, so ``import napari_kmeans_seg`` stays light.
"""

# No ``from __future__ import annotations`` here: napari injects the viewer only when
# the annotation is the literal string 'napari.viewer.Viewer'.

import contextlib
import logging
import os
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

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
from napari.utils.notifications import show_error
from psygnal import Signal
from qtpy.QtCore import QTimer
from vispy import scene
from vispy.io import write_png
from vispy.scene import visuals

from ..core import features as _features
from ..core import lazy as _lazy
from ..layers.outputs import cluster_name, labels_name, mean_colors

logger = logging.getLogger(__name__)

#: points drawn by default
DEFAULT_N_POINTS = 20_000
#: most points the spin box offers
MAX_N_POINTS = 500_000
#: pixels whose per-cluster means place the centres until the exact means are in
CENTRE_SAMPLE = 200_000
#: pixels of a lazy (dask, zarr) or multiscale image the view loads at most
LAZY_VIEW_PIXELS = 1 << 20
#: pixels summed per step of the exact cluster means (one step per event-loop turn)
_MEANS_BLOCK = 1 << 20
#: colour modes of the points
TRUE_COLOUR = "true colour"
BY_CLUSTER = "cluster"
#: canvas background and cube colour
BACKGROUND = "#3c3f45"
CUBE_COLOR = (0.75, 0.75, 0.75, 0.6)
#: marker sizes (screen pixels) and the tolerance of a click on a centre
POINT_SIZE = 3.0
CENTRE_SIZE = 16.0
SELECTED_SIZE = 24.0
PICK_TOLERANCE = 6.0
#: a press and release closer than this (pixels) is a click, not a drag
CLICK_SLOP = 4.0
#: wait after a labels layer's data changes before redrawing (ms); coalesces edits
UPDATE_DELAY_MS = 50
#: file-dialog filter for the PNG export
PNG_FILTER = "PNG image (*.png);;All files (*)"


@dataclass(frozen=True)
class FeatureSpace:
    """The three plotted axes: their names and the value range mapped to [0, 1].

    Attributes
    ----------
    names : tuple of 3 str
        Axis labels.
    lo, hi : (3,) ndarray of float64
        Feature values drawn at 0 and 1 on each axis.
    n_features : int
        Features of the pixels (axes beyond it are plotted as 0).
    """

    names: tuple[str, str, str]
    lo: np.ndarray
    hi: np.ndarray
    n_features: int

    @classmethod
    def for_data(
        cls, layout: _features.Layout, dtype: np.dtype, values: np.ndarray
    ) -> "FeatureSpace":
        """The space of an image's pixels: the 0–255 RGB cube for 8-bit RGB, else
        the range of ``values`` (sampled pixels and centres) on the first three
        features."""
        d = values.shape[1]
        lo, hi = np.zeros(3), np.ones(3)
        if layout.rgb and np.dtype(dtype) == np.uint8:
            return cls(("R", "G", "B"), lo, np.full(3, 255.0), 3)
        n = min(d, 3)
        if len(values):
            lo[:n] = np.nanmin(values[:, :n], axis=0)
            hi[:n] = np.nanmax(values[:, :n], axis=0)
        flat = hi - lo <= 0
        hi[flat] = lo[flat] + 1.0
        if layout.rgb:
            names = ("R", "G", "B")
        else:
            names = tuple(
                f"feature {i + 1}" if i < d else f"(feature {i + 1}: none)"
                for i in range(3)
            )
        return cls(names, lo, hi, d)

    def to_scene(self, values: np.ndarray) -> np.ndarray:
        """Feature values → scene positions ``(n, 3)`` float32 in the unit cube
        (missing features at 0)."""
        out = np.zeros((len(values), 3), np.float32)
        n = min(values.shape[1], 3)
        out[:, :n] = (values[:, :n] - self.lo[:n]) / (self.hi[:n] - self.lo[:n])
        return out


def sample_clustered(
    image: np.ndarray,
    labels: np.ndarray,
    layout: _features.Layout,
    n_points: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int]:
    """A random sample of the clustered pixels (label > 0) of ``image``.

    Only the drawn pixels are read, so that a 4K image costs as much as a small one.

    Parameters
    ----------
    image : ndarray
        The image.
    labels : ndarray
        Its labels, shaped like the image without its channel axis.
    layout : Layout
        The image's channel layout.
    n_points : int
        Pixels wanted.
    rng : numpy.random.Generator

    Returns
    -------
    values : (m, n_features) ndarray
        The sampled pixels' features (alpha dropped), ``m <= n_points``.
    sample_labels : (m,) ndarray
        Their labels.
    n_clustered : int
        Number of clustered pixels in the image (estimated from the draw when the
        image is large and has few unclustered pixels).

    Raises
    ------
    ValueError
        If ``labels`` does not have the image's spatial shape.
    """
    spatial = layout.spatial_shape(image.shape)
    if labels.shape != spatial:
        raise ValueError(
            f"labels shape {labels.shape} does not fit the image's spatial shape "
            f"{spatial}"
        )
    flat = labels.reshape(-1)
    n = flat.size
    idx = None
    n_clustered = 0
    if n > 2 * n_points:  # draw a few more than needed, keep the clustered ones
        draw = rng.choice(n, size=min(n, n_points + n_points // 4 + 64), replace=False)
        good = draw[flat[draw] > 0]
        if len(good) >= n_points:
            idx = np.sort(good[:n_points])
            n_clustered = round(n * len(good) / len(draw))
    if idx is None:  # small image or many unclustered pixels: list them all
        idx = np.flatnonzero(flat)
        n_clustered = len(idx)
        if len(idx) > n_points:
            idx = idx[np.sort(rng.choice(len(idx), size=n_points, replace=False))]
    coords = np.unravel_index(idx, spatial)
    pixels = (
        image
        if layout.channel_axis is None
        else np.moveaxis(image, layout.channel_axis, -1)
    )
    values = pixels[coords]
    if layout.channel_axis is None:
        values = values[:, None]
    return values[:, : layout.n_channels], flat[idx], n_clustered


def label_means(
    image: np.ndarray, labels: np.ndarray, layout: _features.Layout, ids: np.ndarray
) -> np.ndarray:
    """Mean features of the pixels of each label in ``ids`` over the whole image.

    Parameters
    ----------
    image, labels, layout
        As for :func:`sample_clustered`.
    ids : (k,) ndarray of int
        Labels (> 0) whose means are wanted.

    Returns
    -------
    (k, n_features) ndarray of float64
        NaN rows for labels without pixels.
    """
    steps = label_means_steps(image, labels, layout, ids)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def label_means_steps(
    image: np.ndarray,
    labels: np.ndarray,
    layout: _features.Layout,
    ids: np.ndarray,
    block: int = _MEANS_BLOCK,
) -> Generator[None, None, np.ndarray]:
    """:func:`label_means` in steps of ``block`` pixels: a generator that yields
    after each block and returns the means, so that the GUI can interleave it with
    its events instead of freezing (or starting a thread) on a large image."""
    X, _ = _features.to_pixels(image, layout)
    X = X[:, : layout.n_channels]
    flat = labels.reshape(-1)
    size = int(max(ids.max(initial=0), flat.max(initial=0))) + 1
    sums = np.zeros((size, X.shape[1]))
    counts = np.zeros(size)
    for start in range(0, len(flat), block):
        lab = flat[start : start + block]
        counts += np.bincount(lab, minlength=size)
        for j in range(X.shape[1]):
            sums[:, j] += np.bincount(
                lab, weights=X[start : start + block, j], minlength=size
            )
        yield
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[ids] / counts[ids, None]


def _lazy_region(image, labels, layout: _features.Layout) -> tuple:
    """Of a lazy (dask, zarr) image and its labels: the pixels of a regular grid of
    at most :data:`LAZY_VIEW_PIXELS` (see :func:`._lazy.fit_region`), loaded, so
    that the view never reads a whole large image."""
    region = _lazy.Region.of(tuple(image.shape), layout, LAZY_VIEW_PIXELS)
    return region.read(
        _lazy.as_dask(image) if _lazy.is_lazy(image) else image,
        _lazy.as_dask(labels) if _lazy.is_lazy(labels) else labels,
    )


def _sample_means(
    values: np.ndarray, sample_labels: np.ndarray, ids: np.ndarray
) -> np.ndarray:
    size = int(max(ids.max(initial=0), sample_labels.max(initial=0))) + 1
    counts = np.bincount(sample_labels, minlength=size)[ids]
    out = np.empty((len(ids), values.shape[1]))
    for j in range(values.shape[1]):
        out[:, j] = np.bincount(
            sample_labels, weights=values[:, j].astype(np.float64), minlength=size
        )[ids]
    with np.errstate(invalid="ignore", divide="ignore"):
        return out / counts[:, None]


def true_colors(
    values: np.ndarray, layout: _features.Layout, dtype: np.dtype, space: FeatureSpace
) -> np.ndarray:
    """RGBA in [0, 1] of each pixel as the image shows it: its colour for RGB
    (integers scaled by their dtype's maximum), grey for one feature, and the
    first three features as R, G, B (scaled to the plotted range) otherwise."""
    rgba = np.ones((len(values), 4), np.float32)
    if layout.rgb and np.issubdtype(dtype, np.integer):
        rgba[:, :3] = values[:, :3] / np.iinfo(dtype).max
    elif values.shape[1] == 1:
        rgba[:, :3] = space.to_scene(values)[:, :1]
    else:
        rgba[:, :3] = space.to_scene(values)
    np.clip(rgba, 0.0, 1.0, out=rgba)
    return rgba


class ColorSpaceView(Container):
    """See the clusters: the pixels of an image as points in its colour space.

    Points are a random sample of the clustered pixels, coloured by their own colour
    or by their cluster; the cluster centres are the large markers with a dark edge.
    Drag to turn, scroll to zoom. Clicking a centre shows that cluster alone in the
    labels layer (``show_selected_label``) and selects its masked image layer;
    clicking it again, or the background, shows all clusters again.

    The view follows the labels layer ``"<image> clusters"`` made by **Segment**:
    it redraws when that layer's data changes (a new segmentation, painting).

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
        self._tracked = None  # the labels layer whose data we follow
        self._image_name: str | None = None
        self._result_args: tuple | None = None  # what show_result drew, to redraw
        self._note = ""  # added to the status line
        self._selected = 0
        self._means_job = None  # steps of the exact cluster means, when under way
        self._updating_choice = False
        # what is drawn
        self._space: FeatureSpace | None = None
        self._values = np.zeros((0, 3))
        self._sample_labels = np.zeros(0, np.intp)
        self._true_rgba = np.zeros((0, 4), np.float32)
        self._all_ids = self._ids = np.zeros(0, np.intp)
        self._all_rgba = self._cluster_rgba = np.zeros((0, 4), np.float32)
        self._centres = np.zeros((0, 3))
        self._source: tuple | None = None  # (image, labels, layout) of the drawing
        self._n_clustered, self._exact = 0, True
        self.last_draw_seconds = 0.0

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
        super().__init__(
            widgets=[
                self.image,
                self.n_points,
                self.color_by,
                self.save_button,
                self.status,
            ]
        )
        self._build_canvas()
        self._update_timer = QTimer(self.native)
        self._update_timer.setSingleShot(True)
        self._update_timer.setInterval(UPDATE_DELAY_MS)
        self._update_timer.timeout.connect(self._refresh)
        self._means_timer = QTimer(self.native)
        self._means_timer.setInterval(0)
        self._means_timer.timeout.connect(self._means_step)

        self.image.changed.connect(self._on_image_chosen)
        self.n_points.changed.connect(self._refresh)
        self.color_by.changed.connect(self._recolor)
        self.save_button.changed.connect(self._on_save_clicked)
        if viewer is not None:  # show the last segmented image, if any
            self.reset_choices()
            names = [c for c in self.image.choices if c is not None]
            if self.image.value is None and names:
                self.image.value = names[-1]

    # ------------------------------------------------------------------ canvas

    def _build_canvas(self) -> None:
        canvas = scene.SceneCanvas(
            keys=None, size=(380, 380), show=False, bgcolor=BACKGROUND
        )
        canvas.native.setMinimumSize(220, 220)
        view = canvas.central_widget.add_view()
        view.camera = scene.TurntableCamera(
            fov=40.0, elevation=22.0, azimuth=-50.0, distance=2.9
        )
        view.camera.center = (0.5, 0.5, 0.5)
        cube = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], np.float32)
        edges = [(a, b) for a in range(8) for b in range(a + 1, 8)]
        edges = [(a, b) for a, b in edges if bin(a ^ b).count("1") == 1]
        self._cube = visuals.Line(
            pos=cube[np.ravel(edges)],
            color=CUBE_COLOR,
            connect="segments",
            parent=view.scene,
        )
        self._points = visuals.Markers(parent=view.scene)
        self._points.set_gl_state("translucent", depth_test=True)
        self._centre_markers = visuals.Markers(parent=view.scene)
        self._centre_markers.set_gl_state("translucent", depth_test=False)
        self._centre_markers.order = 1  # drawn after the points: always visible
        self._axis_text = visuals.Text(
            text=[""], pos=[(0, 0, 0)], color="white", font_size=9, parent=view.scene
        )
        self._tick_text = visuals.Text(
            text=[""],
            pos=[(0, 0, 0)],
            color=(0.85, 0.85, 0.85, 1.0),
            font_size=7,
            parent=view.scene,
        )
        self._canvas, self._view = canvas, view
        self._press_pos = None
        canvas.events.mouse_press.connect(self._on_mouse_press)
        canvas.events.mouse_release.connect(self._on_mouse_release)
        self.native.layout().addWidget(canvas.native, 1)

    @property
    def canvas(self) -> scene.SceneCanvas:
        """The vispy canvas (:meth:`render` gives the picture)."""
        return self._canvas

    @property
    def point_markers(self) -> visuals.Markers:
        """The vispy visual of the sampled pixels."""
        return self._points

    @property
    def centre_markers(self) -> visuals.Markers:
        """The vispy visual of the cluster centres."""
        return self._centre_markers

    @property
    def cluster_ids(self) -> np.ndarray:
        """Ids of the clusters drawn, one per centre marker."""
        return self._ids.copy()

    @property
    def centres(self) -> np.ndarray:
        """Centres drawn ``(k, n_features)`` in feature units; row ``i`` is the
        centre of cluster ``cluster_ids[i]``."""
        return self._centres.copy()

    @property
    def points(self) -> np.ndarray:
        """The sampled pixels drawn ``(n, n_features)``, in feature units."""
        return self._values.copy()

    @property
    def selected_cluster(self) -> int:
        """The selected cluster id, 0 when all are shown."""
        return self._selected

    @property
    def busy(self) -> bool:
        """True while the exact centres are still being computed (in steps, between
        the viewer's events)."""
        return self._means_job is not None

    # ------------------------------------------------------------------ drawing

    def show_result(
        self, image, result, *, layout: _features.Layout | None = None
    ) -> None:
        """Draw a segmentation result of ``image``: no napari layer needed.

        The points are pixels of ``image`` in its own channel values (the RGB cube
        for 8-bit colour) and the centres are each cluster's mean of those values
        (``result.channel_means``; the centroids themselves with the default
        feature options). A result clustered in another space (``color_space``,
        weights, coordinates) is thus shown in the image's channels, and the status
        line says so.

        Parameters
        ----------
        image : array_like
            The segmented image.
        result : SegmentationResult
            What :func:`segment` returned for it.
        layout : Layout, optional
            The image's channel layout; by default the result's model's.

        Raises
        ------
        ValueError
            If the labels do not fit the image.
        """
        arr = np.asarray(image)
        layout = result.model.layout_for(arr.shape) if layout is None else layout
        ids = np.arange(1, result.n_clusters + 1)
        colors = mean_colors(result, arr.dtype)
        if colors is None:
            colors = _label_colors(ids)
        centres = getattr(result, "channel_means", None)
        centres = np.asarray(result.centroids if centres is None else centres)
        options = getattr(result.model, "options", None)
        self._stop_tracking()
        self._set_choice(None)
        self._image_name = None
        self._selected = 0
        self._note = ""
        if options is not None and not options.is_default:
            names = ", ".join(result.feature_names)
            self._note = f"clustered on {names}; shown in the image's channels"
        self._result_args = (arr, result.labels, layout, ids, colors, centres)
        self._draw(*self._result_args)

    def update_from_layer(self, image_layer_name: str) -> None:
        """Draw the segmentation of the image layer ``image_layer_name``, from its
        labels layer ``"<name> clusters"``, and follow that layer from now on.

        Nothing is re-clustered: the points are a sample of the image's pixels with
        their labels, and the centres are the per-label means: of a 200,000-pixel
        sample at once, then of all pixels, summed block by block between the
        viewer's events (:attr:`busy` until done) so that nothing freezes.

        Parameters
        ----------
        image_layer_name : str
            Name of an image layer segmented by this plugin.

        Raises
        ------
        ValueError
            If there is no viewer, no such image layer or no labels layer for it,
            or the labels do not fit the image.
        """
        if self._viewer is None:
            raise ValueError("this view has no viewer; use show_result(image, result)")
        layers = self._viewer.layers
        name = str(image_layer_name)
        if name not in layers or not isinstance(layers[name], napari.layers.Image):
            raise ValueError(f"no image layer named {name!r} in the viewer")
        lname = labels_name(name)
        if lname not in layers or not isinstance(layers[lname], napari.layers.Labels):
            raise ValueError(
                f"image layer {name!r} has no labels layer {lname!r}: segment it first"
            )
        image_layer, labels_layer = layers[name], layers[lname]
        image, labels = image_layer.data, labels_layer.data
        if image_layer.multiscale:  # the finest level (a region of it, below)
            image = image[0]
        if labels_layer.multiscale:
            labels = labels[0]
        layout = _features.guess_layout(
            image.shape, channel_axis=None, rgb=bool(image_layer.rgb)
        )
        if layout.spatial_shape(image.shape) != tuple(labels.shape):
            raise ValueError(
                f"labels layer {lname!r} (shape {labels.shape}) does not fit image "
                f"layer {name!r} (shape {image.shape})"
            )
        note = ""
        if _lazy.is_lazy(image) or _lazy.is_lazy(labels):
            image, labels = _lazy_region(image, labels, layout)
            note = f"pixels of a regular grid of {labels.size:,} (lazy image)"
        image, labels = np.asarray(image), np.asarray(labels)
        ids = np.arange(1, int(labels.max(initial=0)) + 1)
        self._track(labels_layer)
        self._image_name = name
        self._result_args = None
        self._note = note
        self._set_choice(name)
        if self._selected not in (0, *ids.tolist()):
            self._selected = 0
        self._draw(image, labels, layout, ids, _layer_colors(labels_layer, ids), None)

    def _draw(self, image, labels, layout, ids, colors, centres) -> None:
        """Sample, place the centres, draw; start the exact means if needed."""
        started = time.perf_counter()
        self._means_job = None  # a computation under way is now stale
        labels = np.asarray(labels)
        if labels.dtype.kind not in "ui":
            raise ValueError(f"labels must be integers, not {labels.dtype}")
        values, sample_labels, n_clustered = sample_clustered(
            image, labels, layout, int(self.n_points.value), self._rng
        )
        sample_labels = sample_labels.astype(np.intp)
        exact = centres is not None
        if centres is None:  # means of a larger sample now, of all pixels soon
            big, big_labels = values, sample_labels
            if n_clustered > len(values) and len(values) < CENTRE_SAMPLE:
                big, big_labels, _ = sample_clustered(
                    image, labels, layout, CENTRE_SAMPLE, self._rng
                )
                big_labels = big_labels.astype(np.intp)
            centres = _sample_means(big, big_labels, ids)
            exact = len(big) >= n_clustered
        self._all_ids = np.asarray(ids, np.intp)
        self._all_rgba = np.asarray(colors, np.float32).reshape(-1, 4)
        self._values, self._sample_labels = values, sample_labels
        self._source = (image, labels, layout)
        self._n_clustered, self._exact = n_clustered, exact
        self._set_centres(np.asarray(centres, np.float64))
        self._space = FeatureSpace.for_data(
            layout, image.dtype, np.concatenate([values, self._centres])
        )
        self._true_rgba = true_colors(values, layout, image.dtype, self._space)
        self._draw_axes()
        self._recolor()
        self._draw_centres()
        self.last_draw_seconds = time.perf_counter() - started
        self._update_status()
        if not exact:
            self._start_exact_means()

    def _set_centres(self, centres: np.ndarray) -> None:
        """Keep the clusters that have pixels (finite means)."""
        present = np.all(np.isfinite(centres), axis=1)
        self._ids = self._all_ids[present]
        self._centres = centres[present]
        self._cluster_rgba = self._all_rgba[present]
        if self._selected and self._selected not in self._ids:
            self._selected = 0

    def _update_status(self) -> None:
        if self._space is None:
            self.status.value = ""
            return
        parts = [
            f"{len(self._values):,} of {self._n_clustered:,} pixels, "
            f"{len(self._ids)} clusters"
        ]
        nf = self._space.n_features
        if nf < 3:
            parts.append(
                f"the image has {nf} feature{'s' * (nf != 1)}: the other axes are 0"
            )
        elif nf > 3:
            parts.append(f"showing features 1 to 3 of {nf}")
        parts.append(
            "centres: cluster means"
            if self._exact
            else "centres: means of a sample (exact ones coming)"
        )
        if self._note:
            parts.append(self._note)
        if self._selected:
            parts.append(f"cluster {self._selected} selected")
        self.status.value = "; ".join(parts)

    def _draw_axes(self) -> None:
        s = self._space
        names_pos = np.array([(1.12, 0, 0), (0, 1.12, 0), (0, 0, 1.12)], np.float32)
        self._axis_text.text = list(s.names)
        self._axis_text.pos = names_pos
        ticks, pos = [], []
        shown = range(min(s.n_features, 3))
        lows = {_fmt_value(s.lo[axis]) for axis in shown}
        shared_low = len(lows) == 1  # one label at the corner ("0" for RGB)
        if shared_low:
            ticks.append(lows.pop())
            pos.append(np.full(3, -0.06, np.float32))
        for axis in shown:
            ends = ((0.0, s.lo[axis]), (1.0, s.hi[axis]))
            for end, value in ends[1:] if shared_low else ends:
                p = np.full(3, -0.06, np.float32)
                p[axis] = end
                ticks.append(_fmt_value(value))
                pos.append(p)
        self._tick_text.text = ticks or [""]
        self._tick_text.pos = np.array(pos or [(0, 0, 0)], np.float32)

    def _recolor(self, _=None) -> None:
        if self._space is None:
            return
        if self.color_by.value == BY_CLUSTER and len(self._ids):
            lut = np.zeros((int(self._ids.max()) + 1, 4), np.float32)
            lut[:, 3] = 1.0
            lut[self._ids] = self._cluster_rgba
            face = lut[np.clip(self._sample_labels, 0, len(lut) - 1)]
        else:
            face = self._true_rgba
        if self._selected:  # fade the other clusters' points
            face = face.copy()
            face[self._sample_labels != self._selected, 3] = 0.15
        if len(self._values):
            self._points.set_data(
                self._space.to_scene(self._values),
                face_color=face,
                size=POINT_SIZE,
                edge_width=0.0,
            )
        else:
            self._points.set_data(np.zeros((0, 3), np.float32))
        self._canvas.update()

    def _draw_centres(self) -> None:
        if not len(self._ids):
            self._centre_markers.set_data(np.zeros((0, 3), np.float32))
            return
        pos = self._space.to_scene(self._centres)
        size = np.full(len(self._ids), CENTRE_SIZE, np.float32)
        edge = np.tile(np.array([0.08, 0.08, 0.08, 1.0], np.float32), (len(pos), 1))
        chosen = self._ids == self._selected
        size[chosen] = SELECTED_SIZE
        edge[chosen] = (1.0, 1.0, 1.0, 1.0)
        self._centre_markers.set_data(
            pos,
            face_color=self._cluster_rgba,
            edge_color=edge,
            edge_width=2.5,
            size=size,
        )
        self._canvas.update()

    def clear(self) -> None:
        """Draw nothing and stop following any layer."""
        self._means_job = None
        self._stop_tracking()
        self._image_name = None
        self._result_args = None
        self._selected = 0
        self._space = None
        self._source = None
        self._values = np.zeros((0, 3))
        self._sample_labels = np.zeros(0, np.intp)
        self._all_ids = self._ids = np.zeros(0, np.intp)
        self._all_rgba = self._cluster_rgba = np.zeros((0, 4), np.float32)
        self._centres = np.zeros((0, 3))
        self._points.set_data(np.zeros((0, 3), np.float32))
        self._centre_markers.set_data(np.zeros((0, 3), np.float32))
        self._axis_text.text = [""]
        self._tick_text.text = [""]
        self.status.value = ""
        self._canvas.update()

    # -------------------------------------------------------- exact centres

    def _start_exact_means(self) -> None:
        image, labels, layout = self._source
        self._means_job = label_means_steps(image, labels, layout, self._all_ids)
        self._means_timer.start()

    def _means_step(self) -> None:
        """One block of the exact means; draws them when done."""
        if self._means_job is None:
            self._means_timer.stop()
            return
        try:
            next(self._means_job)
        except StopIteration as done:
            self._means_job = None
            self._means_timer.stop()
            self._exact = True
            self._set_centres(done.value)
            self._draw_centres()
            self._recolor()
            self._update_status()
        except Exception as err:  # keep the sample means; the view stays usable
            self._means_job = None
            self._means_timer.stop()
            logger.warning("computing the cluster means failed", exc_info=err)

    # ------------------------------------------------------------- following

    def _segmented_images(self, widget=None) -> list[str]:
        """Names of the image layers that have a labels layer from Segment."""
        if self._viewer is None:
            return []
        layers = self._viewer.layers
        out = []
        for layer in layers:
            lname = labels_name(layer.name)
            if (
                isinstance(layer, napari.layers.Image)
                and lname in layers
                and isinstance(layers[lname], napari.layers.Labels)
            ):
                out.append(layer.name)
        return out

    def reset_choices(self, *args) -> None:
        """Refresh the list of segmented images (napari calls this when layers are
        added, removed or renamed). A newly segmented image is shown at once; the
        view is cleared when the shown one goes away."""
        known = set(self.image.choices)
        before = self.image.value
        self._updating_choice = True
        try:
            super().reset_choices(*args)
            new = [c for c in self.image.choices if c is not None and c not in known]
            if new:
                self.image.value = new[-1]
        finally:
            self._updating_choice = False
        after = self.image.value
        if after is None:
            if self._image_name is not None:  # what we showed is gone
                self._on_image_chosen(None)
            return
        if after != before or self._tracked is None:
            self._on_image_chosen(after)
            return
        lname = labels_name(after)
        layers = self._viewer.layers
        # == not `is`: the layers may be (new) proxies of the same layer
        if lname not in layers or layers[lname] != self._tracked:
            self._on_image_chosen(after)  # the labels layer was replaced

    def _set_choice(self, name: str | None) -> None:
        self._updating_choice = True
        try:
            if name is None or name in self.image.choices:
                self.image.value = name
        finally:
            self._updating_choice = False

    def _on_image_chosen(self, name=None) -> None:
        if self._updating_choice:
            return
        if name is None:
            self.clear()
            return
        try:
            self.update_from_layer(name)
        except ValueError as err:
            self.clear()
            self.status.value = str(err)

    def _track(self, labels_layer) -> None:
        if self._tracked is not None and self._tracked == labels_layer:
            return
        self._stop_tracking()
        labels_layer.events.data.connect(self._on_labels_changed)
        self._tracked = labels_layer

    def _stop_tracking(self) -> None:
        if self._tracked is not None:
            self._tracked.events.data.disconnect(self._on_labels_changed)
            self._tracked = None
        with contextlib.suppress(RuntimeError):  # the widget may be gone already
            self._update_timer.stop()

    def _on_labels_changed(self, event=None) -> None:
        # wait a moment: Segment sets the data, then the colormap; painting sends
        # many events
        try:
            self._update_timer.start()
        except RuntimeError:  # the dock widget was closed and deleted: let go
            self._stop_tracking()

    def _refresh(self, _=None) -> None:
        """Redraw what is shown (new data, number of points)."""
        if self._image_name is not None:
            self._on_image_chosen(self._image_name)
        elif self._result_args is not None:  # a result given to show_result
            self._draw(*self._result_args)

    # ------------------------------------------------------------- selection

    def pick(self, pos) -> int:
        """The id of the cluster whose centre marker is under canvas position
        ``pos`` (pixels, as in mouse events), or 0 when none is.

        Parameters
        ----------
        pos : (x, y)
            Canvas position in logical pixels.

        Returns
        -------
        int
        """
        screen = self.centre_screen_positions()
        if not len(screen):
            return 0
        dist = np.hypot(*(screen - np.asarray(pos, float)[:2]).T)
        size = np.where(self._ids == self._selected, SELECTED_SIZE, CENTRE_SIZE)
        near = dist <= size / 2 + PICK_TOLERANCE
        if not near.any():
            return 0
        return int(self._ids[np.argmin(np.where(near, dist, np.inf))])

    def centre_screen_positions(self) -> np.ndarray:
        """Where the centre markers are on the canvas, ``(k, 2)`` logical pixels."""
        if not len(self._ids):
            return np.zeros((0, 2))
        tr = self._centre_markers.get_transform("visual", "canvas")
        mapped = np.asarray(tr.map(self._space.to_scene(self._centres)), float)
        return mapped[:, :2] / mapped[:, 3:4]

    def select_cluster(self, cluster_id: int) -> None:
        """Show cluster ``cluster_id`` alone, or all clusters for 0.

        The labels layer ``"<image> clusters"`` gets ``show_selected_label = True``
        and ``selected_label = cluster_id``, and the layer ``"<image> cluster i"``
        becomes the selected layer. 0 turns ``show_selected_label`` off and selects
        the labels layer. Emits :attr:`cluster_selected`.

        Parameters
        ----------
        cluster_id : int
            A cluster id drawn in the view, or 0.

        Raises
        ------
        ValueError
            If ``cluster_id`` is not 0 nor a drawn cluster's id.
        """
        if isinstance(cluster_id, bool) or not isinstance(cluster_id, int | np.integer):
            raise ValueError(f"cluster_id must be an integer, not {cluster_id!r}")
        i = int(cluster_id)
        if i != 0 and i not in self._ids:
            known = ", ".join(map(str, self._ids.tolist())) or "none"
            raise ValueError(f"no cluster {i} in the view (clusters: {known}); 0 = all")
        self._selected = i
        if self._viewer is not None and self._image_name is not None:
            layers = self._viewer.layers
            lname = labels_name(self._image_name)
            labels = layers[lname] if lname in layers else None  # noqa: SIM401
            if labels is not None:
                if i:
                    labels.selected_label = i
                labels.show_selected_label = bool(i)
            target = cluster_name(self._image_name, i) if i else lname
            if target in layers:
                layers.selection.active = layers[target]
        self._draw_centres()
        self._recolor()
        self._update_status()
        self.cluster_selected.emit(i)

    def _on_mouse_press(self, event) -> None:
        self._press_pos = np.asarray(event.pos, float)[:2]

    def _on_mouse_release(self, event) -> None:
        start, self._press_pos = self._press_pos, None
        if start is None or getattr(event, "button", 1) != 1:
            return
        pos = np.asarray(event.pos, float)[:2]
        if np.hypot(*(pos - start)) > CLICK_SLOP:
            return  # a drag turned the view
        picked = self.pick(pos)
        if picked == self._selected:
            picked = 0  # the selected centre again: show all
        if picked or self._selected:
            self.select_cluster(picked)

    # ------------------------------------------------------------------ export

    def render(self) -> np.ndarray:
        """The 3D view as drawn, as an RGBA image ``(height, width, 4)`` of uint8.

        Raises
        ------
        RuntimeError
            If the view has never been shown: its OpenGL context only exists once
            the widget has been on screen (docked in a visible viewer).
        """
        native = self._canvas.native
        if hasattr(native, "isValid") and not native.isValid():
            raise RuntimeError(
                "the colour-space view has not been shown yet, so it cannot be "
                "rendered; show the viewer (or the widget) first"
            )
        return self._canvas.render()

    def save_png(self, path: str | os.PathLike) -> Path:
        """Save the 3D view, as drawn, to a PNG file.

        Parameters
        ----------
        path : str or path-like
            The file to write (``.png`` is added when it has no suffix).

        Returns
        -------
        Path
            The file written.

        Raises
        ------
        RuntimeError
            If the view has never been shown (see :meth:`render`).
        OSError
            If the file cannot be written.
        """
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        write_png(str(path), self.render()[..., :3])
        return path

    def _on_save_clicked(self, _=None) -> None:
        from qtpy.QtWidgets import QFileDialog

        name = f"{self._image_name or 'clusters'} colour space.png"
        path, _ = QFileDialog.getSaveFileName(
            self.native, "Save colour-space view", name, PNG_FILTER
        )
        if path:
            try:
                written = self.save_png(path)
            except (OSError, RuntimeError) as err:
                show_error(f"Could not save the picture: {err}")
                return
            self.status.value = f"saved {written.name}"


def _label_colors(ids: np.ndarray) -> np.ndarray:
    from napari.utils.colormaps import label_colormap

    return np.asarray(label_colormap(int(ids.max(initial=1)) + 1).map(ids))


def _layer_colors(labels_layer, ids: np.ndarray) -> np.ndarray:
    """Each id's colour in the labels layer, opaque.

    A direct colormap (what Segment makes) is read from its ``color_dict``: its
    ``map`` would compile napari's numba lookup for our dtype on first use (seconds).
    """
    cmap = labels_layer.colormap
    color_dict = getattr(cmap, "color_dict", None)
    try:
        if color_dict is not None:
            default = color_dict.get(None, np.zeros(4))
            rgba = np.array(
                [np.asarray(color_dict.get(int(i), default), float) for i in ids],
                np.float32,
            ).reshape(-1, 4)
        else:
            rgba = np.asarray(cmap.map(ids), np.float32).reshape(-1, 4)
    except Exception:  # an exotic colormap: napari's label colours instead
        rgba = _label_colors(ids).astype(np.float32)
    rgba = rgba.copy()
    rgba[:, 3] = 1.0
    return rgba


def _fmt_value(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"
