"""The options of a segmentation, checked in exactly one place.

Every way in (:func:`segment`, :func:`suggest_n_clusters`, a model file, the memory
estimate, the widget, the command line) turns what it was given into
:class:`Options` (and, once the image's channel layout is known,
:class:`FeatureOptions`), so the same bad value gets the same message
everywhere. A value of the wrong type raises :class:`OptionTypeError` (a
``TypeError`` that is also a ``ValueError``); a value out of range a
``ValueError``. Both name the parameter and say what to do.

No napari and no Qt here, and no image is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .defaults import DEFAULT_MAX_ITER, DEFAULT_N_INIT

#: largest number of clusters (labels are stored as uint8; 0 means "not clustered")
MAX_CLUSTERS = 254
#: colour spaces an RGB(A) image can be clustered in
COLOR_SPACES = ("rgb", "hsv", "lab")
#: the channels of an RGB(A) image that ``color_features`` can mix, in their order
#: as features: RGB, HSV, then L*a*b* (as Fiji's Color Clustering offers them)
COLOR_FEATURES = (
    "red",
    "green",
    "blue",
    "hue",
    "saturation",
    "brightness",
    "L*",
    "a*",
    "b*",
)
#: the feature columns of each colour feature: hue is an angle, so two columns
COLOR_FEATURE_COLUMNS = {
    **{name: (name,) for name in COLOR_FEATURES},
    "hue": ("hue cos", "hue sin"),
}
#: other spellings of the colour features (matched case-insensitively); a bare
#: "b" is not one: it could be blue or b*
_COLOR_FEATURE_ALIASES = {
    **{name.lower(): name for name in COLOR_FEATURES},
    "r": "red",
    "g": "green",
    "h": "hue",
    "s": "saturation",
    "v": "brightness",
    "value": "brightness",
    "l": "L*",
    "lightness": "L*",
    "a": "a*",
}
#: the colour features that are the default features (the raw values)
RGB_FEATURES = ("red", "green", "blue")
#: how k-means is fitted (see :func:`segment`)
METHODS = ("auto", "exact", "sample")
#: most k-means++ starts one fit may try: more improves nothing measurable and
#: only multiplies the time
MAX_N_INIT = 1000


class OptionTypeError(TypeError, ValueError):
    """An option of the wrong type (e.g. ``n_clusters=3.0``, ``rgb="no"``).

    A ``TypeError``; also a ``ValueError``, so code that catches ``ValueError`` for
    every refused option keeps working.
    """


# ------------------------------------------------------------------ the layout


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

    def applied_to(self, shape: tuple[int, ...]) -> Layout:
        """This layout (a model's) applied to an image of ``shape``.

        An RGB(A) layout takes its channels from the last axis of any image, with
        an alpha channel when that axis has 4; any other needs its channel axis
        to hold its number of channels.

        Raises
        ------
        ValueError
            If the image does not have this layout's channels.
        """
        shape = tuple(shape)
        if self.channel_axis is None:
            return self
        if self.rgb:
            if len(shape) < 3 or shape[-1] not in (3, 4):
                raise ValueError(
                    f"the model was fitted on RGB(A) images; this image (shape "
                    f"{shape}) is not RGB: it needs a last axis of 3 or 4 channels"
                )
            return Layout(len(shape) - 1, 3, alpha=shape[-1] == 4, rgb=True)
        if len(shape) <= self.channel_axis:
            raise ValueError(
                f"the model expects a channel axis {self.channel_axis}; the image has "
                f"shape {shape}"
            )
        expected = self.n_channels + self.alpha
        got = shape[self.channel_axis]
        if got != expected:
            raise ValueError(
                f"the model was fitted on {expected} channels (axis "
                f"{self.channel_axis}); the image has {got} (shape {shape})"
            )
        return self


# ------------------------------------------------------------------ single values


def is_real(value) -> bool:
    """Whether ``value`` is a real number (int or float, not bool)."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(
        value, bool | np.bool_
    )


def check_bool(value, name: str) -> bool:
    """``value`` as a bool, or :class:`OptionTypeError`: flags are never taken by
    truthiness (``rgb="no"`` must not mean RGB)."""
    if not isinstance(value, bool | np.bool_):
        raise OptionTypeError(f"{name} must be True or False, not {value!r}")
    return bool(value)


