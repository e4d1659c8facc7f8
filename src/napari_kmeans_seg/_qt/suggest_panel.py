"""The "Suggest k" panel: a button, a small score plot and a one-click "Use k".

A GUI module (Qt through magicgui/qtpy), made to be dropped into the segmentation
widget: it runs :func:`suggest_n_clusters` in a napari worker thread on the image a
callback gives, draws the silhouette (and the scaled inertia) per k — for Gaussian
mixtures their BIC — and sets the widget's k spin box when **Use k = …** is clicked
(or a k on the plot).
"""

import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from magicgui.widgets import Container, Label, PushButton, SpinBox
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_warning
from psygnal import Signal
from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtCore import Signal as QtSignal
from qtpy.QtGui import QColor, QPainter, QPalette, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget

from ..core.suggest import KSuggestion, suggest_n_clusters
from .reflow import wrap_text

logger = logging.getLogger(__name__)

#: colours of the plot
SILHOUETTE_COLOR = QColor(80, 170, 255)
INERTIA_COLOR = QColor(170, 170, 170)
CHOSEN_COLOR = QColor(255, 200, 60)
#: what the plot shows and how k is suggested: its tooltip
PLOT_HELP = (
    "x: number of clusters k. Solid blue (left axis): mean silhouette, how much "
    "closer each pixel is to its own cluster than to the next one (-1 to 1, "
    "higher is better); the suggested k has the highest. Dashed grey: inertia "
    "(sum of squared distances to the centres), scaled; it always falls with k, "
    "and its elbow, where it stops falling fast, is a second opinion. Click a k "
    "to choose it."
)
#: the plot's help when it scores Gaussian mixtures
PLOT_HELP_BIC = (
    "x: number of clusters k. Solid blue (left axis): the BIC (Bayesian "
    "information criterion) of the Gaussian mixture fitted for each k, its fit "
    "penalised by its number of parameters; lower is better, and the suggested k "
    "has the lowest. Dashed grey: inertia of its labels, scaled. Click a k to "
    "choose it."
)
USE_TIP = "Set the number of clusters to the k chosen on the plot"
#: room for the axis titles (pixels)
LEFT_MARGIN, BOTTOM_MARGIN = 22, 34


class KScorePlot(QWidget):
    """A small plot of the scores of a :class:`KSuggestion`: the mean silhouette
    per k (solid, higher is better) and the inertia scaled to the same height
    (dashed), with the chosen k marked. Clicking near a k chooses it."""

    #: emitted with the k clicked on the plot
    k_clicked = QtSignal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._suggestion: KSuggestion | None = None
        self._chosen: int | None = None
        self.setMinimumHeight(130)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip(PLOT_HELP)

    def set_suggestion(self, suggestion: KSuggestion | None) -> None:
        """Plot ``suggestion`` (None: empty), with its suggested k chosen."""
        self._suggestion = suggestion
        self._chosen = None if suggestion is None else suggestion.suggested
        self.update()

    def set_chosen(self, k: int | None) -> None:
        """Mark ``k`` as the chosen one."""
        self._chosen = k
        self.update()

    @property
    def chosen(self) -> int | None:
        """The k marked on the plot."""
        return self._chosen

    def _plot_rect(self) -> QRectF:
        return QRectF(
            LEFT_MARGIN,
            6,
            max(self.width() - LEFT_MARGIN - 8, 1),
            max(self.height() - 6 - BOTTOM_MARGIN, 1),
        )

    def x_of(self, k: float) -> float:
        """Horizontal position (widget pixels) of ``k`` on the plot."""
        ks = self._suggestion.k_values
        r = self._plot_rect().adjusted(10, 0, -10, 0)  # keep the dots inside
        if len(ks) == 1:
            return r.center().x()
        return r.left() + (k - ks[0]) / (ks[-1] - ks[0]) * r.width()

    def k_at(self, x: float) -> int | None:
        """The k whose column is nearest to ``x`` (widget pixels), or None."""
        if self._suggestion is None:
            return None
        ks = self._suggestion.k_values
        return int(ks[int(np.argmin([abs(self.x_of(k) - x) for k in ks]))])

    def mousePressEvent(self, event) -> None:
        k = self.k_at(event.position().x())
        if k is not None:
            self.set_chosen(k)
            self.k_clicked.emit(k)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self._plot_rect()
        painter.setPen(QPen(QColor(120, 120, 120), 1))
        painter.drawRect(r)
        s = self._suggestion
        if s is None:
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter, "click Suggest k")
            painter.end()
            return

        inner = r.adjusted(0, 6, 0, -6)

        def curve(values: np.ndarray) -> list[QPointF]:
            ok = np.isfinite(values)
            if not ok.any():
                return []
            lo, hi = float(values[ok].min()), float(values[ok].max())
            span = hi - lo if hi > lo else 1.0
            return [
                QPointF(self.x_of(k), inner.bottom() - (v - lo) / span * inner.height())
                for k, v, good in zip(s.k_values, values, ok, strict=True)
                if good
            ]

        if self._chosen is not None:
            painter.setPen(QPen(CHOSEN_COLOR, 2))
            x = self.x_of(self._chosen)
            painter.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
        pen = QPen(INERTIA_COLOR, 1.5)
        pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawPolyline(QPolygonF(curve(np.asarray(s.inertia))))
        points = curve(np.asarray(main_scores(s)[0]))
        painter.setPen(QPen(SILHOUETTE_COLOR, 2))
        painter.drawPolyline(QPolygonF(points))
        painter.setBrush(SILHOUETTE_COLOR)
        for p in points:
            painter.drawEllipse(p, 3, 3)
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.WindowText), 1))
        for k in s.k_values:
            painter.drawText(
                QRectF(self.x_of(k) - 12, r.bottom() + 2, 24, 16),
                Qt.AlignmentFlag.AlignHCenter,
                str(k),
            )
        self._draw_axis_titles(painter, r)
        painter.end()

    def _draw_axis_titles(self, painter: QPainter, r: QRectF) -> None:
        """ "k (clusters)" under the axis, "silhouette" along the left side."""
        painter.drawText(
            QRectF(r.left(), r.bottom() + 16, r.width(), 16),
            Qt.AlignmentFlag.AlignHCenter,
            "k (number of clusters)",
        )
        painter.save()
        painter.translate(4, r.center().y())
        painter.rotate(-90)
        painter.setPen(QPen(SILHOUETTE_COLOR, 1))
        painter.drawText(
            QRectF(-r.height() / 2, 0, r.height(), 16),
            Qt.AlignmentFlag.AlignHCenter,
            main_scores(self._suggestion)[1],
        )
        painter.restore()


