"""The user's layers are never overwritten, and outputs land on their image pixels
under any transform napari allows (rotate, shear, affine, negative scale, units)."""

import hashlib

import numpy as np
import pytest
from napari.components import ViewerModel
from napari.layers import Layer

from napari_kmeans_seg import segment_layer
from napari_kmeans_seg.layers.names import SOURCE_KEY, labels_name
from napari_kmeans_seg.layers.outputs import compute_layers
from napari_kmeans_seg.layers.placement import SourceInfo
from napari_kmeans_seg.layers.viewer_layers import find_output_layer


@pytest.fixture
def photo():
    from skimage import data

    return data.astronaut()[::8, ::8].copy()  # 64 x 64 RGB


def fingerprint(layer):
    """Everything a user would lose: the data's bytes, name, kind, metadata."""
    data = np.asarray(layer.data)
    return (
        type(layer).__name__,
        layer.name,
        hashlib.sha256(data.tobytes()).hexdigest(),
        data.dtype.str,
        data.shape,
        dict(layer.metadata),
        tuple(layer.scale),
    )


def test_users_layers_with_output_names_are_left_byte_identical(photo):
    viewer = ViewerModel()
    viewer.add_image(photo, name="img")
    painted = np.zeros(photo.shape[:2], np.uint8)
    painted[10:20, 10:30] = 7  # a hand-painted annotation
    user_labels = viewer.add_labels(painted, name="img clusters")
    user_image = viewer.add_image(photo[..., 0], name="img cluster 2")
    before = [fingerprint(user_labels), fingerprint(user_image)]

    result = segment_layer(viewer, "img", 3)
    assert [fingerprint(user_labels), fingerprint(user_image)] == before
    assert user_labels in viewer.layers and user_image in viewer.layers
    ours = find_output_layer(viewer, "img", labels_name("img"))
    assert ours is not user_labels and ours.name == "img clusters [1]"
    np.testing.assert_array_equal(ours.data, result.labels)
    assert find_output_layer(viewer, "img", "img cluster 2").name == (
        "img cluster 2 [1]"
    )

    # a re-run updates the plugin's own layers, not the user's, and adds none
    n_layers = len(viewer.layers)
    again = segment_layer(viewer, "img", 3, random_state=5, masked_layers=True)
    assert len(viewer.layers) == n_layers
    assert [fingerprint(user_labels), fingerprint(user_image)] == before
    np.testing.assert_array_equal(ours.data, again.labels)

    # fewer clusters: the plugin's stale cluster layers go, the user's stays
    user_five = viewer.add_image(photo[..., 1], name="img cluster 5")
    five = fingerprint(user_five)
    segment_layer(viewer, "img", 2)
    names = [layer.name for layer in viewer.layers]
    assert "img cluster 3" not in names and "img cluster 2 [1]" in names
    assert fingerprint(user_five) == five
    assert [fingerprint(user_labels), fingerprint(user_image)] == before


def test_plugin_layer_renamed_by_the_user_is_still_updated(photo):
    viewer = ViewerModel()
    viewer.add_image(photo, name="img")
    segment_layer(viewer, "img", 3, masked_layers=False)
    labels = viewer.layers["img clusters"]
    labels.name = "my segmentation"
    result = segment_layer(viewer, "img", 4, masked_layers=False)
    assert [layer.name for layer in viewer.layers] == ["img", "my segmentation"]
    np.testing.assert_array_equal(labels.data, result.labels)


def test_a_layer_removed_from_the_viewer_is_refused(photo):
    viewer = ViewerModel()
    layer = viewer.add_image(photo, name="img")
    viewer.layers.remove(layer)
    with pytest.raises(ValueError, match="no longer in the viewer"):
        segment_layer(viewer, layer, 3)
    assert len(viewer.layers) == 0


SHEAR = [0.4]
AFFINE = np.array([[0.9, 0.3, 5.0], [-0.2, 1.1, -7.0], [0.0, 0.0, 1.0]])
TRANSFORMS = {
    "rotate": {"rotate": 30, "translate": (4.0, -2.0)},
    "shear": {"shear": SHEAR, "scale": (1.5, 0.5)},
    "affine": {"affine": AFFINE},
    "negative_scale": {"scale": (-1.0, 2.0), "translate": (100.0, 0.0)},
    "all": {
        "scale": (2.0, -0.5),
        "translate": (3.0, 4.0),
        "rotate": -45,
        "shear": SHEAR,
        "affine": AFFINE,
        "units": ("um", "mm"),
    },
}
PIXELS = [(0, 0), (10, 20), (63, 1), (31.5, 40.25)]


