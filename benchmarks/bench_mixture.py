"""Gaussian mixtures: ``segment(image, k, mixture=...)`` against scikit-learn's
``GaussianMixture`` fitted on all pixels from the same start.

Run from the repository root with the development environment::

    .venv/bin/python benchmarks/bench_mixture.py            # 4K photo, float32 RGB
    .venv/bin/python benchmarks/bench_mixture.py --quick    # small images only

For each image, k and covariance type:

a. ours: ``segment(image, k, mixture=covariance_type, random_state=0)``, timed
   after a warm-up call on the image (numba's compilation is not timed), the least
   of ``--repeats`` runs (as for both scikit-learn timings); the time
   includes the k-means fit it starts from, the probability maps and labels;
b. scikit-learn from our start: ``GaussianMixture(k, covariance_type=..., tol=1e-3,
   reg_covar=1e-6, max_iter=100)`` on the ``(n_pixels, 3)`` matrix as a user
   would pass it (float32 stays float32, uint8 becomes float64), given the start
   ours uses (the weights, means and precisions of our k-means partition:
   scikit-learn's own k-means start, without its k-means) — so its time is EM
   only — then ``predict_proba`` for the maps.
c. scikit-learn as a user runs it: ``GaussianMixture(k, covariance_type=...,
   random_state=0)`` with its own start (its ``KMeans``, ``n_init=1``, included),
   then ``predict_proba``; another start, so its iterations differ.

Both log-likelihoods per pixel are reported (scikit-learn's ``score`` on the
data translated to its median, where its diagonal formula ``E[x²] - mean²``
keeps its digits). Peak memory: the peak RSS of one call of ours in a fresh
child process after a warm-up call, minus the RSS before it, against the input's
bytes and k float32 maps (the issue's bound: one float32 map per component plus
the input).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_engine import _astronaut_4k  # noqa: E402


def float_rgb(size: int = 2048, seed: int = 0) -> np.ndarray:
    """A smooth float32 RGB image with noise: a few colour regions and a
    gradient, values about 0..1."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    colours = np.array(
        [[0.1, 0.2, 0.5], [0.8, 0.3, 0.2], [0.3, 0.7, 0.3], [0.9, 0.9, 0.8]]
    )
    region = (yy > 0.5).astype(int) * 2 + ((xx + 0.3 * np.sin(6 * yy)) > 0.5)
    image = colours[region] + 0.15 * xx[..., None]
    image += rng.normal(0, 0.1, image.shape)
    return image.astype(np.float32)


IMAGES = {
    "4K photo uint8 RGB": _astronaut_4k,
    "float32 RGB 2048²": float_rgb,
    "float32 RGB 512²": lambda: float_rgb(512),
}


def start_of(X: np.ndarray, labels: np.ndarray, k: int, covariance_type: str):
    """The Gaussians of the partition ``labels`` (1..k) of ``X`` (float64), with
    ``reg_covar`` on the diagonal: ``GaussianMixture``'s k-means start."""
    resp_n = np.bincount(labels, minlength=k + 1)[1:] + 10 * np.finfo(float).eps
    means = np.stack([X[labels == c + 1].mean(axis=0) for c in range(k)])
    covs = np.stack(
        [np.cov(X[labels == c + 1].T, bias=True) + 1e-6 * np.eye(3) for c in range(k)]
    )
    if covariance_type == "diag":
        precisions = 1 / np.diagonal(covs, axis1=1, axis2=2)
    else:
        precisions = np.linalg.inv(covs)
    return resp_n / resp_n.sum(), means, precisions


def least_time(call, repeats: int) -> tuple[float, object]:
    """The least time of ``repeats`` calls of ``call``, and its last result."""
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - t)
    return best, out


def fit_and_maps(gm, X: np.ndarray) -> np.ndarray:
    """Fit the scikit-learn mixture ``gm`` and make its probability maps."""
    return gm.fit(X).predict_proba(X)


