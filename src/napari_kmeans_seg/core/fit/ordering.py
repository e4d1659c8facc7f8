"""The order of the clusters in a result, the same whichever way fitted them."""

from __future__ import annotations

import numpy as np

from .records import Fit


def cluster_order(C: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Stable cluster order: by luminance of the centroid (Rec. 601 weights for three
    features, the feature mean otherwise), then larger clusters first, then by the
    centroid's coordinates. Returns the old indices in their new order."""
    lum = C @ np.array([0.299, 0.587, 0.114]) if C.shape[1] == 3 else C.mean(axis=1)
    keys = [C[:, j] for j in range(C.shape[1] - 1, -1, -1)]
    return np.lexsort([*keys, -counts, np.round(lum, 9)])


def ranks(order: np.ndarray) -> np.ndarray:
    """Each cluster's place in ``order`` (the inverse permutation)."""
    perm = np.empty(order.size, np.int64)
    perm[order] = np.arange(order.size)
    return perm


def ordered(best, order: np.ndarray, labels: np.ndarray, n_valid: int) -> Fit:
    """The fit ``best`` (a record with ``centroids``, ``counts``, ``inertia``,
    ``n_iter`` and ``converged``) with its clusters in ``order``, and the
    ``labels`` already given in that order."""
    return Fit(
        best.centroids[order],
        best.counts[order],
        labels,
        best.inertia,
        best.n_iter,
        best.converged,
        n_valid,
    )
