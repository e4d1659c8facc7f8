"""The fitted model: centroids and how pixels were turned into features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _engine, _features


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
    """

    centroids: np.ndarray
    layout: _features.Layout

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return self.centroids.shape[0]

    @property
    def n_features(self) -> int:
        """Number of features per pixel."""
        return self.centroids.shape[1]

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
        L = self.layout
        shape = arr.shape
        if L.channel_axis is not None:
            if arr.ndim <= L.channel_axis:
                raise ValueError(
                    f"the model expects a channel axis {L.channel_axis}; the image has "
                    f"shape {shape}"
                )
            expected = L.n_channels + L.alpha
            got = shape[L.channel_axis]
            if got != expected and not (L.rgb and got in (3, 4)):
                raise ValueError(
                    f"the model was fitted on {expected} channels (axis "
                    f"{L.channel_axis}); the image has {got} (shape {shape})"
                )
            L = _features.Layout(
                L.channel_axis, L.n_channels, alpha=got == 4 and L.rgb, rgb=L.rgb
            )
        X, keep = _features.to_pixels(arr, L, mask)
        labels = _engine.predict(X, self.centroids, mask=keep)
        return labels.reshape(L.spatial_shape(shape))
