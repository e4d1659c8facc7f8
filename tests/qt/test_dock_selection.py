"""The selection linked through napari's own ``selected_label``: napari's label
picker selects the table's row, and a table row acts only on the labels layer
this plugin made, never on a user's layer that has the output's name."""

import numpy as np
from gui_helpers import PLUGIN, click_and_wait, open_widget
from qtpy.QtCore import Qt

from napari_kmeans_seg.layers.names import labels_name
from napari_kmeans_seg.layers.viewer_layers import find_output_layer


def click_row(qtbot, panel, row):
    """Click a cell of ``row`` as a user does."""
    table = panel.table
    rect = table.visualRect(table.model().index(row, 0))
    qtbot.mouseClick(
        table.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        rect.center(),
    )


def test_the_picker_and_the_table_select_on_the_plugins_layer_only(
    make_napari_viewer, qtbot
):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "astronaut")
    # the user's own labels layer holds the output's name before Segment
    mine = viewer.add_labels(
        np.arange(512 * 512, dtype=np.int32).reshape(512, 512) % 4,
        name="astronaut clusters",
        opacity=0.4,
    )
    my_colormap, my_colors = mine.colormap, mine.colormap.map(np.arange(4))
    widget = open_widget(viewer)
    click_and_wait(qtbot, widget)
    output = find_output_layer(viewer, "astronaut", labels_name("astronaut"))
    assert output is not None and output is not mine
    assert output.name == "astronaut clusters [1]"
    assert widget.table_panel.cluster_ids == [1, 2, 3]

    click_row(qtbot, widget.table_panel, 1)  # cluster 2
    assert output.selected_label == 2 and output.show_selected_label
    # the user's layer is left as it was
    assert mine.colormap is my_colormap
    np.testing.assert_array_equal(mine.colormap.map(np.arange(4)), my_colors)
    assert mine.opacity == 0.4 and not mine.show_selected_label
    click_row(qtbot, widget.table_panel, 0)  # cluster 1
    assert output.selected_label == 1
    assert mine.colormap is my_colormap and not mine.show_selected_label

    # napari's label picker sets the output's selected label, "show selected"
    # unticked: the table's row follows
    widget.table_panel.table.clearSelection()
    assert not output.show_selected_label
    output.selected_label = 3
    assert widget.table_panel.selected_ids() == [3]
    output.selected_label = 2
    assert widget.table_panel.selected_ids() == [2]
    assert not output.show_selected_label  # picking does not isolate a cluster
    output.selected_label = 0  # the background: no cluster
    assert widget.table_panel.selected_ids() == []
    # the user's layer's picker selects nothing in the table
    mine.selected_label = 1
    assert widget.table_panel.selected_ids() == []
    assert output.selected_label == 0


def test_the_colour_view_selects_on_the_plugins_layer_only(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "astronaut")
    mine = viewer.add_labels(
        np.ones((512, 512), np.int32), name="astronaut clusters", opacity=0.4
    )
    my_colormap = mine.colormap
    widget = open_widget(viewer)
    click_and_wait(qtbot, widget)
    output = find_output_layer(viewer, "astronaut", labels_name("astronaut"))
    view = widget.open_colorview()
    # a layer added later makes napari refresh the docks' layer choices
    viewer.add_points(np.zeros((1, 2)), name="pins")
    qtbot.wait(200)
    assert "astronaut" in view.image.choices
    view.render()
    screen = view.centre_screen_positions()
    pos = tuple(screen[list(view.cluster_ids).index(2)])
    view.canvas.events.mouse_press(pos=pos, button=1)
    view.canvas.events.mouse_release(pos=pos, button=1)
    assert output.selected_label == 2 and output.show_selected_label
    assert widget.table_panel.selected_ids() == [2]
    assert mine.colormap is my_colormap and mine.opacity == 0.4
    assert not mine.show_selected_label and mine.selected_label == 1
    # the view follows napari's picker on the output, not on the user's layer
    output.show_selected_label = False
    output.selected_label = 3
    assert view.selected_cluster == 3
    mine.selected_label = 2
    assert view.selected_cluster == 3
