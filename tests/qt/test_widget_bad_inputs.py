"""Bad and odd inputs through the dock widget in a real viewer (the cases of
``tests/layers/test_bad_inputs.py`` a user can get there): each works or fails with a
clear message, in a notification and the status line, never an uncaught exception;
the layer's data is byte-identical afterwards."""

import re

import numpy as np
import pytest
from gui_helpers import click_and_wait, new_messages, open_widget
from napari.utils.notifications import notification_manager

from layers.test_bad_inputs import MASKED_IN_WIDGET, WIDGET_CASES, Case, snapshot
from napari_kmeans_seg import segment


def test_widget_offers_only_valid_k(make_napari_viewer):
    from napari_kmeans_seg._qt.widget import WIDGET_MAX_CLUSTERS

    widget = open_widget(make_napari_viewer())
    assert (
        widget.options_panel.n_clusters.min,
        widget.options_panel.n_clusters.max,
    ) == (2, WIDGET_MAX_CLUSTERS)
    for bad in (1, WIDGET_MAX_CLUSTERS + 1):
        with pytest.raises(ValueError, match="outside of the allowed range"):
            widget.options_panel.n_clusters.value = bad
    widget.options_panel.n_clusters.native.setValue(1)  # what typing does: clamped
    assert widget.options_panel.n_clusters.value == 2


def _widget_case(viewer, widget, qtbot, case: Case) -> None:
    """One case through the widget, in a viewer whose layers are cleared first."""
    viewer.layers.clear()
    img = case.make()
    layer = viewer.add_image(img, name="img")
    before = snapshot(layer.data)
    assert widget.inputs_panel.image.value is layer
    widget.options_panel.n_clusters.value = case.k
    # the masked layers of every case are checked through segment_layer; here
    # napari's cost of adding k more layers (~0.2 s each) buys little
    widget.options_panel.masked_layers.value = masked = case.id in MASKED_IN_WIDGET
    n = len(notification_manager.records)
    click_and_wait(qtbot, widget)
    messages = new_messages(n)
    if case.error:
        from napari_kmeans_seg._qt.runner import explain

        # the widget words the API's error with the fix first (explain), and
        # shows it whole in its status line too
        with pytest.raises((ValueError, TypeError, MemoryError)) as caught:
            segment(img, case.k, rgb=layer.rgb)
        assert re.search(case.error, str(caught.value))
        expected = explain(caught.value)
        assert expected in messages, messages
        assert [x.name for x in viewer.layers] == ["img"]
        assert widget.run_panel.status.value == expected
    else:
        assert not messages, messages
        labels = viewer.layers["img clusters"].data
        expected = segment(img, case.k, rgb=layer.rgb)
        np.testing.assert_array_equal(labels, expected.labels)
        assert len(viewer.layers) == 2 + case.k * masked
        for i in range(1, case.k + 1 if masked else 1):
            data = viewer.layers[f"img cluster {i}"].data
            np.testing.assert_array_equal(data, expected.masked_image(img, i))
        assert f"{case.k} clusters in" in widget.run_panel.status.value
    assert (
        widget.run_panel.run_button.enabled
        and not widget.run_panel.cancel_button.enabled
    )
    assert snapshot(layer.data) == before, "the layer's data was modified"


def test_widget(make_napari_viewer, qtbot):
    """Every widget case, clicked in one real viewer (napari needs ~0.5 s to make a
    viewer: one for all keeps this quick). Each case is checked on its own; the
    failures are listed together. An uncaught exception in the Qt event loop fails
    the test (pytest-qt)."""
    viewer = make_napari_viewer()
    widget = open_widget(viewer)
    failures = []
    for case in WIDGET_CASES:
        try:
            _widget_case(viewer, widget, qtbot, case)
        except AssertionError as err:
            failures.append(f"{case.id}: {err}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([], "Add or open an image layer"),
        (["points"], "Add or open an image layer"),
        (["labels"], "Add or open an image layer"),
    ],
    ids=["no_layer", "points_only", "labels_only"],
)
def test_widget_without_an_image_layer(make_napari_viewer, qtbot, layers, message):
    viewer = make_napari_viewer()
    if "points" in layers:
        viewer.add_points(np.zeros((2, 2)), name="points")
    if "labels" in layers:
        viewer.add_labels(np.zeros((5, 5), np.uint8), name="labels")
    widget = open_widget(viewer)
    assert widget.inputs_panel.image.value is None
    # Segment cannot work: it is disabled and its tooltip says why
    assert not widget.run_panel.run_button.enabled
    assert message in widget.run_panel.run_button.tooltip
    assert [x.name for x in viewer.layers] == layers
    assert not widget.busy


def test_widget_lists_only_image_layers(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_points(np.zeros((2, 2)), name="points")
    viewer.add_labels(np.zeros((5, 5), np.uint8), name="labels")
    image = viewer.add_image(np.zeros((5, 5)), name="image")
    widget = open_widget(viewer)
    assert list(widget.inputs_panel.image.choices) == [image]
