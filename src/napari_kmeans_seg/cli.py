"""The command line: segment a batch of image files with one k-means model.

::

    napari-kmeans-seg segment photos/ extra.tif --n-clusters 3 --out results/
    python -m napari_kmeans_seg segment photos/ --model sky.json --out results/
    napari-kmeans-seg warm-up

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
import io
import os
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import __version__
from .core.compile_cache import caching_enabled, njit
from .core.features import MAX_CLUSTERS
from .core.options import COLOR_FEATURES

if TYPE_CHECKING:
    from .core.model import KMeansModel
    from .core.segment import SegmentationResult

PROG = "napari-kmeans-seg"
#: suffixes of the files taken from a folder (case-insensitive)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
_TIFF_SUFFIXES = (".tif", ".tiff")
#: exit codes
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: exit code after Ctrl-C (128 + SIGINT, as shells report it)
EXIT_INTERRUPTED = 130


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


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _color_features(text: str) -> tuple[str, ...]:
    from .core.options import check_color_features

    try:
        return check_color_features(text)
    except ValueError as err:  # also the wrong-type error
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
        "--random-state",
        type=_seed,
        default=0,
        metavar="SEED",
        help="seed of the k-means++ starts, 0 or more (default 0): the same "
        "images and seed give the same labels",
    )


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
        return _segment_command(args)
    except _UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as err:
        _discard_pending()
        what = str(err) or "interrupted; no partly written file was left"
        print(f"{PROG}: {what}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


class _UsageError(Exception):
    pass


@njit(cache=caching_enabled(__file__), nogil=True)
def _unfilter(rows, bpp, out):  # pragma: no cover - compiled
    """Undo the PNG row filters of ``rows`` (uint8, a filter byte then the row)
    into ``out`` (uint8, without the filter bytes); ``bpp`` bytes per pixel.
    Returns -1, or the first row whose filter is unknown."""
    height, width = out.shape
    for y in range(height):
        kind = rows[y, 0]
        if kind > 4:
            return y
        for x in range(width):
            a = np.int32(out[y, x - bpp]) if x >= bpp else np.int32(0)
            b = np.int32(out[y - 1, x]) if y > 0 else np.int32(0)
            c = np.int32(out[y - 1, x - bpp]) if x >= bpp and y > 0 else np.int32(0)
            if kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                pred = np.int32(0)
            out[y, x] = (np.int32(rows[y, x + 1]) + pred) & 0xFF
    return -1


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C during a batch; its message says what was left."""

    @classmethod
    def during(cls, batch: _Batch, n_todo: int) -> _Interrupted:
        """The interruption of ``batch`` (of ``n_todo`` images)."""
        text = (
            f"interrupted: {len(batch.done)} of {n_todo} images done (their outputs "
            f"are complete in {batch.out})"
        )
        if batch.current is not None:
            text += f"; the outputs of {batch.current} were not all written"
        return cls(text + "; no partly written file was left")


def _model_file_name(text: str) -> Path:
    """``--save-model``: a file name, not a folder (checked on the text as given:
    a trailing separator says "folder")."""
    from .core.model_io import file_name

    try:
        return file_name(text)
    except IsADirectoryError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _warm_up_command() -> int:
    """``warm-up``: load or compile the engine's passes; say how long it took and
    where they are cached."""
    import time

    from .core import compile_cache, kernels
    from .core.fit.warm_up import warm_up

    start = time.perf_counter()
    warm_up()
    took = time.perf_counter() - start
    folder = compile_cache.cache_folder(kernels.label_stats_kernel)
    where = f"cached in {folder}" if folder else "not cached (no writable folder)"
    print(f"{PROG}: the engine is ready ({took:.1f} s); its compiled loops are {where}")
    return EXIT_OK


#: what marks the files this command writes (TIFF and PNG "Software", OME-Zarr
#: attribute), so that a later run replaces them and nothing else
WRITER = PROG


