"""Cold start: the first ``segment()`` in a fresh process, with an empty numba cache
and again with the cache that the first process wrote.

    python benchmarks/bench_cold_start.py [--kinds rgb8,grey32] [--repeat 1]

Each measurement runs in a new Python process whose ``NUMBA_CACHE_DIR`` is a new
empty directory (the "cold" run), then in a second new process sharing that
directory (the "cached" run). Per image kind (256² unless said) it records the
import time, the first and the second ``segment()`` (wall and CPU time of the
process: compilation is single-threaded), and how many compiled signatures of the
engine's passes were compiled (cache misses) or loaded (cache hits). The floor
rows time what every cold start pays whatever the engine does: importing numba,
and compiling one trivial function (numba's and LLVM's start-up).

Prints a Markdown table, the command and the load average (the machine may be
shared: CPU time is the steadier figure).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

#: the child process: builds one image kind, times import and two calls, counts
#: the compiled signatures of every numba dispatcher in the package's core modules
CHILD = r"""
import json, sys, time
kind = sys.argv[1]
w0, c0 = time.perf_counter(), time.process_time()
import numba
w1 = time.perf_counter()
import numpy as np
from napari_kmeans_seg import segment
import napari_kmeans_seg.core.engine
w2, c2 = time.perf_counter(), time.process_time()

def image(kind):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256] / 255.0
    base = np.stack([xx, yy, 0.5 + 0.5 * np.sin(6 * xx * yy)], -1)
    base = base + rng.normal(0, 0.03, base.shape)
    if kind == "rgb8":
        return (np.clip(base, 0, 1) * 255).astype(np.uint8)
    if kind == "rgb16":
        return (np.clip(base, 0, 1) * 65535).astype(np.uint16)
    if kind == "rgb32f":
        return base.astype(np.float32)
    if kind == "grey8":
        return (np.clip(base[..., 2], 0, 1) * 255).astype(np.uint8)
    if kind == "grey32":
        return base[..., 2].astype(np.float32)
    raise SystemExit(f"unknown kind {kind}")

img = None if kind == "warm_up" else image(kind)
w3, c3 = time.perf_counter(), time.process_time()
if kind == "warm_up":
    napari_kmeans_seg.core.warm_up.warm_up()
else:
    segment(img, 4, random_state=0)
w4, c4 = time.perf_counter(), time.process_time()
if kind != "warm_up":
    segment(img, 4, random_state=0)
w5 = time.perf_counter()

hits = misses = 0
for name, mod in list(sys.modules.items()):
    if not name.startswith("napari_kmeans_seg.core"):
        continue
    for obj in vars(mod).values():
        if isinstance(obj, numba.core.dispatcher.Dispatcher):
            hits += sum(obj.stats.cache_hits.values())
            misses += sum(obj.stats.cache_misses.values())
print(json.dumps({
    "import_numba": w1 - w0, "import": w2 - w0, "first": w4 - w3,
    "first_cpu": c4 - c3, "second": w5 - w4, "hits": hits, "misses": misses,
}))
"""

#: the floor: importing numba, then compiling one trivial function
FLOOR = r"""
import json, time
w0 = time.perf_counter()
import numba
w1, c1 = time.perf_counter(), time.process_time()
@numba.njit
def add(a, b):
    return a + b
add(1.0, 2.0)
w2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"import_numba": w1 - w0, "first": w2 - w1, "first_cpu": c2 - c1}))
"""

KINDS = {
    "rgb8": "8-bit RGB 256²",
    "rgb16": "16-bit 3-channel 256²",
    "rgb32f": "float32 RGB 256²",
    "grey8": "8-bit greyscale 256²",
    "grey32": "float32 greyscale 256²",
    "warm_up": "`warm_up.warm_up()` (every kind the dock loads; CPU: this process)",
}


def run_child(code: str, args: list[str], cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    with tempfile.TemporaryDirectory() as cwd:  # no stray cache next to the script
        out = subprocess.run(
            [sys.executable, "-c", code, *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_run(code: str, args: list[str], repeat: int) -> tuple[dict, dict]:
    """Cold then cached runs, ``repeat`` times; the median of each field."""
    cold, cached = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache_dir:
            cold.append(run_child(code, args, cache_dir))
            cached.append(run_child(code, args, cache_dir))

    def median(runs: list[dict]) -> dict:
        return {key: sorted(r[key] for r in runs)[len(runs) // 2] for key in runs[0]}

    return median(cold), median(cached)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="rgb8,grey32", help=",".join(KINDS))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print("| case | cache | import (s) | first call (s) | first call CPU (s) |", end="")
    print(" second call (s) | compiled / loaded signatures |")
    print("|---|---|--:|--:|--:|--:|--:|")
    floor = median_run(FLOOR, [], args.repeat)[0]
    print(
        f"| floor: `import numba`, then one trivial `njit` function | empty "
        f"| {floor['import_numba']:.2f} | {floor['first']:.2f} "
        f"| {floor['first_cpu']:.2f} | | 1 / 0 |"
    )
    for kind in args.kinds.split(","):
        runs = median_run(CHILD, [kind], args.repeat)
        for label, r in zip(("empty", "written"), runs, strict=True):
            second = "" if kind == "warm_up" else f"{r['second']:.2f}"
            print(
                f"| {KINDS[kind]} | {label} | {r['import']:.2f} | {r['first']:.2f} "
                f"| {r['first_cpu']:.2f} | {second} | {r['misses']} / {r['hits']} |"
            )
    print()
    script = f"benchmarks/{os.path.basename(__file__)}"
    command = " ".join(["python", script, *sys.argv[1:]])
    print(f"Command: `{command}`")
    load = os.getloadavg()[0]
    print(f"Load average at the end: {load:.2f} ({time.strftime('%H:%M')})")


if __name__ == "__main__":
    main()
