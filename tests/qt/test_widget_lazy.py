"""Lazy (dask) and multiscale layers through the widget, in a real viewer."""

import threading

import dask.array as da
import numpy as np
from gui_helpers import click, open_widget

from napari_kmeans_seg import segment
from napari_kmeans_seg.core.lazy import is_lazy


def stack(shape=(40, 96, 96)):
    z, y, x = np.meshgrid(*(np.linspace(0, 1, n) for n in shape), indexing="ij")
    rng = np.random.default_rng(0)
    field = np.sin(6 * x + 3 * z) * np.cos(5 * y) + rng.normal(0, 0.1, shape)
    return ((field + 2) * 10000).astype(np.uint16)


def test_lazy_stack_layer_gets_lazy_outputs_reading_a_bounded_part(
    make_napari_viewer, qtbot, counting_array
):
    data = stack()
    source = counting_array(data)
    viewer = make_napari_viewer()
    layer = viewer.add_image(
        da.from_array(source, chunks=(1, 96, 96)), name="lazy", scale=(3, 1, 1)
    )
    widget = open_widget(viewer)
    assert widget.inputs_panel.image.value is layer
    widget.options_panel.n_clusters.value = 3
    before = len(source.reads)  # napari read the plane on screen
    click(qtbot, widget.run_panel.run_button)
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    labels = viewer.layers["lazy clusters"]
    assert is_lazy(labels.data) and labels.data.shape == data.shape
    assert is_lazy(viewer.layers["lazy cluster 1"].data)
    np.testing.assert_array_equal(labels.scale, (3, 1, 1))
    # the stack is below fit_pixels: the fit read each plane once, and adding
    # the (lazy) layers read nothing more
    assert len(source.reads) - before == data.shape[0]
    expected = segment(data, 3).labels
    assert np.array_equal(np.asarray(labels.data), expected)
    assert "3 clusters" in widget.run_panel.status.value


def test_lazy_layer_fitted_on_a_region(
    make_napari_viewer, qtbot, monkeypatch, counting_array
):
    import napari_kmeans_seg.core.lazy as lazy

    monkeypatch.setattr(lazy, "DEFAULT_FIT_PIXELS", 20_000)
    data = stack((32, 96, 96))
    source = counting_array(data)
    viewer = make_napari_viewer()
    viewer.add_image(da.from_array(source, chunks=(1, 96, 96)), name="big")
    widget = open_widget(viewer)
    before = len(source.reads)
    click(qtbot, widget.run_panel.run_button)
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    labels = viewer.layers["big clusters"].data
    assert is_lazy(labels)
    # the fit read the region's planes (at most 16 of 32), napari the plane shown
    assert len(source.reads) - before <= lazy.MIN_FIT_PLANES + 2
    plane = np.asarray(labels[7])
    assert np.array_equal(plane, widget.last_model.predict(data[7:8])[0])


def test_multiscale_layer_segments_every_level(make_napari_viewer, qtbot, astronaut):
    levels = [astronaut, astronaut[::2, ::2], astronaut[::4, ::4]]
    viewer = make_napari_viewer()
    viewer.add_image(levels, multiscale=True, name="ms", rgb=True)
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 3
    click(qtbot, widget.run_panel.run_button)
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    labels = viewer.layers["ms clusters"]
    assert labels.multiscale
    assert [d.shape for d in labels.data] == [(512, 512), (256, 256), (128, 128)]
    assert viewer.layers["ms cluster 2"].multiscale
    model = widget.last_model
    assert np.array_equal(np.asarray(labels.data[1]), model.predict(levels[1]))
    viewer.screenshot(canvas_only=True)  # napari draws the lazy levels


def test_cancel_a_lazy_run_leaves_no_layers(make_napari_viewer, qtbot, counting_array):
    class Slow(counting_array):
        def __getitem__(self, index):
            threading.Event().wait(0.05)
            return super().__getitem__(index)

    data = stack((48, 64, 64))
    viewer = make_napari_viewer()
    viewer.add_image(da.from_array(Slow(data), chunks=(1, 64, 64)), name="slow")
    widget = open_widget(viewer)
    click(qtbot, widget.run_panel.run_button)
    qtbot.waitUntil(lambda: widget.busy, timeout=5_000)
    click(qtbot, widget.run_panel.cancel_button)
    assert not widget.busy
    qtbot.waitUntil(lambda: widget.n_background == 0, timeout=60_000)
    assert [layer.name for layer in viewer.layers] == ["slow"]


def test_progress_of_a_lazy_run_reaches_the_main_thread(
    make_napari_viewer, qtbot, monkeypatch
):
    from napari_kmeans_seg._qt.runner import SegmentRunner

    calls = []
    original = SegmentRunner._on_progress

    def spy(self, run, done, total):
        in_main = threading.current_thread() is threading.main_thread()
        original(self, run, done, total)
        bar = self._panel.progress  # the dock's own bar, determinate
        shown = bar.maximum() == total and bar.value() == min(done, total)
        calls.append((in_main, total <= 0 or shown))

    monkeypatch.setattr(SegmentRunner, "_on_progress", spy)
    viewer = make_napari_viewer()
    viewer.add_image(da.from_array(stack((8, 64, 64)), chunks=(1, 64, 64)), name="s")
    widget = open_widget(viewer)
    click(qtbot, widget.run_panel.run_button)
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert calls and all(in_main and shown for in_main, shown in calls)
    assert not widget.run_panel.progress.isVisible()  # hidden when idle
    assert "clusters in" in widget.run_panel.status.value
