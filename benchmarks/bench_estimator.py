"""Benchmark ``ExactKMeans`` (the exact engine as a scikit-learn estimator) against
``sklearn.cluster.KMeans`` on low-dimensional data.

Run from the repository root with the development environment::

    .venv/bin/python benchmarks/bench_estimator.py             # 1e6 x 3, k = 8
    .venv/bin/python benchmarks/bench_estimator.py --n 200000 --repeats 5
    .venv/bin/python benchmarks/bench_estimator.py --wide 1000 --n 2000 --k 5
    .venv/bin/python benchmarks/bench_estimator.py --wide-shapes --repeats 5

Cases (``--n`` rows each):

- ``blobs``: float64, 3 features, 8 Gaussian blobs (``make_blobs``, std 2);
- with ``--wide D`` instead: ``wide``, float64 Gaussian noise with ``D`` features
  (half the rows shifted by 0.3 in every feature), where distances go through
  BLAS; ``ExactKMeans(n_init=1)`` is timed too;
- with ``--wide-shapes`` instead: the ``wide`` data in several shapes (rows x
  features, k in :data:`WIDE_SHAPES`), float64 and float32 (given as they are to
  ``ExactKMeans``, as float64 to scikit-learn); only ``ExactKMeans(n_init=1)``
  and ``KMeans`` with one start (``tol`` its default and 0) are timed, from the
  same k-means++ start (the same seed);
- ``photos``: uint8 RGB pixels of scikit-image's sample photos, repeated to ``--n``
  rows (given as uint8 to ``ExactKMeans``, as float64 to scikit-learn, which
  converts integers to float64 itself).

Each method is timed ``--repeats`` times, the calls interleaved, and the fastest
is kept; ``fit`` is timed from the array to ``labels_``/``cluster_centers_``
(numba's compilation is done on a small warm-up fit first). Methods:

a. ``ExactKMeans(n_clusters=k, random_state=0)`` (its default ``n_init=4``);
b. ``KMeans(n_clusters=k, random_state=0)`` (scikit-learn's default: one
   k-means++ start, ``tol=1e-4``);
c. ``KMeans(n_clusters=k, n_init=4, random_state=0)`` (as many starts as a).

Inertia is each estimator's ``inertia_`` (sum of squared distances, float64).
The script prints a Markdown table with the ratios time(KMeans) / time(ExactKMeans)
and the command line.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from napari_kmeans_seg.core.estimator import ExactKMeans


def photo_pixels(n: int) -> np.ndarray:
    from skimage import data

    pixels = np.concatenate(
        [
            im.reshape(-1, 3)
            for im in (data.astronaut(), data.coffee(), data.chelsea(), data.rocket())
        ]
    )
    return np.resize(pixels, (n, 3))


def cases(n: int) -> dict[str, np.ndarray]:
    blobs = make_blobs(n, n_features=3, centers=8, cluster_std=2.0, random_state=0)
    return {"blobs": blobs[0], "photos": photo_pixels(n)}


def wide_case(n: int, d: int) -> dict[str, np.ndarray]:
    X = np.random.default_rng(0).normal(size=(n, d))
    X[: n // 2] += 0.3
    return {"wide": X}


#: (rows, features, k) of ``--wide-shapes``
WIDE_SHAPES = [
    (2000, 1000, 5),
    (20_000, 64, 5),
    (20_000, 64, 20),
    (5000, 256, 5),
    (5000, 256, 20),
]


def one_start(k: int) -> dict:
    """``ExactKMeans`` and ``KMeans`` from one k-means++ start (the same seed)."""
    return {
        "ExactKMeans": lambda X: ExactKMeans(k, n_init=1, random_state=0).fit(X),
        "KMeans n_init=1": lambda X: KMeans(k, n_init=1, random_state=0).fit(
            X.astype(np.float64, copy=False)
        ),
        "KMeans n_init=1 tol=0": lambda X: KMeans(
            k, n_init=1, tol=0.0, random_state=0
        ).fit(X.astype(np.float64, copy=False)),
    }


def wide_shapes(repeats: int) -> list[str]:
    """Table rows of every :data:`WIDE_SHAPES` case, float64 and float32."""
    rows = []
    for n, d, k in WIDE_SHAPES:
        X = wide_case(n, d)["wide"]
        for data in (X, X.astype(np.float32)):
            res = fastest(one_start(k), data, repeats)
            name = f"{n}x{d} {data.dtype} k={k}"
            rows += table_rows(name, res)
    return rows


def table_rows(name: str, res: dict[str, tuple[float, float]]) -> list[str]:
    """Markdown rows of one case, each method's time and inertia against ours."""
    rows = []
    ours, ours_inertia = res["ExactKMeans"]
    for method, (dt, inertia) in res.items():
        ratio = "1" if method == "ExactKMeans" else f"{dt / ours:.2f}x"
        rel = (inertia - ours_inertia) / ours_inertia
        rows.append(
            f"| {name} | {method} | {dt:.3f} | {ratio} | {inertia:.6e} | {rel:+.2e} |"
        )
        print(rows[-1], flush=True)
    return rows


def methods(k: int, wide: bool = False) -> dict:
    more = {}
    if wide:
        more["ExactKMeans n_init=1"] = lambda X: ExactKMeans(
            k, n_init=1, random_state=0
        ).fit(X)
    return {
        "ExactKMeans": lambda X: ExactKMeans(k, random_state=0).fit(X),
        **more,
        "KMeans n_init=1": lambda X: KMeans(k, random_state=0).fit(
            X.astype(np.float64, copy=False)
        ),
        "KMeans n_init=4": lambda X: KMeans(k, n_init=4, random_state=0).fit(
            X.astype(np.float64, copy=False)
        ),
    }


def fastest(runs: dict, X, repeats: int) -> dict[str, tuple[float, float]]:
    """Name -> (fastest seconds, inertia), the calls of the methods interleaved."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(repeats):
        for name, fit in runs.items():
            t0 = time.perf_counter()
            est = fit(X)
            dt = time.perf_counter() - t0
            if name not in best or dt < best[name][0]:
                best[name] = (dt, float(est.inertia_))
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="rows per case")
    parser.add_argument("--k", type=int, default=8, help="number of clusters")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls each")
    parser.add_argument("--wide", type=int, metavar="D", help="one case of D features")
    parser.add_argument(
        "--wide-shapes", action="store_true", help="the WIDE_SHAPES cases, one start"
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    ExactKMeans(args.k, random_state=0).fit(cases(20_000)["photos"])  # compile
    ExactKMeans(args.k, random_state=0).fit(cases(20_000)["blobs"])
    ExactKMeans(args.k, random_state=0).fit(wide_case(2000, 32)["wide"])
    rows = []
    if args.wide_shapes:
        rows = wide_shapes(args.repeats)
        print(f"\nshapes {WIDE_SHAPES}, fastest of {args.repeats}")
    else:
        data = wide_case(args.n, args.wide) if args.wide else cases(args.n)
        for name, X in data.items():
            res = fastest(methods(args.k, bool(args.wide)), X, args.repeats)
            rows += table_rows(name, res)
        d = args.wide or 3
        print(
            f"\n{args.n} rows x {d} features, k = {args.k}, fastest of {args.repeats}"
        )
    machine = platform.processor() or platform.machine()
    print(f"{machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("command: python benchmarks/bench_estimator.py " + shlex.join(sys.argv[1:]))
    print("\n| data | method | fit (s) | time / ExactKMeans | inertia | vs ours |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
