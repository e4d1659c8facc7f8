"""A result written to files and a model taken from scikit-learn: ``result.to_zarr``
(plain and OME-NGFF, all or nothing) and ``segment(image, model=<fitted sklearn
KMeans>)``."""

import numpy as np
import pytest

from napari_kmeans_seg import segment

zarr = pytest.importorskip("zarr")


@pytest.fixture(scope="module")
def result(small_photos):
    return segment(small_photos["astronaut"], 3, random_state=0)


def test_to_zarr_writes_the_labels(result, tmp_path):
    out = result.to_zarr(tmp_path / "labels.zarr")
    np.testing.assert_array_equal(out[...], result.labels)
    assert [p.name for p in tmp_path.iterdir()] == ["labels.zarr"]


def test_to_zarr_refuses_to_replace_without_overwrite(result, tmp_path):
    target = tmp_path / "labels.zarr"
    result.to_zarr(target)
    with pytest.raises(FileExistsError):
        result.to_zarr(target)
    np.testing.assert_array_equal(zarr.open_array(target)[...], result.labels)


def test_a_failed_lazy_write_leaves_no_result(small_photos, tmp_path):
    import dask.array as da

    image = da.from_array(small_photos["coffee"], chunks=(32, 32, 3))
    lazy = segment(image, 3, random_state=0)
    calls = {"n": 0}

    def fail_late(block):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError("disk full")
        return block

    from dataclasses import replace

    broken = replace(lazy, labels=lazy.labels.map_blocks(fail_late))
    with pytest.raises(OSError, match="disk full"):
        broken.to_zarr(tmp_path / "labels.zarr")
    assert list(tmp_path.iterdir()) == []  # nothing that reads as a result


def test_to_zarr_ome_is_read_back_with_its_scale(result, tmp_path):
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    result.to_zarr(tmp_path / "labels.ome.zarr", ome=True, scale=(0.5, 0.25))
    [node] = list(Reader(parse_url(tmp_path / "labels.ome.zarr"))())[:1]
    np.testing.assert_array_equal(np.asarray(node.data[0]), result.labels)
    transforms = node.metadata["coordinateTransformations"][0]
    assert [0.5, 0.25] in [t.get("scale") for t in transforms]


def test_segment_applies_a_fitted_sklearn_kmeans(small_photos):
    from sklearn.cluster import KMeans

    image = small_photos["coffee"]
    pixels = image.reshape(-1, 3).astype(np.float64)
    km = KMeans(3, n_init=1, random_state=0).fit(pixels)
    result = segment(image, model=km)
    np.testing.assert_array_equal(result.labels.ravel(), km.predict(pixels) + 1)


def test_a_model_of_another_kind_is_refused_clearly(small_photos):
    with pytest.raises(TypeError, match="model must be a KMeansModel"):
        segment(small_photos["coffee"], model="astronaut-k3.json")
