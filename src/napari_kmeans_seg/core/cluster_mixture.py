"""What a Gaussian mixture's result adds to k-means: each pixel's uncertainty, the
BIC, and the choice to write the probability maps with the labels to zarr (the
writing itself is :mod:`.zarr_mixture`'s). :class:`SegmentationResult` delegates
here; its methods carry the documentation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .options import check_bool


def uncertainty(probabilities: Any) -> Any:
    """``1 - max probability`` per pixel of the maps ``probabilities`` (``(k,
    ...)``; a dask array stays lazy), or None without maps (k-means)."""
    if probabilities is None:
        return None
    return 1 - probabilities.max(axis=0)


def bic(result) -> float:
    """:meth:`SegmentationResult.bic` of ``result``."""
    mixture = result.model.mixture
    if mixture is None or result.log_likelihood is None:
        raise ValueError("BIC is defined for a Gaussian mixture (mixture='full')")
    n = int(np.sum(result.counts))
    return float(-2 * result.log_likelihood * n + mixture.n_parameters * np.log(n))


def writes_maps(result, probabilities: bool | None) -> bool:
    """Whether :meth:`SegmentationResult.to_zarr` writes the probability maps and
    the uncertainty with the labels, given its option ``probabilities`` (None:
    for a Gaussian mixture, yes).

    Raises
    ------
    OptionTypeError
        If ``probabilities`` is neither None nor a bool.
    ValueError
        If ``probabilities`` is True for a k-means result.
    """
    mixture = result.probabilities is not None
    if probabilities is None:
        return mixture
    wanted = check_bool(probabilities, "probabilities")
    if wanted and not mixture:
        raise ValueError(
            "this result is k-means, which has no probabilities; fit a Gaussian "
            "mixture (segment(..., mixture='full')) or leave probabilities out"
        )
    return wanted


def maps_to_zarr(result, store, **how):
    """Write the labels, probability maps and uncertainty of ``result`` to
    ``store`` (see :func:`.zarr_mixture.mixture_to_zarr`, which takes ``how``)."""
    from .zarr_mixture import mixture_to_zarr

    maps = (result.probabilities, result.uncertainty)
    return mixture_to_zarr(result.labels, *maps, store, **how)
