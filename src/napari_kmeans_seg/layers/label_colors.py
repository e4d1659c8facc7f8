"""The colours of the labels layer: each cluster's mean colour, napari's distinct
label colours, or saturated hues that stand out over a greyscale image."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import numpy as np

from ..core.segment import SegmentationResult

#: how the labels layer is coloured: each cluster's mean colour (RGB images; others
#: fall back to distinct colours) or distinct colours
LABEL_COLORS = ("mean", "distinct")
#: the least CIELAB chroma of a distinct colour: its distance from every grey
MIN_CHROMA = 50.0
#: the CIELAB lightness range of the distinct colours (no near-black or near-white)
LIGHTNESS = (40.0, 90.0)


def check_label_colors(label_colors: str) -> None:
    if label_colors not in LABEL_COLORS:
        raise ValueError(
            f"label_colors must be one of {LABEL_COLORS}, not {label_colors!r}"
        )


def distinct_colors(n: int) -> np.ndarray:
    """``n`` saturated colours far from every grey and from each other, RGBA in
    [0, 1], ``(n, 4)``; the first ``m`` are the same for every ``n >= m``.

    Chosen among the sRGB colours of CIELAB chroma >= :data:`MIN_CHROMA` and
    lightness in :data:`LIGHTNESS`, each the farthest (CIELAB distance) from those
    chosen before it: 16 colours stay ~40 Delta E apart, and every one ~50 from the
    grey ramp, so that clusters read over a greyscale image at any k."""
    order = _palette(max(int(n), 0))
    rgba = np.ones((len(order), 4))
    rgba[:, :3] = order
    return rgba


@functools.cache
def _palette(n: int) -> np.ndarray:
    from skimage.color import rgb2lab

    steps = np.linspace(0.0, 1.0, 13)
    rgb = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), -1).reshape(-1, 3)
    lab = rgb2lab(rgb[None])[0]
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    lo, hi = LIGHTNESS
    keep = (chroma >= MIN_CHROMA) & (lab[:, 0] >= lo) & (lab[:, 0] <= hi)
    rgb, lab, chroma = rgb[keep], lab[keep], chroma[keep]
    chosen = [int(np.argmax(chroma))]
    apart = np.linalg.norm(lab - lab[chosen[0]], axis=1)
    while len(chosen) < n:
        i = int(np.argmax(apart))  # all chosen (k > ~800): repeats from the first
        chosen.append(i)
        apart = np.minimum(apart, np.linalg.norm(lab - lab[i], axis=1))
    return rgb[chosen[:n]]


def mean_colors(
    result: SegmentationResult, dtype: np.dtype | None = None
) -> np.ndarray | None:
    """Each cluster's mean colour as RGBA in [0, 1] for an RGB result, else None
    (:attr:`SegmentationResult.mean_colors` with alpha 1; ``dtype`` is the image's,
    used only when the result does not record it)."""
    if result.image_dtype is None and dtype is not None:
        result = replace(result, image_dtype=np.dtype(dtype).name)
    colors = result.mean_colors
    if colors is None:
        return None
    rgba = np.ones((len(colors), 4))
    rgba[:, :3] = colors
    return rgba


def labels_colormap(
    result: SegmentationResult, label_colors: str = "mean", *, rgb: bool = True
):
    """The labels layer's ``DirectLabelColormap``: each cluster's mean colour
    (``"mean"``, RGB results), else distinct colours: napari's for an RGB image,
    :func:`distinct_colors` for others (napari's include greys and dark colours
    that vanish over a greyscale image). Label 0 is transparent."""
    from napari.utils.colormaps import DirectLabelColormap, label_colormap

    k = result.n_clusters
    if rgb:
        distinct = label_colormap(k + 1).map(np.arange(1, k + 1))
    else:
        distinct = distinct_colors(k)
    colors = mean_colors(result) if label_colors == "mean" else None
    if colors is None:
        colors = distinct
    else:  # a cluster without pixels has no mean colour
        bad = ~np.isfinite(colors).all(axis=1)
        colors[bad] = distinct[bad]
    color_dict: dict[int | None, Any] = {None: np.zeros(4), 0: np.zeros(4)}
    color_dict.update({i + 1: c for i, c in enumerate(colors)})
    return DirectLabelColormap(color_dict=color_dict)
