"""What the widget clusters, in a real viewer: a mask from a Labels or Shapes
layer, the current slice of a stack, several layers as channels."""

import numpy as np
import pytest
from napari.utils.notifications import notification_manager
from qtpy.QtCore import Qt

from napari_kmeans_seg import segment

PLUGIN = "napari-kmeans-seg"
WIDGET = "K-Means Segmentation"


def open_widget(viewer):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    return widget


def click_and_wait(qtbot, widget, timeout=60_000):
    qtbot.mouseClick(widget.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def new_messages(since):
    return [str(r.message) for r in notification_manager.records[since:]]


def names(viewer):
    return [layer.name for layer in viewer.layers]


@pytest.fixture
def small_astronaut(astronaut):
    return np.ascontiguousarray(astronaut[::4, ::4])  # 128 x 128 x 3


# -------------------------------------------------------------------- mask


def test_mask_choices_are_none_labels_and_shapes(make_napari_viewer, small_astronaut):
    viewer = make_napari_viewer()
    viewer.add_image(small_astronaut, name="photo")
    widget = open_widget(viewer)
    assert widget.mask.value is None
    assert [c for c in widget.mask.choices] == [None]
    labels = viewer.add_labels(np.zeros((128, 128), np.uint8), name="roi")
    shapes = viewer.add_shapes(name="outline")
    viewer.add_points(name="dots")
    assert list(widget.mask.choices) == [None, labels, shapes]
    assert widget.mask.native.itemText(0) == "none"


def test_labels_mask_clusters_only_its_pixels(
    make_napari_viewer, qtbot, small_astronaut
):
    viewer = make_napari_viewer()
    image = viewer.add_image(small_astronaut, name="photo")
    roi = np.zeros((128, 128), np.uint8)
    roi[20:90, 30:110] = 1
    roi[100:120, 5:40] = 7  # any non-zero value counts
    viewer.add_labels(roi, name="roi")
    widget = open_widget(viewer)
    widget.image.value = image
    widget.mask.value = viewer.layers["roi"]
    widget.n_clusters.value = 3
    click_and_wait(qtbot, widget)

    labels = viewer.layers["photo clusters"].data
    assert labels.shape == (128, 128)
    assert not labels[roi == 0].any()
    assert (labels[roi != 0] > 0).all()
    expected = segment(small_astronaut, 3, mask=roi != 0)
    np.testing.assert_array_equal(labels, expected.labels)
    # the masked layers hold only the masked-in pixels
    outside = viewer.layers["photo cluster 1"].data[roi == 0]
    assert not outside.any()


def test_shapes_rectangle_mask(make_napari_viewer, qtbot, small_astronaut):
    viewer = make_napari_viewer()
    image = viewer.add_image(small_astronaut, name="photo")
    rectangle = np.array([[10, 20], [10, 60], [40, 60], [40, 20]])
    viewer.add_shapes([rectangle], shape_type="rectangle", name="box")
    widget = open_widget(viewer)
    widget.image.value = image
    widget.mask.value = viewer.layers["box"]
    widget.n_clusters.value = 2
    click_and_wait(qtbot, widget)

    labels = viewer.layers["photo clusters"].data
    inside = labels > 0
    rows, cols = np.nonzero(inside)
    # the rectangle's pixels, corners included, and nothing else
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 40, 20, 60)
    assert inside[10:41, 20:61].all() and inside.sum() == 31 * 41
    box = np.zeros((128, 128), bool)
    box[10:41, 20:61] = True
    np.testing.assert_array_equal(labels, segment(small_astronaut, 2, mask=box).labels)


@pytest.mark.parametrize(
    ("make_mask", "message"),
    [
        (
            lambda v: v.add_labels(np.ones((64, 64), np.uint8), name="m"),
            "has shape (64, 64) but image 'photo' has (128, 128)",
        ),
        (
            lambda v: v.add_labels(np.ones((2, 128, 128), np.uint8), name="m"),
            "has 3 dimensions but image 'photo' has 2",
        ),
        (
            lambda v: v.add_labels(np.zeros((128, 128), np.uint8), name="m"),
            "has no non-zero pixel",
        ),
        (
            lambda v: v.add_shapes(
                [np.array([[1, 1], [1, 9], [9, 9], [9, 1]])],
                shape_type="rectangle",
                scale=(2, 2),
                name="m",
            ),
            "has scale (2.0, 2.0) but image 'photo' has (1.0, 1.0)",
        ),
        (lambda v: v.add_shapes(name="m"), "has no shape inside the image"),
    ],
    ids=["wrong-shape", "wrong-ndim", "empty-labels", "other-scale", "no-shapes"],
)
def test_bad_mask_is_a_notification_and_adds_nothing(
    make_napari_viewer, qtbot, small_astronaut, make_mask, message
):
    viewer = make_napari_viewer()
    image = viewer.add_image(small_astronaut, name="photo")
    make_mask(viewer)
    widget = open_widget(viewer)
    widget.image.value = image
    widget.mask.value = viewer.layers["m"]
    before = names(viewer)
    n = len(notification_manager.records)
    click_and_wait(qtbot, widget)
    assert any(message in m for m in new_messages(n)), new_messages(n)
    assert names(viewer) == before
    assert widget.run_button.enabled and not widget.busy
