"""The outcome of a segmentation, and what is made from it: masked images, the
mean-colour ("posterised") image, the table of clusters, merged clusters, a
Gaussian mixture's uncertainty and BIC, zarr. The record is here; each of those is
made by a module of its own (:mod:`.cluster_images`, :mod:`.cluster_table`,
:mod:`.cluster_merge`, :mod:`.cluster_mixture`, :mod:`.zarr_io` and
:mod:`.zarr_mixture`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import arrays as _arrays
from . import cluster_images as _images
from . import cluster_mixture as _mixture
from . import features as _features
from . import stats as _stats
from .cluster_merge import check_merge_ids, merge_clusters
from .cluster_table import cluster_table
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
        For a Gaussian mixture: EM converged (see ``mixture_converged``).
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
    optimal : bool
        True when the labels are the global optimum of the k-means objective
        (one channel of 8- or 16-bit integers, fitted on all pixels), not only
        a fixed point.
    engine_centroids : (n_clusters, n_engine_features) ndarray of float64, optional
        The centres in the feature space k-means saw (after colour conversion,
        normalisation and weighting; features of weight 0 left out); None:
        ``centroids``. What :meth:`merge` combines.
    probabilities : (n_clusters, ...) ndarray of float32, optional
        For a Gaussian mixture (``mixture=``): ``probabilities[i - 1]`` is the
        probability map of cluster ``i`` (the labels' shape); they sum to 1 at each
        clustered pixel and are 0 elsewhere. The labels are each pixel's most
        probable cluster, the centroids the components' means, ``counts`` and
        ``inertia`` those of the labels. A dask array when the labels are lazy.
        None for k-means.
    log_likelihood : float, optional
        For a Gaussian mixture: the mean log-likelihood per clustered pixel, in
        the feature space the mixture was fitted in (as scikit-learn's
        ``GaussianMixture.score``); None for k-means.
    mixture_n_iter : int
        EM iterations of a Gaussian mixture (``n_iter`` counts the k-means
        iterations it started from).
    mixture_converged : bool, optional
        Whether EM stopped because the mean log-likelihood changed by less than
        its tolerance (not at its iteration limit); None for k-means.
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
    optimal: bool = False
    probabilities: Any = field(default=None, repr=False)
    log_likelihood: float | None = None
    mixture_n_iter: int = 0
    mixture_converged: bool | None = None

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
    def uncertainty(self):
        """For a Gaussian mixture, each pixel's uncertainty ``1 - max probability``
        (float32, the labels' shape; 1 where not clustered); None for k-means. A
        dask array when the labels are lazy."""
        return _mixture.uncertainty(self.probabilities)

    def bic(self) -> float:
        """The Bayesian information criterion of a Gaussian mixture on the pixels it
        was fitted on: ``-2 · log-likelihood + n_parameters · log(n_pixels)``, as
        scikit-learn's ``GaussianMixture.bic`` (lower is better).

        Raises
        ------
        ValueError
            If the result is k-means, not a Gaussian mixture.
        """
        return _mixture.bic(self)

    @property
    def lazy(self) -> bool:
        """Whether :attr:`labels` is a lazy dask array (a lazy image was
        segmented): computed chunk by chunk when needed."""
        return _arrays.is_lazy(self.labels)

    def _check_image(self, image) -> tuple[np.ndarray, _features.Layout]:
        arr = _arrays.as_dask(image) if _arrays.is_lazy(image) else np.asarray(image)
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
        _images.check_cluster_id(cluster_id, self.n_clusters)
        arr, layout = self._check_image(image)
        return _images.masked_image(arr, layout, self.labels, cluster_id)

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
        if image is None or _arrays.is_lazy(image):  # the means measured at the fit
            name = self.image_dtype or self.model.dtype or "float64"
            if image is not None:
                name = self._check_image(image)[0].dtype.name
            means = np.asarray(self.channel_means, dtype=np.float64)
            dtype, layout = np.dtype(name), self.model.layout
        else:
            arr, layout = self._check_image(image)
            X, _ = _features.to_pixels(arr, layout)
            means = _stats.label_means(X, self.labels.reshape(-1), self.n_clusters)
            dtype = arr.dtype
        return _images.mean_color_image(self.labels, means, dtype, layout)

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
        if self.probabilities is not None:
            raise ValueError(
                "the clusters of a Gaussian mixture cannot be merged; fit it with "
                "fewer clusters instead"
            )
        return merge_clusters(self, check_merge_ids(ids, self.n_clusters))

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
        probabilities: bool | None = None,
    ):
        """Write :attr:`labels` to zarr, all or nothing; for a Gaussian mixture
        also its :attr:`probabilities` and :attr:`uncertainty`.

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
        probabilities : bool, optional
            Write the probability maps and the uncertainty too; None (default):
            for a Gaussian mixture, yes (k-means has none). Then ``store``
            (``component`` inside it) is a group holding the arrays ``labels``,
            ``probabilities`` (float32, ``(n_clusters, *labels.shape)``, one
            cluster per chunk) and ``uncertainty`` (float32, the labels' shape),
            written in one pass, lazily chunk by chunk for a lazy result. With
            ``ome``: ``store`` is an OME-NGFF image of the probabilities (a
            channel axis ``c``, channels named "cluster 1", …), with the labels
            at ``labels/<component or "clusters">`` and the uncertainty as an
            image of its own at ``uncertainty``. False: the labels alone, as
            for k-means.

        Returns
        -------
        zarr.Array or zarr.Group
            The written array (the OME labels group with ``ome``); the group of
            the arrays (the OME image) with probabilities.

        Raises
        ------
        ImportError
            If zarr 3 (or, with ``ome``, ome-zarr) is not installed.
        FileExistsError
            If something exists at the target and ``overwrite`` is False.
        OptionTypeError
            If ``overwrite``, ``ome`` or ``probabilities`` is not a bool (a
            ``TypeError``).
        ValueError
            If ``probabilities`` is True for a k-means result.

        Examples
        --------
        >>> from skimage import data
        >>> from napari_kmeans_seg import segment
        >>> result = segment(data.camera()[::4, ::4], 3, mixture="full")
        >>> group = result.to_zarr("camera.zarr")
        >>> sorted(group.keys())
        ['labels', 'probabilities', 'uncertainty']
        >>> group["probabilities"].shape, group["uncertainty"].dtype.name
        ((3, 128, 128), 'float32')
        """
        from .zarr_io import labels_to_zarr

        maps = _mixture.writes_maps(self, probabilities)
        how = {
            "overwrite": check_bool(overwrite, "overwrite"),
            "ome": check_bool(ome, "ome"),
            "component": component,
            "chunks": chunks,
            "compressors": compressors,
            "colors": self.mean_colors,
            "axes": axes,
            "scale": scale,
            "translation": translation,
            "units": units,
            "n_levels": n_levels,
        }
        if maps:
            return _mixture.maps_to_zarr(self, store, **how)
        return labels_to_zarr(self.labels, store, **how)
