"""What the widget clusters, in a real viewer: a mask from a Labels or Shapes
layer, the current slice of a stack, several layers as channels."""

import numpy as np
import pytest
from gui_helpers import click_and_wait, new_messages, open_widget
from napari.utils.notifications import notification_manager
from qtpy.QtCore import Qt

from napari_kmeans_seg import segment


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
    assert widget.inputs_panel.mask.value is None
    assert [c for c in widget.inputs_panel.mask.choices] == [None]
    labels = viewer.add_labels(np.zeros((128, 128), np.uint8), name="roi")
    shapes = viewer.add_shapes(name="outline")
    viewer.add_points(name="dots")
    assert list(widget.inputs_panel.mask.choices) == [None, labels, shapes]
    assert widget.inputs_panel.mask.native.itemText(0) == "none"


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
    widget.inputs_panel.image.value = image
    widget.inputs_panel.mask.value = viewer.layers["roi"]
    widget.options_panel.n_clusters.value = 3
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
    widget.inputs_panel.image.value = image
    widget.inputs_panel.mask.value = viewer.layers["box"]
    widget.options_panel.n_clusters.value = 2
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
    widget.inputs_panel.image.value = image
    widget.inputs_panel.mask.value = viewer.layers["m"]
    before = names(viewer)
    n = len(notification_manager.records)
    click_and_wait(qtbot, widget)
    assert any(message in m for m in new_messages(n)), new_messages(n)
    assert names(viewer) == before
    assert widget.run_panel.run_button.enabled and not widget.busy


# ----------------------------------------------------------- current slice


