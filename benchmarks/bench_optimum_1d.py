"""One feature: ``segment()`` against the exact optimum of the k-means objective
(a dynamic program written here) and ``skimage.filters.threshold_multiotsu``.

Run from the repository root with the development environment::

    .venv/bin/python benchmarks/bench_optimum_1d.py --out /tmp/optimum.json
    .venv/bin/python benchmarks/bench_optimum_1d.py --quick     # 512² images

Images (made here): uint8 greyscale (skimage's camera, bilinear resized to
2048²), uint16 greyscale 2048² (``bench_engine.sci_poisson``'s first channel:
smooth structures with Poisson noise), int16 greyscale 2048² (the same, shifted
to negative values: int16, which the engine holds as float32), float32
greyscale 2048² (``bench_engine.sci_grey``: the camera resized, plus tiny noise,
so nearly every value is distinct), float64 Gaussian noise 2048² (every value
distinct, no structure).

For each image and k:

- ours: ``segment(image, k, random_state=0)`` (fastest of ``--repeats`` after a
  warm-up call); its ``optimal`` flag, ``n_iter``, ``converged``;
- the reference: the exact minimum of Σ (x - mean of its class)² over all
  partitions of the sorted distinct values (with their counts) into k
  contiguous non-empty classes, by dynamic programming over prefix sums (in one
  dimension an optimal k-means partition is contiguous in value). Written from
  that definition, independent of the package: the O(k·m²) recurrence
  ``D[q][j] = min_i D[q-1][i] + cost(i, j)`` for m ≤ ``--plain-max`` distinct
  values, else the same recurrence with the divide-and-conquer optimisation
  (the optimal split is monotone in j for this cost), vectorised level by
  level. Where both run (uint8, uint16) they are cross-checked. One DP run to
  the largest k gives every smaller k (its layers); the DP time of a k is
  ``np.unique`` plus the layers up to k (what a run for that k alone costs);
- ``threshold_multiotsu(image, classes=k)`` then ``np.digitize(image,
  thresholds)`` (its documented use; in parentheses the same with
  ``right=True``, each threshold value in the class below it, as the search
  scored it) for k ≤ 5, timed with the digitize: an exhaustive search over the
  histogram (one bin per integer for integer images, 256 bins for floats); it
  is skipped where the number of threshold combinations C(bins - 1, k - 1)
  exceeds ``--otsu-max-combinations``.

Every objective is recomputed here in float64 from the partition itself (each
class around its own mean; for ours, around its reported centroids). Ours claims
the global optimum on every image (integers over the histogram; floats and
int16, which the engine holds as floats, over runs of bins narrowed by bounds to
the values near the boundaries): the table gives (ours - DP) / DP, expected ~0
(≤ 1e-9); where ours says "fixed point" (beyond 32 clusters on values that share
bins) the column is its gap.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_engine as be

# ------------------------------------------------------------------ the reference


def distinct(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values (float64) and their counts."""
    v, w = np.unique(x.ravel(), return_counts=True)
    return v.astype(np.float64), w.astype(np.float64)


class Prefix:
    """Prefix sums of counts, and of centred values and squares, so that the cost
    of the class of values ``v[i:j]`` is one subtraction away."""

    def __init__(self, v: np.ndarray, w: np.ndarray):
        c = v - np.average(v, weights=w)
        self.W = np.concatenate([[0.0], np.cumsum(w)])
        self.S1 = np.concatenate([[0.0], np.cumsum(w * c)])
        self.S2 = np.concatenate([[0.0], np.cumsum(w * c * c)])

    def cost(self, i, j):
        """Σ w (x - mean)² of the values ``[i, j)`` (arrays broadcast)."""
        n = self.W[j] - self.W[i]
        s = self.S1[j] - self.S1[i]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (self.S2[j] - self.S2[i]) - s * s / n
        return np.where(n > 0, np.maximum(out, 0.0), np.inf)


