"""The public entry point: ``segment(image, n_clusters)``, a short dispatcher over
named strategies.

- :func:`fit_in_memory`: fit k-means on all pixels of an in-memory image;
- :func:`fit_region_then_label`: fit on a regular grid of ``fit_pixels`` pixels,
  then label all (or continue Lloyd on all, with ``method="exact"``);
- :func:`fit_lazy`: a lazy image: fit on a bounded region, label chunk by chunk;
- :func:`~.apply.apply_model`: label with a given model (also
  :meth:`KMeansModel.segment`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

import numpy as np

from . import arrays as _arrays
from . import engine as _engine
from . import features as _features
from . import lazy as _lazy
from . import memory as _memory
from .apply import apply_model, as_lazy, labelled_lazily, measure
from .defaults import DEFAULT_N_INIT
from .fit.ordering import cluster_order
from .fit.records import MixtureOptions, TooFewValuesError
from .mixture import GaussianMixtureParams
from .model import KMeansModel
from .options import METHODS, FeatureOptions, Options, OptionTypeError  # noqa: F401
from .result import SegmentationResult


def segment(
    image,
    n_clusters: int | None = None,
    *,
    channel_axis: int | None = None,
    rgb: bool | None = None,
    mask=None,
    color_space: str = "rgb",
    color_features: Sequence[str] | None = None,
    channel_weights: Sequence[float] | None = None,
    normalize: bool = False,
    spatial_weight: float = 0.0,
    scale: Sequence[float] | None = None,
    smoothing: float = 0.0,
    random_state: int | None = 0,
    method: str = "auto",
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
    fit_pixels: int | None = None,
    model: KMeansModel | None = None,
    mixture: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SegmentationResult:
    """Segment an image into ``n_clusters`` colour/intensity classes with k-means.

    Every pixel is a point whose coordinates are its channel values (R, G, B, or the
    channels along ``channel_axis``, or the intensity of a single-channel image);
    k-means groups the points and each pixel gets its group's id. The default method
    is exact: the result is a Lloyd fixed point on all pixels, computed from the
    image's distinct values, so it needs no sampling and is fast. For one channel
    of 8- or 16-bit integers it is the global optimum of the k-means objective
    (the best ``n_clusters`` intensity classes, as multi-level Otsu finds them).

    The feature options (``color_space`` or ``color_features``,
    ``channel_weights``, ``normalize``, ``spatial_weight``, ``smoothing``) change
    the points: each pixel's features are then its channel features in the colour
    space or the chosen colour features (smoothed first), normalised,
    weighted, followed by its weighted coordinates. They are recorded in the model,
    which rebuilds the same features on every image it labels. With all options at
    their defaults the features are the raw channel values, a view of the image;
    any option costs a float64 copy: about ``8 · n_pixels · n_features`` bytes
    (plus, with smoothing, ``8 · n_pixels · n_channels`` more). Float64 keeps
    the range, offsets and distinctness of every image's values.

    With ``model``, nothing is fitted: the pixels are labelled with the model's
    centroids and feature options (the same cluster ids on every image) and the
    result describes this image's clusters under that model (as
    :meth:`KMeansModel.segment` does). A model fitted on an image of another
    dtype range (uint8 and uint16, integers and floats) labels with a warning.

    A lazy image (a dask array, or a zarr or HDF5 array) is never loaded whole: the
    fit reads a bounded region of it (``fit_pixels``, see below), and
    ``result.labels`` is a lazy dask array, labelled chunk by chunk with the fitted
    model when computed (by napari as it shows the chunks, by ``to_zarr``, or by
    ``.compute()``); masked and mean-colour images of a lazy result are lazy too.
    The task graphs hold the small model only, so the same call runs on a
    ``dask.distributed`` cluster. A lazy image of at most ``fit_pixels`` pixels
    gives exactly the in-memory result.

    Parameters
    ----------
    image : array_like
        2D or nD image: single-channel (``(…, Y, X)``), RGB/RGBA (``(…, Y, X, 3|4)``)
        or with channels along ``channel_axis``. Any real dtype: uint8, uint16,
        other integers (64-bit ones within ±2**53), float (NaN and inf pixels
        are left out with label 0), bool. A masked array's masked pixels are
        left out (as with ``mask``). Never modified.
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
        outside get label 0 and do not influence the fit (nor, with
        ``smoothing``, their neighbours' features). Numbers are taken as bools
        (nonzero: cluster); strings, objects or complex numbers are refused.
    color_space : {"rgb", "hsv", "lab"}
        Colour space of the features of an RGB(A) image (an error for others).
        Values are first scaled to [0, 1] by dtype (uint8 / 255, uint16 / 65535,
        other integers by their maximum, floats as they are), then converted with
        scikit-image's ``rgb2hsv`` / ``rgb2lab``. "lab" is CIE L*a*b* (D65): L in
        [0, 100], a and b about ±100, roughly perceptually uniform. "hsv" uses the
        HSV cone, ``(s·v·cos 2πh, s·v·sin 2πh, v)``: hue is an angle, so reds at
        h = 0.99 and h = 0.01 are close, and dark pixels (whose hue and saturation
        are noise) are close whatever their hue. "rgb": the values as they are.
    color_features : sequence of str, optional
        For an RGB(A) image, the features as a mix of channels of several colour
        spaces, as Fiji's Color Clustering checkboxes: any of "red", "green",
        "blue", "hue", "saturation", "brightness" (HSV value), "L*", "a*", "b*"
        (case-insensitive; also R, G, H, S, V, L and a, but not a bare "b",
        which could be blue or b*; a string is a comma-separated list). They
        become features in that order, each on a scale of about 0 to 1 so that
        no space outweighs another: values are first scaled to [0, 1] by dtype
        as for ``color_space``; red, green, blue, saturation and brightness are
        then as they are; L*, a* and b* are divided by 100 (a* and b* lie within
        about ±1); hue, an angle, makes two features, "hue cos" and "hue sin",
        ``(cos 2πh, sin 2πh) / 2``: a circle of diameter 1 on which reds at
        h = 0.99 and 0.01 are close and opposite hues are 1 apart, with grey
        pixels (saturation 0, hue undefined) at its centre. Hue is not weighted
        by saturation (as the "hsv" cone is), so that each channel means one
        thing. Red, green and blue alone are the default features (the raw
        values). Not with a ``color_space`` other than "rgb". None: the
        image's own channels (or ``color_space``).
    channel_weights : sequence of float, optional
        One weight ≥ 0 per channel feature (3 for RGB, in the colour space's order;
        with ``color_features``, one per feature, hue counting two; else one per
        channel), not all 0; each feature is multiplied by its weight
        (after normalisation), so its squared distances count ``weight²``. A weight
        of 0 leaves the feature out. None: all 1.
    normalize : bool
        Scale each channel feature to zero mean and unit variance over the
        clustered pixels of this image, so that channels of very different ranges
        count alike. The fitted means and standard deviations are stored in the
        model and reused as they are on other images, never refitted.
    spatial_weight : float
        Add the pixel coordinates (…, z, y, x, multiplied by ``scale``) times
        ``spatial_weight`` as features, so that clusters become spatially compact,
        as SLIC superpixels are. 0: colour only. The coordinates are not
        normalised: a colour difference ``Δ`` weighs as much as a distance of
        ``Δ / spatial_weight`` pixels (e.g. 10 L*a*b* units ≈ 50 pixels with
        0.2; with ``normalize``, 1 standard deviation ≈ 50 pixels with 0.02).
    scale : sequence of float, optional
        Size of a pixel along each spatial axis (as a napari layer's ``scale``),
        used by ``spatial_weight``; None: 1 per axis. With ``model``, the pixel
        size of this image (None: the model's).
    smoothing : float
        Sigma, in pixels, of a Gaussian smoothing of the channels over the spatial
        axes before the features are made (on a float64 copy; the image itself is
        untouched): removes salt-and-pepper label noise. 0: none. Mean colours
        and masked images still use the original pixels.
    random_state : int or None
        Seed for the k-means++ starts; the same image and seed give identical labels.
        Not used with ``model``.
    method : {"auto", "exact", "sample"}
        "exact" (and "auto") reach a Lloyd fixed point on all pixels; "sample" fits
        on a random sample of 100,000 pixels and only assigns the rest (faster to
        start on huge images, not a fixed point). For an image fitted on a region
        of ``fit_pixels`` (a large lazy image by default), "auto" is a fixed point
        on the region only and "exact" continues on all pixels (see
        ``fit_pixels``). Not used with ``model``.
    n_init : int
        k-means++ starts tried, at most 1000; the best is refined. Not used with
        ``model``.
    max_iter : int
        Maximum number of Lloyd iterations (for a lazy image with "exact": passes
        over all chunks). Not used with ``model``.
    fit_pixels : int, optional
        Fit on at most this many pixels: for a larger image, a regular grid of
        pixels (whole planes spread over the stack where possible; see
        ``fit_region``), then label every pixel with the fitted model. None: all
        pixels for an in-memory image, 4,194,304 for a lazy one. With "auto" the
        result is a fixed point on that grid only; with "exact", Lloyd passes over
        all pixels continue from it to a fixed point on all of them (for a lazy
        image each pass reads every chunk). For an in-memory image, ``counts``,
        ``inertia`` and ``channel_means`` are always over all pixels; for a lazy
        image fitted on a grid with "auto", over the grid's pixels
        (``result.n_fit``). ``smoothing`` needs the whole image (a lazy one of at
        most ``fit_pixels`` pixels). With ``model``: the region the model is
        measured on (lazy images).
    model : KMeansModel or fitted sklearn.cluster.KMeans, optional
        A fitted model (``result.model``, :meth:`KMeansModel.load`, or a
        scikit-learn k-means fitted on pixel values) to apply
        instead of fitting. The feature options are the model's (an option given
        with a value other than its default must agree). The result's
        ``centroids`` and ``model`` are the model's, ``n_iter`` is 0, and
        ``converged`` tells whether the model's centroids are the means of this
        image's clusters (as on the image it was fitted on).
    mixture : {None, "full", "diag"}
        None: k-means. "full" or "diag": a Gaussian mixture of ``n_clusters``
        components with full covariance matrices or one variance per feature,
        fitted by expectation–maximisation (EM) over all pixels from the k-means
        result (as scikit-learn's ``GaussianMixture`` from its k-means start, with
        its ``reg_covar=1e-6`` and ``tol=1e-3`` on the mean log-likelihood per
        pixel, at most 100 EM iterations), over the image's distinct values
        weighted by their counts when that is less work. The labels are each
        pixel's most probable component; ``result.probabilities`` holds one
        probability map per cluster and ``result.uncertainty`` is ``1 - max
        probability``; the model keeps the weights and covariances
        (``model.predict_proba``). A lazy image larger than ``fit_pixels`` is
        fitted on that region (as with "auto") and labelled chunk by chunk.
    progress : callable, optional
        Called as ``progress(done, total)`` while a lazy image is read (units:
        the fit region, then chunks of each Lloyd pass); for progress bars.

    Returns
    -------
    SegmentationResult
        ``labels``, ``centroids``, ``counts``, ``inertia``, the fitted ``model``,
        and the outputs ``mean_colors``, ``mean_color_image()``, ``table()``,
        ``merge()``.

    Raises
    ------
    TypeError
        If an option has the wrong type (``n_clusters=3.0``, ``rgb="no"``) or
        ``mask`` is not of bools or numbers; the error is also a ``ValueError``.
    ValueError
        If the image is empty, not numeric, has fewer distinct values than
        ``n_clusters`` (or values float64 cannot keep apart), ``mask`` does not
        have the image's spatial shape, or an option is out of range (a colour
        space other than "rgb" for an image that is not RGB, a wrong number of
        channel weights or of scale values, a negative weight or sigma, ...);
        with ``model``, if the image does not have the model's channels or
        ``n_clusters``, ``channel_axis``, ``rgb`` or a feature option contradict
        the model. The message says what to do.

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

    In a perceptual colour space, with compact regions and a little smoothing:

    >>> lab = segment(image, 5, color_space="lab", spatial_weight=0.05, smoothing=1)
    >>> lab.feature_names
    ('L', 'a', 'b', 'y', 'x')

    Fiji-style features, a mix of colour spaces:

    >>> fiji = segment(image, 4, color_features=("hue", "saturation", "L*"))
    >>> fiji.feature_names
    ('hue cos', 'hue sin', 'saturation', 'L*')

    The same classes on another photo, from a saved model:

    >>> result.model.save("astronaut-k3.json")  # doctest: +SKIP
    >>> model = KMeansModel.load("astronaut-k3.json")  # doctest: +SKIP
    >>> coffee = segment(data.coffee(), model=result.model)
    >>> coffee.centroids is result.model.centroids, coffee.n_iter
    (True, 0)
    """
    options = Options.checked(
        n_clusters=n_clusters,
        channel_axis=channel_axis,
        rgb=rgb,
        color_space=color_space,
        color_features=color_features,
        channel_weights=channel_weights,
        normalize=normalize,
        spatial_weight=spatial_weight,
        scale=scale,
        smoothing=smoothing,
        random_state=random_state,
        method=method,
        n_init=n_init,
        max_iter=max_iter,
        fit_pixels=fit_pixels,
        mixture=mixture,
    )
    if model is not None:
        if hasattr(model, "cluster_centers_"):  # a fitted scikit-learn k-means
            from .sklearn_models import as_model

            model = as_model(model, np.shape(image), channel_axis=channel_axis, rgb=rgb)
        return apply_model(
            check_model(model), image, options, mask=mask, progress=progress
        )
    if _arrays.is_lazy(image):
        return fit_lazy(image, options, mask=mask, progress=progress)
    return fit_in_memory(image, options, mask=mask)


def check_model(model) -> KMeansModel:
    """``model`` if it is a :class:`KMeansModel`, or a clear ``TypeError``."""
    if not isinstance(model, KMeansModel):
        raise OptionTypeError(
            f"model must be a KMeansModel (result.model or KMeansModel.load(path)), "
            f"not {type(model).__name__}"
        )
    return model


def fit_in_memory(image, options: Options, *, mask=None) -> SegmentationResult:
    """Fit k-means on the in-memory ``image`` (on a grid of ``fit_pixels`` of it
    when given and smaller than the image)."""
    layout_for = partial(
        _features.guess_layout, channel_axis=options.channel_axis, rgb=options.rgb
    )
    image, mask = _features.unmask(image, mask, layout_for)
    arr = _features.check_image(image)
    layout = layout_for(arr.shape)
    features = options.feature_options(layout, len(layout.spatial_shape(arr.shape)))
    _memory.check_memory(
        _memory.estimate_for(
            arr.shape,
            arr.dtype,
            layout,
            features,
            method=options.method,
            n_clusters=options.k,
            n_maps=options.k if options.mixture else 0,
        )
    )
    if options.fit_pixels is not None:
        region = _lazy.Region.of(arr.shape, layout, options.fit_pixels)
        if not region.whole:
            return fit_region_then_label(arr, layout, features, mask, options, region)
    return fit(arr, layout, features, mask, options)


def fit_region_then_label(
    arr: np.ndarray,
    layout: _features.Layout,
    features: FeatureOptions,
    mask,
    options: Options,
    region: _lazy.Region,
) -> SegmentationResult:
    """Fit on the grid of pixels ``region`` of ``arr``, then label every pixel with
    that model ("auto", "sample") or continue Lloyd on all pixels ("exact")."""
    _lazy.check_region_smoothing(features, options.fit_pixels)
    sub_mask = None if mask is None else np.asarray(mask)[region.spatial_index]
    part = fit_region(arr[region.index], layout, features, sub_mask, options, region)
    if options.method == "exact" and options.mixture is None:  # on to a fixed point
        full = fit(
            arr, layout, part.model.options, mask, options, init=part.engine_centroids
        )
        return replace(full, n_iter=part.n_iter + full.n_iter)
    full = measure(part.model, arr, mask=mask, scale=options.scale)
    return replace(
        full,
        n_iter=part.n_iter,
        mixture_n_iter=part.mixture_n_iter,
        mixture_converged=part.mixture_converged,
    )


def fit_region(sub, layout, features, sub_mask, options, region) -> SegmentationResult:
    """:func:`fit` on the pixels ``sub`` of ``region``; too few distinct values
    there is said to be about ``fit_pixels``."""
    try:
        return fit(
            sub,
            layout,
            features,
            sub_mask,
            options,
            origin=region.origin,
            step=region.step,
        )
    except TooFewValuesError as err:
        raise TooFewValuesError(
            f"the fit region of fit_pixels={options.fit_pixels} pixels (a grid of "
            f"{sub.shape}): {err}; raise fit_pixels, or leave it out to fit on all "
            "pixels"
        ) from None


def fit(
    arr: np.ndarray,
    layout: _features.Layout,
    features: FeatureOptions,
    mask,
    options: Options,
    *,
    origin: tuple[int, ...] | None = None,
    step: tuple[int, ...] | None = None,
    init: np.ndarray | None = None,
) -> SegmentationResult:
    """Fit k-means on the in-memory image ``arr`` (``origin``, ``step``: where it
    lies in a larger image, for the coordinate features; ``init``: start from these
    centroids, in the feature space)."""
    feats = _features.build_features(
        arr, layout, mask, features, origin=origin, step=step
    )
    k = options.k
    fit = _engine.fit_predict(
        feats.X,
        n_clusters=k,
        mask=feats.keep,
        random_state=options.random_state,
        method="sample" if options.method == "sample" else "exact",
        n_init=options.n_init,
        max_iter=options.max_iter,
        init=init,
        mixture=options.mixture and MixtureOptions(covariance_type=options.mixture),
    )
    labels = fit.labels
    spatial = layout.spatial_shape(arr.shape)
    centroids, channel_means = feats.in_units(fit.centroids, labels, k)
    m = fit.mixture
    return SegmentationResult(
        labels=labels.reshape(spatial),
        centroids=centroids,
        counts=fit.counts,
        inertia=fit.inertia,
        model=KMeansModel(
            fit.centroids,
            layout,
            dtype=arr.dtype.name,
            options=feats.options,
            mixture=m
            and GaussianMixtureParams(m.weights, m.covariances, m.covariance_type),
        ),
        n_iter=fit.n_iter,
        converged=fit.converged if m is None else m.converged,
        optimal=fit.optimal,
        n_invalid=fit.n_invalid,
        channel_means=channel_means,
        image_dtype=arr.dtype.name,
        n_fit=labels.size,
        engine_centroids=fit.centroids,
        probabilities=m and m.probabilities.reshape((k, *spatial)),
        log_likelihood=m and m.log_likelihood,
        mixture_n_iter=m.n_iter if m else 0,
        mixture_converged=m and m.converged,
    )


def fit_lazy(
    image, options: Options, *, mask=None, progress=None
) -> SegmentationResult:
    """Fit a lazy image on a bounded region of it; label it chunk by chunk (see
    :mod:`.lazy`)."""
    darr, layout = _lazy.open_image(
        image,
        partial(
            _features.guess_layout, channel_axis=options.channel_axis, rgb=options.rgb
        ),
    )
    spatial = layout.spatial_shape(darr.shape)
    dmask = _lazy.as_mask(mask, spatial)
    fit_pixels = options.fit_pixels or _lazy.DEFAULT_FIT_PIXELS
    region = _lazy.Region.of(darr.shape, layout, fit_pixels)
    region_shape = darr[region.index].shape
    features = options.feature_options(layout, len(spatial))
    _memory.check_memory(
        _memory.estimate_for(
            region_shape,
            darr.dtype,
            layout,
            features,
            method=options.method,
            n_clusters=options.k,
            n_maps=options.k if options.mixture else 0,
        )
    )
    loading = _load_fit_passes(
        region_shape, darr.dtype, layout, features, dmask is not None, options
    )
    sub, sub_mask = region.read(darr, dmask, progress)
    loading.join()
    if region.whole:  # the labels are those of the fit: the in-memory result
        part = fit(sub, layout, features, sub_mask, options)
        return as_lazy(part, _lazy.spatial_chunks(darr, layout))
    _lazy.check_region_smoothing(features, fit_pixels)
    part = fit_region(sub, layout, features, sub_mask, options, region)
    if options.method != "exact" or options.mixture is not None:
        return labelled_lazily(part, darr, dmask, options.scale)
    passes = _lazy.lloyd_passes(
        darr,
        layout,
        part.model.options,
        part.engine_centroids,
        mask=dmask,
        max_iter=options.max_iter,
        progress=progress,
    )
    return _from_passes(part, passes, darr, layout, dmask)


def _load_fit_passes(
    shape: tuple[int, ...],
    dtype: np.dtype,
    layout: _features.Layout,
    options: _features.FeatureOptions,
    masked: bool,
    fit_options: Options,
) -> threading.Thread:
    """Start loading the compiled passes that fitting an image of ``shape`` and
    ``dtype`` uses, in a background thread, by fitting a small random image of the
    same kind: numba loads a pass on its first call in a process (about 0.3 s for
    a fit), which then overlaps with reading the fit region."""
    tiny_shape = tuple(
        n if i == layout.channel_axis else min(n, 16) for i, n in enumerate(shape)
    )
    rng = np.random.default_rng(0)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        tiny = rng.integers(info.min, info.max, tiny_shape, dtype, endpoint=True)
    else:
        tiny = (
            rng.random(tiny_shape) > 0.5
            if dtype.kind == "b"
            else rng.random(tiny_shape)
        ).astype(dtype)
    mask = np.ones(layout.spatial_shape(tiny_shape), bool) if masked else None

    def run() -> None:
        with contextlib.suppress(Exception):  # a warm-up: the real fit reports errors
            fit(tiny, layout, options, mask, fit_options)

    thread = threading.Thread(target=run, name="kmeans-seg-load", daemon=True)
    thread.start()
    return thread


def _from_passes(
    part: SegmentationResult, passes: _lazy.Passes, darr, layout, dmask
) -> SegmentationResult:
    """The result of Lloyd passes over a lazy image, from the region's fit
    ``part``."""
    order = cluster_order(passes.centroids, passes.counts)
    C, counts = passes.centroids[order], passes.counts[order]
    options = part.model.options
    model = replace(part.model, centroids=C)
    with np.errstate(invalid="ignore", divide="ignore"):
        channel_means = passes.channel_sums[order] / counts[:, None]
        dropped = passes.dropped_sums[order] / counts[:, None]
    centroids = _features.centroids_in_units(
        C, layout, options, dropped if dropped.shape[1] else None
    )
    return replace(
        part,
        labels=model.predict(darr, mask=dmask),
        centroids=centroids,
        counts=counts.astype(np.int64),
        inertia=passes.inertia,
        model=model,
        n_iter=part.n_iter + passes.n_iter,
        converged=passes.converged,
        optimal=False,
        n_invalid=passes.n_kept - passes.n_valid,
        channel_means=channel_means,
        n_fit=int(np.prod(layout.spatial_shape(darr.shape))),
        engine_centroids=C,
    )
