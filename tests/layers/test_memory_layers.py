"""The memory guard through the layer API: a clear refusal before any work when
memory is short, and the way out it names (the estimates themselves:
tests/core/test_memory.py)."""

import numpy as np
import pytest
from napari.components import ViewerModel

import napari_kmeans_seg.core.memory as memory
from napari_kmeans_seg import segment_layer
from napari_kmeans_seg.core.memory import estimate_memory

MB = 10**6


def test_segment_layer_refuses_before_any_work(monkeypatch):
    import napari_kmeans_seg.layers.outputs as layers

    def never(*args, **kwargs):
        raise AssertionError("segment() ran although memory is short")

    monkeypatch.setattr(memory, "available_memory", lambda: 60 * MB)
    monkeypatch.setattr(layers, "segment", never)
    viewer = ViewerModel()
    image = np.zeros((2000, 2000, 3), np.uint8)
    viewer.add_image(image, name="big")
    with pytest.raises(MemoryError, match=r"segmenting 'big' needs about \d+ MB"):
        segment_layer(viewer, "big", 3)
    assert [x.name for x in viewer.layers] == ["big"]


def test_turning_off_the_masked_layers_can_make_it_fit(monkeypatch):
    viewer = ViewerModel()
    image = np.random.default_rng(0).integers(0, 200, (1000, 1000), dtype=np.uint8)
    viewer.add_image(image, name="img")
    need = estimate_memory(image.shape, image.dtype)
    monkeypatch.setattr(memory, "available_memory", lambda: need.total + 2 * MB)
    with pytest.raises(MemoryError, match=r"masked_layers=False\) \(that alone"):
        segment_layer(viewer, "img", 4)
    result = segment_layer(viewer, "img", 4, masked_layers=False)
    assert [x.name for x in viewer.layers] == ["img", "img clusters"]
    assert result.n_clusters == 4


def test_invalid_k_gets_its_own_message_not_a_memory_one(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 200 * MB)
    viewer = ViewerModel()
    viewer.add_image(np.zeros((2000, 2000), np.uint8), name="img")
    with pytest.raises(ValueError, match="n_clusters must be between 2 and 254"):
        segment_layer(viewer, "img", 10**9)  # not 10**9 masked layers
