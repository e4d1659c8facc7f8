"""The dock's Gaussian mixture (issue #29), in a real viewer: the method is chosen
as a user does, Segment adds a labels layer, one hidden probability map per cluster
and a shown uncertainty map, all placed on the image (scale, translate, rotate); a
k-means re-run removes the maps the plugin made, never a user's copy; Merge says
why it does not apply; Suggest k scores the BIC."""

import numpy as np
import pytest
from gui_helpers import click, click_and_wait, new_messages, open_widget

from conftest import colour_groups
from napari_kmeans_seg._qt.options_panel import METHOD_REASON
from napari_kmeans_seg._qt.suggest_panel import main_scores

K = 3
PLACEMENT = {"scale": (2.0, 0.5), "translate": (10.0, -4.0), "rotate": 25.0}


def probability_layers(viewer, name="img"):
    return [layer for layer in viewer.layers if f"{name} probability" in layer.name]


def napari_duplicate(viewer, layer):
    """Select ``layer`` and run napari's own Duplicate Layer command."""
    from napari._app_model import get_app_model

    viewer.layers.selection.clear()
    viewer.layers.selection.active = layer
    get_app_model().commands.execute_command("napari.layer.duplicate").result()
    return viewer.layers[f"{layer.name} copy"]


def assert_placed_like(layer, image):
    np.testing.assert_allclose(layer.scale, image.scale)
    np.testing.assert_allclose(layer.translate, image.translate)
    np.testing.assert_allclose(layer.rotate, image.rotate)
    np.testing.assert_allclose(layer.affine.affine_matrix, image.affine.affine_matrix)
    # every output pixel lands on its image pixel
    np.testing.assert_allclose(
        layer.data_to_world((3, 7)), image.data_to_world((3, 7)), atol=1e-9
    )


@pytest.fixture
def viewer_and_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(colour_groups(K, 2, shape=(60, 80)), name="img")
    image.scale, image.translate = PLACEMENT["scale"], PLACEMENT["translate"]
    image.rotate = PLACEMENT["rotate"]
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = K
    return viewer, image, widget


@pytest.mark.timeout(300)
def test_mixture_outputs_then_a_kmeans_rerun(viewer_and_widget, qtbot):
    viewer, image, widget = viewer_and_widget
    panel = widget.options_panel
    panel.method.value = "Gaussian mixture (full)"
    assert panel.mixture == "full"
    click_and_wait(qtbot, widget, timeout=120_000)
    assert widget.run_panel.status.value.startswith(f"{K} clusters")
    result = widget.last_result
    assert result.probabilities is not None and result.model.mixture is not None
    labels = viewer.layers["img clusters"]
    np.testing.assert_array_equal(labels.data, result.labels)
    assert_placed_like(labels, image)

    probs = probability_layers(viewer)
    assert [p.name for p in probs] == [f"img probability {i}" for i in range(1, 4)]
    stack = np.stack([np.asarray(p.data) for p in probs])
    assert stack.dtype == np.float32
    assert stack.min() >= 0 and stack.max() <= 1
    clustered = result.labels > 0
    np.testing.assert_allclose(stack.sum(axis=0)[clustered], 1, atol=1e-5)
    # the labels are the most probable cluster
    np.testing.assert_array_equal(np.argmax(stack, axis=0) + 1, result.labels)
    for p in probs:
        assert not p.visible and tuple(p.contrast_limits) == (0, 1)
        assert_placed_like(p, image)
    uncertainty = viewer.layers["img uncertainty"]
    assert uncertainty.visible and tuple(uncertainty.contrast_limits) == (0, 1)
    np.testing.assert_allclose(np.asarray(uncertainty.data), 1 - stack.max(axis=0))
    assert_placed_like(uncertainty, image)
    # the table says what was fitted
    caption = widget.table_panel.caption.value
    assert "Gaussian mixture (full)" in caption and "BIC" in caption

    # a user's copy of a probability map is theirs
    copy = napari_duplicate(viewer, probs[1])
    copied = np.array(copy.data, copy=True)
    viewer.layers.selection.active = image  # the dock follows the selection
    assert widget.read_inputs().name == "img"

    # the same method again updates the maps in place
    click_and_wait(qtbot, widget, timeout=120_000)
    assert probability_layers(viewer)[0] is probs[0]
    assert copy in viewer.layers

    # k-means: the maps the plugin made go, the copy stays as it was
    panel.method.value = "k-means"
    click_and_wait(qtbot, widget, timeout=120_000)
    assert widget.last_result.probabilities is None
    assert "img uncertainty" not in viewer.layers
    assert probability_layers(viewer) == [copy]
    np.testing.assert_array_equal(copy.data, copied)
    assert "Gaussian mixture" not in widget.table_panel.caption.value


@pytest.mark.timeout(300)
def test_merge_says_why_a_mixture_cannot_be_merged(viewer_and_widget, qtbot):
    viewer, _, widget = viewer_and_widget
    widget.options_panel.method.value = "Gaussian mixture (diagonal)"
    click_and_wait(qtbot, widget, timeout=120_000)
    assert widget.last_result.model.mixture.covariance_type == "diag"
    table = widget.table_panel
    table.select_ids([1, 2])
    why = "cannot be merged"
    assert not table.merge_button.enabled and why in table.merge_button.tooltip
    assert why in table.hint.value
    labels_before = np.array(viewer.layers["img clusters"].data, copy=True)
    since = len(new_messages(0))
    widget.merge([1, 2])  # as the console would: the core's message, no crash
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert why in widget.run_panel.status.value
    assert any(why in m for m in new_messages(since))
    np.testing.assert_array_equal(viewer.layers["img clusters"].data, labels_before)
    assert len(probability_layers(viewer)) == K


@pytest.mark.timeout(300)
def test_suggest_k_scores_the_bic_of_mixtures(viewer_and_widget, qtbot):
    _, _, widget = viewer_and_widget
    widget.options_panel.method.value = "Gaussian mixture (diagonal)"
    suggest = widget.suggest_k
    click(qtbot, suggest.suggest_button)
    qtbot.waitUntil(lambda: not suggest.busy, timeout=240_000)
    s = suggest.suggestion
    assert s is not None and s.criterion == "bic" and s.mixture == "diag"
    assert s.suggested == K == s.k_values[int(np.argmin(s.bic))]
    assert "lowest BIC" in suggest.status.value
    assert suggest.use_button.text == f"Use k = {K}"
    values, title = main_scores(s)
    np.testing.assert_array_equal(values, s.bic)
    assert title == "BIC (lower is better)"
    assert not suggest.plot.grab().isNull()  # the BIC curve is drawn
    assert "BIC" in suggest.plot.toolTip()
    suggest.use()
    assert widget.options_panel.n_clusters.value == K


def test_a_loaded_model_fixes_the_method(viewer_and_widget, tmp_path):
    _, image, widget = viewer_and_widget
    from napari_kmeans_seg import segment

    segment(image.data, K, mixture="full").model.save(tmp_path / "m.json")
    assert widget.load_model(tmp_path / "m.json") is not None
    method = widget.options_panel.method
    assert not method.enabled and method.tooltip == METHOD_REASON
    widget.fit_new()
    assert method.enabled and method.tooltip != METHOD_REASON