@dataclass
class _Batch:
    """The state of one ``segment`` run."""

    out: Path
    n_clusters: int | None
    random_state: int
    masks: bool
    save_model: Path | None
    ome_zarr: bool = False
    color_features: tuple[str, ...] | None = None
    model: KMeansModel | None = None
    model_source: str = ""
    save_error: str | None = None
    done: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    progress: _Progress | None = None
    current: Path | None = None  #: the image being segmented

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

    @property
    def k(self) -> int:
        """The number of clusters every output will have."""
        if self.model is not None:
            return self.model.n_clusters
        return 3 if self.n_clusters is None else self.n_clusters


def _segment_command(args: argparse.Namespace) -> int:
    batch = _Batch(
        out=args.out,
        n_clusters=args.n_clusters,
        random_state=args.random_state,
        masks=args.masks,
        save_model=args.save_model,
        ome_zarr=args.ome_zarr,
        color_features=args.color_features,
    )
    if args.model is not None:
        _load_model(batch, args.model, args.n_clusters)
        _check_model_features(batch, args.model)
    if args.out.exists() and not args.out.is_dir():
        raise _UsageError(f"the output folder {args.out} is a file; choose a folder")
    if args.ome_zarr:
        _check_ome_zarr_installed()

    files = _expand_inputs(args.inputs, batch)
    n_inputs = len(files) + len(batch.failed)  # files, missing paths, empty folders
    if n_inputs == 0:
        raise _UsageError("no input images")
    todo = _unique_stems(files, batch)
    # every check on what would be written comes before anything is written
    inputs = [*files, *([args.model] if args.model is not None else [])]
    _check_outputs(batch, todo, inputs)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _UsageError(
            f"cannot create the output folder {args.out}: {err}"
        ) from None
    if batch.model is not None and batch.save_model is not None:
        _save_model(batch)

    batch.progress = _Progress(len(todo))
    try:
        for path in todo:
            batch.current = path
            try:
                image = read_image(path)
            except Exception as err:  # each reader raises its own kinds of errors
                batch.fail(path, f"cannot read it: {_describe(err)}")
            else:
                _segment_one(batch, path, image)
            batch.current = None
            batch.progress.step(path)
    except KeyboardInterrupt:
        raise _Interrupted.during(batch, len(todo)) from None
    finally:
        batch.progress.close()
        batch.progress = None
    return _summary(batch, n_inputs)


def _load_model(batch: _Batch, path: Path, n_clusters: int | None) -> None:
    from .core.model import KMeansModel

    try:
        batch.model = KMeansModel.load(path)
    except (OSError, ValueError) as err:
        raise _UsageError(f"cannot load the model {path}: {err}") from None
    if n_clusters is not None and n_clusters != batch.model.n_clusters:
        raise _UsageError(
            f"--n-clusters {n_clusters} contradicts the model {path.name}, which "
            f"has {batch.model.n_clusters} clusters; leave --n-clusters out"
        )
    batch.model_source = f"loaded from {path}"


def _check_model_features(batch: _Batch, path: Path) -> None:
    """``--color-features``, when given, must be the loaded model's."""
    from .core.options import color_features_for

    given = batch.color_features
    if given is None:
        return
    model = batch.model
    try:
        given = color_features_for(given, "rgb", model.layout)
    except ValueError as err:
        raise _UsageError(f"--color-features: {err} (the model {path.name})") from None
    if given != model.options.color_features:
        theirs = model.options.color_features or "the raw channel values"
        raise _UsageError(
            f"--color-features contradicts the model {path.name}, fitted on "
            f"{theirs}; leave --color-features out"
        )


def _check_ome_zarr_installed() -> None:
    try:
        import ome_zarr  # noqa: F401
        import zarr  # noqa: F401
    except ImportError:
        raise _UsageError(
            '--ome-zarr needs ome-zarr and zarr 3: pip install ome-zarr "zarr>=3"'
        ) from None


