"""Reading the inputs: image files at their stored depth and channels, and the
pixel sizes of an OME-TIFF."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .png16 import check_png_depth, is_png16_colour, read_png16

#: suffixes of the files taken from a folder (case-insensitive)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
_TIFF_SUFFIXES = (".tif", ".tiff")


def read_image(path: Path) -> np.ndarray:
    """Read an image file: TIFF with tifffile, a 16-bit colour PNG with
    :func:`read_png16`, anything else with imageio; a CMYK JPEG is converted to
    RGB.

    Parameters
    ----------
    path : Path
        A PNG, JPEG or TIFF file (other formats imageio reads work too).

    Returns
    -------
    ndarray
        The pixels as stored: (Y, X) greyscale, (Y, X, 3|4) RGB(A), or an nD stack
        for a multi-page TIFF.

    Raises
    ------
    ValueError
        For a CMYK TIFF (convert it to RGB first), an interlaced 16-bit colour
        PNG (convert it to a 16-bit TIFF first), or a damaged 16-bit PNG.
    Exception
        Whatever the reader raises for a missing, unreadable or corrupt file.
    """
    if path.suffix.lower() in _TIFF_SUFFIXES:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            if tif.pages[0].photometric == tifffile.PHOTOMETRIC.SEPARATED:
                raise ValueError(
                    "a CMYK TIFF (its 4th channel is black, not alpha): convert it "
                    "to RGB first"
                )
            return tif.asarray()
    from PIL import Image

    with Image.open(path) as im:
        if im.mode == "CMYK":  # its K channel is no alpha: Pillow's conversion
            return np.asarray(im.convert("RGB"))
    if is_png16_colour(path):
        return read_png16(path)  # Pillow would reduce it to 8 bits
    import imageio.v3 as iio

    pixels = iio.imread(path)
    check_png_depth(path, pixels)
    return pixels


@dataclass(frozen=True)
class Placement:
    """The pixel size of an image's axes, from OME-TIFF metadata."""

    #: OME axis letters of the labels (T, Z, Y, X)
    axes: str
    scale: tuple[float, ...]
    #: OME unit symbols ("µm", "s", ...)
    units: tuple[str, ...]


def read_placement(path: Path, labels_ndim: int) -> Placement | None:
    """The pixel sizes of an OME-TIFF's axes, for labels of ``labels_ndim``
    dimensions (the image's without its RGB samples); None for other files or
    axes that do not fit (say, channels)."""
    if path.suffix.lower() not in _TIFF_SUFFIXES:
        return None
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.is_ome:
                return None
            axes = tif.series[0].axes.replace("S", "")
            image = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
    except Exception:  # metadata we cannot read: the labels go without
        return None
    pixels = (image[0] if isinstance(image, list) else image)["Pixels"]
    if len(axes) != labels_ndim or not set(axes) <= set("TZYX"):
        return None
    scale, units = [], []
    for axis in axes:
        key = "TimeIncrement" if axis == "T" else f"PhysicalSize{axis}"
        scale.append(float(pixels.get(key, 1.0)))
        units.append(str(pixels.get(f"{key}Unit", "s" if axis == "T" else "µm")))
    if not all(np.isfinite(scale)) or min(scale) <= 0:
        return None
    return Placement(axes, tuple(scale), tuple(units))
