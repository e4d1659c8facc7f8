"""The ``segment`` command on a folder of real photos: one model for the batch,
its outputs, and the inputs it reports and skips."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from batch_files import read_csv, write_photos

from napari_kmeans_seg import KMeansModel, segment
from napari_kmeans_seg.cli import main


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_photos(tmp_path_factory.mktemp("photos"))


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
