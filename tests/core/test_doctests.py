"""The public API's docstring examples run."""

import doctest
import importlib

import pytest

MODULES = [
    "napari_kmeans_seg.core.memory",
    "napari_kmeans_seg.core.model",
    "napari_kmeans_seg.core.result",
    "napari_kmeans_seg.core.segment",
    "napari_kmeans_seg.core.suggest",
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    module = importlib.import_module(name)
    outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert outcome.attempted > 0, f"{name} has no examples"
    assert outcome.failed == 0