def _unique_stems(files: list[Path], batch: _Batch) -> list[Path]:
    """The files whose outputs do not collide with an earlier file's (same stem);
    the others are reported as failed."""
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
    return todo


def output_names(stem: str, k: int, *, masks: bool, ome_zarr: bool) -> list[str]:
    """Every name the outputs of an image ``stem`` may take (both suffixes of the
    masked images: which one is known only once the image is read)."""
    names = [f"{stem}_labels.tif", f"{stem}_clusters.csv"]
    if ome_zarr:
        names.append(f"{stem}_labels.ome.zarr")
    if masks:
        names += [
            f"{stem}_cluster{i}.{ext}"
            for ext in ("png", "tif")
            for i in range(1, k + 1)
        ]
    return names


def _check_outputs(batch: _Batch, todo: list[Path], inputs: list[Path]) -> None:
    """Refuse (a usage error, before any work) a run that would overwrite an
    input, a file this command did not write, or a symbolic link (never
    followed); the real paths are compared, so links and ``..`` do not hide an
    input."""
    real_inputs = {os.path.realpath(p): p for p in inputs}
    # the same file under another name too (a hard link, another letter case)
    real_inputs.update({_file_id(p, follow=True): p for p in inputs if p.exists()})
    problems = []
    targets = [
        (path, batch.out / name)
        for path in todo
        for name in output_names(
            path.stem, batch.k, masks=batch.masks, ome_zarr=batch.ome_zarr
        )
    ]
    if batch.save_model is not None:
        targets.append((None, batch.save_model))
    seen: dict[str, Path] = {}
    for source, target in targets:
        real = os.path.realpath(target)
        if real in real_inputs or _file_id(target, real_inputs):
            whose = f"the outputs of {source}" if source else "--save-model"
            same = real_inputs.get(real) or real_inputs[_file_id(target)]
            problems.append(f"{whose} would overwrite the input {same} ({target})")
        elif real in seen and source is None:
            problems.append(f"--save-model {target} is also an output of {seen[real]}")
        elif os.path.islink(target):
            problems.append(f"{target} is a symbolic link (not followed, not replaced)")
        elif os.path.lexists(target) and not written_here(target):
            problems.append(f"{target} exists and was not written by {PROG}")
        if source is not None:
            seen[real] = source
    if problems:
        raise _UsageError(
            "refusing to overwrite:\n  "
            + "\n  ".join(problems)
            + "\nchoose another --out (or --save-model), or move those files"
        )


def _file_id(
    path: Path, known: dict | None = None, *, follow: bool = False
) -> tuple[int, int] | None:
    """The (device, inode) of an existing file (of the link itself unless
    ``follow``), if in ``known`` when given; None otherwise."""
    try:
        st = os.stat(path, follow_symlinks=follow)
    except OSError:
        return None
    found = (st.st_dev, st.st_ino)
    return found if known is None or found in known else None


def written_here(path: Path) -> bool:
    """Whether ``path`` is a file (or OME-Zarr folder) this command wrote: a TIFF
    or PNG whose "Software" is :data:`WRITER`, a CSV with this command's header,
    an OME-Zarr marked with it, a model file."""
    import json
    import re

    name = path.name.lower()
    try:
        if name.endswith(".zarr"):
            meta = json.loads((path / "zarr.json").read_text(encoding="utf-8"))
            return WRITER in meta.get("attributes", {})
        if path.is_dir():
            return False
        if name.endswith((".tif", ".tiff")):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                return tif.pages[0].software == WRITER
        if name.endswith(".png"):
            from PIL import Image

            with Image.open(path) as im:
                return im.text.get("Software") == WRITER
        if name.endswith(".csv"):
            with path.open(encoding="utf-8") as f:
                head = f.readline()
            return (
                re.match(r"label,(name,)?pixels,fraction,centroid_", head) is not None
            )
        if name.endswith(".json"):
            from .core.model import FORMAT

            data = json.loads(path.read_text(encoding="utf-8"))
            return isinstance(data, dict) and data.get("format") == FORMAT
    except Exception:  # unreadable: not ours to replace
        return False
    return False


