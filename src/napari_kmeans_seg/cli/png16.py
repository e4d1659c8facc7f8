"""16-bit colour PNGs, which Pillow (the PNG reader installed) reduces to 8 bits:
decoded here at their depth, or refused with a message saying how to convert them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.compile_cache import caching_enabled, njit

#: a PNG file's first bytes, and its colour types (greyscale, RGB, palette, grey
#: with alpha, RGBA) by number
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPES = {0: "greyscale", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}


def _png_header(path: Path) -> tuple[int, int] | None:
    """The bit depth and colour type in a PNG file's header, or None when the
    file is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


#: channels of the colour types of 16-bit PNG :func:`read_png16` decodes
_PNG_CHANNELS = {2: 3, 4: 2, 6: 4}
#: largest PNG (in decoded bytes) :func:`read_png16` decodes
_PNG_MAX_BYTES = 1 << 34


def is_png16_colour(path: Path) -> bool:
    """Whether ``path`` is a PNG that :func:`read_png16` decodes (16-bit RGB,
    RGBA or grey+alpha)."""
    header = _png_header(path)
    return header is not None and header[0] == 16 and header[1] in _PNG_CHANNELS


def read_png16(path: Path) -> np.ndarray:
    """The pixels of a 16-bit RGB, RGBA or grey+alpha PNG, at 16 bits.

    Decoded here: Pillow, the PNG reader installed, reduces these to 8 bits.

    Parameters
    ----------
    path : Path
        A non-interlaced PNG of bit depth 16 and colour type 2, 4 or 6.

    Returns
    -------
    ndarray of uint16, shape (Y, X, channels)

    Raises
    ------
    ValueError
        If the file is not such a PNG, is interlaced, or is damaged (a chunk's
        checksum, missing or surplus image data, an unknown row filter).
    """
    header, data = _png_chunks(path.read_bytes())
    width, height, depth, color, _, _, interlace = header
    channels = _PNG_CHANNELS.get(color) if depth == 16 else None
    if channels is None:
        raise ValueError("not a 16-bit RGB, RGBA or grey+alpha PNG")
    if interlace:
        raise ValueError(
            "an interlaced 16-bit colour PNG, which no installed reader keeps at 16 "
            "bits; convert it to a 16-bit TIFF first (e.g. `magick in.png out.tif`)"
        )
    row = 2 * channels * width
    rows = _inflate(data, height * (row + 1)).reshape(height, row + 1)
    out = np.empty((height, row), np.uint8)
    bad = _unfilter(rows, 2 * channels, out)
    if bad >= 0:
        raise ValueError(f"a damaged PNG: row {bad} has an unknown filter")
    return out.view(">u2").reshape(height, width, channels).astype(np.uint16)


def _png_chunks(raw: bytes) -> tuple[tuple, bytes]:
    """A PNG's header fields and its image data (the IDAT chunks joined), each
    chunk's checksum checked."""
    import struct
    import zlib

    if raw[:8] != _PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    at, header, data = 8, None, []
    while at + 12 <= len(raw):
        (length,) = struct.unpack_from(">I", raw, at)
        kind, body = raw[at + 4 : at + 8], raw[at + 8 : at + 8 + length]
        (crc,) = struct.unpack_from(">I", raw, at + 8 + length)
        if len(body) != length or zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"a damaged PNG: its {kind!r} chunk fails its checksum")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            data.append(body)
        elif kind == b"IEND":
            break
        at += 12 + length
    if header is None or not data:
        raise ValueError("a damaged PNG: no header or no image data")
    return header, b"".join(data)


def _inflate(data: bytes, size: int) -> np.ndarray:
    """The ``size`` bytes zlib ``data`` holds (more or fewer: a damaged file),
    as uint8."""
    import zlib

    if size > _PNG_MAX_BYTES:
        raise ValueError(f"the PNG is too large to decode here ({size} bytes)")
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, size + 1)
    except zlib.error as err:
        raise ValueError(f"a damaged PNG: {err}") from None
    if len(raw) != size:
        raise ValueError(
            f"a damaged PNG: {len(raw)} bytes of image data where {size} were due"
        )
    return np.frombuffer(raw, np.uint8)


def check_png_depth(path: Path, pixels) -> None:
    """A ``ValueError`` when ``pixels`` read from a 16-bit PNG hold fewer bits:
    Pillow, the PNG reader installed, reduces 16-bit colour PNGs to 8 bits, and
    segmenting those would not be segmenting the image."""
    header = _png_header(path)
    if header is None or header[0] != 16 or pixels.dtype.itemsize >= 2:
        return
    kind = _PNG_COLOR_TYPES.get(header[1], f"colour type {header[1]}")
    raise ValueError(
        f"a 16-bit {kind} PNG, which the installed PNG reader (Pillow) reduces to "
        "8 bits; convert it to a 16-bit TIFF first (e.g. `magick in.png out.tif`), "
        "or to 8 bits if that is acceptable"
    )


@njit(cache=caching_enabled(__file__), nogil=True)
def _unfilter(rows, bpp, out):  # pragma: no cover - compiled
    """Undo the PNG row filters of ``rows`` (uint8, a filter byte then the row)
    into ``out`` (uint8, without the filter bytes); ``bpp`` bytes per pixel.
    Returns -1, or the first row whose filter is unknown."""
    height, width = out.shape
    for y in range(height):
        kind = rows[y, 0]
        if kind > 4:
            return y
        for x in range(width):
            a = np.int32(out[y, x - bpp]) if x >= bpp else np.int32(0)
            b = np.int32(out[y - 1, x]) if y > 0 else np.int32(0)
            c = np.int32(out[y - 1, x - bpp]) if x >= bpp and y > 0 else np.int32(0)
            if kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                pred = np.int32(0)
            out[y, x] = (np.int32(rows[y, x + 1]) + pred) & 0xFF
    return -1
