"""The public entry point: ``segment(image, n_clusters)`` and its result."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from . import engine as _engine
from . import features as _features
from . import lazy as _lazy
from . import memory as _memory
from .model import KMeansModel

if TYPE_CHECKING:
    import pandas as pd

METHODS = ("auto", "exact", "sample")


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
    """

    labels: np.ndarray
    centroids: np.ndarray
    counts: np.ndarray
    inertia: float
    model: KMeansModel
    n_iter: int = 0
    converged: bool = True
    n_invalid: int = 0
    channel_means: np.ndarray | None = None
    image_dtype: str | None = None
    n_fit: int | None = None
    #: centres of the clusters in the feature space k-means saw (for merge)
    _centres: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.channel_means is None:
            object.__setattr__(self, "channel_means", self.centroids)
        if self._centres is None:
            object.__setattr__(self, "_centres", self.centroids)

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
        unit = 1.0 if name is None else _features._unit_scale(np.dtype(name))
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
        if isinstance(cluster_id, bool) or not isinstance(cluster_id, int | np.integer):
            raise ValueError(f"cluster_id must be an integer, not {cluster_id!r}")
        if not 1 <= cluster_id <= self.n_clusters:
            raise ValueError(
                f"cluster_id must be between 1 and {self.n_clusters}, got {cluster_id}"
            )
        arr, layout = self._check_image(image)
        labels = self.labels
        if _lazy.is_lazy(arr) or _lazy.is_lazy(labels):
            import dask.array as da

            keep = labels == cluster_id
            if layout.channel_axis is not None:
                keep = da.expand_dims(keep, layout.channel_axis)
            return da.where(keep, arr, np.zeros((), arr.dtype))
        keep = layout.expand(labels == cluster_id)
        return np.where(keep, arr, np.zeros((), arr.dtype))

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
        k = self.n_clusters
        if image is not None and _lazy.is_lazy(image):
            arr, layout = self._check_image(image)
            return replace(self, image_dtype=arr.dtype.name).mean_color_image()
        if image is None:
            means = np.asarray(self.channel_means, dtype=np.float64)
            name = self.image_dtype or self.model.dtype or "float64"
            dtype = np.dtype(name)
            layout = self.model.layout
        else:
            arr, layout = self._check_image(image)
            X, _ = _features.to_pixels(arr, layout)
            means = _features.label_means(X, self.labels.reshape(-1), k)
            dtype = arr.dtype
        lut = np.zeros((k + 1, means.shape[1]), dtype)
        means = np.where(np.isfinite(means), means, 0.0)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            lut[1:] = np.clip(np.rint(means), info.min, info.max)
        elif dtype.kind == "b":
            lut[1:] = means >= 0.5
        else:
            lut[1:] = means
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
            intensity / c0, c1, … then …, y, x), and for RGB images ``color``, the
            mean colour as ``"#rrggbb"``.

        Examples
        --------
        >>> from skimage import data
        >>> from napari_kmeans_seg import segment
        >>> table = segment(data.astronaut(), 3, color_space="lab").table()
        >>> list(table.columns)
        ['label', 'pixels', 'fraction', 'L', 'a', 'b', 'color']
        """
        import pandas as pd

        counts = np.asarray(self.counts)
        data: dict[str, object] = {"label": np.arange(1, self.n_clusters + 1)}
        if self.model.cluster_names is not None:
            data["name"] = list(self.model.cluster_names)
        data["pixels"] = counts
        data["fraction"] = counts / max(int(counts.sum()), 1)
        for name, column in zip(self.feature_names, self.centroids.T, strict=True):
            data[name] = column
        colors = self.mean_colors
        if colors is not None:
            data["color"] = [_hex(c) for c in colors]
        return pd.DataFrame(data)

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
        k = self.n_clusters
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
        group = np.arange(1, k + 1)
        group[np.asarray(chosen) - 1] = chosen[0]
        kept = np.unique(group)
        new_of_old = np.searchsorted(kept, group) + 1  # old id - 1 -> new id
        k2 = kept.size
        lut = np.zeros(k + 1, self.labels.dtype)
        lut[1:] = new_of_old
        counts = np.asarray(self.counts)
        counts2 = np.bincount(new_of_old - 1, weights=counts, minlength=k2)
        members = np.asarray(chosen) - 1
        target = new_of_old[members[0]] - 1

        first = np.unique(new_of_old, return_index=True)[1]  # an old id per new

        def combine(A: np.ndarray) -> np.ndarray:
            A = np.asarray(A, dtype=np.float64)
            out = A[first].copy()
            w = counts[members].astype(np.float64)
            rows = A[members]
            if w.sum() > 0:
                rows, w = rows[w > 0], w[w > 0]
                out[target] = (w[:, None] * rows).sum(axis=0) / w.sum()
            else:
                out[target] = rows.mean(axis=0)
            return out

        centres = combine(self._centres)
        shift = np.asarray(self._centres, dtype=np.float64)[members] - centres[target]
        extra = float((counts[members] * (shift**2).sum(axis=1)).sum())
        model = self.model
        rows_map = (
            model.label_map
            if model.label_map is not None
            else np.arange(1, model.centroids.shape[0] + 1)
        )
        names = None
        if model.cluster_names is not None:
            names = tuple(
                " + ".join(
                    model.cluster_names[i] for i in np.flatnonzero(new_of_old == j)
                )
                for j in range(1, k2 + 1)
            )
        model2 = replace(model, label_map=new_of_old[rows_map - 1], cluster_names=names)
        return replace(
            self,
            labels=_lazy.relabel(lut, self.labels),
            centroids=combine(self.centroids),
            counts=counts2.astype(np.int64),
            inertia=self.inertia + extra,
            model=model2,
            converged=False,
            channel_means=combine(self.channel_means),
            _centres=centres,
        )

    def to_zarr(
        self,
        store,
        *,
        component: str | None = None,
        overwrite: bool = False,
        chunks=None,
        compressors: Any = "lz4",
    ):
        """Write :attr:`labels` to a zarr array, chunk by chunk: lazy labels are
        computed one chunk at a time as they are written (on the current dask
        scheduler, e.g. a ``dask.distributed`` client), so a result larger than
        memory can be saved.

        Parameters
        ----------
        store : str, path-like or zarr store
            Where to write (a directory for a path).
        component : str, optional
            Name of the array inside the zarr group at ``store``.
        overwrite : bool
            Replace an existing array.
        chunks : optional
            Chunks of the written array; None: those of lazy labels (made regular
            if they are not), or dask's automatic chunks for in-memory labels.
        compressors : "lz4", "auto" or zarr codecs
            "lz4" (default): Blosc-LZ4, which compresses label images several
            times faster than zarr's default (Zstandard) for files about twice
            as large; "auto": zarr's default; otherwise passed to
            :func:`zarr.create_array` (None: uncompressed).

        Returns
        -------
        zarr.Array
            The written array. Every chunk is written, also chunks of zeros.

        Raises
        ------
        ImportError
            If zarr 3 is not installed (``pip install "zarr>=3"``).
        """
        import dask.array as da

        try:
            import zarr
            from zarr.codecs import BloscCodec
        except ImportError as err:
            raise ImportError(
                'writing zarr needs zarr 3: pip install "zarr>=3" '
                "(or napari-kmeans-seg[lazy])"
            ) from err
        labels = self.labels
        if not _lazy.is_lazy(labels):
            labels = da.from_array(labels, chunks="auto" if chunks is None else chunks)
        elif chunks is not None:
            labels = labels.rechunk(chunks)
        regular = tuple(c[0] if c else 1 for c in labels.chunks)
        if labels.chunks != da.core.normalize_chunks(regular, labels.shape):
            labels = labels.rechunk(regular)  # zarr's chunks are all the same size
        if compressors == "lz4":
            compressors = BloscCodec(cname="lz4", clevel=5, shuffle="noshuffle")
        if isinstance(store, os.PathLike):
            store = os.fspath(store)
        out = zarr.create_array(
            store,
            name=component,
            shape=labels.shape,
            chunks=regular,
            dtype=labels.dtype,
            compressors=compressors,
            overwrite=overwrite,
            # checking each chunk for zeros before writing it costs more than
            # compressing it
            config={"write_empty_chunks": True},
        )
        da.store(labels, out, lock=False)
        return _open_zarr(store, component)


def _open_zarr(store, component: str | None):
    import zarr

    if component is None:
        return zarr.open_array(store, mode="r")
    return zarr.open_group(store, mode="r")[component]


def _hex(rgb: np.ndarray) -> str | None:
    """``"#rrggbb"`` of an RGB colour in [0, 1] (None if not finite)."""
    if not np.all(np.isfinite(rgb)):
        return None
    r, g, b = (int(v) for v in np.rint(np.asarray(rgb) * 255))
    return f"#{r:02x}{g:02x}{b:02x}"


def segment(
    image,
    n_clusters: int | None = None,
    *,
    channel_axis: int | None = None,
    rgb: bool | None = None,
    mask=None,
    color_space: str = "rgb",
    channel_weights: Sequence[float] | None = None,
    normalize: bool = False,
    spatial_weight: float = 0.0,
    scale: Sequence[float] | None = None,
    smoothing: float = 0.0,
    random_state: int | None = 0,
    method: str = "auto",
    n_init: int = _engine.DEFAULT_N_INIT,
    max_iter: int = 300,
    fit_pixels: int | None = None,
    model: KMeansModel | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SegmentationResult:
    """Segment an image into ``n_clusters`` colour/intensity classes with k-means.

    Every pixel is a point whose coordinates are its channel values (R, G, B, or the
    channels along ``channel_axis``, or the intensity of a single-channel image);
    k-means groups the points and each pixel gets its group's id. The default method
    is exact: the result is a Lloyd fixed point on all pixels, computed from the
    image's distinct values, so it needs no sampling and is fast.

    The feature options (``color_space``, ``channel_weights``, ``normalize``,
    ``spatial_weight``, ``smoothing``) change the points: each pixel's features are
    then its channel features in the colour space (smoothed first), normalised,
    weighted, followed by its weighted coordinates. They are recorded in the model,
    which rebuilds the same features on every image it labels. With all options at
    their defaults the features are the raw channel values, a view of the image;
    any option costs a float32 copy: about ``4 · n_pixels · n_features`` bytes
    (plus, with smoothing, ``4 · n_pixels · n_channels`` more).

    With ``model``, nothing is fitted: the pixels are labelled with the model's
    centroids and feature options (the same cluster ids on every image) and the
    result describes this image's clusters under that model.

    A lazy image (a dask array, or a zarr or HDF5 array) is never loaded whole: the
    fit reads a bounded region of it (``fit_pixels``, see below), and
    ``result.labels`` is a lazy dask array, labelled chunk by chunk with the fitted
    model when computed (by napari as it shows the chunks, by ``to_zarr``, or by
    ``.compute()``); masked and mean-colour images of a lazy result are lazy too.
    The task graphs hold the small model only, so the same call runs on a
    ``dask.distributed`` cluster. A lazy image of at most ``fit_pixels`` pixels
    gives exactly the in-memory result.

    Parameters
    ----------
    image : array_like
        2D or nD image: single-channel (``(…, Y, X)``), RGB/RGBA (``(…, Y, X, 3|4)``)
        or with channels along ``channel_axis``. Any real dtype: uint8, uint16,
        other integers, float (NaN and inf pixels are left out with label 0), bool.
        Never modified.
    n_clusters : int, optional
        Number of clusters, from 2 to 254; 3 when None. With ``model``, None or the
        model's number of clusters.
    channel_axis : int, optional
        Axis holding the channels of a multichannel image. When None, an image of 3
        or more dimensions whose last axis has length 3 or 4 is RGB(A) (see ``rgb``).
        With ``model``, None or the model's channel axis.
    rgb : bool, optional
        Whether the last axis holds RGB(A) colour; None guesses as napari does. The
        alpha channel of RGBA is not clustered and fully transparent pixels get
        label 0. With ``model``, None (follow the model) or whether the model was
        fitted on RGB(A) images.
    mask : array_like of bool, optional
        Pixels to cluster, shaped like the image without its channel axis; pixels
        outside get label 0 and do not influence the fit (nor, with
        ``smoothing``, their neighbours' features).
    color_space : {"rgb", "hsv", "lab"}
        Colour space of the features of an RGB(A) image (an error for others).
        Values are first scaled to [0, 1] by dtype (uint8 / 255, uint16 / 65535,
        other integers by their maximum, floats as they are), then converted with
        scikit-image's ``rgb2hsv`` / ``rgb2lab``. "lab" is CIE L*a*b* (D65): L in
        [0, 100], a and b about ±100, roughly perceptually uniform. "hsv" uses the
        HSV cone, ``(s·v·cos 2πh, s·v·sin 2πh, v)``: hue is an angle, so reds at
        h = 0.99 and h = 0.01 are close, and dark pixels (whose hue and saturation
        are noise) are close whatever their hue. "rgb": the values as they are.
    channel_weights : sequence of float, optional
        One weight ≥ 0 per channel feature (3 for RGB, in the colour space's order;
        else one per channel), not all 0; each feature is multiplied by its weight
        (after normalisation), so its squared distances count ``weight²``. A weight
        of 0 leaves the feature out. None: all 1.
    normalize : bool
        Scale each channel feature to zero mean and unit variance over the
        clustered pixels of this image, so that channels of very different ranges
        count alike. The fitted means and standard deviations are stored in the
        model and reused as they are on other images, never refitted.
    spatial_weight : float
        Add the pixel coordinates (…, z, y, x, multiplied by ``scale``) times
        ``spatial_weight`` as features, so that clusters become spatially compact,
        as SLIC superpixels are. 0: colour only. The coordinates are not
        normalised: a colour difference ``Δ`` weighs as much as a distance of
        ``Δ / spatial_weight`` pixels (e.g. 10 L*a*b* units ≈ 50 pixels with
        0.2; with ``normalize``, 1 standard deviation ≈ 50 pixels with 0.02).
    scale : sequence of float, optional
        Size of a pixel along each spatial axis (as a napari layer's ``scale``),
        used by ``spatial_weight``; None: 1 per axis. With ``model``, the pixel
        size of this image (None: the model's).
    smoothing : float
        Sigma, in pixels, of a Gaussian smoothing of the channels over the spatial
        axes before the features are made (on a float32 copy; the image itself is
        untouched): removes salt-and-pepper label noise. 0: none. Mean colours
        and masked images still use the original pixels.
    random_state : int or None
        Seed for the k-means++ starts; the same image and seed give identical labels.
        Not used with ``model``.
    method : {"auto", "exact", "sample"}
        "exact" (and "auto") reach a Lloyd fixed point on all pixels; "sample" fits
        on a random sample of 100,000 pixels and only assigns the rest (faster to
        start on huge images, not a fixed point). For an image fitted on a region
        of ``fit_pixels`` (a large lazy image by default), "auto" is a fixed point
        on the region only and "exact" continues on all pixels (see
        ``fit_pixels``). Not used with ``model``.
    n_init : int
        k-means++ starts tried; the best is refined. Not used with ``model``.
    max_iter : int
        Maximum number of Lloyd iterations (for a lazy image with "exact": passes
        over all chunks). Not used with ``model``.
    fit_pixels : int, optional
        Fit on at most this many pixels: for a larger image, a regular grid of
        pixels (whole planes spread over the stack where possible; see
        ``fit_region``), then label every pixel with the fitted model. None: all
        pixels for an in-memory image, 4,194,304 for a lazy one. With "auto" the
        result is a fixed point on that grid only; with "exact", Lloyd passes over
        all pixels continue from it to a fixed point on all of them (for a lazy
        image each pass reads every chunk). For an in-memory image, ``counts``,
        ``inertia`` and ``channel_means`` are always over all pixels; for a lazy
        image fitted on a grid with "auto", over the grid's pixels
        (``result.n_fit``). ``smoothing`` needs the whole image (a lazy one of at
        most ``fit_pixels`` pixels). With ``model``: the region the model is
        measured on (lazy images).
    model : KMeansModel, optional
        A fitted model (``result.model``, or :meth:`KMeansModel.load`) to apply
        instead of fitting. The feature options are the model's (an option given
        with a value other than its default must agree). The result's
        ``centroids`` and ``model`` are the model's, ``n_iter`` is 0, and
        ``converged`` tells whether the model's centroids are the means of this
        image's clusters (as on the image it was fitted on).
    progress : callable, optional
        Called as ``progress(done, total)`` while a lazy image is read (units:
        the fit region, then chunks of each Lloyd pass); for progress bars.

    Returns
    -------
    SegmentationResult
        ``labels``, ``centroids``, ``counts``, ``inertia``, the fitted ``model``,
        and the outputs ``mean_colors``, ``mean_color_image()``, ``table()``,
        ``merge()``.

    Raises
    ------
    ValueError
        If the image is empty, not numeric, has fewer distinct values than
        ``n_clusters``, or an option is out of range (a colour space other than
        "rgb" for an image that is not RGB, a wrong number of channel weights or
        of scale values, a negative weight or sigma, ...); with ``model``, if the
        image does not have the model's channels or ``n_clusters``,
        ``channel_axis``, ``rgb`` or a feature option contradict the model. The
        message says what to do.

    Examples
    --------
    >>> from skimage import data
    >>> from napari_kmeans_seg import segment
    >>> image = data.astronaut()
    >>> result = segment(image, n_clusters=3)
    >>> result.labels.shape, result.labels.dtype
    ((512, 512), dtype('uint8'))
    >>> sorted(set(result.labels.ravel().tolist()))
    [1, 2, 3]
    >>> sky = result.masked_image(image, 3)

    In a perceptual colour space, with compact regions and a little smoothing:

    >>> lab = segment(image, 5, color_space="lab", spatial_weight=0.05, smoothing=1)
    >>> lab.feature_names
    ('L', 'a', 'b', 'y', 'x')

    The same classes on another photo, from a saved model:

    >>> result.model.save("astronaut-k3.json")  # doctest: +SKIP
    >>> model = KMeansModel.load("astronaut-k3.json")  # doctest: +SKIP
    >>> coffee = segment(data.coffee(), model=result.model)
    >>> coffee.centroids is result.model.centroids, coffee.n_iter
    (True, 0)
    """
    given = {
        "color_space": color_space,
        "channel_weights": channel_weights,
        "normalize": normalize,
        "spatial_weight": spatial_weight,
        "smoothing": smoothing,
    }
    fit = {
        "random_state": random_state,
        "method": method,
        "n_init": n_init,
        "max_iter": max_iter,
    }
    if fit_pixels is not None:
        fit_pixels = _features.check_positive_int(fit_pixels, "fit_pixels")
    if _lazy.is_lazy(image):
        return _segment_lazy(
            image,
            n_clusters,
            channel_axis=channel_axis,
            rgb=rgb,
            mask=mask,
            scale=scale,
            given=given,
            fit=fit,
            fit_pixels=_lazy.DEFAULT_FIT_PIXELS if fit_pixels is None else fit_pixels,
            model=model,
            progress=progress,
        )
    arr = _features.check_image(image)
    _memory.check_memory(
        _memory.estimate_memory(
            arr.shape,
            arr.dtype,
            channel_axis=channel_axis,
            rgb=rgb,
            method=method,
            **given,
        )
    )
    if model is not None:
        return _apply_model(
            arr,
            model,
            n_clusters=n_clusters,
            channel_axis=channel_axis,
            rgb=rgb,
            mask=mask,
            scale=scale,
            given=given,
        )
    k = _check_fit_options(n_clusters, fit)
    layout = _features.guess_layout(arr.shape, channel_axis=channel_axis, rgb=rgb)
    spatial = layout.spatial_shape(arr.shape)
    options = _features.make_options(layout, len(spatial), scale=scale, **given)
    region = (
        None if fit_pixels is None else _lazy.Region.of(arr.shape, layout, fit_pixels)
    )
    if region is None or region.whole:
        return _fit(arr, layout, options, mask, k=k, **fit)
    _lazy.check_region_smoothing(options, fit_pixels)
    part = _fit(
        arr[region.index],
        layout,
        options,
        None if mask is None else np.asarray(mask)[region.spatial_index],
        k=k,
        origin=region.origin,
        step=region.step,
        **fit,
    )
    if method == "exact":  # on to a fixed point on all pixels
        full = _fit(
            arr, layout, part.model.options, mask, k=k, init=part._centres, **fit
        )
        return replace(full, n_iter=part.n_iter + full.n_iter)
    full = _apply_model(
        arr,
        part.model,
        n_clusters=None,
        channel_axis=None,
        rgb=None,
        mask=mask,
        scale=scale,
        given={},
    )
    return replace(full, n_iter=part.n_iter)


def _check_fit_options(n_clusters, fit: dict) -> int:
    """The number of clusters, after checking it and the fit's options."""
    k = _features.check_n_clusters(3 if n_clusters is None else n_clusters)
    if fit["method"] not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {fit['method']!r}")
    for name in ("n_init", "max_iter"):
        _features.check_positive_int(fit[name], name)
    return k


def _fit(
    arr: np.ndarray,
    layout: _features.Layout,
    options: _features.FeatureOptions,
    mask,
    *,
    k: int,
    random_state,
    method: str,
    n_init: int,
    max_iter: int,
    origin: tuple[int, ...] | None = None,
    step: tuple[int, ...] | None = None,
    init: np.ndarray | None = None,
) -> SegmentationResult:
    """Fit k-means on the in-memory image ``arr`` (``origin``, ``step``: where it
    lies in a larger image, for the coordinate features; ``init``: start from these
    centroids, in the feature space)."""
    feats = _features.build_features(
        arr, layout, mask, options, origin=origin, step=step
    )
    fit = _engine.fit_predict(
        feats.X,
        n_clusters=k,
        mask=feats.keep,
        random_state=random_state,
        method="sample" if method == "sample" else "exact",
        n_init=int(n_init),
        max_iter=int(max_iter),
        init=init,
    )
    labels = fit.labels
    if feats.options.is_default:
        centroids = channel_means = fit.centroids
    else:
        centroids = feats.centroids_in_units(fit.centroids, labels)
        channel_means = feats.channel_means(labels, k)
    return SegmentationResult(
        labels=labels.reshape(layout.spatial_shape(arr.shape)),
        centroids=centroids,
        counts=fit.counts,
        inertia=fit.inertia,
        model=KMeansModel(
            fit.centroids, layout, dtype=arr.dtype.name, options=feats.options
        ),
        n_iter=fit.n_iter,
        converged=fit.converged,
        n_invalid=fit.n_invalid,
        channel_means=channel_means,
        image_dtype=arr.dtype.name,
        n_fit=labels.size,
        _centres=fit.centroids,
    )


def _segment_lazy(
    image,
    n_clusters,
    *,
    channel_axis,
    rgb,
    mask,
    scale,
    given: dict,
    fit: dict,
    fit_pixels: int,
    model: KMeansModel | None,
    progress,
) -> SegmentationResult:
    """:func:`segment` of a lazy image (see :mod:`._lazy`)."""
    if model is not None:
        _check_model_type(model)
        darr, layout = _lazy.open_image(image, model.layout_for)
    else:
        k = _check_fit_options(n_clusters, fit)
        darr, layout = _lazy.open_image(
            image, partial(_features.guess_layout, channel_axis=channel_axis, rgb=rgb)
        )
    spatial = layout.spatial_shape(darr.shape)
    dmask = _lazy.as_mask(mask, spatial)
    region = _lazy.Region.of(darr.shape, layout, fit_pixels)
    region_shape = darr[region.index].shape
    _memory.check_memory(
        _memory.estimate_memory(
            region_shape,
            darr.dtype,
            channel_axis=layout.channel_axis,
            rgb=layout.rgb,
            method=fit["method"],
            **given,
        )
    )
    loading = None
    if model is None:
        options = _features.make_options(layout, len(spatial), scale=scale, **given)
        loading = _load_fit_passes(
            region_shape, darr.dtype, layout, options, dmask is not None, k, fit
        )
    sub, sub_mask = region.read(darr, dmask, progress)
    origin, step, whole = region.origin, region.step, region.whole
    if model is None:
        loading.join()
        if not whole:
            _lazy.check_region_smoothing(options, fit_pixels)
        part = _fit(
            sub, layout, options, sub_mask, k=k, origin=origin, step=step, **fit
        )
    else:
        part = _apply_model(
            sub,
            model,
            n_clusters=n_clusters,
            channel_axis=channel_axis,
            rgb=rgb,
            mask=sub_mask,
            scale=scale,
            given=given,
            origin=origin,
            step=step,
        )
    chunks = _lazy.spatial_chunks(darr, layout)
    if whole:  # the labels are those of the fit: the in-memory result
        import dask.array as da

        return replace(part, labels=da.from_array(part.labels, chunks=chunks))
    if model is not None or fit["method"] != "exact":
        labels = part.model.predict(darr, mask=dmask, scale=scale)
        return replace(part, labels=labels, converged=False)
    passes = _lazy.lloyd_passes(
        darr,
        layout,
        part.model.options,
        part._centres,
        mask=dmask,
        max_iter=int(fit["max_iter"]),
        progress=progress,
    )
    return _from_passes(part, passes, darr, layout, dmask)


def _load_fit_passes(
    shape: tuple[int, ...],
    dtype: np.dtype,
    layout: _features.Layout,
    options: _features.FeatureOptions,
    masked: bool,
    k: int,
    fit: dict,
) -> threading.Thread:
    """Start loading the compiled passes that fitting an image of ``shape`` and
    ``dtype`` uses, in a background thread, by fitting a small random image of the
    same kind: numba loads a pass on its first call in a process (about 0.3 s for
    a fit), which then overlaps with reading the fit region."""
    tiny_shape = tuple(
        n if i == layout.channel_axis else min(n, 16) for i, n in enumerate(shape)
    )
    rng = np.random.default_rng(0)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        tiny = rng.integers(info.min, info.max, tiny_shape, dtype, endpoint=True)
    else:
        tiny = (
            rng.random(tiny_shape) > 0.5
            if dtype.kind == "b"
            else rng.random(tiny_shape)
        ).astype(dtype)
    mask = np.ones(layout.spatial_shape(tiny_shape), bool) if masked else None

    def run() -> None:
        with contextlib.suppress(Exception):  # a warm-up: the real fit reports errors
            _fit(tiny, layout, options, mask, k=k, **fit)

    thread = threading.Thread(target=run, name="kmeans-seg-load", daemon=True)
    thread.start()
    return thread


def _from_passes(
    part: SegmentationResult, passes: dict, darr, layout, dmask
) -> SegmentationResult:
    """The result of Lloyd passes over a lazy image, from the region's fit
    ``part``."""
    C, counts = passes["centroids"], passes["counts"]
    order = _engine.cluster_order(C, counts)
    C, counts = C[order], counts[order]
    options = part.model.options
    model = replace(part.model, centroids=C)
    with np.errstate(invalid="ignore", divide="ignore"):
        channel_means = passes["channel_sums"][order] / counts[:, None]
        dropped = passes["dropped_sums"][order] / counts[:, None]
    centroids = _features.centroids_in_units(
        C, layout, options, dropped if dropped.shape[1] else None
    )
    return replace(
        part,
        labels=model.predict(darr, mask=dmask),
        centroids=centroids,
        counts=counts.astype(np.int64),
        inertia=passes["inertia"],
        model=model,
        n_iter=part.n_iter + passes["n_iter"],
        converged=passes["converged"],
        n_invalid=passes["n_kept"] - passes["n_valid"],
        channel_means=channel_means,
        n_fit=int(np.prod(layout.spatial_shape(darr.shape))),
        _centres=C,
    )


def _check_agrees(model: KMeansModel, given: dict) -> None:
    """Feature options given with a model must be valid and either left at their
    defaults or equal to the model's."""
    asked = _features.make_options(model.layout, 0, **given)
    defaults = _features.FeatureOptions()
    for name in given:
        value, theirs = getattr(asked, name), getattr(model.options, name)
        if value != getattr(defaults, name) and value != theirs:
            raise ValueError(
                f"{name}={given[name]!r} contradicts the model, fitted with "
                f"{name}={theirs!r}; leave {name} out to use the model's"
            )


def _check_model_type(model) -> None:
    if not isinstance(model, KMeansModel):
        raise ValueError(
            f"model must be a KMeansModel (result.model or KMeansModel.load(path)), "
            f"not {type(model).__name__}"
        )


def _apply_model(
    arr: np.ndarray,
    model: KMeansModel,
    *,
    n_clusters: int | None,
    channel_axis: int | None,
    rgb: bool | None,
    mask,
    scale,
    given: dict,
    origin: tuple[int, ...] | None = None,
    step: tuple[int, ...] | None = None,
) -> SegmentationResult:
    """:func:`segment` with a given model: label, count and measure, no fitting
    (``origin``, ``step``: where ``arr`` lies in a larger image, for the coordinate
    features)."""
    _check_model_type(model)
    k = model.n_clusters
    if n_clusters is not None and n_clusters != k:
        raise ValueError(
            f"n_clusters={n_clusters!r} contradicts the model, which has {k} "
            "clusters; leave n_clusters out to use the model's"
        )
    L = model.layout
    if rgb is not None and bool(rgb) != L.rgb:
        if L.rgb:
            raise ValueError(
                "the model was fitted on RGB(A) images; this image is not RGB "
                f"(shape {arr.shape})"
            )
        kind = (
            "single-channel images"
            if L.channel_axis is None
            else f"images with {L.n_channels} channels on axis {L.channel_axis}"
        )
        raise ValueError(
            f"the image is RGB(A) (shape {arr.shape}) but the model was fitted on "
            f"{kind}"
        )
    if channel_axis is not None:
        axis = _features.guess_layout(
            arr.shape, channel_axis=channel_axis, rgb=False
        ).channel_axis
        if axis != model.layout_for(arr.shape).channel_axis:
            raise ValueError(
                f"channel_axis={channel_axis} contradicts the model, whose channels "
                f"are on axis {L.channel_axis}; leave channel_axis out to use the "
                "model's"
            )
    _check_agrees(model, given)
    feats = model._features_of(arr, mask, scale, origin=origin, step=step)
    X, keep = feats.X, feats.keep
    labels = model._assign(feats)
    if model.label_map is None:
        centres = model.centroids
    else:  # a merged cluster's centre: the mean of its pixels here
        centres = _features.label_means(X, labels, k)
        for j in np.flatnonzero(~np.isfinite(centres).all(axis=1)):
            centres[j] = model.centroids[model.label_map == j + 1].mean(axis=0)
    counts, inertia = _engine._Pixels(X, keep, binned=False).counts_and_inertia(
        labels, centres
    )
    n_considered = labels.size if keep is None else int(np.count_nonzero(keep))
    n_labelled = int(counts.sum())
    if n_labelled == 0:
        raise ValueError(
            "there is no pixel to label (all are masked, transparent or NaN)"
        )
    if feats.options.is_default:
        centroids = channel_means = centres
    else:
        centroids = feats.centroids_in_units(centres, labels)
        channel_means = feats.channel_means(labels, k)
    converged = model.label_map is None and _centroids_are_means(
        X, labels, counts, centres
    )
    return SegmentationResult(
        labels=labels.reshape(feats.layout.spatial_shape(arr.shape)),
        centroids=centroids,
        counts=counts,
        inertia=inertia,
        model=model,
        n_iter=0,
        converged=converged,
        n_invalid=n_considered - n_labelled,
        channel_means=channel_means,
        image_dtype=arr.dtype.name,
        n_fit=labels.size,
        _centres=centres,
    )


def _centroids_are_means(X, labels, counts, C, rtol: float = 1e-9) -> bool:
    """Whether each centroid is the mean of the pixels labelled with it (within
    ``rtol``; an empty cluster has no mean, so it is not). With the labels from the
    nearest centroid, that makes the labels a Lloyd fixed point on these pixels.
    Checked one feature at a time, stopping at the first that differs."""
    if np.any(counts == 0):
        return False
    k = C.shape[0]
    atol = rtol * 1e-3 * max(float(np.max(np.abs(C))), np.finfo(np.float64).tiny)
    for j in range(C.shape[1]):
        sums = np.bincount(labels, weights=X[:, j], minlength=k + 1)[1:]
        if not np.allclose(sums / counts, C[:, j], rtol=rtol, atol=atol):
            return False
    return True
