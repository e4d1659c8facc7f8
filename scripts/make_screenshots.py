"""Regenerate the README's pictures from the real napari viewer.

Run it under a display; headless machines use Xvfb::

    xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/make_screenshots.py

It writes to ``docs/images/`` of the repository (or ``--out DIR``):

- ``viewer_after_segment.png``: the napari window with the astronaut sample, the
  K-Means Segmentation widget docked and the clusters (k=3) drawn over the photo;
- ``clusters_grid.png``: the photo and each cluster's masked image side by side,
  rendered by napari in grid mode;
- ``clusters_table.png``: the widget's table of the clusters (label, pixels,
  fraction, centroid, mean colour) after that segmentation;
- ``color_spaces.png``: the photo and its k=4 mean-colour images clustered in RGB,
  HSV and L*a*b*, side by side (grid mode);
- ``dock_options.png``: the widget's options, the Options group open with the
  Fiji-style colour feature boxes hue, saturation and L* ticked;
- ``dock_linked_selection.png``: the window on a 1280x720 screen with the widget
  docked and the colour-space view in its own window over the canvas, cluster 2
  selected in the table: shown alone in the labels layer and ringed in the
  colour view.

The status line in the first picture says how long Segment took; the script
segments the photo once beforehand, so that it shows a warm run's time rather
than the engine's one-off compilation.

It never enters napari's event loop (no ``napari.run()``): it processes Qt events
itself while the segmentation runs and exits when the pictures are written. Import
it and call :func:`main` to do the same from a test; Qt is only imported there.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "docs" / "images"

PLUGIN = "napari-kmeans-seg"
WIDGET = "K-Means Segmentation"
SAMPLE = "astronaut"
N_CLUSTERS = 3
WINDOW_SIZE = (1400, 900)  # width, height of the napari window (logical pixels)
PANEL_SIZE = 400  # larger side of one panel of the grid picture, in pixels
GRID_SPACING = 12  # pixels between the panels
HOVER = (400, 150)  # (row, column) of the photo the status bar describes: the suit
LABELS_OPACITY = 0.6

VIEWER_PNG = "viewer_after_segment.png"
GRID_PNG = "clusters_grid.png"
TABLE_PNG = "clusters_table.png"
SPACES_PNG = "color_spaces.png"
LINKED_PNG = "dock_linked_selection.png"
OPTIONS_PNG = "dock_options.png"
#: the colour feature boxes ticked in the options picture
OPTION_BOXES = ("hue", "saturation", "L*")
LAPTOP_SIZE = (1280, 720)
SELECTED = 2
SPACES_K = 4


def _process_events(seconds: float = 0.0) -> None:
    """Let Qt handle its pending events, for ``seconds`` at least."""
    from qtpy.QtWidgets import QApplication

    end = time.perf_counter() + seconds
    while True:
        QApplication.processEvents()
        if time.perf_counter() >= end:
            return
        time.sleep(0.01)


def _wait_until(done: Callable[[], bool], timeout: float, what: str) -> None:
    """Process Qt events until ``done()``; ``TimeoutError`` after ``timeout`` s."""
    from qtpy.QtWidgets import QApplication

    end = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > end:
            raise TimeoutError(f"{what}: still not done after {timeout:g} s")
        QApplication.processEvents()
        time.sleep(0.01)


def _save(image, path: Path) -> Path:
    from napari.utils.io import imsave

    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(str(path), image)
    print(f"wrote {path} ({image.shape[1]}x{image.shape[0]} px)")
    return path


def _segment_in_viewer(viewer, timeout: float):
    """Open the sample, dock the widget, click Segment (k=3) and wait for it;
    return the widget."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QLabel

    from napari_kmeans_seg import segment

    viewer.window.resize(*WINDOW_SIZE)
    viewer.open_sample(PLUGIN, SAMPLE)
    # compile the engine first, so that the status shows the time of a warm run
    segment(viewer.layers[SAMPLE].data, N_CLUSTERS, random_state=0)
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    # wide enough for its title, "K-Means Segmentation (napari-kmeans-seg)"
    title = dock.windowTitle()
    labels = [w for w in dock.findChildren(QLabel) if w.text() == title] or [dock]
    width = labels[0].fontMetrics().horizontalAdvance(title) + 100
    dock.parent().resizeDocks([dock], [width], Qt.Orientation.Horizontal)
    _process_events(0.5)

    from napari_kmeans_seg._qt.widget import WARM

    # the widget loads the compiled passes in the background when it opens
    _wait_until(WARM.is_set, timeout, "warm-up")
    widget.inputs_panel.image.value = viewer.layers[SAMPLE]
    widget.options_panel.n_clusters.value = N_CLUSTERS
    widget.options_panel.random_state.value = 0
    widget.run_panel.run_button.native.click()
    _process_events()
    _wait_until(lambda: not widget.busy, timeout, "segmentation")
    _process_events(0.5)  # let the layer list, canvas and status catch up
    if f"{SAMPLE} clusters" not in viewer.layers:
        raise RuntimeError(
            "Segment made no labels layer (status: "
            f"{widget.run_panel.status.value!r}); see the error above"
        )

    labels = viewer.layers[f"{SAMPLE} clusters"]
    labels.opacity = LABELS_OPACITY
    viewer.layers.selection.active = labels
    viewer.reset_view()
    viewer.cursor.position = HOVER  # as if the mouse were there: label + features
    _process_events(0.5)
    return widget


