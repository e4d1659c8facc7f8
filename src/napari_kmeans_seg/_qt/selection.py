"""The selection linked between the clusters table and the labels layer.

napari's own mechanism carries it: a cluster is selected when the labels layer
shows its ``selected_label`` alone (``show_selected_label``). Selecting a table row
sets them; setting them (in the layer controls, or by clicking a centre in the
colour-space view) selects the row. The selected cluster is drawn opaque in a
colour that stands out from the photo; clearing the selection restores the
layer's colours and opacity.
"""

import contextlib

import numpy as np

#: highlight colours: magenta, or green for a cluster that is magenta-ish itself
HIGHLIGHT = np.array([1.0, 0.0, 1.0, 1.0])
HIGHLIGHT_ALT = np.array([0.0, 1.0, 0.0, 1.0])


def highlight_color(color) -> np.ndarray:
    """The highlight colour for a cluster drawn in ``color`` (RGBA in [0, 1])."""
    color = np.asarray(color, float)[:3]
    return HIGHLIGHT_ALT if np.abs(color - HIGHLIGHT[:3]).sum() < 1.0 else HIGHLIGHT


class SelectionLink:
    """Links a :class:`ClusterTablePanel` with the labels layer it describes.

    Parameters
    ----------
    table : ClusterTablePanel
        The table; its ``cluster_chosen`` signal drives the layer.
    """

    def __init__(self, table):
        self._table = table
        self._layer = None
        self._original = None  # (colormap, opacity) before the highlight
        self._busy = False
        table.cluster_chosen.connect(self._on_table)

    @property
    def layer(self):
        """The labels layer linked (None: none)."""
        return self._layer

    def attach(self, layer) -> None:
        """Link the table with ``layer`` (None: unlink), whose colours are
        those of its new result: a selection left from before is cleared."""
        self.detach()
        if layer is None:
            return
        self._layer = layer
        if layer.show_selected_label:  # left from an earlier result
            with self._quiet():
                layer.show_selected_label = False
        events = layer.events
        events.selected_label.connect(self._on_layer)
        events.show_selected_label.connect(self._on_layer)

    def detach(self) -> None:
        """Unlink (the highlight, if any, is removed)."""
        layer, self._layer = self._layer, None
        if layer is None:
            return
        with contextlib.suppress(Exception):  # the layer may be gone
            layer.events.selected_label.disconnect(self._on_layer)
            layer.events.show_selected_label.disconnect(self._on_layer)
            self._restore(layer)
        self._original = None

    @contextlib.contextmanager
    def _quiet(self):
        """Ignore the layer's events meanwhile: setting its colormap re-emits
        ``selected_label``, and the two fields are set one after the other."""
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    def _on_table(self, cluster_id: int) -> None:
        layer = self._layer
        if layer is None or self._busy:
            return
        with self._quiet():
            if cluster_id:
                layer.selected_label = int(cluster_id)
            layer.show_selected_label = bool(cluster_id)
        self._apply(layer, int(cluster_id), sync_table=False)

    def _on_layer(self, event=None) -> None:
        layer = self._layer
        if layer is None or self._busy:
            return
        chosen = int(layer.selected_label) if layer.show_selected_label else 0
        self._apply(layer, chosen, sync_table=True)

    def _apply(self, layer, chosen: int, *, sync_table: bool) -> None:
        """Highlight ``chosen`` (0: restore), selecting its table row if asked."""
        table = self._table
        with self._quiet():
            if chosen and chosen in table.cluster_ids:
                if sync_table and table.selected_ids() != [chosen]:
                    table.select_ids([chosen], quiet=True)
                self._highlight(layer, chosen)
            else:
                if sync_table and len(table.selected_ids()) == 1:
                    table.select_ids([], quiet=True)
                self._restore(layer)

    def _highlight(self, layer, cluster_id: int) -> None:
        from napari.utils.colormaps import DirectLabelColormap

        if self._original is None:
            self._original = (layer.colormap, layer.opacity)
        base = self._original[0]
        colors = dict(getattr(base, "color_dict", {}) or {})
        colors.setdefault(None, np.zeros(4))
        colors[int(cluster_id)] = highlight_color(
            colors.get(int(cluster_id), HIGHLIGHT)
        )
        highlight = DirectLabelColormap(color_dict=colors)
        _sync_selection(highlight, layer)
        layer.colormap = highlight
        layer.opacity = 1.0

    def _restore(self, layer) -> None:
        if self._original is None:
            return
        colormap, opacity = self._original
        self._original = None
        _sync_selection(colormap, layer)
        layer.colormap = colormap
        layer.opacity = opacity


def _sync_selection(colormap, layer) -> None:
    """Give ``colormap`` the layer's selection state before it is assigned (as
    napari does): a colormap draws only the selected label when its
    ``use_selection`` is on, whatever the layer's flag says."""
    colormap.use_selection = bool(layer.show_selected_label)
    colormap.selection = int(layer.selected_label)
