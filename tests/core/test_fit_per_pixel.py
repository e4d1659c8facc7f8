"""The per-pixel iterations (core/fit/dense.py): images whose pixels are nearly all
distinct (float data, 16-bit with shot noise) are fitted to an exact Lloyd fixed
point on every pixel, with working memory below the input's size."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
from fixed_point import assert_fit
from sklearn.cluster import KMeans

from napari_kmeans_seg.core import parallel as _parallel
from napari_kmeans_seg.core.engine import Cancelled, TooFewValuesError, fit_predict
from napari_kmeans_seg.core.fit import dense, dense_rows, per_pixel
from napari_kmeans_seg.core.fit.pixels import Pixels
from napari_kmeans_seg.core.memory import PER_PIXEL_8BIT_BYTES

N_SIDE = 512  # 2**18 pixels: the smallest image the per-pixel iterations take


def smooth_fields(n: int, count: int, seed: int) -> np.ndarray:
    """``count`` smooth fields in [0, 1], ``(n*n, count)`` float64."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n] / n
    out = []
    for _ in range(count):
        f = np.zeros((n, n))
        for _ in range(6):
            fy, fx, ph = rng.uniform(0.5, 4.0), rng.uniform(0.5, 4.0), rng.uniform(0, 6)
            f += np.sin(2 * np.pi * (fy * y + fx * x) + ph)
        out.append((f - f.min()) / np.ptp(f))
    return np.stack(out, axis=-1).reshape(-1, count)


def float_rgb(n=N_SIDE, dtype=np.float32) -> np.ndarray:
    rng = np.random.default_rng(1)
    F = smooth_fields(n, 3, 1) + rng.normal(0, 1e-3, (n * n, 3))
    return F.astype(dtype)


def poisson(channels: int, n=N_SIDE) -> np.ndarray:
    rng = np.random.default_rng(channels)
    return rng.poisson(50 + 3000 * smooth_fields(n, channels, channels) ** 3).astype(
        np.uint16
    )


CASES = {
    "float32 rgb": float_rgb,
    "float64 rgb": lambda: float_rgb(dtype=np.float64),
    "uint16 3ch": lambda: poisson(3),
    "uint16 5ch": lambda: poisson(5),
    "float64 2ch": lambda: smooth_fields(N_SIDE, 2, 7) * 1e4 + 3.0,
}


@pytest.fixture
def per_pixel_calls(monkeypatch):
    """Counts the fits that took the per-pixel iterations."""
    calls = []
    original = dense.fit

    def counted(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(dense, "fit", counted)
    return calls


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("k", [2, 5, 16])
def test_nearly_distinct_pixels_reach_an_exact_fixed_point(name, k, per_pixel_calls):
    X = CASES[name]()
    fit = fit_predict(X, n_clusters=k, random_state=0)
    # three integer channels may keep the cells (see the test below)
    if name != "uint16 3ch":
        assert per_pixel_calls, "the per-pixel iterations were not used"
    assert fit.converged
    assert_fit(X, fit)
    assert fit.n_valid == len(X)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["float32 rgb", "uint16 3ch"])
def test_inertia_is_at_least_as_good_as_scikit_learn(name):
    """Over three seeds each (a single start of either may end in a poorer local
    optimum), ours is at least as good as scikit-learn's typical result."""
    X = CASES[name]()
    for k in (4, 8):
        ours = [fit_predict(X, n_clusters=k, random_state=r).inertia for r in range(3)]
        theirs = [
            KMeans(k, n_init=1, random_state=r).fit(X.astype(np.float64)).inertia_
            for r in range(3)
        ]
        assert np.median(ours) <= np.median(theirs) * 1.0001


def test_eight_bit_and_small_images_keep_the_cells(per_pixel_calls):
    rng = np.random.default_rng(0)
    fit_predict(rng.integers(0, 256, (1 << 19, 3), dtype=np.uint8), n_clusters=4)
    fit_predict(float_rgb(n=256), n_clusters=4)  # below 2**18 pixels
    assert per_pixel_calls == []


@pytest.mark.timeout(120)
@pytest.mark.parametrize("k", [16, 254])
def test_many_clusters_of_distinct_8bit_colours_reach_a_fixed_point(k, per_pixel_calls):
    """Uniform random colours (nearly every pixel distinct) at many clusters go
    pixel by pixel: the cells stopped at max_iter at k = 254 (300 iterations,
    about 100 s); here a fixed point within the default max_iter."""
    X = np.random.default_rng(8).integers(0, 256, (1 << 18, 3), dtype=np.uint8)
    fit = fit_predict(X, n_clusters=k, random_state=0)
    assert per_pixel_calls == [X.shape]
    assert fit.converged and fit.n_iter < 300
    assert_fit(X, fit)