def check_optional_bool(value, name: str) -> bool | None:
    """``value`` as a bool, or None; see :func:`check_bool`."""
    if value is None:
        return None
    if not isinstance(value, bool | np.bool_):
        raise OptionTypeError(f"{name} must be True, False or None, not {value!r}")
    return bool(value)


def check_n_clusters(value, name: str = "n_clusters") -> int:
    """``value`` as an int in [2, MAX_CLUSTERS], or a clear error."""
    if not _is_int(value):
        raise OptionTypeError(f"{name} must be an integer, not {value!r}")
    if not 2 <= value <= MAX_CLUSTERS:
        raise ValueError(f"{name} must be between 2 and {MAX_CLUSTERS}, got {value}")
    return int(value)


def check_positive_int(value, name: str, *, maximum: int | None = None) -> int:
    """``value`` as an int in [1, maximum], or a clear error naming ``name``."""
    if not _is_int(value):
        raise OptionTypeError(f"{name} must be a positive integer, not {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(
            f"{name}={value} is more than {maximum}; use at most {maximum}"
        )
    return int(value)


def check_nonnegative(value, name: str) -> float:
    """``value`` as a finite float >= 0, or a clear error."""
    if not is_real(value):
        raise OptionTypeError(f"{name} must be a finite number >= 0, not {value!r}")
    if not _finite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    return float(value)


def _finite(value) -> bool:
    """Whether the real ``value`` is finite (an int too large for a float is not)."""
    try:
        return bool(np.isfinite(float(value)))
    except OverflowError:
        return False


def check_channel_axis(value) -> int | None:
    """``value`` as an int or None (its range is checked against the image)."""
    if value is not None and not _is_int(value):
        raise OptionTypeError(f"channel_axis must be an integer or None, not {value!r}")
    return None if value is None else int(value)


def check_random_state(value):
    """``value`` if it can seed the k-means++ starts: None, an integer >= 0 or a
    ``numpy.random.Generator``."""
    if value is None or isinstance(value, np.random.Generator):
        return value
    if not _is_int(value):
        raise OptionTypeError(
            f"random_state must be an integer, None or a numpy Generator, not {value!r}"
        )
    if value < 0:
        raise ValueError(f"random_state must be a non-negative integer, not {value}")
    return int(value)


def check_method(value) -> str:
    """``value`` if it is one of :data:`METHODS`."""
    if not isinstance(value, str) or value not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {value!r}")
    return value


#: the values of ``segment``'s ``mixture``: a Gaussian mixture's covariance type
MIXTURES = ("full", "diag")


def check_mixture(value) -> str | None:
    """``value`` if it is None (k-means) or one of :data:`MIXTURES`."""
    if value is not None and (not isinstance(value, str) or value not in MIXTURES):
        raise ValueError(
            f"mixture must be None (k-means), 'full' or 'diag' (a Gaussian mixture "
            f"with full or diagonal covariances), not {value!r}"
        )
    return value


def check_fit_pixels(value, n_clusters: int | None) -> int | None:
    """``value`` (None, or a positive int that can hold ``n_clusters`` pixels)."""
    if value is None:
        return None
    value = check_positive_int(value, "fit_pixels")
    k = 3 if n_clusters is None else n_clusters
    if value < k:
        raise ValueError(
            f"fit_pixels={value} is fewer pixels than n_clusters={k}; the fit region "
            f"must hold at least n_clusters pixels (use fit_pixels >= {k}, or None "
            "for all)"
        )
    return value


def check_color_space(color_space, layout: Layout | None = None) -> str:
    """``color_space`` if it is valid (for ``layout``, when given), or a clear
    ``ValueError``."""
    if not isinstance(color_space, str) or color_space not in COLOR_SPACES:
        raise ValueError(
            f"color_space must be one of {COLOR_SPACES}, not {color_space!r}"
        )
    if layout is not None and color_space != "rgb" and not layout.rgb:
        raise ValueError(
            f"color_space={color_space!r} needs an RGB(A) image; this one is "
            f"{_kind(layout)}"
        )
    return color_space


def _kind(layout: Layout) -> str:
    """What kind of image ``layout`` describes, for messages."""
    if layout.channel_axis is None:
        return "single-channel"
    return f"a {layout.n_channels}-channel image (channel axis {layout.channel_axis})"


