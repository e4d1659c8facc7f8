"""Loading (or compiling) the engine's passes ahead of the first segmentation."""

from __future__ import annotations

import os
import warnings

import numpy as np

from . import kernels as K
from .engine import fit_predict, predict
from .fit.job import Job
from .fit.per_pixel import MIN_ROWS, PerPixel
from .fit.pixels import Pixels
from .fit.records import FitOptions, MixtureOptions, NotConvergedWarning

#: the kinds of pixel matrix whose passes :func:`warm_up` loads (or compiles), most
#: common first: dtype, number of features, and whether the matrix is a view of
#: the first three of four channels (RGBA: a non-contiguous layout, compiled apart)
WARM_UP_KINDS = {
    "8-bit RGB": (np.uint8, 3, False),
    "8-bit greyscale": (np.uint8, 1, False),
    "16-bit greyscale": (np.uint16, 1, False),
    "16-bit 3 channels": (np.uint16, 3, False),
    "16-bit 2 channels": (np.uint16, 2, False),
    "8-bit RGBA": (np.uint8, 3, True),
    "float32 greyscale": (np.float32, 1, False),
    "float32 RGB": (np.float32, 3, False),
    "float64 greyscale": (np.float64, 1, False),
    "float64 RGB": (np.float64, 3, False),
}


#: the kinds whose Gaussian mixture passes are loaded too (the common ones)
MIXTURE_KINDS = ("8-bit RGB", "float32 RGB")


def _warm_up_kinds(names) -> None:
    """Fit (exactly, and by sampling with a mask) and label a small synthetic
    pixel matrix of each kind in ``names`` (keys of :data:`WARM_UP_KINDS`)."""
    rng = np.random.default_rng(0)
    centres = rng.uniform(0.1, 0.9, (4, 3))
    n = MIN_ROWS  # large enough for the per-pixel way where it applies
    rows = centres[rng.integers(0, 4, n)] + rng.normal(0, 0.15, (n, 3))
    small = n // 2  # and a smaller image for the cells
    rows = np.clip(rows, 0, 1)
    mask = np.ones(len(rows), bool)
    for name in names:
        dtype, d, rgba = WARM_UP_KINDS[name]
        top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1
        if rgba:  # an opaque alpha channel, left out as segment() does
            X = (np.column_stack([rows, np.ones(len(rows))]) * top).astype(dtype)[:, :3]
        else:
            X = (rows[:, :d] * top).astype(dtype)
        fit = fit_predict(X[:small], n_clusters=3, random_state=0)
        predict(X[:small], fit.centroids)
        fit_predict(X[:small], n_clusters=3, mask=mask[:small], method="sample")
        if d > 1 and dtype != np.uint8:  # the per-pixel way, whichever way X takes
            job = Job(Pixels(X, None), 3, FitOptions(), np.random.default_rng(0))
            PerPixel().fit(job)
        if d == 1:  # one feature: small images take the histogram's way alone
            fit_predict(X[: small // 4], n_clusters=3, random_state=0)
        if name in MIXTURE_KINDS:  # EM over the pixels, and over distinct values
            _warm_up_mixture(X[:small])


def _warm_up_mixture(X: np.ndarray) -> None:
    """Fit a Gaussian mixture to ``X`` and to a few-valued copy of it (8-bit: EM
    over distinct values), two EM iterations each."""
    few = (X // 16) * 16 if X.dtype == np.uint8 else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotConvergedWarning)
        for Y in (X, few):
            fit_predict(Y, n_clusters=3, mixture=MixtureOptions(max_iter=2, tol=0))


def _n_compiled() -> int:
    """How many functions the engine's compiled modules compiled in this process
    (rather than loaded from numba's cache)."""
    import sys

    from numba.core.dispatcher import Dispatcher

    return sum(
        sum(obj.stats.cache_misses.values())
        for name, module in list(sys.modules.items())
        if name.startswith(__package__)
        for obj in list(vars(module).values())
        if isinstance(obj, Dispatcher)
    )


def _compile_in_children(names: list[str], processes: int) -> None:
    """Compile the passes of ``names`` in ``processes`` child processes at once
    (numba compiles in one thread, holding the GIL): they write numba's cache,
    from which this process then loads. Failures are left to the caller's own
    warm-up, which compiles whatever was not cached."""
    import subprocess
    import sys

    package_root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    children = []
    for share in (names[i::processes] for i in range(processes)):
        code = f"from {__name__} import _warm_up_kinds; _warm_up_kinds({share!r})"
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", code],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    for child in children:
        try:
            child.wait(timeout=600)
        except subprocess.TimeoutExpired:
            child.kill()


def warm_up(*, processes: int | None = None) -> None:
    """Load the compiled passes for the common kinds of image
    (:data:`WARM_UP_KINDS`), each fitted and labelled once on a small synthetic
    pixel matrix.

    numba loads a pass's machine code from its on-disk cache (compiling it the
    first time on a machine) on its first call in a process, holding the GIL for
    tens of milliseconds per pass; a GUI calls this in a background thread when it
    opens, so that the first segmentation does not freeze its event loop.

    Parameters
    ----------
    processes : int, optional
        When the first kind had to be compiled (an empty cache), the others are
        compiled in this many child processes, then loaded here: compiling, which
        holds the GIL for seconds, stays out of this process (and, with several
        processes on enough cores, takes less time). Default: 2 from 4 cores on,
        else 1, when numba can cache; 0 compiles everything in this process.
    """
    import sys

    names = list(WARM_UP_KINDS)
    before = _n_compiled()
    _warm_up_kinds(names[:1])
    if processes is None:
        can_start = K._OPTS["cache"] and not getattr(sys, "frozen", False)
        processes = (2 if (os.cpu_count() or 1) >= 4 else 1) if can_start else 0
    if processes > 0 and _n_compiled() > before:
        _compile_in_children(names[1:], processes)
    _warm_up_kinds(names[1:])
