"""The command line: segment a batch of image files with one k-means model.

::

    napari-kmeans-seg segment photos/ extra.tif --n-clusters 3 --out results/
    python -m napari_kmeans_seg segment photos/ --model sky.json --out results/

One model serves the whole batch, so a cluster id means the same class in every
output: it is fitted on the first input that can be read and segmented (the inputs
in the order given, a folder's files sorted by name), unless ``--model`` gives a
saved one. Every other image is labelled with that model, without refitting.

Imports neither napari nor Qt (nor, until an image is read, imageio or tifffile),
so it runs on a headless machine and starts quickly.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .core.features import MAX_CLUSTERS

if TYPE_CHECKING:
    import numpy as np

    from .core.model import KMeansModel
    from .core.segment import SegmentationResult

PROG = "napari-kmeans-seg"
#: suffixes of the files taken from a folder (case-insensitive)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
_TIFF_SUFFIXES = (".tif", ".tiff")
#: exit codes
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


SEGMENT_DESCRIPTION = """\
Segment every INPUT with one k-means model, so that a cluster id means the same
class in every image. The model is fitted on the first input that can be read and
segmented (inputs in the order given, a folder's images sorted by name), unless
--model gives a saved one; the other images are labelled with it, not refitted.

For each image STEM.ext, DIR receives
  STEM_labels.tif     uint8 labels: 0 = not clustered, 1..k = cluster (darkest first)
  STEM_clusters.csv   per cluster: label, pixels, fraction, centroid per feature
  STEM_clusterI.png   with --masks: the image with all but cluster I set to 0
                      (.tif unless the image is 8-bit greyscale or RGB(A))

A file that cannot be read or segmented (say, a greyscale image with a model
fitted on RGB ones) is reported on stderr and skipped; the others go on. Exit
code: 0 when all inputs were segmented, 1 when some failed, 2 for a usage error.
"""

SEGMENT_EXAMPLES = """\
examples:
  napari-kmeans-seg segment photos/ -k 4 --save-model model.json --out results/
  napari-kmeans-seg segment new/*.png --model model.json --masks --out results/
"""


def _n_clusters(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 2 <= value <= MAX_CLUSTERS:
        raise argparse.ArgumentTypeError(
            f"must be between 2 and {MAX_CLUSTERS}, got {value}"
        )
    return value


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
        type=Path,
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
        "--random-state",
        type=int,
        default=0,
        metavar="SEED",
        help="seed of the k-means++ starts (default 0): the same images and seed "
        "give the same labels",
    )
    seg.add_argument(
        "-o",
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="output folder (created if needed)",
    )
    return parser


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
        a usage error (bad option, unreadable model, no input).

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
        return _segment_command(args)
    except _UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_USAGE


class _UsageError(Exception):
    pass


@dataclass
class _Batch:
    """The state of one ``segment`` run."""

    out: Path
    n_clusters: int | None
    random_state: int
    masks: bool
    save_model: Path | None
    model: KMeansModel | None = None
    model_source: str = ""
    save_error: str | None = None
    done: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    progress: _Progress | None = None

    def fail(self, path: Path, why: str) -> None:
        """Report that ``path`` failed, and why."""
        self.failed.append((path, why))
        self.report(f"{PROG}: {path}: {why}")

    def report(self, text: str) -> None:
        """Print ``text`` on stderr (above the progress bar, if any)."""
        if self.progress is not None:
            self.progress.write(text)
        else:
            print(text, file=sys.stderr, flush=True)


def _segment_command(args: argparse.Namespace) -> int:
    from .core.model import KMeansModel

    batch = _Batch(
        out=args.out,
        n_clusters=args.n_clusters,
        random_state=args.random_state,
        masks=args.masks,
        save_model=args.save_model,
    )
    if args.model is not None:
        try:
            batch.model = KMeansModel.load(args.model)
        except (OSError, ValueError) as err:
            raise _UsageError(f"cannot load the model {args.model}: {err}") from None
        if args.n_clusters is not None and args.n_clusters != batch.model.n_clusters:
            raise _UsageError(
                f"--n-clusters {args.n_clusters} contradicts the model "
                f"{args.model.name}, which has {batch.model.n_clusters} clusters; "
                "leave --n-clusters out"
            )
        batch.model_source = f"loaded from {args.model}"
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _UsageError(
            f"cannot create the output folder {args.out}: {err}"
        ) from None
    if batch.model is not None and batch.save_model is not None:
        _save_model(batch)

    files = _expand_inputs(args.inputs, batch)
    n_inputs = len(files) + len(batch.failed)  # files, missing paths, empty folders
    if n_inputs == 0:
        raise _UsageError("no input images")
    stems: dict[str, Path] = {}
    todo = []
    for path in files:
        if path.stem in stems:
            batch.fail(
                path,
                f"its outputs would overwrite those of {stems[path.stem]} (same name "
                "stem); rename one",
            )
        else:
            stems[path.stem] = path
            todo.append(path)

    batch.progress = _Progress(len(todo))
    try:
        for path in todo:
            try:
                image = read_image(path)
            except Exception as err:  # each reader raises its own kinds of errors
                batch.fail(path, f"cannot read it: {_describe(err)}")
            else:
                _segment_one(batch, path, image)
            batch.progress.step(path)
    finally:
        batch.progress.close()
        batch.progress = None
    return _summary(batch, n_inputs)


def _expand_inputs(inputs: Iterable[str], batch: _Batch) -> list[Path]:
    """The image files of ``inputs`` (files as given, folders' images sorted; a
    file named twice is taken once)."""
    out_dir = batch.out.resolve()
    files: list[Path] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file()
                and p.suffix.lower() in IMAGE_SUFFIXES
                and not (path.resolve() == out_dir and _is_output_name(p.name))
            )
            if not found:
                batch.fail(path, "the folder holds no PNG, JPEG or TIFF image")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            batch.fail(path, "no such file or folder")
    seen: set[Path] = set()
    unique = []
    for path in files:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique


def _is_output_name(name: str) -> bool:
    """Whether ``name`` looks like a file this command writes."""
    import re

    return re.search(r"_(labels\.tif|cluster\d+\.(png|tif))$", name) is not None


def read_image(path: Path) -> np.ndarray:
    """Read an image file: TIFF with tifffile, anything else with imageio.

    Parameters
    ----------
    path : Path
        A PNG, JPEG or TIFF file (other formats imageio reads work too).

    Returns
    -------
    ndarray
        The pixels as stored: (Y, X) greyscale, (Y, X, 3|4) RGB(A), or an nD stack
        for a multi-page TIFF.

    Raises
    ------
    Exception
        Whatever the reader raises for a missing, unreadable or corrupt file.
    """
    if path.suffix.lower() in _TIFF_SUFFIXES:
        import tifffile

        return tifffile.imread(path)
    import imageio.v3 as iio

    return iio.imread(path)


def _segment_one(batch: _Batch, path: Path, image) -> None:
    from .core.segment import segment

    # read the image's layout as napari does; with a model it must agree
    rgb = image.ndim >= 3 and image.shape[-1] in (3, 4)
    try:
        if batch.model is None:
            result = segment(
                image,
                batch.n_clusters,
                rgb=rgb,
                random_state=batch.random_state,
            )
            batch.model = result.model
            batch.model_source = f"fitted on {path}"
            if batch.save_model is not None:
                _save_model(batch)
        else:
            result = segment(image, rgb=rgb, model=batch.model)
    except ValueError as err:
        batch.fail(path, str(err))
        return
    except Exception as err:
        batch.fail(path, f"segmentation failed: {_describe(err)}")
        return
    try:
        write_outputs(result, image, batch.out, path.stem, masks=batch.masks)
    except Exception as err:
        batch.fail(path, f"cannot write its outputs: {_describe(err)}")
        return
    batch.done.append(path)


def write_outputs(
    result: SegmentationResult,
    image: np.ndarray,
    out: Path,
    stem: str,
    *,
    masks: bool = False,
) -> list[Path]:
    """Write one image's labels TIFF, cluster statistics CSV and masked images.

    Parameters
    ----------
    result : SegmentationResult
        The segmentation of ``image``.
    image : ndarray
        The segmented image.
    out : Path
        Output folder.
    stem : str
        Base name of the files: ``<stem>_labels.tif``, ``<stem>_clusters.csv``,
        ``<stem>_cluster<i>.png`` (or ``.tif``).
    masks : bool
        Whether to write the masked image of each cluster.

    Returns
    -------
    list of Path
        The files written.
    """
    import numpy as np
    import tifffile

    written = [out / f"{stem}_labels.tif", out / f"{stem}_clusters.csv"]
    tifffile.imwrite(written[0], result.labels, compression="zlib")
    _write_csv(result, written[1])
    if masks:
        as_png = image.dtype == np.uint8 and (
            image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (3, 4))
        )
        for i in range(1, result.n_clusters + 1):
            masked = result.masked_image(image, i)
            if as_png:
                import imageio.v3 as iio

                path = out / f"{stem}_cluster{i}.png"
                iio.imwrite(path, masked)
            else:
                path = out / f"{stem}_cluster{i}.tif"
                tifffile.imwrite(path, masked, compression="zlib")
            written.append(path)
    return written


def feature_names(model: KMeansModel) -> list[str]:
    """Names of the model's features, for column headers."""
    L = model.layout
    if L.rgb:
        return ["red", "green", "blue"]
    if L.channel_axis is None:
        return ["intensity"]
    return [f"channel{j}" for j in range(model.n_features)]


def _write_csv(result: SegmentationResult, path: Path) -> None:
    model = result.model
    names = model.cluster_names
    total = max(int(result.counts.sum()), 1)
    header = ["label", *(["name"] if names else [])]
    header += ["pixels", "fraction"]
    header += [f"centroid_{name}" for name in feature_names(model)]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i in range(result.n_clusters):
            count = int(result.counts[i])
            row = [i + 1, *([names[i]] if names else [])]
            row += [count, repr(count / total)]
            row += [repr(float(c)) for c in result.centroids[i]]
            writer.writerow(row)


def _save_model(batch: _Batch) -> None:
    assert batch.model is not None and batch.save_model is not None
    try:
        batch.model.save(batch.save_model)
    except OSError as err:
        batch.save_error = f"cannot save the model to {batch.save_model}: {err}"
        batch.report(f"{PROG}: {batch.save_error}")


def _describe(err: BaseException) -> str:
    """``"Type: message"``, the message cut to its first line (some readers add
    installation hints)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class _Progress:
    """A tqdm bar on a terminal (when tqdm is installed); otherwise one line per
    file on stdout."""

    def __init__(self, total: int):
        self.total, self.n = total, 0
        self.bar = None
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, unit="image", file=sys.stderr)

    def step(self, path: Path) -> None:
        self.n += 1
        if self.bar is not None:
            self.bar.set_postfix_str(path.name, refresh=False)
            self.bar.update()
        else:
            print(f"[{self.n}/{self.total}] {path}", flush=True)

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _summary(batch: _Batch, n_inputs: int) -> int:
    model = batch.model
    if model is not None:
        print(
            f"segmented {len(batch.done)} of {n_inputs} images into "
            f"{model.n_clusters} clusters with the model {batch.model_source}; "
            f"outputs in {batch.out}"
            + (
                f"; model saved to {batch.save_model}"
                if batch.save_model and not batch.save_error
                else ""
            )
        )
    else:
        print(f"segmented 0 of {n_inputs} images: no model could be fitted")
    if not batch.failed and not batch.save_error:
        return EXIT_OK
    if batch.failed:
        print(
            f"{PROG}: {len(batch.failed)} of {n_inputs} inputs failed:",
            file=sys.stderr,
        )
        for path, why in batch.failed:
            print(f"  {path}: {why}", file=sys.stderr)
    if batch.save_error:
        print(f"{PROG}: {batch.save_error}", file=sys.stderr)
    return EXIT_FAILED
