"""The fitted model: centroids and how pixels were turned into features.

A model is saved as a small JSON file (never pickle: loading a model must not run
code) with this schema, version 1::

    {
      "format": "napari-kmeans-seg model",
      "schema_version": 1,
      "napari_kmeans_seg_version": "0.1.0",
      "n_clusters": 3,
      "n_features": 3,
      "centroids": [[r, g, b], ...],           # n_clusters rows of n_features
      "cluster_names": ["shadow", ...],        # optional: n_clusters strings
      "label_map": [1, 2, 2, 3],               # optional: label of each centroid
      "features": {                            # how an image becomes features
        "layout": {"channel_axis": 2, "n_channels": 3, "alpha": false,
                   "rgb": true},
        "dtype": "uint8",                      # dtype of the fitted image, or null
        "color_space": "lab",                  # optional: "rgb", "hsv" or "lab"
        "channel_weights": [1.0, 0.5, 0.5],    # optional: one per channel feature
        "normalize": {"mean": [...],           # optional: fitted per channel
                      "std": [...]},           #   feature (std > 0)
        "spatial_weight": 0.1,                 # optional (> 0), with "scale":
        "scale": [1.0, 1.0],                   #   pixel size per spatial axis
        "smoothing": 1.5                       # optional: Gaussian sigma (pixels)
      }
    }

The feature options go into ``"features"`` as optional fields, and are written only
when they differ from their default (the behaviour of schema 1: raw channel values),
so a model that does not use them stays readable by older versions. With them,
``"centroids"`` are in the feature space k-means saw: the channel features of weight
> 0 (in the colour space, normalised, weighted), then the weighted coordinates; so
``n_features`` counts those. ``"label_map"`` (written only after
:meth:`SegmentationResult.merge`) gives the label of the pixels nearest each
centroid row; ``n_clusters`` is then the number of labels, and the centroids have
one row per entry of the map.

Loading is strict: a field this version does not know is refused rather than
ignored, because it may change how pixels become features; so is a file of a newer
schema, a wrong type, a non-finite number or an inconsistent shape.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from . import engine as _engine
from . import features as _features
from . import lazy as _lazy

#: the value of the ``"format"`` field of a model file
FORMAT = "napari-kmeans-seg model"
#: the schema version written by this version (and the only one it reads)
SCHEMA_VERSION = 1

_TOP_REQUIRED = (
    "format",
    "schema_version",
    "napari_kmeans_seg_version",
    "n_clusters",
    "n_features",
    "centroids",
    "features",
)
_TOP_OPTIONAL = ("cluster_names", "label_map")
_FEATURES_REQUIRED = ("layout", "dtype")
_FEATURES_OPTIONAL = (
    "color_space",
    "channel_weights",
    "normalize",
    "spatial_weight",
    "scale",
    "smoothing",
)
_NORMALIZE_REQUIRED = ("mean", "std")
_LAYOUT_REQUIRED = ("channel_axis", "n_channels", "alpha", "rgb")


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
    """

    centroids: np.ndarray
    layout: _features.Layout
    dtype: str | None = None
    cluster_names: tuple[str, ...] | None = None
    options: _features.FeatureOptions = field(default_factory=_features.FeatureOptions)
    label_map: np.ndarray | None = None

    def __post_init__(self) -> None:
        C = np.asarray(self.centroids, dtype=np.float64)
        if C.ndim != 2:
            raise ValueError(
                f"centroids must be a 2D array (n_clusters, n_features), got shape "
                f"{C.shape}"
            )
        _features.check_n_clusters(C.shape[0])
        if not np.all(np.isfinite(C)):
            raise ValueError("centroids must be finite (no NaN or infinity)")
        if not isinstance(self.options, _features.FeatureOptions):
            raise ValueError(
                f"options must be FeatureOptions, not {type(self.options).__name__}"
            )
        self.options.check(self.layout)
        if not self.options.fitted:
            raise ValueError("normalize=True needs the fitted norm_mean and norm_std")
        d = _features.n_engine_features(self.layout, self.options)
        if C.shape[1] != d:
            what = (
                f"the layout has {self.layout.n_channels} channels"
                if self.options.is_default
                else f"the layout and options make {d}"
            )
            raise ValueError(
                f"centroids have {C.shape[1]} features per cluster but {what}"
            )
        object.__setattr__(self, "centroids", C)
        if self.label_map is not None:
            object.__setattr__(
                self, "label_map", _check_label_map(self.label_map, C.shape[0])
            )
        k = self.n_clusters
        if self.dtype is not None:
            object.__setattr__(self, "dtype", _check_dtype_name(self.dtype))
        if self.cluster_names is not None:
            names = self.cluster_names
            if isinstance(names, str) or not isinstance(names, Sequence):
                raise ValueError(
                    f"cluster_names must be a list of strings, not {names!r}"
                )
            if not all(isinstance(n, str) for n in names):
                raise ValueError(f"cluster_names must be strings, got {names!r}")
            if len(names) != k:
                raise ValueError(
                    f"cluster_names has {len(names)} names for {k} clusters"
                )
            object.__setattr__(self, "cluster_names", tuple(names))

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
        ``result.centroids``): R, G, B / hue_x, hue_y, value / L, a, b for RGB,
        ``intensity`` or ``c0``, ``c1``, … otherwise; then the coordinates (…, z,
        y, x) with ``spatial_weight > 0``. Features of weight 0 are included."""
        return _features.feature_names(self.layout, self.options)

    def layout_for(self, shape: tuple[int, ...]) -> _features.Layout:
        """The model's layout applied to an image of ``shape``.

        An RGB(A) model takes its channels from the last axis of any image, with an
        alpha channel when that axis has 4; any other model needs its channel axis
        to hold its number of channels.

        Parameters
        ----------
        shape : tuple of int
            Shape of the image.

        Returns
        -------
        Layout

        Raises
        ------
        ValueError
            If the image does not have the model's channels.
        """
        L = self.layout
        if L.channel_axis is None:
            return L
        if L.rgb:
            if len(shape) < 3 or shape[-1] not in (3, 4):
                raise ValueError(
                    f"the model was fitted on RGB(A) images; this image (shape "
                    f"{tuple(shape)}) is not RGB: it needs a last axis of 3 or 4 "
                    "channels"
                )
            return _features.Layout(len(shape) - 1, 3, alpha=shape[-1] == 4, rgb=True)
        if len(shape) <= L.channel_axis:
            raise ValueError(
                f"the model expects a channel axis {L.channel_axis}; the image has "
                f"shape {tuple(shape)}"
            )
        expected = L.n_channels + L.alpha
        got = shape[L.channel_axis]
        if got != expected:
            raise ValueError(
                f"the model was fitted on {expected} channels (axis "
                f"{L.channel_axis}); the image has {got} (shape {tuple(shape)})"
            )
        return L

    def _features_of(
        self, image, mask=None, scale=None, *, origin=None, step=None
    ) -> _features.Features:
        """The features of ``image`` as the model builds them (``scale``: the
        image's pixel size for the coordinate features, None for the model's;
        ``origin``, ``step``: where ``image`` lies in the image it was cut from, see
        :func:`~._features.build_features`)."""
        arr = _features.check_image(image)
        layout = self.layout_for(arr.shape)
        options = self.options
        spatial_ndim = len(layout.spatial_shape(arr.shape))
        if scale is not None:
            scale = _features.check_scale(scale, spatial_ndim)
            if options.n_spatial:
                options = replace(options, scale=scale)
        return _features.build_features(
            arr, layout, mask, options, origin=origin, step=step
        )

    def _assign(self, feats: _features.Features) -> np.ndarray:
        """Labels (flat) of the pixels of ``feats``: nearest centroid, then
        ``label_map``."""
        labels = _engine.predict(feats.X, self.centroids, mask=feats.keep)
        if self.label_map is not None:
            lut = np.zeros(len(self.label_map) + 1, labels.dtype)
            lut[1:] = self.label_map
            labels = lut[labels]
        return labels

    def _label_chunk(self, block, mask=None, *, scale=None, origin=None) -> np.ndarray:
        """Flat labels of one chunk of a lazy image (see :func:`~.lazy.label_lazy`)."""
        return self._assign(self._features_of(block, mask, scale, origin=origin))

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
        if _lazy.is_lazy(image):
            darr, layout = _lazy.open_image(image, self.layout_for)
            spatial = layout.spatial_shape(darr.shape)
            if scale is not None:
                scale = _features.check_scale(scale, len(spatial))
            if self.options.smoothing:
                raise ValueError(
                    "a model with smoothing > 0 cannot label a lazy (dask/zarr) image "
                    "chunk by chunk; load the image with np.asarray(image) if it fits "
                    "in memory"
                )
            label_chunk = partial(self._label_chunk, scale=scale)
            return _lazy.label_lazy(
                label_chunk, darr, layout, mask=_lazy.as_mask(mask, spatial)
            )
        arr = _features.check_image(image)
        feats = self._features_of(arr, mask, scale)
        labels = self._assign(feats)
        return labels.reshape(feats.layout.spatial_shape(arr.shape))

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
        from .. import __version__

        L = self.layout
        out: dict[str, Any] = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "napari_kmeans_seg_version": __version__,
            "n_clusters": self.n_clusters,
            "n_features": self.n_features,
            "centroids": self.centroids.tolist(),
        }
        if self.cluster_names is not None:
            out["cluster_names"] = list(self.cluster_names)
        if self.label_map is not None:
            out["label_map"] = self.label_map.tolist()
        features: dict[str, Any] = {
            "layout": {
                "channel_axis": L.channel_axis,
                "n_channels": L.n_channels,
                "alpha": L.alpha,
                "rgb": L.rgb,
            },
            "dtype": self.dtype,
        }
        o = self.options  # only what differs from the defaults
        if o.color_space != "rgb":
            features["color_space"] = o.color_space
        if o.channel_weights is not None:
            features["channel_weights"] = list(o.channel_weights)
        if o.normalize:
            features["normalize"] = {
                "mean": list(o.norm_mean),
                "std": list(o.norm_std),
            }
        if o.spatial_weight > 0:
            features["spatial_weight"] = o.spatial_weight
            features["scale"] = list(o.scale)
        if o.smoothing > 0:
            features["smoothing"] = o.smoothing
        out["features"] = features
        return out

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
        if not isinstance(data, dict):
            raise ValueError(
                f"a model must be a JSON object, not {type(data).__name__}"
            )
        if data.get("format") != FORMAT:
            raise ValueError(
                f"not a napari-kmeans-seg model: the field 'format' must be {FORMAT!r}"
                f", got {data.get('format')!r}"
            )
        written_by = data.get("napari_kmeans_seg_version")
        if not isinstance(written_by, str):
            raise ValueError(
                "field 'napari_kmeans_seg_version' must be a string, got "
                f"{written_by!r}"
            )
        version = data.get("schema_version")
        if not _is_int(version):
            raise ValueError(
                f"field 'schema_version' must be an integer, got {version!r}"
            )
        if version != SCHEMA_VERSION:
            from .. import __version__

            newer = version > SCHEMA_VERSION
            raise ValueError(
                f"unsupported model schema_version {version} (written by "
                f"napari-kmeans-seg {written_by}); this version ({__version__}) reads "
                f"schema_version {SCHEMA_VERSION}"
                + ("; upgrade napari-kmeans-seg to load it" if newer else "")
            )
        _check_keys(data, _TOP_REQUIRED, _TOP_OPTIONAL, "the model", written_by)

        k = data["n_clusters"]
        if not _is_int(k):
            raise ValueError(f"field 'n_clusters' must be an integer, got {k!r}")
        d = data["n_features"]
        if not _is_int(d) or d < 1:
            raise ValueError(
                f"field 'n_features' must be a positive integer, got {d!r}"
            )
        C = _centroids_from_json(data["centroids"])
        label_map = data.get("label_map")
        if label_map is not None:
            label_map = _label_map_from_json(label_map, k)
            if C.shape != (len(label_map), d):
                raise ValueError(
                    f"field 'centroids' has shape {C.shape}, but label_map (one label "
                    f"per centroid) and n_features={d} make ({len(label_map)}, {d})"
                )
        elif C.shape != (k, d):
            raise ValueError(
                f"field 'centroids' has shape {C.shape}, but n_clusters={k} and "
                f"n_features={d} make ({k}, {d})"
            )

        features = data["features"]
        if not isinstance(features, dict):
            raise ValueError(
                f"field 'features' must be an object, not {type(features).__name__}"
            )
        _check_keys(
            features, _FEATURES_REQUIRED, _FEATURES_OPTIONAL, "'features'", written_by
        )
        layout = _layout_from_json(features["layout"], written_by)
        options = _options_from_json(features, layout, written_by)
        expected = _features.n_engine_features(layout, options)
        if expected != d:
            what = (
                f"the layout has {layout.n_channels} channels"
                if options.is_default
                else f"the layout and feature options make {expected} features"
            )
            raise ValueError(f"{what} but the model has n_features={d}")
        dtype = features["dtype"]
        if dtype is not None:
            try:
                _check_dtype_name(dtype)
            except ValueError as err:
                raise ValueError(f"field 'features.dtype': {err}") from None

        names = data.get("cluster_names")
        if names is not None and (
            not isinstance(names, list) or not all(isinstance(n, str) for n in names)
        ):
            raise ValueError(
                f"field 'cluster_names' must be a list of strings, got {names!r}"
            )
        return cls(
            C,
            layout,
            dtype=dtype,
            cluster_names=None if names is None else tuple(names),
            options=options,
            label_map=label_map,
        )

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
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

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
            If the file cannot be read.
        ValueError
            If the file is not valid JSON or not a valid model of a schema this
            version reads (see :meth:`from_dict`); the message names the file and
            the problem.

        Examples
        --------
        >>> from napari_kmeans_seg import KMeansModel
        >>> model = KMeansModel.load("astronaut-k3.json")  # doctest: +SKIP
        """
        path = Path(path)
        raw = path.read_bytes()
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except ValueError as err:
            raise ValueError(f"{path.name}: not a valid model file: {err}") from None
        try:
            return cls.from_dict(data)
        except ValueError as err:
            raise ValueError(f"{path.name}: {err}") from None


