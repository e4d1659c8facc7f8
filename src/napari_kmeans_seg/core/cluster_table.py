"""The table of a segmentation's clusters: one row per cluster, as a DataFrame."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def cluster_table(result) -> pd.DataFrame:
    """The table of :meth:`SegmentationResult.table` for ``result``."""
    import pandas as pd

    counts = np.asarray(result.counts)
    data: dict[str, object] = {"label": np.arange(1, result.n_clusters + 1)}
    if result.model.cluster_names is not None:
        data["name"] = list(result.model.cluster_names)
    data["pixels"] = counts
    data["fraction"] = counts / max(int(counts.sum()), 1)
    for name, column in zip(result.feature_names, result.centroids.T, strict=True):
        data[name] = column
    colors = result.mean_colors
    if colors is not None:
        data["color"] = [_hex(c) for c in colors]
    return pd.DataFrame(data)


def _hex(rgb: np.ndarray) -> str | None:
    """``"#rrggbb"`` of an RGB colour in [0, 1] (None if not finite)."""
    if not np.all(np.isfinite(rgb)):
        return None
    r, g, b = (int(v) for v in np.rint(np.asarray(rgb) * 255))
    return f"#{r:02x}{g:02x}{b:02x}"
