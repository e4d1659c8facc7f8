"""One feature: the global optimum of the k-means objective, checked against
brute force over every set of thresholds (8- and 16-bit integers over the
histogram; other integers and floats binned, see also
``test_fit_optimum_binned_1d``)."""

import itertools

import numpy as np
import pytest

from napari_kmeans_seg import segment
from napari_kmeans_seg.core.engine import fit_predict
from napari_kmeans_seg.core.fit.optimum_1d import optimum


def brute_force(x: np.ndarray, k: int) -> float:
    """The least sum of squares of ``x`` in ``k`` intervals of its sorted
    distinct values, by trying every split."""
    v = np.unique(x)
    best = np.inf
    for cuts in itertools.combinations(range(1, v.size), k - 1):
        edges = [v[0], *(v[c] for c in cuts)]
        labels = np.searchsorted(edges, x, side="right")
        total = sum(
            ((x[labels == c] - x[labels == c].mean()) ** 2).sum()
            for c in range(1, k + 1)
        )
        best = min(best, total)
    return best


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(
    "dtype", [np.uint8, np.uint16, np.int8, np.int16, np.float32, np.float64]
)
def test_the_optimum_against_brute_force(seed, dtype):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":  # levels at any magnitude, two very close
        scale = 10.0 ** rng.integers(-3, 4)
        levels = rng.normal(0, scale, rng.integers(5, 11)).astype(dtype)
        if dtype == np.float32:  # adjacent (their midpoint is a float64)
            levels[1] = np.nextafter(levels[0], dtype(np.inf))
        else:
            levels[1] = levels[0] * (1 + 1e-9)
    else:
        info = np.iinfo(dtype)
        levels = rng.choice(np.arange(info.min, info.max + 1), rng.integers(5, 11))
    levels = np.unique(levels.astype(dtype))
    x = levels[rng.integers(0, levels.size, 400)].astype(dtype)
    x[: levels.size] = levels  # every level present
    k = int(rng.integers(2, min(6, levels.size) + 1))
    fit = fit_predict(x[:, None], n_clusters=k, random_state=seed)
    x = x.astype(np.float64)
    expected = brute_force(x, k)
    assert fit.converged and fit.optimal
    ours = sum(
        ((x[fit.labels == c] - x[fit.labels == c].mean()) ** 2).sum()
        for c in range(1, k + 1)
    )
    # (rounding: the means of clusters of equal values are not always exact)
    rounding = 1e-13 * np.sum(x * x)
    assert ours <= expected * (1 + 1e-12) + rounding
    assert fit.inertia == pytest.approx(ours, rel=1e-9, abs=rounding)
    # and the labels are the reported partition: every value on its centroid's
    # interval, each centroid the mean of its values
    C = fit.centroids[:, 0]
    for c in range(k):
        np.testing.assert_allclose(x[fit.labels == c + 1].mean(), C[c], rtol=1e-12)


def test_the_optimum_beats_a_lloyd_fixed_point_where_lloyd_stops_short():
    """Three groups where k-means++ and Lloyd from a poor start stop at a worse
    fixed point: the optimum is found whatever the seed."""
    x = np.repeat(np.array([0, 10, 11, 100, 101, 102], np.uint8), [50, 1, 1, 40, 1, 1])
    results = [fit_predict(x[:, None], n_clusters=3, random_state=s) for s in range(8)]
    expected = brute_force(x.astype(np.float64), 3)
    for fit in results:
        assert fit.inertia == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_a_mask_and_the_image_path():
    from skimage import data

    camera = data.camera()
    mask = np.zeros(camera.shape, bool)
    mask[100:400, 50:450] = True
    result = segment(camera, 4, mask=mask)
    x = camera[mask].astype(np.float64)
    labels = result.labels[mask]
    inertia = sum(
        ((x[labels == c] - x[labels == c].mean()) ** 2).sum() for c in range(1, 5)
    )
    assert result.converged and result.optimal and np.all(result.labels[~mask] == 0)
    assert result.inertia == pytest.approx(inertia, rel=1e-9)
    threshold = pytest.importorskip("skimage.filters").threshold_multiotsu
    t = threshold(x.astype(np.uint8), classes=4)
    ref = np.digitize(x, t, right=True)
    best = sum(((x[ref == c] - x[ref == c].mean()) ** 2).sum() for c in range(4))
    assert result.inertia <= best * (1 + 1e-12)


def test_given_starts_take_lloyd_from_them_not_the_optimum():
    x = np.repeat(np.array([0, 10, 11, 100, 101, 102], np.uint8), [50, 1, 1, 40, 1, 1])
    fit = fit_predict(
        x[:, None], n_clusters=3, init=np.array([[0.0], [100.0], [102.0]])
    )
    assert fit.converged
    assert fit.inertia > brute_force(x.astype(np.float64), 3) * 1.01


def test_optimum_of_equal_weights_matches_its_definition():
    values = np.arange(10, dtype=np.float64)
    inertia, C = optimum(values, np.ones(10), 2)
    assert inertia == pytest.approx(2 * 10.0)  # two halves of 5: 10 each
    np.testing.assert_allclose(C[:, 0], [2.0, 7.0])


def test_only_the_optimum_says_so():
    from skimage import data

    assert segment(data.camera(), 3).optimal
    assert not segment(data.camera(), 3).merge([1, 2]).optimal
    assert segment(data.camera() / 255.0, 3).optimal  # floats too
    start = np.array([[0.1], [0.5], [0.9]])
    x = (data.camera() / 255.0).reshape(-1, 1)
    assert not fit_predict(x, n_clusters=3, init=start).optimal  # from starts
    assert not segment(data.astronaut(), 3).optimal
