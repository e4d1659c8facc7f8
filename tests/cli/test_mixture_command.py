"""``segment --mixture``: a Gaussian mixture's probability and uncertainty maps
beside the labels, as OME-TIFF and OME-Zarr, placed like the labels; a saved
mixture model writes them too; and they are as safe as the other outputs."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from batch_files import no_temporary_files, snapshot

from napari_kmeans_seg import KMeansModel, segment
from napari_kmeans_seg.cli import main


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from skimage import data

    folder = tmp_path_factory.mktemp("photo")
    iio.imwrite(folder / "astronaut.png", data.astronaut()[::4, ::4])
    return folder / "astronaut.png"


def read_tiff(path):
    """The pixels, the OME axes, the OME Pixels element and the Software tag."""
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
        return tif.asarray(), tif.series[0].axes, pixels, tif.pages[0].software


def assert_maps(probabilities, uncertainty, labels, channel_axis=0):
    """Values in [0, 1] summing to 1 over the clusters where clustered, the labels
    the most probable cluster, the uncertainty 1 - the largest probability."""
    p = np.moveaxis(probabilities, channel_axis, 0)
    assert p.dtype == uncertainty.dtype == np.float32
    assert p.min() >= 0 and p.max() <= 1
    clustered = labels > 0
    np.testing.assert_allclose(p.sum(axis=0)[clustered], 1, atol=1e-5)
    np.testing.assert_array_equal(p.argmax(axis=0)[clustered] + 1, labels[clustered])
    np.testing.assert_array_equal(uncertainty, 1 - p.max(axis=0))


def test_mixture_writes_probabilities_and_uncertainty(photo, tmp_path, capsys):
    reader = pytest.importorskip("ome_zarr.reader")
    from ome_zarr.io import parse_url

    out = tmp_path / "out"
    model_path = tmp_path / "gmm.json"
    argv = ["segment", str(photo), "-k", "3", "--mixture", "full", "--ome-zarr"]
    code = main([*argv, "--save-model", str(model_path), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "into 3 clusters (a Gaussian mixture, full covariances)" in captured.out
    assert sorted(p.name for p in out.iterdir()) == [
        "astronaut_clusters.csv",
        "astronaut_labels.ome.zarr",
        "astronaut_labels.tif",
        "astronaut_probabilities.ome.zarr",
        "astronaut_probabilities.tif",
        "astronaut_uncertainty.ome.zarr",
        "astronaut_uncertainty.tif",
    ]
    image = iio.imread(photo)
    reference = segment(image, 3, mixture="full", random_state=0)
    labels = tifffile.imread(out / "astronaut_labels.tif")
    np.testing.assert_array_equal(labels, reference.labels)

    probs, axes, pixels, software = read_tiff(out / "astronaut_probabilities.tif")
    assert axes == "CYX" and probs.shape == (3, 128, 128)
    assert [c["Name"] for c in pixels["Channel"]] == [
        "cluster 1",
        "cluster 2",
        "cluster 3",
    ]
    assert software == "napari-kmeans-seg"
    np.testing.assert_array_equal(probs, reference.probabilities)
    unc, axes, _, _ = read_tiff(out / "astronaut_uncertainty.tif")
    assert axes == "YX"
    assert_maps(probs, unc, labels)

    # the OME-Zarr images hold the same maps
    (node,) = [
        n
        for n in reader.Reader(parse_url(out / "astronaut_probabilities.ome.zarr"))()
        if n.data
    ]
    assert [a["name"] for a in node.metadata["axes"]] == ["c", "y", "x"]
    assert node.metadata["channel_names"] == ["cluster 1", "cluster 2", "cluster 3"]
    np.testing.assert_array_equal(np.asarray(node.data[0]), probs)
    (node,) = reader.Reader(parse_url(out / "astronaut_uncertainty.ome.zarr"))()
    np.testing.assert_array_equal(np.asarray(node.data[0]), unc)

    # the saved model is the mixture: applied with --model, it writes them too
    model = KMeansModel.load(model_path)
    assert model.mixture is not None and model.mixture.covariance_type == "full"
    out2 = tmp_path / "out2"
    assert (
        main(["segment", str(photo), "--model", str(model_path), "-o", str(out2)]) == 0
    )
    np.testing.assert_array_equal(
        tifffile.imread(out2 / "astronaut_probabilities.tif"),
        model.predict_proba(image),
    )
    assert_maps(
        tifffile.imread(out2 / "astronaut_probabilities.tif"),
        tifffile.imread(out2 / "astronaut_uncertainty.tif"),
        tifffile.imread(out2 / "astronaut_labels.tif"),
    )
    assert no_temporary_files(out) and no_temporary_files(out2)


def test_maps_carry_the_stack_axes_and_pixel_sizes(tmp_path):
    reader = pytest.importorskip("ome_zarr.reader")
    from ome_zarr.io import parse_url
    from skimage import data

    camera = data.camera()[::8, ::8]
    stack = np.stack([[camera // (z + t + 1) for z in range(3)] for t in range(2)])
    tifffile.imwrite(
        tmp_path / "cells.tif",
        stack,  # (2, 3, 64, 64) uint8
        ome=True,
        metadata={
            "axes": "TZYX",
            "PhysicalSizeZ": 2.0,
            "PhysicalSizeY": 0.5,
            "PhysicalSizeX": 0.5,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeYUnit": "µm",
            "PhysicalSizeZUnit": "µm",
            "TimeIncrement": 30.0,
            "TimeIncrementUnit": "s",
        },
    )
    out = tmp_path / "out"
    argv = ["segment", str(tmp_path / "cells.tif"), "-k", "3", "--mixture", "diag"]
    assert main([*argv, "--ome-zarr", "-o", str(out)]) == 0
    labels, axes, _, _ = read_tiff(out / "cells_labels.tif")
    assert axes == "TZYX"
    probs, axes, pixels, _ = read_tiff(out / "cells_probabilities.tif")
    # OME's order: the clusters' channel axis after T, before Z
    assert axes == "TCZYX" and probs.shape == (2, 3, 3, 64, 64)
    assert (pixels["PhysicalSizeZ"], pixels["PhysicalSizeX"]) == (2.0, 0.5)
    assert (pixels["TimeIncrement"], pixels["TimeIncrementUnit"]) == (30.0, "s")
    unc, axes, pixels, _ = read_tiff(out / "cells_uncertainty.tif")
    assert axes == "TZYX" and pixels["PhysicalSizeZ"] == 2.0
    assert_maps(probs, unc, labels, channel_axis=1)
    reference = segment(stack, 3, mixture="diag", random_state=0)
    np.testing.assert_array_equal(np.moveaxis(probs, 1, 0), reference.probabilities)

    (node,) = [
        n
        for n in reader.Reader(parse_url(out / "cells_probabilities.ome.zarr"))()
        if n.data
    ]
    assert [a["name"] for a in node.metadata["axes"]] == ["t", "c", "z", "y", "x"]
    scale = node.metadata["coordinateTransformations"][0][0]["scale"]
    assert scale == [30.0, 1.0, 2.0, 0.5, 0.5]
    np.testing.assert_array_equal(np.asarray(node.data[0]), probs)
    (node,) = reader.Reader(parse_url(out / "cells_uncertainty.ome.zarr"))()
    assert [a.get("unit") for a in node.metadata["axes"]] == [
        "second",
        "micrometer",
        "micrometer",
        "micrometer",
    ]
    np.testing.assert_array_equal(np.asarray(node.data[0]), unc)


def test_k_means_writes_no_maps_and_a_model_must_agree(photo, tmp_path, capsys):
    out = tmp_path / "out"
    model_path = tmp_path / "km.json"
    argv = ["segment", str(photo), "-k", "3", "--save-model", str(model_path)]
    assert main([*argv, "-o", str(out)]) == 0
    assert not list(out.glob("*_probabilities*")) and not list(out.glob("*_unc*"))
    capsys.readouterr()
    before = snapshot(tmp_path)
    argv = ["segment", str(photo), "--model", str(model_path), "--mixture", "full"]
    code = main([*argv, "-o", str(out)])
    assert code == 2
    assert "--mixture full contradicts the model km.json, fitted as k-means" in (
        capsys.readouterr().err
    )
    assert snapshot(tmp_path) == before
    with pytest.raises(SystemExit) as exited:  # argparse: not a choice
        main(["segment", str(photo), "--mixture", "spherical", "-o", str(out)])
    assert exited.value.code == 2
    assert "invalid choice: 'spherical'" in capsys.readouterr().err


def test_maps_never_overwrite_what_this_command_did_not_write(photo, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["segment", str(photo), "-k", "2", "--mixture", "full", "-o", str(out)]
    assert main(argv) == 0
    first = tifffile.imread(out / "astronaut_probabilities.tif")
    assert main([*argv[:3], "3", *argv[4:]]) == 0  # a re-run replaces its own
    assert tifffile.imread(out / "astronaut_probabilities.tif").shape[0] == 3
    assert first.shape[0] == 2
    # someone else's file of that name: refused before any work
    (out / "astronaut_uncertainty.tif").unlink()
    tifffile.imwrite(out / "astronaut_uncertainty.tif", np.zeros((4, 4), np.uint8))
    before = snapshot(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "astronaut_uncertainty.tif exists and was not written by" in err
    assert snapshot(tmp_path) == before
    # a folder's maps from an earlier run are not taken as inputs
    (out / "astronaut_uncertainty.tif").unlink()
    folder = tmp_path / "folder"
    folder.mkdir()
    iio.imwrite(folder / "a.png", iio.imread(photo))
    assert main(["segment", str(folder), "--mixture", "full", "-o", str(folder)]) == 0
    capsys.readouterr()
    assert main(["segment", str(folder), "--mixture", "full", "-o", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "outputs of an earlier run" in err
    assert "a_probabilities.tif" in err and "a_uncertainty.tif" in err
