"""The outcome of a segmentation and what is made from it: masked images, the
mean-colour ("posterised") image, the table of clusters, merged clusters, zarr.

No napari and no Qt here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from . import features as _features
from . import lazy as _lazy
from . import stats as _stats
from .options import check_bool

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, eq=False)
class SegmentationResult:
    """The outcome of :func:`segment`.

    Attributes
    ----------
    labels : ndarray of uint8
        The image's shape without the channel axis. 0 = not clustered (masked out,
        fully transparent or NaN), 1..n_clusters = cluster id. Ids are ordered by the
        luminance of the cluster centre (darkest first), then by size.
    centroids : (n_clusters, n_features) ndarray of float64
        Row ``i - 1`` is the centre of the pixels with label ``i``, in the units of
        :attr:`feature_names`: the image's own units per channel, or the chosen
        colour space (before normalisation and weighting), then the pixel
        coordinates in ``scale`` units with ``spatial_weight > 0``. For a converged
        fit, each is the mean of its cluster's features; with ``model=``, they are
        the model's centres (features of weight 0: this image's cluster means).
    counts : (n_clusters,) ndarray of int64
        Pixels per cluster.
    inertia : float
        Sum of squared distances of the clustered pixels to their centroid, in the
        feature space k-means saw (after colour conversion, normalisation and
        weighting).
    model : KMeansModel
        The fitted model; ``model.predict(image)`` labels other images of the kind.
    n_iter : int
        Lloyd iterations over all pixels (0 for ``method="sample"``).
    converged : bool
        True when the labels are a Lloyd fixed point on all pixels: each pixel has
        its nearest centroid's label and each centroid is the mean of its pixels.
    n_invalid : int
        Pixels left out because a value is NaN or infinite.
    channel_means : (n_clusters, n_channels) ndarray of float64
        Each cluster's mean of every image channel (alpha excluded), in the image's
        units, whatever the feature options: what mean colours are made of. With
        default options it is ``centroids`` itself.
    image_dtype : str, optional
        Name of the segmented image's dtype.
    n_fit : int, optional
        Number of pixels ``counts``, ``inertia`` and ``channel_means`` are measured
        over (those left out included): all the image's, except for a lazy image
        fitted on a region of ``fit_pixels`` with "auto" or "sample" (or measured
        on it, with ``model``), whose region's.
    engine_centroids : (n_clusters, n_engine_features) ndarray of float64, optional
        The centres in the feature space k-means saw (after colour conversion,
        normalisation and weighting; features of weight 0 left out); None:
        ``centroids``. What :meth:`merge` combines.
    """

    labels: np.ndarray
    centroids: np.ndarray
    counts: np.ndarray
    inertia: float
    #: a KMeansModel (not imported here: the model module imports this one)
    model: Any
    n_iter: int = 0
    converged: bool = True
    n_invalid: int = 0
    channel_means: np.ndarray | None = None
    image_dtype: str | None = None
    n_fit: int | None = None
    engine_centroids: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.channel_means is None:
            object.__setattr__(self, "channel_means", self.centroids)
        if self.engine_centroids is None:
            object.__setattr__(self, "engine_centroids", self.centroids)

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return self.centroids.shape[0]

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the columns of :attr:`centroids` (see
        :attr:`KMeansModel.feature_names`)."""
        return self.model.feature_names

    @property
    def mean_colors(self) -> np.ndarray | None:
        """Each cluster's mean colour as RGB in [0, 1], ``(n_clusters, 3)``, or None
        for an image that is not RGB(A).

        Always computed from the pixels' own RGB values (``channel_means`` divided
        by the dtype's maximum for integer images), whatever the colour space.
        """
        if not self.model.layout.rgb:
            return None
        name = self.image_dtype or self.model.dtype
        unit = 1.0 if name is None else _features.unit_scale(np.dtype(name))
        return np.clip(np.asarray(self.channel_means)[:, :3] / unit, 0.0, 1.0)

    @property
    def lazy(self) -> bool:
        """Whether :attr:`labels` is a lazy dask array (a lazy image was
        segmented): computed chunk by chunk when needed."""
        return _lazy.is_lazy(self.labels)

    def _check_image(self, image) -> tuple[np.ndarray, _features.Layout]:
        arr = _lazy.as_dask(image) if _lazy.is_lazy(image) else np.asarray(image)
        layout = self.model.layout_for(arr.shape)
        if layout.spatial_shape(arr.shape) != self.labels.shape:
            raise ValueError(
                f"image shape {arr.shape} does not fit the labels' shape "
                f"{self.labels.shape}"
            )
        return arr, layout

    def masked_image(self, image, cluster_id: int) -> np.ndarray:
        """A copy of ``image`` with every pixel outside cluster ``cluster_id`` set to 0.

        Parameters
        ----------
        image : ndarray
            The segmented image (or any array of its shape, e.g. another channel
            layout of the same pixels is not allowed: the shape must match).
        cluster_id : int
            A label from 1 to ``n_clusters``.

        Returns
        -------
        ndarray
            Same shape and dtype as ``image``; ``image`` itself is not modified. For
            RGBA images the alpha of the other pixels is 0 too (transparent). A
            lazy dask array when the image or the labels are lazy.

        Raises
        ------
        ValueError
            If ``cluster_id`` is not a label of this result or the image's shape does
            not fit the labels.
        """
        _check_cluster_id(cluster_id, self.n_clusters)
        arr, layout = self._check_image(image)
        return masked_image(arr, layout, self.labels, cluster_id)

    def mean_color_image(self, image=None) -> np.ndarray:
        """The image with each pixel replaced by its cluster's mean colour (a
        "posterised" image); pixels with label 0 are 0.

        Parameters
        ----------
        image : ndarray, optional
            An image whose pixels give the means (e.g. the segmented image), shaped
            like the segmented one; its dtype and channel layout are used. None:
            the result's own ``channel_means`` and ``image_dtype`` (also for a
            lazy image: its means are not recomputed, which would read it all).

        Returns
        -------
        ndarray
            For RGB(A): ``labels.shape + (3,)`` (alpha dropped). Otherwise the
            image's shape (single-channel: ``labels.shape``; multichannel: the
            channels on the model's channel axis). The image's dtype: integer means
            are rounded; bool means are thresholded at 0.5.

        Raises
        ------
        ValueError
            If ``image`` does not fit the labels or the model's channels.

        Examples
        --------
        >>> from skimage import data
        >>> from napari_kmeans_seg import segment
        >>> image = data.astronaut()
        >>> poster = segment(image, 4).mean_color_image()
        >>> poster.shape, poster.dtype
        ((512, 512, 3), dtype('uint8'))
        """
        if image is not None and _lazy.is_lazy(image):
            arr, _ = self._check_image(image)
            return replace(self, image_dtype=arr.dtype.name).mean_color_image()
        if image is None:
            means = np.asarray(self.channel_means, dtype=np.float64)
            dtype = np.dtype(self.image_dtype or self.model.dtype or "float64")
            layout = self.model.layout
        else:
            arr, layout = self._check_image(image)
            X, _ = _features.to_pixels(arr, layout)
            means = _stats.label_means(X, self.labels.reshape(-1), self.n_clusters)
            dtype = arr.dtype
        lut = mean_color_lut(means, dtype)
        if layout.channel_axis is None:
            return _lazy.relabel(lut[:, 0], self.labels)
        out = _lazy.relabel(lut, self.labels)
        if layout.rgb:
            return out
        return np.moveaxis(out, -1, layout.channel_axis)

    def table(self) -> pd.DataFrame:
        """One row per cluster: what analysts tabulate.

        Returns
        -------
        pandas.DataFrame
            Columns ``label`` (1..n_clusters), ``name`` (when the model has
            cluster names), ``pixels`` (count), ``fraction`` (of the labelled
            pixels), one column per centroid feature named by
            :attr:`feature_names` (R, G, B / hue_x, hue_y, value / L, a, b /
            the colour features such as red, hue cos, hue sin, L* / intensity /
            c0, c1, … then …, y, x), and for RGB images ``color``, the
            mean colour as ``"#rrggbb"``.

        Examples
        --------
        >>> from skimage import data
        >>> from napari_kmeans_seg import segment
        >>> table = segment(data.astronaut(), 3, color_space="lab").table()
        >>> list(table.columns)
        ['label', 'pixels', 'fraction', 'L', 'a', 'b', 'color']
        """
        return cluster_table(self)

    def merge(self, ids: Sequence[int]) -> SegmentationResult:
        """A new result with the clusters ``ids`` merged into the lowest of them.

        The other ids are renumbered to stay 1..n_clusters' in the same order.
        Counts are summed, centroids (and ``channel_means``) are the count-weighted
        means, and the inertia is exact by the parallel-axis identity: the old
        inertia plus ``Σ n_i |c_i − c_merged|²`` over the merged clusters, in the
        feature space k-means saw (exact when the centroids are their clusters'
        means, as in every converged fit). ``converged`` is False: a merged
        cluster is not a Voronoi cell, so the result is no longer a Lloyd fixed
        point. The new ``model`` keeps the original centroids with a label map
        (old centroid → new label), so ``model.predict`` reproduces the merged
        labels; its cluster names, if any, are joined with " + ".

        Parameters
        ----------
        ids : sequence of int
            At least two distinct labels from 1 to ``n_clusters``; at least two
            clusters must remain.

        Returns
        -------
        SegmentationResult

        Raises
        ------
        ValueError
            If ``ids`` holds fewer than two distinct labels, a label out of range,
            or would leave a single cluster.

        Examples
        --------
        >>> from skimage import data
        >>> from napari_kmeans_seg import segment
        >>> result = segment(data.astronaut(), 4)
        >>> merged = result.merge([2, 3])
        >>> merged.n_clusters, int(merged.counts.sum()) == int(result.counts.sum())
        (3, True)
        """
        return merge_clusters(self, _check_merge_ids(ids, self.n_clusters))

    def to_zarr(
        self,
        store,
        *,
        component: str | None = None,
        overwrite: bool = False,
        chunks=None,
        compressors: Any = "lz4",
        ome: bool = False,
        axes=None,
        scale=None,
        translation=None,
        units=None,
        n_levels: int | None = None,
    ):
        """Write :attr:`labels` to zarr, all or nothing.

        Lazy labels are computed one chunk at a time as they are written (on the
        current dask scheduler, e.g. a ``dask.distributed`` client), so a result
        larger than memory can be saved. The array is written under a temporary
        name and moved into place: a write that fails leaves nothing that reads as
        a result (and an overwritten array as it was).

        Parameters
        ----------
        store : str, path-like or zarr store
            Where to write (a directory for a path).
        component : str, optional
            Name of the array inside the zarr group at ``store`` (with ``ome``:
            the name of the labels image under the image's ``labels/`` group).
        overwrite : bool
            Replace an existing array.
        chunks : optional
            Chunks of the written array; None: those of lazy labels (made regular
            if they are not), or dask's automatic chunks for in-memory labels.
        compressors : "lz4", "auto" or zarr codecs
            "lz4" (default): Blosc-LZ4, fast for label images; "auto": zarr's
            default; otherwise passed to :func:`zarr.create_array` (None:
            uncompressed).
        ome : bool
            Write an OME-NGFF labels image (needs ``ome-zarr``): axes, pixel sizes,
            units, the clusters' mean colours, and a pyramid for large images.
        axes, scale, translation, units : optional
            With ``ome``: the names, pixel sizes, origin and units of the spatial
            axes (defaults: ``y``, ``x`` (and ``z``, ``t``), 1, 0, none).
        n_levels : int, optional
            With ``ome``: levels of the pyramid (None: halve until it fits 512).

        Returns
        -------
        zarr.Array or zarr.Group
            The written array (the OME labels group with ``ome``).

        Raises
        ------
        ImportError
            If zarr 3 (or, with ``ome``, ome-zarr) is not installed.
        FileExistsError
            If something exists at the target and ``overwrite`` is False.
        OptionTypeError
            If ``overwrite`` or ``ome`` is not a bool (a ``TypeError``).
        """
        from .zarr_io import label_colors, write_labels_zarr, write_ome_labels

        overwrite = check_bool(overwrite, "overwrite")
        if not check_bool(ome, "ome"):
            return write_labels_zarr(
                self.labels,
                store,
                component=component,
                overwrite=overwrite,
                chunks=chunks,
                compressors=compressors,
            )
        import zarr

        path = write_ome_labels(
            self.labels,
            store,
            name=component,
            axes=axes,
            scale=scale,
            translation=translation,
            units=units,
            colors=label_colors(self.mean_colors),
            n_levels=n_levels,
            chunks=chunks,
            compressors=compressors,
            overwrite=overwrite,
        )
        return zarr.open_group(path, mode="r")


