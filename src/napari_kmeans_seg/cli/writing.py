"""Writing one image's outputs: the labels OME-TIFF, the clusters' CSV, the
masked images and the OME-Zarr labels."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.version import __version__
from .outputs import WRITER
from .reading import Placement
from .safe_write import check_replaceable, publish

if TYPE_CHECKING:
    from ..core.model import KMeansModel
    from ..core.result import SegmentationResult

#: OME unit symbols -> OME-NGFF unit names
_UNIT_NAMES = {
    "µm": "micrometer",
    "um": "micrometer",
    "nm": "nanometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "Å": "angstrom",
    "pm": "picometer",
    "s": "second",
    "ms": "millisecond",
    "µs": "microsecond",
    "min": "minute",
    "h": "hour",
}


def write_outputs(
    result: SegmentationResult,
    image: np.ndarray,
    out: Path,
    stem: str,
    *,
    masks: bool = False,
    placement: Placement | None = None,
    ome_zarr: bool = False,
) -> list[Path]:
    """Write one image's labels TIFF, cluster statistics CSV and masked images.

    Each file is written under a temporary name in ``out`` and renamed when
    whole; a symbolic link or a file this command did not write
    (:func:`~.outputs.written_here`) is never replaced.

    Parameters
    ----------
    result : SegmentationResult
        The segmentation of ``image``.
    image : ndarray
        The segmented image.
    out : Path
        Output folder.
    stem : str
        Base name of the files: ``<stem>_labels.tif``, ``<stem>_clusters.csv``,
        ``<stem>_cluster<i>.png`` (or ``.tif``), ``<stem>_labels.ome.zarr``.
    masks : bool
        Whether to write the masked image of each cluster.
    placement : Placement, optional
        The image's axes and pixel sizes (:func:`read_placement`), written into
        the labels OME-TIFF (and OME-Zarr).
    ome_zarr : bool
        Whether to write the labels as an OME-NGFF labels image too.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    FileExistsError
        If an output would replace a symbolic link or a file this command did
        not write.
    """
    labels_path = out / f"{stem}_labels.tif"
    written = [labels_path, out / f"{stem}_clusters.csv"]
    publish(labels_path, lambda f: _write_labels_tiff(f, result.labels, placement))
    publish(written[1], lambda f: _write_csv(result, f))
    if ome_zarr:
        written.append(
            _write_ome_zarr(result, out / f"{stem}_labels.ome.zarr", placement)
        )
    if masks:
        as_png = image.dtype == np.uint8 and (
            image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (3, 4))
        )
        for i in range(1, result.n_clusters + 1):
            masked = result.masked_image(image, i)
            path = out / f"{stem}_cluster{i}.{'png' if as_png else 'tif'}"
            publish(path, lambda f, m=masked: _write_mask(f, m, png=as_png))
            written.append(path)
    return written


def _write_labels_tiff(f, labels, placement: Placement | None) -> None:
    """The labels as OME-TIFF: their axes and, when known, the pixel sizes."""
    import tifffile

    metadata: dict = {}
    axes = (
        placement.axes if placement else {2: "YX", 3: "ZYX", 4: "TZYX"}.get(labels.ndim)
    )
    if axes is not None:
        metadata["axes"] = axes
    if placement is not None:
        for axis, size, unit in zip(
            placement.axes, placement.scale, placement.units, strict=True
        ):
            key = "TimeIncrement" if axis == "T" else f"PhysicalSize{axis}"
            metadata[key], metadata[f"{key}Unit"] = size, unit
    tifffile.imwrite(
        f,
        labels,
        compression="zlib",
        software=WRITER,
        ome=axes is not None,
        photometric="minisblack",
        metadata=metadata if axes is not None else {},
    )


def _write_mask(f, masked, *, png: bool) -> None:
    if png:
        from PIL import Image, PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Software", WRITER)
        Image.fromarray(masked).save(f, format="PNG", pnginfo=info)
    else:
        import tifffile

        tifffile.imwrite(f, masked, compression="zlib", software=WRITER)


def _write_ome_zarr(result, path: Path, placement: Placement | None) -> Path:
    from ..core.zarr_io import label_colors, write_ome_labels

    check_replaceable(path)
    return write_ome_labels(
        result.labels,
        path,
        axes=placement.axes.lower() if placement else None,
        scale=placement.scale if placement else None,
        units=[_UNIT_NAMES.get(u, u) for u in placement.units] if placement else None,
        colors=label_colors(result.mean_colors),
        overwrite=True,
        attributes={WRITER: {"version": __version__}},
    )


def feature_names(model: KMeansModel) -> list[str]:
    """Names of the model's features, for column headers: red, green, blue /
    intensity / channel0, … for the raw values, else the model's feature names
    (e.g. hue_cos, L*), spaces made underscores."""
    if not model.options.is_default:
        return [name.replace(" ", "_") for name in model.feature_names]
    L = model.layout
    if L.rgb:
        return ["red", "green", "blue"]
    if L.channel_axis is None:
        return ["intensity"]
    return [f"channel{j}" for j in range(model.n_features)]


def _write_csv(result: SegmentationResult, f) -> None:
    """The per-cluster table as CSV into the binary file ``f``."""
    model = result.model
    names = model.cluster_names
    total = max(int(result.counts.sum()), 1)
    header = ["label", *(["name"] if names else [])]
    header += ["pixels", "fraction"]
    header += [f"centroid_{name}" for name in feature_names(model)]
    text = io.TextIOWrapper(f, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    for i in range(result.n_clusters):
        count = int(result.counts[i])
        row = [i + 1, *([names[i]] if names else [])]
        row += [count, repr(count / total)]
        row += [repr(float(c)) for c in result.centroids[i]]
        writer.writerow(row)
    text.flush()
    text.detach()  # the caller owns ``f``
