"""The dock reflows to its width, in a real viewer: with every group open and a
result shown, every control lies inside the scroll area's view and no button or
checkbox text is cut, on a laptop screen, a desktop one, and at the dock's
narrowest."""

import numpy as np
import pytest
from gui_helpers import PLUGIN, click, click_and_wait, open_widget
from qtpy.QtCore import QPoint, QRect, Qt
from qtpy.QtGui import QFontMetrics
from qtpy.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QLabel,
    QPushButton,
    QScrollArea,
    QStyle,
    QStyleOptionButton,
)

CONTROLS = (QAbstractButton, QLabel, QComboBox, QAbstractSpinBox)


def settle(qtbot, ms=300):
    QApplication.processEvents()
    qtbot.wait(ms)


def ancestor(widget, kind):
    """The nearest ancestor of ``widget`` that is a ``kind``, or None."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, kind):
        parent = parent.parentWidget()
    return parent


def visible_controls(scroll: QScrollArea) -> list:
    """The visible controls of the scroll area's content, not those inside a view
    that scrolls by itself (the table's cells and headers)."""
    out = []
    for child in scroll.widget().findChildren(CONTROLS):
        if not child.isVisibleTo(scroll) or child.width() <= 0:
            continue
        if ancestor(child, QAbstractScrollArea) is not scroll:
            continue
        out.append(child)
    return out


def text_room(button: QAbstractButton) -> int:
    """The width a button's style gives its text (icon and indicator aside)."""
    option = QStyleOptionButton()
    option.initFrom(button)
    option.text = button.text()
    element = (
        QStyle.SubElement.SE_CheckBoxContents
        if isinstance(button, QCheckBox)
        else QStyle.SubElement.SE_PushButtonContents
    )
    room = button.style().subElementRect(element, option, button).width()
    if isinstance(button, QPushButton) and not button.icon().isNull():
        room -= button.iconSize().width() + 4
    return room


def cut_problems(scroll: QScrollArea) -> list[str]:
    """Every control outside the view's width, or whose text is cut."""
    viewport = scroll.viewport()
    width = viewport.width()
    problems = []
    for child in visible_controls(scroll):
        left = child.mapTo(viewport, QPoint(0, 0)).x()
        name = f"{type(child).__name__} {getattr(child, 'text', lambda: '')()!r}"
        if left < 0 or left + child.width() > width:
            problems.append(f"{name}: x {left}..{left + child.width()} > {width}")
        text = child.text() if isinstance(child, QAbstractButton) else ""
        advance = QFontMetrics(child.font()).horizontalAdvance(text)
        if text and advance > text_room(child):
            problems.append(f"{name}: text {advance} px > {text_room(child)} px")
        if (
            isinstance(child, QLabel)
            and not child.wordWrap()
            and child.text()
            and advance_of_label(child) > child.width()
        ):
            problems.append(f"{name}: label text cut ({child.width()} px)")
    return problems


def advance_of_label(label: QLabel) -> int:
    fm = QFontMetrics(label.font())
    return max(fm.horizontalAdvance(line) for line in label.text().splitlines())


def open_everything(qtbot, viewer):
    """Dock the widget, open every group, suggest k and segment a photo (whose
    long name is in the layer choices and the table's caption)."""
    viewer.open_sample(PLUGIN, "astronaut")
    viewer.layers[0].name = "astronaut Eileen Collins, NASA portrait of 1999"
    widget = open_widget(viewer)
    widget.options_panel.group.expand(animate=False)
    click(qtbot, widget.suggest_k.suggest_button)
    qtbot.waitUntil(lambda: not widget.suggest_k.busy, timeout=120_000)
    click_and_wait(qtbot, widget)
    settle(qtbot)
    assert widget.table_panel.table.isVisible()
    assert widget.suggest_k.plot.isVisible()
    return widget


@pytest.mark.timeout(300)
@pytest.mark.parametrize("screen", [(1280, 720), (1920, 1080)])
def test_every_control_fits_the_dock_with_a_result(make_napari_viewer, qtbot, screen):
    viewer = make_napari_viewer(show=True)
    widget = open_everything(qtbot, viewer)
    window = widget.native.window()
    window.resize(*screen)
    settle(qtbot)
    scroll = ancestor(widget.suggest_k.native, QScrollArea)
    assert cut_problems(scroll) == []
    # the plot and the table stay within the view too
    for part in (widget.suggest_k.plot, widget.table_panel.table):
        left = part.mapTo(scroll.viewport(), QPoint(0, 0)).x()
        assert left >= 0 and left + part.width() <= scroll.viewport().width()


@pytest.mark.timeout(300)
def test_the_dock_reflows_down_to_its_minimum_width(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    widget = open_everything(qtbot, viewer)
    window = widget.native.window()
    window.resize(1280, 720)
    settle(qtbot)
    dock = ancestor(widget.native, QDockWidget)
    scroll = ancestor(widget.suggest_k.native, QScrollArea)
    widths = []
    for wanted in (dock.minimumSizeHint().width(), 400, 300):
        window.resizeDocks([dock], [wanted], Qt.Orientation.Horizontal)
        settle(qtbot)
        widths.append(dock.width())
        assert cut_problems(scroll) == [], f"dock {dock.width()} px wide"
    # the narrowest dock is not frozen at the width it had when it opened
    assert min(widths) <= 300
    # the channels list too, at the narrowest
    window.resizeDocks(
        [dock], [dock.minimumSizeHint().width()], Qt.Orientation.Horizontal
    )
    widget.inputs_panel.input_mode.value = "layers as channels"
    settle(qtbot)
    assert cut_problems(scroll) == []
    channels = widget.inputs_panel.channel_layers.native
    left = channels.mapTo(scroll.viewport(), QPoint(0, 0)).x()
    assert left >= 0 and left + channels.width() <= scroll.viewport().width()
    # the table scrolls inside itself rather than widening the dock
    table = widget.table_panel.table
    assert table.horizontalScrollBarPolicy() != Qt.ScrollBarPolicy.ScrollBarAlwaysOff


@pytest.mark.timeout(300)
def test_an_error_shows_whole_in_a_narrow_dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    two_values = np.zeros((40, 50), np.uint8)
    two_values[:, 25:] = 200
    viewer.add_image(two_values, name="two values")
    widget = open_widget(viewer)
    window = widget.native.window()
    window.resize(1280, 720)
    dock = ancestor(widget.native, QDockWidget)
    window.resizeDocks(
        [dock], [dock.minimumSizeHint().width()], Qt.Orientation.Horizontal
    )
    settle(qtbot)
    widget.options_panel.n_clusters.value = 5
    click_and_wait(qtbot, widget)
    settle(qtbot)  # the layout follows the new text
    message = "Choose at most 2 clusters: the image has only 2 distinct values"
    label = widget.run_panel.status.native
    assert label.text() == message
    assert label.wordWrap()
    assert label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    # as tall as the wrapped text at the width it has: no line cut off
    wrapped = QFontMetrics(label.font()).boundingRect(
        QRect(0, 0, label.contentsRect().width(), 10_000),
        Qt.TextFlag.TextWordWrap,
        message,
    )
    assert wrapped.height() > QFontMetrics(label.font()).height()  # it wraps here
    assert label.contentsRect().height() >= wrapped.height()
    # and inside the view
    scroll = ancestor(label, QScrollArea)
    left = label.mapTo(scroll.viewport(), QPoint(0, 0)).x()
    assert left >= 0 and left + label.width() <= scroll.viewport().width()
