"""Fiji-style feature checkboxes in a real viewer: ticked by their text, they
reach segment() as ``color_features``, name the table's columns, are kept in
the saved model, and are off (saying why) where they cannot apply."""

import numpy as np
import pytest
from gui_helpers import click_and_wait, open_widget
from qtpy.QtCore import QPoint, Qt
from qtpy.QtWidgets import QCheckBox
from skimage import data

from napari_kmeans_seg import segment
from napari_kmeans_seg._qt.options_panel import (
    FEATURES_CHOSEN_REASON,
    FEATURES_NOT_RGB_REASON,
    MODEL_REASON,
)


@pytest.fixture
def small_astronaut():
    return data.astronaut()[::4, ::4]


@pytest.fixture
def viewer_widget(make_napari_viewer, small_astronaut):
    viewer = make_napari_viewer(show=True)
    viewer.add_image(small_astronaut, name="astronaut")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 4
    widget.options_panel.masked_layers.value = False
    widget.options_panel.group.expand(animate=False)  # the user opens Options
    return viewer, widget


def checkbox(widget, text: str) -> QCheckBox:
    """The dock's checkbox labelled ``text``, as a user finds it."""
    found = [b for b in widget.native.findChildren(QCheckBox) if b.text() == text]
    assert len(found) == 1, f"one checkbox {text!r} expected, found {len(found)}"
    return found[0]


def tick(qtbot, widget, *texts: str) -> None:
    """Click the checkboxes labelled ``texts`` as a user does (on the box)."""
    for text in texts:
        box = checkbox(widget, text)
        assert box.isVisible() and box.isEnabled()
        before = box.isChecked()
        at = QPoint(6, box.height() // 2)
        qtbot.mouseClick(box, Qt.MouseButton.LeftButton, Qt.KeyboardModifier(0), at)
        assert box.isChecked() != before


@pytest.mark.timeout(120)
def test_ticked_features_reach_segment_and_name_the_columns(
    viewer_widget, qtbot, small_astronaut
):
    viewer, widget = viewer_widget
    tick(qtbot, widget, "hue", "saturation", "L*")
    assert not widget.options_panel.color_space.enabled  # the boxes choose the features
    assert widget.options_panel.color_space.tooltip == FEATURES_CHOSEN_REASON
    click_and_wait(qtbot, widget)
    chosen = ("hue", "saturation", "L*")
    expected = segment(small_astronaut, 4, rgb=True, color_features=chosen)
    labels = viewer.layers["astronaut clusters"].data
    np.testing.assert_array_equal(labels, expected.labels)
    assert not np.array_equal(labels, segment(small_astronaut, 4).labels)
    columns = widget.table_panel.columns
    assert columns[3:7] == ["hue cos", "hue sin", "saturation", "L*"]
    first = float(widget.table_panel.cell(0, "L*"))
    assert first == pytest.approx(expected.centroids[0, 3], rel=1e-3)
    assert widget.last_result.model.options.color_features == chosen

    # unticking them all brings the colour space back, and today's default
    tick(qtbot, widget, "hue", "saturation", "L*")
    assert widget.options_panel.color_space.enabled
    click_and_wait(qtbot, widget)
    np.testing.assert_array_equal(
        viewer.layers["astronaut clusters"].data,
        segment(small_astronaut, 4, rgb=True).labels,
    )
    assert widget.table_panel.columns[3:6] == ["R", "G", "B"]


@pytest.mark.timeout(120)
def test_red_green_blue_alone_are_the_default(viewer_widget, qtbot, small_astronaut):
    viewer, widget = viewer_widget
    tick(qtbot, widget, "red", "green", "blue")
    click_and_wait(qtbot, widget)
    np.testing.assert_array_equal(
        viewer.layers["astronaut clusters"].data,
        segment(small_astronaut, 4, rgb=True).labels,
    )
    assert widget.last_result.model.options.is_default
    tick(qtbot, widget, "a*", "b*")  # a mix: red, green, blue, a*, b*
    click_and_wait(qtbot, widget)
    chosen = ("red", "green", "blue", "a*", "b*")
    np.testing.assert_array_equal(
        viewer.layers["astronaut clusters"].data,
        segment(small_astronaut, 4, rgb=True, color_features=chosen).labels,
    )
    assert widget.table_panel.columns[3:8] == list(chosen)


def test_features_only_for_rgb_images(make_napari_viewer, small_astronaut):
    viewer = make_napari_viewer()
    viewer.add_image(small_astronaut[..., 0], name="grey")
    widget = open_widget(viewer)
    widget.options_panel.group.expand(animate=False)
    box = checkbox(widget, "hue")
    assert not box.isEnabled()
    assert box.toolTip() == FEATURES_NOT_RGB_REASON
    box.setChecked(True)  # even if set programmatically, a grey image ignores it
    assert widget.feature_options()["color_features"] is None
    viewer.add_image(small_astronaut, name="colour")
    widget.inputs_panel.image.value = viewer.layers["colour"]
    assert checkbox(widget, "hue").isEnabled()
    assert widget.feature_options()["color_features"] == ("hue",)


@pytest.mark.timeout(120)
def test_saved_model_keeps_the_features_and_disables_the_boxes(
    viewer_widget, qtbot, tmp_path, small_astronaut
):
    viewer, widget = viewer_widget
    tick(qtbot, widget, "hue", "brightness")
    click_and_wait(qtbot, widget)
    path = widget.save_model(tmp_path / "m.json")
    tick(qtbot, widget, "hue", "brightness")  # unticked: the model decides
    widget.load_model(path)
    box = checkbox(widget, "saturation")
    assert not box.isEnabled() and box.toolTip() == MODEL_REASON
    coffee = data.coffee()[::4, ::4]
    viewer.add_image(coffee, name="coffee")
    widget.inputs_panel.image.value = viewer.layers["coffee"]
    click_and_wait(qtbot, widget)
    fitted = segment(small_astronaut, 4, rgb=True, color_features=("hue", "V"))
    np.testing.assert_array_equal(
        viewer.layers["coffee clusters"].data, fitted.model.predict(coffee)
    )
    assert widget.table_panel.columns[3:6] == ["hue cos", "hue sin", "brightness"]
    widget.fit_new()
    assert checkbox(widget, "saturation").isEnabled()