def _expand_inputs(inputs: Iterable[str], batch: _Batch) -> list[Path]:
    """The image files of ``inputs`` (files as given, folders' images sorted; a
    file named twice is taken once). A folder's files that are not taken are
    reported: those that are not images, and outputs of an earlier run (marked
    by :func:`written_here`); named explicitly, any file is an input."""
    files: list[Path] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            files.extend(_folder_images(path, batch))
        elif path.is_file():
            files.append(path)
        else:
            batch.fail(path, "no such file or folder")
    seen: set[str] = set()
    unique = []
    for path in files:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            unique.append(path)
    return unique


def _folder_images(folder: Path, batch: _Batch) -> list[Path]:
    found, not_images, earlier = [], [], []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            not_images.append(p.name)
        elif _is_output_name(p.name) and written_here(p):
            earlier.append(p.name)
        else:
            found.append(p)
    if not_images:
        batch.report(
            f"{PROG}: {folder}: not taken, not a PNG, JPEG or TIFF image file: "
            + ", ".join(not_images)
        )
    if earlier:
        batch.report(
            f"{PROG}: {folder}: not taken, outputs of an earlier run (name them to "
            "segment them): " + ", ".join(earlier)
        )
    if not found:
        batch.fail(folder, "the folder holds no PNG, JPEG or TIFF image")
    return found


def _is_output_name(name: str) -> bool:
    """Whether ``name`` looks like a file this command writes."""
    import re

    return re.search(r"_(labels\.tif|cluster\d+\.(png|tif))$", name) is not None


def read_image(path: Path) -> np.ndarray:
    """Read an image file: TIFF with tifffile, a 16-bit colour PNG with
    :func:`read_png16`, anything else with imageio; a CMYK JPEG is converted to
    RGB.

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
    ValueError
        For a CMYK TIFF (convert it to RGB first), an interlaced 16-bit colour
        PNG (convert it to a 16-bit TIFF first), or a damaged 16-bit PNG.
    Exception
        Whatever the reader raises for a missing, unreadable or corrupt file.
    """
    if path.suffix.lower() in _TIFF_SUFFIXES:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            if tif.pages[0].photometric == tifffile.PHOTOMETRIC.SEPARATED:
                raise ValueError(
                    "a CMYK TIFF (its 4th channel is black, not alpha): convert it "
                    "to RGB first"
                )
            return tif.asarray()
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        if im.mode == "CMYK":  # its K channel is no alpha: Pillow's conversion
            return np.asarray(im.convert("RGB"))
    header = _png_header(path)
    if header is not None and header[0] == 16 and header[1] in _PNG_CHANNELS:
        return read_png16(path)  # Pillow would reduce it to 8 bits
    import imageio.v3 as iio

    pixels = iio.imread(path)
    _check_png_depth(path, pixels)
    return pixels


#: a PNG file's first bytes, and its colour types (greyscale, RGB, palette, grey
#: with alpha, RGBA) by number
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPES = {0: "greyscale", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}