def _grid_model(viewer):
    """The viewer's grid settings (``viewer.canvas.grid`` since napari 0.9)."""
    canvas = getattr(viewer, "canvas", None)
    return getattr(canvas, "grid", None) or viewer.grid


def _grid_image(source_viewer):
    """Picture of a 1 x (k+1) grid: the photo, then each masked cluster."""
    photo = source_viewer.layers[SAMPLE]
    labels = source_viewer.layers[f"{SAMPLE} clusters"]
    fractions = labels.features["fraction"].to_numpy()
    panels = [("original", photo.data)]
    for i in range(1, N_CLUSTERS + 1):
        masked = source_viewer.layers[f"{SAMPLE} cluster {i}"].data
        panels.append((f"cluster {i} ({fractions[i - 1]:.0%} of pixels)", masked))
    return _panels_image(panels, max(photo.data.shape[:2]))


def _color_spaces_image(photo):
    """Picture of the photo and its mean-colour images clustered in each colour
    space (k = SPACES_K), side by side."""
    from napari_kmeans_seg import segment

    panels = [("original", photo)]
    for space, title in (("rgb", "RGB"), ("hsv", "HSV"), ("lab", "L*a*b*")):
        result = segment(photo, SPACES_K, color_space=space, random_state=0)
        panels.append((f"{title}, k={SPACES_K}", result.mean_color_image()))
    return _panels_image(panels, max(photo.shape[:2]))


def _table_image(widget):
    """Picture of the widget's clusters table (its panel, as drawn)."""
    return _grab(widget.table_panel.native)


def _options_image(widget):
    """Picture of the widget's options panel, its Options group open and three of
    the colour feature boxes ticked (as a user clicks them)."""
    panel = widget.options_panel
    panel.group.expand(animate=False)
    for name in OPTION_BOXES:
        panel.color_features.boxes[name].value = True
    _process_events(0.5)
    image = _grab(panel.native)
    for name in OPTION_BOXES:
        panel.color_features.boxes[name].value = False
    panel.group.collapse(animate=False)
    return image


def _grab(qwidget):
    """A Qt widget as drawn, as an RGB array."""
    import numpy as np
    from qtpy.QtGui import QImage

    grabbed = qwidget.grab().toImage()
    image = grabbed.convertToFormat(QImage.Format.Format_RGBA8888)
    bits = image.constBits()
    if hasattr(bits, "setsize"):  # PyQt: a sized pointer; PySide: a memoryview
        bits.setsize(image.sizeInBytes())
    rows = np.frombuffer(bits, np.uint8).reshape(image.height(), image.bytesPerLine())
    width = image.width()
    return rows[:, : width * 4].reshape(image.height(), width, 4)[..., :3].copy()


