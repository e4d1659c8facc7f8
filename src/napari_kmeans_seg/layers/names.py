"""The names the result layers are made under, and the metadata key naming their
source: one home for each output's name, whoever builds, finds or removes it."""

from __future__ import annotations

#: metadata key naming the source layer of an output (information only: a copy of
#: a layer carries it too, so ownership is known by identity, see :mod:`.owned`)
SOURCE_KEY = "napari_kmeans_seg_source"


def labels_name(image_name: str) -> str:
    """Name of the labels layer made from the image layer ``image_name``."""
    return f"{image_name} clusters"


def cluster_name(image_name: str, cluster_id: int) -> str:
    """Name of the masked image layer of one cluster."""
    return f"{image_name} cluster {cluster_id}"


def mean_color_name(image_name: str) -> str:
    """Name of the mean-colour image layer made from the image layer
    ``image_name``."""
    return f"{image_name} mean colour"
