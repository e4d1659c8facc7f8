"""The files this command writes: their names, and how to recognise them (so
that a later run replaces them, and nothing else)."""

from __future__ import annotations

from pathlib import Path

from .program import PROG

#: what marks the files this command writes (TIFF and PNG "Software", OME-Zarr
#: attribute), so that a later run replaces them and nothing else
WRITER = PROG


#: the maps of a Gaussian mixture, written beside the labels (``STEM_<name>.tif``)
MIXTURE_MAPS = ("probabilities", "uncertainty")


def output_names(
    stem: str, k: int, *, masks: bool, ome_zarr: bool, mixture: bool = False
) -> list[str]:
    """Every name the outputs of an image ``stem`` may take (both suffixes of the
    masked images: which one is known only once the image is read); with
    ``mixture``, the probability and uncertainty maps too."""
    names = [f"{stem}_labels.tif", f"{stem}_clusters.csv"]
    maps = MIXTURE_MAPS if mixture else ()
    names += [f"{stem}_{m}.tif" for m in maps]
    if ome_zarr:
        names.append(f"{stem}_labels.ome.zarr")
        names += [f"{stem}_{m}.ome.zarr" for m in maps]
    if masks:
        names += [
            f"{stem}_cluster{i}.{ext}"
            for ext in ("png", "tif")
            for i in range(1, k + 1)
        ]
    return names


def written_here(path: Path) -> bool:
    """Whether ``path`` is a file (or OME-Zarr folder) this command wrote: a TIFF
    or PNG whose "Software" is :data:`WRITER`, a CSV with this command's header,
    an OME-Zarr marked with it, a model file."""
    import json
    import re

    name = path.name.lower()
    try:
        if name.endswith(".zarr"):
            meta = json.loads((path / "zarr.json").read_text(encoding="utf-8"))
            return WRITER in meta.get("attributes", {})
        if path.is_dir():
            return False
        if name.endswith((".tif", ".tiff")):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                return tif.pages[0].software == WRITER
        if name.endswith(".png"):
            from PIL import Image

            with Image.open(path) as im:
                return im.text.get("Software") == WRITER
        if name.endswith(".csv"):
            with path.open(encoding="utf-8") as f:
                head = f.readline()
            return (
                re.match(r"label,(name,)?pixels,fraction,centroid_", head) is not None
            )
        if name.endswith(".json"):
            from ..core.model import FORMAT

            data = json.loads(path.read_text(encoding="utf-8"))
            return isinstance(data, dict) and data.get("format") == FORMAT
    except Exception:  # unreadable: not ours to replace
        return False
    return False


def is_output_name(name: str) -> bool:
    """Whether ``name`` looks like a file this command writes."""
    import re

    found = re.search(
        r"_(labels|probabilities|uncertainty)\.tif$|_cluster\d+\.(png|tif)$", name
    )
    return found is not None
