"""``main``: parse the command line, run the command, turn a usage error or Ctrl-C
into its exit code and one line on stderr."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .parser import build_parser
from .program import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PROG, UsageError
from .safe_write import discard_pending
from .segment import segment_command


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit code: 0 when every input was segmented, 1 when some failed, 2 for
        a usage error (bad option, unreadable model, no input), 130 when
        interrupted (Ctrl-C): one line says what was left, and no partly written
        file is.

    Examples
    --------
    >>> from napari_kmeans_seg.cli import main
    >>> main(["segment", "photos/", "--n-clusters", "3", "--out", "out/"])
    ... # doctest: +SKIP
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "warm-up":
            return _warm_up_command()
        return segment_command(args)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as err:
        discard_pending()
        what = str(err) or "interrupted; no partly written file was left"
        print(f"{PROG}: {what}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


def _warm_up_command() -> int:
    """``warm-up``: load or compile the engine's passes; say how long it took and
    where they are cached."""
    import time

    from ..core import compile_cache, kernels
    from ..core.warm_up import warm_up

    start = time.perf_counter()
    warm_up()
    took = time.perf_counter() - start
    folder = compile_cache.cache_folder(kernels.label_stats_kernel)
    where = f"cached in {folder}" if folder else "not cached (no writable folder)"
    print(f"{PROG}: the engine is ready ({took:.1f} s); its compiled loops are {where}")
    return EXIT_OK
