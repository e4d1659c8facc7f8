"""Numbers keep their precision: features in float64, integers beyond 2**53 refused
with a true message, mean colours never wrap, model units checked."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixed_point import assert_fixed_point
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from napari_kmeans_seg import (
    ExactKMeans,
    SegmentationResult,
    segment,
    suggest_n_clusters,
)

#: magnitudes whose squared differences stay normal floats (smaller ones are
#: tried in a child process, see test_tiny_and_subnormal_magnitudes_terminate)
magnitudes = st.sampled_from(
    [1e-150, 1e-100, 1e-30, 1e-8, 1.0, 1e8, 1e30, 1e100, 1e140, 1e200, 1e300]
)
#: magnitudes whose squared differences underflow (subnormal or 0)
TINY = [5e-324, 1e-310, 1e-300, 1e-200, 1e-160]


def _two_channel(values: np.ndarray) -> np.ndarray:
    """A 2-channel image (channel axis last, not RGB) of ``values`` twice."""
    return np.stack([values, values], axis=-1)


def _check(result, image_channels, weights=1.0):
    """A fixed point in the features the engine clustered: the channels times
    their ``weights`` (powers of two here: exact)."""
    d = image_channels.shape[-1]
    X = image_channels.reshape(-1, d).astype(np.float64) * weights
    assert_fixed_point(X, result.labels, result.centroids * weights)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_float_magnitudes_property():
    """The hypothesis property below, in a child process: a hang inside compiled
    code fails this test only, not the whole run."""
    here = str(Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r})\n"
        "import test_precision as t\n"
        "t.weighted_features_keep_float64_values()\n"
        "print('done')\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired:
        pytest.fail("segment() did not return: a loop of the engine does not end")
    assert out.stdout.strip().endswith("done"), out.stdout + out.stderr


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    scale=magnitudes,
    offset=st.sampled_from([0.0, 1.0, 1e8, 1e15]),
    seed=st.integers(0, 2**16),
    k=st.integers(2, 4),
)
def weighted_features_keep_float64_values(scale, offset, seed, k):
    rng = np.random.default_rng(seed)
    values = offset + scale * rng.integers(0, 6, (6, 7)).astype(np.float64)
    distinct = np.unique(values).size
    assume(distinct >= k)
    image = _two_channel(values)
    try:
        result = segment(image, k, channel_axis=2, channel_weights=(1.0, 0.5))
    except ValueError as err:  # a clear refusal is allowed: never a silent loss
        assert "too large" in str(err) or "rescale" in str(err), err
        assert scale * 6 + abs(offset) > 1e140
        return
    assert result.converged  # a fixed point, every cluster kept
    assert sorted(np.unique(result.labels)) == list(range(1, k + 1))
    assert result.n_invalid == 0  # no finite pixel left out
    assert np.count_nonzero(result.labels) == values.size
    _check(result, image, (1.0, 0.5))


@pytest.mark.slow
def test_finite_pixels_beyond_float32_range_are_clustered():
    values = np.array([[1e100, 2e100, -1e100, 3e99]])
    result = segment(_two_channel(values), 2, channel_axis=2, channel_weights=(1, 2))
    assert result.n_invalid == 0 and np.all(result.labels > 0)


def test_large_offsets_stay_distinct_with_options():
    values = 1e8 + 0.5 * np.arange(8.0).reshape(2, 4)
    result = segment(_two_channel(values), 4, channel_axis=2, channel_weights=(1, 0.5))
    assert len(np.unique(result.labels)) == 4
    _check(result, _two_channel(values), (1.0, 0.5))


def test_normalize_keeps_a_large_offset():
    values = 1e9 + np.repeat([0.0, 1.0, 2.0], 4).reshape(3, 4)
    result = segment(values, 3, normalize=True)
    assert sorted(np.unique(result.labels).tolist()) == [1, 2, 3]
    np.testing.assert_allclose(
        np.sort(result.centroids[:, 0]) - 1e9, [0.0, 1.0, 2.0], atol=1e-6
    )


@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
def test_64_bit_integers_beyond_2_53_are_refused_truly(dtype):
    image = np.array([[2**60, 2**60 + 1, 2**60 + 2]], dtype=dtype)
    with pytest.raises(ValueError, match=r"3 distinct .* merges into 1.*image.min"):
        segment(image, 2)
    shifted = image - image.min()  # the advice works
    assert segment(shifted, 2).n_clusters == 2


@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
def test_64_bit_extremes_that_stay_distinct_are_clustered(dtype):
    info = np.iinfo(dtype)
    image = np.array([[info.max, info.max // 2, 0, 5]], dtype=dtype)
    labels = segment(image, 2).labels
    assert labels[0, 0] != labels[0, 3]


@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
@pytest.mark.parametrize(
    ("values", "big", "merged"),
    [
        ((2**53, 2**53 + 1, 5), 2, 1),  # 2**53 + 1 rounds onto 2**53 itself
        ((2**53 - 1, 2**53, 2**53 + 1), 2, 1),
        ((2**54, 2**54 + 1, 2**54 + 2), 3, 1),
        ((2**60, 2**60 + 1, 2**60 + 256), 3, 2),
    ],
)
def test_64_bit_values_float64_merges_are_refused_not_miscounted(
    dtype, values, big, merged
):
    image = np.array([values * 4], dtype=dtype)
    expected = (
        rf"holds {big} distinct {np.dtype(dtype)} values .* merges into {merged};"
    )
    with pytest.raises(ValueError, match=expected):
        segment(image, 3)
    with pytest.raises(ValueError, match=expected):
        suggest_n_clusters(image, range(2, 4))


@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
@pytest.mark.parametrize("rgb", [False, True])
def test_64_bit_values_a_few_float64_steps_apart_and_far_are_refused(dtype, rgb):
    # distinct in float64, but one step (256) apart, and 0 too: no offset to
    # subtract, and the fit came out wrong (2 labels of 3)
    values = (2**60, 2**60 + 256, 2**60 + 512, 0)
    image = np.array([values * 6], dtype=dtype)
    image = np.stack([image] * 3, axis=-1) if rgb else image
    with pytest.raises(ValueError, match=r"float64 steps apart.*keep them apart"):
        segment(image, 3)


@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
@pytest.mark.parametrize("rgb", [False, True])
def test_64_bit_values_a_few_float64_steps_apart_on_an_offset_are_exact(dtype, rgb):
    values = np.array([2**60, 2**60 + 256, 2**60 + 512], dtype=dtype)
    image = values[np.arange(60) % 3].reshape(6, 10)
    image = np.stack([image] * 3, axis=-1) if rgb else image
    result = segment(image, 3)
    assert result.converged
    np.testing.assert_array_equal(result.labels, segment(image - 2**60, 3).labels)


def test_64_bit_values_far_apart_in_float64_steps_are_clustered():
    values = np.array([2**60, 2**60 + 2**40, 2**60 + 2**41], dtype=np.uint64)
    image = values[np.arange(60) % 3].reshape(6, 10)
    result = segment(image, 3)
    assert result.converged and sorted(np.unique(result.labels)) == [1, 2, 3]
    assert len(set(result.labels[0, :3].tolist())) == 3


@pytest.mark.parametrize("rgb", [False, True])
@pytest.mark.parametrize("far", [False, True], ids=["close", "and-one-far"])
def test_values_a_few_float64_steps_apart_on_a_large_offset_are_exact(rgb, far):
    # 2**60 + a few steps of 256: means and midpoints between such values round
    # onto them, and the fit ended short of a fixed point with clusters missing;
    # the offset is subtracted (exactly) before clustering
    rng = np.random.default_rng(3)
    groups = rng.integers(0, 4 if far else 3, (30, 40))
    steps = np.array([0, 16, 32, 10**7])[groups] + rng.integers(0, 8, groups.shape)
    values = 2.0**60 + 256.0 * steps
    image = np.stack([values] * 3, axis=-1) if rgb else values
    k = 4 if far else 3
    result = segment(image, k, random_state=0)
    assert result.converged
    assert sorted(np.unique(result.labels)) == list(range(1, k + 1))
    expected = segment(image - 2.0**60, k, random_state=0)  # no offset
    np.testing.assert_array_equal(result.labels, expected.labels)
    # the centroids, back on the offset, are the nearest float64 (steps of 256)
    np.testing.assert_allclose(
        result.centroids, expected.centroids + 2.0**60, rtol=0, atol=128
    )


def test_float_values_on_a_large_offset_are_fitted_exactly():
    # 1e8 + 1e-8 * (0..5): each value a step or two of float64 from the next
    rng = np.random.default_rng(4)
    values = 1e8 + 1e-8 * rng.integers(0, 6, (20, 30)).astype(np.float64)
    result = segment(values, 3)
    assert result.converged and result.n_clusters == 3
    _check(result, values[..., None])
    expected = segment(values - 1e8, 3)  # the same values without the offset
    np.testing.assert_array_equal(result.labels, expected.labels)
    km = ExactKMeans(3, random_state=0).fit(values.reshape(-1, 1))
    assert km.converged_ and len(np.unique(km.labels_)) == 3


def test_negative_64_bit_values_at_minus_2_53_are_refused():
    image = np.array([[-(2**53), -(2**53) - 1, 5] * 4], dtype=np.int64)
    with pytest.raises(ValueError, match=r"2 distinct int64 .* merges into 1;"):
        segment(image, 3)


@pytest.mark.parametrize("dtype", [np.uint64, np.int64])
def test_exact_kmeans_refuses_64_bit_values_that_float64_merges(dtype):
    X = np.array([[2**60], [2**60 + 1], [2**60 + 256]] * 4, dtype=dtype)
    with pytest.raises(ValueError, match=r"X holds 3 distinct .* merges into 2"):
        ExactKMeans(3, random_state=0).fit(X)
    shifted = ExactKMeans(3, random_state=0).fit(X - X.min())
    assert len(set(shifted.labels_.tolist())) == 3


def test_64_bit_integers_below_2_53_are_exact():
    image = np.array([[2**53 - 2, 2**53 - 1, 0, 1]], dtype=np.int64)
    result = segment(image, 2)
    assert result.labels[0, 0] == result.labels[0, 1] != result.labels[0, 2]


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_mean_color_image_never_wraps(dtype):
    base = segment(np.array([[0, 1, 10, 11]], dtype=np.uint8), 2)
    top = float(np.iinfo(dtype).max)  # rounds up to 2**63 or 2**64 in float64
    result = SegmentationResult(
        labels=base.labels,
        centroids=np.array([[0.5], [top]]),
        counts=base.counts,
        inertia=base.inertia,
        model=base.model,
        image_dtype=np.dtype(dtype).name,
    )
    poster = result.mean_color_image()
    assert poster.dtype == dtype
    assert poster[0, 3] > np.iinfo(dtype).max // 2  # clipped, not wrapped


_TINY_SCRIPT = """
import numpy as np
from napari_kmeans_seg import segment
for scale in {tiny}:
    for seed in range(4):
        rng = np.random.default_rng(seed)
        values = scale * rng.integers(1, 6, (6, 7)).astype(np.float64)
        for k in (2, 3):
            if np.unique(values).size < k:
                continue
            try:
                r = segment(values, k, max_iter=3)
            except ValueError:
                continue  # a clear refusal is allowed
            assert r.n_invalid == 0, (scale, seed, k)
print("done")
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tiny_and_subnormal_magnitudes_terminate():
    """Squared distances that underflow to 0 must not stop the fit from ending:
    run in a child process, so that a hang inside compiled code fails this test
    only."""
    code = _TINY_SCRIPT.format(tiny=TINY)
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=240
        )
    except subprocess.TimeoutExpired:
        pytest.fail("segment() did not return: a loop of the engine does not end")
    assert out.stdout.strip() == "done", out.stderr


@pytest.mark.parametrize("k", [8, 40])
def test_the_inertia_of_few_float32_values_is_exact(k):
    """The cells' sums of squares were float32 squares: on few distinct float32
    values (cells that do not straddle report their sums), the inertia came out
    1.3e-6 relative off; the squares are made in float64 now (exact)."""
    from napari_kmeans_seg.core.engine import fit_predict

    rng = np.random.default_rng(5)
    X = (rng.integers(0, 12, (1 << 18, 3)) / 7).astype(np.float32)
    fit = fit_predict(X, n_clusters=k, random_state=0)
    P = X.astype(np.float64)
    exact = float(((P - fit.centroids[fit.labels - 1]) ** 2).sum())
    assert fit.inertia == pytest.approx(exact, rel=1e-12)
