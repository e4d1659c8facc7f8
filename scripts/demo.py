"""Demo of napari-kmeans-seg (started by ``bash scripts/run.sh``).

With a display: opens napari with the plugin's ``astronaut`` sample image and the
K-Means Segmentation widget docked::

    python scripts/demo.py

Without one: segments scikit-image's astronaut photo into ``--clusters`` classes
and writes ``labels.tif`` plus one PNG per cluster (the photo with every other
cluster blacked out) to ``--out``::

    python scripts/demo.py --headless --out kmeans-output
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

PLUGIN = "napari-kmeans-seg"
WIDGET = "K-Means Segmentation"
SAMPLE = "astronaut"


def build_viewer(show: bool = True):
    """Return a napari viewer showing the astronaut sample and the plugin widget."""
    import napari

    viewer = napari.Viewer(title="napari-kmeans-seg demo", show=show)
    viewer.open_sample(PLUGIN, SAMPLE)
    viewer.window.add_plugin_dock_widget(PLUGIN, WIDGET)
    return viewer


def run_gui() -> int:
    import napari

    build_viewer()
    napari.run()
    return 0


def _as_png(image: np.ndarray) -> np.ndarray:
    """Convert an image to a dtype PNG can store (uint8, or uint16 if it is)."""
    image = np.asarray(image)
    if image.dtype in (np.uint8, np.uint16):
        return image
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    image = np.nan_to_num(image.astype(np.float64))
    if image.size and image.max() <= 1.0 and image.min() >= 0.0:
        image = image * 255.0
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _save_labels(labels: np.ndarray, out: Path) -> Path:
    try:
        import tifffile
    except ImportError:
        path = out / "labels.npy"
        np.save(path, labels)
    else:
        path = out / "labels.tif"
        tifffile.imwrite(path, labels)
    return path


def _save_png(image: np.ndarray, path: Path) -> None:
    try:
        import imageio.v3 as iio
    except ImportError:
        from skimage import io

        io.imsave(path, _as_png(image), check_contrast=False)
    else:
        iio.imwrite(path, _as_png(image))


def run_headless(out: Path, n_clusters: int = 3, random_state: int = 0) -> list[Path]:
    """Segment the astronaut photo and write the results to ``out``.

    Returns the paths written: the label image first, then one PNG per cluster.
    """
    from skimage import data

    from napari_kmeans_seg import segment

    image = data.astronaut()
    print(f"Segmenting the astronaut photo {image.shape} into {n_clusters} clusters...")
    result = segment(image, n_clusters=n_clusters, random_state=random_state)
    labels = np.asarray(result.labels)

    out.mkdir(parents=True, exist_ok=True)
    written = [_save_labels(labels, out)]
    for i in range(1, result.n_clusters + 1):
        path = out / f"cluster_{i}.png"
        _save_png(result.masked_image(image, i), path)
        written.append(path)

    ids, counts = np.unique(labels, return_counts=True)
    pairs = zip(ids.tolist(), counts.tolist(), strict=True)
    sizes = ", ".join(f"{i}: {c}" for i, c in pairs)
    print(f"Cluster sizes (label: pixels): {sizes}")
    print(f"Wrote {len(written)} files to {out.resolve()}:")
    for path in written:
        print(f"  {path.resolve()}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no GUI: segment the astronaut photo and write the results to --out",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("kmeans-output"),
        help="output directory for --headless (default: ./kmeans-output)",
    )
    parser.add_argument(
        "--clusters",
        type=int,
        default=3,
        metavar="K",
        help="number of clusters for --headless (default: 3)",
    )
    args = parser.parse_args(argv)
    if args.clusters < 1:
        parser.error("--clusters must be at least 1")
    if args.headless:
        run_headless(args.out, n_clusters=args.clusters)
        return 0
    return run_gui()


if __name__ == "__main__":
    sys.exit(main())
