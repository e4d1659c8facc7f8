"""Per-label sums and means, pixel sampling, distinct counts: one home each.

No napari and no Qt here. Sums are in float64: narrower sums round or
overflow.
"""

from __future__ import annotations

import numpy as np

#: relative tolerance of "each centroid is the mean of its pixels" (float64 sums
#: of many values differ from the exact mean by a few units in the last place)
MEANS_RTOL = 1e-9
#: absolute tolerance of the same check, relative to the largest centroid value
#: (for coordinates near 0)
MEANS_ATOL_FRACTION = 1e-12


def label_sums(A: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Sum of the rows of ``A`` with each label.

    Parameters
    ----------
    A : (n, d) ndarray
        Rows to sum, any real dtype.
    labels : (n,) ndarray of int
        Label of each row, 0..k; rows labelled 0 are ignored.
    k : int
        Largest label.

    Returns
    -------
    (k, d) ndarray of float64
    """
    out = np.empty((k, A.shape[1]))
    for j in range(A.shape[1]):
        column = A[:, j]
        if column.dtype.kind in "iu" and column.dtype.itemsize == 8:
            column = column.astype(np.float64)  # bincount casts with "safe" only
        out[:, j] = np.bincount(labels, weights=column, minlength=k + 1)[1 : k + 1]
    return out


def label_counts(labels: np.ndarray, k: int) -> np.ndarray:
    """Number of rows with each label 1..k, ``(k,)`` int64."""
    return np.bincount(labels, minlength=k + 1)[1 : k + 1].astype(np.int64)


def label_means(A: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Mean of the rows of ``A`` with each label 1..k.

    Rows labelled 0 are ignored; a label without rows gets NaN.

    Returns
    -------
    (k, d) ndarray of float64
    """
    counts = label_counts(labels, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return label_sums(A, labels, k) / counts[:, None]


def centroids_are_means(sums: np.ndarray, counts: np.ndarray, C: np.ndarray) -> bool:
    """Whether each centroid is the mean of the rows labelled with it, given the
    rows' ``sums`` (``(k, d)``) and ``counts`` per label.

    Within :data:`MEANS_RTOL`; an empty cluster has no mean, so it is not. With
    the labels from the nearest centroid, that makes the labels a Lloyd fixed
    point on these rows.
    """
    if np.any(counts == 0):
        return False
    top = max(float(np.max(np.abs(C))), np.finfo(np.float64).tiny)
    atol = MEANS_ATOL_FRACTION * top
    return bool(np.allclose(sums / counts[:, None], C, rtol=MEANS_RTOL, atol=atol))


def sample_pixels(
    X: np.ndarray, keep: np.ndarray | None, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Up to ``size`` distinct random rows of ``X`` among the valid ones, in their
    image order.

    Parameters
    ----------
    X : (n, d) ndarray
        The pixel or feature matrix.
    keep : (n,) ndarray of bool or None
        Rows that may be drawn (None: all); rows with a non-finite value never are.
    size : int
        Rows wanted; all valid rows when there are fewer.
    rng : numpy.random.Generator

    Returns
    -------
    (m, d) ndarray
        A copy, of ``X``'s dtype, ``m = min(size, n_valid)``.
    """
    valid = keep
    if X.dtype.kind == "f":
        finite = np.isfinite(X).all(axis=1)
        valid = finite if valid is None else valid & finite
    if valid is None:
        n = len(X)
        if n <= size:
            return np.array(X)
        return X[np.sort(rng.choice(n, size=size, replace=False))]
    candidates = np.flatnonzero(valid)
    if len(candidates) > size:
        candidates = candidates[np.sort(rng.choice(len(candidates), size, False))]
    return X[candidates]


def n_distinct(P: np.ndarray, cap: int) -> int:
    """Number of distinct rows of ``P``, exact.

    Rows are compared as bytes (-0.0 and 0.0 are one value); a prefix of ``P``
    settles it when it already holds ``cap`` values.
    """
    rows = np.ascontiguousarray(P)
    if rows.dtype.kind == "f":
        rows = rows + 0.0
    v = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    head = np.unique(v[: 4 * cap]).size
    return head if head >= cap else np.unique(v).size
