"""Model files: only regular files, bounded size and nesting, every failure a
ValueError naming the file, centroids of a sane magnitude."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from napari_kmeans_seg import KMeansModel, segment
from napari_kmeans_seg.core.model_io import MAX_FILE_BYTES


@pytest.fixture
def saved(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    model = segment(image, 3).model
    return model, model.save(tmp_path / "m.json")


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"m.json: not a regular file"):
        KMeansModel.load(tmp_path.joinpath("m.json").mkdir() or tmp_path / "m.json")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.timeout(30)
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "m.json"
    os.mkfifo(fifo)
    code = (
        "from napari_kmeans_seg import KMeansModel\n"
        f"try:\n    KMeansModel.load({str(fifo)!r})\n"
        "except ValueError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20
    )
    assert "not a regular file" in out.stdout, out.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.timeout(30)
def test_dev_zero_is_refused():
    with pytest.raises(ValueError, match="zero: not a regular file"):
        KMeansModel.load("/dev/zero")


def test_a_huge_file_is_refused_unread(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(ValueError, match=r"big.json: .*larger than"):
        KMeansModel.load(big)


@pytest.mark.timeout(30)
def test_deep_nesting_is_a_value_error_not_recursion(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"deep.json: .*nested deeper"):
        KMeansModel.load(deep)


def test_brackets_inside_strings_do_not_count_as_nesting(saved):
    _, path = saved
    data = json.loads(path.read_text())
    data["cluster_names"] = ["[[[[[[[[[[[[[[[[[[[[[[", "a", "b"]
    path.write_text(json.dumps(data))
    assert KMeansModel.load(path).cluster_names[0].startswith("[[[")


def test_not_utf8_is_a_value_error_naming_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match=r"bad.json"):
        KMeansModel.load(bad)


@pytest.mark.parametrize("value", [1e200, -1e200])
def test_huge_centroids_are_refused(saved, value):
    model, path = saved
    data = json.loads(path.read_text())
    data["centroids"][0][0] = value
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"m.json: .*magnitude"):
        KMeansModel.load(path)
    with pytest.raises(ValueError, match="magnitude"):
        KMeansModel(np.array([[value], [1.0]]), model.layout.__class__(None, 1))


@pytest.mark.parametrize("given", ["out/", "out" + os.sep + os.sep, "folder", "."])
def test_saving_to_a_folder_is_refused_and_says_to_give_a_file_name(
    saved, tmp_path, monkeypatch, given
):
    model, _ = saved
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(IsADirectoryError, match="give a file name") as refused:
        model.save(given)
    assert "model.json" in str(refused.value)  # an example of what to give
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_saving_into_a_missing_folder_names_the_folder(saved, tmp_path):
    model, _ = saved
    with pytest.raises(FileNotFoundError, match="missing") as refused:
        model.save(tmp_path / "missing" / "m.json")
    assert ".tmp" not in str(refused.value)  # not our temporary name
    assert not (tmp_path / "missing").exists()


def test_saving_over_a_symlink_to_a_folder_is_refused(saved, tmp_path):
    model, _ = saved
    (tmp_path / "folder").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "folder")
    with pytest.raises(IsADirectoryError, match="give a file name"):
        model.save(tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and not any((tmp_path / "folder").iterdir())
