"""Where numba keeps the engine's compiled passes between processes.

numba caches a compiled function (``cache=True``) in the first writable one of:
``$NUMBA_CACHE_DIR``, the ``__pycache__`` folder next to the source file, and the
user's cache folder (``$XDG_CACHE_HOME/numba``, else ``~/.cache/numba``). When none
is writable (a read-only installation run by a user without a writable home, as in
many containers) numba refuses to create a cached function at all, and importing
the engine would fail. :func:`caching_enabled` then points numba at a private
folder of this user's in the temporary directory; only if that fails too is the
engine compiled afresh in every process.
"""

from __future__ import annotations

import getpass
import logging
import os
import stat
import tempfile

import numba
from numba.core.caching import FunctionCache

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
