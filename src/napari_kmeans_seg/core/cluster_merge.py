"""Merging clusters of a segmentation: new labels, counts, centroids and inertia,
and a model that predicts the merged labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from . import arrays as _arrays


def check_merge_ids(ids, k: int) -> list[int]:
    """The distinct cluster ids to merge, sorted, or a clear ``ValueError``."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence | np.ndarray):
        raise ValueError(f"ids must be a list of cluster ids, not {ids!r}")
    values = list(ids) if np.ndim(ids) == 1 else None
    if values is None or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)
        for v in values
    ):
        raise ValueError(f"ids must be a list of integer cluster ids, not {ids!r}")
    chosen = sorted({int(v) for v in values})
    if any(not 1 <= v <= k for v in chosen):
        raise ValueError(f"cluster ids must be between 1 and {k}, got {list(ids)}")
    if len(chosen) < 2:
        raise ValueError(
            f"merge needs at least two distinct cluster ids, got {list(ids)}"
        )
    if k - len(chosen) + 1 < 2:
        raise ValueError(
            f"merging {chosen} would leave a single cluster; keep at least two"
        )
    return chosen


@dataclass(frozen=True)
class _Merge:
    """Which old clusters become which new ones."""

    new_of_old: np.ndarray  # old id - 1 -> new id
    members: np.ndarray  # old ids - 1 of the merged clusters
    target: int  # new id - 1 of the merged cluster
    first: np.ndarray  # an old id - 1 per new id
    counts: np.ndarray  # old counts

    @classmethod
    def of(cls, chosen: list[int], counts: np.ndarray) -> _Merge:
        k = len(counts)
        group = np.arange(1, k + 1)
        group[np.asarray(chosen) - 1] = chosen[0]
        kept = np.unique(group)
        new_of_old = np.searchsorted(kept, group) + 1
        members = np.asarray(chosen) - 1
        first = np.unique(new_of_old, return_index=True)[1]
        return cls(new_of_old, members, int(new_of_old[members[0]] - 1), first, counts)

    @property
    def k2(self) -> int:
        return int(self.new_of_old.max())

    def combine(self, A: np.ndarray) -> np.ndarray:
        """Rows of ``A`` per new cluster: the merged one's is the count-weighted
        mean of its members' rows."""
        A = np.asarray(A, dtype=np.float64)
        out = A[self.first].copy()
        w = self.counts[self.members].astype(np.float64)
        rows = A[self.members]
        if w.sum() > 0:
            rows, w = rows[w > 0], w[w > 0]
            out[self.target] = (w[:, None] * rows).sum(axis=0) / w.sum()
        else:
            out[self.target] = rows.mean(axis=0)
        return out

    def names(self, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if names is None:
            return None
        return tuple(
            " + ".join(names[i] for i in np.flatnonzero(self.new_of_old == j))
            for j in range(1, self.k2 + 1)
        )


def merge_clusters(result, chosen: list[int]):
    """:meth:`SegmentationResult.merge` of ``result`` by the checked ids ``chosen``."""
    counts = np.asarray(result.counts)
    m = _Merge.of(chosen, counts)
    lut = np.zeros(len(counts) + 1, result.labels.dtype)
    lut[1:] = m.new_of_old
    counts2 = np.bincount(m.new_of_old - 1, weights=counts, minlength=m.k2)
    centres = m.combine(result.engine_centroids)
    shift = np.asarray(result.engine_centroids, dtype=np.float64)[m.members]
    shift = shift - centres[m.target]
    extra = float((counts[m.members] * (shift**2).sum(axis=1)).sum())
    model = result.model
    rows_map = (
        model.label_map
        if model.label_map is not None
        else np.arange(1, model.centroids.shape[0] + 1)
    )
    model2 = replace(
        model,
        label_map=m.new_of_old[rows_map - 1],
        cluster_names=m.names(model.cluster_names),
    )
    return replace(
        result,
        labels=_arrays.relabel(lut, result.labels),
        centroids=m.combine(result.centroids),
        counts=counts2.astype(np.int64),
        inertia=result.inertia + extra,
        model=model2,
        converged=False,
        optimal=False,
        channel_means=m.combine(result.channel_means),
        engine_centroids=centres,
    )