def stack_image(shape=(5, 40, 50), seed=0):
    """A z-stack whose slices differ: 3 intensity bands, shifted per slice."""
    rng = np.random.default_rng(seed)
    z, _, x = np.indices(shape)
    bands = ((x + 7 * z) * 3 // shape[2]) % 3
    return (bands * 1000 + rng.integers(0, 200, shape)).astype(np.uint16)


def test_current_slice_clusters_the_shown_plane(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    stack = stack_image()
    layer = viewer.add_image(stack, name="stack", scale=(2.0, 0.5, 0.5))
    layer.translate = (10.0, 1.0, -3.0)
    widget = open_widget(viewer)
    widget.inputs_panel.image.value = layer
    assert widget.inputs_panel.current_slice.enabled
    widget.inputs_panel.current_slice.value = True
    viewer.dims.set_point(0, 10.0 + 3 * 2.0)  # world z of slice 3
    widget.options_panel.n_clusters.value = 3
    click_and_wait(qtbot, widget)

    labels = viewer.layers["stack clusters"]
    assert labels.data.shape == (1, 40, 50)
    np.testing.assert_array_equal(labels.data[0], segment(stack[3], 3).labels)
    np.testing.assert_allclose(labels.translate, (16.0, 1.0, -3.0))
    np.testing.assert_allclose(labels.scale, (2.0, 0.5, 0.5))
    masked = viewer.layers["stack cluster 2"]
    assert masked.data.shape == (1, 40, 50)
    np.testing.assert_allclose(masked.translate, (16.0, 1.0, -3.0))
    inside = labels.data == 2
    np.testing.assert_array_equal(masked.data[inside], stack[3:4][inside])
    # the outputs sit on slice 3 of the stack: same world position
    np.testing.assert_allclose(
        labels.data_to_world((0, 5, 7)), layer.data_to_world((3, 5, 7))
    )

    # another slice: the same layers now hold that plane
    viewer.dims.set_point(0, 10.0 + 1 * 2.0)
    click_and_wait(qtbot, widget)
    assert viewer.layers["stack clusters"] is labels
    np.testing.assert_array_equal(labels.data[0], segment(stack[1], 3).labels)
    np.testing.assert_allclose(labels.translate, (12.0, 1.0, -3.0))
    # the table describes the plane's clusters
    assert sum(int(widget.table_panel.cell(r, "pixels")) for r in range(3)) == 2000


def test_current_slice_with_a_mask_and_a_time_series(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(2)
    movie = rng.integers(0, 256, (3, 4, 30, 20, 3), dtype=np.uint8)  # t, z, y, x, rgb
    layer = viewer.add_image(movie, name="movie", rgb=True)
    roi = np.zeros((3, 4, 30, 20), np.uint8)
    roi[:, :, 5:25, 2:15] = 1
    viewer.add_labels(roi, name="roi")
    widget = open_widget(viewer)
    widget.inputs_panel.image.value = layer
    widget.inputs_panel.mask.value = viewer.layers["roi"]
    widget.inputs_panel.current_slice.value = True
    viewer.dims.set_point(0, 2)
    viewer.dims.set_point(1, 1)
    widget.options_panel.n_clusters.value = 2
    click_and_wait(qtbot, widget)
    labels = viewer.layers["movie clusters"]
    assert labels.data.shape == (1, 1, 30, 20)
    np.testing.assert_allclose(labels.translate, (2, 1, 0, 0))
    expected = segment(movie[2, 1], 2, mask=roi[2, 1] != 0).labels
    np.testing.assert_array_equal(labels.data[0, 0], expected)
    assert viewer.layers["movie cluster 1"].data.shape == (1, 1, 30, 20, 3)


def test_current_slice_disabled_for_2d_and_refused_in_3d_view(
    make_napari_viewer, qtbot, small_astronaut
):
    viewer = make_napari_viewer()
    flat = viewer.add_image(small_astronaut, name="photo")
    stack = viewer.add_image(stack_image(), name="stack")
    widget = open_widget(viewer)
    widget.inputs_panel.image.value = flat
    assert not widget.inputs_panel.current_slice.enabled
    widget.inputs_panel.image.value = stack
    assert widget.inputs_panel.current_slice.enabled
    widget.inputs_panel.current_slice.value = True
    viewer.dims.ndisplay = 3
    before = names(viewer)
    n = len(notification_manager.records)
    click_and_wait(qtbot, widget)
    assert any("needs the 2D view" in m for m in new_messages(n))
    assert names(viewer) == before


# ------------------------------------------------------- layers as channels


def channel_data(shape=(3, 40, 50), seed=3):
    """Three channels whose combination has 4 classes no single channel shows."""
    rng = np.random.default_rng(seed)
    y, x = np.indices(shape[-2:])
    region = (y >= shape[-2] // 2) * 2 + (x >= shape[-1] // 2)
    levels = np.array([[10, 200, 10, 200], [10, 10, 200, 200], [100, 50, 150, 90]])
    base = levels[: shape[0]][:, region]  # channels, y, x
    lead = (1,) * (len(shape) - 3)
    data = np.broadcast_to(base.reshape(shape[:1] + lead + shape[-2:]), shape)
    return (data + rng.integers(0, 20, shape)).astype(np.uint8)


def choose_channels(widget, layers, masked_layers=True):
    widget.inputs_panel.input_mode.value = "layers as channels"
    widget.inputs_panel.channel_layers.value = list(layers)
    widget.options_panel.masked_layers.value = (
        masked_layers  # off by default for channels
    )


def test_layers_as_channels_tidy_outputs(make_napari_viewer, qtbot):
    """No masked layer per channel and cluster unless asked; the table's columns
    are the layers' names; the outputs are never offered back as inputs."""
    viewer = make_napari_viewer()
    layers = viewer.add_image(
        channel_data(), channel_axis=0, name=["DAPI", "GFP", "RFP"]
    )
    widget = open_widget(viewer)
    widget.inputs_panel.input_mode.value = "layers as channels"
    assert not widget.options_panel.masked_layers.value
    widget.inputs_panel.channel_layers.value = list(layers)
    widget.options_panel.mean_color_layer.value = True
    click_and_wait(qtbot, widget)
    assert names(viewer) == [
        "DAPI",
        "GFP",
        "RFP",
        "DAPI mean colour",
        "GFP mean colour",
        "RFP mean colour",
        "DAPI+GFP+RFP clusters",
    ]
    assert widget.table_panel.columns[3:6] == ["DAPI", "GFP", "RFP"]
    offered = [layer.name for layer in widget.inputs_panel.channel_layers.choices]
    assert offered == ["DAPI", "GFP", "RFP"]


def test_layers_as_channels_segment_and_merge(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    data = channel_data()
    layers = viewer.add_image(data, channel_axis=0, name=["c0", "c1", "c2"])
    widget = open_widget(viewer)
    assert widget.inputs_panel.channel_layers.native.isHidden()
    choose_channels(widget, layers)
    assert not widget.inputs_panel.channel_layers.native.isHidden()
    assert widget.inputs_panel.image.native.isHidden()
    # in-memory layers are stacked in the worker, not when Segment is clicked
    inputs = widget.read_inputs()
    assert inputs.stacked_in_worker and not isinstance(inputs.data, np.ndarray)
    widget.options_panel.n_clusters.value = 4
    click_and_wait(qtbot, widget)

    labels = viewer.layers["c0+c1+c2 clusters"]
    expected = segment(data, 4, channel_axis=0)
    assert isinstance(labels.data, np.ndarray)  # the in-memory, exact path
    np.testing.assert_array_equal(labels.data, expected.labels)
    assert labels.data.shape == (40, 50)
    assert names(viewer) == ["c0", "c1", "c2", "c0+c1+c2 clusters"] + [
        f"c{c} cluster {i}" for c in range(3) for i in range(1, 5)
    ]
    for c in range(3):
        for i in range(1, 5):
            masked = viewer.layers[f"c{c} cluster {i}"]
            assert masked.data.dtype == np.uint8 and not masked.rgb
            np.testing.assert_array_equal(
                masked.data, np.where(expected.labels == i, data[c], 0)
            )
    assert widget.table_panel.columns == list(expected.table().columns)
    assert widget.table_panel.cluster_ids == [1, 2, 3, 4]
    # Suggest k scores the same stacked channels
    image, options = widget._image_for_suggest()
    np.testing.assert_array_equal(image, data)
    assert options["channel_axis"] == 0 and options["rgb"] is False

    # Merge works on the channels' outputs too: the 4th cluster layers go
    widget.table_panel.select_ids([3, 4])
    qtbot.mouseClick(widget.table_panel.merge_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    merged = expected.merge([3, 4])
    np.testing.assert_array_equal(labels.data, merged.labels)
    assert not any(n.endswith("cluster 4") for n in names(viewer))
    np.testing.assert_array_equal(
        viewer.layers["c2 cluster 3"].data, np.where(merged.labels == 3, data[2], 0)
    )
    for c in range(3):  # the layers themselves are untouched
        np.testing.assert_array_equal(viewer.layers[f"c{c}"].data, data[c])


def test_layers_as_channels_from_dask_stay_lazy(make_napari_viewer, qtbot):
    import dask.array as da

    viewer = make_napari_viewer()
    data = channel_data((2, 3, 30, 40))  # channels, z, y, x
    lazy = da.from_array(data, chunks=(1, 1, 30, 40))
    layers = viewer.add_image(lazy, channel_axis=0, name=["a", "b"])
    widget = open_widget(viewer)
    choose_channels(widget, layers)
    widget.inputs_panel.current_slice.value = True
    viewer.dims.set_point(0, 2)
    inputs = widget.read_inputs()
    assert isinstance(inputs.data, da.Array)  # nothing loaded in the main thread
    assert inputs.data.shape == (2, 1, 30, 40)
    widget.options_panel.n_clusters.value = 3
    click_and_wait(qtbot, widget)
    labels = viewer.layers["a+b clusters"]
    assert labels.data.shape == (1, 30, 40)
    np.testing.assert_allclose(labels.translate, (2, 0, 0))
    np.testing.assert_array_equal(
        labels.data[0], segment(data[:, 2], 3, channel_axis=0).labels
    )
    assert viewer.layers["b cluster 1"].data.shape == (1, 30, 40)


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        (["g0"], "choose at least two image layers"),
        (["g0", "small"], "must have the same shape"),
        (["g0", "photo"], "layer 'photo' is RGB"),
    ],
)
def test_layers_as_channels_refusals(
    make_napari_viewer, qtbot, small_astronaut, chosen, message
):
    viewer = make_napari_viewer()
    viewer.add_image(small_astronaut[..., 0], name="g0")
    viewer.add_image(small_astronaut[..., 1], name="g1")
    viewer.add_image(small_astronaut[:64, :64, 2], name="small")
    viewer.add_image(small_astronaut, name="photo")
    widget = open_widget(viewer)
    choose_channels(widget, [viewer.layers[n] for n in chosen])
    if len(chosen) < 2:  # Segment cannot work: disabled, and says why
        assert not widget.run_panel.run_button.enabled
        assert (
            widget.run_panel.run_button.tooltip
            == "Choose two or more layers as channels (1 chosen)"
        )
        assert not widget.suggest_k.suggest_button.enabled
        return
    before = names(viewer)
    n = len(notification_manager.records)
    click_and_wait(qtbot, widget)
    assert any(message in m for m in new_messages(n)), new_messages(n)
    assert names(viewer) == before
    assert widget.run_panel.run_button.enabled


def test_mask_on_a_multiscale_layer_is_a_notification(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    base = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    viewer.add_image([base, base[::2, ::2]], multiscale=True, name="pyramid")
    viewer.add_labels(np.ones((64, 64), np.uint8), name="roi")
    widget = open_widget(viewer)
    widget.inputs_panel.image.value = viewer.layers["pyramid"]
    widget.inputs_panel.mask.value = viewer.layers["roi"]
    n = len(notification_manager.records)
    click_and_wait(qtbot, widget)
    assert any("multiscale" in m and "mask" in m for m in new_messages(n))
    assert names(viewer) == ["pyramid", "roi"]
