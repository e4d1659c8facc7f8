"""A Gaussian mixture's to_zarr: the labels, the probability maps and the
uncertainty, all or nothing, lazily for a lazy result; read back by zarr,
ome-zarr and napari."""

import dataclasses
import os

import dask.array as da
import numpy as np
import pytest

from napari_kmeans_seg import segment

zarr = pytest.importorskip("zarr")


@pytest.fixture(scope="module")
def photo():
    data = pytest.importorskip("skimage.data")
    return data.astronaut()[::4, ::4]  # (128, 128, 3) uint8


@pytest.fixture(scope="module")
def mixture(photo):
    return segment(photo, 3, mixture="full", random_state=0)


def visible(folder):
    return sorted(os.listdir(folder))


def assert_maps(probabilities, uncertainty, labels):
    """Probabilities in [0, 1] summing to 1 where clustered, the labels their
    most probable cluster, the uncertainty 1 - their maximum."""
    p = np.asarray(probabilities)
    assert p.dtype == np.float32 and np.asarray(uncertainty).dtype == np.float32
    assert p.min() >= 0 and p.max() <= 1
    clustered = np.asarray(labels) > 0
    np.testing.assert_allclose(p.sum(axis=0)[clustered], 1, atol=1e-5)
    np.testing.assert_array_equal(p.argmax(axis=0)[clustered] + 1, labels[clustered])
    np.testing.assert_array_equal(uncertainty, 1 - p.max(axis=0))


