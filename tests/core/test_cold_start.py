"""Compiled passes are cached per user when the package folder is read-only.

A copy of the installed package is made read-only and imported by an unprivileged
user (``nobody``) in two fresh processes: the first compiles the passes and must
write them to that user's cache folder (``$XDG_CACHE_HOME/numba``, or, without a
writable home, a private folder in the temporary directory), the second must load
every pass from there and compile nothing, and neither may write into the package
folder.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

import napari_kmeans_seg
from napari_kmeans_seg.core import compile_cache

NOBODY = 65534

#: run by the unprivileged user: segments two kinds of image, reports where the
#: package came from, whether it could write there, and the cache hits and misses
CHILD = r"""
import json, os, sys
import numba, numpy as np
import napari_kmeans_seg
from napari_kmeans_seg import segment

rng = np.random.default_rng(0)
rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
grey = rng.random((64, 64), dtype=np.float32)
first = segment(rgb, 3, random_state=0)
segment(grey, 3, random_state=0)
hits = misses = 0
for name, mod in list(sys.modules.items()):
    if name.startswith("napari_kmeans_seg.core"):
        for obj in vars(mod).values():
            if isinstance(obj, numba.core.dispatcher.Dispatcher):
                hits += sum(obj.stats.cache_hits.values())
                misses += sum(obj.stats.cache_misses.values())
package = os.path.dirname(napari_kmeans_seg.__file__)
print(json.dumps({
    "package": package, "writable": os.access(package, os.W_OK),
    "uid": os.geteuid(), "hits": hits, "misses": misses,
    "labels": first.labels.tolist(),
}))
"""


def _can_run(argv: list[str], env: dict, cwd: Path) -> bool:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=120)
    return done.returncode == 0


def _as_nobody(argv: list[str]) -> list[str]:
    return [
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        *argv,
    ]


def _linked_interpreter(root: Path) -> tuple[str, dict]:
    """This interpreter and its standard library, hard-linked under ``root``: for
    when it lives in a folder other users cannot enter (such as ``/root``).
    Returns the executable and the environment variables it needs."""
    prefix = root / "python"
    exe = prefix / "bin" / Path(sys.executable).resolve().name
    exe.parent.mkdir(parents=True)
    os.link(Path(sys.executable).resolve(), exe)
    libdir = Path(sysconfig.get_config_var("LIBDIR") or "")
    libpython = libdir / (sysconfig.get_config_var("INSTSONAME") or "none")
    (prefix / "lib").mkdir()
    if libpython.is_file():  # a shared libpython, found through LD_LIBRARY_PATH
        os.link(libpython, prefix / "lib" / libpython.name)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    shutil.copytree(
        stdlib,
        prefix / "lib" / stdlib.name,
        copy_function=os.link,
        ignore=shutil.ignore_patterns("site-packages"),
    )
    for path in prefix.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    return str(exe), {"LD_LIBRARY_PATH": str(prefix / "lib")}


def _read_only_copy(root: Path) -> Path:
    """The installed package copied under ``root/site``, files and folders made
    read-only for everyone but root (no compiled caches copied)."""
    source = Path(napari_kmeans_seg.__file__).parent
    target = root / "site" / source.name
    shutil.copytree(
        source, target, ignore=shutil.ignore_patterns("__pycache__", "*.nb[ic]")
    )
    for path in [*target.rglob("*"), target]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    (root / "site").chmod(0o555)
    return target


def _snapshot(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    }


def _setup(root: Path, env: dict) -> tuple[list[str], dict, Path]:
    """The command, environment (``env`` added) and package copy for the child
    runs (skips the test when no unprivileged user can run Python here)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run Python as the user 'nobody'")
    root.chmod(0o755)
    package = _read_only_copy(root)
    paths = [str(root / "site"), *site.getsitepackages()]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join(paths),
        "PYTHONNOUSERSITE": "1",
        **env,
    }  # no NUMBA_CACHE_DIR: the cache folder must be found without it
    python = sys.executable
    probe = ["-c", "import numba, numpy"]
    if not _can_run(_as_nobody([python, *probe]), env, root):
        try:
            python, extra = _linked_interpreter(root)
        except OSError as exc:  # another file system: no hard links
            pytest.skip(f"'nobody' cannot run {sys.executable} here ({exc})")
        env.update(extra)
        if not _can_run(_as_nobody([python, *probe]), env, root):
            pytest.skip("'nobody' cannot import numba from this environment")
    return _as_nobody([python, "-c", CHILD]), env, package


def _user_dir(root: Path, name: str, mode: int = 0o700) -> Path:
    path = root / name
    path.mkdir()
    os.chown(path, NOBODY, NOBODY)
    path.chmod(mode)
    return path


def _run_twice(root: Path, env: dict) -> tuple[dict, dict, Path]:
    """Both child runs: their reports and the package copy, after checking that
    they ran as ``nobody`` on that copy, which they could not write to and did
    not change."""
    command, env, package = _setup(root, env)
    before = _snapshot(package)
    runs = []
    for _ in range(2):
        done = subprocess.run(
            command, env=env, cwd=root, capture_output=True, text=True, timeout=280
        )
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert runs[0]["uid"] == NOBODY and runs[0]["package"] == str(package)
    assert not runs[0]["writable"]
    assert _snapshot(package) == before  # nothing written into the package
    return runs[0], runs[1], package


