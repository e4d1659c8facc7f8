"""The layers this plugin made, known by identity.

napari's *Duplicate Layer* copies a layer's name and metadata, and a user may rename
or paste, so neither says who made a layer. The plugin keeps a weak reference to
each layer object it creates, with the image it was made from and the name it was
made under: only those layers are ever updated, replaced or removed by a re-run,
and a copy of them is the user's own layer.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Made:
    """What the plugin made a layer as.

    Attributes
    ----------
    source : str
        The name of the image layer it was made from.
    role : str
        The name it was made under (``"<image> clusters"``, ``"<image> cluster 2"``,
        ...), kept when the layer is renamed or got a free name.
    """

    source: str
    role: str


#: the layer objects this process's plugin made (dropped when a layer is freed)
_MADE: weakref.WeakKeyDictionary[Any, Made] = weakref.WeakKeyDictionary()


def mark_made(layer: Any, *, source: str, role: str) -> None:
    """Record ``layer`` as made by the plugin from ``source`` as ``role``."""
    _MADE[layer] = Made(source=source, role=role)


def made(layer: Any) -> Made | None:
    """What the plugin made ``layer`` as, or None for a layer it did not make
    (a user's, or a copy of an output)."""
    try:
        return _MADE.get(layer)
    except TypeError:  # not weakly referable: not a layer the plugin made
        return None
