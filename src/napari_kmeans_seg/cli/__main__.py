"""``python -m napari_kmeans_seg.cli``: the command line."""

from .command import main

if __name__ == "__main__":
    raise SystemExit(main())