def _png_header(path: Path) -> tuple[int, int] | None:
    """The bit depth and colour type in a PNG file's header, or None when the
    file is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


#: channels of the colour types of 16-bit PNG :func:`read_png16` decodes
_PNG_CHANNELS = {2: 3, 4: 2, 6: 4}
#: largest PNG (in decoded bytes) :func:`read_png16` decodes
_PNG_MAX_BYTES = 1 << 34


def read_png16(path: Path) -> np.ndarray:
    """The pixels of a 16-bit RGB, RGBA or grey+alpha PNG, at 16 bits.

    Decoded here: Pillow, the PNG reader installed, reduces these to 8 bits.

    Parameters
    ----------
    path : Path
        A non-interlaced PNG of bit depth 16 and colour type 2, 4 or 6.

    Returns
    -------
    ndarray of uint16, shape (Y, X, channels)

    Raises
    ------
    ValueError
        If the file is not such a PNG, is interlaced, or is damaged (a chunk's
        checksum, missing or surplus image data, an unknown row filter).
    """
    header, data = _png_chunks(path.read_bytes())
    width, height, depth, color, _, _, interlace = header
    channels = _PNG_CHANNELS.get(color) if depth == 16 else None
    if channels is None:
        raise ValueError("not a 16-bit RGB, RGBA or grey+alpha PNG")
    if interlace:
        raise ValueError(
            "an interlaced 16-bit colour PNG, which no installed reader keeps at 16 "
            "bits; convert it to a 16-bit TIFF first (e.g. `magick in.png out.tif`)"
        )
    row = 2 * channels * width
    rows = _inflate(data, height * (row + 1)).reshape(height, row + 1)
    out = np.empty((height, row), np.uint8)
    bad = _unfilter(rows, 2 * channels, out)
    if bad >= 0:
        raise ValueError(f"a damaged PNG: row {bad} has an unknown filter")
    return out.view(">u2").reshape(height, width, channels).astype(np.uint16)


def _png_chunks(raw: bytes) -> tuple[tuple, bytes]:
    """A PNG's header fields and its image data (the IDAT chunks joined), each
    chunk's checksum checked."""
    import struct
    import zlib

    if raw[:8] != _PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    at, header, data = 8, None, []
    while at + 12 <= len(raw):
        (length,) = struct.unpack_from(">I", raw, at)
        kind, body = raw[at + 4 : at + 8], raw[at + 8 : at + 8 + length]
        (crc,) = struct.unpack_from(">I", raw, at + 8 + length)
        if len(body) != length or zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"a damaged PNG: its {kind!r} chunk fails its checksum")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            data.append(body)
        elif kind == b"IEND":
            break
        at += 12 + length
    if header is None or not data:
        raise ValueError("a damaged PNG: no header or no image data")
    return header, b"".join(data)


def _inflate(data: bytes, size: int) -> np.ndarray:
    """The ``size`` bytes zlib ``data`` holds (more or fewer: a damaged file),
    as uint8."""
    import zlib

    if size > _PNG_MAX_BYTES:
        raise ValueError(f"the PNG is too large to decode here ({size} bytes)")
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, size + 1)
    except zlib.error as err:
        raise ValueError(f"a damaged PNG: {err}") from None
    if len(raw) != size:
        raise ValueError(
            f"a damaged PNG: {len(raw)} bytes of image data where {size} were due"
        )
    return np.frombuffer(raw, np.uint8)


def _check_png_depth(path: Path, pixels) -> None:
    """A ``ValueError`` when ``pixels`` read from a 16-bit PNG hold fewer bits:
    Pillow, the PNG reader installed, reduces 16-bit colour PNGs to 8 bits, and
    segmenting those would not be segmenting the image."""
    header = _png_header(path)
    if header is None or header[0] != 16 or pixels.dtype.itemsize >= 2:
        return
    kind = _PNG_COLOR_TYPES.get(header[1], f"colour type {header[1]}")
    raise ValueError(
        f"a 16-bit {kind} PNG, which the installed PNG reader (Pillow) reduces to "
        "8 bits; convert it to a 16-bit TIFF first (e.g. `magick in.png out.tif`), "
        "or to 8 bits if that is acceptable"
    )


@dataclass(frozen=True)
class Placement:
    """The pixel size of an image's axes, from OME-TIFF metadata."""

    #: OME axis letters of the labels (T, Z, Y, X)
    axes: str
    scale: tuple[float, ...]
    #: OME unit symbols ("µm", "s", ...)
    units: tuple[str, ...]


