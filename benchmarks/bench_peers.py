"""Benchmark ``segment()`` against scikit-learn, OpenCV and faiss on the image kinds of
issue #28, at many k, in one run.

Run from the repository root with the development environment::

    .venv/bin/python benchmarks/bench_peers.py --out /tmp/peers.json   # the matrix
    .venv/bin/python benchmarks/bench_peers.py --quick                 # smoke run
    .venv/bin/python benchmarks/bench_peers.py --kinds u16-3,f32-rgb --ks 2,8

OpenCV and faiss are benchmark-only extras (``.venv/bin/pip install
opencv-python-headless faiss-cpu``); a peer that does not import is reported as
"not installed" and the rest runs.

Image kinds (made here, reproducible by seed; no downloads): uint16 3-, 5- and
8-channel 1024² (``bench_engine.sci_poisson``: smooth random structures with
Poisson noise), int16 2-channel 2048² (smooth structures minus an offset plus
Gaussian noise, so values of both signs), float16 and float32 RGB 2048² (the
astronaut, bilinear resized, plus tiny noise: ``bench_engine.sci_float_rgb``),
float64 2-channel 2048² (``bench_engine.sci_float64_2ch``), 8-bit RGB (the
astronaut bilinear resized to 2048²) at k = 2, 4, 8, 16, 32, 64, and random
uint8 RGB 512² at k = 64, 128, 254.

For each image and k, side by side:

- ours: ``segment(image, k, channel_axis=..., random_state=0)`` (its defaults:
  exact, ``n_init=4``), fastest of up to ``--repeats`` calls after one warm-up
  call on the image; its ``n_iter``, ``converged``, reported inertia, and a
  Lloyd fixed-point check (``bench_engine.fixed_point_check``);
- scikit-learn ``KMeans(n_clusters=k, n_init=1, random_state=0)`` at its default
  ``tol`` (1e-4) and at ``tol=0``, on the pixel matrix as a user would pass it
  (float32 stays float32; integers and float16 are converted to float64 by
  scikit-learn itself, inside the timed region), all cores;
- ``cv2.kmeans`` (float32, k-means++, 1 attempt, EPS+MAX_ITER 300 / 1e-4:
  ``bench_engine.peer_cv2``) and ``faiss.Kmeans`` (niter=300, nredo=1, trained
  on every pixel: ``bench_engine.sci_faiss``).

Each peer runs in a child process (one per image and peer, the k in increasing
order, after a warm-up on a tiny image); a run is repeated while it takes less
than ``--repeat-below`` seconds (fastest of up to ``--repeats``), otherwise run
once. A run still going after ``--cap`` seconds is killed ("> cap", a lower
bound for the ratio) and that peer skips the larger k of that image; a peer also
skips a k whose time, predicted from the last k linearly in k, exceeds 1.5 times
the cap. Inertia is recomputed identically for every method in float64 from its
labels and centroids (``bench_engine.recomputed_inertia``). The ratio is the
peer's time / ours. The output also records ``threadpoolctl.threadpool_info()``
(parent and each peer's child), the versions, the load average before and after,
and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_engine as be

MAIN_KS = (2, 4, 8, 16, 32, 64)
MANY_KS = (64, 128, 254)


# ----------------------------------------------------------------------- images


def int16_2ch(n: int) -> np.ndarray:
    """``(n, n, 2)`` int16: smooth structures minus a background offset, with
    Gaussian noise (values of both signs, as after background subtraction)."""
    rng = np.random.default_rng(16)
    f = be._smooth_fields(n, 2, rng)
    values = 3000.0 * f**2 - 600.0 + rng.normal(0.0, 40.0, f.shape)
    return np.moveaxis(np.clip(np.rint(values), -32768, 32767).astype(np.int16), 0, -1)


def float16_rgb(n: int) -> np.ndarray:
    """The float32 RGB image of the science cases, as float16."""
    return be.sci_float_rgb(n).astype(np.float16)


def astronaut_u8(n: int) -> np.ndarray:
    """The astronaut bilinear resized to ``n``², uint8 RGB."""
    from skimage import data, transform

    big = transform.resize(
        data.astronaut(), (n, n), order=1, preserve_range=True, anti_aliasing=False
    )
    return np.clip(np.round(big), 0, 255).astype(np.uint8)


def random_u8(n: int) -> np.ndarray:
    """Uniform random uint8 RGB ``(n, n, 3)``: about every colour distinct."""
    return np.random.default_rng(8).integers(0, 256, (n, n, 3), dtype=np.uint8)


def kinds(quick: bool) -> dict[str, tuple[str, object, int | None, tuple[int, ...]]]:
    """key -> (title, builder, channel axis, ks). ``--quick``: 256² and 512²."""
    s, b = (256, 512) if quick else (1024, 2048)
    r = 256 if quick else 512
    return {
        "u16-3": (f"uint16 3-channel {s}²", partial(be.sci_poisson, s, 3), -1, MAIN_KS),
        "u16-5": (f"uint16 5-channel {s}²", partial(be.sci_poisson, s, 5), -1, MAIN_KS),
        "u16-8": (f"uint16 8-channel {s}²", partial(be.sci_poisson, s, 8), -1, MAIN_KS),
        "i16-2": (f"int16 2-channel {b}²", partial(int16_2ch, b), -1, MAIN_KS),
        "f16-rgb": (f"float16 RGB {b}²", partial(float16_rgb, b), -1, MAIN_KS),
        "f32-rgb": (f"float32 RGB {b}²", partial(be.sci_float_rgb, b), -1, MAIN_KS),
        "f64-2": (
            f"float64 2-channel {b}²",
            partial(be.sci_float64_2ch, b),
            -1,
            MAIN_KS,
        ),
        "u8-rgb": (
            f"uint8 RGB astronaut → {b}²",
            partial(astronaut_u8, b),
            None,
            MAIN_KS,
        ),
        "u8-random": (
            f"uint8 RGB uniform random {r}²",
            partial(random_u8, r),
            None,
            MANY_KS,
        ),
    }


# ------------------------------------------------------------------------ peers


def peer_sklearn(image, channel_axis, k, **options):
    """``KMeans(n_clusters=k, n_init=1, random_state=0, **options)`` on the pixel
    matrix in the image's dtype (scikit-learn keeps float32 and converts the rest
    to float64 itself)."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=1, random_state=0, **options)
    km.fit(be.pixels(image, channel_axis))
    return km.labels_, km.cluster_centers_, int(km.n_iter_)


