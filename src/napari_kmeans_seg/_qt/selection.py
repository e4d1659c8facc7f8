"""The selection linked between the clusters table and the labels layer.

napari's own mechanism carries it: the layer's ``selected_label`` is the selected
cluster, and ``show_selected_label`` shows it alone. Selecting a table row sets
both; napari's label picker (or the layer controls) setting ``selected_label``
selects the row, without showing the cluster alone unless "show selected" is
ticked; ticking it (or clicking a centre in the colour-space view) selects the
row and shows the cluster alone. The cluster shown alone is drawn opaque in a
colour that stands out from the photo; clearing the selection restores the
layer's colours and opacity.

Only the labels layer this plugin made is linked (the widget finds it by
identity): a user's layer that has the output's name is never touched.
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
        #: the layer's selected label last seen: napari re-emits
        #: ``selected_label`` unchanged whenever the colormap is set
        self._seen = 0
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
        self._seen = int(layer.selected_label)
        if layer.show_selected_label:  # left from an earlier result
            with self._quiet():
                layer.show_selected_label = False
        events = layer.events
        events.selected_label.connect(self._on_picked)
        events.show_selected_label.connect(self._on_shown)

    def detach(self) -> None:
        """Unlink (the highlight, if any, is removed)."""
        layer, self._layer = self._layer, None
        if layer is None:
            return
        with contextlib.suppress(Exception):  # the layer may be gone
            layer.events.selected_label.disconnect(self._on_picked)
            layer.events.show_selected_label.disconnect(self._on_shown)
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
        self._seen = int(layer.selected_label)
        self._apply(layer, int(cluster_id), sync_table=False)

    def _on_picked(self, event=None) -> None:
        """``selected_label`` changed (napari's picker, the layer controls): its
        row is selected; the cluster is shown alone only if the layer says so."""
        layer = self._layer
        if layer is None or self._busy or int(layer.selected_label) == self._seen:
            return
        picked = self._seen = int(layer.selected_label)
        if layer.show_selected_label:
            self._apply(layer, picked, sync_table=True)
            return
        table = self._table
        wanted = [picked] if picked in table.cluster_ids else []
        if table.selected_ids() != wanted:
            with self._quiet():
                table.select_ids(wanted, quiet=True)

    def _on_shown(self, event=None) -> None:
        """``show_selected_label`` toggled: the selected cluster shown alone and
        highlighted, or every cluster in its colours again (no row selected)."""
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
