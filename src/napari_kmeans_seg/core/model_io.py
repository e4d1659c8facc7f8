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
      "mixture": {                             # optional: a Gaussian mixture,
        "covariance_type": "full",             #   "full" or "diag"; its means
        "weights": [0.2, ...],                 #   are the centroids; weights sum
        "covariances": [[[...], ...], ...]     #   to 1; n_clusters d×d matrices
      },
      "features": {                            # how an image becomes features
        "layout": {"channel_axis": 2, "n_channels": 3, "alpha": false,
                   "rgb": true},
        "dtype": "uint8",                      # dtype of the fitted image, or null
        "color_space": "lab",                  # optional: "rgb", "hsv" or "lab"
        "color_features": ["hue", "L*"],       # optional, not with "color_space":
                                               #   channels of several colour spaces
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
one row per entry of the map. ``"mixture"`` (a Gaussian mixture,
``segment(..., mixture=...)``) makes pixels labelled by their most probable
component; older versions refuse such a file rather than read it as k-means.

Loading is safe and strict: only a regular file of at most :data:`MAX_FILE_BYTES`
is read (a FIFO, a device or a directory is refused without reading), JSON nested
deeper than :data:`MAX_DEPTH` is refused, and every failure is a ``ValueError``
naming the file. Loading is strict: a field this version does not know is refused
rather than ignored, because it may change how pixels become features; so is a
file of a newer schema, a wrong type, a non-finite number, a centroid of magnitude
above :data:`MAX_CENTROID` or an
inconsistent shape.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from . import features as _features
from . import options as _options
from .version import __version__

#: largest model file read, in bytes (a model of 254 clusters of 100 features
#: takes well under 1 MB)
MAX_FILE_BYTES = 16 * 2**20
#: deepest nesting of JSON arrays and objects in a model file (a model needs 4)
MAX_DEPTH = 16
#: largest magnitude of a centroid value: squared distances to pixels must stay
#: finite in float64
MAX_CENTROID = 1e150

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
_TOP_OPTIONAL = ("cluster_names", "label_map", "mixture")
_MIXTURE_REQUIRED = ("covariance_type", "weights", "covariances")
_FEATURES_REQUIRED = ("layout", "dtype")
_FEATURES_OPTIONAL = _options.FEATURE_NAMES
_NORMALIZE_REQUIRED = ("mean", "std")
_LAYOUT_REQUIRED = ("channel_axis", "n_channels", "alpha", "rgb")


# ------------------------------------------------------------------ files


def read_model_file(path: str | os.PathLike) -> dict:
    """The parsed JSON of a model file, read safely.

    Raises
    ------
    ValueError
        If the path is not a regular file (a FIFO, a device, a directory), is
        larger than :data:`MAX_FILE_BYTES`, is not UTF-8 JSON, or nests deeper
        than :data:`MAX_DEPTH`; the message names the file.
    OSError
        If the file does not exist or cannot be read.
    """
    path = Path(path)
    # O_NONBLOCK: opening a FIFO must not wait for a writer
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path.name}: not a regular file; a model is a JSON file")
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(
                f"{path.name}: {info.st_size} bytes, larger than a model file can be "
                f"({MAX_FILE_BYTES} bytes)"
            )
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"{path.name}: larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
        _check_depth(text)
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError as err:
        raise ValueError(f"{path.name}: not a valid model file: {err}") from None