def _no_iter(fn):
    def run(image, channel_axis, k):
        labels, centroids = fn(image, channel_axis, k)
        return labels, centroids, None

    return run


PEERS = {
    "sklearn": (
        partial(peer_sklearn),
        "sklearn",
        "KMeans(n_clusters=k, n_init=1, random_state=0), tol=1e-4 (default), lloyd",
    ),
    "sklearn-tol0": (
        partial(peer_sklearn, tol=0.0),
        "sklearn",
        "the same with tol=0 (stops when no label changes, or at max_iter=300)",
    ),
    "cv2": (
        _no_iter(partial(be.peer_cv2, max_iter=300, eps=1e-4)),
        "cv2",
        "cv2.kmeans on float32, KMEANS_PP_CENTERS, attempts=1, EPS+MAX_ITER "
        "(300, 1e-4), setRNGSeed(0)",
    ),
    "faiss": (
        _no_iter(be.sci_faiss),
        "faiss",
        "faiss.Kmeans(niter=300, nredo=1, seed=0) on float32, trained on every "
        "pixel (max_points_per_centroid = ceil(n / k))",
    ),
}


def thread_info() -> list[dict]:
    from threadpoolctl import threadpool_info

    return threadpool_info()


def _other_threads() -> dict:
    out = {}
    with contextlib.suppress(Exception):
        import cv2

        out["cv2.getNumThreads"] = cv2.getNumThreads()
    with contextlib.suppress(Exception):
        import faiss

        out["faiss.omp_get_max_threads"] = faiss.omp_get_max_threads()
    with contextlib.suppress(Exception):
        import numba

        out["numba"] = (
            f"{numba.config.THREADING_LAYER} layer, {numba.get_num_threads()} threads"
        )
    return out