def _panels_image(panels, size: int):
    """Picture of images side by side in napari's grid mode, each titled."""
    import napari

    grid = napari.Viewer(title="napari-kmeans-seg clusters", show=True)
    try:
        grid.theme = "light"  # a light canvas frames the black masked-out pixels
        for name, data in panels:
            layer = grid.add_image(data, name=name, rgb=True)
            overlay = getattr(layer, "name_overlay", None)  # napari >= 0.6
            if overlay is not None:
                overlay.visible = True
                overlay.font_size = 11
                overlay.box = True
        _grid_model(grid).shape = (1, len(panels))
        _grid_model(grid).spacing = GRID_SPACING
        _grid_model(grid).enabled = True
        _process_events(0.5)
        image = grid.export_figure(scale_factor=PANEL_SIZE / size, flash=False)
    finally:
        grid.close()
    return _even_margins(image)


def _even_margins(image):
    """Pad the left and right edges with the background to match the top margin
    (``export_figure`` fits the grid's width exactly, its spacing adds height)."""
    import numpy as np

    background = image[0, 0]
    margin = int(np.argmin((image == background).all(axis=(1, 2))))
    if margin == 0 or margin >= image.shape[0] // 4:
        return image
    side = np.broadcast_to(background, (image.shape[0], margin, image.shape[2]))
    return np.concatenate([side, image, side], axis=1)


def _linked_selection_image(viewer, widget):
    """Picture of the window on a laptop screen: the widget docked, the colour
    view in its own window over the canvas, cluster :data:`SELECTED` chosen in
    the table."""
    window = widget.native.window()
    window.resize(*LAPTOP_SIZE)
    _process_events(0.5)
    view = widget.open_colorview()
    _process_events(0.5)
    widget.table_panel.select_ids([SELECTED])  # as a click on its row does
    viewer.reset_view()
    _process_events(1.0)
    if view.selected_cluster != SELECTED:
        raise RuntimeError("the table's selection did not reach the colour view")
    picture = viewer.screenshot(canvas_only=False, flash=False)[..., :3].copy()
    view_window = view.native.window()
    if view_window is not window:  # floating: drawn where it sits on the screen
        offset = view_window.geometry().topLeft() - window.geometry().topLeft()
        _paste(picture, _grab(view_window), offset.y(), offset.x())
    return picture


def _paste(picture, part, top: int, left: int) -> None:
    """Draw ``part`` over ``picture`` with its top-left corner at (top, left),
    clipped to the picture."""
    height, width = picture.shape[:2]
    y0, x0 = max(top, 0), max(left, 0)
    y1 = min(top + part.shape[0], height)
    x1 = min(left + part.shape[1], width)
    if y1 > y0 and x1 > x0:
        picture[y0:y1, x0:x1] = part[y0 - top : y1 - top, x0 - left : x1 - left, :3]


def main(out_dir: Path | str = DEFAULT_OUT, *, timeout: float = 300.0) -> list[Path]:
    """Write the README's pictures to ``out_dir``; return their paths.

    Needs a display (Xvfb will do); raises ``TimeoutError`` if the segmentation
    takes longer than ``timeout`` seconds.
    """
    import napari

    out_dir = Path(out_dir)
    viewer = napari.Viewer(title="napari-kmeans-seg", show=True)
    try:
        widget = _segment_in_viewer(viewer, timeout)
        written = [
            _save(
                viewer.screenshot(canvas_only=False, flash=False), out_dir / VIEWER_PNG
            ),
            _save(_grid_image(viewer), out_dir / GRID_PNG),
            _save(_table_image(widget), out_dir / TABLE_PNG),
            _save(_options_image(widget), out_dir / OPTIONS_PNG),
            _save(
                _color_spaces_image(viewer.layers[SAMPLE].data), out_dir / SPACES_PNG
            ),
            _save(_linked_selection_image(viewer, widget), out_dir / LINKED_PNG),
        ]
    finally:
        viewer.close()
        _process_events()
    return written


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="output directory (default: docs/images of the repository)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="give up if the segmentation takes longer (default: 300 s)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    written = main(args.out, timeout=args.timeout)
    print(f"{len(written)} pictures in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