def check_color_features(
    value, color_space: str = "rgb", layout: Layout | None = None
) -> tuple[str, ...] | None:
    """``color_features`` as the canonical names of :data:`COLOR_FEATURES`, in
    that order (None stays None).

    Names are matched case-insensitively, with the aliases R, G, H, S, V, value,
    L, lightness and a (not a bare "b": blue or b*?); a string is a
    comma-separated list. Red, green and blue alone (:data:`RGB_FEATURES`) are
    the default features: :func:`make_options` makes them None.

    Raises
    ------
    OptionTypeError
        If ``value`` is not None, a string or a sequence of strings.
    ValueError
        If a name is unknown, ambiguous or repeated, none is given, ``color_space``
        is not "rgb", or ``layout`` (when given) is not RGB(A).
    """
    if value is None:
        return None
    if isinstance(value, str):
        names = [n for n in value.split(",") if n.strip()]
    else:
        names = _sequence(value)
    if names is None or not all(isinstance(n, str) for n in names):
        raise OptionTypeError(
            "color_features must be a sequence of names such as ('red', 'hue', "
            f"'L*'), or None; not {value!r}"
        )
    valid = ", ".join(COLOR_FEATURES)
    chosen = []
    for given in names:
        key = given.strip().lower()
        if key == "b":
            raise ValueError(
                "color_features: 'b' is ambiguous; write 'blue' (RGB) or 'b*' "
                f"(L*a*b*). Valid names: {valid}"
            )
        if key not in _COLOR_FEATURE_ALIASES:
            raise ValueError(
                f"color_features: unknown name {given!r}; valid names: {valid} "
                "(case-insensitive; also R, G, H, S, V, L, a)"
            )
        name = _COLOR_FEATURE_ALIASES[key]
        if name in chosen:
            raise ValueError(f"color_features names {name!r} twice; name it once")
        chosen.append(name)
    if not chosen:
        raise ValueError(
            f"color_features must name at least one of {valid}; use None for the "
            "image's own channel values"
        )
    if color_space != "rgb":
        raise ValueError(
            f"color_features cannot be combined with color_space={color_space!r}: "
            "the colour features already mix RGB, HSV and L*a*b* channels; leave "
            "color_space at 'rgb' (for L*a*b* alone: color_features=('L*', 'a*', "
            "'b*'))"
        )
    if layout is not None and not layout.rgb:
        raise ValueError(
            f"color_features needs an RGB(A) image; this one is {_kind(layout)}"
        )
    return tuple(n for n in COLOR_FEATURES if n in chosen)


def color_features_for(
    value, color_space: str, layout: Layout
) -> tuple[str, ...] | None:
    """:func:`check_color_features` for an image of ``layout``, with red, green
    and blue alone as None: the default features, the raw values (a view of the
    image, the labels of no option at all)."""
    names = check_color_features(value, color_space, layout)
    return None if names == RGB_FEATURES else names


