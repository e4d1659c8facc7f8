"""A Gaussian mixture's probability and uncertainty layers without a display
(``ViewerModel``): named, placed and owned as the other outputs, lazy where the
result is, built under the run's stop hook and progress."""

import dask.array as da
import numpy as np
import pytest
from napari.components import ViewerModel

from conftest import colour_groups
from napari_kmeans_seg import segment, segment_layer
from napari_kmeans_seg.layers.probabilities import (
    is_mixture_output,
    probability_name,
    uncertainty_name,
)

K = 3


@pytest.fixture(scope="module")
def photo():
    return colour_groups(K, 3, shape=(48, 64))


def names(viewer, prefix="img"):
    return [x.name for x in viewer.layers if x.name.startswith(prefix)]


def test_names_and_roles():
    assert probability_name("a b", 2) == "a b probability 2"
    assert uncertainty_name("a b") == "a b uncertainty"
    assert is_mixture_output("a b", "a b probability 12")
    assert is_mixture_output("a b", "a b uncertainty")
    assert not is_mixture_output("a b", "a b probability x")
    assert not is_mixture_output("a b", "a b cluster 1")
    assert not is_mixture_output("a", "a b probability 1")


def test_placed_on_a_sheared_affine_layer(photo):
    viewer = ViewerModel()
    affine = np.array([[1.0, 0.2, 3.0], [0.0, 0.9, -1.0], [0.0, 0.0, 1.0]])
    image = viewer.add_image(
        photo, name="img", scale=(-1.5, 2.0), shear=[0.3], rotate=40, affine=affine
    )
    result = segment_layer(viewer, "img", K, mixture="diag")
    for i in range(1, K + 1):
        layer = viewer.layers[probability_name("img", i)]
        assert not layer.visible and layer.data.dtype == np.float32
        np.testing.assert_array_equal(layer.data, result.probabilities[i - 1])
    unc = viewer.layers["img uncertainty"]
    assert unc.visible
    np.testing.assert_array_equal(unc.data, 1 - result.probabilities.max(axis=0))
    for layer in (unc, viewer.layers["img probability 1"]):
        for point in [(0, 0), (47, 63), (12.5, 30)]:
            np.testing.assert_allclose(
                layer.data_to_world(point), image.data_to_world(point), atol=1e-9
            )


def test_a_users_layer_of_that_name_is_never_touched(photo):
    viewer = ViewerModel()
    viewer.add_image(photo, name="img")
    mine = viewer.add_image(np.zeros((4, 4), np.float32), name="img probability 2")
    segment_layer(viewer, "img", K, mixture="full")
    assert viewer.layers["img probability 2"] is mine
    assert "img probability 2 [1]" in viewer.layers  # ours, under a free name
    segment_layer(viewer, "img", K)  # k-means: ours go, the user's stays
    assert mine in viewer.layers and not np.any(mine.data)
    assert [n for n in names(viewer) if "probab" in n or "uncert" in n] == [
        "img probability 2"
    ]


def test_lazy_results_give_lazy_maps(photo):
    viewer = ViewerModel()
    viewer.add_image(da.from_array(photo, chunks=(16, 32, 3)), name="img")
    result = segment_layer(viewer, "img", K, mixture="full")
    eager = segment(photo, K, mixture="full")
    for i in range(1, K + 1):
        data = viewer.layers[probability_name("img", i)].data
        assert isinstance(data, da.Array) and data.dtype == np.float32
        np.testing.assert_allclose(
            data.compute(), eager.probabilities[i - 1], atol=1e-5
        )
    unc = viewer.layers["img uncertainty"].data
    assert isinstance(unc, da.Array)
    np.testing.assert_allclose(
        unc.compute(), 1 - result.probabilities.max(axis=0).compute()
    )


def test_multiscale_maps_have_every_level(photo):
    viewer = ViewerModel()
    levels = [photo, photo[::2, ::2]]
    viewer.add_image(levels, name="img", multiscale=True)
    segment_layer(viewer, "img", K, mixture="diag")
    labels = viewer.layers["img clusters"]
    for name in ("img probability 1", "img uncertainty"):
        layer = viewer.layers[name]
        assert layer.multiscale
        assert [x.shape for x in layer.data] == [x.shape for x in labels.data]
    coarse = [
        np.asarray(viewer.layers[probability_name("img", i)].data[1])
        for i in range(1, K + 1)
    ]
    np.testing.assert_array_equal(
        np.argmax(coarse, axis=0) + 1, np.asarray(labels.data[1])
    )


def test_fitted_on_part_of_an_in_memory_image(photo):
    """An in-memory image fitted on ``fit_pixels`` of it gets maps of every
    pixel (from segment, or the model's predict_proba when it gives none)."""
    viewer = ViewerModel()
    viewer.add_image(photo, name="img")
    result = segment_layer(viewer, "img", K, mixture="full", fit_pixels=500)
    maps = np.stack(
        [viewer.layers[probability_name("img", i)].data for i in range(1, K + 1)]
    )
    np.testing.assert_allclose(maps.sum(axis=0), 1, atol=1e-5)
    np.testing.assert_array_equal(np.argmax(maps, axis=0) + 1, result.labels)


def test_building_polls_the_stop_hook_and_reports(photo):
    from napari_kmeans_seg.core.parallel import Cancelled, stop_when
    from napari_kmeans_seg.layers.placement import SourceInfo
    from napari_kmeans_seg.layers.progress import reporting_outputs
    from napari_kmeans_seg.layers.result_layers import result_layer_data

    result = segment(photo, K, mixture="full")
    source = SourceInfo.from_layer(ViewerModel().add_image(photo, name="p"))
    built = []
    with reporting_outputs(lambda done, total: built.append((done, total))):
        layers = result_layer_data(result, photo, source)
    n = 1 + K + K + 1  # labels, masked layers, probability maps, uncertainty
    assert len(layers) == n and built == [(i, n) for i in range(1, n + 1)]
    polls = iter(range(100))
    built.clear()
    with (
        pytest.raises(Cancelled),
        reporting_outputs(lambda done, total: built.append(done)),
        stop_when(lambda: next(polls) >= K + 2),  # in the probability maps
    ):
        result_layer_data(result, photo, source)
    assert 1 + K <= len(built) < n


def test_the_memory_guard_counts_the_maps(monkeypatch):
    """k probability maps and the uncertainty map (float32 each) are counted
    before any work: a request that fits with k-means is refused as a mixture."""
    import napari_kmeans_seg.core.memory as memory
    from napari_kmeans_seg.core.memory import estimate_memory

    image = np.random.default_rng(0).integers(0, 200, (1000, 1000), dtype=np.uint8)
    need = estimate_memory(image.shape, image.dtype)
    maps = (K + 1) * 4 * image.size
    monkeypatch.setattr(memory, "available_memory", lambda: need.total + maps // 2)
    viewer = ViewerModel()
    viewer.add_image(image, name="img")
    with pytest.raises(MemoryError, match="segmenting 'img' needs about"):
        segment_layer(viewer, "img", K, masked_layers=False, mixture="diag")
    assert names(viewer) == ["img"]
    segment_layer(viewer, "img", K, masked_layers=False)  # k-means fits
    assert names(viewer) == ["img", "img clusters"]
