"""A damaged numba cache costs a recompilation and a warning, never a failure.

numba reads its cache lazily, at the first call of each compiled pass, with
pickle: a data file cut short (a full disk, a killed process) or an index
overwritten with rubbish would otherwise make every ``segment()`` fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: segments one image and reports its labels and the cache hits and misses
CHILD = r"""
import json, sys
import numba, numpy as np
from napari_kmeans_seg import segment

rng = np.random.default_rng(0)
rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
labels = segment(rgb, 3, random_state=0).labels
hits = misses = 0
for name, mod in list(sys.modules.items()):
    if name.startswith("napari_kmeans_seg.core"):
        for obj in vars(mod).values():
            if isinstance(obj, numba.core.dispatcher.Dispatcher):
                hits += sum(obj.stats.cache_hits.values())
                misses += sum(obj.stats.cache_misses.values())
print(json.dumps({"labels": labels.tolist(), "hits": hits, "misses": misses}))
"""


def _run(cache: Path) -> tuple[dict, str]:
    """One fresh process with numba's cache in ``cache``: its report and stderr."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _damage(cache: Path) -> Path:
    """Cut every data file to half its length and fill one index with rubbish;
    returns the folder that holds them."""
    data = sorted(cache.rglob("*.nbc"))
    index = sorted(cache.rglob("*.nbi"))
    assert data and index
    for path in data:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    index[-1].write_bytes(b"garbage\n")
    return index[-1].parent


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_damaged_cache_is_recompiled_with_a_warning(tmp_path):
    cache = tmp_path / "numba-cache"
    first, _ = _run(cache)
    assert first["misses"] > 0
    folder = _damage(cache)
    second, stderr = _run(cache)
    assert second["labels"] == first["labels"]
    assert second["misses"] > 0
    assert str(folder) in stderr and "damaged" in stderr
    assert list(folder.glob("*.damaged"))  # set aside, not silently deleted
    third, stderr = _run(cache)  # the cache was rewritten whole
    assert third["labels"] == first["labels"]
    assert third["misses"] == 0 and third["hits"] > 0
    assert "damaged" not in stderr
