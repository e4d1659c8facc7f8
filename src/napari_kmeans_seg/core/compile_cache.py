"""Where numba keeps the engine's compiled passes between processes.

numba caches a compiled function (``cache=True``) in the first writable one of:
``$NUMBA_CACHE_DIR``, the ``__pycache__`` folder next to the source file, and the
user's cache folder (``$XDG_CACHE_HOME/numba``, else ``~/.cache/numba``). When none
is writable (a read-only installation run by a user without a writable home, as in
many containers) numba refuses to create a cached function at all, and importing
the engine would fail. :func:`caching_enabled` then points numba at a private
folder of this user's in the temporary directory; only if that fails too is the
engine compiled afresh in every process.

numba reads a cached pass with pickle at its first call, and a damaged file (cut
short by a full disk or a killed process, or overwritten) would make that call
fail in every process. :func:`njit` compiles with a cache that sets such files
aside (renamed ``*.damaged``), warns naming the folder, and compiles afresh.
"""

from __future__ import annotations

import getpass
import glob
import logging
import os
import stat
import tempfile
import warnings
from collections.abc import Callable

import numba
from numba.core.caching import FunctionCache
from numba.core.dispatcher import Dispatcher

logger = logging.getLogger(__name__)


def _can_cache(source: str) -> bool:
    """Whether numba finds a writable cache folder for functions defined in
    ``source`` (it tries its own folders, in its own order)."""
    namespace: dict = {}
    exec(compile("def probe():\n    pass\n", source, "exec"), namespace)
    try:
        FunctionCache(namespace["probe"])
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return False
    return True


def private_temp_dir() -> str | None:
    """A folder of this user's in the temporary directory, readable and writable
    by this user only (cached code is loaded with pickle: a folder that another
    user can write to must not be trusted), or None."""
    user = os.getuid() if hasattr(os, "getuid") else getpass.getuser()
    path = os.path.join(tempfile.gettempdir(), f"napari-kmeans-seg-numba-{user}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return None
    return path


def caching_enabled(source: str) -> bool:
    """Make sure numba can cache the compiled functions of ``source``; returns
    whether it can (the value for ``cache=`` of their ``njit``).

    When none of numba's own cache folders is writable, numba's cache folder
    (``NUMBA_CACHE_DIR``, for this process and the processes it starts) becomes a
    private folder of this user's in the temporary directory. Call before the
    functions are defined: numba chooses the folder when it creates a function.
    """
    if _can_cache(source):
        return True
    path = private_temp_dir()
    if path is not None:
        os.environ["NUMBA_CACHE_DIR"] = numba.config.CACHE_DIR = path
        if _can_cache(source):
            return True
    logger.warning(
        "no writable cache folder for numba: the engine's passes are compiled "
        "in every process (set NUMBA_CACHE_DIR to a writable folder)"
    )
    return False


def cache_folder(function) -> str | None:
    """The folder where numba caches the compiled ``function`` (an ``njit``
    dispatcher of the engine's), or None when it is compiled afresh in every
    process."""
    cache = getattr(function, "_cache", None)
    return getattr(cache, "cache_path", None)


#: cache folders already reported damaged in this process (one warning each)
_REPORTED: set[str] = set()


class RecoveringCache(FunctionCache):
    """numba's cache of one compiled function, which survives damaged files.

    A file that cannot be read back (any error while unpickling: numba's index and
    data files are pickles) is renamed ``*.damaged``, together with the other
    files of the same function, and the function is compiled afresh and cached
    again, with a warning naming the folder.
    """

    def load_overload(self, sig, target_context):
        """The cached compilation for ``sig``, or None (compile it) when there is
        none or its files are damaged."""
        try:
            return super().load_overload(sig, target_context)
        except Exception as error:
            self._set_aside(error)
            return None

    def _set_aside(self, error: Exception) -> None:
        """Rename this function's index and data files ``*.damaged`` (a later
        damage replaces them) and warn once per folder."""
        folder = self.cache_path
        base = glob.escape(os.path.join(folder, self._impl.filename_base))
        moved = []
        for path in [*glob.glob(base + ".nbi"), *glob.glob(base + ".*.nbc")]:
            try:
                os.replace(path, path + ".damaged")
            except OSError:  # another process set it aside or rewrote it first
                continue
            moved.append(os.path.basename(path))
        message = (
            f"numba's cache folder {folder} held a damaged file "
            f"({type(error).__name__}: {error}); set aside as *.damaged: "
            f"{', '.join(moved) or 'nothing'}; the engine's passes are compiled "
            "afresh (delete the folder to start a clean cache)"
        )
        if folder in _REPORTED:
            logger.info(message)
            return
        _REPORTED.add(folder)
        warnings.warn(message, RuntimeWarning, stacklevel=2)


def njit(*args, **options) -> Callable | Dispatcher:
    """:func:`numba.njit` whose cache (with ``cache=True``) is a
    :class:`RecoveringCache`; takes the same arguments."""
    compiled = numba.njit(*args, **options)
    if isinstance(compiled, Dispatcher):  # used bare: @njit
        return _recovering(compiled)
    return lambda function: _recovering(compiled(function))


def _recovering(dispatcher: Dispatcher) -> Dispatcher:
    """``dispatcher``, its numba cache (when it has one) made a
    :class:`RecoveringCache`."""
    if isinstance(getattr(dispatcher, "_cache", None), FunctionCache):
        dispatcher._cache = RecoveringCache(dispatcher.py_func)
    return dispatcher
