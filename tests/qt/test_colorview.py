"""The colour-space view: renders headless, draws one marker per centre, picks and
links the selection to the layers, follows the labels layer, saves a PNG."""

import numpy as np
import pytest
from gui_helpers import PLUGIN
from npe2 import PluginManifest
from qtpy.QtCore import Qt

from napari_kmeans_seg import KMeansModel, SegmentationResult, segment, segment_layer
from napari_kmeans_seg._qt.colorview import (
    BACKGROUND,
    BY_CLUSTER,
    DEFAULT_N_POINTS,
    ColorSpaceView,
)
from napari_kmeans_seg.core.features import Layout

VIEW = "Colour Space View"


def background_rgb():
    return np.array([int(BACKGROUND[i : i + 2], 16) for i in (1, 3, 5)])


def non_background_fraction(picture):
    return np.mean(np.any(np.abs(picture[..., :3] - background_rgb()) > 12, axis=-1))


@pytest.fixture
def view(qtbot):
    widget = ColorSpaceView()
    qtbot.addWidget(widget.native)
    widget.native.resize(400, 600)
    widget.native.show()
    qtbot.waitExposed(widget.native)
    return widget


def open_view(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, VIEW)
    return widget


def click_canvas(view, pos):
    view.canvas.events.mouse_press(pos=pos, button=1)
    view.canvas.events.mouse_release(pos=pos, button=1)


def test_manifest_contributes_the_view():
    manifest = PluginManifest.from_distribution(PLUGIN)
    manifest.validate_imports()
    widgets = {w.display_name: w.command for w in manifest.contributions.widgets}
    assert widgets[VIEW] == "napari-kmeans-seg.make_colorview"


def test_show_result_renders_points_and_centres(view, astronaut):
    result = segment(astronaut, 4)
    view.show_result(astronaut, result)
    picture = view.render()
    assert picture.ndim == 3 and picture.shape[2] == 4
    assert non_background_fraction(picture) > 0.02
    # one marker per centre, where the centroids are in the RGB cube
    positions = view.centre_markers._data["a_position"]
    assert len(positions) == 4
    np.testing.assert_allclose(positions, result.centroids / 255, rtol=1e-6)
    assert len(view.point_markers._data) == DEFAULT_N_POINTS
    np.testing.assert_array_equal(view.cluster_ids, [1, 2, 3, 4])
    assert "20,000 of 262,144 pixels, 4 clusters" in view.status.value
    # the points are pixels of the image, each in its cluster
    pts = view.points
    assert pts.dtype == np.uint8 and pts.shape == (DEFAULT_N_POINTS, 3)

    true_colours = view.point_markers._data["a_bg_color"].copy()
    view.color_by.value = BY_CLUSTER
    by_cluster = view.point_markers._data["a_bg_color"]
    assert len(np.unique(by_cluster, axis=0)) == 4
    assert len(np.unique(true_colours, axis=0)) > 100
    assert non_background_fraction(view.render()) > 0.02

    view.n_points.value = 5000
    assert len(view.point_markers._data) == 5000


def test_result_clustered_in_another_space_is_shown_in_the_image_channels(
    view, astronaut
):
    result = segment(astronaut, 3, color_space="lab")
    view.show_result(astronaut, result)
    positions = view.centre_markers._data["a_position"]
    np.testing.assert_allclose(positions, result.channel_means / 255, rtol=1e-6)
    assert "clustered on L, a, b" in view.status.value


def test_fewer_than_three_features(view):
    rng = np.random.default_rng(0)
    image = rng.choice([100, 2000, 3000], size=(60, 80)).astype(np.uint16)
    view.show_result(image, segment(image, 3))
    positions = view.centre_markers._data["a_position"]
    assert len(positions) == 3
    assert np.all(positions[:, 1:] == 0)  # missing features plotted as 0
    assert "1 feature" in view.status.value
    assert non_background_fraction(view.render()) > 0.005


def test_many_features_plot_the_first_three(view):
    rng = np.random.default_rng(1)
    image = rng.random((5, 40, 50)).astype(np.float32)
    result = segment(image, 3, channel_axis=0)
    view.show_result(image, result)
    assert len(view.centre_markers._data) == 3
    assert view.points.shape[1] == 5
    assert "features 1 to 3 of 5" in view.status.value


def test_a_4k_image_draws_a_sample(view):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (2160, 3840, 3), dtype=np.uint8)
    labels = (image[..., 0] // 64 + 1).astype(np.uint8)
    centroids = np.array([[32.0 + 64 * i, 127.5, 127.5] for i in range(4)])
    result = SegmentationResult(
        labels=labels,
        centroids=centroids,
        counts=np.bincount(labels.ravel())[1:],
        inertia=0.0,
        model=KMeansModel(centroids, Layout(2, 3, rgb=True)),
    )
    view.show_result(image[:64, :64], segment(image[:64, :64], 2))  # warm up GL
    view.render()
    view.show_result(image, result)
    view.render()
    assert len(view.point_markers._data) == DEFAULT_N_POINTS
    # the result's centres, drawn as they are: nothing recomputed
    np.testing.assert_allclose(view.centres, centroids)
    assert not view.busy


def test_save_png(view, astronaut, tmp_path, qtbot, monkeypatch):
    from vispy.io import read_png

    view.show_result(astronaut, segment(astronaut, 3))
    written = view.save_png(tmp_path / "view")
    assert written == tmp_path / "view.png"
    data = written.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    picture = read_png(str(written))
    assert picture.shape[:2] == view.render().shape[:2]
    assert non_background_fraction(picture) > 0.02

    # the button asks for the file, then saves
    from qtpy.QtWidgets import QFileDialog

    target = tmp_path / "from button.png"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), ""))
    )
    qtbot.mouseClick(view.save_button.native, Qt.MouseButton.LeftButton)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert view.status.value == "saved from button.png"