#: OME unit symbols -> OME-NGFF unit names
_UNIT_NAMES = {
    "µm": "micrometer",
    "um": "micrometer",
    "nm": "nanometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "Å": "angstrom",
    "pm": "picometer",
    "s": "second",
    "ms": "millisecond",
    "µs": "microsecond",
    "min": "minute",
    "h": "hour",
}


def read_placement(path: Path, labels_ndim: int) -> Placement | None:
    """The pixel sizes of an OME-TIFF's axes, for labels of ``labels_ndim``
    dimensions (the image's without its RGB samples); None for other files or
    axes that do not fit (say, channels)."""
    if path.suffix.lower() not in _TIFF_SUFFIXES:
        return None
    import numpy as np
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.is_ome:
                return None
            axes = tif.series[0].axes.replace("S", "")
            image = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
    except Exception:  # metadata we cannot read: the labels go without
        return None
    pixels = (image[0] if isinstance(image, list) else image)["Pixels"]
    if len(axes) != labels_ndim or not set(axes) <= set("TZYX"):
        return None
    scale, units = [], []
    for axis in axes:
        key = "TimeIncrement" if axis == "T" else f"PhysicalSize{axis}"
        scale.append(float(pixels.get(key, 1.0)))
        units.append(str(pixels.get(f"{key}Unit", "s" if axis == "T" else "µm")))
    if not all(np.isfinite(scale)) or min(scale) <= 0:
        return None
    return Placement(axes, tuple(scale), tuple(units))


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
                color_features=batch.color_features,
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
        write_outputs(
            result,
            image,
            batch.out,
            path.stem,
            masks=batch.masks,
            placement=read_placement(path, result.labels.ndim),
            ome_zarr=batch.ome_zarr,
        )
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
    placement: Placement | None = None,
    ome_zarr: bool = False,
) -> list[Path]:
    """Write one image's labels TIFF, cluster statistics CSV and masked images.

    Each file is written under a temporary name in ``out`` and renamed when
    whole; a symbolic link or a file this command did not write
    (:func:`written_here`) is never replaced.

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
        ``<stem>_cluster<i>.png`` (or ``.tif``), ``<stem>_labels.ome.zarr``.
    masks : bool
        Whether to write the masked image of each cluster.
    placement : Placement, optional
        The image's axes and pixel sizes (:func:`read_placement`), written into
        the labels OME-TIFF (and OME-Zarr).
    ome_zarr : bool
        Whether to write the labels as an OME-NGFF labels image too.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    FileExistsError
        If an output would replace a symbolic link or a file this command did
        not write.
    """
    import numpy as np

    labels_path = out / f"{stem}_labels.tif"
    written = [labels_path, out / f"{stem}_clusters.csv"]
    _publish(labels_path, lambda f: _write_labels_tiff(f, result.labels, placement))
    _publish(written[1], lambda f: _write_csv(result, f))
    if ome_zarr:
        written.append(
            _write_ome_zarr(result, out / f"{stem}_labels.ome.zarr", placement)
        )
    if masks:
        as_png = image.dtype == np.uint8 and (
            image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (3, 4))
        )
        for i in range(1, result.n_clusters + 1):
            masked = result.masked_image(image, i)
            path = out / f"{stem}_cluster{i}.{'png' if as_png else 'tif'}"
            _publish(path, lambda f, m=masked: _write_mask(f, m, png=as_png))
            written.append(path)
    return written


def _publish(path: Path, write) -> None:
    """Write a file with ``write(binary file)`` under a new temporary name next to
    ``path`` (created exclusively, never through a link), then rename it to
    ``path``. Refuses to replace a symbolic link or a file this command did not
    write."""
    _check_replaceable(path)
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
        _check_replaceable(path)  # not made a link while we wrote
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        _PENDING.discard(tmp)


