"""Save, load and apply a model from the dock widget, in a real viewer."""

import json

import numpy as np
import pytest
from gui_helpers import PLUGIN, click, click_and_wait, new_messages, open_widget
from napari.utils.notifications import notification_manager

from napari_kmeans_seg import KMeansModel


def test_save_load_and_apply_a_model(make_napari_viewer, qtbot, tmp_path):
    from skimage import data

    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "astronaut")
    widget = open_widget(viewer)
    assert widget.model_panel.model_label.value == "fitting new model"
    assert not widget.model_panel.fit_new_button.enabled

    # nothing fitted yet: saving is a notification, not a crash
    n = len(notification_manager.records)
    assert widget.save_model(tmp_path / "early.json") is None
    assert any("No model to save" in m for m in new_messages(n))
    assert not (tmp_path / "early.json").exists()

    widget.options_panel.n_clusters.value = 3
    click_and_wait(qtbot, widget)
    fitted = viewer.layers["astronaut clusters"].data.copy()
    path = widget.save_model(tmp_path / "astro.json")
    assert path == tmp_path / "astro.json"
    assert json.loads(path.read_text())["n_clusters"] == 3
    assert "saved model to astro.json" in widget.run_panel.status.value
    np.testing.assert_array_equal(
        KMeansModel.load(path).predict(data.astronaut()), fitted
    )

    # load it and apply it to another layer: no refit, the model's cluster ids
    coffee = viewer.add_image(data.coffee(), name="coffee")
    model = widget.load_model(path)
    assert isinstance(model, KMeansModel) and widget.model is model
    assert widget.model_panel.model_label.value == "using model astro.json (k=3)"
    assert (
        not widget.options_panel.n_clusters.enabled
        and not widget.options_panel.random_state.enabled
    )
    assert widget.model_panel.fit_new_button.enabled
    viewer.layers.selection.active = coffee
    assert widget.inputs_panel.image.value is coffee
    widget.options_panel.n_clusters.value = (
        5  # ignored (and disabled) while a model is loaded
    )
    click_and_wait(qtbot, widget)
    labels = viewer.layers["coffee clusters"]
    np.testing.assert_array_equal(labels.data, model.predict(data.coffee()))
    assert [f"coffee cluster {i}" in viewer.layers for i in (1, 2, 3, 4)] == [
        True,
        True,
        True,
        False,
    ]
    assert labels.scale.tolist() == list(coffee.scale)
    assert "model applied: 3 clusters" in widget.run_panel.status.value
    assert widget.last_model is model
    # the astronaut's layers are untouched
    np.testing.assert_array_equal(viewer.layers["astronaut clusters"].data, fitted)

    # Fit new: back to fitting with the chosen k
    click(qtbot, widget.model_panel.fit_new_button)
    assert widget.model is None
    assert widget.model_panel.model_label.value == "fitting new model"
    assert (
        widget.options_panel.n_clusters.enabled
        and not widget.model_panel.fit_new_button.enabled
    )
    click_and_wait(qtbot, widget)
    assert "coffee cluster 5" in viewer.layers
    assert widget.last_model.n_clusters == 5
    assert "5 clusters in" in widget.run_panel.status.value


def test_rgb_model_on_greyscale_layer_is_a_notification(
    make_napari_viewer, qtbot, tmp_path
):
    from skimage import data

    viewer = make_napari_viewer()
    viewer.add_image(data.astronaut()[::4, ::4], name="astro", rgb=True)
    widget = open_widget(viewer)
    click_and_wait(qtbot, widget)
    widget.save_model(tmp_path / "rgb.json")
    widget.load_model(tmp_path / "rgb.json")
    viewer.add_image(data.camera(), name="camera")
    n = len(notification_manager.records)
    click_and_wait(qtbot, widget)
    assert any("fitted on RGB(A) images" in m for m in new_messages(n))
    assert "camera clusters" not in viewer.layers
    assert widget.run_panel.run_button.enabled


def test_bad_model_file_is_a_notification(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    widget = open_widget(viewer)
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"format": "napari-kmeans-seg model", "schema_version": 9, '
        '"napari_kmeans_seg_version": "9.0"}'
    )
    n = len(notification_manager.records)
    assert widget.load_model(bad) is None
    assert widget.load_model(tmp_path / "missing.json") is None
    messages = new_messages(n)
    assert any("bad.json" in m and "upgrade" in m for m in messages)
    assert any("missing.json" in m for m in messages)
    assert widget.model is None
    assert widget.model_panel.model_label.value == "fitting new model"


@pytest.fixture
def fake_dialogs(monkeypatch, tmp_path):
    """File dialogs that answer at once: {"save": path, "open": path}."""
    from qtpy.QtWidgets import QFileDialog

    answers = {}
    monkeypatch.setattr(
        QFileDialog,
        "getSaveFileName",
        staticmethod(lambda *a, **k: (answers.get("save", ""), "")),
    )
    monkeypatch.setattr(
        QFileDialog,
        "getOpenFileName",
        staticmethod(lambda *a, **k: (answers.get("open", ""), "")),
    )
    return answers


def test_buttons_open_dialogs_and_save_or_load(
    make_napari_viewer, qtbot, tmp_path, fake_dialogs
):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    viewer.add_image((rng.random((30, 40)) * 3).astype(np.uint8) * 80, name="grey")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 3
    click_and_wait(qtbot, widget)

    fake_dialogs["save"] = str(tmp_path / "grey-model")  # no suffix: .json added
    click(qtbot, widget.model_panel.save_button)
    saved = tmp_path / "grey-model.json"
    assert saved.is_file()
    assert KMeansModel.load(saved).n_clusters == 3

    fake_dialogs["open"] = ""  # cancelled: nothing changes
    click(qtbot, widget.model_panel.load_button)
    assert widget.model is None
    fake_dialogs["open"] = str(saved)
    click(qtbot, widget.model_panel.load_button)
    assert widget.model is not None
    assert widget.model_panel.model_label.value == "using model grey-model.json (k=3)"
