"""The registry is the one place that chooses how pixels are fitted: its chains,
in their documented order, and the strategy each kind of image reaches."""

import numpy as np
import pytest

from napari_kmeans_seg.core.engine import fit_predict
from napari_kmeans_seg.core.fit import registry
from napari_kmeans_seg.core.fit.cells import Cells
from napari_kmeans_seg.core.fit.fast_1d import Fast1D
from napari_kmeans_seg.core.fit.histogram_1d import Histogram1D
from napari_kmeans_seg.core.fit.optimum_1d import Optimum1D
from napari_kmeans_seg.core.fit.per_pixel import PerPixel
from napari_kmeans_seg.core.fit.records import Fit
from napari_kmeans_seg.core.fit.sample import Sample


def test_the_chains_and_their_order():
    names = {key: [s.name for s in chain] for key, chain in registry.CHAINS.items()}
    assert names == {
        ("exact", True): [
            "optimum (one feature)",
            "fast (one feature)",
            "histogram (one feature)",
        ],
        ("exact", False): ["per-pixel", "cells"],
        ("sample", True): ["sample"],
        ("sample", False): ["sample"],
    }
    assert registry.chain("exact", 1) == registry.CHAINS["exact", True]
    assert registry.chain("exact", 5) == registry.CHAINS["exact", False]


@pytest.fixture
def fitted_by(monkeypatch):
    """The names of the strategies that returned a fit, in order."""
    seen = []
    for cls in (Optimum1D, Fast1D, Histogram1D, PerPixel, Cells, Sample):
        real = cls.fit

        def recording(self, job, real=real):
            found = real(self, job)
            seen.append((self.name, found is not None))
            return found

        monkeypatch.setattr(cls, "fit", recording)
    return seen


def _poisson(n, channels, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.uniform(50, 3000, (4, channels))
    return rng.poisson(means[rng.integers(0, 4, n)]).astype(np.uint16)


def _rgb8(rng):
    return rng.integers(0, 256, (20_000, 3), dtype=np.uint8)


def _float_rgb(rng):
    return rng.random((1 << 18, 3), dtype=np.float32)


def _grey8(rng):
    return rng.integers(0, 256, (5000, 1), dtype=np.uint8)


def _grey_float(n):
    return lambda rng: rng.random((n, 1))


#: (pixels, method) -> the strategy that fits them
KINDS = [
    (_rgb8, "exact", "cells"),
    (_float_rgb, "exact", "per-pixel"),
    (lambda rng: _poisson(1 << 18, 5), "exact", "per-pixel"),
    (lambda rng: _poisson(1 << 18, 3), "exact", "cells"),  # well apart: cells
    (_grey8, "exact", "optimum (one feature)"),
    (_grey_float(1 << 16), "exact", "optimum (one feature)"),
    (_grey_float(5000), "exact", "optimum (one feature)"),
    (_float_rgb, "sample", "sample"),
    (_grey_float(5000), "sample", "sample"),
]


@pytest.mark.parametrize("make, method, expected", KINDS)
def test_each_kind_reaches_its_strategy(fitted_by, make, method, expected):
    X = make(np.random.default_rng(1))
    fit_predict(X, n_clusters=4, method=method)
    assert fitted_by[-1] == (expected, True)
    assert all(not took for _, took in fitted_by[:-1])  # earlier ones declined


@pytest.mark.parametrize(
    "n, fallback", [(1 << 16, "fast (one feature)"), (5000, "histogram (one feature)")]
)
def test_the_float_optimum_too_large_for_its_budget_falls_back(
    fitted_by, monkeypatch, n, fallback
):
    from napari_kmeans_seg.core.fit import bounds_1d

    monkeypatch.setattr(bounds_1d, "MAX_BOUND_BYTES", 1000)
    X = np.random.default_rng(1).random((n, 1))
    fit = fit_predict(X, n_clusters=4)
    assert fitted_by == [("optimum (one feature)", False), (fallback, True)]
    assert fit.converged and not fit.optimal


def test_many_clusters_on_float_data_take_the_histogram(fitted_by):
    X = np.random.default_rng(1).random((5000, 1))
    fit_predict(X, n_clusters=130)
    assert fitted_by == [("histogram (one feature)", True)]


class _Declines:
    """A strategy that draws from the random source, then declines."""

    name = "declines"

    def applies(self, job):
        return True

    def fit(self, job):
        job.rng.random(1000)
        return None


class _Draws:
    """A strategy that fits nothing real: it records the next random number."""

    name = "draws"

    def __init__(self):
        self.drawn = []

    def applies(self, job):
        return True

    def fit(self, job):
        self.drawn.append(job.rng.random())
        n = job.px.n
        C = np.zeros((job.k, job.px.d))
        return Fit(
            C, np.zeros(job.k, np.int64), np.zeros(n, np.uint8), 0.0, 0, False, 0
        )


def test_a_declining_strategy_leaves_the_random_state_and_a_new_one_is_one_line(
    monkeypatch,
):
    X = np.random.default_rng(0).random((100, 2))
    alone, after = _Draws(), _Draws()
    monkeypatch.setitem(registry.CHAINS, ("exact", False), (alone,))
    fit_predict(X, n_clusters=2, random_state=7)
    monkeypatch.setitem(registry.CHAINS, ("exact", False), (_Declines(), after))
    fit_predict(X, n_clusters=2, random_state=7)
    assert alone.drawn == after.drawn and len(after.drawn) == 1
