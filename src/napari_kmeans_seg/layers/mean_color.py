"""The mean-colour layer's data: each pixel in its cluster's mean colour, made block
by block of rows so that a cancelled run stops between two blocks."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np

from ..core import lazy as _lazy
from ..core.parallel import current_check
from ..core.segment import SegmentationResult
from .levels import Levels, as_levels
from .names import mean_color_name
from .progress import OutputProgress


def mean_color_layer_data(at: Levels, progress: OutputProgress):
    """The mean-colour layer: every level in its clusters' mean colours."""
    data = [_mean_color_image(r, im, progress) for im, r in at.pairs]
    return (as_levels(data), at.meta(mean_color_name(at.source.name)), "image")


#: pixels per block of the mean-colour image: a cancelled run stops between two
MEAN_BLOCK_PIXELS = 1 << 21


def n_mean_color_blocks(labels) -> int:
    """How many blocks of rows (first axis) :func:`_mean_color_image` makes."""
    if _lazy.is_lazy(labels) or labels.ndim == 0 or not labels.size:
        return 1
    rows = max(1, MEAN_BLOCK_PIXELS // (labels.size // labels.shape[0]))
    return -(-labels.shape[0] // rows)


def _mean_color_image(result: SegmentationResult, image, progress) -> Any:
    """:meth:`SegmentationResult.mean_color_image` in ``image``'s dtype, from the
    result's own channel means (not summed again from the pixels), made block
    by block of rows: a cancelled run stops between two blocks."""
    result = replace(result, image_dtype=np.dtype(image.dtype).name)
    labels = result.labels
    stop = current_check()
    if _lazy.is_lazy(labels):
        stop()
        out = result.mean_color_image()
        progress.step()
        return out
    layout = result.model.layout
    axis = 0  # the output's axis of the labels' first axis
    if not layout.rgb and layout.channel_axis is not None:
        axis = int(layout.channel_axis % (labels.ndim + 1) == 0)
    n = n_mean_color_blocks(labels)
    out = None
    for a, b in itertools.pairwise(np.linspace(0, labels.shape[0], n + 1).astype(int)):
        stop()
        block = replace(result, labels=labels[a:b]).mean_color_image()
        if out is None:
            shape = list(block.shape)
            shape[axis] = labels.shape[0]
            out = np.empty(shape, block.dtype)
        out[(slice(None),) * axis + (slice(a, b),)] = block
        progress.step()
    return out
