"""Image → pixel matrix: channel layout, alpha and mask, with clear errors.

No napari and no Qt here. Nothing is copied unless the layout demands it: the pixel
matrix is a view of the image whenever numpy can express it as one.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    return arr


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
