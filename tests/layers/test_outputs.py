"""Outputs analysts expect: mean colours, the mean-colour image, the cluster table,
merging clusters, and the layers built from them."""

import json

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_kmeans_seg import KMeansModel, segment, segment_layer
from napari_kmeans_seg.core.features import build_features, guess_layout
from napari_kmeans_seg.layers.label_colors import LABEL_COLORS


@pytest.fixture(scope="module")
def photo(small_photos):
    return small_photos["chelsea"]


# --------------------------------------------------------------------- mean colours


def test_mean_colors_default_path_costs_nothing(photo):
    result = segment(photo, 4)
    assert result.channel_means is result.centroids
    np.testing.assert_allclose(result.mean_colors, result.centroids / 255)
    for i in range(1, 5):
        np.testing.assert_allclose(
            result.mean_colors[i - 1], photo[result.labels == i].mean(axis=0) / 255
        )


@pytest.mark.parametrize("space", ["hsv", "lab"])
def test_mean_colors_are_rgb_in_every_space(photo, space):
    result = segment(photo, 4, color_space=space, smoothing=1.0)
    assert result.mean_colors.shape == (4, 3)
    for i in range(1, 5):
        np.testing.assert_allclose(
            result.mean_colors[i - 1], photo[result.labels == i].mean(axis=0) / 255
        )


def test_mean_colors_dtypes_and_non_rgb(photo):
    result16 = segment(photo.astype(np.uint16) * 257, 3)
    result8 = segment(photo, 3)
    np.testing.assert_allclose(result16.mean_colors, result8.mean_colors, atol=2e-3)
    assert segment(photo[..., 0], 3).mean_colors is None
    assert segment(np.moveaxis(photo, -1, 0), 3, channel_axis=0).mean_colors is None


# ------------------------------------------------------------- mean-colour images


def test_mean_color_image_rgb(photo):
    result = segment(photo, 4, color_space="lab")
    poster = result.mean_color_image()
    assert poster.shape == photo.shape and poster.dtype == np.uint8
    for i in range(1, 5):
        inside = result.labels == i
        expected = np.rint(photo[inside].mean(axis=0))
        assert np.all(poster[inside] == expected)
    np.testing.assert_array_equal(result.mean_color_image(photo), poster)


def test_mean_color_image_rgba_and_label_zero(photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:7, :, 3] = 0
    result = segment(rgba, 3)
    for poster in (result.mean_color_image(), result.mean_color_image(rgba)):
        assert poster.shape == photo.shape  # RGB, alpha dropped
        assert not poster[:7].any()
        inside = result.labels == 2
        np.testing.assert_array_equal(
            poster[inside][0], np.rint(photo[inside].mean(axis=0))
        )


def test_mean_color_image_grey_multichannel_float_bool():
    rng = np.random.default_rng(0)
    grey = (rng.random((20, 30)) * 4000).astype(np.uint16)
    result = segment(grey, 3)
    poster = result.mean_color_image()
    assert poster.shape == grey.shape and poster.dtype == np.uint16
    for i in (1, 2, 3):
        assert np.all(
            poster[result.labels == i] == np.rint(grey[result.labels == i].mean())
        )

    multi = rng.random((2, 20, 30)).astype(np.float32)
    result = segment(multi, 3, channel_axis=0, normalize=True)
    poster = result.mean_color_image()
    assert poster.shape == multi.shape and poster.dtype == np.float32
    inside = result.labels == 2
    np.testing.assert_allclose(
        poster[:, inside][:, 0], multi[:, inside].mean(axis=1), rtol=1e-6
    )
    np.testing.assert_array_equal(result.mean_color_image(multi), poster)

    mask = np.ones(grey.shape, bool)
    mask[:5] = False
    masked = segment(grey, 3, mask=mask)
    assert not masked.mean_color_image()[:5].any()

    binary = rng.random((20, 30)) > 0.5
    out = segment(binary, 2).mean_color_image()
    np.testing.assert_array_equal(out, binary)
    with pytest.raises(ValueError, match="does not fit"):
        masked.mean_color_image(grey[:10])


# ------------------------------------------------------------------------ tables


