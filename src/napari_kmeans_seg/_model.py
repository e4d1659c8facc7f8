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
      "features": {                            # how an image becomes features
        "layout": {"channel_axis": 2, "n_channels": 3, "alpha": false,
                   "rgb": true},
        "dtype": "uint8"                       # dtype of the fitted image, or null
      }
    }

Later feature options (colour space, channel weights, normalisation, spatial
weight, smoothing, ...) go into ``"features"`` as optional fields, and are written
only when they differ from their default (the behaviour of schema 1), so a model
that does not use them stays readable by older versions. Loading is strict: a field
this version does not know is refused rather than ignored, because it may change how
pixels become features; so is a file of a newer schema, a wrong type, a non-finite
number or an inconsistent shape.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import _engine, _features

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
_TOP_OPTIONAL = ("cluster_names",)
_FEATURES_REQUIRED = ("layout", "dtype")
_LAYOUT_REQUIRED = ("channel_axis", "n_channels", "alpha", "rgb")


@dataclass(frozen=True, eq=False)
class KMeansModel:
    """A fitted k-means pixel classifier.

    Attributes
    ----------
    centroids : (n_clusters, n_features) ndarray of float64
        Row ``i - 1`` is the centre of cluster (label) ``i``, in feature units (the
        image's own values per channel).
    layout : Layout
        Channel layout of the images the model applies to (channel axis, number of
        channels, alpha).
    dtype : str, optional
        Name of the dtype of the image the model was fitted on (``"uint8"``, ...),
        recorded so that one can tell which images the centroids' units fit; None
        when unknown.
    cluster_names : tuple of str, optional
        One name per cluster (for label ``i``: ``cluster_names[i - 1]``), or None.

    Raises
    ------
    ValueError
        If the centroids are not a finite 2D array with one column per channel of the
        layout, or ``cluster_names`` does not hold one string per cluster.
    """

    centroids: np.ndarray
    layout: _features.Layout
    dtype: str | None = None
    cluster_names: tuple[str, ...] | None = None

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
        if C.shape[1] != self.layout.n_channels:
            raise ValueError(
                f"centroids have {C.shape[1]} features per cluster but the layout has "
                f"{self.layout.n_channels} channels"
            )
        object.__setattr__(self, "centroids", C)
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
            if len(names) != C.shape[0]:
                raise ValueError(
                    f"cluster_names has {len(names)} names for {C.shape[0]} clusters"
                )
            object.__setattr__(self, "cluster_names", tuple(names))

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return self.centroids.shape[0]

    @property
    def n_features(self) -> int:
        """Number of features per pixel."""
        return self.centroids.shape[1]

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

    def _pixels(
        self, image, mask=None
    ) -> tuple[np.ndarray, np.ndarray | None, _features.Layout]:
        """The pixel matrix of ``image`` in the model's feature space, the mask of
        pixels to label (None for all) and the image's layout."""
        arr = _features.check_image(image)
        layout = self.layout_for(arr.shape)
        X, keep = _features.to_pixels(arr, layout, mask)
        return X, keep, layout

    def predict(self, image, *, mask=None) -> np.ndarray:
        """Label each pixel of ``image`` with its nearest centroid.

        Parameters
        ----------
        image : ndarray
            An image of the same kind as the one fitted: same channel layout and
            number of channels; any spatial shape.
        mask : ndarray of bool, optional
            Pixels to label, shaped like the image without its channel axis.

        Returns
        -------
        labels : ndarray of uint8
            The image's shape without the channel axis; 0 where not labelled (masked,
            transparent, NaN), else 1..n_clusters.

        Raises
        ------
        ValueError
            If the image does not have the model's number of channels.

        Examples
        --------
        >>> from skimage import data
        >>> from napari_kmeans_seg import segment
        >>> model = segment(data.astronaut(), 3).model
        >>> model.predict(data.coffee()).shape
        (400, 600)
        """
        arr = _features.check_image(image)
        X, keep, layout = self._pixels(arr, mask)
        labels = _engine.predict(X, self.centroids, mask=keep)
        return labels.reshape(layout.spatial_shape(arr.shape))

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
        from . import __version__

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
        out["features"] = {
            "layout": {
                "channel_axis": L.channel_axis,
                "n_channels": L.n_channels,
                "alpha": L.alpha,
                "rgb": L.rgb,
            },
            "dtype": self.dtype,
        }
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
            from . import __version__

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
        if C.shape != (k, d):
            raise ValueError(
                f"field 'centroids' has shape {C.shape}, but n_clusters={k} and "
                f"n_features={d} make ({k}, {d})"
            )

        features = data["features"]
        if not isinstance(features, dict):
            raise ValueError(
                f"field 'features' must be an object, not {type(features).__name__}"
            )
        _check_keys(features, _FEATURES_REQUIRED, (), "'features'", written_by)
        layout = _layout_from_json(features["layout"], written_by)
        if layout.n_channels != d:
            raise ValueError(
                f"the layout has {layout.n_channels} channels but the model has "
                f"n_features={d}"
            )
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
