"""Labels to zarr and OME-Zarr: all or nothing, and read back by ome-zarr and napari."""

import os

import dask.array as da
import numpy as np
import pytest

from napari_kmeans_seg import segment
from napari_kmeans_seg.core.ome_ngff import pyramid_levels, write_ome_labels
from napari_kmeans_seg.core.zarr_io import write_labels_zarr

zarr = pytest.importorskip("zarr")


def labels_image(shape=(300, 200), seed=0):
    image = np.random.default_rng(seed).integers(0, 255, (*shape, 3), dtype=np.uint8)
    return segment(image, 3, random_state=0).labels


def failing(labels, chunks, bad=(1, 1)):
    """``labels`` as a dask array whose chunk ``bad`` raises when computed."""

    def compute(block, block_info=None):
        if block_info[0]["chunk-location"] == bad:
            raise RuntimeError("disk full")
        return block

    return da.from_array(labels, chunks=chunks).map_blocks(compute, dtype=labels.dtype)


def visible(folder):
    return sorted(os.listdir(folder))


# ------------------------------------------------------------------ plain zarr


def test_plain_round_trip_and_refusal(tmp_path):
    labels = labels_image()
    written = write_labels_zarr(labels, tmp_path / "a.zarr", chunks=(64, 64))
    assert written.chunks == (64, 64)
    np.testing.assert_array_equal(written[:], labels)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_labels_zarr(labels, tmp_path / "a.zarr")
    again = write_labels_zarr(labels[::-1], tmp_path / "a.zarr", overwrite=True)
    np.testing.assert_array_equal(again[:], labels[::-1])
    assert visible(tmp_path) == ["a.zarr"]  # no temporary folder left behind


@pytest.mark.timeout(60)
def test_failed_write_leaves_nothing_readable(tmp_path):
    labels = labels_image()
    target = tmp_path / "labels.zarr"
    with pytest.raises(RuntimeError, match="disk full"):
        write_labels_zarr(failing(labels, (64, 64)), target)
    assert not target.exists()
    assert visible(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        zarr.open_array(target, mode="r")


@pytest.mark.timeout(60)
def test_failed_overwrite_keeps_the_old_array(tmp_path):
    labels = labels_image()
    target = tmp_path / "labels.zarr"
    write_labels_zarr(labels, target)
    with pytest.raises(RuntimeError, match="disk full"):
        write_labels_zarr(failing(labels[::-1], (64, 64)), target, overwrite=True)
    np.testing.assert_array_equal(zarr.open_array(target, mode="r")[:], labels)
    assert visible(tmp_path) == ["labels.zarr"]


@pytest.mark.timeout(60)
def test_component_in_a_group_store(tmp_path):
    labels = labels_image()
    group = zarr.open_group(tmp_path / "g.zarr", mode="w")
    group.create_array("image", shape=(2, 2), dtype="u1")
    inside = write_labels_zarr(labels, group.store, component="seg/labels")
    np.testing.assert_array_equal(inside[:], labels)
    with pytest.raises(RuntimeError, match="disk full"):
        write_labels_zarr(failing(labels, (64, 64)), group.store, component="other")
    reopened = zarr.open_group(tmp_path / "g.zarr", mode="r")
    assert sorted(reopened.keys()) == ["image", "seg"]
    assert visible(tmp_path / "g.zarr") == ["image", "seg", "zarr.json"]
    with pytest.raises(ValueError, match="component"):
        write_labels_zarr(labels, tmp_path / "g.zarr", component="../out")


@pytest.mark.timeout(60)
def test_failed_write_to_a_memory_store_is_deleted():
    labels = labels_image()
    store = zarr.storage.MemoryStore()
    with pytest.raises(RuntimeError, match="disk full"):
        write_labels_zarr(failing(labels, (64, 64)), store)
    with pytest.raises(FileNotFoundError):
        zarr.open_array(store, mode="r")


def test_overwrite_replaces_a_symlink_never_its_target(tmp_path):
    labels = labels_image()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "labels.zarr").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(FileExistsError):
        write_labels_zarr(labels, out / "labels.zarr")
    write_labels_zarr(labels, out / "labels.zarr", overwrite=True)
    assert visible(elsewhere) == ["precious.txt"]
    assert not (out / "labels.zarr").is_symlink()
    np.testing.assert_array_equal(zarr.open_array(out / "labels.zarr")[:], labels)


def test_lazy_labels_of_a_lazy_result(tmp_path):
    image = np.random.default_rng(1).integers(0, 255, (3, 120, 90), dtype=np.uint8)
    result = segment(da.from_array(image, chunks=(3, 40, 45)), 3, channel_axis=0)
    written = write_labels_zarr(result.labels, tmp_path / "lazy.zarr")
    assert written.chunks == (40, 45)
    np.testing.assert_array_equal(written[:], np.asarray(result.labels))


# -------------------------------------------------------------------- OME-NGFF


def test_pyramid_levels_keep_labels_and_stop_small():
    labels = labels_image((1100, 600))
    levels = pyramid_levels(da.from_array(labels))
    assert [lv.shape for lv in levels] == [(1100, 600), (550, 300), (275, 150)]
    np.testing.assert_array_equal(np.asarray(levels[2]), labels[::4, ::4])
    assert len(pyramid_levels(labels[:100, :100])) == 1
    assert len(pyramid_levels(labels, n_levels=2)) == 2
    with pytest.raises(ValueError, match="n_levels"):
        pyramid_levels(labels, n_levels=0)


