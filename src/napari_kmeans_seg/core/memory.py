"""Memory guard: estimate what a segmentation needs and refuse, with a clear message,
a request that does not fit in the memory available, before any work starts.

Being refused is better than being killed by the operating system's out-of-memory
killer, which takes napari and every unsaved layer with it. No napari and no Qt here.

What a segmentation holds at its peak (an estimate of the typical peak, generous where
cheap to be, not a proof):

- the labels: 1 byte per pixel (uint8, ``n_clusters <= 254``);
- the engine's working memory: a fixed allowance (:data:`ENGINE_OVERHEAD`: grid
  statistics, k-means++ starts, thread buffers) plus the pixels gathered near
  cluster boundaries, or, for images whose pixels are nearly all distinct, the
  per-pixel state of :mod:`.dense` (chosen only where it fits in the pixel
  matrix's own size, or, for 8-bit values at many clusters, 4.25 bytes per pixel
  beyond the labels: :data:`PER_PIXEL_8BIT_BYTES`). These are bounded by the
  pixel matrix (``n_pixels × n_features`` values in the dtype the engine
  computes in) or, for three unsigned-integer channels (8-bit RGB), by the
  per-cell histograms of the gather pass: up to :data:`HIST_CELLS` cells × 512
  sub-cells × 4 bytes per parallel range and their sum, about 335 MB for a large
  image whatever its size when every cell
  straddles a boundary (noise; a photo needs far less). Plus a converted copy of
  the pixel matrix when the image's dtype is not one the engine computes in
  directly (int8, int16, float16 → float32; other integers, non-native byte order →
  float64), and a float64 feature matrix when feature options (colour space,
  weights, normalisation, coordinates, smoothing) are used;
- the output image layers: one copy of the image per masked layer and per
  mean-colour layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import features as _features
from .fit.grid import GRID_BINS
from .fit.per_pixel import MIN_K_8BIT
from .options import FeatureOptions, make_options
from .parallel import spans

#: fixed allowance for the engine's working memory (grid statistics, starts,
#: per-thread buffers, temporaries), in bytes
ENGINE_OVERHEAD = 64 * 2**20
#: dtypes the engine computes in without converting (and their working item size)
_NATIVE = {"b": 1, "u1": 1, "u2": 2, "f4": 4, "f8": 8}
#: grid cells of the three-integer-channel engine path
HIST_CELLS = GRID_BINS[3] ** 3
#: bytes per value of a feature matrix (float64, see :mod:`.features`)
FEATURE_ITEMSIZE = 8
#: bytes per cell of one range's gather histogram (8 × 8 × 8 sub-cells of int32)
_HIST_CELL_BYTES = 512 * 4
#: bytes per pixel beyond the labels of the per-pixel way's state on 8-bit values
#: of several channels (one float32 key and the lists of rows near a boundary):
#: taken at many clusters, where it can exceed the pixel matrix
PER_PIXEL_8BIT_BYTES = 4.25
#: cgroup limits at or above this mean "no limit"
_NO_LIMIT = 1 << 60


class InsufficientMemoryError(MemoryError):
    """A segmentation would need more memory than is available; refused before
    starting. The message names the sizes and what to do."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a segmentation needs, by part.

    Attributes
    ----------
    labels : int
        The labels array (1 byte per pixel).
    engine : int
        The engine's working memory, converted pixel copies and feature matrices
        (including :attr:`gathered`).
    gathered : int
        The part of :attr:`engine` allowed for the pixels gathered by the exact
        refinement (0 for ``method="sample"``, which gathers none).
    image_layers : int
        The output image layers (masked and mean-colour layers): one image copy each.
    n_image_layers : int
        Number of those layers.
    image_bytes : int
        Size of the image itself (already in memory; not counted in :attr:`total`).
    """

    labels: int
    engine: int
    gathered: int = 0
    image_layers: int = 0
    n_image_layers: int = 0
    image_bytes: int = 0

    @property
    def total(self) -> int:
        """Bytes needed beyond the image itself."""
        return self.labels + self.engine + self.image_layers


def _working_itemsize(dtype: np.dtype) -> tuple[int, bool]:
    """Item size the engine computes in for ``dtype``, and whether it converts."""
    dtype = np.dtype(dtype)
    key = "b" if dtype.kind == "b" else f"{dtype.kind}{dtype.itemsize}"
    if key in _NATIVE and (dtype.isnative or dtype.itemsize == 1):
        return _NATIVE[key], False
    if key in ("i1", "i2", "f2"):
        return 4, True
    return 8, True


def estimate_memory(
    shape: Sequence[int],
    dtype,
    *,
    channel_axis: int | None = None,
    rgb: bool | None = None,
    n_image_layers: int = 0,
    n_maps: int = 0,
    color_space: str = "rgb",
    color_features: Sequence[str] | None = None,
    channel_weights: Sequence[float] | None = None,
    normalize: bool = False,
    spatial_weight: float = 0.0,
    smoothing: float = 0.0,
    method: str = "auto",
    n_clusters: int | None = None,
    **_ignored,
) -> MemoryEstimate:
    """Estimate the memory a segmentation of an image needs (see the module notes).

    Parameters
    ----------
    shape : sequence of int
        The image's shape.
    dtype : dtype-like
        The image's dtype.
    channel_axis, rgb
        The channel layout, as for :func:`segment` (None guesses as it does).
    n_image_layers : int
        Output layers each holding a copy of the image (one masked layer per
        cluster, a mean-colour layer); 0 for :func:`segment` alone.
    n_maps : int
        float32 maps of the pixels held besides the labels (a Gaussian
        mixture's probabilities: one per cluster; the plugin's uncertainty
        layer: one more), counted with the engine's memory; 0 for k-means.
    color_space, color_features, channel_weights, normalize, spatial_weight
        Feature options of :func:`segment` (see below).
    smoothing
        The feature options of :func:`segment`: with any other than the default, a
        float64 feature matrix is built (with smoothing, also a smoothed float64
        copy of the channels).
    method : str
        The method of :func:`segment`: ``"sample"`` gathers no pixels.
    n_clusters : int, optional
        The number of clusters, if known: 8-bit images of several channels take
        the per-pixel way from 16 clusters on (None: counted as if they did).
    **_ignored
        Other options of :func:`segment` (they do not change the estimate).

    Returns
    -------
    MemoryEstimate

    Examples
    --------
    >>> est = estimate_memory((2160, 3840, 3), "uint8", n_image_layers=3)
    >>> est.labels, est.image_layers == 3 * 2160 * 3840 * 3
    (8294400, True)
    """
    shape = tuple(int(s) for s in shape)
    layout = _features.guess_layout(shape, channel_axis=channel_axis, rgb=rgb)
    options = make_options(
        layout,
        len(layout.spatial_shape(shape)),
        color_space=color_space,
        color_features=color_features,
        channel_weights=channel_weights,
        normalize=normalize,
        spatial_weight=spatial_weight,
        smoothing=smoothing,
    )
    return estimate_for(
        shape,
        dtype,
        layout,
        options,
        method=method,
        n_clusters=n_clusters,
        n_image_layers=n_image_layers,
        n_maps=n_maps,
    )


def estimate_for(
    shape: Sequence[int],
    dtype,
    layout: _features.Layout,
    options: FeatureOptions,
    *,
    method: str = "auto",
    n_clusters: int | None = None,
    n_image_layers: int = 0,
    n_maps: int = 0,
) -> MemoryEstimate:
    """:func:`estimate_memory` of an image whose ``layout`` and feature
    ``options`` are known (checked already); ``n_maps``: float32 maps of the
    image's pixels the result holds besides its labels (a Gaussian mixture's
    probabilities: one per cluster)."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    n = math.prod(layout.spatial_shape(shape))
    channels = layout.n_channels
    image_bytes = math.prod(shape) * dtype.itemsize
    itemsize, converts = _working_itemsize(dtype)
    matrix = n * channels * itemsize
    gathered = 0
    if method == "sample":  # no gather; the labels are relabelled in a copy
        engine_extra = n
    else:
        engine_extra = 0
        gathered = matrix  # at most the whole pixel matrix
        if channels == 3 and dtype.kind == "u" and dtype.itemsize <= 2:
            gathered = max(gathered, _histogram_bytes(n))
        many = n_clusters is None or n_clusters >= MIN_K_8BIT
        if dtype == np.uint8 and channels >= 2 and many:  # the per-pixel way
            gathered = max(gathered, math.ceil(PER_PIXEL_8BIT_BYTES * n))
    engine = ENGINE_OVERHEAD + gathered + engine_extra + 4 * n * max(n_maps, 0)
    if converts:
        engine += matrix
    if not options.is_default:
        columns = _features.n_engine_features(layout, options)
        engine += FEATURE_ITEMSIZE * n * columns
        if options.smoothing:
            engine += FEATURE_ITEMSIZE * n * channels
    layers = max(int(n_image_layers), 0)
    return MemoryEstimate(
        labels=n,
        engine=engine,
        gathered=gathered,
        image_layers=layers * image_bytes,
        n_image_layers=layers,
        image_bytes=image_bytes,
    )


