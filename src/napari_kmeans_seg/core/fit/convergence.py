"""When Lloyd's iterations have converged: one rule for every way of fitting."""

from __future__ import annotations

import numpy as np


def is_fixed_point(means, C, counts, *, rtol: float = 0.0) -> bool:
    """Whether the centroids ``C`` are a Lloyd fixed point: no cluster is empty
    and each centroid is the mean of its pixels (``means``, with ``counts``
    pixels per cluster, from the pixels assigned to their nearest centroid in
    ``C``).

    ``rtol`` is 0 (bitwise equality) where the sums are made in the same order
    at every step; sums added up in another order at each step (chunk by chunk
    of a lazy image) round differently, and allow for that rounding.
    """
    if np.any(np.asarray(counts) <= 0):
        return False
    if rtol == 0.0:
        return bool(np.array_equal(means, C))
    return bool(np.allclose(means, C, rtol=rtol, atol=0.0))
