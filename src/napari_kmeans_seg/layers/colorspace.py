"""What the colour-space view draws, computed without Qt: a sample of the clustered
pixels, the cluster centres, the axes' range and the points' colours.

The view (``_qt/colorview.py``) only turns a :class:`Scatter` into vispy visuals. A
result given to the view brings its own centres (``channel_means``) and counts, so
nothing is recomputed; only labels read from a layer (e.g. after painting) need
their per-label means, summed here block by block (:func:`label_means_steps`).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace

import numpy as np

from ..core import features as _features
from ..core import lazy as _lazy
from .label_colors import distinct_colors, mean_colors

#: pixels whose per-cluster means place the centres until the exact means are in
CENTRE_SAMPLE = 200_000
#: pixels of a lazy (dask, zarr) or multiscale image the view loads at most
LAZY_VIEW_PIXELS = 1 << 20
#: pixels summed per step of the exact cluster means (one step per event-loop turn)
MEANS_BLOCK = 1 << 20


@dataclass(frozen=True)
class FeatureSpace:
    """The three plotted axes: their names and the value range mapped to [0, 1].

    Attributes
    ----------
    names : tuple of 3 str
        Axis labels.
    lo, hi : (3,) ndarray of float64
        Feature values drawn at 0 and 1 on each axis.
    n_features : int
        Features of the pixels (axes beyond it are plotted as 0).
    """

    names: tuple[str, str, str]
    lo: np.ndarray
    hi: np.ndarray
    n_features: int

    @classmethod
    def for_data(
        cls,
        layout: _features.Layout,
        dtype: np.dtype,
        values: np.ndarray,
        names: tuple[str, ...] = (),
    ) -> FeatureSpace:
        """The space of an image's pixels: the 0–255 RGB cube for 8-bit RGB, else
        the range of ``values`` (sampled pixels and centres) on the first three
        features. ``names``: the channels' names (default: R, G, B or
        "feature i")."""
        d = values.shape[1]
        lo, hi = np.zeros(3), np.ones(3)
        if layout.rgb and np.dtype(dtype) == np.uint8:
            return cls(("R", "G", "B"), lo, np.full(3, 255.0), 3)
        n = min(d, 3)
        if len(values):
            lo[:n] = np.nanmin(values[:, :n], axis=0)
            hi[:n] = np.nanmax(values[:, :n], axis=0)
        flat = hi - lo <= 0
        hi[flat] = lo[flat] + 1.0
        if layout.rgb:
            names = ("R", "G", "B")
        names = tuple(
            (names[i] if i < len(names) else f"feature {i + 1}")
            if i < d
            else f"(feature {i + 1}: none)"
            for i in range(3)
        )
        return cls(names, lo, hi, d)

    def to_scene(self, values: np.ndarray) -> np.ndarray:
        """Feature values → scene positions ``(n, 3)`` float32 in the unit cube
        (missing features at 0)."""
        out = np.zeros((len(values), 3), np.float32)
        n = min(values.shape[1], 3)
        out[:, :n] = (values[:, :n] - self.lo[:n]) / (self.hi[:n] - self.lo[:n])
        return out


def sample_clustered(
    image: np.ndarray,
    labels: np.ndarray,
    layout: _features.Layout,
    n_points: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int]:
    """A random sample of the clustered pixels (label > 0) of ``image``.

    Only the drawn pixels are read, so that a 4K image costs as much as a small one.

    Parameters
    ----------
    image : ndarray
        The image.
    labels : ndarray
        Its labels, shaped like the image without its channel axis.
    layout : Layout
        The image's channel layout.
    n_points : int
        Pixels wanted.
    rng : numpy.random.Generator

    Returns
    -------
    values : (m, n_features) ndarray
        The sampled pixels' features (alpha dropped), ``m <= n_points``.
    sample_labels : (m,) ndarray
        Their labels.
    n_clustered : int
        Number of clustered pixels in the image (estimated from the draw when the
        image is large and has few unclustered pixels).

    Raises
    ------
    ValueError
        If ``labels`` does not have the image's spatial shape.
    """
    spatial = layout.spatial_shape(image.shape)
    if labels.shape != spatial:
        raise ValueError(
            f"labels shape {labels.shape} does not fit the image's spatial shape "
            f"{spatial}"
        )
    flat = labels.reshape(-1)
    n = flat.size
    idx = None
    n_clustered = 0
    if n > 2 * n_points:  # draw a few more than needed, keep the clustered ones
        draw = rng.choice(n, size=min(n, n_points + n_points // 4 + 64), replace=False)
        good = draw[flat[draw] > 0]
        if len(good) >= n_points:
            idx = np.sort(good[:n_points])
            n_clustered = round(n * len(good) / len(draw))
    if idx is None:  # small image or many unclustered pixels: list them all
        idx = np.flatnonzero(flat)
        n_clustered = len(idx)
        if len(idx) > n_points:
            idx = idx[np.sort(rng.choice(len(idx), size=n_points, replace=False))]
    coords = np.unravel_index(idx, spatial)
    pixels = (
        image
        if layout.channel_axis is None
        else np.moveaxis(image, layout.channel_axis, -1)
    )
    values = pixels[coords]
    if layout.channel_axis is None:
        values = values[:, None]
    return values[:, : layout.n_channels], flat[idx], n_clustered


def label_means(
    image: np.ndarray, labels: np.ndarray, layout: _features.Layout, ids: np.ndarray
) -> np.ndarray:
    """Mean features of the pixels of each label in ``ids`` over the whole image.

    Parameters
    ----------
    image, labels, layout
        As for :func:`sample_clustered`.
    ids : (k,) ndarray of int
        Labels (> 0) whose means are wanted.

    Returns
    -------
    (k, n_features) ndarray of float64
        NaN rows for labels without pixels.
    """
    steps = label_means_steps(image, labels, layout, ids)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def label_means_steps(
    image: np.ndarray,
    labels: np.ndarray,
    layout: _features.Layout,
    ids: np.ndarray,
    block: int = MEANS_BLOCK,
) -> Generator[None, None, np.ndarray]:
    """:func:`label_means` in steps of ``block`` pixels: a generator that yields
    after each block and returns the means, so that the GUI can interleave it with
    its events instead of freezing (or starting a thread) on a large image."""
    X, _ = _features.to_pixels(image, layout)
    X = X[:, : layout.n_channels]
    flat = labels.reshape(-1)
    size = int(max(ids.max(initial=0), flat.max(initial=0))) + 1
    sums = np.zeros((size, X.shape[1]))
    counts = np.zeros(size)
    for start in range(0, len(flat), block):
        lab = flat[start : start + block]
        counts += np.bincount(lab, minlength=size)
        for j in range(X.shape[1]):
            sums[:, j] += np.bincount(
                lab, weights=X[start : start + block, j], minlength=size
            )
        yield
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[ids] / counts[ids, None]


def sample_means(
    values: np.ndarray, sample_labels: np.ndarray, ids: np.ndarray
) -> np.ndarray:
    """Mean of ``values`` per label in ``ids`` (NaN rows for absent labels)."""
    size = int(max(ids.max(initial=0), sample_labels.max(initial=0))) + 1
    counts = np.bincount(sample_labels, minlength=size)[ids]
    out = np.empty((len(ids), values.shape[1]))
    for j in range(values.shape[1]):
        out[:, j] = np.bincount(
            sample_labels, weights=values[:, j].astype(np.float64), minlength=size
        )[ids]
    with np.errstate(invalid="ignore", divide="ignore"):
        return out / counts[:, None]


def lazy_region(image, labels, layout: _features.Layout) -> tuple:
    """Of a lazy (dask, zarr) image and its labels: the pixels of a regular grid of
    at most :data:`LAZY_VIEW_PIXELS` (see :func:`..core.lazy.fit_region`),
    loaded, so that the view never reads a whole large image."""
    region = _lazy.Region.of(tuple(image.shape), layout, LAZY_VIEW_PIXELS)
    return region.read(
        _lazy.as_dask(image) if _lazy.is_lazy(image) else image,
        _lazy.as_dask(labels) if _lazy.is_lazy(labels) else labels,
    )


@dataclass(frozen=True)
class ResultDrawing:
    """What the view draws of a segmentation result: the pixels (a regular grid's
    of a lazy image), their labels and layout, each cluster's colour and centre
    (the result's ``channel_means``), and what the view's status notes."""

    image: np.ndarray
    labels: np.ndarray
    layout: _features.Layout
    colors: np.ndarray
    centres: np.ndarray
    note: str


def result_drawing(image, result, layout=None) -> ResultDrawing:
    """What the view draws of ``result``, the segmentation of ``image`` (nothing
    recomputed): clusters in their mean colours (RGB) or in the labels layer's
    distinct colours; ``layout`` by default the result's model's."""
    layout = (
        result.model.layout_for(tuple(np.shape(image))) if layout is None else layout
    )
    labels = result.labels
    if _lazy.is_lazy(image) or _lazy.is_lazy(labels):
        image, labels = lazy_region(image, labels, layout)
    arr, labels = np.asarray(image), np.asarray(labels)
    colors = mean_colors(result, arr.dtype)
    if colors is None:
        colors = distinct_colors(result.n_clusters)
    options = getattr(result.model, "options", None)
    if options is not None and not options.is_default:
        features = ", ".join(result.feature_names)
        note = f"clustered on {features}; shown in the image's channels"
    elif _lazy.is_lazy(result.labels):
        note = f"pixels of a regular grid of {labels.size:,} (lazy image)"
    else:
        note = ""
    centres = np.asarray(result.channel_means)
    return ResultDrawing(arr, labels, layout, colors, centres, note)


def true_colors(
    values: np.ndarray, layout: _features.Layout, dtype: np.dtype, space: FeatureSpace
) -> np.ndarray:
    """RGBA in [0, 1] of each pixel as the image shows it: its colour for RGB
    (integers scaled by their dtype's maximum), grey for one feature, and the
    first three features as R, G, B (scaled to the plotted range) otherwise."""
    rgba = np.ones((len(values), 4), np.float32)
    if layout.rgb and np.issubdtype(dtype, np.integer):
        rgba[:, :3] = values[:, :3] / np.iinfo(dtype).max
    elif values.shape[1] == 1:
        rgba[:, :3] = space.to_scene(values)[:, :1]
    else:
        rgba[:, :3] = space.to_scene(values)
    np.clip(rgba, 0.0, 1.0, out=rgba)
    return rgba


@dataclass(frozen=True, eq=False)
class Scatter:
    """What the colour-space view draws: sampled pixels and cluster centres.

    Attributes
    ----------
    values : (n, n_features) ndarray
        The sampled pixels, in the image's own channel values.
    sample_labels : (n,) ndarray of intp
        Their clusters.
    n_clustered : int
        Clustered pixels in the image (the sample is drawn from them).
    all_ids : (k,) ndarray of intp
        Every cluster id of the labels.
    all_colors : (k, 4) ndarray of float32
        Each cluster's colour (as in the labels layer).
    ids, centres, colors
        The clusters that have pixels: ids, centres (features), colours.
    exact : bool
        The centres are the means of all pixels (not of a sample).
    space : FeatureSpace
        The plotted axes.
    true_rgba : (n, 4) ndarray of float32
        Each sampled pixel's own colour.
    """

    values: np.ndarray
    sample_labels: np.ndarray
    n_clustered: int
    all_ids: np.ndarray
    all_colors: np.ndarray
    ids: np.ndarray
    centres: np.ndarray
    colors: np.ndarray
    exact: bool
    space: FeatureSpace
    true_rgba: np.ndarray

    def with_centres(self, centres: np.ndarray, *, exact: bool = True) -> Scatter:
        """The same points with ``centres`` (one row per :attr:`all_ids`); the
        clusters without pixels (non-finite rows) are left out."""
        centres = np.asarray(centres, np.float64)
        present = np.all(np.isfinite(centres), axis=1)
        return replace(
            self,
            ids=self.all_ids[present],
            centres=centres[present],
            colors=self.all_colors[present],
            exact=exact,
        )


def make_scatter(
    image: np.ndarray,
    labels: np.ndarray,
    layout: _features.Layout,
    colors: np.ndarray,
    *,
    centres: np.ndarray | None,
    n_points: int,
    rng: np.random.Generator,
    names: tuple[str, ...] = (),
) -> Scatter:
    """Sample ``n_points`` clustered pixels of ``image`` and place the centres.

    ``centres`` (one row per cluster 1..k, e.g. ``result.channel_means``) are
    used as they are; None: the means of a sample of :data:`CENTRE_SAMPLE`
    pixels (:attr:`Scatter.exact` False unless that is every pixel).

    Raises
    ------
    ValueError
        If the labels are not integers or do not fit the image.
    """
    labels = np.asarray(labels)
    if labels.dtype.kind not in "ui":
        raise ValueError(f"labels must be integers, not {labels.dtype}")
    colors = np.asarray(colors, np.float32).reshape(-1, 4)
    ids = np.arange(1, len(colors) + 1, dtype=np.intp)
    values, sample_labels, n_clustered = sample_clustered(
        image, labels, layout, n_points, rng
    )
    sample_labels = sample_labels.astype(np.intp)
    exact = centres is not None
    if centres is None:  # means of a larger sample now, of all pixels later
        big, big_labels = values, sample_labels
        if n_clustered > len(values) and len(values) < CENTRE_SAMPLE:
            big, big_labels, _ = sample_clustered(
                image, labels, layout, CENTRE_SAMPLE, rng
            )
        centres = sample_means(big, big_labels.astype(np.intp), ids)
        exact = len(big) >= n_clustered
    centres = np.asarray(centres, np.float64)[:, : values.shape[1]]
    space = FeatureSpace.for_data(
        layout, image.dtype, np.concatenate([values, centres]), names
    )
    empty = Scatter(
        values,
        sample_labels,
        n_clustered,
        ids,
        colors,
        ids,
        centres,
        colors,
        exact,
        space,
        true_colors(values, layout, image.dtype, space),
    )
    return empty.with_centres(centres, exact=exact)


def describe(scatter: Scatter | None, note: str = "", selected: int = 0) -> str:
    """The view's status line: what is drawn, how the centres were found."""
    if scatter is None:
        return ""
    s = scatter
    parts = [f"{len(s.values):,} of {s.n_clustered:,} pixels, {len(s.ids)} clusters"]
    nf = s.space.n_features
    if nf < 3:
        parts.append(
            f"the image has {nf} feature{'s' * (nf != 1)}: the other axes are 0"
        )
    elif nf > 3:
        parts.append(f"showing features 1 to 3 of {nf}")
    parts.append(
        "centres: cluster means"
        if s.exact
        else "centres: means of a sample (exact ones coming)"
    )
    if note:
        parts.append(note)
    if selected:
        parts.append(f"cluster {selected} selected")
    return "; ".join(parts)


def label_colors(ids: np.ndarray) -> np.ndarray:
    """napari's distinct label colours of ``ids``, RGBA in [0, 1]."""
    from napari.utils.colormaps import label_colormap

    return np.asarray(label_colormap(int(ids.max(initial=1)) + 1).map(ids))


def layer_colors(labels_layer, ids: np.ndarray) -> np.ndarray:
    """Each id's colour in the labels layer, opaque.

    A direct colormap (what Segment makes) is read from its ``color_dict``: its
    ``map`` would compile napari's numba lookup for our dtype on first use.
    """
    cmap = labels_layer.colormap
    color_dict = getattr(cmap, "color_dict", None)
    try:
        if color_dict is not None:
            default = color_dict.get(None, np.zeros(4))
            rgba = np.array(
                [np.asarray(color_dict.get(int(i), default), float) for i in ids],
                np.float32,
            ).reshape(-1, 4)
        else:
            rgba = np.asarray(cmap.map(ids), np.float32).reshape(-1, 4)
    except Exception:  # an exotic colormap: napari's label colours instead
        rgba = label_colors(ids).astype(np.float32)
    rgba = rgba.copy()
    rgba[:, 3] = 1.0
    return rgba


def format_value(value: float) -> str:
    """A tick label: integers as they are, others with 3 significant digits."""
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"
