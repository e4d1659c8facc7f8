"""Sample images contributed to napari's File ▸ Open Sample menu."""

from __future__ import annotations


def astronaut() -> list[tuple]:
    """Return scikit-image's astronaut photo (512×512 RGB) as a layer data tuple."""
    from skimage import data

    return [(data.astronaut(), {"name": "astronaut", "rgb": True}, "image")]


def coffee() -> list[tuple]:
    """Return scikit-image's coffee photo (400×600 RGB) as a layer data tuple."""
    from skimage import data

    return [(data.coffee(), {"name": "coffee", "rgb": True}, "image")]
