"""The clusters table and Merge in a real viewer: rows selected with the mouse,
Merge clicked, the labels, masked layers and table updated, the merged model
saved."""

import numpy as np
import pytest
from gui_helpers import PLUGIN, click, click_and_wait, new_messages, open_widget
from napari.utils.notifications import notification_manager
from qtpy.QtCore import Qt

from napari_kmeans_seg import KMeansModel, segment


def click_row(qtbot, panel, row, modifier=Qt.KeyboardModifier.NoModifier):
    """Click a cell of ``row`` as a user does (Ctrl adds it to the selection)."""
    table = panel.table
    rect = table.visualRect(table.model().index(row, 0))
    qtbot.mouseClick(
        table.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center()
    )


@pytest.fixture
def astronaut_k4(make_napari_viewer, qtbot, astronaut):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 4
    click_and_wait(qtbot, widget)
    return viewer, widget


def test_table_shows_the_result(astronaut_k4, astronaut):
    _, widget = astronaut_k4
    panel = widget.table_panel
    expected = segment(astronaut, 4).table()
    assert panel.columns == list(expected.columns)
    assert panel.columns[:3] == ["label", "pixels", "fraction"]
    assert panel.table.rowCount() == 4
    assert panel.cluster_ids == [1, 2, 3, 4]
    for row in range(4):
        assert int(panel.cell(row, "pixels")) == expected["pixels"][row]
        assert panel.cell(row, "color") == expected["color"][row]
        assert float(panel.cell(row, "R")) == pytest.approx(
            expected["R"][row], rel=1e-3
        )
        item = panel.table.item(row, panel.columns.index("color"))
        assert item.background().color().name() == expected["color"][row]
    assert "astronaut: 4 clusters" in panel.caption.value
    # read-only: no cell can be edited
    assert all(
        not panel.table.item(r, c).flags() & Qt.ItemFlag.ItemIsEditable
        for r in range(4)
        for c in range(panel.table.columnCount())
    )
    # Merge needs two selected rows
    assert not panel.merge_button.enabled


def test_merge_two_rows_updates_layers_and_table(astronaut_k4, qtbot, tmp_path):
    viewer, widget = astronaut_k4
    panel = widget.table_panel
    image = viewer.layers["astronaut"]
    image_bytes = image.data.tobytes()
    labels_layer = viewer.layers["astronaut clusters"]
    before = labels_layer.data.copy()
    counts = np.bincount(before.ravel(), minlength=5)

    click_row(qtbot, panel, 1)
    assert panel.selected_ids() == [2]
    assert not panel.merge_button.enabled
    click_row(qtbot, panel, 2, Qt.KeyboardModifier.ControlModifier)
    assert panel.selected_ids() == [2, 3]
    assert panel.merge_button.enabled
    click_and_wait(qtbot, widget, panel.merge_button)

    after = viewer.layers["astronaut clusters"]
    assert after is labels_layer  # updated in place, by name
    assert set(np.unique(after.data)) == {1, 2, 3}
    lut = np.array([0, 1, 2, 2, 3])
    np.testing.assert_array_equal(after.data, lut[before])
    # the table: 3 rows, the merged row has the summed count
    assert panel.cluster_ids == [1, 2, 3]
    assert [int(panel.cell(r, "pixels")) for r in range(3)] == [
        counts[1],
        counts[2] + counts[3],
        counts[4],
    ]
    assert float(panel.cell(1, "fraction")) == pytest.approx(
        (counts[2] + counts[3]) / counts.sum(), rel=1e-3
    )
    # the masked layers follow, the 4th is gone; features follow too
    names = [layer.name for layer in viewer.layers]
    assert "astronaut cluster 4" not in names
    assert names == ["astronaut", "astronaut clusters"] + [
        f"astronaut cluster {i}" for i in (1, 2, 3)
    ]
    masked = viewer.layers["astronaut cluster 2"].data
    inside = after.data == 2
    np.testing.assert_array_equal(masked[inside], image.data[inside])
    assert not masked[~inside].any()
    assert list(after.features["pixels"]) == [
        int(panel.cell(r, "pixels")) for r in range(3)
    ]
    # the image itself is untouched
    assert image.data.tobytes() == image_bytes
    assert "merged: 3 clusters" in widget.run_panel.status.value
    assert not panel.merge_button.enabled  # the selection was cleared

    # Save model… saves the merged model, which reproduces the merged labels
    path = widget.save_model(tmp_path / "merged.json")
    model = KMeansModel.load(path)
    assert model.n_clusters == 3 and model.label_map is not None
    np.testing.assert_array_equal(model.predict(image.data), after.data)


