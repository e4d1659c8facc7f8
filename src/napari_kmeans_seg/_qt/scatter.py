"""The 3D canvas of the colour-space view: draws a :class:`Scatter` with vispy,
frames it (:mod:`.camera`), tells which centre is under the mouse and renders
the picture."""

import os
from pathlib import Path

import numpy as np
from psygnal import Signal
from qtpy.QtWidgets import QSizePolicy
from vispy import scene
from vispy.io import write_png
from vispy.scene import visuals

from ..layers.colorspace import Scatter, format_value
from .camera import CameraView, fit_view

#: canvas background and cube colour
BACKGROUND = "#3c3f45"
CUBE_COLOR = (0.75, 0.75, 0.75, 0.6)
#: marker sizes (screen pixels) and the tolerance of a click on a centre
POINT_SIZE = 3.0
CENTRE_SIZE = 16.0
SELECTED_SIZE = 26.0
PICK_TOLERANCE = 6.0
#: opacity of the points of the clusters not selected
FADED_ALPHA = 0.08
#: a press and release closer than this (pixels) is a click, not a drag
CLICK_SLOP = 4.0
#: where the tick labels sit: just off the cube's edges, at their ends
TICK_OFFSET = -0.06
#: where the axis names sit: off the middle of their edge, farther out than the
#: ticks, so that neither covers the other ("R" and "255" collided at the end)
AXIS_NAME_POS = np.array(
    [(0.5, -0.17, -0.17), (-0.17, 0.5, -0.17), (-0.17, -0.17, 0.5)]
)
#: the corners of the colour cube (scene coordinates)
CUBE_CORNERS = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], float)
#: the camera's field of view (degrees) and where it looks from before a fit
FOV = 30.0
START = CameraView(
    elevation=30.0, azimuth=-35.0, center=(0.5, 0.5, 0.5), scale_factor=1.9
)


