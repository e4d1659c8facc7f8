"""Applying a fitted model to an image: label, count and measure, no fitting.

Users reach it through :meth:`KMeansModel.segment` (and ``segment(image, model=...)``).
No napari and no Qt here. The model is passed in, never imported: the model
module imports this one.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from . import arrays as _arrays
from . import engine as _engine
from . import features as _features
from . import lazy as _lazy
from . import memory as _memory
from . import stats as _stats
from .fit.pixels import Pixels
from .mixture import posterior
from .options import (
    FEATURE_NAMES,
    FeatureOptions,
    Options,
    check_scale,
    make_options,
)
from .result import SegmentationResult


def apply_model(
    model: Any, image, options: Options, *, mask=None, progress=None
) -> SegmentationResult:
    """The result of labelling ``image`` with ``model`` (a ``KMeansModel``).

    ``options`` carries what the caller gave besides the model: each must be left
    at its default or agree with the model (``scale`` is this image's pixel
    size; ``fit_pixels`` the region a lazy image is measured on).
    """
    check_agrees(model, options)
    if _arrays.is_lazy(image):
        return _apply_lazy(model, image, options, mask, progress)
    image, mask = _features.unmask(image, mask, model.layout_for)
    arr = _features.check_image(image)
    layout = model.layout_for(arr.shape)
    check_channel_agreement(model, options, arr.shape)
    warn_if_unlike(model, arr.dtype)
    _memory.check_memory(
        _memory.estimate_for(arr.shape, arr.dtype, layout, model.options)
    )
    return measure(model, arr, mask=mask, scale=options.scale)


def check_agrees(model: Any, options: Options) -> None:
    """Options given with a model must be left at their defaults or equal the
    model's (``n_clusters``, feature options; ``scale`` is the image's own)."""
    k = model.n_clusters
    if options.n_clusters is not None and options.n_clusters != k:
        raise ValueError(
            f"n_clusters={options.n_clusters!r} contradicts the model, which has {k} "
            "clusters; leave n_clusters out to use the model's"
        )
    given = {n: v for n, v in options.given_features.items() if n != "scale"}
    asked = make_options(model.layout, 0, **given)
    defaults = FeatureOptions()
    for name in FEATURE_NAMES:
        if name == "scale":
            continue
        value, theirs = getattr(asked, name), getattr(model.options, name)
        if value != getattr(defaults, name) and value != theirs:
            raise ValueError(
                f"{name}={given[name]!r} contradicts the model, fitted with "
                f"{name}={theirs!r}; leave {name} out to use the model's"
            )


def check_channel_agreement(model: Any, options: Options, shape) -> None:
    """``rgb`` and ``channel_axis``, when given, must describe the model's
    layout."""
    L = model.layout
    if options.rgb is not None and options.rgb != L.rgb:
        if L.rgb:
            raise ValueError(
                "the model was fitted on RGB(A) images; this image is not RGB "
                f"(shape {tuple(shape)})"
            )
        kind = (
            "single-channel images"
            if L.channel_axis is None
            else f"images with {L.n_channels} channels on axis {L.channel_axis}"
        )
        raise ValueError(
            f"the image is RGB(A) (shape {tuple(shape)}) but the model was fitted on "
            f"{kind}"
        )
    if options.channel_axis is not None:
        axis = _features.guess_layout(
            shape, channel_axis=options.channel_axis, rgb=False
        ).channel_axis
        if axis != model.layout_for(shape).channel_axis:
            raise ValueError(
                f"channel_axis={options.channel_axis} contradicts the model, whose "
                f"channels are on axis {L.channel_axis}; leave channel_axis out to "
                "use the model's"
            )


def warn_if_unlike(model: Any, dtype: np.dtype, *, stacklevel: int = 4) -> None:
    """Warn when an image's values cannot be in the units the model was fitted
    in: an integer image labelled by a model of a float image (or the other way
    round), or integers of another range (uint8 vs uint16). The labels are still
    computed: a warning, not a refusal, because rescaled data is legitimate."""
    fitted = model.dtype
    if fitted is None or np.dtype(fitted) == np.dtype(dtype):
        return
    a, b = np.dtype(fitted), np.dtype(dtype)
    if a.kind in "fb" and b.kind in "fb":
        return  # float values carry their own range
    if _features.unit_scale(a) == _features.unit_scale(b):
        return
    space = model.options.color_space
    mixed = model.options.color_features
    scaled = f"the {space}" if space != "rgb" else "the chosen colour" if mixed else ""
    how = (
        f"{scaled} features are computed from values scaled by the dtype's "
        "maximum, so they differ"
        if scaled
        else "the centroids are in the fitted image's units"
    )
    warnings.warn(
        f"the model was fitted on a {a} image and this image is {b}: {how}; "
        f"convert the image to {a} (e.g. with skimage.util.img_as_{_img_as(a)}) "
        "for comparable labels",
        UserWarning,
        stacklevel=stacklevel,
    )


def _img_as(dtype: np.dtype) -> str:
    names = {"uint8": "ubyte", "uint16": "uint", "int16": "int", "bool": "bool"}
    return names.get(dtype.name, "float")


def measure(
    model: Any, arr: np.ndarray, *, mask=None, scale=None, origin=None, step=None
) -> SegmentationResult:
    """Label the in-memory ``arr`` with ``model`` and measure its clusters
    (``origin``, ``step``: where ``arr`` lies in a larger image, for the
    coordinate features)."""
    feats = features_of(model, arr, mask, scale, origin=origin, step=step)
    probs = log_likelihood = None
    if model.mixture is None:
        labels = assign(model, feats)
    else:
        labels, probs, log_likelihood = posterior(
            feats.X, model.centroids, model.mixture, mask=feats.keep
        )
    k = model.n_clusters
    centres = model.centroids
    if model.label_map is not None:  # a merged cluster's centre: its pixels' mean
        centres = _stats.label_means(feats.X, labels, k)
        for j in np.flatnonzero(~np.isfinite(centres).all(axis=1)):
            centres[j] = model.centroids[model.label_map == j + 1].mean(axis=0)
    measured = Pixels(feats.X, feats.keep, binned=False).label_stats(labels, centres)
    counts, inertia = measured.counts, measured.inertia
    n_labelled = int(counts.sum())
    if n_labelled == 0:
        raise ValueError(
            "there is no pixel to label (all are masked, transparent or NaN)"
        )
    n_considered = labels.size if feats.keep is None else int(feats.keep.sum())
    centroids, channel_means = feats.in_units(centres, labels, k)
    converged = model.label_map is None and _stats.centroids_are_means(
        measured.sums, counts, centres
    )
    spatial = feats.layout.spatial_shape(arr.shape)
    return SegmentationResult(
        labels=labels.reshape(spatial),
        centroids=centroids,
        counts=counts,
        inertia=inertia,
        model=model,
        converged=converged and model.mixture is None,
        probabilities=None if probs is None else probs.reshape((k, *spatial)),
        log_likelihood=log_likelihood,
        n_invalid=n_considered - n_labelled,
        channel_means=channel_means,
        image_dtype=arr.dtype.name,
        n_fit=labels.size,
        engine_centroids=centres,
    )


def _apply_lazy(model, image, options: Options, mask, progress) -> SegmentationResult:
    """:func:`apply_model` for a lazy image: measured on a region of
    ``fit_pixels``, labelled chunk by chunk."""
    darr, layout = _lazy.open_image(image, model.layout_for)
    check_channel_agreement(model, options, darr.shape)
    warn_if_unlike(model, darr.dtype, stacklevel=5)
    dmask = _lazy.as_mask(mask, layout.spatial_shape(darr.shape))
    fit_pixels = options.fit_pixels or _lazy.DEFAULT_FIT_PIXELS
    region = _lazy.Region.of(darr.shape, layout, fit_pixels)
    region_shape = darr[region.index].shape
    _memory.check_memory(
        _memory.estimate_for(region_shape, darr.dtype, layout, model.options)
    )
    sub, sub_mask = region.read(darr, dmask, progress)
    part = measure(
        model,
        sub,
        mask=sub_mask,
        scale=options.scale,
        origin=region.origin,
        step=region.step,
    )
    if region.whole:
        return as_lazy(part, _lazy.spatial_chunks(darr, layout))
    return replace(labelled_lazily(part, darr, dmask, options.scale), converged=False)


def as_lazy(result: SegmentationResult, chunks) -> SegmentationResult:
    """``result`` of a lazy image computed whole: its labels (and probabilities)
    as dask arrays of the image's spatial ``chunks``."""
    import dask.array as da

    probs = result.probabilities
    return replace(
        result,
        labels=da.from_array(result.labels, chunks=chunks),
        probabilities=None
        if probs is None
        else da.from_array(probs, chunks=((probs.shape[0],), *chunks)),
    )


