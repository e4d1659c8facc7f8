"""Image → pixel matrix → feature matrix, with clear errors.

The pixel matrix follows the channel layout, alpha and mask (:func:`to_pixels`).
The feature options (:class:`FeatureOptions`: colour space, channel weights,
normalisation, pixel coordinates, smoothing) turn it into what k-means clusters
(:func:`build_features`).

No napari and no Qt here (scikit-image and scipy are imported only when an option
needs them). Nothing is copied unless the layout or an option demands it: with
default options the features are a view of the image whenever numpy can express
them as one; any option costs a float32 feature matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

#: largest number of clusters (labels are stored as uint8; 0 means "not clustered")
MAX_CLUSTERS = 254


@dataclass(frozen=True)
class Layout:
    """How an image's pixels become feature vectors.

    Attributes
    ----------
    channel_axis : int or None
        Axis of the image holding the channels (non-negative), or None for a
        single-channel image.
    n_channels : int
        Number of channels clustered (alpha excluded).
    alpha : bool
        The last channel is an alpha channel: not clustered, and pixels with alpha 0
        are left out (label 0).
    rgb : bool
        The image is RGB(A) with the colour channels last.
    """

    channel_axis: int | None
    n_channels: int
    alpha: bool = False
    rgb: bool = False

    def spatial_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The image shape without the channel axis."""
        if self.channel_axis is None:
            return tuple(shape)
        return tuple(s for i, s in enumerate(shape) if i != self.channel_axis)

    def expand(self, spatial: np.ndarray) -> np.ndarray:
        """A spatial array with a length-1 channel axis, to broadcast over channels."""
        if self.channel_axis is None:
            return spatial
        return np.expand_dims(spatial, self.channel_axis)


def check_image(image) -> np.ndarray:
    """``image`` as an ndarray of a real numeric dtype, or a clear ``ValueError``."""
    arr = image if isinstance(image, np.ndarray) else np.asarray(image)
    check_array(arr)
    return arr


def check_array(arr) -> None:
    """A clear ``ValueError`` unless ``arr`` (anything with ``shape`` and ``dtype``,
    e.g. a dask array, whose values are not read) can be clustered: a real numeric
    dtype, not empty, at least 2 dimensions."""
    if arr.dtype.kind == "c":
        raise ValueError(
            "complex images cannot be clustered; pass np.abs(image) or image.real"
        )
    if arr.dtype.kind not in "biuf":
        raise ValueError(
            f"images of dtype {arr.dtype} cannot be clustered; pass a numeric array"
        )
    if arr.size == 0:
        raise ValueError(f"the image is empty (shape {arr.shape})")
    if arr.ndim < 2:
        raise ValueError(
            f"the image must have at least 2 dimensions, got shape {arr.shape}; "
            "for a single row use image[np.newaxis]"
        )


def guess_layout(
    shape: tuple[int, ...], *, channel_axis: int | None, rgb: bool | None
) -> Layout:
    """Decide the channel layout, as napari does.

    With ``channel_axis`` given, that axis holds the channels. Otherwise an image of
    3 or more dimensions whose last axis has length 3 or 4 is RGB or RGBA (unless
    ``rgb=False``); anything else is single-channel.
    """
    ndim = len(shape)
    if channel_axis is not None:
        if isinstance(channel_axis, bool) or not isinstance(
            channel_axis, int | np.integer
        ):
            raise ValueError(
                f"channel_axis must be an integer or None, not {channel_axis!r}"
            )
        if not -ndim <= channel_axis < ndim:
            raise ValueError(
                f"channel_axis={channel_axis} is out of range for an image with "
                f"{ndim} dimensions (shape {shape})"
            )
        if ndim < 3:
            raise ValueError(
                f"an image with a channel axis needs at least 3 dimensions, got shape "
                f"{shape}"
            )
        axis = int(channel_axis) % ndim
        is_rgb = bool(rgb) and axis == ndim - 1 and shape[axis] in (3, 4)
        return Layout(axis, shape[axis], rgb=is_rgb)
    if rgb is None:
        rgb = ndim >= 3 and shape[-1] in (3, 4)
    if rgb:
        if ndim < 3 or shape[-1] not in (3, 4):
            raise ValueError(
                f"an RGB(A) image needs a last axis of length 3 or 4, got shape {shape}"
            )
        return Layout(ndim - 1, 3, alpha=shape[-1] == 4, rgb=True)
    return Layout(None, 1)