@pytest.mark.parametrize(
    ("kwargs", "columns"),
    [
        ({}, ["R", "G", "B", "color"]),
        ({"color_space": "hsv"}, ["hue_x", "hue_y", "value", "color"]),
        (
            {"color_space": "lab", "spatial_weight": 0.1},
            ["L", "a", "b", "y", "x", "color"],
        ),
    ],
)
def test_table_rgb(photo, kwargs, columns):
    result = segment(photo, 3, **kwargs)
    table = result.table()
    assert list(table.columns) == ["label", "pixels", "fraction", *columns]
    assert table["label"].tolist() == [1, 2, 3]
    assert table["pixels"].tolist() == result.counts.tolist()
    assert table["fraction"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(table[columns[:-1]].to_numpy(), result.centroids)
    for i, hex_color in enumerate(table["color"], start=1):
        mean = np.rint(photo[result.labels == i].mean(axis=0)).astype(int)
        assert hex_color == "#{:02x}{:02x}{:02x}".format(*mean)


def test_table_grey_multichannel_and_names(photo):
    grey = segment(photo[..., 0], 2)
    assert list(grey.table().columns) == ["label", "pixels", "fraction", "intensity"]
    multi = segment(np.moveaxis(photo, -1, 0), 2, channel_axis=0)
    table = multi.table()
    assert list(table.columns) == ["label", "pixels", "fraction", "c0", "c1", "c2"]
    from dataclasses import replace

    named = replace(grey, model=replace(grey.model, cluster_names=["dark", "light"]))
    assert named.table()["name"].tolist() == ["dark", "light"]


# ------------------------------------------------------------------------ merging


def _engine_inertia(result, image, **kwargs):
    """Brute force: the sum of squared distances of every clustered pixel to its
    cluster's mean, in the feature space k-means saw."""
    layout = guess_layout(
        image.shape, channel_axis=kwargs.get("channel_axis"), rgb=None
    )
    X = build_features(image, layout, None, result.model.options).X.astype(np.float64)
    labels = result.labels.reshape(-1)
    total = 0.0
    for i in range(1, result.n_clusters + 1):
        rows = X[labels == i]
        total += ((rows - rows.mean(axis=0)) ** 2).sum()
    return total


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"color_space": "lab", "normalize": True, "spatial_weight": 0.05}],
    ids=["default", "options"],
)
def test_merge(photo, kwargs, tmp_path):
    result = segment(photo, 5, **kwargs)
    merged = result.merge([4, 2])
    assert merged.n_clusters == 4
    old = result.labels
    expected = np.select(
        [old == 1, np.isin(old, (2, 4)), old == 3, old == 5], [1, 2, 3, 4]
    )
    np.testing.assert_array_equal(merged.labels, expected)
    assert merged.labels.dtype == old.dtype
    c = result.counts
    assert merged.counts.tolist() == [c[0], c[1] + c[3], c[2], c[4]]
    np.testing.assert_allclose(
        merged.centroids[1],
        (c[1] * result.centroids[1] + c[3] * result.centroids[3]) / (c[1] + c[3]),
    )
    np.testing.assert_array_equal(
        merged.centroids[[0, 2, 3]], result.centroids[[0, 2, 4]]
    )
    for i in range(1, 5):
        np.testing.assert_allclose(
            merged.channel_means[i - 1], photo[merged.labels == i].mean(axis=0)
        )
    # the inertia is exact: a brute-force recomputation agrees
    assert merged.inertia == pytest.approx(_engine_inertia(merged, photo), rel=1e-6)
    assert merged.inertia > result.inertia
    assert not merged.converged and result.converged
    # the model reproduces the merged labels, also after save/load
    np.testing.assert_array_equal(merged.model.predict(photo), merged.labels)
    path = merged.model.save(tmp_path / "merged.json")
    data = json.loads(path.read_text())
    assert data["label_map"] == [1, 2, 3, 2, 4] and data["n_clusters"] == 4
    assert len(data["centroids"]) == 5
    loaded = KMeansModel.load(path)
    assert loaded.n_clusters == 4
    np.testing.assert_array_equal(loaded.predict(photo), merged.labels)
    again = segment(photo, model=loaded)
    np.testing.assert_array_equal(again.labels, merged.labels)
    np.testing.assert_array_equal(again.counts, merged.counts)
    assert again.inertia == pytest.approx(merged.inertia, rel=1e-6)
    np.testing.assert_allclose(again.centroids, merged.centroids, rtol=1e-6)
    assert not again.converged
    # merging again composes the maps
    twice = merged.merge([1, 4])
    assert twice.n_clusters == 3
    np.testing.assert_array_equal(twice.model.predict(photo), twice.labels)
    assert twice.inertia == pytest.approx(_engine_inertia(twice, photo), rel=1e-6)
    assert twice.model.label_map.tolist() == [1, 2, 3, 2, 1]
    # the original is untouched
    assert result.n_clusters == 5 and result.model.label_map is None