def run_case(
    name: str, image: np.ndarray, k: int, covariance_type: str, repeats: int = 1
) -> dict:
    from sklearn.mixture import GaussianMixture

    from napari_kmeans_seg import segment

    segment(image, k, mixture=covariance_type)  # compile / load every pass used
    t_ours, ours = least_time(
        lambda: segment(image, k, mixture=covariance_type, random_state=0), repeats
    )
    kmeans = segment(image, k, random_state=0)
    X = image.reshape(-1, 3)
    Xf = X if X.dtype == np.float32 else X.astype(np.float64)
    shift = np.median(Xf, axis=0).astype(Xf.dtype)
    weights, means, precisions = start_of(
        (Xf - shift).astype(np.float64), kmeans.labels.ravel(), k, covariance_type
    )
    gm = GaussianMixture(
        k,
        covariance_type=covariance_type,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
    )
    as_user = GaussianMixture(k, covariance_type=covariance_type, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_sk, _ = least_time(lambda: fit_and_maps(gm, Xf - shift), repeats)
        t_user, _ = least_time(lambda: fit_and_maps(as_user, Xf - shift), repeats)
    return {
        "image": name,
        "k": k,
        "covariance": covariance_type,
        "ours_s": round(t_ours, 3),
        "sklearn_s": round(t_sk, 3),
        "ratio": round(t_sk / t_ours, 1),
        "sklearn_own_start_s": round(t_user, 3),
        "own_start_ratio": round(t_user / t_ours, 1),
        "sklearn_own_start_iter": int(as_user.n_iter_),
        "ours_em_iter": ours.mixture_n_iter,
        "sklearn_em_iter": int(gm.n_iter_),
        "ours_ll": ours.log_likelihood,
        "sklearn_ll": float(gm.score((Xf - shift).astype(np.float64))),
        "memory": peak_memory(name, k, covariance_type),
    }


def peak_memory(name: str, k: int, covariance_type: str) -> dict:
    """Peak RSS of one call of ours in a child process (see the module notes)."""
    code = f"""
import json, os, numpy as np, sys
sys.path.insert(0, {str(HERE)!r})
from bench_mixture import IMAGES
from bench_engine import _reset_hwm, _status_kb
from napari_kmeans_seg import segment
image = IMAGES[{name!r}]()
segment(image, {k}, mixture={covariance_type!r})
reset = _reset_hwm()
before = _status_kb("VmRSS")
segment(image, {k}, mixture={covariance_type!r})
print(json.dumps({{"peak_mib": (_status_kb("VmHWM") - before) / 1024,
                  "input_mib": image.nbytes / 2**20, "reset": reset}}))
"""
    env = {"MALLOC_MMAP_THRESHOLD_": "131072", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    if out.returncode:
        return {"error": out.stderr[-300:]}
    m = json.loads(out.stdout.strip().splitlines()[-1])
    n = np.prod(IMAGES[name]().shape[:2])
    m["maps_mib"] = k * 4 * n / 2**20
    m["bound_mib"] = m["maps_mib"] + m["input_mib"]
    return m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 512² image only")
    parser.add_argument("--ks", type=int, nargs="+", default=[4])
    parser.add_argument("--covariances", nargs="+", default=["full", "diag"])
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    parser.add_argument(
        "--repeats", type=int, default=1, help="timed runs of each side (the least)"
    )
    parser.add_argument(
        "--images", nargs="+", choices=list(IMAGES), help="these images only"
    )
    args = parser.parse_args()
    names = ["float32 RGB 512²"] if args.quick else list(IMAGES)[:2]
    names = args.images or names
    print(platform.platform(), platform.processor(), flush=True)
    rows = []
    for name in names:
        image = IMAGES[name]()
        for k in args.ks:
            for cov in args.covariances:
                row = run_case(name, image, k, cov, args.repeats)
                print(json.dumps(row), flush=True)
                rows.append(row)
    print(
        "\n| image | k | cov | ours s | sklearn s | ratio | EM iter ours/sk | "
        "log-lik ours | log-lik sklearn | peak MiB (bound) | sklearn own start s "
        "(iter) | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mem = r["memory"]
        peak = (
            f"{mem.get('peak_mib', float('nan')):.0f} ({mem.get('bound_mib', 0):.0f})"
        )
        print(
            f"| {r['image']} | {r['k']} | {r['covariance']} | {r['ours_s']} | "
            f"{r['sklearn_s']} | {r['ratio']} | {r['ours_em_iter']}/"
            f"{r['sklearn_em_iter']} | {r['ours_ll']:.9f} | {r['sklearn_ll']:.9f} | "
            f"{peak} | {r['sklearn_own_start_s']} ({r['sklearn_own_start_iter']}) | "
            f"{r['own_start_ratio']} |"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