def dp_plain(v, w, k: int, block: int = 512) -> tuple[list, list]:
    """The O(k·m²) recurrence up to ``k`` classes: the optimal last split of
    every prefix for 2..k classes (backtrack with ``starts_for``), and the
    seconds spent up to each number of classes."""
    m = len(v)
    P = Prefix(v, w)
    js = np.arange(m + 1)
    D = P.cost(0, js)  # one class: values [0, j)
    D[0] = np.inf
    arg, times, t0 = [], [], time.perf_counter()
    for _q in range(2, k + 1):
        new = np.full(m + 1, np.inf)
        best = np.zeros(m + 1, np.int64)
        for s in range(0, m + 1, block):
            j = js[s : s + block, None]
            i = js[None, :]
            total = np.where(i < j, D[None, :] + P.cost(i, np.maximum(j, i)), np.inf)
            best[s : s + block] = np.argmin(total, axis=1)
            new[s : s + block] = total[np.arange(len(j)), best[s : s + block]]
        D = new
        arg.append(best)
        times.append(time.perf_counter() - t0)
    return arg, times


def dp_divide_conquer(v, w, k: int) -> tuple[list, list]:
    """The same minimum with the divide-and-conquer optimisation: the optimal
    last split ``opt(j)`` is non-decreasing in ``j``, so the middle ``j`` of a
    range is solved first and bounds the search of each half. All ranges of one
    recursion level are solved at once (vectorised)."""
    m = len(v)
    P = Prefix(v, w)
    js = np.arange(m + 1)
    D = P.cost(0, js)
    D[0] = np.inf
    arg, times, t0 = [], [], time.perf_counter()
    for q in range(2, k + 1):
        new = np.full(m + 1, np.inf)
        best = np.zeros(m + 1, np.int64)
        # ranges of j [jlo, jhi] with their split search range [olo, ohi]
        jlo, jhi = np.array([q]), np.array([m])
        olo, ohi = np.array([q - 1]), np.array([m - 1])
        while len(jlo):
            mid = (jlo + jhi) // 2
            lo = olo
            hi = np.minimum(ohi, mid - 1)
            n = hi - lo + 1
            seg = np.repeat(np.arange(len(mid)), n)
            start = np.cumsum(n) - n
            i = lo[seg] + (np.arange(n.sum()) - start[seg])
            j = mid[seg]
            val = D[i] + P.cost(i, j)
            mins = np.minimum.reduceat(val, start)
            hit = np.flatnonzero(val == mins[seg])
            first = np.unique(seg[hit], return_index=True)[1]
            opt = i[hit[first]]
            new[mid] = mins
            best[mid] = opt
            left = mid - 1 >= jlo
            right = mid + 1 <= jhi
            jlo, jhi, olo, ohi = (
                np.concatenate([jlo[left], mid[right] + 1]),
                np.concatenate([mid[left] - 1, jhi[right]]),
                np.concatenate([olo[left], opt[right]]),
                np.concatenate([opt[left], ohi[right]]),
            )
        D = new
        arg.append(best)
        times.append(time.perf_counter() - t0)
    return arg, times


def starts_for(arg: list[np.ndarray], k: int) -> np.ndarray:
    """Start index of each class of an optimal partition into ``k`` classes (the
    first 0), from the split tables of a DP run to at least ``k`` classes."""
    starts = []
    j = len(arg[0]) - 1
    for best in reversed(arg[: k - 1]):
        j = int(best[j])
        starts.append(j)
    return np.array([0, *reversed(starts)], np.int64)


def partition_inertia(v, w, starts: np.ndarray) -> float:
    """Σ w (v - class mean)² of the classes starting at ``starts``, directly."""
    W = np.add.reduceat(w, starts)
    mean = np.add.reduceat(w * v, starts) / W
    return float(np.sum(w * (v - np.repeat(mean, np.diff([*starts, len(v)]))) ** 2))


