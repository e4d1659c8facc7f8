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
    assert main(["segment", str(photos / "coffee.jpg"), "-k", "4", "--model",
                 str(model_path), "-o", str(out)]) == 0  # fmt: skip
    assert main(["segment", str(photos / "coffee.jpg"), "-k", "3", "--model",
                 str(model_path), "-o", str(out)]) == 2  # fmt: skip
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
        ["segment", str(folder), "--model", str(tmp_path / "named.json"), "--masks",
         "--out", str(out)]
    )  # fmt: skip
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
    for word in ("--n-clusters", "--model", "--save-model", "--masks",
                 "--random-state", "--out", "INPUT", "_labels.tif",
                 "_clusters.csv", "Exit"):  # fmt: skip
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
        ["segment", str(photos / "coffee.jpg"), str(tmp_path / "missing.png"),
         "--out", str(tmp_path)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert "1/1" in captured.err and "image" in captured.err  # the tqdm bar
    assert "[1/1]" not in captured.out  # no per-file lines with a bar
    assert "missing.png: no such file or folder" in captured.err