def test_merge_names_and_table(photo):
    from dataclasses import replace

    result = segment(photo, 3)
    named = replace(result, model=replace(result.model, cluster_names=["a", "b", "c"]))
    merged = named.merge([1, 3])
    assert merged.model.cluster_names == ("a + c", "b")
    assert merged.table()["name"].tolist() == ["a + c", "b"]
    assert merged.table()["pixels"].sum() == photo.shape[0] * photo.shape[1]


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([2], "at least two distinct cluster ids"),
        ([2, 2], "at least two distinct cluster ids"),
        ([0, 1], "between 1 and 3"),
        ([1, 4], "between 1 and 3"),
        ([1, 2, 3], "would leave a single cluster"),
        ([1.0, 2.0], "integer cluster ids"),
        ([True, 2], "integer cluster ids"),
        ("12", "list of cluster ids"),
        (2, "list of cluster ids"),
    ],
)
def test_merge_refuses_bad_ids(photo, ids, message):
    result = segment(photo, 3)
    with pytest.raises(ValueError, match=message):
        result.merge(ids)


def test_label_map_is_validated():
    from napari_kmeans_seg.core.features import Layout

    C = np.array([[0.0], [1.0], [2.0]])
    layout = Layout(None, 1)
    assert KMeansModel(C, layout, label_map=[1, 2, 1]).n_clusters == 2
    with pytest.raises(ValueError, match="one integer label per centroid"):
        KMeansModel(C, layout, label_map=[1, 2])
    with pytest.raises(ValueError, match="every label from 1"):
        KMeansModel(C, layout, label_map=[1, 3, 1])
    with pytest.raises(ValueError, match="n_clusters must be between 2"):
        KMeansModel(C, layout, label_map=[1, 1, 1])
    with pytest.raises(ValueError, match="2 names for 3 clusters"):
        KMeansModel(C, layout, cluster_names=["a", "b"])
    model = KMeansModel(C, layout, label_map=[1, 2, 1]).to_dict()
    for bad, message in [
        ([1, 2], r"shape \(3, 1\), but label_map"),
        ([1, 2, 4], "every label from 1 to n_clusters=2"),
        ([1, 2, 1.0], "list of integers"),
        ("121", "list of integers"),
    ]:
        with pytest.raises(ValueError, match=message):
            KMeansModel.from_dict({**model, "label_map": bad})


# ------------------------------------------------------------------------- layers


@pytest.fixture
def viewer():
    return ViewerModel()


def test_layers_use_mean_rgb_colours_and_the_table(viewer, photo):
    viewer.add_image(photo, name="cat")
    result = segment_layer(viewer, "cat", 3, color_space="lab")
    labels = viewer.layers["cat clusters"]
    for i in (1, 2, 3):
        drawn = labels.colormap.map(np.array([i]))[0, :3]
        np.testing.assert_allclose(drawn, result.mean_colors[i - 1], atol=1e-3)
    features = labels.features
    assert list(features.columns)[:2] == ["index", "label"]
    assert features["index"].tolist() == [1, 2, 3]
    assert {"L", "a", "b", "color"} <= set(features.columns)
    own = int(result.labels[40, 60])
    status = labels.get_status((40, 60))["coordinates"]
    assert f"label: {own}," in status and result.table()["color"][own - 1] in status


def test_layer_options(viewer, photo):
    viewer.add_image(photo, name="cat", scale=(2.0, 2.0))
    segment_layer(viewer, "cat", 3, label_colors="distinct", mean_color_layer=True)
    names = [layer.name for layer in viewer.layers]
    assert names == [
        "cat",
        "cat mean colour",
        "cat clusters",
        "cat cluster 1",
        "cat cluster 2",
        "cat cluster 3",
    ]
    mean_layer = viewer.layers["cat mean colour"]
    assert mean_layer.rgb and mean_layer.data.shape == photo.shape
    assert tuple(mean_layer.scale) == (2.0, 2.0)
    from napari.utils.colormaps import label_colormap

    labels = viewer.layers["cat clusters"]
    np.testing.assert_allclose(
        labels.colormap.map(np.arange(1, 4)), label_colormap(4).map(np.arange(1, 4))
    )
    # a re-run without them drops the mean-colour and masked layers
    segment_layer(viewer, "cat", 3, masked_layers=False)
    assert [layer.name for layer in viewer.layers] == ["cat", "cat clusters"]
    with pytest.raises(ValueError, match="label_colors must be one of"):
        segment_layer(viewer, "cat", 3, label_colors="rainbow")
    assert LABEL_COLORS == ("mean", "distinct")


def test_segment_layer_passes_the_layer_scale(viewer):
    from core.test_features import two_blobs

    image, mask, _ = two_blobs()
    viewer.add_image(image, name="blobs", scale=(1.0, 2.0))
    result = segment_layer(viewer, "blobs", 2, mask=mask, spatial_weight=1.0)
    assert result.model.options.scale == (1.0, 2.0)
    np.testing.assert_allclose(sorted(result.centroids[:, 2]), [19.0, 139.0])