def labels_inertia(x: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Σ (x - mean of its class)² in float64 for integer labels 0..k-1."""
    x = x.ravel().astype(np.float64)
    labels = labels.ravel()
    counts = np.bincount(labels, minlength=k)
    means = np.bincount(labels, weights=x, minlength=k) / np.maximum(counts, 1)
    return be.recomputed_inertia(x[:, None], labels, means[:, None])


# ------------------------------------------------------------------------- images


def camera_u8(n: int) -> np.ndarray:
    from skimage import data, transform

    big = transform.resize(data.camera(), (n, n), order=1, preserve_range=True)
    return np.clip(np.round(big), 0, 255).astype(np.uint8)


def images(quick: bool, float_size: int | None = None) -> dict:
    n = 512 if quick else 2048
    f = float_size or n
    return {
        "uint8": (f"uint8 greyscale (camera → {n}²)", lambda: camera_u8(n)),
        "uint16": (
            f"uint16 greyscale {n}² (Poisson)",
            lambda: be.sci_poisson(n, 1)[..., 0],
        ),
        "int16": (
            f"int16 greyscale {n}² (Poisson, shifted by -2000)",
            lambda: (be.sci_poisson(n, 1)[..., 0].astype(np.int32) - 2000).astype(
                np.int16
            ),
        ),
        "float32": (f"float32 greyscale {f}² (camera + noise)", lambda: be.sci_grey(f)),
        "float64": (
            f"float64 Gaussian noise {f}²",
            lambda: np.random.default_rng(0).normal(0, 1, (f, f)),
        ),
    }


# --------------------------------------------------------------------------- runs


@contextlib.contextmanager
def lloyd_paths_only():
    """The engine's one-feature chain without its optimum: the exact Lloyd fixed
    points it returned before (the one reach into the engine's internals)."""
    from napari_kmeans_seg.core.fit import registry

    chain = registry.CHAINS["exact", True]
    registry.CHAINS["exact", True] = tuple(
        s for s in chain if s.name != "optimum (one feature)"
    )
    try:
        yield
    finally:
        registry.CHAINS["exact", True] = chain


def fastest(fn, repeats: int):
    best, out = np.inf, None
    for _ in range(repeats):
        out = None
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_image(key, title, image, ks, args) -> dict:
    from skimage.filters import threshold_multiotsu

    from napari_kmeans_seg import segment

    X = image.reshape(-1, 1)
    t_unique, (v, w) = fastest(lambda: distinct(image), 1)  # part of the DP's time
    m = len(v)
    span = int(v[-1] - v[0]) + 1 if image.dtype.kind in "iu" else 256
    print(f"\n[{key}] {title}: {m:,} distinct values ({t_unique:.2f} s)", flush=True)
    tables = {}  # one DP run to the largest k serves every k
    if m <= args.plain_max:
        tables["plain"] = dp_plain(v, w, max(ks))
    if m > args.plain_max or m <= args.cross_check_max:
        tables["dc"] = dp_divide_conquer(v, w, max(ks))
    for name, (_, times) in tables.items():
        print(f"  DP ({name}) to k={max(ks)}: {times[-1]:.2f} s", flush=True)
    segment(image, ks[0], random_state=0)  # warm-up
    rows = []
    for k in ks:
        row: dict = {"k": k}
        t, r = fastest(lambda k=k: segment(image, k, random_state=0), args.repeats)
        lab = r.labels.reshape(-1).astype(np.intp) - 1
        row["ours"] = {
            "time": t,
            "inertia": be.recomputed_inertia(X, lab, r.centroids),
            "reported": float(r.inertia),
            "optimal": bool(r.optimal),
            "n_iter": int(r.n_iter),
            "converged": bool(r.converged),
        }
        del r, lab
        if args.lloyd:  # the exact Lloyd fixed point the optimum replaced
            with lloyd_paths_only():
                t, r = fastest(
                    lambda k=k: segment(image, k, random_state=0), args.repeats
                )
            lab = r.labels.reshape(-1).astype(np.intp) - 1
            row["lloyd"] = {
                "time": t,
                "inertia": be.recomputed_inertia(X, lab, r.centroids),
            }
            del r, lab
        dps = {}
        for name, (arg, times) in tables.items():
            starts = starts_for(arg, k)
            dps[name] = {
                "time": times[k - 2],
                "inertia": partition_inertia(v, w, starts),
            }
        row["dp"] = dps
        best = min(d["inertia"] for d in dps.values())
        row["dp_inertia"] = best
        row["dp_time"] = t_unique + min(d["time"] for d in dps.values())
        if len(dps) == 2:
            a, b = dps["plain"]["inertia"], dps["dc"]["inertia"]
            row["dp_cross_check_rel"] = abs(a - b) / best
        combos = math.comb(span - 1, k - 1)
        if k > args.otsu_max_k:
            row["otsu"] = None
        elif combos > args.otsu_max_combinations:
            row["otsu"] = {
                "skipped": f"C({span - 1}, {k - 1}) = {combos:.1e} combinations"
            }
        else:

            def otsu(k=k):
                thresholds = threshold_multiotsu(image, classes=k)
                return np.digitize(image, bins=thresholds)

            t, regions = fastest(otsu, args.repeats)
            row["otsu"] = {"time": t, "inertia": labels_inertia(image, regions, k)}
            # each threshold in the class below it (as the search scored it)
            thresholds = threshold_multiotsu(image, classes=k)
            regions = np.digitize(image, bins=thresholds, right=True)
            row["otsu"]["inertia_right"] = labels_inertia(image, regions, k)
            del regions
        o = row["ours"]
        gap = (o["inertia"] - best) / best
        row["ours_gap"] = gap
        print(
            f"  k={k}: ours {o['time']:.3f} s {o['inertia']:.10e} (optimal flag "
            f"{o['optimal']}, gap {gap:+.2e}); DP {row['dp_time']:.2f} s "
            f"{best:.10e} {sorted(dps)}; otsu {row['otsu']}",
            flush=True,
        )
        rows.append(row)
    return {"key": key, "title": title, "distinct": m, "rows": rows}


def md(case: dict) -> list[str]:
    lines = [
        f"### {case['title']}: {case['distinct']:,} distinct values",
        "",
        "| k | ours s | ours inertia | ours: optimal flag, iterations (--lloyd: "
        "the fixed point's time, (its inertia - DP) / DP) | DP s | DP "
        "inertia | (ours - DP) / DP | multiotsu s | (multiotsu - DP) / DP "
        "(right=True) |",
        "|--:|--:|--:|---|--:|--:|--:|--:|--:|",
    ]
    for row in case["rows"]:
        o, best = row["ours"], row["dp_inertia"]
        otsu = row["otsu"]
        if otsu is None:
            ot = og = "—"
        elif "skipped" in otsu:
            ot, og = "skipped", otsu["skipped"]
        else:
            ot = f"{otsu['time']:.3f}"
            og = (
                f"{(otsu['inertia'] - best) / best:+.1e} "
                f"({(otsu['inertia_right'] - best) / best:+.1e})"
            )
        flag = "optimal" if o["optimal"] else "fixed point"
        flag = f"{flag}, {o['n_iter']}"
        if "lloyd" in row:
            ll = row["lloyd"]
            gap = (ll["inertia"] - best) / best
            flag += f" (Lloyd {ll['time']:.3f} s, {gap:+.1e})"
        lines.append(
            f"| {row['k']} | {o['time']:.3f} | {o['inertia']:.10e} | {flag} | "
            f"{row['dp_time']:.2f} | {best:.10e} | "
            f"{row['ours_gap']:+.1e} | {ot} | {og} |"
        )
    checks = [
        r["dp_cross_check_rel"] for r in case["rows"] if "dp_cross_check_rel" in r
    ]
    if checks:
        lines += [
            "",
            f"- the O(k·m²) DP and the divide-and-conquer DP agree to "
            f"{max(checks):.1e} relative (largest over these k)",
        ]
    return lines


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="512² images")
    p.add_argument("--ks", default="2,3,4,5,8,16,32", help="comma-separated k")
    p.add_argument(
        "--images", help="comma-separated: uint8, uint16, int16, float32, float64"
    )
    p.add_argument("--float-ks", help="k for the float images (default: --ks)")
    p.add_argument("--float-size", type=int, help="side of the float32 image")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--otsu-max-k", type=int, default=5)
    p.add_argument("--otsu-max-combinations", type=float, default=2e8)
    p.add_argument(
        "--plain-max",
        type=int,
        default=5000,
        metavar="M",
        help="largest number of distinct values for the O(k m²) DP",
    )
    p.add_argument(
        "--cross-check-max",
        type=int,
        default=5000,
        metavar="M",
        help="also run the divide-and-conquer DP up to this many values",
    )
    p.add_argument(
        "--lloyd",
        action="store_true",
        help="also time the exact Lloyd fixed point (the chain without the optimum)",
    )
    p.add_argument("--out", metavar="JSON")
    args = p.parse_args(argv)
    ks = [int(k) for k in args.ks.split(",")]
    table = images(args.quick, args.float_size)
    keys = args.images.split(",") if args.images else list(table)
    report = {
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "machine": dict(be.machine_info()),
        "cases": [],
    }
    for key in keys:
        title, build = table[key]
        kk = (
            [int(k) for k in args.float_ks.split(",")]
            if (key.startswith("float") and args.float_ks)
            else ks
        )
        report["cases"].append(run_image(key, title, build(), kk, args))
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    print(f"\n- command: `{report['command']}`")
    for case in report["cases"]:
        print("\n" + "\n".join(md(case)))


if __name__ == "__main__":
    main()