def labelled_lazily(
    result: SegmentationResult, darr, dmask, scale
) -> SegmentationResult:
    """``result``, measured on a region of the lazy ``darr``, with the labels (and
    probabilities) of all of ``darr`` by its model, computed chunk by chunk."""
    model = result.model
    return replace(
        result,
        labels=predict_lazy(model, darr, dmask, scale),
        probabilities=None
        if model.mixture is None
        else predict_proba_lazy(model, darr, dmask, scale),
        converged=False,
        optimal=False,
    )


# ------------------------------------------------------------------ labelling


def features_of(
    model: Any, image, mask=None, scale=None, *, origin=None, step=None
) -> _features.Features:
    """The features of ``image`` as ``model`` builds them (``scale``: the
    image's pixel size for the coordinate features, None for the model's;
    ``origin``, ``step``: where ``image`` lies in the image it was cut from, see
    :func:`~._features.build_features`)."""
    arr = _features.check_image(image)
    layout = model.layout_for(arr.shape)
    options = model.options
    spatial_ndim = len(layout.spatial_shape(arr.shape))
    if scale is not None:
        scale = check_scale(scale, spatial_ndim)
        if options.n_spatial:
            options = replace(options, scale=scale)
    return _features.build_features(
        arr, layout, mask, options, origin=origin, step=step
    )


