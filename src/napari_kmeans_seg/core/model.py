"""The fitted model: centroids and how pixels were turned into features.

A model is saved as a small JSON file (never pickle: loading a model must not run
code); :mod:`.model_io` holds the schema and reads and writes it safely.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import arrays as _arrays
from . import features as _features
from . import model_io as _io
from .apply import (
    apply_model,
    assign,
    features_of,
    predict_lazy,
    predict_proba_lazy,
    warn_if_unlike,
)
from .mixture import GaussianMixtureParams, posterior
from .options import FeatureOptions, Options, check_n_clusters
from .result import SegmentationResult

#: the value of the ``"format"`` field of a model file
FORMAT = _io.FORMAT
#: the schema version written by this version (and the only one it reads)
SCHEMA_VERSION = _io.SCHEMA_VERSION


@dataclass(frozen=True, eq=False)
class KMeansModel:
    """A fitted k-means pixel classifier.

    Attributes
    ----------
    centroids : (n_centroids, n_features) ndarray of float64
        Row ``i - 1`` is the centre of cluster (label) ``i`` (or, with
        ``label_map``, of the pixels labelled ``label_map[i - 1]``), in the feature
        space k-means saw: with default ``options`` the image's own values per
        channel; otherwise the channel features of weight > 0 (colour space,
        normalised, weighted), then the weighted coordinates.
    layout : Layout
        Channel layout of the images the model applies to (channel axis, number of
        channels, alpha).
    dtype : str, optional
        Name of the dtype of the image the model was fitted on (``"uint8"``, ...),
        recorded so that one can tell which images the centroids' units fit; None
        when unknown.
    cluster_names : tuple of str, optional
        One name per cluster (for label ``i``: ``cluster_names[i - 1]``), or None.
    options : FeatureOptions
        How pixels become features (colour space, channel weights, fitted
        normalisation, spatial weight and scale, smoothing); rebuilt the same way on
        every image the model labels. Defaults: the raw channel values.
    label_map : (n_centroids,) ndarray of int, optional
        The label of the pixels nearest each centroid (1..n_clusters, each label
        at least once), for models of merged clusters; None: centroid row ``i - 1``
        gives label ``i``.

    Raises
    ------
    ValueError
        If the centroids are not a finite 2D array with one column per feature of
        the layout and options, the options do not fit the layout, ``label_map``
        does not map the centroids onto labels 1..n, or ``cluster_names`` does not
        hold one string per cluster.
    mixture : GaussianMixtureParams, optional
        For a Gaussian mixture (``segment(..., mixture="full")``): the components'
        weights and covariances, their means being ``centroids``. Pixels are then
        labelled with their most probable component (not the nearest centroid),
        and :meth:`predict_proba` gives the probabilities. None: k-means.
    """

    centroids: np.ndarray
    layout: _features.Layout
    dtype: str | None = None
    cluster_names: tuple[str, ...] | None = None
    options: FeatureOptions = field(default_factory=FeatureOptions)
    label_map: np.ndarray | None = None
    mixture: GaussianMixtureParams | None = None

    def __post_init__(self) -> None:
        for name, value in _checked_fields(self).items():
            object.__setattr__(self, name, value)

    @property
    def n_clusters(self) -> int:
        """Number of clusters (labels 1..n_clusters)."""
        if self.label_map is not None:
            return int(self.label_map.max())
        return self.centroids.shape[0]

    @property
    def n_features(self) -> int:
        """Number of features per pixel that k-means sees (columns of
        ``centroids``)."""
        return self.centroids.shape[1]

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the features results report centroids in (the columns of
        ``result.centroids``): R, G, B / hue_x, hue_y, value / L, a, b for RGB
        (or the chosen colour features: red, hue cos, hue sin, L*, …),
        ``intensity`` or ``c0``, ``c1``, … otherwise; then the coordinates (…, z,
        y, x) with ``spatial_weight > 0``. Features of weight 0 are included."""
        return _features.feature_names(self.layout, self.options)

    def layout_for(self, shape: tuple[int, ...]) -> _features.Layout:
        """The model's layout applied to an image of ``shape`` (see
        :meth:`Layout.applied_to`); a ``ValueError`` if the image does not have
        the model's channels."""
        return self.layout.applied_to(shape)

    def predict(self, image, *, mask=None, scale=None) -> np.ndarray:
        """Label each pixel of ``image`` with its nearest centroid.

        Parameters
        ----------
        image : array_like
            An image of the same kind as the one fitted: same channel layout and
            number of channels; any spatial shape. A lazy image (dask or zarr
            array) gets lazy labels: nothing is read until they are computed,
            chunk by chunk (not with ``smoothing > 0``).
        mask : ndarray of bool, optional
            Pixels to label, shaped like the image without its channel axis.
        scale : sequence of float, optional
            Pixel size of ``image`` per spatial axis, for a model with
            ``spatial_weight > 0``; None: the scale the model was fitted with.

        Returns
        -------
        labels : ndarray of uint8
            The image's shape without the channel axis; 0 where not labelled (masked,
            transparent, NaN), else 1..n_clusters. A dask array for a lazy image,
            chunked like its spatial axes.

        Raises
        ------
        ValueError
            If the image does not have the model's number of channels (or, for a
            model with coordinate features, of spatial axes), or ``scale`` does not
            fit it.

        Examples
        --------
        >>> from skimage import data
        >>> from napari_kmeans_seg import segment
        >>> model = segment(data.astronaut(), 3).model
        >>> model.predict(data.coffee()).shape
        (400, 600)
        """
        if _arrays.is_lazy(image):
            return predict_lazy(self, image, mask, scale, warn=True)
        image, mask = _features.unmask(image, mask, self.layout_for)
        arr = _features.check_image(image)
        warn_if_unlike(self, arr.dtype, stacklevel=3)
        feats = features_of(self, arr, mask, scale)
        labels = assign(self, feats)
        return labels.reshape(feats.layout.spatial_shape(arr.shape))

    def predict_proba(self, image, *, mask=None, scale=None) -> np.ndarray:
        """Each pixel's probability of belonging to each component of the model's
        Gaussian mixture.

        Parameters
        ----------
        image, mask, scale
            As for :meth:`predict`.

        Returns
        -------
        probabilities : (n_clusters, ...) ndarray of float32
            ``probabilities[i - 1]`` is the probability map of cluster ``i``, the
            image's shape without the channel axis; they sum to 1 at each pixel
            (0 where not labelled). A dask array for a lazy image.

        Raises
        ------
        ValueError
            If the model is not a Gaussian mixture (k-means gives hard labels
            only), or as :meth:`predict`.
        """
        if self.mixture is None:
            raise ValueError(
                "this model is k-means, which has no probabilities; fit a Gaussian "
                "mixture with segment(image, k, mixture='full')"
            )
        if _arrays.is_lazy(image):
            return predict_proba_lazy(self, image, mask, scale)
        image, mask = _features.unmask(image, mask, self.layout_for)
        arr = _features.check_image(image)
        warn_if_unlike(self, arr.dtype, stacklevel=3)
        feats = features_of(self, arr, mask, scale)
        probs = posterior(feats.X, self.centroids, self.mixture, mask=feats.keep)[1]
        return probs.reshape((-1, *feats.layout.spatial_shape(arr.shape)))

    def segment(
        self, image, *, mask=None, scale=None, fit_pixels=None, progress=None
    ) -> SegmentationResult:
        """Label ``image`` with this model and measure its clusters: no fitting.

        The same as ``segment(image, model=self)``.

        Parameters
        ----------
        image : array_like
            An image of the kind the model was fitted on (same channels); a
            lazy image gets lazy labels. A masked array's masked pixels are left
            out. Never modified.
        mask : array_like of bool, optional
            Pixels to label, shaped like the image without its channel axis.
        scale : sequence of float, optional
            Pixel size of ``image`` per spatial axis, for a model with
            ``spatial_weight > 0``; None: the model's.
        fit_pixels : int, optional
            For a lazy image: the region of at most this many pixels the clusters
            are measured on (default 4,194,304).
        progress : callable, optional
            Called as ``progress(done, total)`` while a lazy image is read.

        Returns
        -------
        SegmentationResult
            ``centroids`` are the model's; ``n_iter`` is 0; ``converged`` tells
            whether they are the means of this image's clusters.

        Warns
        -----
        UserWarning
            If the image's dtype has another range than the one the model was
            fitted on (e.g. a uint16 image and a model of a uint8 image, or an
            integer image and a model of a float image): the labels are
            computed, but the values are in other units.

        Examples
        --------
        >>> from skimage import data
        >>> from napari_kmeans_seg import segment
        >>> model = segment(data.astronaut(), 3).model
        >>> coffee = model.segment(data.coffee())
        >>> coffee.labels.shape, coffee.n_iter
        ((400, 600), 0)
        """
        options = Options.checked(scale=scale, fit_pixels=fit_pixels)
        return apply_model(self, image, options, mask=mask, progress=progress)

    # ------------------------------------------------------------------ JSON I/O

    def to_dict(self) -> dict[str, Any]:
        """The model as a JSON-compatible dict (the content of a model file).

        Returns
        -------
        dict
            See the module documentation for the schema.

        Examples
        --------
        >>> import numpy as np
        >>> from napari_kmeans_seg import segment
        >>> model = segment(np.eye(4, dtype=np.uint8), 2).model
        >>> model.to_dict()["centroids"]
        [[0.0], [1.0]]
        """
        return _io.model_to_dict(self)

    @classmethod
    def from_dict(cls, data: Any) -> KMeansModel:
        """Rebuild a model from :meth:`to_dict`'s output, validating every field.

        Parameters
        ----------
        data : dict
            The parsed content of a model file.

        Returns
        -------
        KMeansModel

        Raises
        ------
        ValueError
            If ``data`` is not a model of a schema this version reads, a field is
            missing, unknown or of the wrong type, a number is not finite, or the
            shapes do not agree; the message names the field.

        Examples
        --------
        >>> from napari_kmeans_seg import KMeansModel
        >>> model = KMeansModel.from_dict({
        ...     "format": "napari-kmeans-seg model", "schema_version": 1,
        ...     "napari_kmeans_seg_version": "0.1.0", "n_clusters": 2,
        ...     "n_features": 1, "centroids": [[10.0], [200.0]],
        ...     "features": {"layout": {"channel_axis": None, "n_channels": 1,
        ...                             "alpha": False, "rgb": False},
        ...                  "dtype": "uint8"}})
        >>> model.n_clusters
        2
        """
        return cls(**_io.model_fields_from_dict(data))

    def save(self, path: str | os.PathLike) -> Path:
        """Save the model as a JSON file (see the module documentation).

        Parameters
        ----------
        path : str or path-like
            File to write (usually ``*.json``); replaced if it exists. The file is
            written whole or not at all.

        Returns
        -------
        Path
            The path written.

        Raises
        ------
        IsADirectoryError
            If ``path`` names a folder (ends with a separator, or is one): give a
            file name.
        FileNotFoundError
            If the folder to write in does not exist.
        OSError
            If the file cannot be written.

        Examples
        --------
        >>> from skimage import data
        >>> from napari_kmeans_seg import KMeansModel, segment
        >>> model = segment(data.astronaut(), 3).model
        >>> model.save("astronaut-k3.json")  # doctest: +SKIP
        >>> labels = KMeansModel.load("astronaut-k3.json").predict(data.coffee())
        ... # doctest: +SKIP
        """
        return _io.write_model_file(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> KMeansModel:
        """Load a model saved by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            The JSON file.

        Returns
        -------
        KMeansModel

        Raises
        ------
        OSError
            If the file does not exist or cannot be read.
        ValueError
            If the path is not a regular file (a FIFO, a device, a directory), is
            larger than a model file can be, is nested too deeply, is not valid
            JSON or not a valid model of a schema this version reads (see
            :meth:`from_dict`); the message names the file and the problem.

        Examples
        --------
        See :meth:`save`.
        """
        data = _io.read_model_file(path)
        try:
            return cls.from_dict(data)
        except ValueError as err:
            raise ValueError(f"{Path(path).name}: {err}") from None


def _check_centroids(centroids) -> np.ndarray:
    """``centroids`` as a finite 2D float64 array of 2..254 rows, of a sane
    magnitude."""
    C = np.asarray(centroids, dtype=np.float64)
    if C.ndim != 2:
        raise ValueError(
            f"centroids must be a 2D array (n_clusters, n_features), got shape "
            f"{C.shape}"
        )
    check_n_clusters(C.shape[0])
    if not np.all(np.isfinite(C)):
        raise ValueError("centroids must be finite (no NaN or infinity)")
    top = float(np.max(np.abs(C)))
    if top > _io.MAX_CENTROID:
        raise ValueError(
            f"centroids reach {top:.3g}; values must be at most "
            f"{_io.MAX_CENTROID:.0e} in magnitude (squared distances would overflow)"
        )
    return C


def _check_names(names, k: int) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(f"cluster_names must be a list of strings, not {names!r}")
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"cluster_names must be strings, got {names!r}")
    if len(names) != k:
        raise ValueError(f"cluster_names has {len(names)} names for {k} clusters")
    return tuple(names)


