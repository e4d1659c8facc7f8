"""Release readiness: the sdist and wheel build, pass ``twine check``, and the wheel
installed into a fresh virtual environment is discovered by napari (npe2)."""

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("build")
pytest.importorskip("twine")


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", out, ROOT],
        check=True,
        capture_output=True,
    )
    return out


def test_wheel_and_sdist_pass_twine_check(dist):
    files = sorted(dist.iterdir())
    assert sorted(f.suffix for f in files) == [".gz", ".whl"]
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, files)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_holds_the_manifest_and_entry_point(dist):
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "napari_kmeans_seg/napari.yaml" in names
        (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
        text = zf.read(entry_points).decode()
    assert "[napari.manifest]" in text
    assert "napari-kmeans-seg = napari_kmeans_seg:napari.yaml" in text


def test_wheel_in_fresh_venv_is_discovered_by_napari(dist, tmp_path):
    (wheel,) = dist.glob("*.whl")
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", f"{wheel}[all]"],
        check=True,
        capture_output=True,
    )
    listed = subprocess.run(
        [python, "-m", "npe2", "list"], check=True, capture_output=True, text=True
    ).stdout
    assert "napari-kmeans-seg" in listed
    subprocess.run(
        [python, "-m", "npe2", "validate", "napari-kmeans-seg", "--imports"],
        check=True,
        capture_output=True,
    )