# ---------------------------------------------------------------------- helpers


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not allowed in a model file (numbers must be finite)")


def _check_keys(
    obj: dict, required: tuple, optional: tuple, where: str, written_by: str
) -> None:
    missing = [key for key in required if key not in obj]
    if missing:
        raise ValueError(f"{where} lacks the field(s) {', '.join(missing)}")
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        raise ValueError(
            f"{where} has field(s) this version does not know: {', '.join(unknown)} "
            f"(the file was written by napari-kmeans-seg {written_by}; a newer "
            "version may be needed)"
        )


def _centroids_from_json(rows) -> np.ndarray:
    if not isinstance(rows, list) or not rows:
        raise ValueError("field 'centroids' must be a non-empty list of rows")
    width = None
    for i, row in enumerate(rows):
        if not isinstance(row, list) or not row:
            raise ValueError(
                f"field 'centroids': row {i} must be a non-empty list of numbers"
            )
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise ValueError(
                f"field 'centroids': row {i} has {len(row)} values, row 0 has {width}"
            )
        for value in row:
            if not _is_number(value):
                raise ValueError(
                    f"field 'centroids': row {i} holds {value!r}, not a number"
                )
            try:
                finite = math.isfinite(value)
            except OverflowError:  # an integer too large for a float
                finite = False
            if not finite:
                raise ValueError(
                    f"field 'centroids': row {i} holds {value!r}; numbers must be "
                    "finite"
                )
    return np.array(rows, dtype=np.float64)


