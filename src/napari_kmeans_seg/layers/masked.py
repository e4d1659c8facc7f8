"""The masked layers' data: the image masked to each cluster, as lazy views
(:func:`lazy_view`) for a large or lazy image, computed plane by plane when shown."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from ..core import lazy as _lazy
from ..core.parallel import current_check
from .levels import Levels, as_levels
from .names import cluster_name
from .progress import OutputProgress


def masked_layer_data(at: Levels, image, progress: OutputProgress) -> list:
    """One hidden layer per cluster: each level masked to it (lazy views of a
    large image, see :func:`lazy_view`)."""
    pairs = at.pairs
    if _lazy_masks(image):
        pairs = [
            (lazy_view(im, rgb=at.source.rgb), replace(r, labels=lazy_view(r.labels)))
            for im, r in pairs
        ]
    stop = current_check()  # a cancelled run stops between two outputs
    layers = []
    for i in range(1, pairs[0][1].n_clusters + 1):
        stop()
        data = as_levels([r.masked_image(im, i) for im, r in pairs])
        meta = at.meta(cluster_name(at.source.name, i), visible=False)
        layers.append((data, meta, "image"))
        progress.step()
    return layers


#: in-memory images from this size on get lazy masked layers (:func:`lazy_view`);
#: smaller ones are masked at once, faster than a first dask computation
LAZY_MASKS_BYTES = 32 * 2**20


def _lazy_masks(image) -> bool:
    """Whether the masked layers of ``image`` are lazy views; for an in-memory one,
    dask's scheduler is loaded here (in the worker thread), so that showing the
    first of them does not wait for it."""
    if _lazy.is_lazy(image):
        return True
    if getattr(image, "nbytes", 0) < LAZY_MASKS_BYTES:
        return False
    _warm_up_dask()
    return True


@functools.cache
def _warm_up_dask() -> None:
    """One tiny dask computation: the first in a process loads the scheduler's
    modules (about a second)."""
    import dask.array as da

    da.zeros(2, chunks=1).sum().compute()


def lazy_view(array, *, rgb: bool = False) -> Any:
    """``array`` as a dask array without a copy (a lazy one as it is), one chunk
    per plane (the last two axes, and the colour axis of an RGB(A) image): an
    output computed from it costs neither time nor memory until napari shows a
    plane of it, and then only that plane."""
    if _lazy.is_lazy(array):
        return array
    import dask.array as da

    whole = min(array.ndim, 3 if rgb else 2)
    leading = array.ndim - whole
    # name=False: a random name, not a hash of all the data (~0.1 s per 100 MB)
    return da.from_array(
        array, chunks=(1,) * leading + array.shape[leading:], name=False
    )
