"""A :class:`~.model.KMeansModel` from a fitted scikit-learn k-means, and back."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from . import features as _features
from .model import KMeansModel


def model_from_sklearn(
    kmeans, *, layout: _features.Layout | None = None, dtype: str | None = None
) -> KMeansModel:
    """A :class:`KMeansModel` from a fitted scikit-learn k-means.

    Parameters
    ----------
    kmeans : fitted estimator with ``cluster_centers_``
        :class:`sklearn.cluster.KMeans`, :class:`~sklearn.cluster.MiniBatchKMeans`
        or :class:`ExactKMeans`, fitted on pixel values (one column per channel).
    layout : Layout, optional
        Channel layout of the images the model applies to. None: single-channel
        for one feature, RGB (channels last) for three; other numbers of features
        need it.
    dtype : str, optional
        Name of the dtype of the images fitted (``"uint8"``, ...), if known.

    Returns
    -------
    KMeansModel
        Label ``i`` is the estimator's cluster ``i - 1``.

    Raises
    ------
    ValueError
        If ``kmeans`` is not fitted, or ``layout`` is needed or does not fit.
    """
    check_is_fitted(kmeans, "cluster_centers_")
    C = np.asarray(kmeans.cluster_centers_, dtype=np.float64)
    if layout is None:
        d = C.shape[1] if C.ndim == 2 else 0
        if d not in (1, 3):
            raise ValueError(
                f"the estimator has {d} features: pass layout=Layout(channel_axis, "
                f"{d}) naming the image axis that holds the channels"
            )
        layout = (
            _features.Layout(None, 1) if d == 1 else _features.Layout(2, 3, rgb=True)
        )
    return KMeansModel(centroids=C, layout=layout, dtype=dtype)


def model_to_sklearn(model: KMeansModel) -> KMeans:
    """A fitted :class:`sklearn.cluster.KMeans` with the model's centroids.

    Its ``predict`` takes feature rows (for a model with default options: the
    pixel values, one column per channel) and returns label - 1.

    Parameters
    ----------
    model : KMeansModel
        A model without merged clusters (``label_map`` None).

    Returns
    -------
    sklearn.cluster.KMeans
        ``cluster_centers_`` equal to ``model.centroids``.

    Raises
    ------
    ValueError
        If the model maps several centroids to one label.
    """
    if not isinstance(model, KMeansModel):
        raise TypeError(f"model must be a KMeansModel, not {type(model).__name__}")
    if model.label_map is not None:
        raise ValueError(
            "a model of merged clusters (label_map) has no scikit-learn KMeans "
            "equivalent: KMeans gives each centroid a label of its own"
        )
    C = model.centroids
    # fitted through the public API on the centroids themselves (each its own
    # cluster), then given the exact centroids: the fit recentres the data
    km = KMeans(n_clusters=len(C), init=C, n_init=1, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        km.fit(C)
    km.cluster_centers_ = C.copy()
    return km


def as_model(model, shape, *, channel_axis=None, rgb=None):
    """``model`` as :func:`~.segment.segment` takes it: a fitted scikit-learn k-means
    (anything with ``cluster_centers_``) becomes a :class:`KMeansModel` whose
    layout is guessed from the image ``shape`` as a fit would; anything else is
    returned as it is."""
    if isinstance(model, KMeansModel) or not hasattr(model, "cluster_centers_"):
        return model
    layout = _features.guess_layout(tuple(shape), channel_axis=channel_axis, rgb=rgb)
    return model_from_sklearn(model, layout=layout)
