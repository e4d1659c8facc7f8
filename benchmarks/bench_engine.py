"""Benchmark ``napari_kmeans_seg.segment`` against the usual k-means recipes.

Run from the repository root with the development environment::

    .venv/bin/python benchmarks/bench_engine.py            # every case
    .venv/bin/python benchmarks/bench_engine.py --quick    # small images only

For every case, in one process and side by side, the same pixels are clustered by

a. this project's ``segment()`` (median of ``--repeats`` timed calls after one
   warm-up call on a crop of the image, so numba's compilation is not timed);
b. the tutorial recipe: a ``pandas.DataFrame`` of the pixels with columns R, G, B
   → ``sklearn.cluster.KMeans(n_clusters=k, random_state=42).fit(df)`` → labels
   reshaped to the image (run once; RGB images only);
c. scikit-learn on the raw pixel array:
   ``KMeans(n_clusters=k, random_state=0).fit(X.astype(np.float64))``;
d. ``cv2.kmeans`` (float32, criteria EPS+MAX_ITER 100 / 0.2, 1 attempt,
   ``KMEANS_PP_CENTERS``) when OpenCV is importable;
e. ``faiss.Kmeans`` (default settings, seed 0) when faiss is importable.

Every timed region starts from the image array and ends with labels and centroids
(so the pixel-matrix reshape/transposition and dtype conversion each recipe needs
are timed). On the large cases (the 4K image and the uint16 stack) the peers run
once each in a child process, killed after ``--tutorial-cap`` seconds (then the
time is reported as ">cap" and the cap is a lower bound for the speed ratio); on
the small cases they run in this process (the tutorial once, the others
``--repeats`` times).

Inertia is recomputed the same way for every method: the sum over pixels of the
squared distance, in float64, to the centroid the method reports for the pixel's
label, in chunks. For ``segment()`` the script also checks that the result is a
Lloyd fixed point (every pixel's label is its nearest centroid, ties allowed
within 1e-9 relative; every centroid is the mean of its pixels, rtol 1e-6) and
measures the peak memory of one call in a fresh child process, after a warm-up
call on the same image (so that loading compiled code is not counted) and after
loading the image: peak RSS during the call minus RSS just before it, relative to
the input's bytes. The child's allocator returns every large block to the system
when it is freed (``MALLOC_MMAP_THRESHOLD_`` fixed at 128 KiB: glibc otherwise
raises it after the warm-up call and keeps the freed blocks resident, which
would hide them from the second call's peak). The child records
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` before and after, but a child's
``ru_maxrss`` starts at its parent's peak (Linux keeps the pre-exec high-water
mark), so the reported figure uses ``VmHWM`` from ``/proc/self/status``, reset
to the current RSS through ``/proc/self/clear_refs`` just before the call;
``ru_maxrss`` is used only where that reset is unavailable.

At the end the tables are printed again as Markdown, with the machine and the
command line, ready for ``benchmarks/RESULTS.md``.

``--science`` runs instead the scientific images (float32 RGB, uint16 3- and
5-channel Poisson, float64 2-channel, float32 greyscale; made here) at k = 2..32
against scikit-learn lloyd and elkan (``n_init=1``), ``cv2.kmeans`` (k-means++,
1 attempt, EPS+MAX_ITER 300 / 1e-4) and ``faiss.Kmeans`` (niter=300, nredo=1,
trained on every pixel), each where it imports; every peer's inertia is
recomputed in float64 from its centroids, each pixel on its nearest centroid.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

#: rows per chunk of the inertia and fixed-point checks (bounds their memory)
CHUNK = 1 << 20
#: seed of the synthetic uint16 stack
STACK_SEED = 20240601
STACK_SHAPE = (3, 64, 1024, 1024)
#: the uint16 stack's range (12-bit camera)
STACK_MAX = 4095


# --------------------------------------------------------------------------- cases


def _astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def _astronaut_4k() -> np.ndarray:
    from skimage import data, transform

    big = transform.resize(
        data.astronaut(),
        (2160, 3840),
        order=1,
        preserve_range=True,
        anti_aliasing=False,
    )
    return np.clip(np.round(big), 0, 255).astype(np.uint8)


def _coffee() -> np.ndarray:
    from skimage import data

    return data.coffee()


def _chelsea() -> np.ndarray:
    from skimage import data

    return data.chelsea()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_stack(shape=STACK_SHAPE, seed: int = STACK_SEED) -> np.ndarray:
    """A reproducible 12-bit fluorescence-like stack, ``(channel, z, y, x)`` uint16.

    Three smooth random fields (Gaussian-filtered noise on a coarse grid, cubic
    upsampled in-plane and linearly along z) make "nuclei" (channel 0),
    "cytoplasm" around them (channel 1) and bright spots on a slowly varying
    background (channel 2); each voxel then gets Poisson-like shot noise plus
    read noise (Gaussian with variance ``mean + 36``), clipped to 0..4095. Built
    one z-plane at a time, so the extra memory is a few coarse planes.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    n_c, n_z, n_y, n_x = shape
    if n_c != 3:
        raise ValueError("the synthetic stack has 3 channels")
    lz, ly, lx = n_z // 8 + 1, n_y // 16 + 1, n_x // 16 + 1
    fields = []
    for sigma in ((0.8, 1.5, 1.5), (0.8, 1.0, 1.0), (1.2, 3.0, 3.0)):
        low = ndimage.gaussian_filter(rng.standard_normal((lz, ly, lx)), sigma)
        low = (low - low.mean()) / low.std()
        fields.append(
            np.stack(
                [
                    ndimage.zoom(p, (n_y / ly, n_x / lx), order=3).astype(np.float32)
                    for p in low
                ]
            )
        )
    out = np.empty(shape, np.uint16)
    zpos = np.arange(n_z) * (lz - 1) / max(n_z - 1, 1)
    for z in range(n_z):
        i = min(int(zpos[z]), lz - 2)
        w = np.float32(zpos[z] - i)
        f0, f1, f2 = ((1 - w) * F[i] + w * F[i + 1] for F in fields)
        nuclei = _sigmoid(6.0 * (f0 - 0.9))
        cyto = _sigmoid(4.0 * (f1 + 0.2)) * (1.0 - nuclei)
        spots = _sigmoid(8.0 * (f1 - 1.4))
        means = (
            150.0 + 2600.0 * nuclei,
            220.0 + 1300.0 * cyto + 250.0 * nuclei,
            350.0 + 80.0 * f2 + 1800.0 * spots,
        )
        for c, mean in enumerate(means):
            mean = np.maximum(mean, 0.0, dtype=np.float32)
            noisy = mean + np.sqrt(mean + 36.0) * rng.standard_normal(
                mean.shape, dtype=np.float32
            )
            np.clip(np.rint(noisy), 0, STACK_MAX, out=noisy)
            out[c, z] = noisy
    return out


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    build: Callable[[], np.ndarray]
    k: int
    channel_axis: int | None = None
    large: bool = False  #: peers run once, in a capped child process
    rgb: bool = True  #: the tutorial recipe (columns R, G, B) applies


