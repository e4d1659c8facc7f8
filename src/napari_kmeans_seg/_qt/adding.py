"""Adding a result's layers in the main thread, one step per turn of the event loop,
so that the viewer stays responsive and Cancel can stop between two layers."""

from collections.abc import Iterator

from napari.layers import Labels


class LayerSteps:
    """The steps that add or update a run's layers (see
    :meth:`SegmentationInput.iter_add_layers`), counted, and stopped cleanly.

    A new layer meant to be visible is added hidden in one step and shown in the
    next (napari builds its controls in one, slices and uploads its data in the
    other). Stopped between the two, it is shown anyway: Cancel adds no layer,
    but never leaves one hidden.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        Where the layers are added.
    steps : iterator
        Yields each layer once it is added or updated, None between.
    n_layers : int
        How many layers the steps add or update.
    """

    def __init__(self, viewer, steps: Iterator, n_layers: int):
        self._viewer = viewer
        self._steps = steps
        self.n_layers = n_layers
        #: layers added or updated so far
        self.added = 0
        #: whether the labels layer is among them
        self.labels_added = False
        self._hidden: list = []  # added hidden, to be shown at the next step

    def step(self) -> bool:
        """Take the next step (napari's errors propagate); False when there was
        none left."""
        before = {id(layer) for layer in self._viewer.layers}
        try:
            layer = next(self._steps)
        except StopIteration:
            return False
        if layer is None:
            self._hidden = [
                x for x in self._viewer.layers if id(x) not in before and not x.visible
            ]
        else:
            self._hidden = []
            self._count(layer)
        return True

    def stop(self) -> None:
        """Take no more steps; show a layer added hidden to be shown next."""
        for layer in self._hidden:
            layer.visible = True
            self._count(layer)
        self._hidden = []
        self._steps = iter(())

    def _count(self, layer) -> None:
        self.added += 1
        self.labels_added = self.labels_added or isinstance(layer, Labels)