def _check_depth(text: str) -> None:
    """Refuse JSON nested deeper than :data:`MAX_DEPTH` before parsing it (the
    parser recurses once per level). Brackets inside strings are skipped."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(
                    f"JSON nested deeper than {MAX_DEPTH} levels; a model needs 4"
                )
        elif ch in "]}":
            depth -= 1


def file_name(path: str | os.PathLike) -> Path:
    """``path`` as the name of a file to write, or an ``IsADirectoryError`` when
    it names a folder: it ends with a separator (which :class:`~pathlib.Path`
    would drop), or is an existing folder or a link to one."""
    given = os.fsdecode(os.fspath(path))
    target = Path(given)
    separators = tuple(sep for sep in (os.sep, os.altsep) if sep)
    if given.endswith(separators) or target.name in ("", "..") or target.is_dir():
        raise IsADirectoryError(
            f"{given!r} is a folder; give a file name, e.g. "
            f"{str(target / 'model.json')!r}"
        )
    return target


def file_to_write(path: str | os.PathLike) -> Path:
    """``path`` as a file to write now, or a clear error.

    Raises
    ------
    IsADirectoryError
        If ``path`` names a folder (see :func:`file_name`).
    FileNotFoundError
        If the folder it would be written in does not exist.
    """
    target = file_name(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {str(target)!r}: the folder {str(target.parent)!r} does "
            "not exist; create it first or choose another path"
        )
    return target


def write_model_file(path: str | os.PathLike, data: dict) -> Path:
    """Write ``data`` as JSON to ``path``, whole or not at all (a temporary file
    in the same folder, then renamed); see :func:`file_to_write`."""
    path = file_to_write(path)
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# ------------------------------------------------------------------ dicts


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
            if abs(value) > MAX_CENTROID:
                raise ValueError(
                    f"field 'centroids': row {i} holds {value!r}; centroid values "
                    f"must be at most {MAX_CENTROID:.0e} in magnitude (squared "
                    "distances would overflow)"
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


def check_label_map(label_map, n_centroids: int) -> np.ndarray:
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
    _options.check_n_clusters(n)
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


def _finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _options_from_json(
    features: dict, layout: _features.Layout, written_by: str
) -> _options.FeatureOptions:
    """The feature options of a model file's ``"features"`` (absent: default),
    checked by the same functions as :func:`segment`'s options: the messages are
    :func:`segment`'s, after the field's name."""
    kwargs: dict[str, Any] = {}
    if "color_space" in features:
        kwargs["color_space"] = _field(
            "color_space", _options.check_color_space, features["color_space"], layout
        )
    if "color_features" in features:
        kwargs["color_features"] = _color_features_from_json(
            features["color_features"], kwargs.get("color_space", "rgb"), layout
        )
    n = _options.FeatureOptions(**kwargs).n_channel_features(layout)
    if "channel_weights" in features:
        kwargs["channel_weights"] = _field(
            "channel_weights",
            _options.check_channel_weights,
            features["channel_weights"],
            n,
        )
    if "normalize" in features:
        kwargs.update(_normalize_from_json(features["normalize"], n, written_by))
    if ("spatial_weight" in features) != ("scale" in features):
        raise ValueError(
            "fields 'features.spatial_weight' and 'features.scale' go together"
        )
    if "spatial_weight" in features:
        kwargs["spatial_weight"] = _field(
            "spatial_weight", _positive, features["spatial_weight"], "spatial_weight"
        )
        scale = features["scale"]
        if not isinstance(scale, list) or not scale:
            raise ValueError(
                "field 'features.scale': scale must be a non-empty list of pixel "
                f"sizes, got {scale!r}"
            )
        kwargs["scale"] = _field("scale", _options.check_scale, scale, len(scale))
    if "smoothing" in features:
        kwargs["smoothing"] = _field(
            "smoothing", _positive, features["smoothing"], "smoothing"
        )
    return _options.FeatureOptions(**kwargs)


def _color_features_from_json(value, color_space: str, layout):
    """The colour features of a model file: a list of names as :func:`segment`
    takes them (red, green and blue alone: None, the default features)."""
    if not isinstance(value, list):
        raise ValueError(
            f"field 'features.color_features' must be a list of names, got {value!r}"
        )
    return _field(
        "color_features", _options.color_features_for, value, color_space, layout
    )


def _field(name: str, check, *args):
    """``check(*args)``, its error prefixed with the field's name."""
    try:
        return check(*args)
    except ValueError as err:
        raise ValueError(f"field 'features.{name}': {err}") from None


def _positive(value, name: str) -> float:
    """A finite number > 0 (an option written only when not 0)."""
    value = _options.check_nonnegative(value, name)
    if value == 0:
        raise ValueError(f"{name} must be > 0 in a model file (leave it out for 0)")
    return value


def _normalize_from_json(norm, n: int, written_by: str) -> dict[str, Any]:
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
    return {"normalize": True, "norm_mean": mean, "norm_std": std}


def check_dtype_name(name) -> str:
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


def model_to_dict(model) -> dict[str, Any]:
    """The content of a model file for ``model`` (a ``KMeansModel``)."""
    out: dict[str, Any] = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "napari_kmeans_seg_version": __version__,
        "n_clusters": model.n_clusters,
        "n_features": model.n_features,
        "centroids": model.centroids.tolist(),
    }
    if model.cluster_names is not None:
        out["cluster_names"] = list(model.cluster_names)
    if model.label_map is not None:
        out["label_map"] = model.label_map.tolist()
    if model.mixture is not None:
        out["mixture"] = {
            "covariance_type": model.mixture.covariance_type,
            "weights": model.mixture.weights.tolist(),
            "covariances": model.mixture.covariances.tolist(),
        }
    out["features"] = _features_to_json(model.layout, model.dtype, model.options)
    return out