def duplicate(viewer, layer):
    """What napari's *Duplicate Layer* does: a new layer from the layer's data
    tuple (so with its metadata), named as napari names a copy."""
    data, state, kind = layer.as_layer_data_tuple()
    copy = Layer.create(data, {**state, "name": f"{layer.name} copy"}, kind)
    viewer.add_layer(copy)
    return copy


@pytest.mark.parametrize("which", ["img cluster 3", "img mean colour"])
def test_a_duplicated_output_is_the_users_and_survives_a_rerun(photo, which):
    viewer = ViewerModel()
    viewer.add_image(photo, name="img")
    segment_layer(viewer, "img", 3, mean_color_layer=True)
    copy = duplicate(viewer, viewer.layers[which])
    before = fingerprint(copy)
    # fewer clusters, no mean-colour layer: the plugin removes its own stale layers
    segment_layer(viewer, "img", 2, random_state=1)
    assert copy in viewer.layers
    assert fingerprint(copy) == before
    assert which not in viewer.layers  # the original, ours, is gone


def test_a_duplicated_labels_layer_painted_on_is_never_overwritten(photo):
    viewer = ViewerModel()
    viewer.add_image(photo, name="img")
    segment_layer(viewer, "img", 3)
    original = viewer.layers["img clusters"]
    copy = duplicate(viewer, original)
    viewer.layers.remove(original)
    copy.name = "img clusters"  # the user takes the name back, then paints
    painted = np.array(copy.data, copy=True)
    painted[:5, :5] = 9
    copy.data = painted
    before = fingerprint(copy)
    result = segment_layer(viewer, "img", 4)
    assert copy in viewer.layers and fingerprint(copy) == before
    ours = find_output_layer(viewer, "img", labels_name("img"))
    assert ours is not copy and ours.name == "img clusters [1]"
    np.testing.assert_array_equal(ours.data, result.labels)


def test_outputs_are_known_by_identity_not_by_metadata(photo):
    from napari_kmeans_seg.layers.inputs import is_output

    viewer = ViewerModel()
    viewer.add_image(photo, name="img")
    segment_layer(viewer, "img", 3)
    ours = viewer.layers["img clusters"]
    copy = duplicate(viewer, ours)
    assert is_output(ours) and not is_output(copy)
    assert SOURCE_KEY in copy.metadata  # the copy carries the marker all the same
    forged = viewer.add_labels(ours.data.copy(), metadata=dict(ours.metadata))
    assert not is_output(forged)


@pytest.mark.parametrize("rgb", [True, False], ids=["rgb", "grey"])
@pytest.mark.parametrize("transform", list(TRANSFORMS), ids=list(TRANSFORMS))
def test_outputs_land_on_the_image_pixels(photo, transform, rgb):
    viewer = ViewerModel()
    data = photo if rgb else photo[..., 0]
    image = viewer.add_image(data, name="img", **TRANSFORMS[transform])
    segment_layer(viewer, "img", 3, mean_color_layer=True)
    outputs = [layer for layer in viewer.layers if SOURCE_KEY in layer.metadata]
    assert len(outputs) == 5  # mean colour, labels, 3 masked
    for layer in outputs:
        for pixel in PIXELS:
            np.testing.assert_allclose(
                layer.data_to_world(pixel), image.data_to_world(pixel), atol=1e-9
            )
        assert layer.units == image.units


def test_negative_scale_with_spatial_features(photo):
    viewer = ViewerModel()
    viewer.add_image(photo, name="img", scale=(-1.0, 2.0))
    result = segment_layer(viewer, "img", 3, spatial_weight=1.0)
    assert result.model.options.scale == (1.0, 2.0)  # a pixel size has no sign
    labels = viewer.layers["img clusters"]
    assert tuple(labels.scale) == (-1.0, 2.0)


def test_update_resets_a_transform_the_source_no_longer_has(photo):
    viewer = ViewerModel()
    image = viewer.add_image(photo, name="img", rotate=30, shear=SHEAR)
    segment_layer(viewer, "img", 3, masked_layers=False)
    labels = viewer.layers["img clusters"]
    image.rotate = 0
    image.shear = [0.0]
    image.affine = AFFINE
    segment_layer(viewer, "img", 3, masked_layers=False)
    assert viewer.layers["img clusters"] is labels
    for pixel in PIXELS:
        np.testing.assert_allclose(
            labels.data_to_world(pixel), image.data_to_world(pixel), atol=1e-9
        )


def rotation_yx(degrees):
    t = np.deg2rad(degrees)
    out = np.eye(3)
    out[1:, 1:] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    return out