def test_ome_round_trip_with_ome_zarr(tmp_path):
    reader = pytest.importorskip("ome_zarr.reader")
    from ome_zarr.io import parse_url

    labels = labels_image((1100, 600))
    path = write_ome_labels(
        labels,
        tmp_path / "labels.zarr",
        scale=(0.5, 2.0),
        translation=(10.0, -3.0),
        units="micrometer",
        colors={1: (1.0, 0.0, 0.0), 2: (0.0, 1.0, 0.0, 0.5)},
        chunks=(256, 256),
    )
    nodes = list(reader.Reader(parse_url(str(path)))())
    node = nodes[0]
    assert any(type(s).__name__ == "Label" for s in node.specs)
    assert [lv.shape for lv in node.data] == [(1100, 600), (550, 300), (275, 150)]
    np.testing.assert_array_equal(np.asarray(node.data[0]), labels)
    np.testing.assert_array_equal(np.asarray(node.data[1]), labels[::2, ::2])
    meta = node.metadata
    assert [a["name"] for a in meta["axes"]] == ["y", "x"]
    assert [a["unit"] for a in meta["axes"]] == ["micrometer"] * 2
    transforms = meta["coordinateTransformations"]
    assert transforms[0] == [
        {"type": "scale", "scale": [0.5, 2.0]},
        {"type": "translation", "translation": [10.0, -3.0]},
    ]
    # level 1 keeps pixel 0 and every other one: same origin, twice the size
    assert transforms[1][0]["scale"] == [1.0, 4.0]
    assert transforms[1][1]["translation"] == [10.0, -3.0]
    attrs = zarr.open_group(path, mode="r").attrs["ome"]["image-label"]
    assert attrs["colors"] == [
        {"label-value": 1, "rgba": [255, 0, 0, 255]},
        {"label-value": 2, "rgba": [0, 255, 0, 128]},
    ]


def test_ome_labels_inside_an_image_are_found_with_it(tmp_path):
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr.writer import write_image

    image = np.random.default_rng(2).integers(0, 255, (64, 48), dtype=np.uint8)
    write_image(image, zarr.open_group(tmp_path / "img.zarr", mode="w"), axes="yx")
    labels = labels_image((64, 48))
    path = write_ome_labels(labels, tmp_path / "img.zarr", name="clusters")
    assert path == tmp_path / "img.zarr" / "labels" / "clusters"
    nodes = list(Reader(parse_url(str(tmp_path / "img.zarr")))())
    found = [n for n in nodes if any(type(s).__name__ == "Label" for s in n.specs)]
    assert len(found) == 1
    np.testing.assert_array_equal(np.asarray(found[0].data[0]), labels)
    with pytest.raises(FileExistsError):
        write_ome_labels(labels, tmp_path / "img.zarr", name="clusters")
    write_ome_labels(
        labels[::-1], tmp_path / "img.zarr", name="clusters", overwrite=True
    )
    listed = zarr.open_group(tmp_path / "img.zarr/labels").attrs["ome"]["labels"]
    assert listed == ["clusters"]


@pytest.mark.timeout(60)
def test_failed_ome_write_leaves_nothing(tmp_path):
    pytest.importorskip("ome_zarr")
    labels = labels_image((600, 600))
    with pytest.raises(RuntimeError, match="disk full"):
        write_ome_labels(failing(labels, (128, 128)), tmp_path / "labels.zarr")
    assert visible(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"axes": "cx"}, "axes must be among"),
        ({"axes": "yy"}, "axes must name each"),
        ({"scale": (1.0, -1.0)}, r"scale must hold 2 finite numbers > 0"),
        ({"translation": (0.0,)}, "translation must hold 2"),
        ({"units": ("micrometer",)}, "units must hold 2"),
        ({"name": "a/b"}, "name must be a plain folder name"),
    ],
)
def test_ome_bad_options_are_refused_before_any_write(tmp_path, kwargs, message):
    pytest.importorskip("ome_zarr")
    with pytest.raises(ValueError, match=message):
        write_ome_labels(labels_image((20, 20)), tmp_path / "x.zarr", **kwargs)
    assert visible(tmp_path) == []


def test_ome_labels_open_in_napari(tmp_path):
    reader = pytest.importorskip("napari_ome_zarr._reader")
    from napari.components import ViewerModel
    from napari.layers import Labels, Layer

    labels = labels_image((1100, 600))
    path = write_ome_labels(
        labels, tmp_path / "labels.zarr", scale=(0.5, 2.0), units="micrometer"
    )
    read = reader.napari_get_reader(str(path))
    assert read is not None
    viewer = ViewerModel()
    for data, meta, kind in read(str(path)):
        viewer.add_layer(Layer.create(data, meta, kind))
    (layer,) = viewer.layers
    assert isinstance(layer, Labels) and layer.multiscale
    np.testing.assert_array_equal(np.asarray(layer.data[0]), labels)
    np.testing.assert_allclose(layer.data_to_world((4, 6)), (2.0, 12.0))
    assert [str(u) for u in layer.units] == ["micrometer", "micrometer"]