def test_many_clusters_of_8bit_colours_hold_the_counted_state(per_pixel_calls):
    """The memory guard counts 4.25 bytes per pixel beyond the 1-byte labels
    (``memory.PER_PIXEL_8BIT_BYTES``); the fit holds no more (and no copy of the
    pixels). (The cells' plan, made first to choose the way, is a few fixed
    megabytes: measured on 2048² pixels.)"""
    X = np.random.default_rng(8).integers(0, 256, (1 << 22, 3), dtype=np.uint8)
    fit_predict(X[: 1 << 18], n_clusters=16)  # compiled first
    tracemalloc.start()
    fit_predict(X, n_clusters=16, random_state=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert per_pixel_calls
    assert peak < (1 + PER_PIXEL_8BIT_BYTES) * len(X) * 1.05, peak / len(X)


def test_masks_nan_and_channel_first_layout(per_pixel_calls):
    X = float_rgb().astype(np.float64)
    rng = np.random.default_rng(3)
    X[rng.integers(0, len(X), 500), rng.integers(0, 3, 500)] = np.nan
    X[rng.integers(0, len(X), 50), 0] = np.inf
    mask = rng.random(len(X)) > 0.2
    Xcf = np.ascontiguousarray(X.T).T  # each channel contiguous, as (C, Y, X) data
    fit = fit_predict(Xcf, n_clusters=6, mask=mask, random_state=0)
    assert per_pixel_calls
    assert fit.converged
    assert_fit(X, fit, mask)
    valid = np.isfinite(X).all(axis=1)
    assert fit.n_valid == int((valid & mask).sum())
    assert fit.n_invalid == int((~valid & mask).sum())


def test_the_input_is_not_modified():
    X = poisson(3)
    before = X.copy()
    fit_predict(X, n_clusters=4)
    np.testing.assert_array_equal(X, before)


def test_given_starting_centroids_and_an_empty_cluster_are_handled(per_pixel_calls):
    X = float_rgb()
    init = np.array([[0.2, 0.2, 0.2], [0.8, 0.8, 0.8], [50.0, 50.0, 50.0]])
    fit = fit_predict(X, n_clusters=3, init=init)  # the third starts far from all
    assert per_pixel_calls
    assert fit.converged
    assert_fit(X, fit)


def test_max_iter_ends_with_labels_of_the_returned_centroids():
    X = poisson(3)
    fit = fit_predict(X, n_clusters=16, max_iter=2, random_state=0)
    assert not fit.converged
    assert fit.n_iter == 2
    V = X.astype(np.float64)
    d2 = ((V[:, None, :] - fit.centroids[None]) ** 2).sum(axis=2)
    own = d2[np.arange(len(V)), fit.labels.astype(np.int64) - 1]
    assert np.all(own <= d2.min(axis=1) * (1 + 1e-12))


def test_results_do_not_depend_on_the_number_of_threads(monkeypatch):
    X = float_rgb()
    a = fit_predict(X, n_clusters=5, random_state=1)
    monkeypatch.setattr(_parallel, "_pool", None)
    monkeypatch.setattr(_parallel.os, "cpu_count", lambda: 1)
    b = fit_predict(X, n_clusters=5, random_state=1)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centroids, b.centroids)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["uint16 3ch", "float32 rgb"])