def _check_cached(cold: dict, warm: dict, folder: Path) -> None:
    """The first run compiled, the second loaded every pass from ``folder``."""
    assert cold["misses"] > 0 and cold["hits"] == 0
    assert warm["misses"] == 0 and warm["hits"] > 0
    assert warm["labels"] == cold["labels"]
    cached = list(folder.rglob("*.nbc"))
    assert cached and all(p.stat().st_uid == NOBODY for p in cached)


@pytest.fixture
def root():
    """A scratch folder that the user ``nobody`` can enter."""
    path = Path(tempfile.mkdtemp(prefix="kmeans-seg-cold-"))
    path.chmod(0o755)
    yield path
    for sub in path.rglob("*"):  # give the folders back their write bit
        if sub.is_dir() and not sub.is_symlink():
            sub.chmod(sub.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_read_only_package_cached_in_user_cache_folder(root):
    home = _user_dir(root, "home")
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    cold, warm, _ = _run_twice(root, env)
    _check_cached(cold, warm, home / ".cache" / "numba")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_read_only_package_and_home_cached_in_private_temp_folder(root):
    home = _user_dir(root, "home", mode=0o555)  # exists, not writable
    tmp = _user_dir(root, "tmp")
    env = {"HOME": str(home), "TMPDIR": str(tmp)}
    cold, warm, _ = _run_twice(root, env)
    _check_cached(cold, warm, tmp / f"napari-kmeans-seg-numba-{NOBODY}")
    assert not list(home.rglob("*"))


def test_private_temp_folder_not_trusted_when_others_can_write(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = compile_cache.private_temp_dir()
    assert folder is not None and Path(folder).parent == tmp_path
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    Path(folder).chmod(0o777)  # planted, or opened up, by someone else
    assert compile_cache.private_temp_dir() is None


#: run with an empty numba cache: warm up, then segment images of the common kinds
#: as a user passes them, printing how many functions each call compiled
WARM_CHILD = r"""
import json, sys, numba, numpy as np
from napari_kmeans_seg import segment
from napari_kmeans_seg.core import warm_up as engine

def n_compiled():
    return sum(
        sum(obj.stats.cache_misses.values())
        for name, module in list(sys.modules.items())
        if name.startswith("napari_kmeans_seg.core")
        for obj in list(vars(module).values())
        if isinstance(obj, numba.core.dispatcher.Dispatcher)
    )

engine.warm_up()
rng = np.random.default_rng(1)
rgb = rng.random((96, 96, 3))
images = {
    "8-bit RGB": ((rgb * 255).astype(np.uint8), {}),
    "8-bit RGBA": ((np.dstack([rgb, np.ones((96, 96))]) * 255).astype(np.uint8), {}),
    "16-bit 3 channels": ((rgb * 65535).astype(np.uint16), {"channel_axis": 2}),
    "16-bit 2 channels, channels first": (
        (np.moveaxis(rgb[..., :2], 2, 0) * 4095).astype(np.uint16), {"channel_axis": 0}
    ),
    "8-bit greyscale": ((rgb[..., 0] * 255).astype(np.uint8), {}),
    "16-bit greyscale": ((rgb[..., 0] * 4095).astype(np.uint16), {}),
    "float32 greyscale": (rgb[..., 0].astype(np.float32).copy(), {}),
    "float32 RGB": (rgb.astype(np.float32), {}),
    "float64 greyscale": (rgb[..., 0].copy(), {}),
    "float64 RGB": (rgb, {}),
    "8-bit RGB, masked": ((rgb * 255).astype(np.uint8), {"mask": rgb[..., 0] > 0.3}),
    "8-bit RGB, Gaussian mixture": ((rgb * 255).astype(np.uint8), {"mixture": "full"}),
    "8-bit RGB of few colours, Gaussian mixture": (
        (rgb * 15).astype(np.uint8) * 16, {"mixture": "diag"}
    ),
    "float32 RGB, Gaussian mixture": (rgb.astype(np.float32), {"mixture": "full"}),
    # large images of nearly distinct pixels take the engine's per-pixel way
    "float32 RGB 512x512": (rng.random((512, 512, 3)).astype(np.float32), {}),
    "16-bit 5 channels 512x512": (
        rng.integers(0, 4096, (512, 512, 5)).astype(np.uint16), {"channel_axis": 2}
    ),
}
compiled = {}
for name, (image, options) in images.items():
    before = n_compiled()
    segment(image, 4, random_state=0, **options)
    compiled[name] = n_compiled() - before
print(json.dumps(compiled))
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_after_warm_up_first_segment_of_common_kinds_compiles_nothing(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    done = subprocess.run(
        [sys.executable, "-c", WARM_CHILD],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=290,
    )
    assert done.returncode == 0, done.stderr
    compiled = json.loads(done.stdout.strip().splitlines()[-1])
    assert compiled == dict.fromkeys(compiled, 0)