def test_channel_axis_labels_land_on_the_spatial_pixels(photo):
    viewer = ViewerModel()
    stack = np.moveaxis(photo, -1, 0)  # (3, Y, X), clustered with channel_axis=0
    image = viewer.add_image(
        stack,
        name="stack",
        scale=(1.0, 2.0, -0.5),
        translate=(0.0, 3.0, 1.0),
        rotate=rotation_yx(20),
    )
    segment_layer(viewer, "stack", 3, channel_axis=0)
    labels = viewer.layers["stack clusters"]
    assert labels.ndim == 2
    for y, x in PIXELS:
        np.testing.assert_allclose(
            labels.data_to_world((y, x)),
            image.data_to_world((0, y, x))[1:],
            atol=1e-9,
        )


def test_shifted_places_a_plane_where_it_was(photo):
    viewer = ViewerModel()
    stack = np.stack([photo[..., c] for c in range(3)])  # (3, Y, X) greyscale planes
    image = viewer.add_image(
        stack,
        name="stack",
        scale=(2.0, 1.0, 0.5),
        rotate=rotation_yx(30) @ np.array([[0.8, 0.6, 0], [-0.6, 0.8, 0], [0, 0, 1]]),
        affine=np.diag([1.0, 1.0, 2.0, 1.0]),
    )
    source = SourceInfo.from_layer(image).shifted((2,))
    _, layer_data = compute_layers(stack[2:3], source, 2, masked_layers=False)
    (data, meta, kind) = layer_data[0]
    viewer.add_layer(Layer.create(data, meta, kind))
    labels = viewer.layers[meta["name"]]
    for y, x in PIXELS:
        np.testing.assert_allclose(
            labels.data_to_world((0, y, x)), image.data_to_world((2, y, x)), atol=1e-9
        )


def test_labels_of_a_layer_to_ome_zarr_keep_its_placement(photo, tmp_path):
    napari_reader = pytest.importorskip("napari_ome_zarr._reader")
    zarr = pytest.importorskip("zarr")
    from napari_kmeans_seg.core.ome_ngff import write_ome_labels
    from napari_kmeans_seg.layers.placement import ome_placement

    viewer = ViewerModel()
    image = viewer.add_image(
        photo, name="img", scale=(0.5, 0.25), translate=(7.0, 3.0), units="um"
    )
    result = segment_layer(viewer, "img", 3, masked_layers=False)
    placement = ome_placement(SourceInfo.from_layer(image))
    path = write_ome_labels(result.labels, tmp_path / "img.zarr", **placement)
    (data, meta, kind), *_ = napari_reader.napari_get_reader(str(path))(str(path))
    labels = viewer.add_layer(Layer.create(data, meta, kind))
    finest = labels.data[0] if labels.multiscale else labels.data
    np.testing.assert_array_equal(np.asarray(finest), result.labels)
    assert tuple(labels.scale) == tuple(image.scale)
    assert labels.units == image.units
    root = zarr.open_group(path, mode="r").attrs["ome"]
    transforms = root["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    assert transforms[1]["translation"] == [7.0, 3.0]

    image.rotate = 10
    with pytest.raises(ValueError, match="has rotate: OME-NGFF labels keep only"):
        ome_placement(SourceInfo.from_layer(image))


def test_outputs_carry_the_axis_labels(photo):
    viewer = ViewerModel()
    viewer.add_image(photo, name="rgb", axis_labels=("row", "col"))
    segment_layer(viewer, "rgb", 3, mean_color_layer=True)
    for name in ("rgb clusters", "rgb cluster 1", "rgb mean colour"):
        assert tuple(viewer.layers[name].axis_labels) == ("row", "col"), name
    # a re-run after the user renamed the axes updates them; napari's default
    # names are left as napari's
    viewer.layers["rgb"].axis_labels = ("v", "u")
    segment_layer(viewer, "rgb", 3)
    assert tuple(viewer.layers["rgb clusters"].axis_labels) == ("v", "u")
    stack = np.stack([photo[..., 0], photo[..., 1]])  # channels first
    viewer.add_image(stack, name="two", axis_labels=("channel", "y", "x"))
    segment_layer(viewer, "two", 2, channel_axis=0)
    assert tuple(viewer.layers["two clusters"].axis_labels) == ("y", "x")
    assert tuple(viewer.layers["two cluster 1"].axis_labels) == ("channel", "y", "x")
    viewer.add_image(photo[..., 0], name="plain")
    segment_layer(viewer, "plain", 2)
    assert tuple(viewer.layers["plain clusters"].axis_labels) == ("-2", "-1")
