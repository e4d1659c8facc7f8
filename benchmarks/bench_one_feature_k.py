"""Benchmark one feature at many clusters: 16-bit fluorescence-like greyscale
(the global optimum by dynamic programming) and float32 greyscale (the histogram
path from its bins' optimum, for k > 8), k = 2 .. 254.

Run from the repository root with the development environment::

    .venv/bin/python benchmarks/bench_one_feature_k.py
    PYTHONPATH=../other/src .venv/bin/python benchmarks/bench_one_feature_k.py

(the second form measures another checkout's engine on the same images). For
each image and k: the fastest of ``--repeats`` calls of ``fit_predict`` (after a
warm-up on a crop), the Lloyd iterations, whether it converged and the inertia.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_engine as be

from napari_kmeans_seg.core.engine import fit_predict


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2048, help="image side")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ks", default="2,4,8,16,32,64,254")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    images = {
        "uint16 greyscale": be.sci_poisson(args.size, 1)[..., 0].reshape(-1, 1),
        "float32 greyscale": be.sci_grey(args.size).reshape(-1, 1),
    }
    print("| image | k | fit (s) | iterations | converged | inertia |")
    print("|---|--:|--:|--:|---|--:|")
    for name, X in images.items():
        fit_predict(X[: 1 << 17], n_clusters=12)  # compiled or loaded first
        for k in map(int, args.ks.split(",")):
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                fit = fit_predict(X, n_clusters=k)
                best = min(best, time.perf_counter() - start)
            print(
                f"| {name} {args.size}² | {k} | {best:.3f} | {fit.n_iter} "
                f"| {fit.converged} | {fit.inertia:.8g} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
