"""An OME-TIFF's pixel sizes and axes reach the labels OME-TIFF and OME-Zarr."""

import numpy as np
import pytest
import tifffile

from napari_kmeans_seg import segment
from napari_kmeans_seg.cli import main


def test_ome_tiff_pixel_sizes_reach_the_labels_tiff_and_ome_zarr(tmp_path):
    reader = pytest.importorskip("ome_zarr.reader")
    from ome_zarr.io import parse_url
    from skimage import data

    image = data.camera()
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(
        path,
        image,
        ome=True,
        metadata={
            "axes": "YX",
            "PhysicalSizeX": 0.5,
            "PhysicalSizeY": 0.25,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeYUnit": "µm",
        },
    )
    out = tmp_path / "out"
    assert main(["segment", str(path), "-k", "3", "--ome-zarr", "-o", str(out)]) == 0
    expected = segment(image, 3, random_state=0).labels
    with tifffile.TiffFile(out / "cells.ome_labels.tif") as tif:
        assert tif.is_ome
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
        assert (pixels["PhysicalSizeX"], pixels["PhysicalSizeY"]) == (0.5, 0.25)
        assert pixels["PhysicalSizeXUnit"] == "µm"
        np.testing.assert_array_equal(tif.asarray(), expected)
    store = out / "cells.ome_labels.ome.zarr"
    node = next(iter(reader.Reader(parse_url(str(store)))()))
    np.testing.assert_array_equal(np.asarray(node.data[0]), expected)
    assert len(node.data) == 1  # 512 x 512: no pyramid needed
    scale = node.metadata["coordinateTransformations"][0][0]["scale"]
    assert scale == [0.25, 0.5]
    assert [a["unit"] for a in node.metadata["axes"]] == ["micrometer"] * 2
    # a re-run replaces its own OME-Zarr; someone else's is refused
    assert main(["segment", str(path), "-k", "2", "--ome-zarr", "-o", str(out)]) == 0
    node = next(iter(reader.Reader(parse_url(str(store)))()))
    assert int(np.asarray(node.data[0]).max()) == 2
    foreign = tmp_path / "out2" / "cells.ome_labels.ome.zarr"
    foreign.mkdir(parents=True)
    (foreign / "data.bin").write_bytes(b"mine")
    code = main(["segment", str(path), "--ome-zarr", "-o", str(foreign.parent)])
    assert code == 2
    assert (foreign / "data.bin").read_bytes() == b"mine"


def test_ome_tiff_stack_keeps_z_and_rgb_keeps_y_x(tmp_path):
    reader = pytest.importorskip("ome_zarr.reader")
    from ome_zarr.io import parse_url
    from skimage import data

    camera = data.camera()[::8, ::8]
    stack = np.stack([camera // (i + 1) for i in range(5)])  # (5, 64, 64) uint8
    tifffile.imwrite(
        tmp_path / "stack.tif",
        stack,
        ome=True,
        metadata={
            "axes": "ZYX",
            "PhysicalSizeZ": 2.0,
            "PhysicalSizeY": 1.0,
            "PhysicalSizeX": 1.0,
            "PhysicalSizeZUnit": "nm",
        },
    )
    rgb = data.astronaut()[::8, ::8]
    tifffile.imwrite(
        tmp_path / "rgb.tif",
        rgb,
        ome=True,
        photometric="rgb",
        metadata={"axes": "YXS", "PhysicalSizeX": 3.0, "PhysicalSizeY": 3.0},
    )
    out = tmp_path / "out"
    for name in ("stack.tif", "rgb.tif"):
        code = main(
            ["segment", str(tmp_path / name), "-k", "2", "--ome-zarr", "-o", str(out)]
        )
        assert code == 0
    with tifffile.TiffFile(out / "stack_labels.tif") as tif:
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
        assert (pixels["PhysicalSizeZ"], pixels["PhysicalSizeZUnit"]) == (2.0, "nm")
        assert tif.series[0].axes == "ZYX" and tif.asarray().shape == stack.shape
    node = next(iter(reader.Reader(parse_url(str(out / "stack_labels.ome.zarr")))()))
    assert [a["name"] for a in node.metadata["axes"]] == ["z", "y", "x"]
    assert [a["unit"] for a in node.metadata["axes"]] == [
        "nanometer",
        "micrometer",
        "micrometer",
    ]
    assert node.metadata["coordinateTransformations"][0][0]["scale"] == [2.0, 1.0, 1.0]
    node = next(iter(reader.Reader(parse_url(str(out / "rgb_labels.ome.zarr")))()))
    assert node.metadata["coordinateTransformations"][0][0]["scale"] == [3.0, 3.0]
    assert np.asarray(node.data[0]).shape == rgb.shape[:2]