def _layout_from_json(obj, written_by: str) -> _features.Layout:
    where = "'features.layout'"
    if not isinstance(obj, dict):
        raise ValueError(f"field {where} must be an object, not {type(obj).__name__}")
    _check_keys(obj, _LAYOUT_REQUIRED, (), where, written_by)
    axis, n, alpha, rgb = (obj[key] for key in _LAYOUT_REQUIRED)
    if axis is not None and (not _is_int(axis) or axis < 0):
        raise ValueError(
            f"field 'features.layout.channel_axis' must be a non-negative integer or "
            f"null, got {axis!r}"
        )
    if not _is_int(n) or n < 1:
        raise ValueError(
            f"field 'features.layout.n_channels' must be a positive integer, got {n!r}"
        )
    for key, value in (("alpha", alpha), ("rgb", rgb)):
        if not isinstance(value, bool):
            raise ValueError(
                f"field 'features.layout.{key}' must be true or false, got {value!r}"
            )
    if axis is None and (n != 1 or alpha or rgb):
        raise ValueError(
            "inconsistent 'features.layout': without a channel_axis the image has one "
            "channel, no alpha and is not RGB"
        )
    if rgb and n != 3:
        raise ValueError(
            f"inconsistent 'features.layout': an RGB layout has 3 channels, not {n}"
        )
    if alpha and not rgb:
        raise ValueError(
            "inconsistent 'features.layout': only an RGB layout has an alpha channel"
        )
    return _features.Layout(axis, n, alpha=alpha, rgb=rgb)