def _features_to_json(layout, dtype, o) -> dict[str, Any]:
    """The ``"features"`` object: the options only where they differ from the
    defaults (files that do not use them stay readable by older versions)."""
    features: dict[str, Any] = {
        "layout": {
            "channel_axis": layout.channel_axis,
            "n_channels": layout.n_channels,
            "alpha": layout.alpha,
            "rgb": layout.rgb,
        },
        "dtype": dtype,
    }
    if o.color_space != "rgb":
        features["color_space"] = o.color_space
    if o.color_features is not None:
        features["color_features"] = list(o.color_features)
    if o.channel_weights is not None:
        features["channel_weights"] = list(o.channel_weights)
    if o.normalize:
        features["normalize"] = {"mean": list(o.norm_mean), "std": list(o.norm_std)}
    if o.spatial_weight > 0:
        features["spatial_weight"] = o.spatial_weight
        features["scale"] = list(o.scale)
    if o.smoothing > 0:
        features["smoothing"] = o.smoothing
    return features


def model_fields_from_dict(data: Any) -> dict[str, Any]:
    """The keyword arguments of ``KMeansModel`` from a model file's content,
    every field validated (see :meth:`KMeansModel.from_dict`)."""
    written_by = _check_header(data)
    _check_keys(data, _TOP_REQUIRED, _TOP_OPTIONAL, "the model", written_by)
    k = data["n_clusters"]
    if not _is_int(k):
        raise ValueError(f"field 'n_clusters' must be an integer, got {k!r}")
    d = data["n_features"]
    if not _is_int(d) or d < 1:
        raise ValueError(f"field 'n_features' must be a positive integer, got {d!r}")
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
    layout, options, dtype = _features_from_json(data["features"], d, written_by)
    names = data.get("cluster_names")
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(n, str) for n in names)
    ):
        raise ValueError(
            f"field 'cluster_names' must be a list of strings, got {names!r}"
        )
    mixture = data.get("mixture")
    if mixture is not None:
        mixture = _mixture_from_json(mixture, k, d, written_by)
    return {
        "centroids": C,
        "layout": layout,
        "dtype": dtype,
        "cluster_names": None if names is None else tuple(names),
        "options": options,
        "label_map": label_map,
        "mixture": mixture,
    }


def _mixture_from_json(obj, k: int, d: int, written_by: str):
    """The ``"mixture"`` object as a ``GaussianMixtureParams``."""
    from .mixture import GaussianMixtureParams

    if not isinstance(obj, dict):
        raise ValueError(f"field 'mixture' must be an object, not {type(obj).__name__}")
    _check_keys(obj, _MIXTURE_REQUIRED, (), "'mixture'", written_by)
    weights = _numbers_from_json(obj["weights"], "mixture.weights", k)
    covs = obj["covariances"]
    if not isinstance(covs, list) or len(covs) != k:
        raise ValueError(f"field 'mixture.covariances' must be a list of {k} matrices")
    rows = []
    for c, matrix in enumerate(covs):
        if not isinstance(matrix, list) or len(matrix) != d:
            raise ValueError(
                f"field 'mixture.covariances': matrix {c} must be a list of {d} rows"
            )
        rows.append(
            [_numbers_from_json(row, f"mixture.covariances[{c}]", d) for row in matrix]
        )
    try:
        return GaussianMixtureParams(
            np.array(weights), np.array(rows), obj["covariance_type"]
        )
    except ValueError as err:
        raise ValueError(f"field 'mixture': {err}") from None


def _check_header(data: Any) -> str:
    """Check the format and schema version; the version that wrote the file."""
    if not isinstance(data, dict):
        raise ValueError(f"a model must be a JSON object, not {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise ValueError(
            f"not a napari-kmeans-seg model: the field 'format' must be {FORMAT!r}"
            f", got {data.get('format')!r}"
        )
    written_by = data.get("napari_kmeans_seg_version")
    if not isinstance(written_by, str):
        raise ValueError(
            f"field 'napari_kmeans_seg_version' must be a string, got {written_by!r}"
        )
    version = data.get("schema_version")
    if not _is_int(version):
        raise ValueError(f"field 'schema_version' must be an integer, got {version!r}")
    if version != SCHEMA_VERSION:
        newer = version > SCHEMA_VERSION
        raise ValueError(
            f"unsupported model schema_version {version} (written by "
            f"napari-kmeans-seg {written_by}); this version ({__version__}) reads "
            f"schema_version {SCHEMA_VERSION}"
            + ("; upgrade napari-kmeans-seg to load it" if newer else "")
        )
    return written_by


def _features_from_json(features: Any, d: int, written_by: str) -> tuple:
    """The layout, feature options and dtype name of ``"features"``."""
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
            check_dtype_name(dtype)
        except ValueError as err:
            raise ValueError(f"field 'features.dtype': {err}") from None
    return layout, options, dtype
