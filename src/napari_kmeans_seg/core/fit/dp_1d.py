"""The least sum of squares of sorted weighted values in ``k`` intervals: the
one-feature k-means optimum, by dynamic programming (:mod:`..optimum_kernels`)."""

from __future__ import annotations

import numpy as np

from .. import optimum_kernels as OPT


def optimum(
    values: np.ndarray, weights: np.ndarray, k: int
) -> tuple[float, np.ndarray]:
    """The least sum of squares of the sorted distinct ``values`` (with counts
    ``weights``) in ``k`` clusters, and its centroids, ``(k, 1)`` sorted."""
    shift = float(np.average(values, weights=weights))  # sums of squares about it
    x = values - shift
    W = np.concatenate([[0.0], np.cumsum(weights)])
    S = np.concatenate([[0.0], np.cumsum(weights * x)])
    Q = np.concatenate([[0.0], np.cumsum(weights * x * x)])
    start = np.zeros(k, np.int64)
    total = OPT.optimal_starts(W, S, Q, k, start)
    stop = np.append(start[1:], values.size)
    sums = np.add.reduceat(weights * values, start)
    counts = np.add.reduceat(weights, start)
    assert np.all(stop > start)
    return float(total), (sums / counts)[:, None]