def _histogram_bytes(n: int) -> int:
    """The histogram gather's memory for ``n`` pixels of three small unsigned
    channels: one histogram per parallel range of the engine's passes, and their
    sum."""
    ranges = len(spans(n))
    return min(n, HIST_CELLS) * _HIST_CELL_BYTES * (ranges + 1)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_available(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Bytes left under this process's cgroup memory limit (containers), or None
    when there is no limit. Reclaimable file cache is counted as free."""
    for limit_file, usage_file in (
        ("memory.max", "memory.current"),  # cgroup v2
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),  # v1
    ):
        limit = _read_int(root / limit_file)
        if limit is None or limit >= _NO_LIMIT:
            continue
        usage = _read_int(root / usage_file) or 0
        stat = root / Path(limit_file).parent / "memory.stat"
        try:
            for line in stat.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key in ("inactive_file", "total_inactive_file"):
                    usage -= int(value)
                    break
        except (OSError, ValueError):
            pass
        return max(limit - max(usage, 0), 0)
    return None


def available_memory() -> int | None:
    """Bytes of memory available to this process, or None when unknown.

    ``psutil.virtual_memory().available`` (memory that can be given to processes
    without swapping), lowered to what is left under the cgroup memory limit when
    running in a container with one.
    """
    found = []
    try:
        import psutil
    except ImportError:  # psutil comes with napari; without it, no system figure
        pass
    else:
        found.append(int(psutil.virtual_memory().available))
    cgroup = _cgroup_available()
    if cgroup is not None:
        found.append(cgroup)
    return min(found) if found else None


def format_bytes(n: float) -> str:
    """``n`` bytes in a readable unit: ``"1.5 GB"``, ``"240 MB"``, ``"12 kB"``."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(n)} B"


def check_memory(
    estimate: MemoryEstimate,
    *,
    what: str = "this segmentation",
    available: int | None = None,
) -> None:
    """Refuse a segmentation that needs more memory than is available.

    Parameters
    ----------
    estimate : MemoryEstimate
        What it needs (:func:`estimate_memory`).
    what : str
        What is being done, for the message (``"segmenting 'astronaut'"``).
    available : int, optional
        Bytes available; :func:`available_memory` when None (and no check when that
        is unknown).

    Raises
    ------
    InsufficientMemoryError
        If ``estimate.total`` exceeds the memory available. The message names the
        sizes and what to do: turn off the masked layers, crop or downsample the
        image, choose fewer clusters or use ``method="sample"``.
    """
    if available is None:
        available = available_memory()
    if available is None or estimate.total <= available:
        return
    parts = [f"labels {format_bytes(estimate.labels)}"]
    if estimate.n_image_layers:
        parts.append(
            f"{estimate.n_image_layers} image layer"
            f"{'s' * (estimate.n_image_layers != 1)} of "
            f"{format_bytes(estimate.image_bytes)} each"
        )
    parts.append(f"k-means working memory {format_bytes(estimate.engine)}")
    advice = []
    if estimate.image_layers:
        without = estimate.total - estimate.image_layers
        fits = " (that alone would fit)" if without <= available else ""
        advice.append(f"turn off the masked layers (masked_layers=False){fits}")
    advice.append("crop or downsample the image")
    if estimate.image_layers:
        advice.append("choose fewer clusters")
    if estimate.gathered:
        advice.append('use method="sample" (no exact refinement)')
    advice.append("or close other programs and layers to free memory")
    raise InsufficientMemoryError(
        f"{what} needs about {format_bytes(estimate.total)} of memory "
        f"({', '.join(parts)}) but only {format_bytes(available)} is available; "
        f"{', '.join(advice)}"
    )