def test_merge_leaving_one_cluster_is_a_notification(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(1)
    viewer.add_image((rng.random((30, 40)) * 3).astype(np.uint8) * 80, name="img")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 2
    click_and_wait(qtbot, widget)
    panel = widget.table_panel
    before = viewer.layers["img clusters"].data.copy()
    names = [layer.name for layer in viewer.layers]
    panel.select_ids([1, 2])
    assert panel.merge_button.enabled
    n = len(notification_manager.records)
    click_and_wait(qtbot, widget, panel.merge_button)
    assert any("would leave a single cluster" in m for m in new_messages(n))
    np.testing.assert_array_equal(viewer.layers["img clusters"].data, before)
    assert [layer.name for layer in viewer.layers] == names
    assert panel.cluster_ids == [1, 2]
    assert widget.run_panel.run_button.enabled


def test_merge_disabled_without_result_or_while_busy(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.arange(600, dtype=np.uint16).reshape(20, 30), name="ramp")
    widget = open_widget(viewer)
    panel = widget.table_panel
    assert panel.table.rowCount() == 0 and not panel.merge_button.enabled
    n = len(notification_manager.records)
    widget.merge([1, 2])  # programmatic call without a result: a message only
    assert any("click Segment first" in m for m in new_messages(n))
    assert [layer.name for layer in viewer.layers] == ["ramp"]

    widget.options_panel.n_clusters.value = 5
    widget.options_panel.masked_layers.value = False
    click_and_wait(qtbot, widget)
    assert panel.cluster_ids == [1, 2, 3, 4, 5]
    # while a new run is busy, Merge stays disabled whatever the selection
    click(qtbot, widget.run_panel.run_button)
    assert widget.busy
    panel.select_ids([1, 2])
    assert panel.selected_ids() == [1, 2] and not panel.merge_button.enabled
    n = len(notification_manager.records)
    widget.merge([1, 2])
    assert any("Wait for the running segmentation" in m for m in new_messages(n))
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    panel.select_ids([1, 2, 3])
    assert panel.merge_button.enabled
    click_and_wait(qtbot, widget, panel.merge_button)
    assert panel.cluster_ids == [1, 2, 3]
    assert set(np.unique(viewer.layers["ramp clusters"].data)) == {1, 2, 3}


def test_merge_after_source_removed_is_a_notification(astronaut_k4, qtbot):
    viewer, widget = astronaut_k4
    viewer.layers.remove("astronaut")
    widget.table_panel.select_ids([1, 2])
    n = len(notification_manager.records)
    click_and_wait(qtbot, widget, widget.table_panel.merge_button)
    # the fix first, then why
    expected = "Click Segment again: cannot merge, layer 'astronaut' was removed"
    assert any(m.startswith(expected) for m in new_messages(n))
    assert widget.run_panel.status.value.startswith(expected)
    assert len(np.unique(viewer.layers["astronaut clusters"].data)) == 4


def test_merge_on_a_lazy_layer_keeps_it_lazy(make_napari_viewer, qtbot, astronaut):
    import dask.array as da

    from napari_kmeans_seg.core.lazy import is_lazy

    viewer = make_napari_viewer()
    small = np.ascontiguousarray(astronaut[::4, ::4])
    viewer.add_image(da.from_array(small, chunks=(64, 64, 3)), name="lazy")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 4
    click_and_wait(qtbot, widget)
    widget.table_panel.select_ids([1, 4])
    click_and_wait(qtbot, widget, widget.table_panel.merge_button)
    expected = segment(small, 4).merge([1, 4])
    labels = viewer.layers["lazy clusters"].data
    np.testing.assert_array_equal(np.asarray(labels), expected.labels)
    assert widget.table_panel.cluster_ids == [1, 2, 3]
    masked = viewer.layers["lazy cluster 1"].data
    assert is_lazy(masked)
    inside = expected.labels == 1
    np.testing.assert_array_equal(np.asarray(masked)[inside], small[inside])
    assert "lazy cluster 4" not in viewer.layers


def test_merge_on_a_multiscale_layer_relabels_every_level(
    make_napari_viewer, qtbot, astronaut
):
    viewer = make_napari_viewer()
    levels = [astronaut, astronaut[::2, ::2], astronaut[::4, ::4]]
    viewer.add_image(levels, multiscale=True, name="pyramid", rgb=True)
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 4
    click_and_wait(qtbot, widget)
    before = [np.asarray(d) for d in viewer.layers["pyramid clusters"].data]
    widget.table_panel.select_ids([2, 3])
    click_and_wait(qtbot, widget, widget.table_panel.merge_button)
    labels = viewer.layers["pyramid clusters"]
    assert labels.multiscale and widget.table_panel.cluster_ids == [1, 2, 3]
    lut = np.array([0, 1, 2, 2, 3], np.uint8)  # 2 and 3 merged into 2
    for old, new in zip(before, labels.data, strict=True):
        np.testing.assert_array_equal(np.asarray(new), lut[old])
    assert viewer.layers["pyramid cluster 2"].multiscale
    assert "pyramid cluster 4" not in viewer.layers
