"""Writing a file whole or not at all, and never over what this command did not
write."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

from .outputs import written_here
from .program import PROG

#: temporary files being written by :func:`publish`
_PENDING: set[Path] = set()


def publish(path: Path, write) -> None:
    """Write a file with ``write(binary file)`` under a new temporary name next to
    ``path`` (created exclusively, never through a link), then rename it to
    ``path``. Refuses to replace a symbolic link or a file this command did not
    write."""
    check_replaceable(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    # encoded in memory first: some writers need a named file, not a descriptor
    buffer = io.BytesIO()
    write(buffer)
    _PENDING.add(tmp)  # removed by main if Ctrl-C comes before the cleanup below
    try:
        fd = os.open(tmp, flags | getattr(os, "O_BINARY", 0), 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
        check_replaceable(path)  # not made a link while we wrote
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        _PENDING.discard(tmp)


def discard_pending() -> None:
    """Remove the temporary files an interruption left behind."""
    for tmp in list(_PENDING):
        if os.path.lexists(tmp):
            os.unlink(tmp)
        _PENDING.discard(tmp)


def check_replaceable(path: Path) -> None:
    if os.path.islink(path):
        raise FileExistsError(f"{path} is a symbolic link: not followed, not replaced")
    if os.path.lexists(path) and not written_here(path):
        raise FileExistsError(f"{path} exists and was not written by {PROG}")
