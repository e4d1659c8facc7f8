"""The result the dock shows after a run: its table, the labels layer linked with
the table, the colour-space view, and what Merge merges."""

from dataclasses import dataclass
from typing import Any

from ..core.segment import SegmentationResult
from ..layers.inputs import SegmentationInput
from ..layers.names import labels_name
from ..layers.viewer_layers import find_output_layer


@dataclass(frozen=True, eq=False)
class Shown:
    """The result shown in the table: what Merge merges."""

    inputs: SegmentationInput
    result: SegmentationResult
    layer_options: dict[str, Any]


class ShownResult:
    """Shows a run's result (or a console segmentation) in the dock's parts.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Where the labels layers are.
    parts : dict
        The dock's ``table_panel``, ``link`` (:class:`SelectionLink`), ``views``
        (:class:`ColorViewDock`), ``model_panel`` and ``run_panel``.
    """

    def __init__(self, viewer, **parts):
        self._viewer = viewer
        self._table = parts["table_panel"]
        self._link = parts["link"]
        self._views = parts["views"]
        self._models = parts["model_panel"]
        self._run_panel = parts["run_panel"]
        #: what the table shows of a run (None: nothing, or a console result)
        self.current: Shown | None = None

    def show_run(self, run) -> None:
        """Show ``run``'s result, its labels layer in the viewer."""
        result = run.result
        self._models.last_model = result.model
        self.current = Shown(run.inputs, result, run.layer_options)
        # the labels layer this run made or updated, not a user's of that name
        self._link.attach(
            find_output_layer(self._viewer, run.name, labels_name(run.name))
        )
        self._table.set_result(
            result, title=run.name, channel_names=run.inputs.channel_names
        )
        self._views.show_result(run.inputs.data, result, run.name)

    def show_console(self, labels_layer, frame, source: str) -> None:
        """Show a segmentation made outside the widget: its table, linked with its
        labels layer (nothing to merge)."""
        self.current = None
        self._models.last_model = None
        self._link.attach(labels_layer)
        self._table.set_frame(frame, title=source)
        self._run_panel.set_status(
            f"showing {labels_layer.name!r}, segmented outside this widget"
        )

    def source_renamed(self, old: str, new: str) -> None:
        """The image layer ``old`` is now ``new``: the table and Merge follow."""
        shown = self.current
        if shown is not None and shown.inputs.names == (old,):
            self.current = Shown(
                shown.inputs.renamed(new), shown.result, shown.layer_options
            )
            self._table.retitle(new)

    def colorview_data(self) -> tuple | None:
        """(image, result, name) for the colour-space view, or None when there is
        no result, or its layer was removed or changed since."""
        shown = self.current
        if shown is None or shown.inputs.problem(self._viewer) is not None:
            return None
        return (shown.inputs.data, shown.result, shown.inputs.name)
