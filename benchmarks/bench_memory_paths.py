"""Peak memory of ``segment`` beyond its input on the kinds issue #28 names.

Run from the repository root::

    .venv/bin/python benchmarks/bench_memory_paths.py

Each case runs in a fresh child process: one warm-up call (compiled code loaded),
then the peak RSS of a second call over the RSS before it (``VmHWM`` reset
through ``/proc/self/clear_refs``; glibc's allocator returns large blocks at once,
``MALLOC_MMAP_THRESHOLD_`` = 128 KiB), beside the input's and the labels' sizes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import sys
sys.path.insert(0, {here!r})
from bench_engine import _astronaut_4k, _reset_hwm, _status_kb, sci_poisson
from napari_kmeans_seg import segment
name, k = sys.argv[1], int(sys.argv[2])
import numpy as np
noise = lambda: np.random.default_rng(8).integers(0, 256, (2048, 2048, 3), np.uint8)
image = {{"4K photo uint8 RGB": _astronaut_4k,
          "uint16 3-channel 2048²": lambda: sci_poisson(2048, 3),
          "random uint8 RGB 2048²": noise}}[name]()
segment(image, k)
_reset_hwm()
before = _status_kb("VmRSS")
segment(image, k)
peak = (_status_kb("VmHWM") - before) / 1024
n = image.shape[0] * image.shape[1]
print(f"| {{name}} | {{k}} | {{peak:.1f}} | {{image.nbytes / 2**20:.1f}} | "
      f"{{n / 2**20:.1f}} | {{(peak - n / 2**20) / (image.nbytes / 2**20):.2f}} |")
"""

CASES = [
    ("4K photo uint8 RGB", 8),
    ("4K photo uint8 RGB", 64),
    ("uint16 3-channel 2048²", 8),
    ("random uint8 RGB 2048²", 64),
]


def main() -> None:
    print("| image | k | peak MiB | input MiB | labels MiB | (peak - labels) / input |")
    print("|---|--:|--:|--:|--:|--:|")
    env = {"MALLOC_MMAP_THRESHOLD_": "131072", "PATH": "/usr/bin:/bin"}
    code = CHILD.format(here=str(HERE))
    for name, k in CASES:
        out = subprocess.run(
            [sys.executable, "-c", code, name, str(k)],
            capture_output=True,
            text=True,
            env=env,
        )
        print(out.stdout.strip() or out.stderr[-400:], flush=True)


if __name__ == "__main__":
    main()
