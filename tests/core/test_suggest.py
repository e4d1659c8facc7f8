"""``suggest_n_clusters``: recovers k on synthetic images, reads the image once, is
fast on a 4K image and refuses bad input clearly. No napari here."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from conftest import colour_groups
from napari_kmeans_seg import KSuggestion, suggest_n_clusters
from napari_kmeans_seg.core import engine as _engine
from napari_kmeans_seg.core import features as _features
from napari_kmeans_seg.core import suggest as _suggest


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_silhouette_recovers_k(k, seed):
    s = suggest_n_clusters(colour_groups(k, seed))
    assert isinstance(s, KSuggestion)
    assert s.criterion == "silhouette"
    assert s.k_values == tuple(range(2, 11))
    assert s.suggested == k
    assert np.nanargmax(s.silhouette) == k - 2
    assert s.inertia.shape == s.silhouette.shape == (9,)
    assert np.all(np.diff(s.inertia) <= 1e-9 * s.inertia[0])  # falls with k


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k", [3, 4, 5])
def test_elbow_recovers_k_inside_the_range(k, seed):
    image = colour_groups(k, seed)
    s = suggest_n_clusters(image, criterion="elbow")
    assert s.criterion == "elbow" and s.suggested == k
    # the other criterion without refitting
    assert s.best("silhouette") == k
    assert suggest_n_clusters(image).best("elbow") == k
    d = s.elbow_distances()
    assert d[0] == pytest.approx(0) and d[-1] == pytest.approx(0)


@pytest.mark.parametrize(
    "options",
    [{"color_space": "lab"}, {"color_space": "hsv"}, {"normalize": True}],
)
def test_feature_options_as_segment(options):
    s = suggest_n_clusters(colour_groups(4, 0), **options)
    assert s.suggested == 4
    with pytest.raises(ValueError, match="color_space"):
        suggest_n_clusters(np.zeros((10, 10)), color_space="lab")


def test_greyscale_levels():
    rng = np.random.default_rng(3)
    levels = np.array([300, 1500, 2900, 4000])
    image = levels[rng.integers(0, 4, (200, 200))] + rng.normal(0, 60, (200, 200))
    s = suggest_n_clusters(image.astype(np.uint16), range(2, 8))
    assert s.suggested == 4


def test_silhouette_equals_scikit_learn():
    rng = np.random.default_rng(0)
    P = rng.integers(0, 60, (600, 3)).astype(np.uint8)
    label_sets = [rng.integers(0, k, 600) for k in (2, 3, 7)]
    label_sets.append(np.r_[np.zeros(599, int), 1])  # a singleton cluster
    label_sets.append(np.zeros(600, int))  # one cluster: undefined
    ks = [2, 3, 7, 2, 1]
    ours = _suggest.silhouette_scores(P, label_sets, ks)
    expected = [silhouette_score(P.astype(float), lab) for lab in label_sets[:-1]]
    np.testing.assert_allclose(ours[:-1], expected, rtol=1e-10, atol=1e-12)
    assert np.isnan(ours[-1])


def test_reads_the_image_once_and_fits_only_the_sample(monkeypatch):
    image = colour_groups(4, 0, shape=(300, 400))
    calls = {"to_pixels": 0, "rows": []}
    to_pixels, fit_predict = _features.to_pixels, _engine.fit_predict

    def counting_to_pixels(*args, **kwargs):
        calls["to_pixels"] += 1
        return to_pixels(*args, **kwargs)

    def recording_fit(X, **kwargs):
        calls["rows"].append(len(X))
        assert kwargs.get("mask") is None  # the sample holds valid pixels only
        return fit_predict(X, **kwargs)

    monkeypatch.setattr(_features, "to_pixels", counting_to_pixels)
    monkeypatch.setattr(_engine, "fit_predict", recording_fit)
    s = suggest_n_clusters(image, range(2, 7), sample_size=10_000)
    assert calls["to_pixels"] == 1
    assert calls["rows"] == [10_000] * 5
    assert s.n_samples == 10_000 and s.n_silhouette == 5_000


@pytest.mark.slow
def test_a_4k_image():
    rng = np.random.default_rng(0)
    small = colour_groups(5, 0, shape=(216, 384))
    image = np.repeat(np.repeat(small, 10, axis=0), 10, axis=1)  # 2160 x 3840
    image = (image + rng.integers(0, 3, image.shape, dtype=np.uint8)).clip(0, 255)
    assert suggest_n_clusters(image).suggested == 5


def test_sample_leaves_out_masked_transparent_and_nan_pixels(monkeypatch):
    rows = []
    fit_predict = _engine.fit_predict

    def recording_fit(X, **kwargs):
        rows.append(np.array(X))
        return fit_predict(X, **kwargs)

    monkeypatch.setattr(_engine, "fit_predict", recording_fit)
    image = colour_groups(3, 1)
    odd = np.zeros(image.shape[:2], bool)
    odd[::3, ::2] = True  # pixels that must never be drawn
    marked = image.copy()
    marked[odd] = (123, 7, 250)

    suggest_n_clusters(marked, range(2, 5), mask=~odd)
    rgba = np.dstack([marked, np.where(odd, 0, 255).astype(np.uint8)])
    suggest_n_clusters(rgba, range(2, 5))
    floats = marked.astype(np.float32)
    floats[odd] = np.nan
    suggest_n_clusters(floats, range(2, 5))
    assert len(rows) == 9
    for X in rows:
        assert len(X) == np.count_nonzero(~odd)  # all valid pixels (fewer than size)
        assert np.all(np.isfinite(X.astype(float)))
        assert not np.any(np.all(X == (123, 7, 250), axis=1))


def test_deterministic():
    image = colour_groups(4, 2)
    a = suggest_n_clusters(image, sample_size=3000, silhouette_size=500)
    b = suggest_n_clusters(image, sample_size=3000, silhouette_size=500)
    np.testing.assert_array_equal(a.inertia, b.inertia)
    np.testing.assert_array_equal(a.silhouette, b.silhouette)
    assert a.suggested == b.suggested


def test_k_range_capped_at_distinct_values():
    image = np.repeat(np.array([[0, 100, 200]], np.uint8), 50, axis=0)
    with pytest.warns(UserWarning, match="only 3 distinct values"):
        s = suggest_n_clusters(image)
    assert s.k_values == (2, 3)
    assert s.suggested == 3
    with pytest.raises(ValueError, match="nothing to split"):
        suggest_n_clusters(np.zeros((10, 10), np.uint8))


@pytest.mark.parametrize(
    ("k_range", "match"),
    [
        ([], "empty"),
        ([1, 2, 3], "between 2 and 254"),
        ([2, 300], "between 2 and 254"),
        ([2, 2.5], "integers"),
        (5, "iterable"),
    ],
)
def test_bad_k_range(k_range, match):
    with pytest.raises(ValueError, match=match):
        suggest_n_clusters(colour_groups(2), k_range)


def test_bad_options():
    image = colour_groups(3)
    with pytest.raises(ValueError, match="criterion must be one of"):
        suggest_n_clusters(image, criterion="gap")
    with pytest.raises(ValueError, match="at least 3 values of k"):
        suggest_n_clusters(image, [2, 3], criterion="elbow")
    with pytest.raises(ValueError, match="sample_size must be a positive integer"):
        suggest_n_clusters(image, sample_size=0)
    with pytest.raises(ValueError, match="no pixel to cluster"):
        suggest_n_clusters(image, mask=np.zeros(image.shape[:2], bool))
    s = suggest_n_clusters(image, [2, 3, 4, 2])
    assert s.k_values == (2, 3, 4)
    with pytest.raises(ValueError, match="criterion must be one of"):
        s.best("gap")


def test_import_loads_no_gui():
    code = (
        "import sys, numpy as np\n"
        "from napari_kmeans_seg import suggest_n_clusters\n"
        "suggest_n_clusters(np.arange(64, dtype=np.uint8).reshape(8, 8), [2, 3])\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'qtpy', 'napari', 'vispy')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lazy_image_is_sampled_from_a_bounded_region(monkeypatch):
    import dask.array as da

    import napari_kmeans_seg.core.suggest as suggest

    monkeypatch.setattr(suggest, "LAZY_REGION_PIXELS", 40_000)
    rng = np.random.default_rng(0)
    centres = np.array([[20, 20, 200], [200, 30, 30], [30, 200, 40]])
    stack = centres[rng.integers(0, 3, (32, 64, 64))] + rng.normal(
        0, 5, (32, 64, 64, 3)
    )
    stack = np.clip(stack, 0, 255).astype(np.uint8)
    planes_read = []

    def read(block, block_info=None):
        if block_info:  # None when dask infers the dtype
            planes_read.append(block_info[0]["array-location"][0][0])
        return block

    lazy = da.from_array(stack, chunks=(1, 64, 64, 3)).map_blocks(read, dtype=np.uint8)
    s = suggest_n_clusters(lazy, range(2, 6), sample_size=5_000)
    assert s.suggested == 3
    assert 0 < len(set(planes_read)) <= 16  # planes spread over the stack, not all
    with pytest.raises(ValueError, match="smoothing needs the whole image"):
        suggest_n_clusters(lazy, range(2, 4), sample_size=5_000, smoothing=1.0)