def _check_label_map(label_map, n_centroids: int) -> np.ndarray:
    """``label_map`` as an int64 array mapping ``n_centroids`` centroids onto labels
    1..n (each used), or a clear ``ValueError``."""
    m = np.asarray(label_map)
    if m.dtype.kind not in "iu" or m.shape != (n_centroids,):
        raise ValueError(
            f"label_map must hold one integer label per centroid ({n_centroids}), "
            f"got {label_map!r}"
        )
    m = m.astype(np.int64)
    n = int(m.max())
    if m.min() < 1 or not np.array_equal(np.unique(m), np.arange(1, n + 1)):
        raise ValueError(
            f"label_map must use every label from 1 to its largest, got {m.tolist()}"
        )
    _features.check_n_clusters(n)
    out = m.copy()
    out.flags.writeable = False
    return out


def _label_map_from_json(value, k) -> list[int]:
    if not isinstance(value, list) or not all(_is_int(v) for v in value):
        raise ValueError(f"field 'label_map' must be a list of integers, got {value!r}")
    if not value or min(value) < 1 or sorted(set(value)) != list(range(1, k + 1)):
        raise ValueError(
            f"field 'label_map' must use every label from 1 to n_clusters={k}, got "
            f"{value!r}"
        )
    return value


def _numbers_from_json(value, field_name: str, n: int) -> tuple[float, ...]:
    """A list of ``n`` finite numbers (field ``field_name``), or a ``ValueError``."""
    if not isinstance(value, list) or len(value) != n:
        raise ValueError(
            f"field '{field_name}' must be a list of {n} numbers, got {value!r}"
        )
    for v in value:
        if not _is_number(v) or not _finite(v):
            raise ValueError(
                f"field '{field_name}' must hold finite numbers, got {value!r}"
            )
    return tuple(float(v) for v in value)