def _sequence(value) -> list | None:
    """The items of a 1D list/tuple/array, or None for anything else."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        return None
    if np.ndim(value) != 1:
        return None
    return list(value)


def check_channel_weights(weights, n_channels: int) -> tuple[float, ...]:
    """One finite weight >= 0 per channel feature, not all 0, or a clear error."""
    values = _sequence(weights)
    if values is None or len(values) != n_channels:
        raise ValueError(
            f"channel_weights needs one weight per channel feature ({n_channels}), "
            f"got {weights!r}"
        )
    if not all(is_real(w) and _finite(w) and w >= 0 for w in values):
        raise ValueError(
            f"channel_weights must be finite numbers >= 0, got {weights!r}"
        )
    if not any(values):
        raise ValueError(
            "channel_weights must not all be 0: nothing would be clustered"
        )
    return tuple(float(w) for w in values)


def check_scale(scale, spatial_ndim: int) -> tuple[float, ...]:
    """One finite pixel size > 0 per spatial axis, or a clear error."""
    values = _sequence(scale)
    if values is None or len(values) != spatial_ndim:
        raise ValueError(
            f"scale needs one pixel size per spatial axis ({spatial_ndim}), got "
            f"{scale!r}"
        )
    if not all(is_real(v) and _finite(v) and v > 0 for v in values):
        raise ValueError(f"scale must hold finite numbers > 0, got {scale!r}")
    return tuple(float(v) for v in values)


# ------------------------------------------------------------------ feature options


@dataclass(frozen=True)
class FeatureOptions:
    """How the channel values of a pixel become the features k-means sees.

    All defaults (:attr:`is_default`) mean the features are the raw channel
    values, a view of the image. Anything else builds a float64 feature matrix
    ``(n_pixels, n_features)``: the channel features (the colour space's three for
    RGB, else one per channel), optionally smoothed, normalised and weighted, then
    the weighted pixel coordinates.

    Attributes
    ----------
    color_space : {"rgb", "hsv", "lab"}
        Colour space of an RGB(A) image's features: the values as they are; the
        HSV cone ``(s·v·cos 2πh, s·v·sin 2πh, v)`` (hue as an angle); or CIE
        L*a*b*. HSV and L*a*b* are computed on values scaled to [0, 1] by dtype.
    color_features : tuple of str, optional
        Instead of one colour space, a mix of the channels of :data:`COLOR_FEATURES`
        (in that order; see :func:`segment`), all on a scale of about 0 to 1;
        hue makes two features. None: the image's own channel values (or
        ``color_space``).
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
    color_features: tuple[str, ...] | None = None
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
            and self.color_features is None
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

    @property
    def color_columns(self) -> tuple[str, ...] | None:
        """Names of the feature columns of :attr:`color_features` (hue: "hue cos",
        "hue sin"), or None without them."""
        if self.color_features is None:
            return None
        return tuple(c for n in self.color_features for c in COLOR_FEATURE_COLUMNS[n])

    def n_channel_features(self, layout: Layout) -> int:
        """Number of channel features (before the coordinates): one per colour
        feature column, else one per channel of ``layout``."""
        columns = self.color_columns
        return layout.n_channels if columns is None else len(columns)

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
        if self.color_features is not None:
            checked = check_color_features(
                self.color_features, self.color_space, layout
            )
            if checked != self.color_features:
                raise ValueError(
                    f"color_features must be given as {checked!r}, not "
                    f"{self.color_features!r}"
                )
        n = self.n_channel_features(layout)
        if self.channel_weights is not None:
            check_channel_weights(self.channel_weights, n)
        check_bool(self.normalize, "normalize")
        check_nonnegative(self.spatial_weight, "spatial_weight")
        check_nonnegative(self.smoothing, "smoothing")
        if self.spatial_weight > 0:
            if self.scale is None:
                raise ValueError("spatial_weight > 0 needs the pixel scale")
            check_scale(self.scale, len(self.scale))
        elif self.scale is not None:
            raise ValueError("scale is only kept with spatial_weight > 0")
        self._check_norm(n)

    def _check_norm(self, n: int) -> None:
        stats = (self.norm_mean, self.norm_std)
        if not self.normalize:
            if stats != (None, None):
                raise ValueError("norm_mean and norm_std go with normalize=True only")
            return
        if stats.count(None) == 1:
            raise ValueError("norm_mean and norm_std are set together")
        if None in stats:
            return
        for name, values in zip(("norm_mean", "norm_std"), stats, strict=True):
            values = _sequence(values)
            if (
                values is None
                or len(values) != n
                or not all(is_real(v) and _finite(v) for v in values)
            ):
                raise ValueError(f"{name} must hold {n} finite numbers")
        if min(self.norm_std) <= 0:
            raise ValueError("norm_std must be positive")


def make_options(
    layout: Layout,
    spatial_ndim: int,
    *,
    color_space: str = "rgb",
    color_features=None,
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
    color_features = color_features_for(color_features, color_space, layout)
    weights = None
    if channel_weights is not None:
        n = FeatureOptions(color_features=color_features).n_channel_features(layout)
        weights = check_channel_weights(channel_weights, n)
        if all(w == 1 for w in weights):
            weights = None
    normalize = check_bool(normalize, "normalize")
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
        color_features=color_features,
        channel_weights=weights,
        normalize=normalize,
        spatial_weight=spatial_weight,
        scale=scale,
        smoothing=smoothing,
    )


# ------------------------------------------------------------------ every option

#: the names of the feature options, as :func:`segment` takes them
FEATURE_NAMES = (
    "color_space",
    "color_features",
    "channel_weights",
    "normalize",
    "spatial_weight",
    "scale",
    "smoothing",
)