#: temporary files being written by :func:`_publish`
_PENDING: set[Path] = set()


def _discard_pending() -> None:
    """Remove the temporary files an interruption left behind."""
    for tmp in list(_PENDING):
        if os.path.lexists(tmp):
            os.unlink(tmp)
        _PENDING.discard(tmp)


def _check_replaceable(path: Path) -> None:
    if os.path.islink(path):
        raise FileExistsError(f"{path} is a symbolic link: not followed, not replaced")
    if os.path.lexists(path) and not written_here(path):
        raise FileExistsError(f"{path} exists and was not written by {PROG}")


def _write_labels_tiff(f, labels, placement: Placement | None) -> None:
    """The labels as OME-TIFF: their axes and, when known, the pixel sizes."""
    import tifffile

    metadata: dict = {}
    axes = (
        placement.axes if placement else {2: "YX", 3: "ZYX", 4: "TZYX"}.get(labels.ndim)
    )
    if axes is not None:
        metadata["axes"] = axes
    if placement is not None:
        for axis, size, unit in zip(
            placement.axes, placement.scale, placement.units, strict=True
        ):
            key = "TimeIncrement" if axis == "T" else f"PhysicalSize{axis}"
            metadata[key], metadata[f"{key}Unit"] = size, unit
    tifffile.imwrite(
        f,
        labels,
        compression="zlib",
        software=WRITER,
        ome=axes is not None,
        photometric="minisblack",
        metadata=metadata if axes is not None else {},
    )


def _write_mask(f, masked, *, png: bool) -> None:
    if png:
        from PIL import Image, PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Software", WRITER)
        Image.fromarray(masked).save(f, format="PNG", pnginfo=info)
    else:
        import tifffile

        tifffile.imwrite(f, masked, compression="zlib", software=WRITER)


def _write_ome_zarr(result, path: Path, placement: Placement | None) -> Path:
    from .core.zarr_io import label_colors, write_ome_labels

    _check_replaceable(path)
    return write_ome_labels(
        result.labels,
        path,
        axes=placement.axes.lower() if placement else None,
        scale=placement.scale if placement else None,
        units=[_UNIT_NAMES.get(u, u) for u in placement.units] if placement else None,
        colors=label_colors(result.mean_colors),
        overwrite=True,
        attributes={WRITER: {"version": __version__}},
    )


def feature_names(model: KMeansModel) -> list[str]:
    """Names of the model's features, for column headers: red, green, blue /
    intensity / channel0, … for the raw values, else the model's feature names
    (e.g. hue_cos, L*), spaces made underscores."""
    if not model.options.is_default:
        return [name.replace(" ", "_") for name in model.feature_names]
    L = model.layout
    if L.rgb:
        return ["red", "green", "blue"]
    if L.channel_axis is None:
        return ["intensity"]
    return [f"channel{j}" for j in range(model.n_features)]


def _write_csv(result: SegmentationResult, f) -> None:
    """The per-cluster table as CSV into the binary file ``f``."""
    model = result.model
    names = model.cluster_names
    total = max(int(result.counts.sum()), 1)
    header = ["label", *(["name"] if names else [])]
    header += ["pixels", "fraction"]
    header += [f"centroid_{name}" for name in feature_names(model)]
    text = io.TextIOWrapper(f, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    for i in range(result.n_clusters):
        count = int(result.counts[i])
        row = [i + 1, *([names[i]] if names else [])]
        row += [count, repr(count / total)]
        row += [repr(float(c)) for c in result.centroids[i]]
        writer.writerow(row)
    text.flush()
    text.detach()  # the caller owns ``f``


def _save_model(batch: _Batch) -> None:
    assert batch.model is not None and batch.save_model is not None
    import json

    text = json.dumps(batch.model.to_dict(), indent=2, allow_nan=False) + "\n"
    try:
        _publish(batch.save_model, lambda f: f.write(text.encode("utf-8")))
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