def test_a_mixture_writes_its_maps_beside_the_labels(mixture, tmp_path):
    group = mixture.to_zarr(tmp_path / "seg.zarr")
    assert sorted(group.keys()) == ["labels", "probabilities", "uncertainty"]
    np.testing.assert_array_equal(group["labels"][:], mixture.labels)
    assert group["probabilities"].shape == (3, 128, 128)
    assert group["probabilities"].chunks == (1, 128, 128)  # one cluster a chunk
    np.testing.assert_array_equal(group["probabilities"][:], mixture.probabilities)
    np.testing.assert_array_equal(group["uncertainty"][:], mixture.uncertainty)
    assert_maps(group["probabilities"][:], group["uncertainty"][:], mixture.labels)
    assert visible(tmp_path) == ["seg.zarr"]  # no temporary folder left
    reopened = zarr.open_group(tmp_path / "seg.zarr", mode="r")
    assert sorted(reopened.keys()) == ["labels", "probabilities", "uncertainty"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        mixture.to_zarr(tmp_path / "seg.zarr")
    again = mixture.to_zarr(tmp_path / "seg.zarr", overwrite=True, chunks=(64, 32))
    assert again["probabilities"].chunks == (1, 64, 32)
    assert again["labels"].chunks == again["uncertainty"].chunks == (64, 32)


def test_labels_alone_on_request_and_k_means_unchanged(mixture, photo, tmp_path):
    only = mixture.to_zarr(tmp_path / "labels.zarr", probabilities=False)
    assert isinstance(only, zarr.Array)
    np.testing.assert_array_equal(only[:], mixture.labels)
    kmeans = segment(photo, 3, random_state=0)
    written = kmeans.to_zarr(tmp_path / "kmeans.zarr")
    assert isinstance(written, zarr.Array)
    np.testing.assert_array_equal(written[:], kmeans.labels)
    with pytest.raises(ValueError, match="k-means, which has no probabilities"):
        kmeans.to_zarr(tmp_path / "no.zarr", probabilities=True)
    with pytest.raises(TypeError, match="probabilities"):
        mixture.to_zarr(tmp_path / "no.zarr", probabilities="yes")
    assert not (tmp_path / "no.zarr").exists()


def test_component_in_a_group_and_a_memory_store(mixture, tmp_path):
    root = zarr.open_group(tmp_path / "g.zarr", mode="w")
    root.create_array("image", shape=(2, 2), dtype="u1")
    inside = mixture.to_zarr(tmp_path / "g.zarr", component="runs/gmm")
    np.testing.assert_array_equal(inside["probabilities"][:], mixture.probabilities)
    reopened = zarr.open_group(tmp_path / "g.zarr", mode="r")
    assert sorted(reopened["runs/gmm"].keys()) == [
        "labels",
        "probabilities",
        "uncertainty",
    ]
    assert visible(tmp_path / "g.zarr") == ["image", "runs", "zarr.json"]
    store = zarr.storage.MemoryStore()
    group = mixture.to_zarr(store, component="gmm")
    np.testing.assert_array_equal(group["uncertainty"][:], mixture.uncertainty)


def _lazy_mixture(photo):
    big = da.from_array(np.tile(photo, (4, 4, 1)), chunks=(128, 128, 3))
    result = segment(big, 3, mixture="diag", fit_pixels=40_000, random_state=0)
    assert isinstance(result.probabilities, da.Array)
    return result


def test_a_lazy_mixture_is_written_chunk_by_chunk(photo, tmp_path):
    result = _lazy_mixture(photo)
    group = result.to_zarr(tmp_path / "lazy.zarr")
    assert group["labels"].chunks == (128, 128)
    assert group["probabilities"].chunks == (1, 128, 128)
    labels = group["labels"][:]
    np.testing.assert_array_equal(labels, np.asarray(result.labels))
    np.testing.assert_array_equal(
        group["probabilities"][:], np.asarray(result.probabilities)
    )
    assert_maps(group["probabilities"][:], group["uncertainty"][:], labels)


@pytest.mark.timeout(60)
def test_a_failed_write_leaves_nothing(photo, mixture, tmp_path):
    def compute(block, block_info=None):
        if block_info[0]["chunk-location"][1:] == (1, 1):
            raise RuntimeError("disk full")
        return block

    probs = da.from_array(mixture.probabilities, chunks=(3, 64, 64))
    broken = dataclasses.replace(
        mixture, probabilities=probs.map_blocks(compute, dtype=np.float32)
    )
    with pytest.raises(RuntimeError, match="disk full"):
        broken.to_zarr(tmp_path / "seg.zarr")
    assert visible(tmp_path) == []
    mixture.to_zarr(tmp_path / "seg.zarr")
    with pytest.raises(RuntimeError, match="disk full"):
        broken.to_zarr(tmp_path / "seg.zarr", overwrite=True)
    kept = zarr.open_group(tmp_path / "seg.zarr", mode="r")
    np.testing.assert_array_equal(kept["probabilities"][:], mixture.probabilities)
    assert visible(tmp_path) == ["seg.zarr"]
    with pytest.raises(RuntimeError, match="disk full"):
        broken.to_zarr(tmp_path / "seg.ome.zarr", ome=True)
    assert visible(tmp_path) == ["seg.zarr"]


def test_ome_image_of_probabilities_with_labels_and_uncertainty(mixture, tmp_path):
    reader = pytest.importorskip("ome_zarr.reader")
    from ome_zarr.io import parse_url

    path = tmp_path / "seg.ome.zarr"
    group = mixture.to_zarr(
        path, ome=True, scale=(0.5, 2.0), translation=(1.0, 0.0), units="micrometer"
    )
    assert group.attrs["ome"]["multiscales"][0]["name"] == "probabilities"
    nodes = {str(n.zarr.path).rstrip("/"): n for n in reader.Reader(parse_url(path))()}
    image = nodes[str(path)]
    assert image.metadata["channel_names"] == ["cluster 1", "cluster 2", "cluster 3"]
    assert [a["name"] for a in image.metadata["axes"]] == ["c", "y", "x"]
    assert image.metadata["coordinateTransformations"][0] == [
        {"type": "scale", "scale": [1.0, 0.5, 2.0]},
        {"type": "translation", "translation": [0.0, 1.0, 0.0]},
    ]
    np.testing.assert_array_equal(np.asarray(image.data[0]), mixture.probabilities)
    labels = nodes[str(path / "labels" / "clusters")]
    assert any(type(s).__name__ == "Label" for s in labels.specs)
    np.testing.assert_array_equal(np.asarray(labels.data[0]), mixture.labels)
    (unc,) = reader.Reader(parse_url(path / "uncertainty"))()
    np.testing.assert_array_equal(np.asarray(unc.data[0]), mixture.uncertainty)
    assert [a["unit"] for a in unc.metadata["axes"]] == ["micrometer"] * 2
    assert visible(tmp_path) == ["seg.ome.zarr"]


def test_ome_pyramid_of_a_large_lazy_mixture(photo, tmp_path):
    pytest.importorskip("ome_zarr")
    result = _lazy_mixture(photo)  # 512 x 512: one level; 2 asked
    group = result.to_zarr(tmp_path / "big.ome.zarr", ome=True, n_levels=2)
    datasets = group.attrs["ome"]["multiscales"][0]["datasets"]
    assert [d["coordinateTransformations"][0]["scale"] for d in datasets] == [
        [1.0, 1.0, 1.0],
        [1.0, 2.0, 2.0],
    ]
    probs = np.asarray(result.probabilities)
    level1 = zarr.open_array(tmp_path / "big.ome.zarr" / datasets[1]["path"])
    assert level1.chunks[0] == 1
    np.testing.assert_array_equal(level1[:], probs[:, ::2, ::2])


def test_ome_maps_open_in_napari_as_one_layer_per_cluster(mixture, tmp_path):
    reader = pytest.importorskip("napari_ome_zarr._reader")
    from napari.components import ViewerModel

    path = str(mixture.to_zarr(tmp_path / "seg.ome.zarr", ome=True).store.root)
    viewer = ViewerModel()
    for location in (path, os.path.join(path, "uncertainty")):
        for data, meta, kind in reader.napari_get_reader(location)(location):
            getattr(viewer, f"add_{kind}")(data, **meta)
    names = [layer.name for layer in viewer.layers]
    assert names[:3] == [f"probabilities: cluster {i}" for i in (1, 2, 3)]
    assert "uncertainty" in names[-1]
    for layer in viewer.layers[:3]:
        assert not layer.visible  # hidden at first, greyscale 0..1
        assert tuple(layer.contrast_limits) == (0.0, 1.0)
    assert viewer.layers[-1].visible
    np.testing.assert_array_equal(
        np.asarray(viewer.layers[1].data), mixture.probabilities[1]
    )