@dataclass(frozen=True)
class Options:
    """Every option of a segmentation besides the image, mask and model, checked.

    Build it with :meth:`checked`; checks that need the image (the range of
    ``channel_axis``, the number of channel weights or of scale values, a colour
    space for a non-RGB image) are made by :meth:`feature_options` once the
    layout is known.

    Attributes
    ----------
    n_clusters : int or None
        Number of clusters (None: 3, or the model's).
    channel_axis : int or None
    rgb : bool or None
    color_space, color_features, channel_weights, normalize
        Feature options, as given (type-checked; ``color_features`` in
        canonical form, see :func:`check_color_features`).
    spatial_weight, scale, smoothing
        Feature options, as given (type-checked).
    random_state : int, Generator or None
    method : {"auto", "exact", "sample"}
    n_init : int
        k-means++ starts, 1 to :data:`MAX_N_INIT`.
    max_iter : int
    fit_pixels : int or None
    mixture : {None, "full", "diag"}
        k-means (None), or a Gaussian mixture with these covariances.
    """

    n_clusters: int | None = None
    channel_axis: int | None = None
    rgb: bool | None = None
    color_space: str = "rgb"
    color_features: tuple[str, ...] | None = None
    channel_weights: tuple[float, ...] | None = None
    normalize: bool = False
    spatial_weight: float = 0.0
    scale: tuple[float, ...] | None = None
    smoothing: float = 0.0
    random_state: Any = 0
    method: str = "auto"
    n_init: int = DEFAULT_N_INIT
    max_iter: int = DEFAULT_MAX_ITER
    fit_pixels: int | None = None
    mixture: str | None = None

    def __post_init__(self) -> None:
        """Flags are real bools from the start, however the options are built
        (numpy bools become bools; anything else is an :class:`OptionTypeError`)."""
        object.__setattr__(self, "rgb", check_optional_bool(self.rgb, "rgb"))
        object.__setattr__(self, "normalize", check_bool(self.normalize, "normalize"))

    @classmethod
    def checked(cls, **given) -> Options:
        """The options ``given`` (names as :func:`segment` takes them), checked.

        Raises
        ------
        OptionTypeError
            If a value has the wrong type (e.g. ``n_clusters=3.0``, ``rgb="no"``).
        ValueError
            If a value is out of range; the message names it and what to do.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(unknown)}")
        o = cls(**given)
        k = None if o.n_clusters is None else check_n_clusters(o.n_clusters)
        color_space = check_color_space(o.color_space)
        weights = o.channel_weights
        if weights is not None:
            values = _sequence(weights)
            weights = check_channel_weights(
                weights, len(values) if values is not None else -1
            )
        scale = o.scale
        if scale is not None:
            values = _sequence(scale)
            scale = check_scale(scale, len(values) if values is not None else -1)
        return cls(
            n_clusters=k,
            channel_axis=check_channel_axis(o.channel_axis),
            rgb=o.rgb,
            color_space=color_space,
            color_features=check_color_features(o.color_features, color_space),
            channel_weights=weights,
            normalize=o.normalize,
            spatial_weight=check_nonnegative(o.spatial_weight, "spatial_weight"),
            scale=scale,
            smoothing=check_nonnegative(o.smoothing, "smoothing"),
            random_state=check_random_state(o.random_state),
            method=check_method(o.method),
            n_init=check_positive_int(o.n_init, "n_init", maximum=MAX_N_INIT),
            max_iter=check_positive_int(o.max_iter, "max_iter"),
            fit_pixels=check_fit_pixels(o.fit_pixels, k),
            mixture=check_mixture(o.mixture),
        )

    @property
    def k(self) -> int:
        """The number of clusters to fit (3 when not given)."""
        return 3 if self.n_clusters is None else self.n_clusters

    @property
    def given_features(self) -> dict[str, Any]:
        """The feature options as keyword arguments."""
        return {name: getattr(self, name) for name in FEATURE_NAMES}

    @property
    def features_are_default(self) -> bool:
        """Whether every feature option is at its default."""
        return self.given_features == _DEFAULT_FEATURES

    def feature_options(self, layout: Layout, spatial_ndim: int) -> FeatureOptions:
        """The feature options for an image of ``layout`` with ``spatial_ndim``
        spatial axes (see :func:`make_options`)."""
        return make_options(layout, spatial_ndim, **self.given_features)


_DEFAULT_FEATURES = {name: getattr(Options, name) for name in FEATURE_NAMES}
