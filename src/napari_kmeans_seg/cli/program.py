"""The program's name, its exit codes and its usage error."""

PROG = "napari-kmeans-seg"
#: exit codes
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: exit code after Ctrl-C (128 + SIGINT, as shells report it)
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A run refused before any work (exit code :data:`EXIT_USAGE`)."""


def describe(err: BaseException) -> str:
    """``"Type: message"``, the message cut to its first line (some readers add
    installation hints)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