def _number_from_json(value, field_name: str) -> float:
    """A finite number > 0 (field ``field_name``), or a ``ValueError``."""
    if not _is_number(value) or not _finite(value) or value <= 0:
        raise ValueError(
            f"field '{field_name}' must be a finite number > 0 (leave it out for 0), "
            f"got {value!r}"
        )
    return float(value)


def _finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _options_from_json(
    features: dict, layout: _features.Layout, written_by: str
) -> _features.FeatureOptions:
    """The feature options of a model file's ``"features"`` (absent: default)."""
    n = layout.n_channels
    kwargs: dict[str, Any] = {}
    if "color_space" in features:
        space = features["color_space"]
        if space not in _features.COLOR_SPACES:
            raise ValueError(
                f"field 'features.color_space' must be one of "
                f"{list(_features.COLOR_SPACES)}, got {space!r}"
            )
        if space != "rgb" and not layout.rgb:
            raise ValueError(
                f"field 'features.color_space' is {space!r} but the layout is not RGB"
            )
        kwargs["color_space"] = space
    if "channel_weights" in features:
        weights = _numbers_from_json(
            features["channel_weights"], "features.channel_weights", n
        )
        if min(weights) < 0 or not any(weights):
            raise ValueError(
                "field 'features.channel_weights' must hold numbers >= 0, not all 0, "
                f"got {list(weights)}"
            )
        kwargs["channel_weights"] = weights
    if "normalize" in features:
        norm = features["normalize"]
        where = "'features.normalize'"
        if not isinstance(norm, dict):
            raise ValueError(
                f"field {where} must be an object with the fitted mean and std, got "
                f"{norm!r}"
            )
        _check_keys(norm, _NORMALIZE_REQUIRED, (), where, written_by)
        mean = _numbers_from_json(norm["mean"], "features.normalize.mean", n)
        std = _numbers_from_json(norm["std"], "features.normalize.std", n)
        if min(std) <= 0:
            raise ValueError(
                f"field 'features.normalize.std' must be positive, got {list(std)}"
            )
        kwargs.update(normalize=True, norm_mean=mean, norm_std=std)
    if ("spatial_weight" in features) != ("scale" in features):
        raise ValueError(
            "fields 'features.spatial_weight' and 'features.scale' go together"
        )
    if "spatial_weight" in features:
        kwargs["spatial_weight"] = _number_from_json(
            features["spatial_weight"], "features.spatial_weight"
        )
        scale = features["scale"]
        if not isinstance(scale, list) or not scale:
            raise ValueError(
                f"field 'features.scale' must be a non-empty list of pixel sizes, "
                f"got {scale!r}"
            )
        scale = _numbers_from_json(scale, "features.scale", len(scale))
        if min(scale) <= 0:
            raise ValueError(
                f"field 'features.scale' must hold numbers > 0, got {list(scale)}"
            )
        kwargs["scale"] = scale
    if "smoothing" in features:
        kwargs["smoothing"] = _number_from_json(
            features["smoothing"], "features.smoothing"
        )
    return _features.FeatureOptions(**kwargs)


def _check_dtype_name(name) -> str:
    if not isinstance(name, str):
        raise ValueError(f"dtype must be a dtype name, got {name!r}")
    try:
        dt = np.dtype(name)
    except TypeError:
        raise ValueError(f"unknown dtype {name!r}") from None
    if dt.kind not in "biuf" or dt.name != name:
        raise ValueError(
            f"dtype {name!r} is not the name of a real numeric dtype such as 'uint8'"
        )
    return name
