"""The dock widget: a thin magicgui Container over :func:`compute_layers`.

It collects the options, runs the work in a napari ``thread_worker`` (so the viewer
stays responsive) and hands the layers to :func:`add_or_update_layers`, exactly as
``segment_layer`` does from the console.
"""

# No ``from __future__ import annotations`` here: napari injects the viewer only when
# the annotation is the literal string 'napari.viewer.Viewer'.

import logging
import time
from functools import partial

import napari
import numpy as np
from magicgui.widgets import Container, Label, PushButton, SpinBox, create_widget
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info

from ._features import MAX_CLUSTERS
from ._layers import (
    SourceInfo,
    add_or_update_layers,
    compute_layers,
    resolve_image_layer,
)

logger = logging.getLogger(__name__)

#: largest number of clusters offered by the widget (the API allows up to 254)
WIDGET_MAX_CLUSTERS = min(20, MAX_CLUSTERS)


class KMeansWidget(Container):
    """Segment the chosen image layer into k colour/intensity classes.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers are segmented.
    """

    def __init__(self, viewer: "napari.viewer.Viewer"):
        self._viewer = viewer
        self._worker = None
        self.image = create_widget(
            annotation=napari.layers.Image,
            label="image",
            options={
                "tooltip": "Image layer to segment (defaults to the selected one)"
            },
        )
        self.n_clusters = SpinBox(
            value=3,
            min=2,
            max=WIDGET_MAX_CLUSTERS,
            label="clusters",
            tooltip="Number of colour/intensity classes (k)",
        )
        self.random_state = SpinBox(
            value=0,
            min=0,
            max=2**31 - 1,
            label="random seed",
            tooltip="Seed of the k-means++ starts: the same seed gives the same labels",
        )
        self.run_button = PushButton(
            text="Segment", tooltip="Cluster the image's pixels"
        )
        self.status = Label(value="")
        super().__init__(
            widgets=[
                self.image,
                self.n_clusters,
                self.random_state,
                self.run_button,
                self.status,
            ]
        )
        self.run_button.changed.connect(self._on_segment)
        viewer.layers.selection.events.active.connect(self._follow_selection)
        self._follow_selection()

    @property
    def busy(self) -> bool:
        """True while a segmentation runs."""
        return self._worker is not None

    def reset_choices(self, *args) -> None:
        """Refresh the layer choices, then pick the selected image layer."""
        super().reset_choices(*args)
        self._follow_selection()

    def _follow_selection(self, event=None) -> None:
        active = self._viewer.layers.selection.active
        if isinstance(active, napari.layers.Image) and active in self.image.choices:
            self.image.value = active

    def _on_segment(self, _=None) -> None:
        if self.busy:
            return
        try:
            source = resolve_image_layer(self._viewer, self.image.value)
        except ValueError as err:
            show_error(str(err))
            return
        info = SourceInfo.from_layer(source)
        self.run_button.enabled = False
        self.status.value = f"segmenting {info.name}…"
        self._worker = create_worker(
            compute_layers,
            np.asarray(source.data),
            info,
            self.n_clusters.value,
            random_state=self.random_state.value,
            _progress={"total": 0, "desc": f"Segmenting {info.name}"},
            _connect={
                "returned": partial(self._on_returned, info, time.perf_counter()),
                "errored": self._on_errored,
                "finished": self._on_finished,
            },
        )

    def _on_returned(self, info: SourceInfo, started: float, output) -> None:
        result, layer_data = output
        if info.name not in self._viewer.layers:
            show_info(f"layer {info.name!r} was removed; its segmentation is discarded")
            self.status.value = ""
            return
        add_or_update_layers(self._viewer, layer_data, source_name=info.name)
        seconds = time.perf_counter() - started
        self.status.value = f"{result.n_clusters} clusters in {seconds:.2f} s" + (
            "" if result.converged else " (not converged)"
        )

    def _on_errored(self, err: Exception) -> None:
        self.status.value = ""
        if isinstance(err, ValueError | TypeError | MemoryError):
            show_error(str(err))
        else:
            logger.error("segmentation failed", exc_info=err)
            show_error(f"Segmentation failed unexpectedly: {err!r}")

    def _on_finished(self) -> None:
        self._worker = None
        self.run_button.enabled = True
