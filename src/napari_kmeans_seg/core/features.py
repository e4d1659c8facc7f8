"""Image → pixel matrix → feature matrix, with clear errors.

The pixel matrix follows the channel layout, alpha and mask (:func:`to_pixels`).
The feature options (:class:`FeatureOptions`: colour space, channel weights,
normalisation, pixel coordinates, smoothing) turn it into what k-means clusters
(:func:`build_features`).

No napari and no Qt here (scikit-image and scipy are imported only when an option
needs them). Nothing is copied unless the layout or an option demands it: with
default options the features are a view of the image whenever numpy can express
them as one; any option costs a float64 feature matrix (float32 would lose
the range, offsets and distinctness of float64 and 32-bit integer images).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import stats as _stats

# the options live in .options; these names stay importable from here
from .options import (  # noqa: F401
    COLOR_SPACES,
    MAX_CLUSTERS,
    FeatureOptions,
    Layout,
    OptionTypeError,
    check_channel_axis,
    check_channel_weights,
    check_color_space,
    check_n_clusters,
    check_nonnegative,
    check_optional_bool,
    check_positive_int,
    check_scale,
    make_options,
)
from .values import check_exact_integers


def check_image(image) -> np.ndarray:
    """``image`` as an ndarray of a real numeric dtype, or a clear ``ValueError``.

    A masked array must have been split by :func:`unmask` first (its hidden
    values would otherwise be clustered)."""
    if isinstance(image, np.ma.MaskedArray):
        raise ValueError(
            "a masked array is not taken here; pass image.data with "
            "mask=~np.ma.getmaskarray(image) (reduced over the channel axis)"
        )
    arr = image if isinstance(image, np.ndarray) else np.asarray(image)
    check_array(arr)
    return arr


def unmask(image, mask, layout_for):
    """The image's data and the checked mask of the pixels to cluster.

    For a masked array: its data and its unmasked pixels (a pixel with any
    channel masked is left out), within ``mask`` if given. Anything else is
    returned as it is, with ``mask`` checked (:func:`check_mask`).

    Parameters
    ----------
    image : array_like or numpy.ma.MaskedArray
    mask : array_like of bool, optional
        Shaped like the image without its channel axis.
    layout_for : callable
        The image's :class:`Layout` from its shape.

    Returns
    -------
    image, mask
        ``mask`` a bool ndarray of the image's spatial shape, or None.

    Raises
    ------
    OptionTypeError
        If ``mask`` is not of bool or numbers.
    ValueError
        If ``mask`` does not have the image's spatial shape.
    """
    if not isinstance(image, np.ma.MaskedArray):
        if mask is None:
            return image, None
        shape = np.shape(image)
        return image, check_mask(mask, layout_for(shape).spatial_shape(shape))
    data = np.ma.getdata(image)
    hidden = np.ma.getmaskarray(image)
    layout = layout_for(data.shape)
    if layout.channel_axis is not None:
        hidden = hidden.any(axis=layout.channel_axis)
    keep = ~hidden
    if mask is not None:
        keep &= check_mask(mask, keep.shape)
    return data, keep


def check_mask_dtype(dtype) -> None:
    """An :class:`OptionTypeError` unless a mask of ``dtype`` can be read as bool:
    bool, or numbers (nonzero: cluster the pixel)."""
    if np.dtype(dtype).kind not in "biuf":
        raise OptionTypeError(
            f"mask must be an array of bool (True for the pixels to cluster) or of "
            f"0/1 numbers, not of dtype {dtype}; convert it first, e.g. "
            "mask == 'yes' or mask.astype(bool)"
        )


def mask_shape_error(shape: tuple[int, ...], spatial: tuple[int, ...]) -> ValueError:
    """The error for a mask of ``shape`` given for an image of spatial shape
    ``spatial``."""
    spatial = tuple(spatial)
    return ValueError(
        f"mask shape {tuple(shape)} does not match the image's spatial shape "
        f"{spatial} (its shape without the channel axis); pass a bool array of "
        f"shape {spatial}, True for the pixels to cluster"
    )


def check_mask(mask, spatial: tuple[int, ...]) -> np.ndarray:
    """``mask`` as a bool ndarray (a view when it is one), or a clear error.

    Parameters
    ----------
    mask : array_like of bool or numbers
        True (nonzero) for the pixels to cluster.
    spatial : tuple of int
        The image's shape without its channel axis.

    Raises
    ------
    OptionTypeError
        If ``mask`` is not of bool or numbers (strings, objects, complex).
    ValueError
        If ``mask`` does not have the shape ``spatial``.
    """
    given = np.asarray(mask)
    check_mask_dtype(given.dtype)
    if given.shape != tuple(spatial):
        raise mask_shape_error(given.shape, spatial)
    return given.astype(bool, copy=False)


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
    channel_axis = check_channel_axis(channel_axis)
    rgb = check_optional_bool(rgb, "rgb")
    if channel_axis is not None:
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
        is_rgb = rgb is True and axis == ndim - 1 and shape[axis] in (3, 4)
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
    check_exact_integers(image)
    spatial = layout.spatial_shape(image.shape)
    if layout.channel_axis is None:
        X = image.reshape(-1, 1)
    else:
        X = np.moveaxis(image, layout.channel_axis, -1).reshape(
            -1, image.shape[layout.channel_axis]
        )
    keep = None if mask is None else check_mask(mask, spatial).reshape(-1)
    if layout.alpha:
        opaque = X[:, 3] != 0
        keep = opaque if keep is None else keep & opaque
        X = X[:, :3]
    return X, keep


# ------------------------------------------------------------------ feature options

#: rows converted at a time (bounds the temporaries of colour conversion)
_CHUNK = 1 << 18


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
    features (the colour features' columns, e.g. ``red``, ``hue cos``,
    ``hue sin``, ``L*``, when chosen), then the coordinates (with
    ``spatial_weight > 0``)."""
    channels = options.color_columns or channel_feature_names(
        layout, options.color_space
    )
    return channels + spatial_feature_names(options.n_spatial)


