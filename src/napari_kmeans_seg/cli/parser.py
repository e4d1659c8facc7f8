"""The command line's options: ``napari-kmeans-seg segment`` and ``warm-up``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.features import MAX_CLUSTERS
from ..core.options import COLOR_FEATURES, MIXTURES
from ..core.version import __version__
from .program import PROG

SEGMENT_DESCRIPTION = """\
Segment every INPUT with one k-means model, so that a cluster id means the same
class in every image. The model is fitted on the first input that can be read and
segmented (inputs in the order given, a folder's images sorted by name), unless
--model gives a saved one; the other images are labelled with it, not refitted.

For each image STEM.ext, DIR receives
  STEM_labels.tif     uint8 labels: 0 = not clustered, 1..k = cluster (darkest
                      first), as OME-TIFF with the input's pixel sizes (OME-TIFF)
  STEM_clusters.csv   per cluster: label, pixels, fraction, centroid per feature
  STEM_clusterI.png   with --masks: the image with all but cluster I set to 0
                      (.tif unless the image is 8-bit greyscale or RGB(A))
  STEM_labels.ome.zarr  with --ome-zarr: the labels as an OME-NGFF labels image

With --mixture (or a --model fitted as a Gaussian mixture), also
  STEM_probabilities.tif  float32 OME-TIFF, one channel per cluster (C axis,
                      channels named "cluster 1", ...): each pixel's probability
                      of belonging to that cluster, 0-1, summing to 1 (0 where
                      not clustered); Fiji's Bio-Formats opens it as one
                      hyperstack with a channel per cluster
  STEM_uncertainty.tif    float32 OME-TIFF: 1 - the largest probability (0 =
                      sure; 1 where not clustered)
  STEM_probabilities.ome.zarr, STEM_uncertainty.ome.zarr  with --ome-zarr: the
                      same as OME-NGFF images (napari-ome-zarr opens one layer
                      per cluster)

Nothing is ever overwritten that is not an output of this program: a run that
would overwrite an input, a file it did not write or a symbolic link is refused
before any work (exit 2). Each file is written under a temporary name in DIR and
renamed when whole. A file that cannot be read or segmented (say, a greyscale
image with a model fitted on RGB ones) is reported on stderr and skipped; the
others go on. A folder's files that are not taken (not an image, or an output of
an earlier run) are listed on stderr. Exit code: 0 when all inputs were
segmented, 1 when some failed, 2 for a usage error, 130 when interrupted
(Ctrl-C). Images are read at their stored depth and channels: 16-bit TIFFs and
PNGs as 16-bit (an interlaced 16-bit colour PNG is refused: convert it to a
16-bit TIFF).
"""

WARM_UP_DESCRIPTION = """\
Compile the engine's loops for the common kinds of image (8- and 16-bit, float;
greyscale, RGB and other channel counts) and store them in numba's cache, or load
them if they are there already. The first segmentation in a new environment
otherwise compiles what it needs itself, which takes seconds; run this once
after installing (in a container image, say) so that no later process pays it.
Prints the time taken and the cache folder (set NUMBA_CACHE_DIR to choose it).
"""

SEGMENT_EXAMPLES = """\
examples:
  napari-kmeans-seg segment photos/ -k 4 --save-model model.json --out results/
  napari-kmeans-seg segment new/*.png --model model.json --masks --out results/
"""


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _n_clusters(text: str) -> int:
    value = _integer(text)
    if not 2 <= value <= MAX_CLUSTERS:
        raise argparse.ArgumentTypeError(
            f"must be between 2 and {MAX_CLUSTERS}, got {value}"
        )
    return value


def _seed(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _color_features(text: str) -> tuple[str, ...]:
    from ..core.options import check_color_features

    try:
        return check_color_features(text)
    except ValueError as err:  # also the wrong-type error
        raise argparse.ArgumentTypeError(str(err)) from None


def _model_file_name(text: str) -> Path:
    """``--save-model``: a file name, not a folder (checked on the text as given:
    a trailing separator says "folder")."""
    from ..core.model_io import file_name

    try:
        return file_name(text)
    except IsADirectoryError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``napari-kmeans-seg`` (all options documented)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Segment images into their k colour/intensity classes by exact k-means "
            "of their pixels (the napari-kmeans-seg plugin, without napari)."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    seg = commands.add_parser(
        "segment",
        help="segment a batch of images with one model",
        description=SEGMENT_DESCRIPTION,
        epilog=SEGMENT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_segment_arguments(seg)
    _add_fit_arguments(seg)
    commands.add_parser(
        "warm-up",
        help="compile the engine once, for every later process",
        description=WARM_UP_DESCRIPTION,
    )
    return parser


def _add_segment_arguments(seg: argparse.ArgumentParser) -> None:
    """The arguments of ``segment``."""
    seg.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help=(
            "image file (PNG, JPEG or TIFF; a multi-page TIFF is an nD stack) or "
            "folder (its *.png, *.jpg, *.jpeg, *.tif and *.tiff files, not recursive)"
        ),
    )
    seg.add_argument(
        "-k",
        "--n-clusters",
        type=_n_clusters,
        default=None,
        metavar="K",
        help=(
            f"number of clusters, from 2 to {MAX_CLUSTERS} (3 if not given); with "
            "--model, leave it out or give the model's"
        ),
    )
    seg.add_argument(
        "--model",
        type=Path,
        metavar="FILE",
        help="apply this saved model (JSON) to every image instead of fitting one",
    )
    seg.add_argument(
        "--save-model",
        type=_model_file_name,
        metavar="FILE",
        help=(
            "save the batch's model as JSON (load it later with --model, in the "
            "widget, or with KMeansModel.load)"
        ),
    )
    seg.add_argument(
        "--masks",
        action="store_true",
        help=(
            "also write STEM_clusterI.png for each cluster I (the image with every "
            "other pixel set to 0; .tif instead of .png unless the image is 8-bit "
            "greyscale or RGB(A))"
        ),
    )
    seg.add_argument(
        "--ome-zarr",
        action="store_true",
        help=(
            "also write STEM_labels.ome.zarr: the labels as an OME-NGFF labels image "
            "(axes, the input's pixel sizes, a pyramid for large images), which "
            "OME-Zarr readers and napari-ome-zarr open (needs ome-zarr)"
        ),
    )
    seg.add_argument(
        "-o",
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="output folder (created if needed)",
    )


def _add_fit_arguments(seg: argparse.ArgumentParser) -> None:
    """The arguments of ``segment`` that change how the model is fitted."""
    seg.add_argument(
        "--color-features",
        type=_color_features,
        default=None,
        metavar="NAMES",
        help=(
            "for RGB(A) images: cluster on these channels of several colour spaces, "
            "comma-separated, as Fiji's Color Clustering: "
            f"{', '.join(COLOR_FEATURES)} (case-insensitive; e.g. hue,saturation,L*); "
            "each on a 0-1 scale, hue as two features (hue cos, hue sin). Default: "
            "the image's own channel values. With --model, leave it out or give the "
            "model's"
        ),
    )
    seg.add_argument(
        "--mixture",
        choices=MIXTURES,
        default=None,
        help=(
            "fit a Gaussian mixture of K components (started from the k-means fit, "
            "refined by EM over all pixels) instead of k-means: 'full' covariance "
            "matrices or 'diag' (one variance per feature). Pixels are labelled by "
            "their most probable cluster, and STEM_probabilities.tif (one channel "
            "per cluster) and STEM_uncertainty.tif (1 - the largest probability) "
            "are written too. Default: k-means. A --model saved from a mixture "
            "writes them without it; with --model, leave it out or give the model's"
        ),
    )
    seg.add_argument(
        "--random-state",
        type=_seed,
        default=0,
        metavar="SEED",
        help="seed of the k-means++ starts, 0 or more (default 0): the same "
        "images and seed give the same labels",
    )
