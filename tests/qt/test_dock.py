"""The dock a user lives in, in a real viewer: it fits a laptop screen with every
panel open, its selection is linked with the labels layer and the colour view,
its outputs stay out of the inputs, and its controls say why they are off."""

import numpy as np
import pytest
from gui_helpers import PLUGIN, click, click_and_wait, open_widget
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication

from napari_kmeans_seg import segment_layer
from napari_kmeans_seg._qt.selection import HIGHLIGHT

VIEW = "Colour Space View"


def click_row(qtbot, panel, row, modifier=Qt.KeyboardModifier.NoModifier):
    """Click a cell of ``row`` as a user does (Ctrl toggles it)."""
    table = panel.table
    rect = table.visualRect(table.model().index(row, 0))
    qtbot.mouseClick(
        table.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center()
    )


def settle(qtbot, ms=300):
    QApplication.processEvents()
    qtbot.wait(ms)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("screen", [(1280, 720), (1920, 1080)])
def test_the_window_fits_the_screen_with_every_panel_open(
    make_napari_viewer, qtbot, screen
):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    window = widget.native.window()  # the main window the dock lives in
    window.resize(*screen)
    settle(qtbot)
    width_before = widget.native.width()
    widget.options_panel.group.expand(animate=False)  # Options open
    click(qtbot, widget.suggest_k.suggest_button)  # Suggest k: its plot
    qtbot.waitUntil(lambda: not widget.suggest_k.busy, timeout=120_000)
    click_and_wait(qtbot, widget)  # Segment: the table
    widget.inputs_panel.input_mode.value = "layers as channels"  # the channels list
    settle(qtbot)
    # the dock did not widen with the table, the plot or the hints
    assert widget.native.width() <= width_before + 10
    click(qtbot, widget.colorview_button)  # the colour view, in its own dock
    settle(qtbot)
    _, view = viewer.window.add_plugin_dock_widget(PLUGIN, VIEW)  # the one docked
    settle(qtbot)
    assert window.width() <= screen[0] and window.height() <= screen[1]
    # the canvas keeps most of the width
    assert window.centralWidget().width() >= 0.5 * screen[0]
    # both docks keep a usable height
    assert widget.native.height() >= 0.3 * screen[1]
    # the colour view's canvas fills its dock (no empty band under it)
    canvas = view.canvas.native
    assert canvas.width() >= 0.8 * view.native.width()
    controls = 180  # its few rows of controls and status, at most
    assert canvas.height() >= view.native.height() - controls


def test_table_row_selects_the_cluster_in_the_layer_and_the_view(
    make_napari_viewer, qtbot
):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    click_and_wait(qtbot, widget)
    view = widget.open_colorview()
    labels = viewer.layers["astronaut clusters"]
    colors = dict(labels.colormap.color_dict)
    opacity = labels.opacity
    assert widget.linked_labels == labels

    click_row(qtbot, widget.table_panel, 1)  # cluster 2
    assert labels.selected_label == 2 and labels.show_selected_label
    assert view.selected_cluster == 2
    # it stands out: opaque, in the highlight colour
    np.testing.assert_allclose(labels.colormap.color_dict[2], HIGHLIGHT)
    assert labels.opacity == 1.0
    # ...and alone: what napari draws follows the colormap's selection state
    assert labels.colormap.use_selection and labels.colormap.selection == 2

    # clearing the selection restores the view
    click_row(qtbot, widget.table_panel, 1, Qt.KeyboardModifier.ControlModifier)
    assert widget.table_panel.selected_ids() == []
    assert not labels.show_selected_label and view.selected_cluster == 0
    np.testing.assert_allclose(labels.colormap.color_dict[2], colors[2])
    assert labels.opacity == opacity
    assert not labels.colormap.use_selection  # every cluster drawn again

    # two rows (to merge): no single cluster isolated
    click_row(qtbot, widget.table_panel, 0)
    click_row(qtbot, widget.table_panel, 2, Qt.KeyboardModifier.ControlModifier)
    assert widget.table_panel.selected_ids() == [1, 3]
    assert not labels.show_selected_label


