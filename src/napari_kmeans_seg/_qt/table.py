"""The per-cluster statistics table and its **Merge** button.

A GUI module (Qt through magicgui/qtpy), made to be dropped into the segmentation
widget: it shows :meth:`SegmentationResult.table` read-only, one row per cluster,
and asks for a merge of the selected clusters (the widget does the merging, in a
worker thread, and gives the panel the merged result).
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
from magicgui.widgets import Container, Label, PushButton
from psygnal import Signal
from qtpy.QtCore import Qt
from qtpy.QtGui import QBrush, QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
)

from ..core.segment import SegmentationResult
from .reflow import wrap_text

#: text of the hint under the table when there is nothing to merge
MERGE_HINT = "select two or more rows (Ctrl/Shift-click), then Merge"
MERGE_TIP = (
    "Merge the selected clusters into one (the lowest label); the other labels "
    "are renumbered"
)
#: the names of the methods of :func:`segment`'s ``mixture``
MIXTURE_NAMES = {"full": "full", "diag": "diagonal"}


def mixture_note(result: SegmentationResult | None) -> str:
    """What the caption says of a Gaussian mixture (empty for k-means): its
    covariances, mean log-likelihood per pixel and BIC (when the result has
    them), and whether EM converged."""
    mixture = None if result is None else result.model.mixture
    if mixture is None:
        return ""
    kind = MIXTURE_NAMES.get(mixture.covariance_type, mixture.covariance_type)
    note = f"Gaussian mixture ({kind})"
    if result.log_likelihood is not None:
        note += (
            f", log-likelihood {result.log_likelihood:.4g} per pixel, "
            f"BIC {result.bic():.6g}"
        )
        if result.mixture_converged is False:
            note += f", EM not converged in {result.mixture_n_iter} iterations"
    return note


def merge_refusal(result: SegmentationResult | None) -> str | None:
    """Why the clusters of ``result`` cannot be merged at all (a Gaussian
    mixture: the core's own message, refused before any work), or None."""
    if result is None or result.probabilities is None:
        return None
    try:
        result.merge([1, 2])  # refused at once for a mixture
    except ValueError as err:
        text = str(err)
        return text[:1].upper() + text[1:]
    return None


def format_cell(value) -> str:
    """The text of one table cell: integers as they are, fractions and features
    with 4 significant digits, missing values as an empty string."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "" if not np.isfinite(value) else f"{float(value):.4g}"
    return str(value)


#: the table's height range (pixels): it shrinks in a small dock, more rows scroll
MIN_TABLE_HEIGHT, MAX_TABLE_HEIGHT = 70, 200
#: the HSV cone features of the core, shown as hue (degrees), saturation, value
HSV_CONE = ("hue_x", "hue_y", "value")


def display_frame(
    frame: pd.DataFrame, channel_names: Sequence[str] = ()
) -> pd.DataFrame:
    """The table as a user reads it: ``c0, c1, …`` named after the layers
    clustered as channels, and the HSV cone's ``hue_x, hue_y, value`` as
    ``H`` (degrees), ``S`` and ``V``."""
    frame = frame.copy()
    names = {f"c{j}": str(name) for j, name in enumerate(channel_names)}
    frame = frame.rename(columns={k: v for k, v in names.items() if k in frame})
    if all(c in frame for c in HSV_CONE):
        x, y, v = (frame[c].to_numpy(float) for c in HSV_CONE)
        chroma = np.hypot(x, y)
        with np.errstate(invalid="ignore", divide="ignore"):
            sat = np.where(v > 0, chroma / v, 0.0)
        at = frame.columns.get_loc("hue_x")
        frame = frame.drop(columns=list(HSV_CONE))
        frame.insert(at, "V", v)
        frame.insert(at, "S", np.clip(sat, 0.0, 1.0))
        frame.insert(at, "H", np.degrees(np.arctan2(y, x)) % 360.0)
    return frame


class ClusterTablePanel(Container):
    """The clusters of the last result as a read-only table, with **Merge**.

    Columns are those of :meth:`SegmentationResult.table` (label, pixels, fraction,
    one per centroid feature and, for RGB images, the mean colour as a hex string
    on a swatch of that colour). Selecting two or more rows enables **Merge**,
    which emits :attr:`merge_requested` with their labels.

    Attributes
    ----------
    merge_requested : Signal(list)
        Emitted with the sorted labels of the selected rows when **Merge** is
        clicked.
    cluster_chosen : Signal(int)
        Emitted when the selection changes: the label of the one selected row,
        0 for none or several.
    """

    merge_requested = Signal(list)
    #: emitted with the label of the one selected row (0: none, or several)
    cluster_chosen = Signal(int)

    def __init__(self):
        self.merge_button = PushButton(text="Merge", enabled=False, tooltip=MERGE_TIP)
        self.hint = Label(value="")
        wrap_text(self.hint.native)
        self.caption = Label(value="")
        wrap_text(self.caption.native)  # a long layer name wraps
        super().__init__(
            widgets=[
                self.caption,
                Container(
                    widgets=[self.merge_button, self.hint],
                    layout="horizontal",
                    labels=False,
                ),
            ],
            labels=False,
        )
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.table.setMinimumHeight(MIN_TABLE_HEIGHT)
        self.table.setMaximumHeight(MAX_TABLE_HEIGHT)
        self.table.setToolTip("The clusters of the last segmentation")
        self.native.layout().insertWidget(1, self.table)
        self._ids: list[int] = []
        self._locked = False
        #: why Merge cannot apply to the result shown (None: it can)
        self._refusal: str | None = None
        self._title = self._note = ""
        self._n_rows = 0
        self.table.itemSelectionChanged.connect(self._on_selection)
        self._quiet = False
        self.merge_button.changed.connect(self._on_merge_clicked)
        self.set_result(None)

    # ------------------------------------------------------------------ content

    @property
    def columns(self) -> list[str]:
        """The column headers shown."""
        return [
            self.table.horizontalHeaderItem(j).text()
            for j in range(self.table.columnCount())
        ]

    def cell(self, row: int, column: str) -> str:
        """The text shown in ``row`` (0-based) under ``column``."""
        return self.table.item(row, self.columns.index(column)).text()

    def set_result(
        self,
        result: SegmentationResult | None,
        *,
        title: str = "",
        channel_names: Sequence[str] = (),
    ) -> None:
        """Show the clusters of ``result`` (None: empty, Merge disabled), under the
        caption ``"<title>: <n> clusters"`` (a Gaussian mixture's log-likelihood
        and BIC after it, :func:`mixture_note`); ``channel_names``: the layers
        clustered as channels (column names). Merge stays disabled for a
        result whose clusters cannot be merged (:func:`merge_refusal`)."""
        frame = None
        if result is not None:
            frame = display_frame(result.table(), channel_names)
        self.set_frame(
            frame,
            title=title,
            note=mixture_note(result),
            refusal=merge_refusal(result),
        )

    def set_frame(
        self,
        frame: pd.DataFrame | None,
        *,
        title: str = "",
        note: str = "",
        refusal: str | None = None,
    ) -> None:
        """Show a clusters table (columns as :meth:`SegmentationResult.table`;
        None: empty) under the caption ``"<title>: <n> clusters"`` (and
        ``note``); ``refusal``: why Merge does not apply to it (None: it does)."""
        self.table.clearSelection()
        self._note, self._refusal = note, refusal
        self._n_rows = 0 if frame is None else len(frame)
        self.retitle(title)
        self.caption.visible = frame is not None
        if frame is None:
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            self._ids = []
            self.visible_table(False)
            self._update_enabled()
            return
        self._ids = [int(v) for v in frame["label"]]
        self.table.setColumnCount(len(frame.columns))
        self.table.setHorizontalHeaderLabels([str(c) for c in frame.columns])
        self.table.setRowCount(len(frame))
        for i, row in enumerate(frame.itertuples(index=False)):
            for j, (column, value) in enumerate(zip(frame.columns, row, strict=True)):
                item = QTableWidgetItem(format_cell(value))
                item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
                if column == "color" and value:
                    _paint_swatch(item, str(value))
                elif column != "name":
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(i, j, item)
        self._fit_height()
        self.visible_table(True)
        self._update_enabled()

    def retitle(self, title: str) -> None:
        """The caption for the image now called ``title``."""
        self._title = title
        caption = f"{title}: {self._n_rows} clusters" if self._n_rows else ""
        if caption and self._note:
            caption += f" · {self._note}"
        self.caption.value = caption

    def _fit_height(self) -> None:
        """As tall as its rows (no empty band under a few), at most
        :data:`MAX_TABLE_HEIGHT`: more rows scroll."""
        table = self.table
        rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
        header = table.horizontalHeader().height()
        scroll = table.horizontalScrollBar().sizeHint().height()
        wanted = rows + header + scroll + 2 * table.frameWidth()
        table.setMaximumHeight(max(MIN_TABLE_HEIGHT, min(MAX_TABLE_HEIGHT, wanted)))

    def visible_table(self, visible: bool) -> None:
        """Show or hide the table (hidden while there is no result)."""
        self.table.setVisible(visible)

    # ---------------------------------------------------------------- selection

    @property
    def cluster_ids(self) -> list[int]:
        """The labels shown, one per row."""
        return list(self._ids)

    def selected_ids(self) -> list[int]:
        """The labels of the selected rows, sorted."""
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return sorted(self._ids[r] for r in rows if r < len(self._ids))

    def select_ids(self, ids: Sequence[int], *, quiet: bool = False) -> None:
        """Select the rows of the labels ``ids`` (and no others); ``quiet``: do
        not emit :attr:`cluster_chosen` (the selection came from elsewhere)."""
        from qtpy.QtCore import QItemSelectionModel

        self._quiet = quiet
        try:
            self._select_ids(ids, QItemSelectionModel)
        finally:
            self._quiet = False

    def _select_ids(self, ids, QItemSelectionModel) -> None:
        model = self.table.selectionModel()
        self.table.clearSelection()
        flags = (
            QItemSelectionModel.SelectionFlag.Select
            | QItemSelectionModel.SelectionFlag.Rows
        )
        for row, label in enumerate(self._ids):
            if label in set(ids):
                model.select(self.table.model().index(row, 0), flags)

    def set_locked(self, locked: bool) -> None:
        """Disable Merge (while the widget is busy) or let the selection decide."""
        self._locked = bool(locked)
        self._update_enabled()

    def _on_selection(self) -> None:
        self._update_enabled()
        if not self._quiet:
            ids = self.selected_ids()
            self.cluster_chosen.emit(ids[0] if len(ids) == 1 else 0)

    def _update_enabled(self) -> None:
        n = len(self.selected_ids())
        refusal = self._refusal
        self.merge_button.enabled = n >= 2 and not self._locked and refusal is None
        self.merge_button.tooltip = refusal or MERGE_TIP
        if not self._ids:
            self.hint.value = ""
        elif refusal is not None:
            self.hint.value = refusal
        elif n >= 2:
            self.hint.value = f"merge {n} clusters"
        else:
            self.hint.value = MERGE_HINT

    def _on_merge_clicked(self, _=None) -> None:
        ids = self.selected_ids()
        if len(ids) >= 2 and not self._locked and self._refusal is None:
            self.merge_requested.emit(ids)


def _paint_swatch(item: QTableWidgetItem, hex_color: str) -> None:
    """Fill ``item`` with ``hex_color``, its text in black or white, whichever
    reads better on it."""
    color = QColor(hex_color)
    if not color.isValid():
        return
    item.setBackground(QBrush(color))
    luminance = 0.299 * color.red() + 0.587 * color.green() + 0.114 * color.blue()
    item.setForeground(QBrush(QColor("black" if luminance > 140 else "white")))
