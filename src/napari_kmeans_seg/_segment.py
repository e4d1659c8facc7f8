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
        layout = self.model.layout_for(arr.shape)
        if layout.spatial_shape(arr.shape) != self.labels.shape:
            raise ValueError(
                f"image shape {arr.shape} does not fit the labels' shape "
                f"{self.labels.shape}"
            )
        keep = layout.expand(self.labels == cluster_id)
        return np.where(keep, arr, np.zeros((), arr.dtype))


def segment(
    image,
    n_clusters: int | None = None,
    *,
    channel_axis: int | None = None,
    rgb: bool | None = None,
    mask=None,
    random_state: int | None = 0,
    method: str = "auto",
    n_init: int = _engine.DEFAULT_N_INIT,
    max_iter: int = 300,
    model: KMeansModel | None = None,
) -> SegmentationResult:
    """Segment an image into ``n_clusters`` colour/intensity classes with k-means.

    Every pixel is a point whose coordinates are its channel values (R, G, B, or the
    channels along ``channel_axis``, or the intensity of a single-channel image);
    k-means groups the points and each pixel gets its group's id. The default method
    is exact: the result is a Lloyd fixed point on all pixels, computed from the
    image's distinct values, so it needs no sampling and is fast.

    With ``model``, nothing is fitted: the pixels are labelled with the model's
    centroids (the same cluster ids on every image) and the result describes this
    image's clusters under that model.

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
        outside get label 0 and do not influence the fit.
    random_state : int or None
        Seed for the k-means++ starts; the same image and seed give identical labels.
        Not used with ``model``.
    method : {"auto", "exact", "sample"}
        "exact" (and "auto") reach a Lloyd fixed point on all pixels; "sample" fits
        on a random sample of 100,000 pixels and only assigns the rest (faster to
        start on huge images, not a fixed point). Not used with ``model``.
    n_init : int
        k-means++ starts tried; the best is refined. Not used with ``model``.
    max_iter : int
        Maximum number of Lloyd iterations. Not used with ``model``.
    model : KMeansModel, optional
        A fitted model (``result.model``, or :meth:`KMeansModel.load`) to apply
        instead of fitting. The result's ``centroids`` and ``model`` are the model's,
        ``n_iter`` is 0, and ``converged`` tells whether the model's centroids are
        the means of this image's clusters (as on the image it was fitted on).

    Returns
    -------
    SegmentationResult
        ``labels``, ``centroids``, ``counts``, ``inertia`` and the fitted ``model``.

    Raises
    ------
    ValueError
        If the image is empty, not numeric, has fewer distinct values than
        ``n_clusters``, or an option is out of range; with ``model``, if the image
        does not have the model's channels or ``n_clusters``, ``channel_axis`` or
        ``rgb`` contradict the model. The message says what to do.

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

    The same classes on another photo, from a saved model:

    >>> result.model.save("astronaut-k3.json")  # doctest: +SKIP
    >>> model = KMeansModel.load("astronaut-k3.json")  # doctest: +SKIP
    >>> coffee = segment(data.coffee(), model=result.model)
    >>> coffee.centroids is result.model.centroids, coffee.n_iter
    (True, 0)
    """
    arr = _features.check_image(image)
    if model is not None:
        return _apply_model(
            arr,
            model,
            n_clusters=n_clusters,
            channel_axis=channel_axis,
            rgb=rgb,
            mask=mask,
        )
    k = _features.check_n_clusters(3 if n_clusters is None else n_clusters)
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
        model=KMeansModel(fit.centroids, layout, dtype=arr.dtype.name),
        n_iter=fit.n_iter,
        converged=fit.converged,
        n_invalid=fit.n_invalid,
    )


def _apply_model(
    arr: np.ndarray,
    model: KMeansModel,
    *,
    n_clusters: int | None,
    channel_axis: int | None,
    rgb: bool | None,
    mask,
) -> SegmentationResult:
    """:func:`segment` with a given model: label, count and measure, no fitting."""
    if not isinstance(model, KMeansModel):
        raise ValueError(
            f"model must be a KMeansModel (result.model or KMeansModel.load(path)), "
            f"not {type(model).__name__}"
        )
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
    X, keep, layout = model._pixels(arr, mask)
    C = model.centroids
    labels = _engine.predict(X, C, mask=keep)
    counts, inertia = _engine._Pixels(X, keep).counts_and_inertia(labels, C)
    n_considered = labels.size if keep is None else int(np.count_nonzero(keep))
    n_labelled = int(counts.sum())
    if n_labelled == 0:
        raise ValueError(
            "there is no pixel to label (all are masked, transparent or NaN)"
        )
    return SegmentationResult(
        labels=labels.reshape(layout.spatial_shape(arr.shape)),
        centroids=C,
        counts=counts,
        inertia=inertia,
        model=model,
        n_iter=0,
        converged=_centroids_are_means(X, labels, counts, C),
        n_invalid=n_considered - n_labelled,
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
