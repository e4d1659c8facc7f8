"""The command line reads every image at its stored depth and channel count, or
refuses it: a 16-bit image is never segmented as its 8-bit reduction (issue 26),
a CMYK JPEG is read as colour and a CMYK TIFF refused."""

import csv
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_kmeans_seg import segment
from napari_kmeans_seg.cli import main, read_image

#: PNG colour types by channel count: grey, grey + alpha, RGB, RGBA
_PNG_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}


def write_png16(
    path: Path, pixels: np.ndarray, filters=(0,), interlace: int = 0
) -> None:
    """A 16-bit PNG of ``pixels`` ((Y, X) or (Y, X, 1-4) uint16), written byte by
    byte (Pillow cannot write 16-bit colour PNGs); row ``y`` filtered with
    ``filters[y % len(filters)]`` (0 none, 1 sub, 2 up, 3 average, 4 Paeth)."""
    pixels = np.asarray(pixels, dtype=">u2")
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    header = struct.pack(
        ">IIBBBBB", width, height, 16, _PNG_COLOR_TYPES[channels], 0, 0, interlace
    )
    raw = pixels.reshape(height, -1).view(np.uint8).astype(np.int32)
    rows = b"".join(
        bytes([kind]) + _filtered(raw, y, kind, 2 * channels).tobytes()
        for y in range(height)
        for kind in [filters[y % len(filters)]]
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _filtered(raw: np.ndarray, y: int, kind: int, bpp: int) -> np.ndarray:
    """Row ``y`` of the bytes ``raw`` under the PNG filter ``kind`` (the PNG
    specification, section 9)."""
    x = raw[y]
    left = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]])
    up = raw[y - 1] if y > 0 else np.zeros_like(x)
    corner = np.concatenate([np.zeros(bpp, np.int32), up[:-bpp]])
    p = left + up - corner
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - corner)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, corner))
    predicted = [0, left, up, (left + up) // 2, paeth][kind]
    return ((x - predicted) % 256).astype(np.uint8)


def sixteen_bit(channels: int, shape=(30, 40)) -> np.ndarray:
    """Three regions whose values differ only in 16 bits (all above 255, each
    region spread over many 8-bit steps)."""
    rng = np.random.default_rng(channels)
    levels = np.array([1000.0, 21000.0, 60000.0])
    region = (np.arange(shape[1]) * 3 // shape[1])[None, :] * np.ones(shape, int)
    values = levels[region] + rng.normal(0, 700, shape)
    if channels > 1:
        values = values[..., None] + rng.normal(0, 700, (*shape, channels))
    return np.clip(values, 256, 65535).astype(np.uint16)


def _csv_centroids(path: Path) -> np.ndarray:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = [c for c in rows[0] if c.startswith("centroid_")]
    return np.array([[float(r[c]) for c in columns] for r in rows])


def _round_trip(path: Path, pixels: np.ndarray, out: Path) -> None:
    """Segment ``path`` through the command line: labels, CSV and masked images
    as :func:`segment` gives them on the true pixels."""
    assert main(["segment", str(path), "--masks", "--out", str(out)]) == 0
    expected = segment(pixels, 3, random_state=0)
    labels = tifffile.imread(out / f"{path.stem}_labels.tif")
    np.testing.assert_array_equal(labels, expected.labels)
    centroids = _csv_centroids(out / f"{path.stem}_clusters.csv")
    np.testing.assert_array_equal(centroids, expected.centroids)
    assert centroids.max() > 255  # in the 16-bit range, not 0..255
    for i in (1, 2, 3):
        masked = tifffile.imread(out / f"{path.stem}_cluster{i}.tif")
        assert masked.dtype == np.uint16
        np.testing.assert_array_equal(masked, expected.masked_image(pixels, i))


def test_a_16_bit_greyscale_png_is_read_and_segmented_at_16_bits(tmp_path):
    pixels = sixteen_bit(1)
    write_png16(tmp_path / "grey16.png", pixels)
    np.testing.assert_array_equal(read_image(tmp_path / "grey16.png"), pixels)
    _round_trip(tmp_path / "grey16.png", pixels, tmp_path / "out")


@pytest.mark.parametrize("channels", [3, 4])
def test_a_16_bit_colour_tiff_is_read_and_segmented_at_16_bits(tmp_path, channels):
    pixels = sixteen_bit(channels)
    tifffile.imwrite(tmp_path / "colour16.tif", pixels, photometric="rgb")
    read = read_image(tmp_path / "colour16.tif")
    assert read.dtype == np.uint16
    np.testing.assert_array_equal(read, pixels)
    if channels == 3:
        _round_trip(tmp_path / "colour16.tif", pixels, tmp_path / "out")


@pytest.mark.parametrize("channels", [2, 3, 4], ids=["grey-alpha", "RGB", "RGBA"])
@pytest.mark.parametrize("filters", [(0,), (1,), (2,), (3,), (4,), (0, 1, 2, 3, 4)])
def test_a_16_bit_colour_png_is_read_at_16_bits(tmp_path, channels, filters):
    pixels = sixteen_bit(channels)
    write_png16(tmp_path / "colour16.png", pixels, filters)
    read = read_image(tmp_path / "colour16.png")
    assert read.dtype == np.uint16 and read.shape == pixels.shape
    np.testing.assert_array_equal(read, pixels)


def test_a_16_bit_rgb_png_is_segmented_at_16_bits(tmp_path):
    pixels = sixteen_bit(3)
    write_png16(tmp_path / "rgb16.png", pixels, (0, 1, 2, 3, 4))
    _round_trip(tmp_path / "rgb16.png", pixels, tmp_path / "out")


def test_an_interlaced_16_bit_colour_png_is_refused_clearly(tmp_path, capsys):
    write_png16(tmp_path / "laced.png", sixteen_bit(3), interlace=1)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "laced.png"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "laced.png: cannot read it" in err and "interlaced 16-bit" in err
    assert "TIFF" in err and not list(out.glob("laced*"))


def test_a_damaged_16_bit_png_is_refused_clearly(tmp_path):
    path = tmp_path / "damaged.png"
    write_png16(path, sixteen_bit(3))
    raw = bytearray(path.read_bytes())
    raw[60] ^= 0xFF  # inside the image data
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="damaged PNG"):
        read_image(path)


def test_an_8_bit_png_is_still_read_as_it_is(tmp_path):
    import imageio.v3 as iio

    pixels = (sixteen_bit(3) >> 8).astype(np.uint8)
    iio.imwrite(tmp_path / "rgb8.png", pixels)
    read = read_image(tmp_path / "rgb8.png")
    assert read.dtype == np.uint8
    np.testing.assert_array_equal(read, pixels)


def test_cmyk_jpeg_is_read_as_colour_and_cmyk_tiff_refused(tmp_path, capsys):
    from PIL import Image
    from skimage import data

    rgb = Image.fromarray(data.astronaut()[::4, ::4])
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "cmyk.jpg"), "-k", "3", "-o", str(out)]) == 0
    labels = tifffile.imread(out / "cmyk_labels.tif")
    with Image.open(tmp_path / "cmyk.jpg") as im:
        assert im.mode == "CMYK"
        expected = segment(np.asarray(im.convert("RGB")), 3, random_state=0)
    assert labels.min() >= 1  # every pixel clustered (K is no alpha)
    np.testing.assert_array_equal(labels, expected.labels)
    with open(out / "cmyk_clusters.csv", newline="") as f:
        assert [r["centroid_red"] for r in csv.DictReader(f)]

    cmyk = np.zeros((8, 8, 4), np.uint8)
    tifffile.imwrite(tmp_path / "cmyk.tif", cmyk, photometric="separated")
    assert main(["segment", str(tmp_path / "cmyk.tif"), "-o", str(out)]) == 1
    assert "a CMYK TIFF" in capsys.readouterr().err
