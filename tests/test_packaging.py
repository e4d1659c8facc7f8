"""Release readiness: the sdist and wheel build with their version from the git tag,
pass ``twine check``, and the wheel installed into a fresh virtual environment is
discovered by napari (npe2)."""

import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TAG = "v9.8.7"

pytest.importorskip("build")
pytest.importorskip("twine")


def snapshot(dest: Path) -> Path:
    """The working tree's files (tracked and new, not ignored) copied to ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def git(cwd, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd, check=True, capture_output=True,
    )  # fmt: skip


def build(src: Path, out: Path, *kinds: str) -> Path:
    subprocess.run(
        [sys.executable, "-m", "build", *kinds, "--outdir", out, src],
        check=True, capture_output=True,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """sdist and wheel of the working tree committed in a fresh repository and
    tagged :data:`TAG`."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to build (setuptools-scm)")
    src = snapshot(tmp_path_factory.mktemp("src"))
    git(src, "init", "-q")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "release")
    git(src, "tag", TAG)
    return build(src, tmp_path_factory.mktemp("dist"), "--sdist", "--wheel")


@pytest.mark.timeout(300)
def test_version_is_the_git_tag(dist):
    version = TAG.removeprefix("v")
    (wheel,) = dist.glob("*.whl")
    assert wheel.name.startswith(f"napari_kmeans_seg-{version}-")
    with zipfile.ZipFile(wheel) as zf:
        written = zf.read("napari_kmeans_seg/_version.py").decode()
    assert f"version = '{version}'" in written or f'version = "{version}"' in written
    (sdist,) = dist.glob("*.tar.gz")
    assert sdist.name == f"napari_kmeans_seg-{version}.tar.gz"


@pytest.mark.timeout(120)
def test_sources_without_git_get_the_fallback_version(tmp_path):
    """A download of the sources without their history still installs: the
    version is setuptools-scm's fallback."""
    pytest.importorskip("setuptools_scm")
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    fallback = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "setuptools_scm"
    ]["fallback_version"]
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}
    version = subprocess.run(
        [sys.executable, "-m", "setuptools_scm", "-c", tmp_path / "pyproject.toml"],
        cwd=tmp_path, env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert version == fallback


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
    # the fresh environment only, not this checkout's sources
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    python = env / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    # without compiling every dependency's bytecode: a good part of the time
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-compile", f"{wheel}[all]"],
        check=True,
        capture_output=True,
    )
    listed = subprocess.run(
        [python, "-m", "npe2", "list"], env=clean, check=True, capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    assert "napari-kmeans-seg" in listed
    code = "import napari_kmeans_seg; print(napari_kmeans_seg.__version__)"
    version = subprocess.run(
        [python, "-c", code], env=clean, check=True, capture_output=True, text=True
    ).stdout.strip()
    assert version == TAG.removeprefix("v")
    subprocess.run(
        [python, "-m", "npe2", "validate", "napari-kmeans-seg", "--imports"],
        env=clean,
        check=True,
        capture_output=True,
    )