def test_the_lists_change_nothing_but_the_work(name, monkeypatch):
    """The lists of rows near a boundary only spare work: with lists that always
    overflow (every iteration a pass over all rows), that rarely do, or that are
    made to last long, every iteration moves the same rows and the result is
    the same, bit for bit."""
    X = CASES[name]()
    rng = np.random.default_rng(0)
    C0 = X[rng.choice(len(X), 16, replace=False)].astype(np.float64)
    changes = {}
    settings = (  # long and short lists' shares of the rows, first and top reach
        (1 << 30, 1 << 30, (1.0, 1.0), (1.0, 1.0)),  # never a list
        (16, 128, (8.0, 2.0), (1024.0, 64.0)),
        (16, 32, (8.0, 2.0), (1024.0, 64.0)),
        (4, 16, (1e6, 1e5), (1e8, 1e6)),
        (64, 512, (1e-3, 1e-4), (1.0, 0.1)),
    )
    for share, short, reach, top in settings:
        monkeypatch.setattr(dense_rows, "_LIST_SHARE", share)
        monkeypatch.setattr(dense_rows, "_SHORT_SHARE", short)
        monkeypatch.setattr(dense_rows, "_REACH", reach)
        monkeypatch.setattr(dense_rows, "_MAX_REACH", top)
        level = dense._Level(X, np.ones(1, bool), False, 16, lambda: None)
        seen = []

        def recording(C, delta, update=level.update, seen=seen):
            out = update(C, delta)
            seen.append(out[0])
            return out

        level.update = recording
        fit = level.run(C0, 1000)
        assert fit.converged
        changes[share] = (tuple(seen), fit.centroids.tobytes(), fit.labels.tobytes())
    assert len(set(changes.values())) == 1


def test_lists_give_exact_fixed_points(monkeypatch):
    X = poisson(3)
    for share, reach in ((1 << 20, 1.0), (2, 1e-9), (64, 1e6)):
        monkeypatch.setattr(dense_rows, "_LIST_SHARE", share)
        monkeypatch.setattr(dense_rows, "_SHORT_SHARE", share * 4)
        monkeypatch.setattr(dense_rows, "_REACH", (reach, reach / 4))
        fit = fit_predict(X, n_clusters=8, random_state=0)
        assert fit.converged
        assert_fit(X, fit)


def test_one_key_state_where_memory_is_short():
    """Inputs of few bytes per pixel keep one distance bound per pixel; others
    two; two-byte pixels of one channel pair get none (the cells are used)."""
    rows = dense_rows
    assert rows.state_bytes(3, 4) == rows._TWO_KEYS_BYTES  # float32 RGB
    assert rows.state_bytes(3, 2) == rows._ONE_KEY_BYTES  # uint16 3 channels
    assert rows.state_bytes(2, 2) is None  # uint16 2 channels


def test_too_few_distinct_values_for_a_level():
    """Every row on a centroid and a cluster empty: nowhere to move it."""
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 1000, axis=0)
    level = dense._Level(X, np.ones(1, bool), False, 4, lambda: None)
    C0 = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [9.0, 9.0]])
    with pytest.raises(dense_rows.NoFarthestRow) as info:
        level.run(C0, 50)
    assert info.value.n_full == 3


def test_few_distinct_float_values_are_refused_clearly():
    X = np.repeat(np.eye(3, dtype=np.float32), 100_000, axis=0)
    with pytest.raises(TooFewValuesError, match="3 distinct"):
        fit_predict(X, n_clusters=4)


@pytest.mark.timeout(120)
def test_a_hook_set_during_the_iterations_stops_them(per_pixel_calls):
    X = poisson(5)
    ev = threading.Event()
    polls = []

    def hook():
        polls.append(1)
        if len(polls) == 40:  # well inside the iterations
            ev.set()
        return ev.is_set()

    with pytest.raises(Cancelled):
        fit_predict(X, n_clusters=16, should_stop=hook)
    assert per_pixel_calls


