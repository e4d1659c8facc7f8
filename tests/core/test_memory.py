"""The memory guard: estimates, and a clear refusal (never an out-of-memory kill)
when memory is short (through the layers: tests/layers/test_memory_layers.py;
the widget: tests/qt/test_widget_memory.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import napari_kmeans_seg.core.memory as memory
from napari_kmeans_seg import segment
from napari_kmeans_seg.core.memory import (
    ENGINE_OVERHEAD,
    InsufficientMemoryError,
    MemoryEstimate,
    available_memory,
    check_memory,
    estimate_memory,
    format_bytes,
)

MB = 10**6


def test_module_imports_neither_napari_nor_qt():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import napari_kmeans_seg.core.memory as m\n"
        "m.estimate_memory((10, 10, 3), 'uint8'); m.available_memory()\n"
        "bad = [x for x in sys.modules if x.split('.')[0] in "
        "('napari', 'qtpy', 'PyQt6', 'PyQt5', 'PySide6', 'vispy')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("shape", "kwargs", "pixels", "channels"),
    [
        ((100, 200), {}, 20_000, 1),
        ((100, 200, 3), {}, 20_000, 3),
        ((100, 200, 4), {}, 20_000, 3),  # alpha is not clustered
        ((100, 200, 3), {"rgb": False}, 60_000, 1),
        ((5, 100, 200), {"channel_axis": 0}, 20_000, 5),
        ((10, 100, 200), {}, 200_000, 1),
    ],
)
def test_labels_are_one_byte_per_pixel(shape, kwargs, pixels, channels):
    est = estimate_memory(shape, np.float32, **kwargs)
    assert est.labels == pixels
    assert est.gathered == pixels * channels * 4  # bounded by the pixel matrix
    assert est.engine == ENGINE_OVERHEAD + est.gathered
    assert est.image_layers == 0 and est.total == est.labels + est.engine


def test_masked_layers_are_one_image_copy_each():
    est = estimate_memory((2160, 3840, 3), "uint8", n_image_layers=5)
    image = 2160 * 3840 * 3
    assert est.image_bytes == image and est.image_layers == 5 * image
    assert est.n_image_layers == 5


@pytest.mark.parametrize(
    ("dtype", "copy"),
    [
        (np.uint8, 0),
        (np.uint16, 0),
        (np.float32, 0),
        (np.float64, 0),
        (np.bool_, 0),
        (np.int8, 4),
        (np.int16, 4),
        (np.float16, 4),
        (np.int32, 8),
        (np.int64, 8),
        (np.uint32, 8),
        (np.dtype(">u2"), 8),
        (np.dtype(">f4"), 8),
    ],
)
def test_converted_dtypes_add_a_working_copy(dtype, copy):
    n = 1000 * 1000
    est = estimate_memory((1000, 1000), dtype)
    itemsize = copy or np.dtype(dtype).itemsize
    assert est.engine == ENGINE_OVERHEAD + n * itemsize + n * copy


def test_rgb_uint8_allows_for_the_histogram_gather():
    est = estimate_memory((2160, 3840, 3), "uint8")
    assert est.gathered == memory.HIST_CELLS * 512 * 4 * 5  # 4 ranges + their sum
    small = estimate_memory((100, 100, 3), "uint8")
    assert small.gathered == 100 * 100 * 512 * 4 * 2  # one range, at most n cells


def test_an_invalid_layout_is_refused_as_segment_refuses_it():
    with pytest.raises(ValueError, match="channel_axis=7 is out of range"):
        estimate_memory((100, 200, 3), np.float32, channel_axis=7)


def test_sample_method_and_feature_options():
    exact = estimate_memory((1000, 1000), "float32")
    sample = estimate_memory((1000, 1000), "float32", method="sample")
    assert sample.gathered == 0 and sample.engine < exact.engine
    lab = estimate_memory((1000, 1000, 3), "float32", color_space="lab")
    rgb = estimate_memory((1000, 1000, 3), "float32")
    # the feature matrix is float64
    assert lab.engine == rgb.engine + 8 * 10**6 * 3
    spatial = estimate_memory((1000, 1000, 3), "float32", spatial_weight=0.1)
    assert spatial.engine == rgb.engine + 8 * 10**6 * 5
    smooth = estimate_memory((1000, 1000, 3), "float32", smoothing=1.0)
    assert smooth.engine == rgb.engine + 8 * 10**6 * 6
    # options that do not change the memory are accepted and ignored
    assert estimate_memory((10, 10), "uint8", random_state=3, n_init=2).total > 0


def test_the_estimate_bounds_what_segment_really_takes():
    """tracemalloc sees numpy's allocations (numba's kernels allocate through
    numpy): the estimate must not be below the measured peak."""
    import tracemalloc

    rng = np.random.default_rng(0)
    cases = [
        rng.integers(0, 256, (600, 800, 3), dtype=np.uint8),  # noise: worst case
        rng.integers(-100, 100, (600, 800), dtype=np.int64),
        rng.random((600, 800)).astype(np.float32),
    ]
    for image in cases:
        segment(image[:20, :20], 3)  # compile and load the kernels first
        tracemalloc.start()
        try:
            segment(image, 3)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        est = estimate_memory(image.shape, image.dtype)
        assert est.total >= peak, (image.dtype, est.total, peak)


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(12_345) == "12.3 kB"
    assert format_bytes(240 * MB) == "240 MB"
    assert format_bytes(1.5e9) == "1.5 GB"
    assert format_bytes(3e12) == "3.0 TB"


def test_check_memory_passes_when_it_fits():
    est = MemoryEstimate(labels=10, engine=20, image_layers=30)
    check_memory(est, available=60)
    check_memory(est, available=10**15)


def test_check_memory_refuses_with_sizes_and_advice():
    est = estimate_memory((20_000, 20_000, 3), "uint8", n_image_layers=5, n_clusters=8)
    with pytest.raises(InsufficientMemoryError) as info:
        check_memory(est, what="segmenting 'big'", available=2 * 10**9)
    message = str(info.value)
    assert isinstance(info.value, MemoryError)
    assert message.startswith("segmenting 'big' needs about 7.")
    assert "labels 400 MB" in message
    assert "5 image layers of 1.2 GB each" in message
    assert "only 2.0 GB is available" in message
    assert "masked_layers=False" in message and "crop or downsample" in message
    assert "fewer clusters" in message and 'method="sample"' in message


def test_eight_bit_colour_at_many_clusters_counts_the_per_pixel_state():
    """From 16 clusters on, distinct 8-bit colours go pixel by pixel: 4.25 bytes
    per pixel beyond the labels, more than the 3-byte pixel matrix."""
    shape, n = (20_000, 20_000, 3), 20_000 * 20_000
    few = estimate_memory(shape, "uint8", n_clusters=8)
    many = estimate_memory(shape, "uint8", n_clusters=16)
    unknown = estimate_memory(shape, "uint8")
    assert few.gathered == 3 * n  # the pixel matrix
    assert many.gathered == unknown.gathered == math.ceil(4.25 * n)
    assert many.engine - few.engine == many.gathered - few.gathered
    grey = estimate_memory((20_000, 20_000), "uint8", n_clusters=64)
    assert grey.gathered == n  # one channel: the one-feature ways


def test_check_memory_says_when_dropping_the_masked_layers_is_enough():
    est = estimate_memory((10_000, 10_000), "uint8", n_image_layers=8)
    with pytest.raises(InsufficientMemoryError, match=r"\(that alone would fit\)"):
        check_memory(est, available=est.total - est.image_layers + 1)


def test_check_memory_without_a_figure_does_not_refuse(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: None)
    check_memory(MemoryEstimate(labels=10**18, engine=0))


def test_available_memory_is_psutil_available():
    import psutil

    found = available_memory()
    assert isinstance(found, int) and found > 0
    assert found <= psutil.virtual_memory().total


@pytest.mark.parametrize("version", [1, 2])
def test_available_memory_respects_a_cgroup_limit(tmp_path, version):
    if version == 2:
        (tmp_path / "memory.max").write_text("1000000000\n")
        (tmp_path / "memory.current").write_text("700000000\n")
        (tmp_path / "memory.stat").write_text("anon 1\ninactive_file 100000000\n")
    else:
        (tmp_path / "memory").mkdir()
        (tmp_path / "memory/memory.limit_in_bytes").write_text("1000000000\n")
        (tmp_path / "memory/memory.usage_in_bytes").write_text("700000000\n")
        (tmp_path / "memory/memory.stat").write_text("total_inactive_file 100000000\n")
    assert memory._cgroup_available(tmp_path) == 400_000_000
    unlimited = tmp_path / "none"
    unlimited.mkdir()
    (unlimited / "memory.max").write_text("max\n")
    assert memory._cgroup_available(unlimited) is None


def test_available_memory_takes_the_lower_of_system_and_cgroup(monkeypatch):
    monkeypatch.setattr(memory, "_cgroup_available", lambda: 12345)
    assert available_memory() == 12345


@pytest.fixture
def little_memory(monkeypatch):
    """Pretend only 60 MB are free."""
    monkeypatch.setattr(memory, "available_memory", lambda: 60 * MB)


def test_segment_refuses_too(little_memory):
    with pytest.raises(MemoryError, match="needs about"):
        segment(np.zeros((10, 10)), 3)  # the engine alone is allowed 64 MiB


def test_the_estimate_bounds_a_gaussian_mixture():
    """A mixture holds one float32 map per cluster besides the labels."""
    import tracemalloc

    from napari_kmeans_seg.core.features import guess_layout
    from napari_kmeans_seg.core.options import FeatureOptions

    rng = np.random.default_rng(0)
    for image in (
        rng.integers(0, 256, (300, 400, 3), dtype=np.uint8),
        rng.random((300, 400, 3)).astype(np.float32),
    ):
        segment(image[:20, :20], 3, mixture="full")
        tracemalloc.start()
        try:
            segment(image, 3, mixture="full")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        layout = guess_layout(image.shape, channel_axis=None, rgb=None)
        est = memory.estimate_for(
            image.shape, image.dtype, layout, FeatureOptions(), n_maps=3
        )
        assert est.total >= peak, (image.dtype, est.total, peak)
        plain = memory.estimate_for(image.shape, image.dtype, layout, FeatureOptions())
        assert est.total - plain.total == 4 * 3 * 300 * 400


def test_estimate_memory_counts_float32_maps_as_estimate_for_does():
    """The plugin's guard asks ``estimate_memory`` for its maps (k probabilities
    and the uncertainty): 4 bytes per pixel each, in the engine's part."""
    plain = estimate_memory((300, 400, 3), "uint8")
    maps = estimate_memory((300, 400, 3), "uint8", n_maps=4)
    assert maps.engine - plain.engine == maps.total - plain.total == 4 * 4 * 300 * 400
    assert maps.labels == plain.labels and maps.image_layers == plain.image_layers
