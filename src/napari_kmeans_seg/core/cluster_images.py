"""Images made from a segmentation's labels: one cluster's pixels kept (the rest
set to 0), and each pixel replaced by its cluster's mean colour."""

from __future__ import annotations

import numpy as np

from . import arrays as _arrays
from . import features as _features


def check_cluster_id(cluster_id, k: int) -> None:
    if isinstance(cluster_id, bool) or not isinstance(cluster_id, int | np.integer):
        raise ValueError(f"cluster_id must be an integer, not {cluster_id!r}")
    if not 1 <= cluster_id <= k:
        raise ValueError(f"cluster_id must be between 1 and {k}, got {cluster_id}")


def masked_image(arr, layout: _features.Layout, labels, cluster_id: int):
    """``arr`` with every pixel whose label is not ``cluster_id`` set to 0 (lazy
    when ``arr`` or ``labels`` is)."""
    if _arrays.is_lazy(arr) or _arrays.is_lazy(labels):
        import dask.array as da

        keep = labels == cluster_id
        if layout.channel_axis is not None:
            keep = da.expand_dims(keep, layout.channel_axis)
        return da.where(keep, arr, np.zeros((), arr.dtype))
    keep = layout.expand(labels == cluster_id)
    return np.where(keep, arr, np.zeros((), arr.dtype))


def mean_color_image(labels, means: np.ndarray, dtype, layout: _features.Layout):
    """Each pixel of ``labels`` replaced by its cluster's row of ``means`` in
    ``dtype``, the channels where ``layout`` puts them (RGB: last)."""
    lut = mean_color_lut(means, dtype)
    if layout.channel_axis is None:
        return _arrays.relabel(lut[:, 0], labels)
    out = _arrays.relabel(lut, labels)
    if layout.rgb:
        return out
    return np.moveaxis(out, -1, layout.channel_axis)


def mean_color_lut(means: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Lookup table from label (0..k) to mean colour in ``dtype``: row 0 is 0;
    integer means are rounded and clipped to the dtype's range (never wrapped,
    also for 64-bit integers); bool means are thresholded at 0.5."""
    dtype = np.dtype(dtype)
    means = np.where(np.isfinite(means), means, 0.0)
    lut = np.zeros((means.shape[0] + 1, means.shape[1]), dtype)
    if dtype.kind in "iu":
        lo, hi = _float_range(dtype)
        lut[1:] = np.clip(np.rint(means), lo, hi)
    elif dtype.kind == "b":
        lut[1:] = means >= 0.5
    else:
        lut[1:] = means
    return lut


def _float_range(dtype: np.dtype) -> tuple[float, float]:
    """The widest float64 interval inside the integer ``dtype``'s range: float64
    values in it convert to ``dtype`` without wrapping."""
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    if int(hi) > info.max:  # 2**63 - 1 and 2**64 - 1 round up in float64
        hi = float(np.nextafter(hi, -np.inf))
    return lo, hi