CASES = (
    Case("astronaut", "astronaut 512x512 RGB uint8", _astronaut, 3),
    Case(
        "astronaut-4k", "astronaut → 2160x3840 RGB uint8", _astronaut_4k, 4, None, True
    ),
    Case("coffee", "coffee 400x600 RGB uint8", _coffee, 4),
    Case("chelsea", "chelsea 300x451 RGB uint8", _chelsea, 4),
    Case(
        "stack",
        "uint16 stack (3, 64, 1024, 1024), channel_axis=0",
        make_stack,
        4,
        0,
        True,
        False,
    ),
)
SMALL = ("astronaut", "coffee", "chelsea")


# ------------------------------------------------------------------ the methods


def pixels(image: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """The ``(n_pixels, n_channels)`` pixel matrix, pixels in C order of the
    spatial axes (the order of ``segment()``'s ``labels.ravel()``)."""
    if image.ndim == 2:  # greyscale
        return image.reshape(-1, 1)
    if channel_axis is None:
        return image.reshape(-1, image.shape[-1])
    return np.moveaxis(image, channel_axis, -1).reshape(-1, image.shape[channel_axis])


def warmup_image(image: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """A small contiguous crop of ``image`` of the same kind (dtype, layout), of
    2**18 pixels per plane: large enough to take the engine's per-pixel way where
    the full image does, so that its compilation is not measured."""
    if channel_axis is None:
        return np.ascontiguousarray(image[:512, :512])
    index = [slice(0, 4 if image.ndim == 4 else 512)] * image.ndim
    index[channel_axis] = slice(None)
    index[-1] = index[-2] = slice(0, 512)
    if channel_axis in (-1, image.ndim - 1):
        index[-1] = slice(None)
        index[-3] = slice(0, 512)
    return np.ascontiguousarray(image[tuple(index)])


def run_ours(image, channel_axis, k):
    from napari_kmeans_seg import segment

    return segment(image, n_clusters=k, channel_axis=channel_axis, random_state=0)


def peer_tutorial(image, channel_axis, k):
    import pandas as pd
    from sklearn.cluster import KMeans

    df = pd.DataFrame(image.reshape(-1, 3), columns=["R", "G", "B"])
    km = KMeans(n_clusters=k, random_state=42).fit(df)
    labels = km.labels_.reshape(image.shape[:2])
    return labels, km.cluster_centers_


def peer_sklearn(image, channel_axis, k, **options):
    """``KMeans(random_state=0, **options)`` on the pixels in float64."""
    from sklearn.cluster import KMeans

    X = pixels(image, channel_axis).astype(np.float64)
    km = KMeans(n_clusters=k, random_state=0, **options).fit(X)
    return km.labels_, km.cluster_centers_


def peer_cv2(image, channel_axis, k, *, max_iter: int = 100, eps: float = 0.2):
    """``cv2.kmeans`` on float32 pixels: k-means++ init, 1 attempt, criteria
    EPS+MAX_ITER (``max_iter``, ``eps``)."""
    import cv2

    X = pixels(image, channel_axis).astype(np.float32)
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, max_iter, eps)
    _, labels, centers = cv2.kmeans(X, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    return labels, centers


def peer_faiss(image, channel_axis, k, **options):
    """``faiss.Kmeans(seed=0, **options)`` on float32 pixels; labels from a
    nearest-centroid search."""
    import faiss

    X = np.ascontiguousarray(pixels(image, channel_axis), dtype=np.float32)
    km = faiss.Kmeans(X.shape[1], k, seed=0, **options)
    km.train(X)
    _, nearest = km.index.search(X, 1)
    return nearest, km.centroids


@dataclass(frozen=True)
class Peer:
    key: str
    name: str
    fn: Callable
    module: str  #: import name; "not installed" when it cannot be imported
    settings: str
    rgb_only: bool = False
    repeat: bool = True  #: time --repeats runs on the small cases (else once)


PEERS = (
    Peer(
        "tutorial",
        "tutorial: DataFrame + KMeans",
        peer_tutorial,
        "pandas",
        "pandas DataFrame R,G,B; KMeans(random_state=42), float64, n_init='auto'",
        rgb_only=True,
        repeat=False,
    ),
    Peer(
        "sklearn",
        "sklearn KMeans",
        peer_sklearn,
        "sklearn",
        "KMeans(random_state=0) on X.astype(float64), n_init='auto'",
    ),
    Peer(
        "cv2",
        "cv2.kmeans",
        peer_cv2,
        "cv2",
        "float32, EPS+MAX_ITER (100, 0.2), attempts=1, KMEANS_PP_CENTERS",
    ),
    Peer(
        "faiss",
        "faiss.Kmeans",
        peer_faiss,
        "faiss",
        "float32, defaults (niter=25, subsamples to 256·k points), seed=0",
    ),
)
PEER_BY_KEY = {p.key: p for p in PEERS}


def importable(module: str) -> bool:
    try:
        __import__(module)
    except Exception:
        return False
    return True


# ------------------------------------------------------------------ measurements


def recomputed_inertia(X: np.ndarray, labels: np.ndarray, C: np.ndarray) -> float:
    """Σ over pixels of ‖x - C[label]‖² in float64 (labels 0-based), in chunks."""
    C = np.asarray(C, dtype=np.float64)
    total = 0.0
    for s in range(0, X.shape[0], CHUNK):
        d = X[s : s + CHUNK].astype(np.float64) - C[labels[s : s + CHUNK]]
        total += float(np.einsum("ij,ij->", d, d))
    return total


def _sq_dists(x: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Squared distances ``(n, k)`` from the float64 rows ``x`` to each centroid."""
    dist = np.empty((x.shape[0], C.shape[0]))
    for j in range(C.shape[0]):
        diff = x - C[j]
        dist[:, j] = np.einsum("ij,ij->i", diff, diff)
    return dist


def nearest_inertia(X: np.ndarray, C: np.ndarray) -> float:
    """Σ over pixels of the squared distance to the nearest centroid of ``C``, in
    float64, in chunks (the inertia of ``C`` whatever labels came with it)."""
    C = np.asarray(C, dtype=np.float64)
    total = 0.0
    for s in range(0, X.shape[0], CHUNK):
        total += float(_sq_dists(X[s : s + CHUNK].astype(np.float64), C).min(1).sum())
    return total


def fixed_point_check(X: np.ndarray, labels: np.ndarray, C: np.ndarray) -> dict:
    """Is (labels, C) a Lloyd fixed point on X? Labels 0-based, chunked."""
    C = np.asarray(C, dtype=np.float64)
    k, d = C.shape
    not_nearest = 0
    worst_excess = 0.0
    sums = np.zeros((k, d))
    counts = np.zeros(k, np.int64)
    for s in range(0, X.shape[0], CHUNK):
        x = X[s : s + CHUNK].astype(np.float64)
        lab = labels[s : s + CHUNK]
        dist = _sq_dists(x, C)
        best = dist.min(axis=1)
        own = dist[np.arange(x.shape[0]), lab]
        excess = own - best
        bad = excess > 1e-9 * best + 1e-12
        not_nearest += int(np.count_nonzero(bad))
        if bad.any():
            worst_excess = max(worst_excess, float(np.max(excess[bad] / best[bad])))
        counts += np.bincount(lab, minlength=k)
        for j in range(d):
            sums[:, j] += np.bincount(lab, weights=x[:, j], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    scale = max(float(np.max(np.abs(C))), 1.0)
    err = np.abs(means - C) / np.maximum(np.abs(C), 1e-12 * scale)
    max_rel = float(np.nanmax(err)) if np.all(counts > 0) else float("inf")
    means_ok = bool(np.all(counts > 0)) and bool(
        np.allclose(means, C, rtol=1e-6, atol=1e-12 * scale)
    )
    return {
        "not_nearest": not_nearest,
        "worst_excess": worst_excess,
        "empty": int(np.count_nonzero(counts == 0)),
        "max_centroid_rel_err": max_rel,
        "counts": counts,
        "fixed_point": not_nearest == 0 and means_ok,
    }


def _status_kb(key: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{key}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def _reset_hwm() -> bool:
    """Reset the peak RSS to the current RSS (Linux ≥ 4.0); True if it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    hwm, rss = _status_kb("VmHWM"), _status_kb("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss + 64


# -------------------------------------------------------------- child processes


def _worker(spec_path: str) -> None:
    """Child process: load the image, run one task, save labels/centroids/meta."""
    spec = json.loads(Path(spec_path).read_text())
    out = Path(spec["out"])
    image = np.load(spec["image"])
    ca, k, task = spec["channel_axis"], spec["k"], spec["task"]
    meta: dict = {}
    if task == "ours-memory":
        run_ours(image, ca, k)
        gc.collect()
        rss_before = _status_kb("VmRSS")
        reset = _reset_hwm()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        Path(spec["ready"]).touch()
        t0 = time.perf_counter()
        result = run_ours(image, ca, k)
        meta["time"] = time.perf_counter() - t0
        Path(spec["done"]).touch()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        meta.update(
            rss_before_kb=rss_before,
            maxrss_before_kb=before,
            maxrss_after_kb=after,
            hwm_after_kb=_status_kb("VmHWM"),
            hwm_reset=reset,
            input_bytes=int(image.nbytes),
        )
        del result
    else:
        fn = PEER_BY_KEY[task].fn
        Path(spec["ready"]).touch()
        t0 = time.perf_counter()
        labels, centroids = fn(image, ca, k)
        meta["time"] = time.perf_counter() - t0
        Path(spec["done"]).touch()
        np.save(out / "labels.npy", np.asarray(labels).reshape(-1).astype(np.uint8))
        np.save(out / "centroids.npy", np.asarray(centroids, dtype=np.float64))
    (out / "meta.json").write_text(json.dumps(meta))


def run_child(
    task: str, image_path: Path, case: Case, cap: float | None, workdir: Path
) -> dict:
    """Run ``task`` on the saved image in a fresh ``python this_script --worker``.

    The cap counts from the moment the child starts its timed region (after its
    imports and loading the image) to the end of that region (saving the outputs
    is not capped). Returns ``{"status": "ok"|"timeout"|"error"}``
    plus the child's outputs.
    """
    out = Path(tempfile.mkdtemp(prefix=f"{task}-", dir=workdir))
    spec = {
        "task": task,
        "image": str(image_path),
        "channel_axis": case.channel_axis,
        "k": case.k,
        "out": str(out),
        "ready": str(out / "ready"),
        "done": str(out / "done"),
    }
    spec_path = out / "spec.json"
    spec_path.write_text(json.dumps(spec))
    log_path = out / "log.txt"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", str(spec_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            # measuring memory: large blocks back to the system when freed (see
            # the module notes)
            env=dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
            if task == "ours-memory"
            else None,
        )
    deadline = None
    try:
        while proc.poll() is None:
            now = time.perf_counter()
            if deadline is None and (out / "ready").exists():
                deadline = now + cap if cap is not None else float("inf")
            if deadline is not None and now > deadline and not (out / "done").exists():
                proc.kill()
                proc.wait()
                return {"status": "timeout"}
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0 or not (out / "meta.json").exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        return {"status": "error", "error": " | ".join(tail) or f"rc={proc.returncode}"}
    res = {"status": "ok", **json.loads((out / "meta.json").read_text())}
    if (out / "labels.npy").exists():
        res["labels"] = np.load(out / "labels.npy")
        res["centroids"] = np.load(out / "centroids.npy")
    return res


# ---------------------------------------------------------------------- running


@dataclass
class Row:
    name: str
    status: str = "ok"  #: ok, timeout, skipped, not installed, error
    times: list[float] = field(default_factory=list)
    inertia: float | None = None
    note: str = ""

    @property
    def time(self) -> float | None:
        return statistics.median(self.times) if self.times else None


@dataclass
class CaseResult:
    case: Case
    n_pixels: int
    n_features: int
    input_bytes: int
    rows: list[Row]
    ours: dict


def timed(fn, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        result = None  # free the previous result before the next run
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def measure_ours(image, X, case: Case, args, image_path: Path, workdir: Path):
    """Our runs of a case: the table row and the details (checks, memory)."""
    ca, k = case.channel_axis, case.k
    run_ours(warmup_image(image, ca), ca, k)
    runs = []
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        r = run_ours(image, ca, k)
        times.append(time.perf_counter() - t)
        runs.append(r.labels if not runs else np.array_equal(r.labels, runs[0]))
    identical = all(runs[1:])
    lab0 = r.labels.reshape(-1).astype(np.int16) - 1
    n_unlabelled = int(np.count_nonzero(lab0 < 0))
    lab0 = np.maximum(lab0, 0)
    ours_inertia = recomputed_inertia(X, lab0, r.centroids)
    check = fixed_point_check(X, lab0, r.centroids)
    ours = {
        "reported_inertia": float(r.inertia),
        "inertia": ours_inertia,
        "converged": bool(r.converged),
        "n_iter": int(getattr(r, "n_iter", -1)),
        "identical": identical,
        "n_unlabelled": n_unlabelled,
        "counts_match": bool(np.array_equal(np.asarray(r.counts), check["counts"])),
        "check": check,
        "time_min": min(times),
        "time_max": max(times),
    }
    rows = [
        Row(
            "napari-kmeans-seg segment()",
            times=times,
            inertia=ours_inertia,
            note=f"exact, random_state=0; median of {len(times)}",
        )
    ]
    print(f"  ours: median {statistics.median(times):.4f} s", flush=True)
    del r, runs, lab0
    gc.collect()

    mem = run_child("ours-memory", image_path, case, None, workdir)
    ours["memory"] = mem
    print(f"  ours: memory child {mem['status']}", flush=True)
    return rows, ours


def run_case(case: Case, args, workdir: Path) -> CaseResult:
    t0 = time.perf_counter()
    image = case.build()
    print(
        f"\n[{case.key}] built {image.shape} {image.dtype} "
        f"({image.nbytes / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    ca, k = case.channel_axis, case.k
    X = pixels(image, ca)  # a view (strided for the channel-first stack)
    n, d = X.shape
    image_path = workdir / f"{case.key}.npy"
    np.save(image_path, image)

    # a. ours, in this process
    rows, ours = measure_ours(image, X, case, args, image_path, workdir)

    # b-e. the peers
    for peer in PEERS:
        row = Row(peer.name, note=peer.settings)
        rows.append(row)
        if peer.rgb_only and not case.rgb:
            row.status, row.note = "skipped", "n/a: the recipe is for RGB columns"
            continue
        if not importable(peer.module):
            row.status, row.note = "not installed", f"{peer.module} not importable"
            continue
        if case.large:
            res = run_child(peer.key, image_path, case, args.tutorial_cap, workdir)
            row.status = res["status"]
            if res["status"] == "ok":
                row.times = [res["time"]]
                row.inertia = recomputed_inertia(
                    X, res["labels"].astype(np.intp), res["centroids"]
                )
            elif res["status"] == "timeout":
                row.times = []
                row.note = f"killed after the {args.tutorial_cap:g} s cap; " + row.note
            else:
                row.note = "error: " + res["error"]
            row.note = "1 run, child process; " + row.note
            del res
        else:
            repeats = args.repeats if peer.repeat else 1
            try:
                row.times, (labels, centroids) = timed(
                    lambda peer=peer: peer.fn(image, ca, k), repeats
                )
            except Exception as exc:  # report and go on with the other peers
                row.status, row.note = "error", f"error: {exc!r}"
                traceback.print_exc()
                continue
            row.inertia = recomputed_inertia(
                X, np.asarray(labels).reshape(-1).astype(np.intp), centroids
            )
            row.note = (
                f"median of {repeats}; " if repeats > 1 else "1 run; "
            ) + row.note
            del labels, centroids
        shown = f"{row.time:.3f} s" if row.time is not None else row.status
        print(f"  {peer.key}: {shown}", flush=True)
        gc.collect()
    image_path.unlink()
    return CaseResult(case, n, d, int(image.nbytes), rows, ours)


# ---------------------------------------------------------------------- reports


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "—"
    if t < 1:
        return f"{t:.4f}"
    return f"{t:.2f}" if t < 100 else f"{t:.0f}"


def _fmt_ratio(x: float) -> str:
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x" if x < 1000 else f"{x:.0f}x"


def table_rows(res: CaseResult, cap: float) -> list[list[str]]:
    ours_row = res.rows[0]
    ours_t, ours_i = ours_row.time, ours_row.inertia
    rows = []
    for row in res.rows:
        if row.status == "ok":
            t = _fmt_time(row.time)
            speed = _fmt_ratio(row.time / ours_t)
            inertia = f"{row.inertia:.6e}"
            ratio = f"{ours_i / row.inertia:.6f}" if row.inertia else "—"
        elif row.status == "timeout":
            t, speed = f">{cap:g}", "≥" + _fmt_ratio(cap / ours_t)
            inertia = ratio = "— (capped)"
        else:
            t, speed, inertia, ratio = row.status, "—", "—", "—"
        rows.append([row.name, t, speed, inertia, ratio, row.note])
    return rows


HEADER = [
    "method",
    "time (s)",
    "ours faster by",
    "inertia (recomputed)",
    "inertia ours/theirs",
    "notes",
]


def case_heading(res: CaseResult) -> str:
    c = res.case
    return (
        f"{c.title}, k={c.k}: {res.n_pixels:,} pixels x {res.n_features} "
        f"features, input {res.input_bytes / 2**20:.1f} MiB"
    )


def memory_text(mem: dict) -> str:
    """The peak-memory line: peak RSS of the call minus the RSS just before it.

    A child's ``ru_maxrss`` starts at its *parent's* peak (Linux keeps the larger
    of the pre-exec and the current high-water mark), so it only measures the call
    when the call raises it. The high-water mark ``VmHWM``, reset to the current
    RSS just before the call, measures it in every case and is preferred.
    """
    if mem.get("status") != "ok":
        return f"peak memory: not measured ({mem.get('status')}: {mem.get('error')})"
    base = mem["rss_before_kb"]
    if mem["hwm_reset"] and mem.get("hwm_after_kb"):
        extra_kb = mem["hwm_after_kb"] - base
        how = "VmHWM reset just before the call"
        if mem["maxrss_after_kb"] > mem["maxrss_before_kb"]:
            how += f"; ru_maxrss says {(mem['maxrss_after_kb'] - base) / 1024:.1f} MiB"
        else:
            how += "; ru_maxrss not raised above the parent's peak it inherits"
    elif mem["maxrss_after_kb"] > mem["maxrss_before_kb"]:
        extra_kb, how = mem["maxrss_after_kb"] - base, "ru_maxrss"
    else:
        return (
            "peak memory: not measurable here (the call stayed below the ru_maxrss "
            "inherited from the parent and /proc/self/clear_refs is not writable)"
        )
    rel = extra_kb * 1024 / mem["input_bytes"]
    return (
        f"peak RSS of one call beyond the loaded input: "
        f"{extra_kb / 1024:.1f} MiB = {rel:.2f}x the input "
        f"(fresh process; {how}; that call took {mem['time']:.3f} s)"
    )


def ours_lines(res: CaseResult) -> list[str]:
    o = res.ours
    chk = o["check"]
    rel = abs(o["reported_inertia"] - o["inertia"]) / max(abs(o["inertia"]), 1e-300)
    lines = [
        f"segment() reported inertia {o['reported_inertia']:.9e}, recomputed "
        f"{o['inertia']:.9e} (relative difference {rel:.1e})",
        f"converged={o['converged']} after {o['n_iter']} full-data Lloyd iterations; "
        f"Lloyd fixed point (checked here): "
        f"{'yes' if chk['fixed_point'] else 'NO'} — {chk['not_nearest']:,} pixels "
        f"not at their nearest centroid, max centroid-vs-mean relative error "
        f"{chk['max_centroid_rel_err']:.1e}, {chk['empty']} empty clusters",
        f"labels identical over the {len(res.rows[0].times)} timed runs: "
        f"{'yes' if o['identical'] else 'NO'}; counts match the labels: "
        f"{'yes' if o['counts_match'] else 'NO'}; pixels with label 0: "
        f"{o['n_unlabelled']}; time min/median/max "
        f"{o['time_min']:.4f}/{res.rows[0].time:.4f}/{o['time_max']:.4f} s",
        memory_text(o["memory"]),
    ]
    return lines


def text_table(rows: list[list[str]]) -> str:
    cols = list(zip(HEADER, *rows, strict=False))
    widths = [max(len(s) for s in col) for col in cols]
    align = ["<", ">", ">", ">", ">", "<"]
    out = []
    for line in [HEADER, [""] * len(HEADER), *rows]:
        if not any(line):
            out.append("  ".join("-" * w for w in widths))
            continue
        out.append(
            "  ".join(
                f"{s:{a}{w}}" for s, a, w in zip(line, align, widths, strict=True)
            ).rstrip()
        )
    return "\n".join(out)


def md_table(rows: list[list[str]]) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(HEADER) + " |"]
    lines.append("|" + "|".join(["---", "--:", "--:", "--:", "--:", "---"]) + "|")
    lines += ["| " + " | ".join(cell(s) for s in r) + " |" for r in rows]
    return "\n".join(lines)


def _version(module: str) -> str:
    try:
        mod = __import__(module)
    except Exception:
        return "not installed"
    return str(getattr(mod, "__version__", "?"))


def source_digest() -> str:
    """A hash of the package's source files, to notice edits during a run (the
    child processes import the package afresh)."""
    import hashlib

    root = Path(__file__).resolve().parent.parent / "src"
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        with contextlib.suppress(OSError):
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def machine_info() -> list[tuple[str, str]]:
    cpu = "?"
    with contextlib.suppress(OSError):
        m = re.search(
            r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE
        )
        cpu = m.group(1).strip() if m else "?"
    mem = "?"
    with contextlib.suppress(OSError):
        m = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        mem = f"{int(m.group(1)) / 2**20:.1f} GiB" if m else "?"
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    git = "?"
    with contextlib.suppress(Exception):
        root = Path(__file__).resolve().parent.parent
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        git = head + (" + uncommitted changes in src/" if dirty else "")
    threads = " ".join(
        f"{v}={os.environ[v]}"
        for v in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        if v in os.environ
    )
    versions = ", ".join(
        f"{name} {_version(mod)}"
        for name, mod in (
            ("numpy", "numpy"),
            ("scikit-learn", "sklearn"),
            ("opencv", "cv2"),
            ("numba", "numba"),
            ("pandas", "pandas"),
            ("scikit-image", "skimage"),
            ("scipy", "scipy"),
            ("faiss", "faiss"),
            ("napari-kmeans-seg", "napari_kmeans_seg"),
        )
    )
    return [
        ("date", datetime.datetime.now().astimezone().isoformat(timespec="seconds")),
        ("CPU", cpu),
        ("nproc", f"{os.cpu_count()} (usable by this process: {affinity})"),
        ("memory", mem),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("versions", versions),
        ("git", f"{git} (src/ digest {source_digest()})"),
        ("thread env", threads or "(none set)"),
        ("command", shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))),
    ]


def report(results: list[CaseResult], args, info, digest: str) -> None:
    print("\n" + "=" * 100)
    for res in results:
        rows = table_rows(res, args.tutorial_cap)
        print(f"\n== {case_heading(res)}\n")
        print(text_table(rows))
        for line in ours_lines(res):
            print("  · " + line)
    if source_digest() != digest:
        print(
            "\nWARNING: src/ changed during the run; child processes (peak memory, "
            "capped peers) may have run other code than this process. Rerun.",
        )
    print("\n" + "=" * 100 + "\nMarkdown (for benchmarks/RESULTS.md):\n")
    md = ["## segment() vs common k-means recipes", ""]
    md += [
        f"- **{key}**: `{val}`" if key == "command" else f"- **{key}**: {val}"
        for key, val in info
    ]
    md += [
        "",
        "Times are wall-clock seconds from the image array to labels + centroids "
        "(ours: median of the timed runs after a warm-up; peers on the large cases: "
        f"one run in a child process capped at {args.tutorial_cap:g} s). "
        "“ours faster by” = their time / our time (a lower bound when capped). "
        "Inertia is recomputed identically for all: Σ‖x - centroid[label]‖² in "
        "float64; “inertia ours/theirs” < 1 means ours is lower (better).",
    ]
    for res in results:
        md += [
            "",
            f"### {case_heading(res)}",
            "",
            md_table(table_rows(res, args.tutorial_cap)),
            "",
        ]
        md += [f"- {line}" for line in ours_lines(res)]
    print("\n".join(md))


# ------------------------------------------------- scientific images (--science)
# Images where nearly every pixel is unique: float photos after processing,
# 16-bit fluorescence with Poisson noise, float greyscale. Made here, no downloads.
SCI_KS = (2, 4, 8, 16, 32)


def _smooth_fields(n: int, count: int, rng) -> np.ndarray:
    """``count`` smooth random fields in [0, 1], ``(count, n, n)`` float32."""
    from scipy import ndimage

    low = rng.standard_normal((count, n // 32 + 2, n // 32 + 2))
    out = np.empty((count, n, n), np.float32)
    for c in range(count):
        f = ndimage.gaussian_filter(low[c], 1.5)
        f = ndimage.zoom(f, n / f.shape[0], order=1)[:n, :n]
        out[c] = (f - f.min()) / (np.ptp(f) or 1.0)
    return out


def sci_float_rgb(n: int) -> np.ndarray:
    """The astronaut, bilinear resized to ``n``², float32 in [0, 1] + tiny noise."""
    from skimage import data, transform

    rng = np.random.default_rng(1)
    img = transform.resize(data.astronaut(), (n, n), order=1).astype(np.float32)
    img += rng.normal(0, 1e-3, img.shape).astype(np.float32)
    return img


def sci_poisson(n: int, channels: int) -> np.ndarray:
    """Fluorescence-like ``(n, n, channels)`` uint16: smooth structures (means 50
    to ~3000 counts) with Poisson noise."""
    rng = np.random.default_rng(channels)
    fields = _smooth_fields(n, channels, rng)
    means = 50.0 + 3000.0 * fields**3
    return np.moveaxis(rng.poisson(means).astype(np.uint16), 0, -1)


def sci_float64_2ch(n: int) -> np.ndarray:
    """Two channels after flat-field correction: ``(n, n, 2)`` float64."""
    rng = np.random.default_rng(2)
    f = _smooth_fields(n, 3, rng).astype(np.float64)
    flat = 0.6 + 0.4 * f[2]
    raw = rng.poisson(200 + 2000 * f[:2] ** 2 * flat)
    return np.moveaxis(raw / flat, 0, -1)


def sci_grey(n: int) -> np.ndarray:
    """The camera photo bilinear resized to ``n``², float32 + tiny noise."""
    from skimage import data, transform

    rng = np.random.default_rng(3)
    img = transform.resize(data.camera() / 255.0, (n, n), order=1)
    return (img + rng.normal(0, 1e-3, img.shape)).astype(np.float32)


def science_cases(quick: bool) -> list[tuple[str, str, Callable, int | None]]:
    n, g = (512, 1024) if quick else (2048, 4096)
    return [
        ("f32-rgb", f"float32 RGB {n}²", partial(sci_float_rgb, n), -1),
        ("u16-3", f"uint16 3-channel Poisson {n}²", partial(sci_poisson, n, 3), -1),
        ("u16-5", f"uint16 5-channel Poisson {n}²", partial(sci_poisson, n, 5), -1),
        ("f64-2", f"float64 2-channel {n}²", partial(sci_float64_2ch, n), -1),
        ("f32-grey", f"float32 greyscale {g}²", partial(sci_grey, g), None),
    ]


def run_sci_ours(image, channel_axis, k):
    from napari_kmeans_seg import segment

    return segment(image, k, channel_axis=channel_axis, rgb=False, random_state=0)


def label_pass_text(image, channel_axis, k: int = 8) -> str:
    """The label pass alone: every pixel of ``image`` labelled with the model of a
    fit at ``k`` (``segment(image, model=...)``, fastest of 5), as time and input
    bytes read per second."""
    from napari_kmeans_seg import segment

    model = run_sci_ours(image, channel_axis, k).model
    times, _ = timed(
        lambda: segment(image, channel_axis=channel_axis, rgb=False, model=model), 5
    )
    t = min(times)
    return (
        f"the label pass alone (`segment(image, model=...)` with the k = {k} model): "
        f"{t * 1e3:.1f} ms = {image.nbytes / t / 1e9:.2f} GB/s of input"
    )


def sci_faiss(image, channel_axis, k):
    """faiss with 300 iterations, 1 run, on every pixel: its default trains on a
    sample of at most ``max_points_per_centroid * k`` rows (256 * k)."""
    n = pixels(image, channel_axis).shape[0]
    return peer_faiss(
        image, channel_axis, k, niter=300, nredo=1, max_points_per_centroid=-(-n // k)
    )


SCI_PEERS = (
    Peer(
        "sklearn-lloyd",
        "sklearn lloyd",
        partial(peer_sklearn, n_init=1, algorithm="lloyd"),
        "sklearn",
        "`KMeans(n_init=1, random_state=0, algorithm='lloyd')` on float64 pixels "
        "(max_iter 300, tol 1e-4)",
    ),
    Peer(
        "sklearn-elkan",
        "sklearn elkan",
        partial(peer_sklearn, n_init=1, algorithm="elkan"),
        "sklearn",
        "the same with `algorithm='elkan'`",
    ),
    Peer(
        "cv2",
        "cv2.kmeans",
        partial(peer_cv2, max_iter=300, eps=1e-4),
        "cv2",
        "float32 pixels, `KMEANS_PP_CENTERS`, attempts=1, criteria EPS+MAX_ITER "
        "(300, 1e-4), `setRNGSeed(0)`",
    ),
    Peer(
        "faiss",
        "faiss",
        sci_faiss,
        "faiss",
        "`faiss.Kmeans(niter=300, nredo=1, seed=0)` on float32 pixels, with "
        "`max_points_per_centroid = ceil(pixels / k)` so that it trains on every "
        "pixel (its default samples at most 256·k of them)",
    ),
)


def science_notes(args) -> list[str]:
    """The Markdown lines that say how to read the science tables."""
    lines = [
        "",
        "Ours: `segment(image, k, rgb=False, random_state=0)`, fastest of "
        f"{args.repeats} run(s) after a warm-up run on the image. Each peer: one "
        "run after a warm-up on a tiny image, timed from the image array to labels and "
        "centroids; a peer cell is “its time in s (its time / ours)”; “—” = not "
        "installed or not selected. Inertia: Σ‖x - nearest centroid‖² in "
        "float64 over all pixels, recomputed here for every peer from its "
        "centroids; the last column is ours / the lowest peer inertia.",
    ]
    return lines + [f"- {p.name}: {p.settings}" for p in SCI_PEERS]


def selected(peer: Peer, args) -> bool:
    """Does this run include ``peer`` (``--peers``, ``--no-sklearn``)?"""
    if args.no_sklearn:
        return False
    return not args.peers or peer.key in args.peers.split(",")


def run_science(args, workdir: Path) -> list[str]:
    """Every science case at every k: ours (fastest of ``--repeats``) against the
    peers of ``SCI_PEERS`` (one run each); the fixed-point check; the peak
    memory of ours in a fresh process (at k = 8). Returns Markdown lines."""
    ks = [int(k) for k in args.ks.split(",")] if args.ks else list(SCI_KS)
    tiny = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    for peer in SCI_PEERS:  # imports and thread pools, as ours is warmed
        if selected(peer, args) and importable(peer.module):
            with contextlib.suppress(Exception):  # a failing peer fails in its cells
                peer.fn(tiny, -1, 3)
    md = science_notes(args)
    print("\n".join(md), flush=True)
    only = {s.strip() for s in args.only.split(",")} if args.only else None
    for key, title, build, ca in science_cases(args.quick):
        if only is None or key in only:
            md += science_case(key, title, build(), ca, ks, args, workdir)
    return md


def science_peer(peer: Peer, image, X, ca, k, ours_time) -> tuple[str, float]:
    """One peer at one k: its table cell and its recomputed inertia (inf when it
    did not run)."""
    if not importable(peer.module):
        return "—", np.inf
    try:
        times, (_, centroids) = timed(lambda: peer.fn(image, ca, k), 1)
    except Exception as exc:  # report it and go on with the other peers
        print(f"{peer.name} failed at k={k}: {exc!r}", file=sys.stderr, flush=True)
        return "error", np.inf
    t = times[0]
    cell = f"{_fmt_time(t)} ({_fmt_ratio(t / ours_time)})"
    return cell, nearest_inertia(X, centroids)


def science_row(image, X, ca, k, args, t_sum) -> str:
    """One k of a science case, as a Markdown table row."""
    times, r = timed(lambda: run_sci_ours(image, ca, k), args.repeats)
    lab = r.labels.reshape(-1).astype(np.intp) - 1
    check = fixed_point_check(X, lab, r.centroids)
    ours_i = recomputed_inertia(X, lab, r.centroids)
    fast = min(times)
    iters = f"{r.n_iter}, {r.converged}"
    del r, lab  # not held while the peers run
    row = [str(k), f"{fast:.3f}", f"{fast / t_sum:.0f}x"]
    best, which = np.inf, ""
    for peer in SCI_PEERS:
        if not selected(peer, args):
            row.append("—")
            continue
        cell, inertia = science_peer(peer, image, X, ca, k, fast)
        row.append(cell)
        if inertia < best:
            best, which = inertia, peer.name
        gc.collect()
    fp = (
        "yes"
        if check["fixed_point"]
        else (f"no ({check['not_nearest']} off, {check['empty']} empty)")
    )
    row += [iters, fp, f"{ours_i / best:.6f} ({which})" if np.isfinite(best) else "—"]
    return "| " + " | ".join(row) + " |"


def science_case(key, title, image, ca, ks, args, workdir: Path) -> list[str]:
    """All k of one science image, and its peak memory at k = 8."""
    X = pixels(image, ca)
    t_sum = min(timed(image.sum, 5)[0])
    # on the image itself: a crop may take other paths and leave them to compile
    run_sci_ours(image, ca, ks[0])
    md = [
        "",
        f"### {title}: {X.shape[0]:,} pixels x {X.shape[1]} features, "
        f"{image.dtype}, input {image.nbytes / 2**20:.0f} MiB",
        "",
        "| k | ours (s) | ours / np.sum | "
        + " | ".join(p.name for p in SCI_PEERS)
        + " | ours: iterations, converged | fixed point | "
        "inertia ours / best peer (which) |",
        "|--:|--:|--:|" + "--:|" * len(SCI_PEERS) + "---|---|--:|",
    ]
    print("\n".join(md), flush=True)
    for k in ks:
        md.append(science_row(image, X, ca, k, args, t_sum))
        print(md[-1], flush=True)
        gc.collect()
    path = workdir / f"{key}.npy"
    np.save(path, image)
    case = Case(key, title, lambda: image, 8, ca)
    mem = run_child("ours-memory", path, case, None, workdir)
    path.unlink()
    md += [
        "",
        f"- one `np.sum` over the image: {t_sum * 1e3:.1f} ms (fastest of 5)",
        f"- at k = 8: {memory_text(mem)}",
        f"- {label_pass_text(image, ca)}",
    ]
    print("\n".join(md[-3:]), flush=True)
    return md


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small cases only")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs of the fast methods"
    )
    parser.add_argument(
        "--tutorial-cap",
        type=float,
        default=150.0,
        metavar="SECONDS",
        help="time cap of each peer run on the large cases (child process)",
    )
    parser.add_argument(
        "--skip-big-stack", action="store_true", help="leave out the uint16 stack"
    )
    parser.add_argument(
        "--only",
        metavar="CASES",
        help="comma-separated case keys: "
        + ", ".join(c.key for c in CASES)
        + "; with --science: f32-rgb, u16-3, u16-5, f64-2, f32-grey",
    )
    parser.add_argument(
        "--science",
        action="store_true",
        help="the scientific images (float, 16-bit multichannel, greyscale) at "
        "k = 2..32 against scikit-learn lloyd and elkan, cv2.kmeans and faiss "
        "(where they import); with --quick, 512² images",
    )
    parser.add_argument("--ks", help="with --science: comma-separated k values")
    parser.add_argument(
        "--no-sklearn", action="store_true", help="with --science: ours only, no peers"
    )
    parser.add_argument(
        "--peers",
        help="with --science: comma-separated peers to run (default all): "
        + ", ".join(p.key for p in SCI_PEERS),
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker)
        return
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    unknown = (
        set(args.peers.split(",")) - {p.key for p in SCI_PEERS} if args.peers else ()
    )
    if unknown:
        parser.error(f"unknown peer(s) {sorted(unknown)}")
    if args.science:
        info = machine_info()
        with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
            md = run_science(args, Path(tmp))
        print("\n".join([f"- **{k}**: {v}" for k, v in info] + md))
        return
    cases = list(CASES)
    if args.only:
        keys = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = sorted(set(keys) - {c.key for c in CASES})
        if unknown:
            parser.error(f"unknown case(s) {unknown}")
        cases = [c for c in cases if c.key in keys]
    if args.quick:
        cases = [c for c in cases if c.key in SMALL]
    if args.skip_big_stack:
        cases = [c for c in cases if c.key != "stack"]

    # warm the peers' thread pools / lazy imports as we warm ours
    rng = np.random.default_rng(0)
    tiny = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for peer in PEERS:
        if importable(peer.module):
            peer.fn(tiny, None, 3)

    info = machine_info()  # at the start: the code and commit being measured
    digest = source_digest()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        for case in cases:
            results.append(run_case(case, args, Path(tmp)))
    report(results, args, info, digest)


if __name__ == "__main__":
    main()
