"""The public entry point: ``segment(image, n_clusters)`` and its result."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _engine, _features
from ._model import KMeansModel

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
        Row ``i - 1`` is the mean of the pixels with label ``i``, in the image's own
        units per channel.
    counts : (n_clusters,) ndarray of int64
        Pixels per cluster.
    inertia : float
        Sum of squared distances of the clustered pixels to their centroid.
    model : KMeansModel
        The fitted model; ``model.predict(image)`` labels other images of the kind.
    n_iter : int
        Lloyd iterations over all pixels (0 for ``method="sample"``).
    converged : bool
        True when the labels are a Lloyd fixed point on all pixels: each pixel has
        its nearest centroid's label and each centroid is the mean of its pixels.
    n_invalid : int
        Pixels left out because a value is NaN or infinite.
    """

    labels: np.ndarray
    centroids: np.ndarray
    counts: np.ndarray
    inertia: float
    model: KMeansModel
    n_iter: int = 0
    converged: bool = True
    n_invalid: int = 0

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return self.centroids.shape[0]

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
            RGBA images the alpha of the other pixels is 0 too (transparent).

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
        arr = np.asarray(image)
        layout = self.model.layout
        if layout.spatial_shape(arr.shape) != self.labels.shape:
            raise ValueError(
                f"image shape {arr.shape} does not fit the labels' shape "
                f"{self.labels.shape}"
            )
        keep = layout.expand(self.labels == cluster_id)
        return np.where(keep, arr, np.zeros((), arr.dtype))


def segment(
    image,
    n_clusters: int = 3,
    *,
    channel_axis: int | None = None,
    rgb: bool | None = None,
    mask=None,
    random_state: int | None = 0,
    method: str = "auto",
    n_init: int = _engine.DEFAULT_N_INIT,
    max_iter: int = 300,
) -> SegmentationResult:
    """Segment an image into ``n_clusters`` colour/intensity classes with k-means.

    Every pixel is a point whose coordinates are its channel values (R, G, B, or the
    channels along ``channel_axis``, or the intensity of a single-channel image);
    k-means groups the points and each pixel gets its group's id. The default method
    is exact: the result is a Lloyd fixed point on all pixels, computed from the
    image's distinct values, so it needs no sampling and is fast.

    Parameters
    ----------
    image : array_like
        2D or nD image: single-channel (``(…, Y, X)``), RGB/RGBA (``(…, Y, X, 3|4)``)
        or with channels along ``channel_axis``. Any real dtype: uint8, uint16,
        other integers, float (NaN and inf pixels are left out with label 0), bool.
        Never modified.
    n_clusters : int
        Number of clusters, from 2 to 254.
    channel_axis : int, optional
        Axis holding the channels of a multichannel image. When None, an image of 3
        or more dimensions whose last axis has length 3 or 4 is RGB(A) (see ``rgb``).
    rgb : bool, optional
        Whether the last axis holds RGB(A) colour; None guesses as napari does. The
        alpha channel of RGBA is not clustered and fully transparent pixels get
        label 0.
    mask : array_like of bool, optional
        Pixels to cluster, shaped like the image without its channel axis; pixels
        outside get label 0 and do not influence the fit.
    random_state : int or None
        Seed for the k-means++ starts; the same image and seed give identical labels.
    method : {"auto", "exact", "sample"}
        "exact" (and "auto") reach a Lloyd fixed point on all pixels; "sample" fits
        on a random sample of 100,000 pixels and only assigns the rest (faster to
        start on huge images, not a fixed point).
    n_init : int
        k-means++ starts tried; the best is refined.
    max_iter : int
        Maximum number of Lloyd iterations.

    Returns
    -------
    SegmentationResult
        ``labels``, ``centroids``, ``counts``, ``inertia`` and the fitted ``model``.

    Raises
    ------
    ValueError
        If the image is empty, not numeric, has fewer distinct values than
        ``n_clusters``, or an option is out of range; the message says what to do.

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
    """
    arr = _features.check_image(image)
    k = _features.check_n_clusters(n_clusters)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if not isinstance(n_init, int | np.integer) or n_init < 1:
        raise ValueError(f"n_init must be a positive integer, not {n_init!r}")
    if not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, not {max_iter!r}")
    layout = _features.guess_layout(arr.shape, channel_axis=channel_axis, rgb=rgb)
    X, keep = _features.to_pixels(arr, layout, mask)
    fit = _engine.fit_predict(
        X,
        n_clusters=k,
        mask=keep,
        random_state=random_state,
        method="sample" if method == "sample" else "exact",
        n_init=int(n_init),
        max_iter=int(max_iter),
    )
    return SegmentationResult(
        labels=fit.labels.reshape(layout.spatial_shape(arr.shape)),
        centroids=fit.centroids,
        counts=fit.counts,
        inertia=fit.inertia,
        model=KMeansModel(fit.centroids, layout),
        n_iter=fit.n_iter,
        converged=fit.converged,
        n_invalid=fit.n_invalid,
    )