def _hex(rgb: np.ndarray) -> str | None:
    """``"#rrggbb"`` of an RGB colour in [0, 1] (None if not finite)."""
    if not np.all(np.isfinite(rgb)):
        return None
    r, g, b = (int(v) for v in np.rint(np.asarray(rgb) * 255))
    return f"#{r:02x}{g:02x}{b:02x}"


# ------------------------------------------------------------------ outputs


def _check_cluster_id(cluster_id, k: int) -> None:
    if isinstance(cluster_id, bool) or not isinstance(cluster_id, int | np.integer):
        raise ValueError(f"cluster_id must be an integer, not {cluster_id!r}")
    if not 1 <= cluster_id <= k:
        raise ValueError(f"cluster_id must be between 1 and {k}, got {cluster_id}")


def masked_image(arr, layout: _features.Layout, labels, cluster_id: int):
    """``arr`` with every pixel whose label is not ``cluster_id`` set to 0 (lazy
    when ``arr`` or ``labels`` is)."""
    if _lazy.is_lazy(arr) or _lazy.is_lazy(labels):
        import dask.array as da

        keep = labels == cluster_id
        if layout.channel_axis is not None:
            keep = da.expand_dims(keep, layout.channel_axis)
        return da.where(keep, arr, np.zeros((), arr.dtype))
    keep = layout.expand(labels == cluster_id)
    return np.where(keep, arr, np.zeros((), arr.dtype))


