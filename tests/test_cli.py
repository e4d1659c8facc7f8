"""The batch command line on a folder of real photos."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_kmeans_seg import KMeansModel, segment
from napari_kmeans_seg.cli import build_parser, main


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """astronaut.png, coffee.jpg (RGB) and camera.tif (greyscale) in one folder."""
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    iio.imwrite(folder / "astronaut.png", data.astronaut())
    iio.imwrite(folder / "coffee.jpg", data.coffee())
    tifffile.imwrite(folder / "camera.tif", data.camera())
    (folder / "notes.txt").write_text("not an image, not picked from the folder")
    return folder


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_folder_batch_one_model_greyscale_reported_and_skipped(
    photos, tmp_path, capsys
):
    out = tmp_path / "out"
    code = main(
        [
            "segment",
            str(photos),
            "--n-clusters",
            "3",
            "--masks",
            "--save-model",
            str(tmp_path / "model.json"),
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    # the greyscale photo cannot take the RGB model: reported, skipped, the rest done
    assert "camera.tif: the model was fitted on RGB(A) images" in captured.err
    assert "1 of 3 inputs failed" in captured.err
    assert "segmented 2 of 3 images into 3 clusters" in captured.out
    assert "fitted on" in captured.out and "astronaut.png" in captured.out
    assert not list(out.glob("camera*"))

    # the model was fitted on the first image (sorted by name): astronaut.png
    astronaut = iio.imread(photos / "astronaut.png")
    reference = segment(astronaut, 3, random_state=0)
    model = KMeansModel.load(tmp_path / "model.json")
    np.testing.assert_array_equal(model.centroids, reference.centroids)
    labels = tifffile.imread(out / "astronaut_labels.tif")
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, reference.labels)
    # coffee is labelled with the same model (same cluster ids), not refitted
    coffee = iio.imread(photos / "coffee.jpg")
    np.testing.assert_array_equal(
        tifffile.imread(out / "coffee_labels.tif"), model.predict(coffee)
    )

    rows = read_csv(out / "astronaut_clusters.csv")
    assert list(rows[0]) == [
        "label",
        "pixels",
        "fraction",
        "centroid_red",
        "centroid_green",
        "centroid_blue",
    ]
    assert [int(r["label"]) for r in rows] == [1, 2, 3]
    assert [int(r["pixels"]) for r in rows] == reference.counts.tolist()
    assert sum(float(r["fraction"]) for r in rows) == pytest.approx(1.0)
    centroids = [
        [float(r[f"centroid_{c}"]) for c in ("red", "green", "blue")] for r in rows
    ]
    np.testing.assert_array_equal(centroids, reference.centroids)
    coffee_rows = read_csv(out / "coffee_clusters.csv")
    assert sum(int(r["pixels"]) for r in coffee_rows) == 400 * 600

    for i in (1, 2, 3):  # 8-bit RGB: masked images as PNG
        masked = iio.imread(out / f"astronaut_cluster{i}.png")
        np.testing.assert_array_equal(masked, reference.masked_image(astronaut, i))
        assert (out / f"coffee_cluster{i}.png").is_file()


def test_apply_saved_model_to_files(photos, tmp_path, capsys):
    model_path = tmp_path / "model.json"
    coffee = iio.imread(photos / "coffee.jpg")
    model = segment(coffee, 4).model
    model.save(model_path)
    out = tmp_path / "out"
    code = main(
        [
            "segment",
            str(photos / "astronaut.png"),
            str(photos / "coffee.jpg"),
            str(photos / "." / "astronaut.png"),  # named twice: taken once
            "--model",
            str(model_path),
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    assert "segmented 2 of 2 images into 4 clusters" in captured.out
    assert "[1/2]" in captured.out and "[2/2]" in captured.out  # progress lines
    np.testing.assert_array_equal(
        tifffile.imread(out / "coffee_labels.tif"), model.predict(coffee)
    )
    astronaut = iio.imread(photos / "astronaut.png")
    np.testing.assert_array_equal(
        tifffile.imread(out / "astronaut_labels.tif"), model.predict(astronaut)
    )
    assert not list(out.glob("*_cluster1.*"))  # no --masks, no masked images
    # the same k may be repeated; another one is a usage error
    assert (
        main(
            [
                "segment",
                str(photos / "coffee.jpg"),
                "-k",
                "4",
                "--model",
                str(model_path),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "segment",
                str(photos / "coffee.jpg"),
                "-k",
                "3",
                "--model",
                str(model_path),
                "-o",
                str(out),
            ]
        )
        == 2
    )
    assert "contradicts the model" in capsys.readouterr().err


def test_greyscale_uint16_and_named_clusters(tmp_path, capsys):
    from dataclasses import replace

    from skimage import data

    folder = tmp_path / "in"
    folder.mkdir()
    cam16 = data.camera().astype(np.uint16) * 257
    tifffile.imwrite(folder / "cam16.tif", cam16)
    model = replace(segment(cam16, 2).model, cluster_names=["dark", "bright"])
    model.save(tmp_path / "named.json")
    out = tmp_path / "out"
    code = main(
        [
            "segment",
            str(folder),
            "--model",
            str(tmp_path / "named.json"),
            "--masks",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = read_csv(out / "cam16_clusters.csv")
    assert list(rows[0]) == [
        "label",
        "name",
        "pixels",
        "fraction",
        "centroid_intensity",
    ]
    assert [r["name"] for r in rows] == ["dark", "bright"]
    masked = tifffile.imread(out / "cam16_cluster2.tif")  # not 8-bit: TIFF
    assert masked.dtype == np.uint16
    labels = tifffile.imread(out / "cam16_labels.tif")
    np.testing.assert_array_equal(masked[labels == 2], cam16[labels == 2])
    assert not masked[labels != 2].any()


def test_bad_files_are_reported_and_skipped(photos, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a PNG")
    flat = tmp_path / "flat.png"
    iio.imwrite(flat, np.zeros((10, 10, 3), np.uint8))
    twin = tmp_path / "astronaut.tif"  # same stem as astronaut.png
    tifffile.imwrite(twin, np.zeros((4, 4), np.uint8))
    out = tmp_path / "out"
    code = main(
        [
            "segment",
            str(broken),
            str(flat),  # too few colours to fit: the next image is fitted instead
            str(tmp_path / "missing.png"),
            str(photos / "astronaut.png"),
            str(twin),
            str(tmp_path / "empty-folder"),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "broken.png: cannot read it" in err
    assert "flat.png: the image has only 1 distinct value" in err
    assert "missing.png: no such file or folder" in err
    assert "astronaut.tif: its outputs would overwrite those of" in err
    assert "5 of 6 inputs failed" in err
    assert (out / "astronaut_labels.tif").is_file()
    assert sorted(p.name for p in out.iterdir()) == [
        "astronaut_clusters.csv",
        "astronaut_labels.tif",
    ]


def test_nothing_fitted_and_usage_errors(tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"")
    assert main(["segment", str(broken), "--out", str(tmp_path / "o")]) == 1
    assert "no model could be fitted" in capsys.readouterr().out
    bad_model = tmp_path / "bad.json"
    bad_model.write_text('{"format": "something"}')
    code = main(["segment", str(broken), "--model", str(bad_model), "-o", "o"])
    assert code == 2
    assert "cannot load the model" in capsys.readouterr().err
    for argv in (
        ["segment", str(broken)],  # no --out
        ["segment", "--out", "o"],  # no input
        ["segment", str(broken), "-k", "1", "-o", "o"],
        ["segment", str(broken), "-k", "x", "-o", "o"],
        [],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "between 2 and 254" in capsys.readouterr().err


def _run(*args, **kwargs):
    return subprocess.run(
        args, capture_output=True, text=True, timeout=300, check=False, **kwargs
    )


def test_help_documents_every_option():
    script = Path(sys.executable).with_name("napari-kmeans-seg")
    assert script.is_file(), "console script missing: pip install -e ."
    top = _run(str(script), "--help")
    assert top.returncode == 0 and "segment" in top.stdout
    helped = _run(str(script), "segment", "--help")
    assert helped.returncode == 0
    seg = next(a for a in build_parser()._actions if a.dest == "command").choices[
        "segment"
    ]
    for action in seg._actions:
        for option in action.option_strings:
            assert option in helped.stdout
        assert action.help and action.help.split()[0] in helped.stdout
    for word in (
        "--n-clusters",
        "--model",
        "--save-model",
        "--masks",
        "--random-state",
        "--out",
        "INPUT",
        "_labels.tif",
        "_clusters.csv",
        "Exit",
    ):
        assert word in helped.stdout
    version = _run(sys.executable, "-m", "napari_kmeans_seg", "--version")
    assert version.returncode == 0 and "napari-kmeans-seg 0." in version.stdout


def test_cli_imports_neither_qt_nor_napari(photos, tmp_path):
    code = (
        "import sys\n"
        "from napari_kmeans_seg.cli import main\n"
        f"rc = main(['segment', {str(photos / 'astronaut.png')!r}, '-k', '2',"
        f" '--masks', '--out', {str(tmp_path)!r}])\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'qtpy', 'napari', 'vispy', "
        "'magicgui')]\n"
        "assert not bad, bad\n"
        "sys.exit(rc)\n"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "astronaut_labels.tif").is_file()


def test_python_dash_m_runs_the_batch(photos, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = _run(
        sys.executable,
        "-m",
        "napari_kmeans_seg",
        "segment",
        str(photos / "coffee.jpg"),
        str(photos / "camera.tif"),
        "-k",
        "2",
        "--out",
        str(tmp_path),
        env=env,
    )
    # camera.tif is greyscale: a model fitted on the RGB coffee cannot label it
    assert result.returncode == 1
    assert "camera.tif" in result.stderr and "not RGB" in result.stderr
    assert (tmp_path / "coffee_labels.tif").is_file()


def test_progress_bar_on_a_terminal(photos, tmp_path, capsys, monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code = main(
        [
            "segment",
            str(photos / "coffee.jpg"),
            str(tmp_path / "missing.png"),
            "--out",
            str(tmp_path),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "1/1" in captured.err and "image" in captured.err  # the tqdm bar
    assert "[1/1]" not in captured.out  # no per-file lines with a bar
    assert "missing.png: no such file or folder" in captured.err


# ------------------------------------------------------------- never lose data


def snapshot(root):
    """Every path under ``root``: a file's SHA-256, a link's target (links are
    not followed), a folder's mark."""
    import hashlib

    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                out[key] = ("link", os.readlink(path))
            elif path.is_dir():
                out[key] = ("dir",)
            else:
                out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def small(tmp_path):
    """A folder with a.png and the user's own b_labels.tif (an RGB
    image whose name looks like an output)."""
    from skimage import data

    folder = tmp_path / "in"
    folder.mkdir()
    iio.imwrite(folder / "a.png", data.astronaut()[::4, ::4])
    tifffile.imwrite(folder / "b_labels.tif", data.coffee()[::4, ::4])
    return folder


