"""The least sum of squares of sorted weighted items in ``k`` intervals: the
one-feature k-means optimum, by dynamic programming (:mod:`..optimum_kernels`)."""

from __future__ import annotations

import numpy as np

from .. import optimum_kernels as OPT
from .bounds_1d import prefix_sums


def optimum(
    values: np.ndarray, weights: np.ndarray, k: int
) -> tuple[float, np.ndarray]:
    """The least sum of squares of the sorted distinct ``values`` (with counts
    ``weights``) in ``k`` clusters, and its centroids, ``(k, 1)`` sorted."""
    return optimum_of_items(weights, values, np.zeros(values.size), k)


def optimum_of_items(
    w: np.ndarray, mean: np.ndarray, within: np.ndarray, k: int
) -> tuple[float, np.ndarray]:
    """The least sum of squares of items in value order, each a value or a run
    of values kept together (count ``w``, mean ``mean``, own sum of squares
    ``within``), in ``k`` clusters of consecutive items; and its centroids,
    ``(k, 1)`` sorted."""
    W, S, Q = prefix_sums(w, mean, within)
    start = np.zeros(k, np.int64)
    total = OPT.optimal_starts(W, S, Q, k, start)
    stop = np.append(start[1:], w.size)
    assert np.all(stop > start)
    sums = np.add.reduceat(w * mean, start)
    counts = np.add.reduceat(w, start)
    return float(total), (sums / counts)[:, None]