def test_layer_and_view_select_the_table_row(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    click_and_wait(qtbot, widget)
    view = widget.open_colorview()
    labels = viewer.layers["astronaut clusters"]
    # napari's own controls: the selected label, shown alone
    labels.selected_label = 3
    labels.show_selected_label = True
    assert widget.table_panel.selected_ids() == [3]
    assert view.selected_cluster == 3
    labels.show_selected_label = False
    assert widget.table_panel.selected_ids() == []
    # a click on a centre of the colour view
    settle(qtbot)
    view.render()
    screen = view.centre_screen_positions()
    pos = tuple(screen[list(view.cluster_ids).index(2)])
    view.canvas.events.mouse_press(pos=pos, button=1)
    view.canvas.events.mouse_release(pos=pos, button=1)
    assert labels.selected_label == 2 and labels.show_selected_label
    assert widget.table_panel.selected_ids() == [2]


def test_the_view_takes_the_widgets_result(make_napari_viewer, qtbot, astronaut):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    widget.options_panel.color_space.value = "lab"
    click_and_wait(qtbot, widget)
    view = widget.open_colorview()
    # its centres are the result's channel means, not recomputed from the layers
    assert not view.busy
    np.testing.assert_array_equal(view.centres, widget.last_result.channel_means)
    assert "clustered on L, a, b" in view.status.value
    # a new run is handed over too
    widget.options_panel.n_clusters.value = 4
    click_and_wait(qtbot, widget)
    assert len(view.cluster_ids) == 4 and not view.busy


def test_outputs_are_never_offered_as_inputs(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    widget.options_panel.mean_color_layer.value = True
    click_and_wait(qtbot, widget)
    assert "astronaut mean colour" in viewer.layers
    images = [layer.name for layer in widget.inputs_panel.image.choices]
    assert images == ["astronaut"]
    channels = [layer.name for layer in widget.inputs_panel.channel_layers.choices]
    assert channels == ["astronaut"]
    # a labels output may still serve as a mask (cluster within a cluster)
    assert viewer.layers["astronaut clusters"] in widget.inputs_panel.mask.choices
    # selecting an output keeps the source chosen
    viewer.layers.selection.active = viewer.layers["astronaut cluster 1"]
    assert widget.inputs_panel.image.value is viewer.layers["astronaut"]


def test_mean_colour_layer_sits_below_the_labels(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    click_and_wait(qtbot, widget)
    widget.options_panel.mean_color_layer.value = True  # asked for on a second run
    click_and_wait(qtbot, widget)
    names = [layer.name for layer in viewer.layers]
    assert names.index("astronaut mean colour") < names.index("astronaut clusters")


def test_greyscale_clusters_in_their_mean_grey(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    data = np.repeat(np.array([10, 120, 240], np.uint8), 400).reshape(30, 40)
    viewer.add_image(data, name="grey", contrast_limits=(0, 255))
    widget = open_widget(viewer)
    # the colour space does not apply: disabled, and says why
    assert not widget.options_panel.color_space.enabled
    assert "RGB images only" in widget.options_panel.color_space.tooltip
    widget.options_panel.label_colors.value = "mean"  # asked for: distinct by default
    click_and_wait(qtbot, widget)
    cmap = viewer.layers["grey clusters"].colormap
    greys = {i: np.asarray(cmap.color_dict[i]) for i in (1, 2, 3)}
    means = widget.last_result.channel_means[:, 0] / 255
    for i, grey in greys.items():
        np.testing.assert_allclose(grey[:3], means[i - 1], atol=1e-6)


def test_segment_and_suggest_need_an_image(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = open_widget(viewer)
    for button in (widget.run_panel.run_button, widget.suggest_k.suggest_button):
        assert not button.enabled
        assert button.tooltip.startswith("Add or open an image layer")
    viewer.add_image(np.arange(400, dtype=np.uint8).reshape(20, 20), name="img")
    assert (
        widget.run_panel.run_button.enabled and widget.suggest_k.suggest_button.enabled
    )


def test_table_follows_segment_layer_from_the_console(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    click_and_wait(qtbot, widget)
    assert widget.table_panel.cluster_ids == [1, 2, 3]
    segment_layer(viewer, "astronaut", 5)  # as typed in napari's console
    assert widget.table_panel.cluster_ids == [1, 2, 3, 4, 5]
    assert "astronaut: 5 clusters" in widget.table_panel.caption.value
    # and its selection is linked with that layer
    click_row(qtbot, widget.table_panel, 4)
    labels = viewer.layers["astronaut clusters"]
    assert labels.selected_label == 5 and labels.show_selected_label


def test_hsv_columns_read_as_hue_saturation_value(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    widget.options_panel.color_space.value = "hsv"
    click_and_wait(qtbot, widget)
    columns = widget.table_panel.columns
    assert columns[3:6] == ["H", "S", "V"]
    hues = [float(widget.table_panel.cell(r, "H")) for r in range(3)]
    assert all(0 <= h < 360 for h in hues)


def test_sampling_control_fits_on_a_share_of_the_pixels(
    make_napari_viewer, qtbot, monkeypatch
):
    import napari_kmeans_seg.layers.inputs as inputs_module

    calls = []
    real = inputs_module.compute_layers

    def spy(*args, **kwargs):
        calls.append(kwargs.get("fit_pixels"))
        return real(*args, **kwargs)

    monkeypatch.setattr(inputs_module, "compute_layers", spy)
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    click_and_wait(qtbot, widget)
    widget.options_panel.fit_percent.value = 10.0
    click_and_wait(qtbot, widget)
    assert calls == [None, 512 * 512 // 10 + 1]
    assert viewer.layers["astronaut clusters"].data.shape == (512, 512)


def test_no_progress_bar_text_on_the_terminal(make_napari_viewer, qtbot, capfd):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    capfd.readouterr()
    click_and_wait(qtbot, widget)
    click(qtbot, widget.suggest_k.suggest_button)
    qtbot.waitUntil(lambda: not widget.suggest_k.busy, timeout=120_000)
    out, err = capfd.readouterr()
    assert "it/s" not in out + err and "Segmenting" not in out + err


def test_renamed_source_takes_its_outputs_along(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    click_and_wait(qtbot, widget)
    viewer.layers["astronaut"].name = "photo"
    names = [layer.name for layer in viewer.layers]
    assert "photo clusters" in names and "photo cluster 1" in names
    assert not any(name.startswith("astronaut") for name in names)
    assert (
        viewer.layers["photo clusters"].metadata["napari_kmeans_seg_source"] == "photo"
    )
    # a new run updates them, nothing is left behind; Merge still works
    click_and_wait(qtbot, widget)
    assert len(viewer.layers) == len(names)
    widget.table_panel.select_ids([1, 2])
    click_and_wait(qtbot, widget, widget.table_panel.merge_button)
    assert widget.table_panel.cluster_ids == [1, 2]


def test_a_selected_labels_layer_says_which_image_is_segmented(
    make_napari_viewer, qtbot
):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    viewer.add_labels(np.zeros((512, 512), np.uint8), name="mask")
    assert widget.inputs_panel.image.value is viewer.layers["astronaut"]
    assert widget.run_panel.status.value.startswith(
        "Segment clusters image 'astronaut'"
    )
    assert "'mask' is a Labels layer" in widget.run_panel.status.value