# ----------------------------------------------------------------- child process


def _emit(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def worker(spec_path: str) -> None:
    """Child: one peer on one saved image, every k in order; one JSON line per
    event ("start" before each timed call, "result" after each k)."""
    spec = json.loads(Path(spec_path).read_text())
    log = Path(spec["log"])
    key, ca, cap = spec["peer"], spec["channel_axis"], spec["cap"]
    fn = PEERS[key][0]
    tiny = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    with contextlib.suppress(Exception):  # imports and thread pools
        fn(tiny, -1, 3)
    _emit(
        log, {"event": "threads", "threadpool_info": thread_info(), **_other_threads()}
    )
    image = np.load(spec["image"])
    X = be.pixels(image, ca)
    last = None  # (k, time)
    for k in spec["ks"]:
        if last is not None and last[1] * k / last[0] > 1.5 * cap:
            _emit(
                log,
                {
                    "event": "result",
                    "k": k,
                    "status": "skipped",
                    "note": f"predicted {last[1] * k / last[0]:.0f} s > 1.5 x cap",
                },
            )
            continue
        times, labels = [], None
        while len(times) < spec["repeats"]:
            labels = centroids = None
            gc.collect()
            _emit(log, {"event": "start", "k": k, "t": time.time()})
            t0 = time.perf_counter()
            labels, centroids, n_iter = fn(image, ca, k)
            times.append(time.perf_counter() - t0)
            _emit(log, {"event": "end", "k": k, "t": time.time()})
            if times[-1] >= spec["repeat_below"]:
                break
        lab = np.asarray(labels).reshape(-1).astype(np.intp)
        inertia = be.recomputed_inertia(X, lab, centroids)
        used = int(np.count_nonzero(np.bincount(lab, minlength=k)))
        _emit(
            log,
            {
                "event": "result",
                "k": k,
                "status": "ok",
                "times": times,
                "inertia": inertia,
                "n_iter": n_iter,
                "nonempty": used,
            },
        )
        last = (k, min(times))


def run_peer(key: str, image_path: Path, ca, ks, args, workdir: Path) -> dict:
    """Run one peer on every k of one image in a child; kill a run at the cap.
    Returns ``{"threads": ..., "by_k": {k: record}}``."""
    log = Path(tempfile.mkstemp(prefix=f"{key}-", suffix=".jsonl", dir=workdir)[1])
    spec = {
        "peer": key,
        "image": str(image_path),
        "channel_axis": ca,
        "ks": list(ks),
        "cap": args.cap,
        "repeats": args.repeats,
        "repeat_below": args.repeat_below,
        "log": str(log),
    }
    spec_path = log.with_suffix(".spec.json")
    spec_path.write_text(json.dumps(spec))
    err = log.with_suffix(".err")
    with open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", str(spec_path)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    out: dict = {"threads": None, "by_k": {}}
    seen = 0
    started: dict | None = None
    try:
        while True:
            lines = log.read_text().splitlines()
            for line in lines[seen:]:
                rec = json.loads(line)
                if rec["event"] == "threads":
                    out["threads"] = {k: v for k, v in rec.items() if k != "event"}
                elif rec["event"] == "start":
                    started = rec
                elif rec["event"] == "end":
                    started = None
                elif rec["event"] == "result":
                    out["by_k"][rec["k"]] = rec
                    if rec["status"] == "ok":
                        print(
                            f"    {key} k={rec['k']}: {min(rec['times']):.3f} s "
                            f"({len(rec['times'])} run(s)), inertia "
                            f"{rec['inertia']:.6e}",
                            flush=True,
                        )
            seen = len(lines)
            if proc.poll() is not None:
                break
            if started is not None and time.time() - started["t"] > args.cap:
                proc.kill()
                proc.wait()
                k = started["k"]
                out["by_k"][k] = {
                    "k": k,
                    "status": "timeout",
                    "note": f"killed after {args.cap:g} s",
                }
                print(f"    {key} k={k}: killed after {args.cap:g} s", flush=True)
                for later in ks:
                    if later > k and later not in out["by_k"]:
                        out["by_k"][later] = {
                            "k": later,
                            "status": "skipped",
                            "note": f"timed out at k={k}",
                        }
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode not in (0, -9):
        tail = err.read_text(errors="replace").strip().splitlines()[-3:]
        for k in ks:
            out["by_k"].setdefault(
                k, {"k": k, "status": "error", "note": " | ".join(tail)}
            )
    return out


# ------------------------------------------------------------------------- ours


def run_ours(image, ca, k, args) -> dict:
    from napari_kmeans_seg import segment

    times, r = [], None
    while len(times) < args.repeats:
        r = None
        gc.collect()
        t0 = time.perf_counter()
        r = segment(image, k, channel_axis=ca, random_state=0)
        times.append(time.perf_counter() - t0)
        if times[-1] >= args.repeat_below:
            break
    X = be.pixels(image, ca)
    lab = r.labels.reshape(-1).astype(np.intp) - 1
    n_unlabelled = int(np.count_nonzero(lab < 0))
    lab = np.maximum(lab, 0)
    check = be.fixed_point_check(X, lab, r.centroids)
    inertia = be.recomputed_inertia(X, lab, r.centroids)
    return {
        "times": times,
        "inertia": inertia,
        "reported_inertia": float(r.inertia),
        "n_iter": int(r.n_iter),
        "converged": bool(r.converged),
        "optimal": bool(getattr(r, "optimal", False)),
        "n_unlabelled": n_unlabelled,
        "fixed_point": bool(check["fixed_point"]),
        "not_nearest": check["not_nearest"],
        "empty": check["empty"],
    }


# ---------------------------------------------------------------------- report


def _t(rec: dict | None, cap: float) -> str:
    if rec is None:
        return "—"
    if rec["status"] == "ok":
        s = be._fmt_time(min(rec["times"]))
        if rec.get("n_iter") is not None:
            s += f" ({rec['n_iter']} it)"
        return s
    if rec["status"] == "timeout":
        return f">{cap:g}"
    return rec["status"]


def _ratio(rec: dict | None, ours_t: float, cap: float) -> str:
    if rec is None:
        return "—"
    if rec["status"] == "ok":
        return be._fmt_ratio(min(rec["times"]) / ours_t)
    if rec["status"] == "timeout":
        return "≥" + be._fmt_ratio(cap / ours_t)
    return "—"


def md_case(case: dict, cap: float) -> list[str]:
    lines = [
        f"### {case['title']}: {case['n_pixels']:,} pixels x {case['n_features']}, "
        f"{case['dtype']}, {case['distinct_rows']:,} distinct rows",
        "",
        "| k | ours s (it, conv, fixed pt) | sklearn s (it) | sklearn tol=0 s (it) "
        "| cv2 s | faiss s | sklearn / ours | sklearn tol=0 / ours "
        "| inertia ours / sklearn, / tol=0, / cv2, / faiss |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in case["rows"]:
        o = row["ours"]
        ot = min(o["times"])
        fp = "yes" if o["fixed_point"] else f"NO ({o['not_nearest']} off)"
        conv = "yes" if o["converged"] else "**no**"
        ours_cell = f"{be._fmt_time(ot)} ({o['n_iter']}, {conv}, {fp})"
        peers = row["peers"]
        inert = []
        for key in PEERS:
            rec = peers.get(key)
            if rec and rec["status"] == "ok" and rec["inertia"] > 0:
                inert.append(f"{o['inertia'] / rec['inertia']:.5f}")
            else:
                inert.append("—")
        lines.append(
            "| "
            + " | ".join(
                [
                    str(row["k"]),
                    ours_cell,
                    *(_t(peers.get(p), cap) for p in PEERS),
                    _ratio(peers.get("sklearn"), ot, cap),
                    _ratio(peers.get("sklearn-tol0"), ot, cap),
                    ", ".join(inert),
                ]
            )
            + " |"
        )
    return lines


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small images (smoke run)")
    p.add_argument("--kinds", help="comma-separated image kinds (default all)")
    p.add_argument("--ks", help="comma-separated k (default: each kind's own)")
    p.add_argument("--out", metavar="JSON", help="write every measurement here")
    p.add_argument("--peers", help="comma-separated peers: " + ", ".join(PEERS))
    p.add_argument("--repeats", type=int, default=3, help="at most this many runs")
    p.add_argument(
        "--repeat-below",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="repeat a run only when it took less than this",
    )
    p.add_argument(
        "--cap",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="kill a peer run after this long",
    )
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return
    table = kinds(args.quick)
    keys = args.kinds.split(",") if args.kinds else list(table)
    bad = sorted(set(keys) - set(table))
    if bad:
        parser.error(f"unknown kind(s) {bad}; known: {', '.join(table)}")
    peers = args.peers.split(",") if args.peers else list(PEERS)
    bad = sorted(set(peers) - set(PEERS))
    if bad:
        parser.error(f"unknown peer(s) {bad}")
    ks_override = tuple(int(k) for k in args.ks.split(",")) if args.ks else None

    from napari_kmeans_seg import segment

    segment(np.zeros((8, 8, 3), np.uint8) + np.arange(8)[:, None, None], 2)
    for key in PEERS:  # imports, so that threadpool_info sees every library
        with contextlib.suppress(Exception):
            __import__(PEERS[key][1])
    report: dict = {
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "machine": dict(be.machine_info()),
        "load_before": loadavg(),
        "threadpool_info": thread_info(),
        "other_threads": _other_threads(),
        "peers": {k: PEERS[k][2] for k in peers},
        "installed": {k: be.importable(PEERS[k][1]) for k in PEERS},
        "cap": args.cap,
        "cases": [],
    }
    print(
        json.dumps(
            {k: report[k] for k in ("machine", "load_before", "installed")}, indent=1
        ),
        flush=True,
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        workdir = Path(tmp)
        for key in keys:
            title, build, ca, ks = table[key]
            ks = ks_override or ks
            image = build()
            X = be.pixels(image, ca)
            distinct = int(np.unique(X, axis=0).shape[0])
            print(
                f"\n[{key}] {title}: {image.shape} {image.dtype}, "
                f"{distinct:,} distinct rows; load {loadavg()}",
                flush=True,
            )
            case = {
                "key": key,
                "title": title,
                "dtype": str(image.dtype),
                "shape": list(image.shape),
                "n_pixels": X.shape[0],
                "n_features": X.shape[1],
                "distinct_rows": distinct,
                "rows": [],
                "load_start": loadavg(),
            }
            from napari_kmeans_seg import segment

            segment(image, ks[0], channel_axis=ca, random_state=0)  # warm-up
            rows = []
            for k in ks:
                o = run_ours(image, ca, k, args)
                print(
                    f"  ours k={k}: {min(o['times']):.3f} s, {o['n_iter']} it, "
                    f"converged {o['converged']}, fixed point {o['fixed_point']}, "
                    f"inertia {o['inertia']:.6e}",
                    flush=True,
                )
                rows.append({"k": k, "ours": o, "peers": {}})
                gc.collect()
            path = workdir / f"{key}.npy"
            np.save(path, image)
            del image, X
            gc.collect()
            for p in peers:
                if not report["installed"][p]:
                    for row in rows:
                        row["peers"][p] = {"status": "not installed"}
                    continue
                res = run_peer(p, path, ca, ks, args, workdir)
                case.setdefault("peer_threads", {})[p] = res["threads"]
                for row in rows:
                    row["peers"][p] = res["by_k"].get(row["k"], {"status": "missing"})
            path.unlink()
            case["rows"] = rows
            case["load_end"] = loadavg()
            report["cases"].append(case)
            print("\n".join(md_case(case, args.cap)), flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    report["load_after"] = loadavg()
    report["seconds"] = time.perf_counter() - started
    print("\n" + "=" * 80 + "\nMarkdown:\n")
    md = [
        f"- command: `{report['command']}`",
        f"- load average before / after: {report['load_before']} / "
        f"{report['load_after']}; wall time {report['seconds']:.0f} s",
    ]
    for case in report["cases"]:
        md += ["", *md_case(case, args.cap)]
    print("\n".join(md))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