def mean_color_lut(means: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Lookup table from label (0..k) to mean colour in ``dtype``: row 0 is 0;
    integer means are rounded and clipped to the dtype's range (never wrapped,
    also for 64-bit integers); bool means are thresholded at 0.5."""
    dtype = np.dtype(dtype)
    means = np.where(np.isfinite(means), means, 0.0)
    lut = np.zeros((means.shape[0] + 1, means.shape[1]), dtype)
    if dtype.kind in "iu":
        lo, hi = _float_range(dtype)
        lut[1:] = np.clip(np.rint(means), lo, hi)
    elif dtype.kind == "b":
        lut[1:] = means >= 0.5
    else:
        lut[1:] = means
    return lut


def _float_range(dtype: np.dtype) -> tuple[float, float]:
    """The widest float64 interval inside the integer ``dtype``'s range: float64
    values in it convert to ``dtype`` without wrapping."""
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    if int(hi) > info.max:  # 2**63 - 1 and 2**64 - 1 round up in float64
        hi = float(np.nextafter(hi, -np.inf))
    return lo, hi


def cluster_table(result: SegmentationResult) -> pd.DataFrame:
    """The table of :meth:`SegmentationResult.table`."""
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


def _check_merge_ids(ids, k: int) -> list[int]:
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


def merge_clusters(result: SegmentationResult, chosen: list[int]) -> SegmentationResult:
    """:meth:`SegmentationResult.merge` of the checked ids ``chosen``."""
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
        labels=_lazy.relabel(lut, result.labels),
        centroids=m.combine(result.centroids),
        counts=counts2.astype(np.int64),
        inertia=result.inertia + extra,
        model=model2,
        converged=False,
        channel_means=m.combine(result.channel_means),
        engine_centroids=centres,
    )
