"""Lazy images (dask, zarr, …): fit on a bounded part, label chunk by chunk.

No napari and no Qt here; dask is imported when a lazy image arrives. What
:func:`segment` does with an image that :func:`is_lazy`:

1. the fit reads a bounded region of the image (:func:`fit_region`: at most
   ``fit_pixels`` pixels, whole planes spread over the leading axes of a stack, a
   regular grid of pixels within them) and fits k-means on it in memory, as for
   any array;
2. the labels are a lazy dask array: each chunk is labelled with the fitted model
   when it is computed (napari computes the chunks on screen, ``to_zarr`` one
   chunk after another); masked and mean-colour images are lazy too;
3. with ``method="exact"`` on an image larger than the region, Lloyd passes over
   all chunks (dask reductions: per chunk only counts and sums leave the task)
   move the centroids on to a fixed point on all pixels.

The task graphs hold only the small model (centroids and options), never pixel
data, so they run unchanged on a ``dask.distributed`` cluster.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import features as _features
from . import stats as _stats
from .arrays import as_dask, is_lazy
from .fit.convergence import is_fixed_point
from .fit.pixels import Pixels
from .fit.records import not_converged
from .parallel import in_this_thread

if TYPE_CHECKING:
    import dask.array as da

#: default largest number of pixels a lazy image is fitted on (4 Mi pixels)
DEFAULT_FIT_PIXELS = 1 << 22
#: a stack's fit region takes whole planes from at least this many of its planes
#: (fewer when the stack has fewer), subsampling within the planes if need be
MIN_FIT_PLANES = 16
#: chunks computed per step of a pass over all chunks (progress is reported after
#: each step)
CHUNKS_PER_STEP = 8

#: progress callback: (done, total) units of work
Progress = Callable[[int, int], None]


def open_image(
    image: Any, layout_for: Callable[[tuple[int, ...]], _features.Layout]
) -> tuple[da.Array, _features.Layout]:
    """The lazy ``image`` as a dask array with its channel axis in one chunk, and
    its layout (``layout_for(shape)``); its dtype and shape checked, nothing
    read."""
    darr = as_dask(image)
    _features.check_array(darr)
    if any(np.isnan(c).any() for c in map(np.asarray, darr.chunks)):
        raise ValueError(
            "the dask array has unknown chunk sizes (e.g. after boolean indexing); "
            "call image.compute_chunk_sizes() first, or pass np.asarray(image) if "
            "it fits in memory"
        )
    layout = layout_for(tuple(darr.shape))
    return whole_channels(darr, layout), layout


def whole_channels(darr: da.Array, layout: _features.Layout) -> da.Array:
    """``darr`` with its channel axis in one chunk (the features need every
    channel of a pixel together)."""
    axis = layout.channel_axis
    if axis is None or len(darr.chunks[axis]) == 1:
        return darr
    return darr.rechunk({axis: -1})


def spatial_chunks(darr: da.Array, layout: _features.Layout) -> tuple:
    """The chunks of ``darr`` without its channel axis."""
    axis = layout.channel_axis
    return tuple(c for i, c in enumerate(darr.chunks) if i != axis)


# ------------------------------------------------------------------ the fit region


def fit_region(
    spatial_shape: Sequence[int], fit_pixels: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The regular grid of at most ``fit_pixels`` pixels a large image is fitted on.

    A 2D image is subsampled with the same step along y and x. A stack keeps
    whole planes (the last two axes) where it can, spread evenly over the leading
    axes (z, t, …; the axis with the most planes is thinned first), which reads
    few of the chunks of a stack stored plane by plane; when fewer than
    :data:`MIN_FIT_PLANES` whole planes fit, it takes that many planes and
    subsamples within them.

    Parameters
    ----------
    spatial_shape : sequence of int
        The image's shape without the channel axis.
    fit_pixels : int
        Largest number of pixels in the region (at least 1).

    Returns
    -------
    origin, step : tuple of int
        Per spatial axis: the region is ``image[origin[0]::step[0], …]``, centred
        on the image. All steps are 1 when the image has at most ``fit_pixels``
        pixels.
    """
    shape = tuple(int(s) for s in spatial_shape)
    budget = max(int(fit_pixels), 1)
    if math.prod(shape) <= budget:
        return (0,) * len(shape), (1,) * len(shape)
    lead, plane = shape[:-2], shape[-2:]
    plane_size = math.prod(plane)
    n_planes = math.prod(lead)
    want = max(budget // plane_size, min(n_planes, MIN_FIT_PLANES), 1)
    lead_step = [1] * len(lead)  # step the axis with the most planes kept first

    def counts() -> list[int]:
        return [-(-n // st) for n, st in zip(lead, lead_step, strict=True)]

    while math.prod(counts()) > want:
        c = counts()
        lead_step[c.index(max(c))] += 1
    kept = math.prod(counts())
    s = 1  # then one step over y and x, the smallest fitting the budget
    while kept * math.prod(-(-n // s) for n in plane) > budget:
        s += 1
    step = (*lead_step, s, s)
    origin = tuple(
        (n - 1 - (-(-n // st) - 1) * st) // 2 for n, st in zip(shape, step, strict=True)
    )
    return origin, step


@dataclass(frozen=True)
class Region:
    """The fit region of an image: ``image[origin[0]::step[0], …]`` over its
    spatial axes (all of its channel axis), see :func:`fit_region`."""

    origin: tuple[int, ...]
    step: tuple[int, ...]
    layout: _features.Layout

    @classmethod
    def of(
        cls, shape: tuple[int, ...], layout: _features.Layout, fit_pixels: int
    ) -> Region:
        """The region of at most ``fit_pixels`` pixels of an image of ``shape``."""
        return cls(*fit_region(layout.spatial_shape(shape), fit_pixels), layout)

    @property
    def whole(self) -> bool:
        """Whether the region is the whole image."""
        return all(s == 1 for s in self.step)

    @property
    def spatial_index(self) -> tuple[slice, ...]:
        """Index of the region in an array of the image's spatial shape (a mask,
        labels)."""
        return tuple(
            slice(o, None, s) for o, s in zip(self.origin, self.step, strict=True)
        )

    @property
    def index(self) -> tuple[slice, ...]:
        """Index of the region in the image (all of the channel axis)."""
        index = list(self.spatial_index)
        if self.layout.channel_axis is not None:
            index.insert(self.layout.channel_axis, slice(None))
        return tuple(index)

    def read(
        self, darr: Any, mask: Any = None, progress: Progress | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The region of the image ``darr`` and of ``mask``, an array of its
        spatial shape (a mask, or labels), lazy or not, loaded together."""
        wanted = [darr[self.index]]
        if mask is not None:
            wanted.append(mask[self.spatial_index])
        loaded = load(wanted, progress)
        return loaded[0], (loaded[1] if mask is not None else None)


def check_region_smoothing(options: _features.FeatureOptions, fit_pixels) -> None:
    """Smoothing needs whole images: refuse it when the fit sees a grid of pixels."""
    if options.smoothing:
        raise ValueError(
            f"smoothing needs the whole image, which has more than fit_pixels="
            f"{fit_pixels} pixels; use smoothing=0, or a larger fit_pixels if the "
            "image fits in memory"
        )


def as_mask(mask: Any, spatial: tuple[int, ...]) -> da.Array | None:
    """``mask`` (array-like or lazy, shaped ``spatial``) as a lazy bool array, or
    the errors of :func:`~.features.check_mask`."""
    import dask.array as da

    if mask is None:
        return None
    m = as_dask(mask) if is_lazy(mask) else np.asarray(mask)
    _features.check_mask_dtype(m.dtype)  # before dask, which refuses objects
    if tuple(m.shape) != tuple(spatial):
        raise _features.mask_shape_error(tuple(m.shape), spatial)
    return da.asarray(m).astype(bool)


def load(arrays: Sequence[Any], progress: Progress | None = None) -> list:
    """Compute the (small) dask arrays ``arrays`` together, as NumPy arrays."""
    import dask

    out = dask.compute(*arrays)
    if progress is not None:
        progress(1, 1)
    return [np.asarray(a) for a in out]


# ------------------------------------------------------------------ labelling


def _mask_blocks(mask: da.Array, chunks: tuple, axis: int | None) -> da.Array:
    """``mask`` chunked like the image's spatial axes, with a length-1 channel axis
    at ``axis`` so that its blocks line up with the image's."""
    import dask.array as da

    m = mask.rechunk(chunks)
    return m if axis is None else da.expand_dims(m, axis)


def _block_mask(mask_block, axis: int | None):
    """A block of :func:`_mask_blocks` as a spatial bool array (or None)."""
    if mask_block is None:
        return None
    mask_block = np.asarray(mask_block)
    return mask_block if axis is None else np.squeeze(mask_block, axis)


def label_lazy(
    label_chunk: Callable[..., np.ndarray],
    darr: da.Array,
    layout: _features.Layout,
    *,
    mask: da.Array | None = None,
    components: int = 0,
) -> da.Array:
    """The labels of the lazy image ``darr``, as a lazy uint8 dask array chunked like
    the image's spatial axes.

    Each chunk is labelled when it is computed, by
    ``label_chunk(block, mask_block, origin=...)`` (flat labels; ``origin`` is where
    the chunk lies in the image, for coordinate features). With ``components =
    k``, ``label_chunk`` gives ``(k, n)`` float32 probabilities instead, and the
    result is a ``(k, ...)`` float32 array.
    """
    import dask.array as da

    darr = whole_channels(darr, layout)
    chunks = spatial_chunks(darr, layout)
    axis = layout.channel_axis
    args = [darr]
    if mask is not None:
        args.append(_mask_blocks(mask, chunks, axis))
    dtype = np.dtype(np.float32 if components else np.uint8)
    lead = ((components,),) if components else ()
    return da.map_blocks(
        _label_block,
        *args,
        label_chunk=label_chunk,
        layout=layout,
        components=components,
        dtype=dtype,
        chunks=lead + chunks,
        drop_axis=[] if axis is None else [axis],
        new_axis=[0] if components else None,
        meta=np.empty((0,) * (len(chunks) + len(lead)), dtype),
    )


def _block_origin(block_info, axis: int | None) -> tuple[int, ...]:
    location = block_info[0]["array-location"]
    return tuple(start for i, (start, _) in enumerate(location) if i != axis)


def _label_block(
    block, mask_block=None, *, label_chunk, layout, components=0, block_info=None
):
    """Labels (or ``components`` probability maps) of one chunk (a task of
    :func:`label_lazy`)."""
    block = np.asarray(block)
    axis = layout.channel_axis
    origin = None if block_info is None else _block_origin(block_info, axis)
    spatial = layout.spatial_shape(block.shape)
    shape = (components, *spatial) if components else spatial
    dtype = np.float32 if components else np.uint8
    if 0 in spatial:
        return np.zeros(shape, dtype)
    with in_this_thread():  # dask runs the tasks in parallel
        labels = label_chunk(block, _block_mask(mask_block, axis), origin=origin)
    return labels.reshape(shape).astype(dtype, copy=False)


# ------------------------------------------------------------------ exact passes


def block_stats(
    block,
    mask_block=None,
    *,
    centroids: np.ndarray,
    layout: _features.Layout,
    options: _features.FeatureOptions,
    origin: tuple[int, ...],
) -> tuple[np.ndarray, ...]:
    """What one Lloyd pass needs of one chunk: per nearest centroid, the pixel
    count and the sums of the features; the sum of squared distances and the
    number of pixels considered (inside the mask, opaque); per centroid, the sums
    of the image's channels and of the features of weight 0."""
    block = np.asarray(block)
    mask_block = _block_mask(mask_block, layout.channel_axis)
    feats = _features.build_features(block, layout, mask_block, options, origin=origin)
    k = centroids.shape[0]
    px = Pixels(feats.X, feats.keep, binned=False)
    with in_this_thread():  # dask runs the tasks in parallel
        labels = px.label(centroids)
        measured = px.label_stats(labels, centroids)
    counts, sse, sums = measured.counts, measured.inertia, measured.sums
    channels = sums
    if not options.is_default:
        channels = _stats.label_sums(feats.pixels, labels, k)
    dropped = np.zeros((k, 0))
    if feats.dropped is not None:
        dropped = _stats.label_sums(feats.dropped, labels, k)
    n_kept = labels.size if feats.keep is None else int(np.count_nonzero(feats.keep))
    return counts, sums, np.array([sse, n_kept]), channels, dropped


@dataclass(frozen=True, eq=False)
class Passes:
    """The outcome of :func:`lloyd_passes`.

    Attributes
    ----------
    centroids : (k, d) ndarray of float64
        The last pass's cluster means (equal to the centroids it labelled with
        when ``converged``).
    counts : (k,) ndarray
        Pixels per cluster in the last pass.
    inertia : float
        Sum of squared distances to the nearest centroid in the last pass.
    n_kept : int
        Pixels considered (inside the mask, opaque).
    channel_sums, dropped_sums : ndarray
        Per cluster, the sums of the image's channels and of the features of
        weight 0.
    n_valid : int
        Pixels labelled.
    n_iter : int
        Passes made.
    converged : bool
        Whether no centroid moved in the last pass.
    """

    centroids: np.ndarray
    counts: np.ndarray
    inertia: float
    n_kept: int
    channel_sums: np.ndarray
    dropped_sums: np.ndarray
    n_valid: int
    n_iter: int
    converged: bool


#: a centroid that moves less than this, relative to its size, has stopped
CENTROID_RTOL = 1e-12


def lloyd_passes(
    darr: da.Array,
    layout: _features.Layout,
    options: _features.FeatureOptions,
    centroids: np.ndarray,
    *,
    mask: da.Array | None,
    max_iter: int,
    progress: Progress | None = None,
) -> Passes:
    """Lloyd iterations over all chunks of ``darr`` from ``centroids`` until no
    centroid moves (a fixed point on all pixels) or ``max_iter`` passes."""
    darr = whole_channels(darr, layout)
    chunks = spatial_chunks(darr, layout)
    blocks = list(np.ravel(darr.to_delayed()))
    masks = [None] * len(blocks)
    if mask is not None:
        masks = list(
            np.ravel(_mask_blocks(mask, chunks, layout.channel_axis).to_delayed())
        )
    starts = [np.cumsum((0, *c[:-1])) for c in chunks]
    origins = [
        tuple(int(starts[a][i]) for a, i in enumerate(idx))
        for idx in np.ndindex(*(len(c) for c in chunks))
    ]
    tasks = list(zip(blocks, masks, origins, strict=True))
    C = np.asarray(centroids, dtype=np.float64)
    total = max_iter * len(blocks)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        counts, sums, sse, channel_sums, dropped_sums = _one_pass(
            tasks, C, layout, options, progress, (n_iter - 1) * len(blocks), total
        )
        present = counts > 0
        C_new = C.copy()
        C_new[present] = sums[present] / counts[present, None]
        converged = is_fixed_point(C_new, C, counts, rtol=CENTROID_RTOL)
        C = C_new
        if converged:
            break
    if not converged:
        warnings.warn(not_converged(max_iter), stacklevel=2)
    if progress is not None:
        progress(total, total)
    return Passes(
        centroids=C,
        counts=counts,
        inertia=float(sse[0]),
        n_kept=int(sse[1]),
        channel_sums=channel_sums,
        dropped_sums=dropped_sums,
        n_valid=int(counts.sum()),
        n_iter=n_iter,
        converged=bool(converged),
    )


def _one_pass(tasks, C, layout, options, progress, done, total) -> list:
    """The summed :func:`block_stats` of every chunk, :data:`CHUNKS_PER_STEP`
    chunks at a time (progress after each step)."""
    import dask
    from dask.delayed import delayed

    stats = delayed(block_stats, pure=True)
    acc = None
    for first in range(0, len(tasks), CHUNKS_PER_STEP):
        step = [
            stats(b, m, centroids=C, layout=layout, options=options, origin=o)
            for b, m, o in tasks[first : first + CHUNKS_PER_STEP]
        ]
        for part in dask.compute(*step):
            if acc is None:
                acc = list(part)
            else:
                acc = [a + p for a, p in zip(acc, part, strict=True)]
        done += len(step)
        if progress is not None:
            progress(done, total)
    return acc
