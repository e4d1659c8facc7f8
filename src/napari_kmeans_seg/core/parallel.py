"""Threads and stop hooks of the engine's passes: how a pass over ``n`` rows is
split into ranges that run in parallel threads (the compiled kernels release the
GIL), how a caller stops a computation, and how it counts the passes.

No napari, no Qt, no numba here. The split depends on ``n`` only, never on the
number of threads, so results are the same on every machine.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: fixed split of every pass (by size only), so that results never depend on the
#: number of threads: one range below _SMALL pixels, two below 32·_SMALL, else this
N_RANGES = 4
_SMALL = 1 << 16
#: rows per kernel call within a range: the stop hook is polled between calls
CHUNK_ROWS = 1 << 21

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
#: set in threads whose passes run whole, in that thread (see :func:`in_this_thread`)
_local = threading.local()


def _renew_after_fork() -> None:
    """In a forked child: the parent's pool threads do not exist there, and a lock
    held by one of the parent's other threads would never be released."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_after_fork)


class Cancelled(Exception):
    """The computation was stopped by its ``should_stop`` hook (see
    :func:`stop_when`)."""


@contextlib.contextmanager
def in_this_thread():
    """Run the passes started in this thread in it alone, not split over the
    engine's threads: for callers that already run many at once, such as the tasks
    of a dask graph, where splitting adds only hand-offs between threads that
    compete for the same cores."""
    before = getattr(_local, "whole", False)
    _local.whole = True
    try:
        yield
    finally:
        _local.whole = before


def never() -> None:
    """The stop check when no hook is set."""


def current_check() -> Callable[[], None]:
    """The stop check of this thread: raises :class:`Cancelled` once the hook of
    the enclosing :func:`stop_when` is set (does nothing without one)."""
    return getattr(_local, "check", never)


def _stop_check(should_stop) -> Callable[[], None]:
    """A function raising :class:`Cancelled` once ``should_stop`` says so."""
    if should_stop is None:
        return never
    test = getattr(should_stop, "is_set", should_stop)
    if not callable(test):
        raise TypeError(
            "should_stop must be a threading.Event or a callable returning True "
            f"to stop, not {type(should_stop).__name__}"
        )

    def check() -> None:
        if test():
            raise Cancelled("the k-means computation was cancelled")

    return check


@contextlib.contextmanager
def stop_when(should_stop, *, on_pass: Callable[[], None] | None = None):
    """Stop the engine's computations started in this thread once ``should_stop``
    (a ``threading.Event``, or a callable returning True to stop) is set.

    The hook is polled between passes and between chunks of rows within a pass;
    the computation then raises :class:`Cancelled`. :func:`~.engine.fit_predict`
    and :func:`~.engine.predict` take the same hook as their ``should_stop``
    argument; this context reaches computations started deeper down, e.g. inside
    ``segment()``. Passes run in dask's own threads (lazy images) are not reached.

    ``on_pass``, if given, is called (in this thread) after each parallel pass
    that :func:`map_spans` or :func:`in_parallel` runs for it: a caller counts
    them to show how far the work got. It should return quickly. Without it, an
    enclosing :func:`stop_when`'s ``on_pass`` still counts the passes."""
    check = _stop_check(should_stop)
    before = getattr(_local, "check", never), getattr(_local, "on_pass", never)
    _local.check = check
    _local.on_pass = before[1] if on_pass is None else on_pass
    try:
        yield
    finally:
        _local.check, _local.on_pass = before


def stop_scope(should_stop):
    """:func:`stop_when` for a given hook; with none, the caller's stays."""
    if should_stop is None:
        return contextlib.nullcontext()
    return stop_when(should_stop)


def spans(n: int, width: int = 1) -> list[tuple[int, int]]:
    """The row ranges a pass over ``n`` rows is split into (one per thread), by
    the values it reads: ``width`` per row."""
    if getattr(_local, "whole", False):
        return [(0, n)]
    size = n * max(width, 1)
    n_ranges = 1 if size < _SMALL else 2 if size < _SMALL << 5 else N_RANGES
    n_ranges = min(n_ranges, max(n, 1))
    b = np.linspace(0, n, n_ranges + 1).astype(np.int64).tolist()
    return list(itertools.pairwise(b))


def chunks(start: int, stop: int, check: Callable[[], None]):
    """The rows ``[start, stop)`` in chunks of :data:`CHUNK_ROWS`, calling the stop
    check ``check`` before each."""
    for a in range(start, stop, CHUNK_ROWS):
        check()
        yield a, min(a + CHUNK_ROWS, stop)


def map_spans(fn, n: int, width: int = 1) -> list:
    """``[fn(start, stop) for each range]`` of the fixed split of ``range(n)`` (rows
    of ``width`` values, see :func:`spans`), run in parallel threads (the kernels
    and BLAS release the GIL)."""
    parts = spans(n, width)
    if len(parts) == 1:
        out = [fn(*parts[0])]
    else:
        out = _run_all([lambda s=s: fn(*s) for s in parts])
    _passed()
    return out


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=min(N_RANGES, os.cpu_count() or 1),
                thread_name_prefix="kmeans-seg",
            )
        return _pool


def in_parallel(calls: list) -> list:
    """``[call() for call in calls]``, run in the pool's threads, in order (in
    this thread under :func:`in_this_thread`); one pass for the ``on_pass`` hook
    of :func:`stop_when`."""
    out = _run_all(calls)
    _passed()
    return out


def _run_all(calls: list) -> list:
    if getattr(_local, "whole", False):
        return [call() for call in calls]
    return list(_get_pool().map(lambda call: call(), calls))


def _passed() -> None:
    """Tell the ``on_pass`` hook of this thread's :func:`stop_when` (if any)."""
    getattr(_local, "on_pass", never)()