def test_greyscale_mean_colour_layer_keeps_display(viewer):
    from skimage import data

    viewer.add_image(data.camera()[::4, ::4], name="cam", colormap="magma")
    segment_layer(viewer, "cam", 3, mean_color_layer=True, smoothing=1.0)
    layer = viewer.layers["cam mean colour"]
    assert not layer.rgb and layer.colormap.name == "magma"
    assert "intensity" in viewer.layers["cam clusters"].features.columns


@pytest.mark.parametrize(
    ("shape", "rgb", "plane"),
    [((1500, 2800, 3), True, (slice(None),)), ((10, 900, 1000), False, (3,))],
    ids=["rgb", "stack"],
)
def test_large_images_get_masked_layers_as_lazy_views(viewer, shape, rgb, plane):
    """Masked layers of a large image are views computed when shown: equal to
    the masked image, one chunk per plane, and no copies of the image made."""
    import dask.array as da

    from napari_kmeans_seg.layers.masked import LAZY_MASKS_BYTES

    rng = np.random.default_rng(0)
    img = (rng.random(shape, np.float32) * 3).round().astype(np.float32)
    assert img.nbytes >= LAZY_MASKS_BYTES
    viewer.add_image(img, name="big", rgb=rgb)
    result = segment_layer(viewer, "big", 3, random_state=0)
    for i in (1, 3):
        data = viewer.layers[f"big cluster {i}"].data
        assert isinstance(data, da.Array)
        assert data.shape == img.shape and data.dtype == img.dtype
        assert data.numblocks[-2:] == (1, 1)  # whole planes
        expected = result.masked_image(img, i)
        np.testing.assert_array_equal(np.asarray(data[plane]), expected[plane])
    assert isinstance(viewer.layers["big clusters"].data, np.ndarray)


def test_small_images_get_masked_layers_at_once(viewer, photo):
    viewer.add_image(photo, name="small")
    result = segment_layer(viewer, "small", 3, random_state=0)
    data = viewer.layers["small cluster 2"].data
    assert isinstance(data, np.ndarray)
    np.testing.assert_array_equal(data, result.masked_image(photo, 2))


@pytest.mark.parametrize("mean_color_layer", [False, True])
def test_a_cancelled_run_stops_between_two_outputs(photo, mean_color_layer):
    """Building the outputs polls the run's stop hook before each one: a run
    cancelled once the clusters are known builds no more outputs."""
    from napari_kmeans_seg.core.parallel import Cancelled, stop_when
    from napari_kmeans_seg.layers.placement import SourceInfo
    from napari_kmeans_seg.layers.result_layers import result_layer_data

    viewer = ViewerModel()
    layer = viewer.add_image(photo, name="p")
    result = segment(photo, 4, random_state=0)
    built = []
    original = type(result).masked_image

    def counting(self, image, i):
        built.append(i)
        return original(self, image, i)

    polls = iter(range(100))
    with pytest.MonkeyPatch.context() as mp, pytest.raises(Cancelled):
        mp.setattr(type(result), "masked_image", counting)
        with stop_when(lambda: next(polls) >= 2):  # stop at the third poll
            result_layer_data(
                result,
                photo,
                SourceInfo.from_layer(layer),
                mean_color_layer=mean_color_layer,
            )
    assert len(built) == (1 if mean_color_layer else 2)


def test_the_work_reports_its_passes_and_outputs(photo):
    """What the widget's progress counts, without a display: the engine's passes
    over the pixels (``stop_when``'s ``on_pass``, also through an inner
    ``stop_when`` without one) and each output built (``reporting_outputs``)."""
    import threading

    from napari_kmeans_seg.core.parallel import stop_when
    from napari_kmeans_seg.layers.placement import SourceInfo
    from napari_kmeans_seg.layers.progress import reporting_outputs
    from napari_kmeans_seg.layers.result_layers import result_layer_data

    passes, built = [], []
    with stop_when(threading.Event(), on_pass=lambda: passes.append(1)):
        with stop_when(threading.Event()):
            result = segment(photo, 4, random_state=0)
        n = len(passes)
        segment(photo, 4, random_state=0)
    assert n > 1 and len(passes) == 2 * n  # the same passes again
    segment(photo, 4, random_state=0)
    assert len(passes) == 2 * n  # none counted outside
    source = SourceInfo.from_layer(ViewerModel().add_image(photo, name="p"))
    with reporting_outputs(lambda done, total: built.append((done, total))):
        layers = result_layer_data(result, photo, source, mean_color_layer=True)
    assert len(layers) == 1 + 1 + 4
    # one block of the small mean-colour image, the labels, 4 masked layers
    assert built == [(i, 6) for i in range(1, 7)]