def _checked_fields(model: KMeansModel) -> dict[str, Any]:
    """The model's fields that checking normalises (centroids as float64, label
    map, dtype name, names as a tuple), or a clear error."""
    C = _check_centroids(model.centroids)
    options, layout = model.options, model.layout
    if not isinstance(options, FeatureOptions):
        raise TypeError(f"options must be FeatureOptions, not {type(options).__name__}")
    options.check(layout)
    if not options.fitted:
        raise ValueError("normalize=True needs the fitted norm_mean and norm_std")
    d = _features.n_engine_features(layout, options)
    if C.shape[1] != d:
        what = (
            f"the layout has {layout.n_channels} channels"
            if options.is_default
            else f"the layout and options make {d}"
        )
        raise ValueError(f"centroids have {C.shape[1]} features per cluster but {what}")
    out: dict[str, Any] = {"centroids": C}
    k = C.shape[0]
    if model.label_map is not None:
        out["label_map"] = _io.check_label_map(model.label_map, k)
        k = int(out["label_map"].max())
    if model.dtype is not None:
        out["dtype"] = _io.check_dtype_name(model.dtype)
    if model.cluster_names is not None:
        out["cluster_names"] = _check_names(model.cluster_names, k)
    if model.mixture is not None:
        _check_mixture(model.mixture, C, model.label_map)
    return out


def _check_mixture(mixture, C: np.ndarray, label_map) -> None:
    if not isinstance(mixture, GaussianMixtureParams):
        raise TypeError(
            f"mixture must be GaussianMixtureParams, not {type(mixture).__name__}"
        )
    if mixture.weights.size != C.shape[0] or mixture.n_features != C.shape[1]:
        raise ValueError(
            f"the mixture has {mixture.weights.size} components of "
            f"{mixture.n_features} features, the centroids are {C.shape}"
        )
    if label_map is not None:
        raise ValueError("a Gaussian mixture's clusters cannot be merged")