def test_same_folder_outputs_never_overwrite_an_input(tmp_path, capsys):
    from skimage import data

    folder = tmp_path / "in"
    folder.mkdir()
    iio.imwrite(folder / "a.png", data.astronaut()[::4, ::4])
    # the user's own file, named like a.png's labels output
    tifffile.imwrite(folder / "a_labels.tif", data.coffee()[::4, ::4])
    before = snapshot(tmp_path)
    for argv in (
        ["segment", str(folder), "--out", str(folder)],
        # named explicitly, it is still an input
        [
            "segment",
            str(folder / "a.png"),
            str(folder / "a_labels.tif"),
            "-o",
            str(folder),
        ],
        # the output folder spelled another way: real paths are compared
        ["segment", str(folder), "--out", str(folder / ".." / "in")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "would overwrite the input" in err and "a_labels.tif" in err
        assert snapshot(tmp_path) == before
    # with another output folder, the user's file is segmented like any image
    out = tmp_path / "out"
    assert main(["segment", str(folder), "-k", "2", "--out", str(out)]) == 0
    assert (out / "a_labels.tif").is_file() and (out / "a_labels_labels.tif").is_file()
    after = snapshot(tmp_path)
    assert {k: after[k] for k in before} == before


def test_earlier_outputs_are_reported_not_silently_skipped(small, capsys):
    before = snapshot(small)
    assert main(["segment", str(small), "-k", "2", "--out", str(small)]) == 0
    captured = capsys.readouterr()
    # the user's b_labels.tif is an input, not taken for an output
    assert "segmented 2 of 2 images" in captured.out
    assert (small / "b_labels_labels.tif").is_file()
    # a second run in place: its earlier outputs are listed, the inputs unchanged
    assert main(["segment", str(small), "-k", "2", "--out", str(small)]) == 0
    captured = capsys.readouterr()
    assert "segmented 2 of 2 images" in captured.out
    assert "outputs of an earlier run" in captured.err
    assert "a_labels.tif" in captured.err and "b_labels_labels.tif" in captured.err
    assert "not a PNG, JPEG or TIFF image file: a_clusters.csv" in captured.err
    after = snapshot(small)
    assert {k: after[k] for k in before} == before
    assert not [name for name in after if name.endswith(".tmp")]


def test_save_model_onto_an_input_is_refused(small, tmp_path, capsys):
    before = snapshot(tmp_path)
    out = tmp_path / "out"
    for target in (small / "b_labels.tif", small / "." / "a.png"):
        code = main(
            ["segment", str(small), "--save-model", str(target), "-o", str(out)]
        )
        assert code == 2
        assert "--save-model would overwrite the input" in capsys.readouterr().err
    model = tmp_path / "model.json"
    segment(iio.imread(small / "a.png"), 2).model.save(model)
    before = snapshot(tmp_path)
    code = main(
        [
            "segment",
            str(small),
            "--model",
            str(model),
            "--save-model",
            str(model),
            "-o",
            str(out),
        ]
    )
    assert code == 2
    assert snapshot(tmp_path) == before
    assert not out.exists()  # refused before any work


def test_symlinks_in_the_output_folder_are_never_followed(small, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "precious.tif"
    tifffile.imwrite(victim, np.arange(12, dtype=np.uint8).reshape(3, 4))
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_labels.tif").symlink_to(victim)
    (out / "a_clusters.csv").symlink_to(outside / "new.csv")  # dangling
    (out / "b_labels_labels.tif").symlink_to(small / "b_labels.tif")  # an input
    os.link(small / "a.png", out / "b_labels_clusters.csv")  # an input, hard-linked
    before = snapshot(tmp_path)
    assert main(["segment", str(small), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "a_labels.tif is a symbolic link (not followed, not replaced)" in err
    assert "a_clusters.csv is a symbolic link" in err
    assert "would overwrite the input" in err and "b_labels_labels.tif" in err
    assert f"would overwrite the input {small / 'a.png'}" in err
    assert snapshot(tmp_path) == before


def test_files_this_command_did_not_write_are_never_replaced(small, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_clusters.csv").write_text("my,own,table\n1,2,3\n")
    tifffile.imwrite(out / "a_labels.tif", np.ones((5, 5), np.uint8))
    before = snapshot(tmp_path)
    assert main(["segment", str(small / "a.png"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "a_clusters.csv exists and was not written by napari-kmeans-seg" in err
    assert "a_labels.tif exists and was not written" in err
    assert snapshot(tmp_path) == before
    # its own outputs of an earlier run are replaced
    for p in out.iterdir():
        p.unlink()
    assert main(["segment", str(small / "a.png"), "-k", "2", "-o", str(out)]) == 0
    first = tifffile.imread(out / "a_labels.tif")
    assert main(["segment", str(small / "a.png"), "-k", "3", "-o", str(out)]) == 0
    assert tifffile.imread(out / "a_labels.tif").max() == 3 > first.max()
    assert sorted(p.name for p in out.iterdir()) == ["a_clusters.csv", "a_labels.tif"]


def test_cmyk_jpeg_is_read_as_colour_and_cmyk_tiff_refused(tmp_path, capsys):
    from PIL import Image
    from skimage import data

    rgb = Image.fromarray(data.astronaut()[::4, ::4])
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "cmyk.jpg"), "-k", "3", "-o", str(out)]) == 0
    labels = tifffile.imread(out / "cmyk_labels.tif")
    with Image.open(tmp_path / "cmyk.jpg") as im:
        assert im.mode == "CMYK"
        expected = segment(np.asarray(im.convert("RGB")), 3, random_state=0)
    assert labels.min() >= 1  # every pixel clustered (K is no alpha)
    np.testing.assert_array_equal(labels, expected.labels)
    assert [r["centroid_red"] for r in read_csv(out / "cmyk_clusters.csv")]

    cmyk = np.zeros((8, 8, 4), np.uint8)
    tifffile.imwrite(tmp_path / "cmyk.tif", cmyk, photometric="separated")
    assert main(["segment", str(tmp_path / "cmyk.tif"), "-o", str(out)]) == 1
    assert "a CMYK TIFF" in capsys.readouterr().err


def test_bad_option_values_are_usage_errors_before_any_work(small, tmp_path, capsys):
    out = tmp_path / "out"
    for argv in (
        ["segment", str(small), "--random-state", "-1", "-o", str(out)],
        ["segment", str(small), "--random-state", "1.5", "-o", str(out)],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "must be 0 or more, got -1" in err and "not an integer: '1.5'" in err
    assert not out.exists()
    (tmp_path / "file").write_text("")
    assert main(["segment", str(small), "-o", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


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


def test_color_features_fit_apply_and_bad_names(photos, tmp_path, capsys):
    out = tmp_path / "out"
    model_path = tmp_path / "model.json"
    argv = [
        "segment",
        str(photos / "camera.tif"),  # first: the model is fitted on astronaut
        str(photos / "astronaut.png"),
        "-k",
        "4",
        "--color-features",
        "L*,hue,S",
        "--save-model",
        str(model_path),
        "-o",
        str(out),
    ]
    assert main(argv) == 1  # the greyscale photo cannot take colour features
    captured = capsys.readouterr()
    assert "camera.tif: color_features needs an RGB(A) image" in captured.err
    astronaut = iio.imread(photos / "astronaut.png")
    chosen = ("hue", "saturation", "L*")
    reference = segment(astronaut, 4, color_features=chosen)
    np.testing.assert_array_equal(
        tifffile.imread(out / "astronaut_labels.tif"), reference.labels
    )
    model = KMeansModel.load(model_path)
    assert model.options.color_features == chosen
    rows = read_csv(out / "astronaut_clusters.csv")
    names = ("hue_cos", "hue_sin", "saturation", "L*")
    assert list(rows[0])[3:] == [f"centroid_{n}" for n in names]
    centroids = [[float(r[f"centroid_{n}"]) for n in names] for r in rows]
    np.testing.assert_array_equal(centroids, reference.centroids)

    # the saved model re-applies the same features; a contradiction is refused
    again = tmp_path / "again"
    coffee = str(photos / "coffee.jpg")
    assert main(["segment", coffee, "--model", str(model_path), "-o", str(again)]) == 0
    np.testing.assert_array_equal(
        tifffile.imread(again / "coffee_labels.tif"),
        model.predict(iio.imread(photos / "coffee.jpg")),
    )
    same = ["--color-features", "hue,saturation,l*"]
    assert (
        main(["segment", coffee, "--model", str(model_path), *same, "-o", str(again)])
        == 0
    )
    other = ["--color-features", "hue"]
    assert (
        main(["segment", coffee, "--model", str(model_path), *other, "-o", str(again)])
        == 2
    )
    assert (
        "--color-features contradicts the model model.json" in capsys.readouterr().err
    )

    for names, message in (
        ("red,teal", "unknown name 'teal'; valid names: red, green, blue, hue"),
        ("b", "'b' is ambiguous; write 'blue' (RGB) or 'b*'"),
        ("hue,H", "names 'hue' twice"),
        (",", "must name at least one"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(
                [
                    "segment",
                    coffee,
                    "--color-features",
                    names,
                    "-o",
                    str(tmp_path / "x"),
                ]
            )
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.timeout(300)
def test_warm_up_command_fills_the_cache_it_names(tmp_path):
    """``warm-up`` in a fresh process with an empty cache folder compiles the
    engine's loops into that folder, says so, and a second run finds them there
    (nothing left to compile)."""
    code = (
        "import sys\n"
        "from napari_kmeans_seg.core import engine\n"
        "from napari_kmeans_seg.cli import main\n"
        "engine.WARM_UP_KINDS = {'8-bit RGB': engine.WARM_UP_KINDS['8-bit RGB']}\n"
        "code = main(['warm-up'])\n"
        "print('compiled', engine._n_compiled())\n"
        "sys.exit(code)\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=280,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    assert "the engine is ready" in runs[0]
    assert f"cached in {tmp_path}" in runs[0]
    assert list(tmp_path.rglob("*.nbi")), "nothing was cached"
    assert "compiled 0" not in runs[0]
    assert "compiled 0" in runs[1]


@pytest.mark.parametrize("given", ["saved/", "folder", "folder" + os.sep])
def test_save_model_to_a_folder_is_a_usage_error_before_any_work(
    photos, tmp_path, monkeypatch, capsys, given
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    argv = ["segment", str(photos / "astronaut.png"), "--save-model", given]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--out", "out"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "is a folder; give a file name" in err and "model.json" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def _no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp" in p.name or "partial" in p.name]


def test_ctrl_c_while_writing_says_what_was_left_and_exits_130(
    photos, tmp_path, monkeypatch, capsys
):
    import napari_kmeans_seg.cli as cli

    checked = []
    check = cli._check_replaceable

    def interrupted(path):  # Ctrl-C once the CSV is written, before its rename
        checked.append(path)
        if len(checked) == 4:
            assert list(path.parent.glob(".*.tmp"))  # its temporary file exists
            raise KeyboardInterrupt
        check(path)

    monkeypatch.setattr(cli, "_check_replaceable", interrupted)
    out = tmp_path / "out"
    argv = ["segment", str(photos / "astronaut.png"), str(photos / "coffee.jpg")]
    code = main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 130
    assert "Traceback" not in err
    line = [t for t in err.splitlines() if "interrupted" in t]
    assert len(line) == 1
    assert "0 of 2 images done" in line[0] and "astronaut.png" in line[0]
    assert _no_temporary_files(out)
    assert not (out / "astronaut_clusters.csv").exists()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_on_the_command_line_is_one_line_and_exit_code_130(photos, tmp_path):
    import signal

    from skimage import data

    folder = tmp_path / "many"
    folder.mkdir()
    big = np.tile(data.astronaut(), (4, 4, 1))  # 2048 x 2048: a moment each
    for i in range(40):
        iio.imwrite(folder / f"p{i:02d}.png", np.roll(big, i, axis=0))
    out = tmp_path / "out"
    command = ["segment", str(folder), "--masks", "--out", str(out)]
    child = subprocess.Popen(
        [sys.executable, "-m", "napari_kmeans_seg", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a shell without job control starts its background
        # commands (a CI script, nohup) with SIGINT ignored, which the child keeps
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        first = child.stdout.readline()  # "[1/40] ..." once an image is done
        assert first.startswith("[1/40]"), first + child.stderr.read()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert len([t for t in err.splitlines() if "interrupted" in t]) == 1
    assert _no_temporary_files(out)


def test_ctrl_c_during_warm_up_is_one_line_and_exit_code_130(monkeypatch, capsys):
    from napari_kmeans_seg.core import engine

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "warm_up", interrupted)
    assert main(["warm-up"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err