def to_pixels(
    image: np.ndarray, layout: Layout, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The pixel matrix ``(n_pixels, n_channels)`` (a view where possible) and the
    mask of pixels to cluster (None for all), in C order of the spatial axes."""
    spatial = layout.spatial_shape(image.shape)
    if layout.channel_axis is None:
        X = image.reshape(-1, 1)
    else:
        X = np.moveaxis(image, layout.channel_axis, -1).reshape(
            -1, image.shape[layout.channel_axis]
        )
    keep = None
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != spatial:
            raise ValueError(
                f"mask shape {mask.shape} does not match the image's spatial shape "
                f"{spatial}"
            )
        keep = mask.astype(bool, copy=False).reshape(-1)
    if layout.alpha:
        opaque = X[:, 3] != 0
        keep = opaque if keep is None else keep & opaque
        X = X[:, :3]
    return X, keep


def check_n_clusters(n_clusters) -> int:
    """``n_clusters`` as an int in [2, MAX_CLUSTERS], or a clear ``ValueError``."""
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, int | np.integer):
        raise ValueError(f"n_clusters must be an integer, not {n_clusters!r}")
    if not 2 <= n_clusters <= MAX_CLUSTERS:
        raise ValueError(
            f"n_clusters must be between 2 and {MAX_CLUSTERS}, got {n_clusters}"
        )
    return int(n_clusters)


# ------------------------------------------------------------------ feature options

#: colour spaces an RGB(A) image can be clustered in
COLOR_SPACES = ("rgb", "hsv", "lab")
#: rows converted at a time (bounds the temporaries of colour conversion)
_CHUNK = 1 << 18


@dataclass(frozen=True)
class FeatureOptions:
    """How the channel values of a pixel become the features k-means sees.

    All defaults (:attr:`is_default`) mean the features are the raw channel values,
    a view of the image. Anything else builds a float32 feature matrix
    ``(n_pixels, n_features)``: the channel features (the colour space's three for
    RGB, else one per channel), optionally smoothed, normalised and weighted, then
    the weighted pixel coordinates.

    Attributes
    ----------
    color_space : {"rgb", "hsv", "lab"}
        Colour space of an RGB(A) image's features: the values as they are; the
        HSV cone ``(s·v·cos 2πh, s·v·sin 2πh, v)`` (hue as an angle); or CIE
        L*a*b*. HSV and L*a*b* are computed on values scaled to [0, 1] by dtype.
    channel_weights : tuple of float, optional
        Factor of each channel feature (None: all 1). A weight of 0 leaves the
        feature out of the clustering.
    normalize : bool
        Whether each channel feature is shifted by :attr:`norm_mean` and divided by
        :attr:`norm_std` before weighting.
    spatial_weight : float
        Factor of the pixel coordinates (in :attr:`scale` units); 0: no coordinates.
    scale : tuple of float, optional
        Size of a pixel along each spatial axis, used with ``spatial_weight > 0``
        (and then always set).
    smoothing : float
        Sigma, in pixels, of the Gaussian smoothing of the channels over the
        spatial axes; 0: none.
    norm_mean, norm_std : tuple of float, optional
        Fitted mean and standard deviation of each channel feature (set when
        ``normalize``), over the clustered pixels of the image the model was
        fitted on; reused as they are on every other image.
    """

    color_space: str = "rgb"
    channel_weights: tuple[float, ...] | None = None
    normalize: bool = False
    spatial_weight: float = 0.0
    scale: tuple[float, ...] | None = None
    smoothing: float = 0.0
    norm_mean: tuple[float, ...] | None = None
    norm_std: tuple[float, ...] | None = None

    @property
    def is_default(self) -> bool:
        """True when the features are the raw channel values (no copy)."""
        return (
            self.color_space == "rgb"
            and self.channel_weights is None
            and not self.normalize
            and self.spatial_weight == 0
            and self.smoothing == 0
        )

    @property
    def n_spatial(self) -> int:
        """Number of coordinate features (0 without ``spatial_weight``)."""
        return len(self.scale) if self.spatial_weight > 0 and self.scale else 0

    @property
    def fitted(self) -> bool:
        """False while normalisation statistics still have to be fitted."""
        return not self.normalize or self.norm_mean is not None

    def weights(self, n_channels: int) -> np.ndarray:
        """The channel weights as an array (ones when None)."""
        if self.channel_weights is None:
            return np.ones(n_channels)
        return np.asarray(self.channel_weights, dtype=np.float64)

    def check(self, layout: Layout) -> None:
        """Check that the options fit each other and ``layout``.

        Raises
        ------
        ValueError
            If an option is out of range or contradicts another or the layout.
        """
        check_color_space(self.color_space, layout)
        n = layout.n_channels
        if self.channel_weights is not None:
            check_channel_weights(self.channel_weights, n)
        if not isinstance(self.normalize, bool):
            raise ValueError(f"normalize must be True or False, not {self.normalize!r}")
        check_nonnegative(self.spatial_weight, "spatial_weight")
        check_nonnegative(self.smoothing, "smoothing")
        if self.spatial_weight > 0:
            if self.scale is None:
                raise ValueError("spatial_weight > 0 needs the pixel scale")
            check_scale(self.scale, len(self.scale))
        elif self.scale is not None:
            raise ValueError("scale is only kept with spatial_weight > 0")
        stats = (self.norm_mean, self.norm_std)
        if not self.normalize:
            if stats != (None, None):
                raise ValueError("norm_mean and norm_std go with normalize=True only")
        elif stats.count(None) == 1:
            raise ValueError("norm_mean and norm_std are set together")
        elif None not in stats:
            for name, values in zip(("norm_mean", "norm_std"), stats, strict=True):
                if len(values) != n or not all(
                    _is_real(v) and np.isfinite(v) for v in values
                ):
                    raise ValueError(f"{name} must hold {n} finite numbers")
            if min(self.norm_std) <= 0:
                raise ValueError("norm_std must be positive")


def _is_real(value) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def check_nonnegative(value, name: str) -> float:
    """``value`` as a finite float ≥ 0, or a clear ``ValueError``."""
    if not _is_real(value) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    return float(value)


def check_positive_int(value, name: str) -> int:
    """``value`` as a positive int, or a clear ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def check_color_space(color_space, layout: Layout) -> str:
    """``color_space`` if it is valid for ``layout``, or a clear ``ValueError``."""
    if color_space not in COLOR_SPACES:
        raise ValueError(
            f"color_space must be one of {COLOR_SPACES}, not {color_space!r}"
        )
    if color_space != "rgb" and not layout.rgb:
        kind = (
            "single-channel"
            if layout.channel_axis is None
            else f"a {layout.n_channels}-channel image (channel axis "
            f"{layout.channel_axis})"
        )
        raise ValueError(
            f"color_space={color_space!r} needs an RGB(A) image; this one is {kind}"
        )
    return color_space


def _sequence(value) -> list | None:
    """The items of a 1D list/tuple/array, or None for anything else."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        return None
    if np.ndim(value) != 1:
        return None
    return list(value)


def check_channel_weights(weights, n_channels: int) -> tuple[float, ...]:
    """One finite weight ≥ 0 per channel feature, not all 0, or a ``ValueError``."""
    values = _sequence(weights)
    if values is None or len(values) != n_channels:
        raise ValueError(
            f"channel_weights needs one weight per channel feature ({n_channels}), "
            f"got {weights!r}"
        )
    if not all(_is_real(w) and np.isfinite(w) and w >= 0 for w in values):
        raise ValueError(
            f"channel_weights must be finite numbers >= 0, got {weights!r}"
        )
    if not any(values):
        raise ValueError(
            "channel_weights must not all be 0: nothing would be clustered"
        )
    return tuple(float(w) for w in values)


def check_scale(scale, spatial_ndim: int) -> tuple[float, ...]:
    """One finite pixel size > 0 per spatial axis, or a clear ``ValueError``."""
    values = _sequence(scale)
    if values is None or len(values) != spatial_ndim:
        raise ValueError(
            f"scale needs one pixel size per spatial axis ({spatial_ndim}), got "
            f"{scale!r}"
        )
    if not all(_is_real(v) and np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"scale must hold finite numbers > 0, got {scale!r}")
    return tuple(float(v) for v in values)


def make_options(
    layout: Layout,
    spatial_ndim: int,
    *,
    color_space: str = "rgb",
    channel_weights=None,
    normalize: bool = False,
    spatial_weight: float = 0.0,
    scale=None,
    smoothing: float = 0.0,
) -> FeatureOptions:
    """Validated :class:`FeatureOptions` for an image of ``layout`` with
    ``spatial_ndim`` spatial axes (normalisation not fitted yet).

    Weights all equal to 1 are the same as none; ``scale`` (checked whenever given)
    is kept only with ``spatial_weight > 0``, and defaults to 1 per axis.

    Raises
    ------
    ValueError
        If an option is out of range or does not fit the image; the message names it.
    """
    check_color_space(color_space, layout)
    weights = None
    if channel_weights is not None:
        weights = check_channel_weights(channel_weights, layout.n_channels)
        if all(w == 1 for w in weights):
            weights = None
    if not isinstance(normalize, bool | np.bool_):
        raise ValueError(f"normalize must be True or False, not {normalize!r}")
    spatial_weight = check_nonnegative(spatial_weight, "spatial_weight")
    smoothing = check_nonnegative(smoothing, "smoothing")
    if scale is not None:
        scale = check_scale(scale, spatial_ndim)
    if spatial_weight > 0:
        scale = scale if scale is not None else (1.0,) * spatial_ndim
    else:
        scale = None
    return FeatureOptions(
        color_space=color_space,
        channel_weights=weights,
        normalize=bool(normalize),
        spatial_weight=spatial_weight,
        scale=scale,
        smoothing=smoothing,
    )


# --------------------------------------------------------------------- feature names

_CHANNEL_NAMES = {
    "rgb": ("R", "G", "B"),
    "hsv": ("hue_x", "hue_y", "value"),
    "lab": ("L", "a", "b"),
}


def channel_feature_names(layout: Layout, color_space: str = "rgb") -> tuple[str, ...]:
    """Names of the channel features: R, G, B / hue_x, hue_y, value / L, a, b for
    RGB, ``intensity`` for one channel, ``c0``, ``c1``, … otherwise."""
    if layout.rgb:
        return _CHANNEL_NAMES[color_space]
    if layout.channel_axis is None:
        return ("intensity",)
    return tuple(f"c{j}" for j in range(layout.n_channels))


def spatial_feature_names(ndim: int) -> tuple[str, ...]:
    """Names of the coordinate features of ``ndim`` spatial axes: …, z, y, x (axes
    before z are ``axis0``, ``axis1``, …)."""
    last = ("z", "y", "x")
    return tuple(
        last[i - ndim + 3] if i >= ndim - 3 else f"axis{i}" for i in range(ndim)
    )


def feature_names(layout: Layout, options: FeatureOptions) -> tuple[str, ...]:
    """Names of the features in which results report centroids: the channel
    features, then the coordinates (with ``spatial_weight > 0``)."""
    return channel_feature_names(layout, options.color_space) + spatial_feature_names(
        options.n_spatial
    )


def n_engine_features(layout: Layout, options: FeatureOptions) -> int:
    """Number of features k-means sees: channel features of weight > 0, then the
    coordinates."""
    active = int(np.count_nonzero(options.weights(layout.n_channels) > 0))
    return active + options.n_spatial


# ------------------------------------------------------------------ feature matrices


@dataclass(frozen=True, eq=False)
class Features:
    """The features of one image.

    Attributes
    ----------
    X : (n_pixels, n_engine_features) ndarray
        What k-means clusters: with default options, the pixel matrix itself (a
        view); otherwise float32 channel features of weight > 0 (transformed), then
        the weighted coordinates.
    keep : (n_pixels,) ndarray of bool, or None
        Pixels to cluster (mask, alpha); None for all.
    pixels : (n_pixels, n_channels) ndarray
        The image's own channel values (a view; alpha excluded), for mean colours.
    options : FeatureOptions
        The options, with fitted normalisation statistics.
    layout : Layout
        The image's channel layout.
    dropped : (n_pixels, n_dropped) ndarray of float32, or None
        Raw values of the channel features of weight 0 (not clustered).
    """

    X: np.ndarray
    keep: np.ndarray | None
    pixels: np.ndarray
    options: FeatureOptions
    layout: Layout
    dropped: np.ndarray | None = None
    #: per column of X: X = raw · a + b (float32); None with default options
    a: np.ndarray | None = None
    b: np.ndarray | None = None

    def centroids_in_units(self, centres: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Cluster centres in the reported units: channel features in the colour
        space / channel units (before normalisation and weighting), then the
        coordinates in ``scale`` units.

        Parameters
        ----------
        centres : (k, n_engine_features) ndarray
            Centres in the space of :attr:`X`.
        labels : (n_pixels,) ndarray
            Labels 0..k, for the features of weight 0: their per-cluster means
            (NaN for a cluster without pixels).
        """
        if self.a is None:
            return centres
        dropped = None
        if self.dropped is not None:
            dropped = label_means(self.dropped, labels, centres.shape[0])
        return centroids_in_units(centres, self.layout, self.options, dropped)

    def channel_means(self, labels: np.ndarray, k: int) -> np.ndarray:
        """Per-cluster mean of each image channel, in the image's units."""
        return label_means(self.pixels, labels, k)


def centroids_in_units(
    centres: np.ndarray,
    layout: Layout,
    options: FeatureOptions,
    dropped_means: np.ndarray | None = None,
) -> np.ndarray:
    """Cluster centres ``(k, n_engine_features)`` in the space k-means saw, in the
    reported units (see :meth:`Features.centroids_in_units`); ``dropped_means``:
    each cluster's mean of the channel features of weight 0 (``(k, n_dropped)``),
    or None when there are none."""
    if options.is_default:
        return centres
    k = centres.shape[0]
    n = layout.n_channels
    w = options.weights(n)
    active, dropped = np.flatnonzero(w > 0), np.flatnonzero(w == 0)
    a, b = _affine(options, n, active.size + options.n_spatial)
    units = (centres - b.astype(np.float64)) / a.astype(np.float64)
    out = np.empty((k, n + options.n_spatial))
    out[:, active] = units[:, : active.size]
    out[:, n:] = units[:, active.size :]
    if dropped.size:
        out[:, dropped] = dropped_means
    return out


def _affine(
    options: FeatureOptions, n_channels: int, n_columns: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per feature column: ``feature = raw · a + b`` (float32), from the weights,
    the fitted normalisation and the spatial weight."""
    w = options.weights(n_channels)
    active = np.flatnonzero(w > 0)
    a = np.ones(n_columns)
    b = np.zeros(n_columns)
    a[: active.size] = w[active]
    if options.normalize:
        mu = np.asarray(options.norm_mean)[active]
        sd = np.asarray(options.norm_std)[active]
        a[: active.size] = w[active] / sd
        b[: active.size] = -mu * w[active] / sd
    a[active.size :] = options.spatial_weight
    return a.astype(np.float32), b.astype(np.float32)


def label_sums(A: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """``(k, A.shape[1])`` sum (float64) of the rows of ``A`` with each label 1..k
    (rows labelled 0 are ignored)."""
    out = np.empty((k, A.shape[1]))
    for j in range(A.shape[1]):
        out[:, j] = np.bincount(labels, weights=A[:, j], minlength=k + 1)[1 : k + 1]
    return out


def label_means(A: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """``(k, A.shape[1])`` mean of the rows of ``A`` with each label 1..k (rows
    labelled 0 are ignored; NaN for a label without rows)."""
    counts = np.bincount(labels, minlength=k + 1)[1 : k + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return label_sums(A, labels, k) / counts[:, None]


def build_features(
    image: np.ndarray,
    layout: Layout,
    mask: np.ndarray | None,
    options: FeatureOptions,
    *,
    origin: tuple[int, ...] | None = None,
    step: tuple[int, ...] | None = None,
) -> Features:
    """The features of ``image`` under ``options``.

    ``origin`` and ``step`` say where ``image`` lies in a larger image it was cut
    from (``big[origin[0]::step[0], …]``, per spatial axis; default 0 and 1): the
    coordinate features are those of the larger image, exactly.

    With default options the pixel matrix is returned as it is (a view, no copy).
    Otherwise a float32 matrix is built: about ``4 · n_pixels · n_features`` bytes,
    plus, with smoothing, a float32 copy of the channels (``4 · n_pixels ·
    n_channels``), and the colour conversion works on bounded chunks. When
    ``options.normalize`` has no fitted statistics yet, they are fitted here, on the
    pixels to cluster.

    Raises
    ------
    ValueError
        If the mask does not fit, or the options' coordinates do not fit the
        image's number of spatial axes.
    """
    X, keep = to_pixels(image, layout, mask)
    if options.is_default:
        return Features(X, keep, X, options, layout)
    spatial = layout.spatial_shape(image.shape)
    n_sp = options.n_spatial
    if n_sp and n_sp != len(spatial):
        raise ValueError(
            f"the features use the pixel coordinates of images with {n_sp} spatial "
            f"axes (spatial_weight > 0); this image has {len(spatial)} (shape "
            f"{image.shape})"
        )
    n, c = X.shape[0], layout.n_channels
    w = options.weights(c)
    active, dropped = np.flatnonzero(w > 0), np.flatnonzero(w == 0)
    D = np.empty((n, dropped.size), np.float32) if dropped.size else None
    src = X if options.smoothing == 0 else _smoothed(image, layout, keep, options)
    if src is not X and options.color_space == "rgb" and D is None and not n_sp:
        E = src  # the smoothed copy is the feature matrix: no second copy
    else:
        E = np.empty((n, active.size + n_sp), np.float32)
        _channel_features(src, image.dtype, options.color_space, E, D, active, dropped)
    if D is not None and image.dtype.kind == "f":  # a NaN pixel is left out whole
        E[~np.isfinite(D).all(axis=1), 0] = np.nan
    if n_sp:
        grid = E.reshape(*spatial, E.shape[1])
        origin = origin or (0,) * len(spatial)
        step = step or (1,) * len(spatial)
        for axis, size in enumerate(spatial):
            shape = [1] * len(spatial)
            shape[axis] = size
            index = origin[axis] + np.arange(size) * step[axis]
            coords = (index * options.scale[axis]).astype(np.float32).reshape(shape)
            grid[..., active.size + axis] = coords
    if options.normalize and options.norm_mean is None:
        mean, std = _channel_stats(
            E[:, : active.size],
            D,
            keep,
            active,
            dropped,
            c,
            check_finite=image.dtype.kind == "f",
        )
        options = replace(options, norm_mean=mean, norm_std=std)
    a, b = _affine(options, c, E.shape[1])
    for j in range(E.shape[1]):
        col = E[:, j]
        if a[j] != 1:
            np.multiply(col, a[j], out=col)
        if b[j] != 0:
            np.add(col, b[j], out=col)
    return Features(E, keep, X, options, layout, D, a, b)


def _unit_scale(dtype: np.dtype) -> float:
    """What 1.0 (full intensity) is in ``dtype``: its maximum for integers, 1 for
    bool and floats."""
    if dtype.kind in "iu":
        return float(np.iinfo(dtype).max)
    return 1.0


def _channel_features(src, dtype, color_space, E, D, active, dropped) -> None:
    """Write the channel features of the pixel rows ``src`` (active ones into the
    first columns of ``E``, those of weight 0 into ``D``), a chunk at a time.

    A large 8-bit colour image is converted through its distinct colours (a
    photo has far fewer than pixels): each is converted once, and the pixels
    look their features up; the values are those of the direct conversion."""
    n = src.shape[0]
    unit = _unit_scale(np.dtype(dtype))
    lookup = None
    if color_space != "rgb" and src.dtype == np.uint8 and n >= _LUT_MIN_PIXELS:
        lookup = _colour_lookup(src, color_space)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        block = src[start:stop]
        if color_space == "rgb":
            values = block
        elif lookup is not None:
            index, table = lookup
            values = table[index[_colour_codes(block)]]
        else:
            values = _convert(block.astype(np.float64) / unit, color_space)
        E[start:stop, : active.size] = values[:, active]
        if D is not None:
            D[start:stop] = values[:, dropped]


#: 8-bit colour images of at least this many pixels convert their distinct colours
_LUT_MIN_PIXELS = 1 << 20


def _colour_codes(block: np.ndarray) -> np.ndarray:
    """24-bit codes ``r·2¹⁶ + g·2⁸ + b`` of uint8 RGB rows."""
    codes = block[:, 0].astype(np.int32) << 16
    codes |= block[:, 1].astype(np.int32) << 8
    codes |= block[:, 2]
    return codes


def _colour_lookup(src: np.ndarray, color_space: str) -> tuple[np.ndarray, np.ndarray]:
    """For uint8 RGB rows: an index from colour code to row of a table holding the
    converted features of each colour present (64 MiB of index, whatever the
    image's size)."""
    present = np.zeros(1 << 24, np.bool_)
    for start in range(0, src.shape[0], _CHUNK):
        present[_colour_codes(src[start : start + _CHUNK])] = True
    codes = np.flatnonzero(present)
    del present
    rgb = np.stack([codes >> 16, (codes >> 8) & 255, codes & 255], axis=1)
    table = np.empty((codes.size, 3))
    for start in range(0, codes.size, _CHUNK):
        block = rgb[start : start + _CHUNK].astype(np.float64) / 255.0
        table[start : start + _CHUNK] = _convert(block, color_space)
    index = np.zeros(1 << 24, np.int32)
    index[codes] = np.arange(codes.size, dtype=np.int32)
    return index, table


def _convert(rgb: np.ndarray, color_space: str) -> np.ndarray:
    """``(m, 3)`` RGB in [0, 1] → HSV cone coordinates or CIE L*a*b* (float64);
    rows with a non-finite value stay NaN."""
    from skimage.color import rgb2hsv, rgb2lab

    bad = ~np.isfinite(rgb).all(axis=1)
    if bad.any():
        rgb = rgb.copy()
        rgb[bad] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        if color_space == "hsv":
            h, s, v = rgb2hsv(rgb).T
            chroma = s * v
            angle = 2 * np.pi * h
            out = np.stack([chroma * np.cos(angle), chroma * np.sin(angle), v], axis=1)
        else:
            out = rgb2lab(rgb)
    out[bad] = np.nan
    return out


def _smoothed(
    image: np.ndarray, layout: Layout, keep: np.ndarray | None, options: FeatureOptions
) -> np.ndarray:
    """The channels smoothed by a Gaussian of sigma ``options.smoothing`` pixels over
    the spatial axes, as a float32 ``(n_pixels, n_channels)`` copy.

    Only the pixels to cluster (finite, opaque, inside the mask) are averaged, by
    normalised convolution, so that what is left out does not bleed into the
    features; non-finite pixels stay NaN (left out)."""
    from scipy.ndimage import gaussian_filter

    if layout.channel_axis is None:
        v = np.array(image, dtype=np.float32, order="C")[..., np.newaxis]
    else:
        channels = np.moveaxis(image, layout.channel_axis, -1)[..., : layout.n_channels]
        v = np.array(channels, dtype=np.float32, order="C")
    spatial = v.shape[:-1]
    sigma = options.smoothing
    sigmas = (sigma,) * len(spatial) + (0.0,)
    finite = np.isfinite(v).all(axis=-1) if image.dtype.kind == "f" else None
    valid = None if keep is None else keep.reshape(spatial)
    if finite is not None and not finite.all():
        valid = finite if valid is None else valid & finite
    if valid is None or valid.all():
        gaussian_filter(v, sigmas, output=v)
    else:
        v[~valid] = 0.0
        gaussian_filter(v, sigmas, output=v)
        weight = gaussian_filter(valid.astype(np.float32), sigma)
        with np.errstate(invalid="ignore", divide="ignore"):
            v /= weight[..., np.newaxis]
        if finite is not None:
            v[~finite] = np.nan
    return v.reshape(-1, v.shape[-1])


def _channel_stats(E, D, keep, active, dropped, n_channels, check_finite):
    """Mean and standard deviation of each channel feature over the pixels to
    cluster (kept and, with ``check_finite``, finite): two passes per column in
    chunks, in float64. A constant feature gets a standard deviation of 1."""
    n = E.shape[0]
    columns = [E[:, i] for i in range(active.size)]
    if D is not None:
        columns += [D[:, i] for i in range(dropped.size)]
    valid = keep
    if check_finite:
        finite = np.ones(n, np.bool_)
        for col in columns:
            finite &= np.isfinite(col)
        valid = finite if valid is None else valid & finite
    if valid is not None and valid.all():
        valid = None
    count = n if valid is None else int(np.count_nonzero(valid))
    if count == 0:
        raise ValueError("there is no pixel to cluster (all are masked or NaN)")

    def chunks(col):
        for start in range(0, n, _CHUNK):
            x = col[start : start + _CHUNK]
            yield x if valid is None else x[valid[start : start + _CHUNK]]

    mean = np.empty(len(columns))
    std = np.empty(len(columns))
    for j, col in enumerate(columns):
        mean[j] = sum(float(x.sum(dtype=np.float64)) for x in chunks(col)) / count
        sq = 0.0
        for x in chunks(col):
            dev = x.astype(np.float64) - mean[j]
            sq += float(np.dot(dev, dev))
        std[j] = np.sqrt(sq / count)
    std[~(std > 0)] = 1.0
    order = np.concatenate([active, dropped])
    m, s = np.empty(n_channels), np.empty(n_channels)
    m[order], s[order] = mean, std
    return tuple(m.tolist()), tuple(s.tolist())
