"""Benchmark the engine's one-feature (greyscale) path against one ``np.sum``.

Run from the repository root with the development environment::

    .venv/bin/python benchmarks/bench_one_feature.py
    .venv/bin/python benchmarks/bench_one_feature.py --repeats 9 --ks 2,4,8

The images are made by the script: the 4096² float32 greyscale image of
``bench_engine.py``'s scientific cases (``sci_grey``), the same as float64, and as
uint16 (scaled to 0…65535). For each image and k, in one process and side by side:

- ``segment(image, k, random_state=0)``, the call a user makes;
- ``fit_predict(X, n_clusters=k, random_state=0)`` on the image's ``(n, 1)`` rows
  (for float data up to 8 clusters, starts from a sample of the rows and one
  pass; the histogram path otherwise);
- the same with the one-pass path switched off (the histogram path, as before it);
- one ``np.sum`` over the image.

Each figure is the fastest of ``--repeats`` calls (after one untimed call, so
numba's compilation is not timed), in wall-clock time and in the process's CPU
time (all threads). Every result is checked to be an exact Lloyd
fixed point on every value in float64 (each value on its nearest centroid, each
centroid the mean of its values). The script prints a Markdown table, the load
average around the run (the figures of a loaded machine are slower, the ratios
from one process still compare) and the command.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import sci_grey

from napari_kmeans_seg import segment
from napari_kmeans_seg.core.engine import fit_predict
from napari_kmeans_seg.core.fit import fast_1d as one_feature


def fastest(fn, repeats: int) -> tuple[float, float]:
    """Seconds of the fastest of ``repeats`` calls of ``fn``: wall-clock time and
    CPU time of the process (all threads; less disturbed by other processes)."""
    wall = cpu = np.inf
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def is_fixed_point(X: np.ndarray, fit) -> bool:
    """Every value on its nearest centroid (ties within rounding), every centroid
    the float64 mean of its values."""
    V = X[:, 0].astype(np.float64)
    lab = fit.labels.astype(np.int64) - 1
    C = fit.centroids[:, 0]
    order = np.argsort(C)
    Cs = C[order]
    nearest = order[np.searchsorted(0.5 * (Cs[:-1] + Cs[1:]), V, "left")]
    own, best = (V - C[lab]) ** 2, (V - C[nearest]) ** 2
    if np.any(own > best + 1e-12 * np.maximum(V**2, np.max(C**2))):
        return False
    counts = np.bincount(lab, minlength=C.size)
    means = np.bincount(lab, V, C.size) / counts
    return bool(np.allclose(means, C, rtol=1e-12, atol=0))


def images(n: int) -> dict[str, np.ndarray]:
    grey = sci_grey(n)
    return {
        f"float32 greyscale {n}²": grey,
        f"float64 greyscale {n}²": grey.astype(np.float64),
        f"uint16 greyscale {n}²": (grey.clip(0, 1) * 65535).astype(np.uint16),
    }


def run_image(name: str, img: np.ndarray, ks, repeats: int) -> list[str]:
    X = img.reshape(-1, 1)
    t_sum, c_sum = fastest(lambda: np.sum(img), 3 * repeats)
    rows = [
        f"#### {name}: {X.shape[0]:,} values, {img.dtype}, "
        f"input {img.nbytes / 2**20:.0f} MiB; one `np.sum`: {t_sum * 1e3:.1f} ms "
        f"({c_sum * 1e3:.1f} ms CPU)",
        "",
        "| k | segment() (ms) | / np.sum | ours (ms) | ours / np.sum | "
        "histogram path (ms) | ratio | CPU ms: ours, histogram path | iterations | "
        "fixed point | inertia ours / histogram path |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|",
    ]
    for k in ks:
        segment(img, k, random_state=0)
        t_seg, _ = fastest(lambda k=k: segment(img, k, random_state=0), repeats)
        fit = fit_predict(X, n_clusters=k, random_state=0)
        t_ours, c_ours = fastest(lambda k=k: fit_predict(X, n_clusters=k), repeats)
        saved = one_feature._FAST_MAX_K
        one_feature._FAST_MAX_K = 0  # the histogram path only
        try:
            old = fit_predict(X, n_clusters=k, random_state=0)
            t_old, c_old = fastest(lambda k=k: fit_predict(X, n_clusters=k), repeats)
        finally:
            one_feature._FAST_MAX_K = saved
        ok = "yes" if is_fixed_point(X, fit) and fit.converged else "no"
        rows.append(
            f"| {k} | {t_seg * 1e3:.1f} | {t_seg / t_sum:.1f}x | "
            f"{t_ours * 1e3:.1f} | {t_ours / t_sum:.1f}x | "
            f"{t_old * 1e3:.1f} | {t_old / t_ours:.1f}x | "
            f"{c_ours * 1e3:.0f}, {c_old * 1e3:.0f} | {fit.n_iter} | {ok} | "
            f"{fit.inertia / old.inertia:.6f} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return [*rows, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="image side")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ks", default="2,4,8,16,32")
    parser.add_argument(
        "--only", choices=["float32", "float64", "uint16"], help="one image only"
    )
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    load_before = os.getloadavg()
    out = []
    for name, img in images(args.size).items():
        if args.only is None or name.startswith(args.only):
            out += run_image(name, img, ks, args.repeats)
    before, after = (
        ", ".join(f"{v:.1f}" for v in load) for load in (load_before, os.getloadavg())
    )
    out.append(
        f"- load average (1, 5, 15 min) before: {before}; after: {after}; "
        f"nproc {os.cpu_count()}"
    )
    out.append(f"- command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
