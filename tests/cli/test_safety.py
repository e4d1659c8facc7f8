"""Never lose data: no output overwrites an input, a file this command did not
write or a symbolic link, and a refused run writes nothing."""

import os

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from batch_files import snapshot, write_small

from napari_kmeans_seg import segment
from napari_kmeans_seg.cli import main


@pytest.fixture
def small(tmp_path):
    return write_small(tmp_path / "in")


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
