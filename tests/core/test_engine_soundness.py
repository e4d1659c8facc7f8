"""The engine never hangs: loops bounded by construction, empty clusters re-seeded
where they change something, tiny values rescaled, computations cancellable, and
the thread pool usable in forked and spawned children."""

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from fixed_point import assert_fit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_kmeans_seg import segment
from napari_kmeans_seg.core import parallel as _parallel
from napari_kmeans_seg.core.engine import (
    Cancelled,
    TooFewValuesError,
    fit_predict,
    predict,
    stop_when,
)


@pytest.mark.timeout(60)
def test_tiny_values_are_clustered_not_hung_on():
    """The squared difference of 1e-300 and 2e-300 underflows to 0 in float64."""
    result = segment(np.array([[1e-300, 2e-300]]), 2, max_iter=3)
    assert result.converged
    np.testing.assert_array_equal(result.labels, [[1, 2]])
    np.testing.assert_array_equal(result.centroids.ravel(), [1e-300, 2e-300])


@pytest.mark.timeout(60)
def test_subnormal_values_each_their_own_cluster():
    X = np.array([[5e-324 * j] for j in range(1, 8)])
    fit = fit_predict(X, n_clusters=7)
    assert fit.converged and np.all(fit.counts == 1)
    np.testing.assert_array_equal(fit.centroids.ravel(), X.ravel())
    np.testing.assert_array_equal(predict(X, fit.centroids), fit.labels)


@pytest.mark.timeout(60)
def test_values_that_cannot_be_told_apart_give_the_true_count():
    """0 and 1e-200 differ, but with 1 in the data no scaling separates their
    squared difference from 0: two colours, not three, can be told apart."""
    X = np.array([[0.0, 0.0], [1e-200, 0.0], [1.0, 0.0]])
    with pytest.raises(TooFewValuesError, match="only 2 distinct values that"):
        fit_predict(X, n_clusters=3)


def test_one_feature_tells_tiny_differences_apart():
    """With one feature the clusters are intervals between midpoints: 0 and
    1e-200 are on either side of theirs, each its own cluster."""
    X = np.array([[0.0], [1e-200], [1.0]])
    fit = fit_predict(X, n_clusters=3)
    assert fit.converged
    np.testing.assert_array_equal(fit.centroids.ravel(), [0.0, 1e-200, 1.0])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("scale", [1.0, 1e-300])
def test_duplicate_starts_are_reseeded_apart(scale):
    X = np.array([[0.0], [0.0], [1.0], [2.0], [3.0]]) * scale
    fit = fit_predict(X, n_clusters=3, init=np.zeros((3, 1)))
    assert fit.converged and np.all(fit.counts > 0)
    assert len(np.unique(fit.centroids)) == 3
    assert_fit(X, fit)


@pytest.mark.timeout(120)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scale=st.sampled_from([5e-324, 1e-310, 1e-300, 1e-200, 1e-20, 1.0, 1e100, 1e140]),
    offset=st.sampled_from([0.0, 1.0, 1e8]),
    n_values=st.integers(2, 9),
    d=st.integers(1, 3),
    below=st.booleans(),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_k_near_the_number_of_distinct_values(
    scale, offset, n_values, d, below, seed, dtype
):
    """k equal to, or one less than, the number of distinct values, at every
    magnitude: a converged fixed point, or a TooFewValuesError; never a hang."""
    rng = np.random.default_rng(seed)
    steps = rng.permutation(np.arange(1, n_values + 1))
    base = (offset + scale * steps).astype(dtype)
    if len(np.unique(base)) < n_values:  # the offset swallowed the steps
        return
    values = np.stack([np.roll(base, j) for j in range(d)], axis=1)
    X = values[rng.integers(0, n_values, 200)]
    X[:n_values] = values  # every value present
    k = n_values - below
    fit = fit_predict(X, n_clusters=k, max_iter=50)
    assert fit.converged and np.all(fit.counts > 0)
    if offset == 0.0:
        assert_fit(X, fit)
    if not below:  # one value per cluster
        for i in range(1, k + 1):
            assert len(np.unique(X[fit.labels == i], axis=0)) == 1


def test_integers_beyond_2_53_are_refused_clearly():
    X = np.array([[2**60], [2**60 + 1]], dtype=np.int64)
    with pytest.raises(ValueError, match="beyond 2\\*\\*53"):
        fit_predict(X, n_clusters=2)


# ---------------------------------------------------------------- cancellation
def photo_rows(n=300_000):
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 1, (6, 3))
    rows = centres[rng.integers(0, 6, n)] + rng.normal(0, 0.05, (n, 3))
    return rows.astype(np.float32)


class CountingHook:
    """``should_stop`` that says stop from its ``after``-th call on."""

    def __init__(self, after=None):
        self.calls = 0
        self.after = after

    def __call__(self):
        self.calls += 1
        return self.after is not None and self.calls >= self.after


def test_a_set_event_stops_the_fit():
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        fit_predict(photo_rows(), n_clusters=4, should_stop=ev)
    with pytest.raises(Cancelled):
        predict(photo_rows(), np.zeros((2, 3)), should_stop=ev)


def test_the_hook_is_polled_inside_each_pass(monkeypatch):
    """With chunks of 4096 rows, a pass over 300k rows polls the hook for each
    chunk; stopping at any poll raises Cancelled there."""
    monkeypatch.setattr(_parallel, "CHUNK_ROWS", 4096)
    X = photo_rows()
    hook = CountingHook()
    plain = fit_predict(X, n_clusters=5)
    polled = fit_predict(X, n_clusters=5, should_stop=hook)
    np.testing.assert_array_equal(plain.labels, polled.labels)
    np.testing.assert_array_equal(plain.centroids, polled.centroids)
    assert hook.calls > 4 * len(X) // 4096  # several passes, each per chunk
    for after in (1, hook.calls // 3, hook.calls - 1):
        stopper = CountingHook(after)
        with pytest.raises(Cancelled):
            fit_predict(X, n_clusters=5, should_stop=stopper)
        # stopped at once: at most one more poll by each of the other threads
        assert stopper.calls <= after + _parallel.N_RANGES


def test_stop_when_reaches_segment():
    ev = threading.Event()
    ev.set()
    image = (photo_rows().reshape(500, 600, 3) * 255).clip(0, 255).astype(np.uint8)
    with stop_when(ev), pytest.raises(Cancelled):
        segment(image, 3)
    assert segment(image, 3).converged  # the hook is gone after the block


def test_should_stop_must_be_callable():
    with pytest.raises(TypeError, match="should_stop"):
        fit_predict(photo_rows(1000), n_clusters=2, should_stop=True)


# ---------------------------------------------------------------- fork safety
CHILD = textwrap.dedent(
    """
    import multiprocessing as mp
    import sys

    import numpy as np

    from napari_kmeans_seg import segment


    def image():
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (400, 400, 3), dtype=np.uint8)


    def child(_):
        return segment(image(), 3).labels.sum()


    if __name__ == "__main__":
        parent = segment(image(), 3).labels.sum()  # the pool exists now
        with mp.get_context(sys.argv[1]).Pool(2) as pool:
            found = pool.map_async(child, range(2)).get(timeout=100)
        assert found == [parent, parent], (found, parent)
        print("ok")
    """
)


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_children_segment_after_the_parent(tmp_path, context):
    script = tmp_path / "children.py"
    script.write_text(CHILD)
    done = subprocess.run(
        [sys.executable, str(script), context],
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
