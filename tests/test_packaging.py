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

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TAG = "v9.8.7"

pytest.importorskip("build")
pytest.importorskip("twine")


def snapshot(dest: Path) -> Path:
    """The working tree's files (tracked and new, not ignored) copied to ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def git(cwd, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def build(src: Path, out: Path, *kinds: str) -> Path:
    subprocess.run(
        [sys.executable, "-m", "build", *kinds, "--outdir", out, src],
        check=True,
        capture_output=True,
    )
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
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
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


LOCK = ROOT / "requirements" / "lock.txt"


def fresh_venv(where: Path, *requirements: str) -> Path:
    """A new virtual environment holding ``requirements`` at the lock's versions
    (with uv when this environment has it, as scripts/test.sh installs; else pip);
    its Python."""
    venv.create(where, with_pip=shutil.which("uv") is None)
    python = where / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    uv = shutil.which("uv")
    if uv:
        command = [uv, "pip", "install", "--quiet", "--python", python]
        command += ["--constraints", LOCK, "--build-constraints", LOCK]
    else:
        # without compiling every dependency's bytecode: a good part of the time
        command = [python, "-m", "pip", "install", "-q", "--no-compile", "-c", LOCK]
    subprocess.run([*command, *requirements], check=True, capture_output=True)
    return python


def clean_env() -> dict:
    """This environment without PYTHONPATH: the fresh one's packages only, not this
    checkout's sources."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def run(*command, **kwargs) -> str:
    done = subprocess.run(
        command, env=clean_env(), capture_output=True, text=True, **kwargs
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_sdist_holds_the_package_not_the_repository(dist):
    import tarfile

    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = [n.split("/", 1)[1] for n in tf.getnames() if "/" in n]
    assert "src/napari_kmeans_seg/napari.yaml" in names
    assert "src/napari_kmeans_seg/py.typed" in names
    for left_out in ("docs/", "tests/", "benchmarks/", "scripts/", ".github/", ".ci/"):
        assert not [n for n in names if n.startswith(left_out)], left_out
    assert sdist.stat().st_size < 500_000


def test_wheel_is_typed(dist):
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert "napari_kmeans_seg/py.typed" in zf.namelist()


@pytest.mark.timeout(600)
def test_wheel_without_napari_segments_from_script_and_command_line(dist, tmp_path):
    """``pip install napari-kmeans-seg`` alone (no napari, no Qt): the core and the
    command line work, so their imports are all declared dependencies."""
    (wheel,) = dist.glob("*.whl")
    python = fresh_venv(tmp_path / "venv", str(wheel))
    code = (
        "import importlib.util as u\n"
        "assert u.find_spec('napari') is None and u.find_spec('qtpy') is None\n"
        "import numpy as np, napari_kmeans_seg as nks\n"
        "img = np.zeros((20, 30, 3), np.uint8)\n"
        "img[:, 10:] = 200\n"
        "img[:, 20:, 0] = 90\n"
        "r = nks.segment(img, n_clusters=3, random_state=0)\n"
        "print(sorted(np.unique(r.labels).tolist()))\n"
    )
    assert run(python, "-c", code).split() == ["[1,", "2,", "3]"]
    from PIL import Image

    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[:, 8:] = (250, 10, 10)
    Image.fromarray(rgb).save(tmp_path / "two.png")
    script = python.parent / ("napari-kmeans-seg" + (".exe" * (os.name == "nt")))
    out = tmp_path / "out"
    run(script, "segment", tmp_path / "two.png", "-k", "2", "--out", out)
    assert (out / "two_labels.tif").is_file()
    assert (out / "two_clusters.csv").is_file()


@pytest.mark.timeout(600)
def test_wheel_in_fresh_venv_is_discovered_by_napari(dist, tmp_path):
    (wheel,) = dist.glob("*.whl")
    python = fresh_venv(tmp_path / "venv", f"{wheel}[all]")
    listed = run(python, "-m", "npe2", "list")
    assert "napari-kmeans-seg" in listed
    code = "import napari_kmeans_seg; print(napari_kmeans_seg.__version__)"
    assert run(python, "-c", code).strip() == TAG.removeprefix("v")
    run(python, "-m", "npe2", "validate", "napari-kmeans-seg", "--imports")
