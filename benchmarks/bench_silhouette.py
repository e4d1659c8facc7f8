"""Suggest k's silhouette: the project's one-pass computation for all k against
``sklearn.metrics.silhouette_score`` called once per k, on the same points.

    python benchmarks/bench_silhouette.py [--sizes 2000,5000] [--ks 2-10]

Prints the time of each (fastest of 3) and checks that the scores agree.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import silhouette_score

from napari_kmeans_seg.core.suggest import silhouette_scores


def fastest(fn, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,5000")
    parser.add_argument("--ks", default="2-10")
    args = parser.parse_args()
    lo, hi = (int(v) for v in args.ks.split("-"))
    ks = list(range(lo, hi + 1))
    rng = np.random.default_rng(0)
    print("| points | k | ours (s) | scikit-learn (s) | ratio | same scores |")
    print("|--:|---|--:|--:|--:|---|")
    for n in (int(v) for v in args.sizes.split(",")):
        points = rng.random((n, 3)) * 255
        labels = [rng.integers(0, k, n) for k in ks]
        ours = silhouette_scores(points, labels, ks)
        theirs = [silhouette_score(points, lab) for lab in labels]
        t_ours = fastest(lambda: silhouette_scores(points, labels, ks))  # noqa: B023
        t_sk = fastest(
            lambda: [silhouette_score(points, lab) for lab in labels]  # noqa: B023
        )
        same = bool(np.allclose(ours, theirs, rtol=1e-9, atol=1e-12))
        print(
            f"| {n} | {lo}-{hi} | {t_ours:.3f} | {t_sk:.3f} | "
            f"{t_sk / t_ours:.1f}x | {same} |"
        )


if __name__ == "__main__":
    main()