class ScatterCanvas:
    """A vispy canvas with the RGB cube, the sampled pixels and the centres.

    The canvas widget (:attr:`native`) expands to fill its dock. A left click
    that is not a drag emits :attr:`clicked` with the cluster id of the centre
    under the mouse (0: the background).
    """

    clicked = Signal(int)

    def __init__(self):
        canvas = scene.SceneCanvas(
            keys=None, size=(380, 380), show=False, bgcolor=BACKGROUND
        )
        canvas.native.setMinimumSize(160, 120)
        canvas.native.setSizePolicy(
            QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding
        )
        view = canvas.central_widget.add_view()
        view.camera = scene.TurntableCamera(fov=FOV)
        self._view = view
        self._fitted: CameraView | None = None  # the last fit, while untouched
        self._set_camera(START)
        cube = CUBE_CORNERS.astype(np.float32)
        edges = [(a, b) for a in range(8) for b in range(a + 1, 8)]
        edges = [(a, b) for a, b in edges if bin(a ^ b).count("1") == 1]
        visuals.Line(
            pos=cube[np.ravel(edges)],
            color=CUBE_COLOR,
            connect="segments",
            parent=view.scene,
        )
        self.points = visuals.Markers(parent=view.scene)
        self.points.set_gl_state("translucent", depth_test=True)
        self.centres = visuals.Markers(parent=view.scene)
        self.centres.set_gl_state("translucent", depth_test=False)
        self.centres.order = 1  # drawn after the points: always visible
        self.axis_text = visuals.Text(
            text=[""], pos=[(0, 0, 0)], color="white", font_size=11, parent=view.scene
        )
        self.tick_text = visuals.Text(
            text=[""],
            pos=[(0, 0, 0)],
            color=(0.85, 0.85, 0.85, 1.0),
            font_size=8,
            parent=view.scene,
        )
        self.canvas = canvas
        self._scatter: Scatter | None = None
        self._selected = 0
        self._press_pos = None
        canvas.events.mouse_press.connect(self._on_mouse_press)
        canvas.events.mouse_release.connect(self._on_mouse_release)
        canvas.events.resize.connect(self._on_resize)

    def _on_mouse_press(self, event) -> None:
        self._press_pos = np.asarray(event.pos, float)[:2]

    def _on_mouse_release(self, event) -> None:
        start, self._press_pos = self._press_pos, None
        if start is None or getattr(event, "button", 1) != 1:
            return
        pos = np.asarray(event.pos, float)[:2]
        if np.hypot(*(pos - start)) <= CLICK_SLOP:  # not a drag turning the view
            self.clicked.emit(self.pick(pos))

    @property
    def native(self):
        """The Qt widget of the canvas."""
        return self.canvas.native

    def draw(self, scatter: Scatter | None, *, by_cluster: bool, selected: int) -> None:
        """Draw ``scatter`` (None: nothing), points coloured by their cluster or
        their own colour, cluster ``selected`` highlighted (0: none)."""
        self._scatter, self._selected = scatter, selected
        if scatter is None:
            self.points.set_data(np.zeros((0, 3), np.float32))
            self.centres.set_data(np.zeros((0, 3), np.float32))
            self.axis_text.text = [""]
            self.tick_text.text = [""]
        else:
            self._draw_points(scatter, by_cluster, selected)
            self._draw_centres(scatter, selected)
            self._draw_axes(scatter)
        self.canvas.update()

    def _draw_points(self, s: Scatter, by_cluster: bool, selected: int) -> None:
        if not len(s.values):
            self.points.set_data(np.zeros((0, 3), np.float32))
            return
        if by_cluster and len(s.ids):
            lut = np.zeros((int(s.ids.max()) + 1, 4), np.float32)
            lut[:, 3] = 1.0
            lut[s.ids] = s.colors
            face = lut[np.clip(s.sample_labels, 0, len(lut) - 1)]
        else:
            face = s.true_rgba
        if selected:  # fade the other clusters' points
            face = face.copy()
            face[s.sample_labels != selected, 3] = FADED_ALPHA
        self.points.set_data(
            s.space.to_scene(s.values), face_color=face, size=POINT_SIZE, edge_width=0
        )

    def _draw_centres(self, s: Scatter, selected: int) -> None:
        if not len(s.ids):
            self.centres.set_data(np.zeros((0, 3), np.float32))
            return
        size = np.full(len(s.ids), CENTRE_SIZE, np.float32)
        edge = np.tile(np.array([0.08, 0.08, 0.08, 1.0], np.float32), (len(s.ids), 1))
        chosen = s.ids == selected
        size[chosen] = SELECTED_SIZE
        edge[chosen] = (1.0, 1.0, 0.2, 1.0)  # a yellow ring stands out on any colour
        self.centres.set_data(
            s.space.to_scene(s.centres),
            face_color=s.colors,
            edge_color=edge,
            edge_width=3.0,
            size=size,
        )

    def _draw_axes(self, s: Scatter) -> None:
        space = s.space
        self.axis_text.text = list(space.names)
        self.axis_text.pos = AXIS_NAME_POS.astype(np.float32)
        ticks, pos = [], []
        shown = range(min(space.n_features, 3))
        lows = {format_value(space.lo[axis]) for axis in shown}
        shared_low = len(lows) == 1  # one label at the corner ("0" for RGB)
        if shared_low:
            ticks.append(lows.pop())
            pos.append(np.full(3, TICK_OFFSET, np.float32))
        for axis in shown:
            ends = ((0.0, space.lo[axis]), (1.0, space.hi[axis]))
            for end, value in ends[1:] if shared_low else ends:
                p = np.full(3, TICK_OFFSET, np.float32)
                p[axis] = end
                ticks.append(format_value(value))
                pos.append(p)
        self.tick_text.text = ticks or [""]
        self.tick_text.pos = np.array(pos or [(0, 0, 0)], np.float32)

    # -------------------------------------------------------------- camera

    def fit_camera(self) -> None:
        """Look at the drawn points from where their spread shows, framed to
        fill the canvas (:func:`.camera.fit_view`); it is fitted again when the
        canvas is resized, until the user turns or zooms the view."""
        s = self._scatter
        if s is None or not len(s.values):
            self._fitted = None
            return
        scene_points = np.concatenate(
            [s.space.to_scene(s.values), s.space.to_scene(s.centres)]
        )
        scene_points = scene_points[np.isfinite(scene_points).all(axis=1)]
        self._fitted = fit_view(
            scene_points, tuple(self.canvas.size), FOV, context=self._context()
        )
        self._set_camera(self._fitted)

    def adopt_camera(self, other: "ScatterCanvas") -> None:
        """Look from where ``other`` looks (a canvas this one replaces)."""
        camera = other._view.camera
        self._set_camera(
            CameraView(
                elevation=camera.elevation,
                azimuth=camera.azimuth,
                center=tuple(camera.center),
                scale_factor=camera.scale_factor,
            )
        )
        self._fitted = other._fitted if other._camera_untouched() else None

    def _context(self) -> np.ndarray:
        """The cube's corners and the axis names: framed with the points when
        that costs little room."""
        return np.concatenate([CUBE_CORNERS, AXIS_NAME_POS])

    def _set_camera(self, view: CameraView) -> None:
        camera = self._view.camera
        camera.elevation, camera.azimuth = view.elevation, view.azimuth
        camera.center = view.center
        camera.scale_factor = view.scale_factor

    def _camera_untouched(self) -> bool:
        fitted, camera = self._fitted, self._view.camera
        if fitted is None:
            return False
        now = (camera.elevation, camera.azimuth, *camera.center, camera.scale_factor)
        then = (fitted.elevation, fitted.azimuth, *fitted.center, fitted.scale_factor)
        return np.allclose(now, then, rtol=1e-6, atol=1e-9)

    def _on_resize(self, event=None) -> None:
        if self._camera_untouched():
            self.fit_camera()

    # ------------------------------------------------------------- picking

    def centre_screen_positions(self) -> np.ndarray:
        """Where the centre markers are on the canvas, ``(k, 2)`` logical pixels."""
        s = self._scatter
        if s is None or not len(s.ids):
            return np.zeros((0, 2))
        return self._to_canvas(s.space.to_scene(s.centres))

    def point_screen_positions(self) -> np.ndarray:
        """Where the sampled pixels are on the canvas, ``(n, 2)`` logical pixels."""
        s = self._scatter
        if s is None or not len(s.values):
            return np.zeros((0, 2))
        return self._to_canvas(s.space.to_scene(s.values))

    def _to_canvas(self, scene_points) -> np.ndarray:
        tr = self.points.get_transform("visual", "canvas")
        mapped = np.asarray(tr.map(np.asarray(scene_points, np.float32)), float)
        return mapped[:, :2] / mapped[:, 3:4]

    def pick(self, pos) -> int:
        """The id of the cluster whose centre marker is under ``pos`` (canvas
        pixels), or 0 when none is."""
        screen = self.centre_screen_positions()
        if not len(screen):
            return 0
        ids = self._scatter.ids
        dist = np.hypot(*(screen - np.asarray(pos, float)[:2]).T)
        size = np.where(ids == self._selected, SELECTED_SIZE, CENTRE_SIZE)
        near = dist <= size / 2 + PICK_TOLERANCE
        if not near.any():
            return 0
        return int(ids[np.argmin(np.where(near, dist, np.inf))])

    # ------------------------------------------------------------- pictures

    def render(self) -> np.ndarray:
        """The view as drawn, RGBA ``(height, width, 4)`` uint8 (RuntimeError if
        the canvas was never shown: it has no OpenGL context yet)."""
        native = self.canvas.native
        if hasattr(native, "isValid") and not native.isValid():
            raise RuntimeError(
                "the colour-space view has not been shown yet, so it cannot be "
                "rendered; show the viewer (or the widget) first"
            )
        return self.canvas.render()

    def save_png(self, path: str | os.PathLike) -> Path:
        """Save the view to a PNG file (``.png`` added when it has no suffix)."""
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        write_png(str(path), self.render()[..., :3])
        return path