def assign(model: Any, feats: _features.Features) -> np.ndarray:
    """Labels (flat) of the pixels of ``feats``: nearest centroid (or most probable
    component of a mixture), then ``label_map``."""
    if model.mixture is not None:
        return posterior(feats.X, model.centroids, model.mixture, mask=feats.keep)[0]
    labels = _engine.predict(feats.X, model.centroids, mask=feats.keep)
    if model.label_map is not None:
        lut = np.zeros(len(model.label_map) + 1, labels.dtype)
        lut[1:] = model.label_map
        labels = lut[labels]
    return labels


def label_chunk(model: Any, block, mask=None, *, scale=None, origin=None) -> np.ndarray:
    """Flat labels of one chunk of a lazy image (see :func:`~.lazy.label_lazy`)."""
    return assign(model, features_of(model, block, mask, scale, origin=origin))


def proba_chunk(model: Any, block, mask=None, *, scale=None, origin=None):
    """Probabilities ``(k, n)`` of one chunk of a lazy image."""
    feats = features_of(model, block, mask, scale, origin=origin)
    return posterior(feats.X, model.centroids, model.mixture, mask=feats.keep)[1]


def predict_proba_lazy(model: Any, image, mask, scale):
    """:meth:`KMeansModel.predict_proba` of a lazy image: lazy ``(k, ...)``
    float32 probabilities."""
    return predict_lazy(model, image, mask, scale, probabilities=True)


def predict_lazy(
    model: Any, image, mask, scale, *, warn: bool = False, probabilities=False
):
    """:meth:`KMeansModel.predict` of a lazy image: lazy labels (``warn``: about
    an image unlike the fitted one, see :func:`warn_if_unlike`; ``probabilities``:
    the mixture's probabilities instead)."""
    darr, layout = _lazy.open_image(image, model.layout_for)
    if warn:
        warn_if_unlike(model, darr.dtype, stacklevel=4)
    spatial = layout.spatial_shape(darr.shape)
    if scale is not None:
        scale = check_scale(scale, len(spatial))
    if model.options.smoothing:
        raise ValueError(
            "a model with smoothing > 0 cannot label a lazy (dask/zarr) image "
            "chunk by chunk; load the image with np.asarray(image) if it fits "
            "in memory"
        )
    chunk = proba_chunk if probabilities else label_chunk
    labeller = partial(chunk, model, scale=scale)
    return _lazy.label_lazy(
        labeller,
        darr,
        layout,
        mask=_lazy.as_mask(mask, spatial),
        components=model.n_clusters if probabilities else 0,
    )
