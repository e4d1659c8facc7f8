"""Content that reflows to the dock's width: a vertical scroll area whose minimum
width follows its content, labels that wrap, combo boxes of layer names that do
not grow with the longest name, no margins nested inside the parts.

magicgui gives its labels a fixed size (their one-line size hint): a long message
then widens the dock, or is cut when the dock is narrower, and a wrapped one keeps
the height of a line or two. Here a label takes the width it is given and the
height its wrapped text needs.
"""

from magicgui.widgets import Container
from qtpy.QtCore import QEvent, QObject, QSize, Qt
from qtpy.QtWidgets import QComboBox, QFrame, QLabel, QScrollArea, QSizePolicy, QWidget

#: characters a combo box keeps room for (a longer layer name is elided in it)
COMBO_CHARACTERS = 10


class FittingScrollArea(QScrollArea):
    """A vertical scroll area for a dock: its content takes the view's width (no
    horizontal scrolling), and the area is never narrower than the content's
    minimum width, read again whenever the content's layout changes (not frozen at
    the width it had when the dock opened), so no control is ever cut.

    Parameters
    ----------
    content : QWidget
        What scrolls.
    """

    def __init__(self, content: QWidget):
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.setWidget(content)
        content.installEventFilter(self)

    def minimumSizeHint(self) -> QSize:
        """The content's minimum width, with room for the vertical scroll bar."""
        hint = super().minimumSizeHint()
        content = self.widget()
        if content is None:
            return hint
        margins = self.contentsMargins()
        width = (
            content.minimumSizeHint().width()
            + self.verticalScrollBar().sizeHint().width()
            + margins.left()
            + margins.right()
        )
        return QSize(max(width, hint.width()), hint.height())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.widget() and event.type() == QEvent.Type.LayoutRequest
        ):  # the content's minimum may have changed: the dock asks again
            self.updateGeometry()
        return super().eventFilter(watched, event)


def wrap_text(label: QLabel) -> QLabel:
    """Let ``label`` wrap its text: as wide as the dock gives it (down to its
    longest word), as tall as its wrapped lines."""
    label.setWordWrap(True)
    policy = QSizePolicy(
        QSizePolicy.Policy.Preferred,
        QSizePolicy.Policy.Preferred,
        QSizePolicy.ControlType.Label,
    )
    policy.setHeightForWidth(True)
    label.setSizePolicy(policy)
    return label


def narrow_combo(combo: QComboBox) -> None:
    """Keep a combo box of layer names from widening the dock to its longest
    choice: it keeps room for :data:`COMBO_CHARACTERS` characters and elides a
    longer name (its list shows it whole)."""
    combo.setSizeAdjustPolicy(
        QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
    )
    combo.setMinimumContentsLength(COMBO_CHARACTERS)


def flatten_margins(container: Container) -> None:
    """No margins inside the parts (each level of nesting would add some width
    to the dock), only around the whole."""
    for child in container:
        if isinstance(child, Container):
            child.margins = (0, 0, 0, 0)
            flatten_margins(child)
