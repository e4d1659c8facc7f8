"""Writing one image's outputs: the labels OME-TIFF, the clusters' CSV, the
masked images and the OME-Zarr labels."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.version import __version__
from ..core.zarr_mixture import cluster_names
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
    """Write one image's labels TIFF, cluster statistics CSV and masked images;
    for a Gaussian mixture, its probability and uncertainty maps too.

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
        ``<stem>_cluster<i>.png`` (or ``.tif``), ``<stem>_labels.ome.zarr``; for
        a mixture ``<stem>_probabilities.tif`` (float32, one channel per
        cluster: a ``C`` axis before Z, Y, X, after T), ``<stem>_uncertainty.tif``
        (float32) and, with ``ome_zarr``, the same as ``.ome.zarr`` images.
    masks : bool
        Whether to write the masked image of each cluster.
    placement : Placement, optional
        The image's axes and pixel sizes (:func:`read_placement`), written into
        the labels OME-TIFF (and OME-Zarr), and the maps'.
    ome_zarr : bool
        Whether to write the labels (and maps) as OME-NGFF images too.

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
    maps = _mixture_maps(result)
    for name, data in maps.items():
        path = out / f"{stem}_{name}.tif"
        publish(path, lambda f, n=name, d=data: _write_map_tiff(f, n, d, placement))
        written.append(path)
    if ome_zarr:
        written.append(
            _write_ome_zarr(result, out / f"{stem}_labels.ome.zarr", placement)
        )
        for name, data in maps.items():
            path = out / f"{stem}_{name}.ome.zarr"
            written.append(_write_ome_map(data, path, name, placement))
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


def _mixture_maps(result: SegmentationResult) -> dict[str, np.ndarray]:
    """A Gaussian mixture's probabilities ``(k, *labels.shape)`` and uncertainty
    (float32); none for k-means."""
    if result.probabilities is None:
        return {}
    return {
        "probabilities": np.asarray(result.probabilities, dtype=np.float32),
        "uncertainty": np.asarray(result.uncertainty, dtype=np.float32),
    }


def _labels_axes(ndim: int, placement: Placement | None) -> str | None:
    """The OME axis letters of labels of ``ndim`` dimensions."""
    return placement.axes if placement else {2: "YX", 3: "ZYX", 4: "TZYX"}.get(ndim)


def _write_labels_tiff(f, labels, placement: Placement | None) -> None:
    """The labels as OME-TIFF: their axes and, when known, the pixel sizes."""
    _write_ome_tiff(f, labels, _labels_axes(labels.ndim, placement), placement)


def _write_map_tiff(f, name: str, data: np.ndarray, placement) -> None:
    """A mixture's map as float32 OME-TIFF placed as the labels: the uncertainty
    (the labels' shape), or the probabilities with their clusters as a channel
    axis ``C`` (first, or after T), the channels named "cluster 1", …"""
    probabilities = name == "probabilities"
    axes = _labels_axes(data.ndim - probabilities, placement)
    if probabilities and axes is not None:
        at = _channel_position(axes)
        data = np.moveaxis(data, 0, at)
        axes = f"{axes[:at]}C{axes[at:]}"
    _write_ome_tiff(f, data, axes, placement)


def _channel_position(axes: str) -> int:
    """Where OME puts the channel axis among these (after T)."""
    return int(axes.startswith("T"))


def _write_ome_tiff(f, data, axes: str | None, placement: Placement | None) -> None:
    """``data`` as OME-TIFF with these axes (a plain TIFF when None) and, when
    known, the pixel sizes of its T, Z, Y and X axes."""
    import tifffile

    metadata: dict = {}
    if axes is not None:
        metadata["axes"] = axes
    if placement is not None:
        for axis, size, unit in zip(
            placement.axes, placement.scale, placement.units, strict=True
        ):
            key = "TimeIncrement" if axis == "T" else f"PhysicalSize{axis}"
            metadata[key], metadata[f"{key}Unit"] = size, unit
    if axes is not None and "C" in axes:
        metadata["Channel"] = {"Name": cluster_names(data.shape[axes.index("C")])}
    tifffile.imwrite(
        f,
        data,
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


def _write_ome_map(data, path: Path, name: str, placement: Placement | None) -> Path:
    """A mixture's map as an OME-NGFF image (the probabilities with a channel
    axis ``c``, hidden at first as napari opens them; the uncertainty shown),
    marked as this command's."""
    from ..core.ome_ngff import write_ome_image

    check_replaceable(path)
    probabilities = name == "probabilities"
    return write_ome_image(
        data,
        path,
        name=name,
        channel_names=cluster_names(data.shape[0]) if probabilities else None,
        visible=not probabilities,
        **_ome_placement(placement),
        overwrite=True,
        attributes={WRITER: {"version": __version__}},
    )


def _ome_placement(placement: Placement | None) -> dict:
    """The axes, pixel sizes and units of OME-NGFF, from the input's OME-TIFF."""
    if placement is None:
        return {"axes": None, "scale": None, "units": None}
    return {
        "axes": placement.axes.lower(),
        "scale": placement.scale,
        "units": [_UNIT_NAMES.get(u, u) for u in placement.units],
    }


def _write_ome_zarr(result, path: Path, placement: Placement | None) -> Path:
    from ..core.ome_ngff import label_colors, write_ome_labels

    check_replaceable(path)
    return write_ome_labels(
        result.labels,
        path,
        **_ome_placement(placement),
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
