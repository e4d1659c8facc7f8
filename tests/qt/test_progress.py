"""Segment on an in-memory image shows how far it got, in the dock: the passes over
the pixels while the clusters are computed, then the outputs built, then the
layers added."""

import re

import numpy as np
import pytest
from gui_helpers import click_and_wait, open_widget

from napari_kmeans_seg import segment


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_dock_counts_passes_then_outputs_then_layers(make_napari_viewer, qtbot):
    rng = np.random.default_rng(0)
    segment(rng.random((60, 60, 3), dtype=np.float32), 6)  # compiled beforehand
    viewer = make_napari_viewer()
    viewer.add_image(rng.random((1500, 1500, 3), dtype=np.float32), name="big")
    widget = open_widget(viewer)
    widget.options_panel.n_clusters.value = 6
    widget.options_panel.mean_color_layer.value = True
    panel = widget.run_panel
    bar, set_status = panel.progress, panel.set_status
    seen = []  # (status, bar's text format, value, maximum) at each status

    def recorded(text):
        set_status(text)
        seen.append((text, bar.format(), bar.value(), bar.maximum()))

    panel.set_status = recorded  # (not monkeypatch: a Container cannot del it)
    click_and_wait(qtbot, widget)
    assert re.fullmatch(r"6 clusters in [\d.]+ s", widget.run_panel.status.value)

    statuses = [s[0] for s in seen]
    passes = [
        int(m.group(1))
        for m in map(re.compile(r"segmenting big… pass (\d+)").fullmatch, statuses)
        if m
    ]
    assert len(passes) >= 2 and passes == sorted(set(passes)), statuses
    shown = [f for s, f, _, _ in seen if s.startswith("segmenting big… pass")]
    assert shown[-1] == f"pass {passes[-1]}"  # the bar says it too
    built = [
        (int(m.group(1)), int(m.group(2)), value, top)
        for (s, _, value, top) in seen
        if (m := re.fullmatch(r"building the layers of big… \((\d+)/(\d+)\)", s))
    ]
    done = [b[0] for b in built]
    assert done == sorted(set(done)) and done[-1] == built[-1][1], statuses
    # the mean-colour image in blocks, the labels and 6 masked layers
    assert built[-1][1] >= 1 + 1 + 6
    assert all(value == d and top == n for d, n, value, top in built)
    # in that order: passes, outputs, layers
    first = {
        kind: next(i for i, s in enumerate(statuses) if s.startswith(kind))
        for kind in ("segmenting big… pass", "building the layers", "adding the")
    }
    assert list(first.values()) == sorted(first.values()), statuses