@pytest.mark.slow
@pytest.mark.parametrize("name", ["float32 rgb", "uint16 3ch", "uint16 5ch"])
def test_working_memory_stays_below_the_input(name):
    """(Three integer channels first make the cells, whose fixed few megabytes
    would outweigh a small image: that case is measured on 2048² pixels.)"""
    X = poisson(3, n=2048) if name == "uint16 3ch" else CASES[name]()
    fit_predict(X[: 1 << 18], n_clusters=4)  # compiled first: its objects are not data
    tracemalloc.start()
    fit = fit_predict(X, n_clusters=8, random_state=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert fit.converged
    assert peak < X.nbytes, peak / X.nbytes


def test_the_engine_chooses_by_distinct_values():
    rng = np.random.default_rng(0)
    few = rng.integers(0, 8, (1 << 18, 3)).astype(np.uint16)  # 512 values repeated
    px = Pixels(few, None)
    assert not per_pixel.suits(px, 4)
    px = Pixels(poisson(3), None)
    assert per_pixel.suits(px, 4)


def test_eight_bit_colours_go_pixel_by_pixel_only_when_mostly_distinct():
    """Counted exactly: a 16K-row sample of a smooth photo holds mostly distinct
    colours although the photo holds few (there the cells are faster)."""
    rng = np.random.default_rng(0)
    noise = Pixels(rng.integers(0, 256, (1 << 18, 3), dtype=np.uint8), None)
    assert per_pixel.suits(noise, per_pixel.MIN_K_8BIT)
    assert not per_pixel.suits(noise, per_pixel.MIN_K_8BIT - 1)
    few = rng.integers(0, 256, (1 << 16, 3), dtype=np.uint8)  # 65,536 colours
    photo = Pixels(few[rng.integers(0, len(few), 1 << 18)], None)
    assert dense.mostly_distinct(photo.X, photo.mask, photo.use_mask)  # the sample
    assert not per_pixel.suits(photo, 64)


@pytest.mark.parametrize("scale", [1e-35, 1e-3, 1e30, 1e120])
def test_tiny_and_huge_magnitudes(scale, per_pixel_calls):
    """The distance bounds are stored as float32: beyond its range (or in its
    subnormal numbers) they are clamped to the safe side, never trusted."""
    X = smooth_fields(N_SIDE, 2, 11) * scale
    fit = fit_predict(X, n_clusters=5, random_state=0)
    assert per_pixel_calls
    assert fit.converged
    assert_fit(X, fit)
    same = fit_predict(X / scale, n_clusters=5, random_state=0)
    pairs = np.unique(np.stack([fit.labels, same.labels]), axis=1)
    assert pairs.shape[1] == 5, "another partition than at unit scale"


@pytest.mark.slow
def test_many_clusters_use_two_byte_labels(per_pixel_calls):
    X = float_rgb()
    fit = fit_predict(X, n_clusters=300, random_state=0, max_iter=5)
    assert per_pixel_calls
    assert fit.labels.dtype == np.uint16
    assert fit.labels.min() >= 1 and fit.labels.max() <= 300
    V = X.astype(np.float64)
    lab = fit.labels.astype(np.int64) - 1
    for j in range(0, len(V), 4096):  # nearest centroid, in blocks
        d2 = ((V[j : j + 4096, None, :] - fit.centroids[None]) ** 2).sum(axis=2)
        own = d2[np.arange(len(d2)), lab[j : j + 4096]]
        assert np.all(own <= d2.min(axis=1) * (1 + 1e-12) + 1e-300)


def test_a_sparse_mask_that_a_sample_misses(per_pixel_calls):
    """Valid pixels only where a finer sample sees none: that sample is skipped,
    and the fit on all pixels is still exact."""
    X = float_rgb(n=576)  # 331,776 rows: samples of every 20th, then every 8th
    n = len(X)
    assert dense._ladder(n) == [20, 8, 1]
    mask = np.zeros(n, bool)
    mask[20::40] = True  # on every 20th row, never on a multiple of 8
    fit = fit_predict(X, n_clusters=4, mask=mask, random_state=0)
    assert per_pixel_calls
    assert fit.converged
    assert_fit(X, fit, mask)


@pytest.mark.parametrize("name", ["float32 rgb", "uint16 5ch"])
def test_segment_and_its_model_agree_on_every_pixel(name, per_pixel_calls):
    """Through the public API: the labels of the fit are those its model gives
    the same image (each pixel's nearest centroid, the same rule everywhere)."""
    from napari_kmeans_seg import segment

    X = CASES[name]()
    image = X.reshape(N_SIDE, N_SIDE, -1)
    result = segment(image, 6, channel_axis=-1, rgb=False, random_state=0)
    assert per_pixel_calls
    assert result.labels.shape == (N_SIDE, N_SIDE)
    np.testing.assert_array_equal(result.model.predict(image), result.labels)


def test_three_integer_channels_choose_by_the_boundaries(per_pixel_calls):
    """uint16 with 3 channels: the cells are cheap to make, and they stay when few
    pixels lie in cells that straddle a boundary (a dark background with a few
    bright objects); many straddling pixels (shot noise everywhere, many
    clusters) take the per-pixel way."""
    rng = np.random.default_rng(4)
    background = rng.poisson(100, (1 << 18, 3))
    background[: 1 << 12] += 3000  # a few bright pixels
    fit = fit_predict(background.astype(np.uint16), n_clusters=2, random_state=0)
    assert fit.converged
    assert per_pixel_calls == []
    X = poisson(3)
    fit = fit_predict(X, n_clusters=16, random_state=0)
    assert per_pixel_calls
    assert_fit(X, fit)