def test_click_on_a_centre_selects_it_without_a_viewer(view, astronaut):
    view.show_result(astronaut, segment(astronaut, 3))
    view.render()
    got = []
    view.cluster_selected.connect(got.append)
    screen = view.centre_screen_positions()
    assert view.pick(screen[1]) == 2
    click_canvas(view, tuple(screen[1]))
    assert got == [2] and view.selected_cluster == 2
    click_canvas(view, tuple(screen[1]))  # the selected centre again: all
    assert got == [2, 0] and view.selected_cluster == 0
    with pytest.raises(ValueError, match="no cluster 7"):
        view.select_cluster(7)


def test_linked_selection_in_napari(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)  # shown: the view can render
    viewer.open_sample(PLUGIN, "astronaut")
    segment_layer(viewer, "astronaut", 3)
    view = open_view(viewer)
    assert view.image.value == "astronaut"
    qtbot.waitUntil(lambda: not view.busy, timeout=10_000)
    np.testing.assert_array_equal(view.cluster_ids, [1, 2, 3])
    labels = viewer.layers["astronaut clusters"]
    # exact centres: the per-label means of all pixels
    pixels = viewer.layers["astronaut"].data.reshape(-1, 3)
    means = [pixels[labels.data.ravel() == i].mean(axis=0) for i in (1, 2, 3)]
    np.testing.assert_allclose(view.centres, means, rtol=1e-9)
    assert len(view.centre_markers._data) == 3

    view.render()
    screen = view.centre_screen_positions()
    with qtbot.waitSignal(view.cluster_selected) as blocker:
        click_canvas(view, tuple(screen[1]))
    assert blocker.args == [2]
    assert labels.show_selected_label and labels.selected_label == 2
    assert viewer.layers.selection.active is labels

    view.select_cluster(3)
    assert labels.selected_label == 3 and labels.show_selected_label
    # ...and the other way: the layer's selected label selects the centre
    labels.selected_label = 1
    assert view.selected_cluster == 1

    with qtbot.waitSignal(view.cluster_selected) as blocker:
        view.select_cluster(0)
    assert blocker.args == [0]
    assert not labels.show_selected_label
    assert viewer.layers.selection.active is labels


def test_follows_the_labels_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    view = open_view(viewer)
    assert view.image.value is None and not len(view.centre_markers._data or [])
    segment_layer(viewer, "astronaut", 3)  # the view picks up the new segmentation
    qtbot.waitUntil(lambda: len(view.cluster_ids) == 3, timeout=10_000)
    segment_layer(viewer, "astronaut", 5)  # the labels layer's data changes
    qtbot.waitUntil(lambda: len(view.cluster_ids) == 5, timeout=10_000)
    qtbot.waitUntil(lambda: not view.busy, timeout=10_000)
    assert len(view.centre_markers._data) == 5
    labels = viewer.layers["astronaut clusters"]
    labels.data = np.where(labels.data == 5, 4, labels.data).astype(np.uint8)
    qtbot.waitUntil(lambda: len(view.cluster_ids) == 4, timeout=10_000)
    qtbot.waitUntil(lambda: not view.busy, timeout=10_000)
    viewer.layers.remove(labels)
    assert view.image.value is None and len(view.cluster_ids) == 0


def test_render_refuses_a_never_shown_view(qtbot, astronaut):
    widget = ColorSpaceView()
    qtbot.addWidget(widget.native)
    widget.show_result(astronaut, segment(astronaut, 2))
    with pytest.raises(RuntimeError, match="not been shown"):
        widget.render()


def test_lazy_and_multiscale_layers_load_a_bounded_region(
    make_napari_viewer, qtbot, astronaut, monkeypatch, counting_array
):
    import dask.array as da

    import napari_kmeans_seg.layers.colorspace as colorspace

    monkeypatch.setattr(colorspace, "LAZY_VIEW_PIXELS", 50_000)
    stack = np.stack([astronaut] * 40)  # (40, 512, 512, 3)
    viewer = make_napari_viewer()
    source = counting_array(stack)
    lazy = da.from_array(source, chunks=(1, 512, 512, 3))
    viewer.add_image(lazy, name="lazy", rgb=True)
    viewer.add_image(
        [astronaut, astronaut[::2, ::2]], name="ms", multiscale=True, rgb=True
    )
    view = open_view(viewer)
    segment_layer(viewer, "lazy", 3, fit_pixels=100_000)
    segment_layer(viewer, "ms", 3)
    source.reads.clear()
    view.update_from_layer("lazy")
    # a region: at most 16 of the 40 planes (napari's dask cache may hold some)
    assert sum(source.reads) <= 16 * astronaut.size
    assert len(view.cluster_ids) == 3
    assert "regular grid of" in view.status.value  # ...and the view says so
    assert view.labels_shown.size <= 50_000  # the labels it holds: the region's
    view.update_from_layer("ms")
    assert len(view.cluster_ids) == 3
    qtbot.waitUntil(lambda: not view.busy, timeout=10_000)
