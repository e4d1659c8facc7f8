"""Images for the command line to segment, and ways to look at what it wrote."""

import csv
import hashlib
import os
from pathlib import Path

import imageio.v3 as iio
import tifffile


def write_photos(folder: Path) -> Path:
    """astronaut.png, coffee.jpg (RGB) and camera.tif (greyscale) in ``folder``,
    beside a text file."""
    from skimage import data

    iio.imwrite(folder / "astronaut.png", data.astronaut())
    iio.imwrite(folder / "coffee.jpg", data.coffee())
    tifffile.imwrite(folder / "camera.tif", data.camera())
    (folder / "notes.txt").write_text("not an image, not picked from the folder")
    return folder


def write_small(folder: Path) -> Path:
    """``folder`` with a.png and the user's own b_labels.tif (an RGB image whose
    name looks like an output)."""
    from skimage import data

    folder.mkdir()
    iio.imwrite(folder / "a.png", data.astronaut()[::4, ::4])
    tifffile.imwrite(folder / "b_labels.tif", data.coffee()[::4, ::4])
    return folder


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def snapshot(root):
    """Every path under ``root``: a file's SHA-256, a link's target (links are
    not followed), a folder's mark."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                out[key] = ("link", os.readlink(path))
            elif path.is_dir():
                out[key] = ("dir",)
            else:
                out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp" in p.name or "partial" in p.name]