class SuggestKPanel(Container):
    """**Suggest k** for the segmentation widget.

    Clicking **Suggest k** scores every k of ``k_range`` on a random sample of the
    image's pixels (:func:`suggest_n_clusters`, in a worker thread), plots the
    scores, and **Use k = …** sets ``n_clusters`` to the suggested k (or the k
    clicked on the plot).

    Parameters
    ----------
    n_clusters : magicgui SpinBox
        The spin box that **Use k** sets.
    get_image : callable
        Called (in the main thread) when **Suggest k** is clicked; returns the image
        array and a dict of keyword options for :func:`suggest_n_clusters` (e.g.
        ``{"rgb": layer.rgb}``), or raises ``ValueError`` with a message for the
        user.
    k_range : iterable of int
        The k tried; capped at the spin box's maximum.
    image_name : callable, optional
        Called with ``get_image``; returns the name of the image scored, which
        the plot's caption and tooltip then name.

    Attributes
    ----------
    k_used : Signal(int)
        Emitted with the k set in the spin box by **Use k**.
    """

    k_used = Signal(int)

    def __init__(
        self,
        n_clusters: SpinBox,
        get_image: Callable[[], tuple[np.ndarray, dict[str, Any]]],
        *,
        k_range: Iterable[int] = range(2, 11),
        image_name: Callable[[], str] | None = None,
    ):
        self._n_clusters = n_clusters
        self._get_image = get_image
        self._image_name = image_name
        self._scoring = ""  # the name of the image being scored
        self._k_range = [k for k in k_range if k <= n_clusters.max]
        self._worker = None
        self.suggestion: KSuggestion | None = None
        self.suggest_button = PushButton(
            text="Suggest k",
            tooltip="Score k = "
            f"{self._k_range[0]}..{self._k_range[-1]} on a sample of the pixels "
            "and suggest the k whose clusters are best separated (silhouette; for a "
            "Gaussian mixture, the k of the lowest BIC). " + PLOT_HELP,
        )
        self._tooltip = self.suggest_button.tooltip
        self._reason: str | None = None
        self._k_fixed: str | None = None
        self.use_button = PushButton(text="Use k", enabled=False, tooltip=USE_TIP)
        self.status = Label(value="")
        wrap_text(self.status.native)
        self.status.tooltip = PLOT_HELP
        #: the plot's title: which image was scored (a long name wraps)
        self.caption = Label(value="")
        wrap_text(self.caption.native)
        self.caption.visible = False
        super().__init__(
            widgets=[
                Container(
                    widgets=[self.suggest_button, self.use_button],
                    layout="horizontal",
                    labels=False,
                ),
                self.caption,
                self.status,
            ],
            labels=False,
        )
        self.plot = KScorePlot()
        self.plot.setVisible(False)
        self.native.layout().insertWidget(2, self.plot)
        self.suggest_button.changed.connect(self.suggest)
        self.use_button.changed.connect(self.use)
        self.plot.k_clicked.connect(self._on_k_clicked)

    @property
    def busy(self) -> bool:
        """True while a suggestion is computed."""
        return self._worker is not None

    def suggest(self, _=None):
        """Start scoring the image's k in a worker thread (no-op while busy).

        Returns
        -------
        FunctionWorker or None
            The worker, or None when busy or the image was refused (a
            notification says why).
        """
        if self.busy:
            return None
        try:
            image, options = self._get_image()
        except ValueError as err:
            self.status.value = str(err)
            show_error(str(err))
            return None
        self.suggest_button.enabled = False
        self._scoring = self._image_name() if self._image_name is not None else ""
        self.status.value = (
            f"scoring k for {self._scoring!r}…" if self._scoring else "scoring k…"
        )
        self._worker = create_worker(
            suggest_n_clusters,
            image,
            self._k_range,
            **options,
            _connect={
                "returned": self._on_returned,
                "errored": self._on_errored,
                "warned": self._on_warned,
                "finished": self._on_finished,
            },
        )
        return self._worker

    def use(self, k: int | None = None) -> None:
        """Set the spin box to ``k`` (default: the k chosen on the plot, else the
        suggested one); nothing while k is fixed (see :meth:`set_reason`)."""
        if not isinstance(k, int | np.integer) or isinstance(k, bool):
            k = self.plot.chosen
        if k is None or self._k_fixed is not None:
            return
        self._n_clusters.value = int(k)
        self.k_used.emit(int(k))

    def _on_k_clicked(self, k: int) -> None:
        self.use_button.text = f"Use k = {k}"

    def _on_returned(self, suggestion: KSuggestion) -> None:
        self.suggestion = suggestion
        self.plot.set_suggestion(suggestion)
        self.plot.setVisible(True)
        name = self._scoring
        self.caption.value = f"k scored for {name!r}" if name else "k scored"
        self.caption.visible = True
        help_text = PLOT_HELP if suggestion.bic is None else PLOT_HELP_BIC
        self.plot.setToolTip(
            (f"The scores of k for {name!r}. " if name else "") + help_text
        )
        self.status.tooltip = help_text
        k = suggestion.suggested
        self.use_button.text = f"Use k = {k}"
        self.use_button.enabled = self._k_fixed is None
        self.status.value = recommendation(suggestion)

    def _on_errored(self, err: Exception) -> None:
        if isinstance(err, ValueError | MemoryError):
            message = str(err)
        else:
            logger.error("suggesting k failed", exc_info=err)
            message = f"Suggesting k failed unexpectedly: {err!r}"
        self.status.value = message
        show_error(message)

    def set_reason(self, reason: str | None, *, k_fixed: str | None = None) -> None:
        """Why Suggest k cannot run now (None: it can), and why k cannot be
        changed (``k_fixed``, e.g. a loaded model: neither Suggest k nor Use k
        then apply), in their tooltips."""
        self._reason = reason = reason or k_fixed
        self._k_fixed = k_fixed
        self.suggest_button.enabled = reason is None and not self.busy
        self.suggest_button.tooltip = reason or self._tooltip
        self.use_button.enabled = k_fixed is None and self.suggestion is not None
        self.use_button.tooltip = k_fixed or USE_TIP

    def _on_warned(self, warning: tuple) -> None:
        show_warning(str(warning[0]))

    def _on_finished(self) -> None:
        self._worker = None
        self.suggest_button.enabled = self._reason is None


def main_scores(suggestion: KSuggestion) -> tuple[np.ndarray, str]:
    """The scores the plot draws solid, and their axis title: the BIC of Gaussian
    mixtures, else the silhouette."""
    if suggestion.bic is not None:
        return np.asarray(suggestion.bic), "BIC (lower is better)"
    return np.asarray(suggestion.silhouette), "silhouette"


def recommendation(suggestion: KSuggestion) -> str:
    """One recommended k with a one-line reason."""
    k = suggestion.suggested
    ks = suggestion.k_values
    if suggestion.criterion == "elbow":
        return f"Use k = {k}: the inertia stops falling fast there (elbow)"
    if suggestion.criterion == "bic":
        bic = suggestion.bic[ks.index(k)]
        return (
            f"Use k = {k}: its Gaussian mixture has the lowest BIC ({bic:.6g}, "
            f"of k = {ks[0]} to {ks[-1]}; lower is better)"
        )
    sil = suggestion.silhouette[suggestion.k_values.index(k)]
    return (
        f"Use k = {k}: its clusters are the best separated (silhouette "
        f"{sil:.2f}, the highest of k = {suggestion.k_values[0]} to "
        f"{suggestion.k_values[-1]})"
    )