def n_engine_features(layout: Layout, options: FeatureOptions) -> int:
    """Number of features k-means sees: channel features of weight > 0, then the
    coordinates."""
    n = options.n_channel_features(layout)
    active = int(np.count_nonzero(options.weights(n) > 0))
    return active + options.n_spatial


# ------------------------------------------------------------------ feature matrices


@dataclass(frozen=True, eq=False)
class Features:
    """The features of one image.

    Attributes
    ----------
    X : (n_pixels, n_engine_features) ndarray
        What k-means clusters: with default options, the pixel matrix itself (a
        view); otherwise float64 channel features of weight > 0 (transformed), then
        the weighted coordinates.
    keep : (n_pixels,) ndarray of bool, or None
        Pixels to cluster (mask, alpha); None for all.
    pixels : (n_pixels, n_channels) ndarray
        The image's own channel values (a view; alpha excluded), for mean colours.
    options : FeatureOptions
        The options, with fitted normalisation statistics.
    layout : Layout
        The image's channel layout.
    dropped : (n_pixels, n_dropped) ndarray of float64, or None
        Raw values of the channel features of weight 0 (not clustered).
    """

    X: np.ndarray
    keep: np.ndarray | None
    pixels: np.ndarray
    options: FeatureOptions
    layout: Layout
    dropped: np.ndarray | None = None
    #: per column of X: X = raw · a + b; None with default options
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
            dropped = _stats.label_means(self.dropped, labels, centres.shape[0])
        return centroids_in_units(centres, self.layout, self.options, dropped)

    def channel_means(self, labels: np.ndarray, k: int) -> np.ndarray:
        """Per-cluster mean of each image channel, in the image's units."""
        return _stats.label_means(self.pixels, labels, k)

    def in_units(
        self, centres: np.ndarray, labels: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The reported centroids (:meth:`centroids_in_units`) and channel means
        (:meth:`channel_means`) of the clusters with ``centres`` and ``labels``;
        with default options both are ``centres`` (the channel values)."""
        if self.options.is_default:
            return centres, centres
        return self.centroids_in_units(centres, labels), self.channel_means(labels, k)


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
    n = options.n_channel_features(layout)
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
    """Per feature column: ``feature = raw · a + b``, from the weights,
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
    return a, b


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
    Otherwise a float64 matrix is built: about ``8 · n_pixels · n_features`` bytes,
    plus, with smoothing, a float64 copy of the channels (``8 · n_pixels ·
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
    n, c = X.shape[0], options.n_channel_features(layout)
    w = options.weights(c)
    active, dropped = np.flatnonzero(w > 0), np.flatnonzero(w == 0)
    D = np.empty((n, dropped.size)) if dropped.size else None
    src = X if options.smoothing == 0 else _smoothed(image, layout, keep, options)
    space = options.color_features or options.color_space
    if src is not X and space == "rgb" and D is None and not n_sp:
        E = src  # the smoothed copy is the feature matrix: no second copy
    else:
        E = np.empty((n, active.size + n_sp))
        _channel_features(src, image.dtype, space, E, D, active, dropped)
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
            coords = (index * options.scale[axis]).reshape(shape)
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


def unit_scale(dtype: np.dtype) -> float:
    """What 1.0 (full intensity) is in ``dtype``: its maximum for integers, 1 for
    bool and floats."""
    if dtype.kind in "iu":
        return float(np.iinfo(dtype).max)
    return 1.0


def _channel_features(src, dtype, color_space, E, D, active, dropped) -> None:
    """Write the channel features of the pixel rows ``src`` (active ones into the
    first columns of ``E``, those of weight 0 into ``D``), a chunk at a time.
    ``color_space``: a colour space, or the tuple of colour features.

    A large 8-bit colour image is converted through its distinct colours (a
    photo has far fewer than pixels): each is converted once, and the pixels
    look their features up; the values are those of the direct conversion."""
    n = src.shape[0]
    unit = unit_scale(np.dtype(dtype))
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


def _colour_lookup(src: np.ndarray, color_space) -> tuple[np.ndarray, np.ndarray]:
    """For uint8 RGB rows: an index from colour code to row of a table holding the
    converted features of each colour present (64 MiB of index, whatever the
    image's size)."""
    present = np.zeros(1 << 24, np.bool_)
    for start in range(0, src.shape[0], _CHUNK):
        present[_colour_codes(src[start : start + _CHUNK])] = True
    codes = np.flatnonzero(present)
    del present
    rgb = np.stack([codes >> 16, (codes >> 8) & 255, codes & 255], axis=1)
    table = None
    for start in range(0, codes.size, _CHUNK):
        block = rgb[start : start + _CHUNK].astype(np.float64) / 255.0
        values = _convert(block, color_space)
        if table is None:  # as many columns as the features have
            table = np.empty((codes.size, values.shape[1]))
        table[start : start + _CHUNK] = values
    index = np.zeros(1 << 24, np.int32)
    index[codes] = np.arange(codes.size, dtype=np.int32)
    return index, table


def _convert(rgb: np.ndarray, color_space: str | tuple[str, ...]) -> np.ndarray:
    """``(m, 3)`` RGB in [0, 1] → HSV cone coordinates, CIE L*a*b*, or the
    columns of a tuple of colour features (see :func:`_color_features`), as
    float64; rows with a non-finite value stay NaN."""
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
        elif color_space == "lab":
            out = rgb2lab(rgb)
        else:
            out = _color_features(rgb, color_space, rgb2hsv, rgb2lab)
    out[bad] = np.nan
    return out


def _color_features(rgb: np.ndarray, names: tuple[str, ...], rgb2hsv, rgb2lab):
    """The columns of the colour features ``names`` of ``(m, 3)`` RGB rows in
    [0, 1], each on a scale of about 0 to 1 so that mixed spaces weigh alike:
    R, G, B, saturation and brightness as they are; L*/100, a*/100, b*/100
    (a* and b* within about ±1); hue as the point ``(cos 2πh, sin 2πh) / 2`` of
    a circle of diameter 1 (opposite hues are 1 apart, reds at h = 0.99 and 0.01
    are close), at the centre (0, 0) for a grey pixel (saturation 0), whose hue
    is undefined: it is equally far from every hue. Hue is kept apart from
    saturation and brightness (unlike the HSV cone of ``color_space="hsv"``) so
    that each chosen channel means one thing; tick those for the rest."""
    hsv = rgb2hsv(rgb) if {"hue", "saturation", "brightness"} & set(names) else None
    lab = rgb2lab(rgb) / 100.0 if {"L*", "a*", "b*"} & set(names) else None
    columns = []
    for name in names:
        if name in ("red", "green", "blue"):
            columns.append(rgb[:, ("red", "green", "blue").index(name)])
        elif name == "hue":
            angle = 2 * np.pi * hsv[:, 0]
            grey = hsv[:, 1] == 0
            columns.append(np.where(grey, 0.0, np.cos(angle) / 2))
            columns.append(np.where(grey, 0.0, np.sin(angle) / 2))
        elif name in ("saturation", "brightness"):
            columns.append(hsv[:, 1 if name == "saturation" else 2])
        else:
            columns.append(lab[:, ("L*", "a*", "b*").index(name)])
    return np.stack(columns, axis=1).astype(np.float64, copy=False)


def _smoothed(
    image: np.ndarray, layout: Layout, keep: np.ndarray | None, options: FeatureOptions
) -> np.ndarray:
    """The channels smoothed by a Gaussian of sigma ``options.smoothing`` pixels over
    the spatial axes, as a float64 ``(n_pixels, n_channels)`` copy.

    Only the pixels to cluster (finite, opaque, inside the mask) are averaged, by
    normalised convolution, so that what is left out does not bleed into the
    features; non-finite pixels stay NaN (left out)."""
    from scipy.ndimage import gaussian_filter

    if layout.channel_axis is None:
        v = np.array(image, dtype=np.float64, order="C")[..., np.newaxis]
    else:
        channels = np.moveaxis(image, layout.channel_axis, -1)[..., : layout.n_channels]
        v = np.array(channels, dtype=np.float64, order="C")
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
        weight = gaussian_filter(valid.astype(np.float64), sigma)
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
