"""Lazy images (dask, zarr): laziness, bounded chunk-wise work, equality with the
in-memory result, exact passes, zarr output, and a dask.distributed cluster."""

import pickle

import dask
import dask.array as da
import numpy as np
import pytest
from fixed_point import assert_fixed_point

from napari_kmeans_seg import KMeansModel, segment
from napari_kmeans_seg.core.lazy import MIN_FIT_PLANES, fit_region, is_lazy


def stack(shape=(3, 24, 64, 64), seed=0):
    """A 3-channel uint16 stack of smooth regions with noise (channel axis 0)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.linspace(0, 1, n) for n in shape[1:]), indexing="ij")
    base = np.stack([x + 0.3 * z, y, 1 - x * y])
    noisy = base + rng.normal(0, 0.05, base.shape)
    return (np.clip(noisy, 0, 1.5) * 40000).astype(np.uint16)


def same_result(a, b):
    la = np.asarray(a.labels)
    lb = np.asarray(b.labels)
    assert np.array_equal(la, lb)
    np.testing.assert_allclose(a.centroids, b.centroids, rtol=1e-9)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_allclose(a.inertia, b.inertia, rtol=1e-9)


# ------------------------------------------------------------------- the region


@pytest.mark.parametrize(
    "shape, budget",
    [
        ((512, 512), 10_000),
        ((100, 7), 50),
        ((128, 256, 256), 1 << 20),
        ((128, 256, 256), 5_000),
        ((4, 30, 300, 200), 200_000),
        ((3, 1000, 1000), 2_000_000),
    ],
)
def test_fit_region_is_bounded_spread_and_inside(shape, budget):
    origin, step = fit_region(shape, budget)
    counts = [len(range(o, n, s)) for o, n, s in zip(origin, shape, step, strict=True)]
    assert np.prod(counts) <= budget
    for o, s in zip(origin, step, strict=True):
        assert 0 <= o < s or (s == 1 and o == 0)
    if len(shape) > 2:  # whole planes spread over the stack, or enough planes
        planes = np.prod(counts[:-2])
        assert planes >= min(np.prod(shape[:-2]), MIN_FIT_PLANES) or step[-1] == 1
    # the region is not a corner: it spans the image along every axis
    for o, n, s, c in zip(origin, shape, step, counts, strict=True):
        assert o + (c - 1) * s <= n - 1
        assert n - 1 - (o + (c - 1) * s) < s


def test_fit_region_is_whole_image_when_small():
    assert fit_region((20, 30), 600) == ((0, 0), (1, 1))


def test_is_lazy():
    assert is_lazy(da.zeros((4, 4)))
    assert not is_lazy(np.zeros((4, 4)))
    assert not is_lazy([[1, 2], [3, 4]])
    chunked = type(  # what zarr and h5py arrays have
        "Chunked",
        (),
        {
            "shape": (2, 2),
            "dtype": np.dtype("u1"),
            "chunks": (1, 1),
            "__getitem__": lambda self, index: np.zeros((1, 1)),
        },
    )
    assert is_lazy(chunked())


# ------------------------------------------------------------------- equality


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("rgb", {}),
        ("rgb lab spatial", {"color_space": "lab", "spatial_weight": 0.05}),
        ("rgb smoothing", {"smoothing": 1.0}),
        ("stack normalize", {"channel_axis": 0, "normalize": True}),
        ("stack weights", {"channel_axis": 0, "channel_weights": [1, 0, 2]}),
        ("float nan", {}),
    ],
)
def test_small_lazy_image_gives_the_in_memory_result(name, kwargs, astronaut):
    if name.startswith("stack"):
        image = stack((3, 6, 40, 50))
    elif name == "float nan":
        image = astronaut[::4, ::4, 1].astype(np.float32) / 255
        image[3:7, 5:9] = np.nan
    else:
        image = astronaut[::2, ::2]
    chunks = tuple(max(n // 3, 1) for n in image.shape)
    lazy = segment(da.from_array(image, chunks=chunks), 4, **kwargs)
    assert is_lazy(lazy.labels) and lazy.lazy
    x_chunk = chunks[-2] if image.ndim == 3 and image.shape[-1] == 3 else chunks[-1]
    assert lazy.labels.chunks[-1][0] == x_chunk  # chunked like the image
    same_result(segment(image, 4, **kwargs), lazy)
    assert lazy.converged


@pytest.mark.parametrize("method", ["auto", "exact", "sample"])
def test_large_lazy_image_equals_in_memory_with_the_same_fit_pixels(method):
    image = stack((3, 24, 64, 64))
    lazy = segment(
        da.from_array(image, chunks=(1, 4, 32, 64)),
        4,
        channel_axis=0,
        fit_pixels=6_000,
        method=method,
        spatial_weight=100.0,
    )
    eager = segment(
        image,
        4,
        channel_axis=0,
        fit_pixels=6_000,
        method=method,
        spatial_weight=100.0,
    )
    assert np.array_equal(np.asarray(lazy.labels), eager.labels)
    np.testing.assert_allclose(lazy.model.centroids, eager.model.centroids, rtol=1e-9)
    if method == "exact":
        assert lazy.converged and eager.converged
        # float32 features summed chunk by chunk vs in the engine's order
        np.testing.assert_allclose(lazy.inertia, eager.inertia, rtol=1e-6)
        np.testing.assert_array_equal(lazy.counts, eager.counts)
        assert lazy.n_fit == 24 * 64 * 64
    else:
        assert not lazy.converged
        assert lazy.n_fit <= 6_000
        assert lazy.counts.sum() == lazy.n_fit
        # in memory, counts and inertia are measured on all pixels
        assert eager.counts.sum() == eager.n_fit == 24 * 64 * 64


def test_exact_lazy_result_is_a_lloyd_fixed_point():
    image = stack((3, 16, 48, 48), seed=3)
    result = segment(
        da.from_array(image, chunks=(3, 4, 24, 48)),
        5,
        channel_axis=0,
        fit_pixels=3_000,
        method="exact",
    )
    assert result.converged
    assert_fixed_point(
        np.moveaxis(image, 0, -1).reshape(-1, 3),
        np.asarray(result.labels),
        result.centroids,
        counts=result.counts,
        inertia=result.inertia,
    )


def test_mask_lazy_or_not(astronaut):
    image = astronaut[::2, ::2]
    mask = np.zeros(image.shape[:2], bool)
    mask[20:200, 30:240] = True
    lazy_image = da.from_array(image, chunks=(64, 64, 3))
    eager = segment(image, 3, mask=mask)
    for m in (mask, da.from_array(mask, chunks=(50, 70))):
        same_result(eager, segment(lazy_image, 3, mask=m))
    big = segment(lazy_image, 3, mask=mask, fit_pixels=2_000)
    labels = np.asarray(big.labels)
    assert (labels[~mask] == 0).all() and (labels[mask] > 0).all()
    assert np.array_equal(labels, big.model.predict(image, mask=mask))


# ------------------------------------------------------------------- laziness


def test_nothing_is_computed_until_asked_and_work_is_chunk_wise(counting_array):
    image = stack((3, 32, 64, 64))
    source = counting_array(image)
    chunk = (3, 1, 64, 64)
    darr = da.from_array(source, chunks=chunk)
    result = segment(darr, 3, channel_axis=0, fit_pixels=20_000)
    # the fit read only the region's planes, never the whole stack
    planes_read = len(source.reads)
    assert 0 < planes_read <= MIN_FIT_PLANES < 32
    assert max(source.reads) <= np.prod(chunk)
    labels = result.labels
    masked = result.masked_image(darr, 2)
    poster = result.mean_color_image(darr)
    merged = result.merge([1, 2])
    assert all(is_lazy(a) for a in (labels, masked, poster, merged.labels))
    assert len(source.reads) == planes_read  # building them read nothing
    plane = labels[5].compute()
    assert plane.shape == (64, 64)
    assert len(source.reads) == planes_read + 1  # one chunk for one plane
    assert max(source.reads) <= np.prod(chunk)
    np.testing.assert_array_equal(plane, result.model.predict(image[:, 5:6])[0])


def test_progress_is_reported_for_passes():
    image = stack((3, 12, 32, 32))
    calls = []
    segment(
        da.from_array(image, chunks=(3, 2, 32, 32)),
        3,
        channel_axis=0,
        fit_pixels=1_000,
        method="exact",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls and calls[-1][0] == calls[-1][1]
    assert all(d <= t for d, t in calls)
    assert len(calls) > 2


def test_model_predicts_lazily_and_matches(astronaut):
    model = segment(astronaut, 3).model
    lazy = model.predict(da.from_array(astronaut, chunks=(100, 128, 3)))
    assert is_lazy(lazy)
    assert np.array_equal(lazy.compute(), model.predict(astronaut))


def test_model_applied_to_lazy_image(astronaut):
    model = segment(astronaut[::2, ::2], 3).model
    result = segment(da.from_array(astronaut, chunks=(128, 128, 3)), model=model)
    assert result.model is model and result.lazy
    assert np.array_equal(np.asarray(result.labels), model.predict(astronaut))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"smoothing": 1.0, "fit_pixels": 1000}, "smoothing needs the whole image"),
        ({"fit_pixels": 0}, "fit_pixels must be a positive integer"),
        ({"fit_pixels": 2.5}, "fit_pixels must be a positive integer"),
        ({"method": "fast"}, "method must be one of"),
        ({"n_clusters": 1}, "n_clusters must be between"),
        ({"mask": np.ones((5, 5), bool)}, "mask shape"),
    ],
)
def test_bad_options_on_lazy_images_are_clear(kwargs, message, astronaut):
    darr = da.from_array(astronaut[::4, ::4], chunks=(64, 64, 3))
    kwargs = {"n_clusters": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        segment(darr, **kwargs)


def test_lazy_complex_and_empty_images_are_refused():
    with pytest.raises(ValueError, match="complex"):
        segment(da.zeros((8, 8), dtype=complex), 2)
    with pytest.raises(ValueError, match="empty"):
        segment(da.zeros((0, 8)), 2)


def test_smoothing_model_refuses_lazy_labelling(astronaut):
    model = segment(astronaut[::4, ::4], 3, smoothing=1.0).model
    with pytest.raises(ValueError, match="smoothing"):
        model.predict(da.from_array(astronaut, chunks=(128, 128, 3)))


# ------------------------------------------------------------------- zarr


def test_zarr_in_and_out(tmp_path):
    zarr = pytest.importorskip("zarr")
    image = stack((3, 10, 48, 48))
    z = zarr.open_array(
        tmp_path / "in.zarr",
        mode="w",
        shape=image.shape,
        chunks=(3, 1, 48, 48),
        dtype=image.dtype,
    )
    z[:] = image
    assert is_lazy(z)
    result = segment(z, 3, channel_axis=0)
    assert result.lazy
    written = result.to_zarr(tmp_path / "labels.zarr")
    assert written.shape == image.shape[1:]
    assert np.array_equal(written[:], segment(image, 3, channel_axis=0).labels)
    with pytest.raises(Exception, match=r"exist|contains"):
        result.to_zarr(tmp_path / "labels.zarr")
    result.to_zarr(tmp_path / "labels.zarr", overwrite=True)
    in_memory = segment(image[:, 0], 2, channel_axis=0).to_zarr(tmp_path / "m.zarr")
    assert in_memory.shape == (48, 48)


def test_to_zarr_chunks_codecs_and_empty_chunks(tmp_path):
    zarr = pytest.importorskip("zarr")
    image = stack((3, 6, 40, 40))
    # irregular dask chunks are written with zarr's regular ones; masked-out
    # chunks (all zeros) are written too, so the array reads back whole
    lazy = da.from_array(image, chunks=(3, (2, 4), (15, 25), 40))
    mask = np.ones(image.shape[1:], bool)
    mask[:2] = False
    result = segment(lazy, 3, channel_axis=0, mask=mask, fit_pixels=2_000)
    expected = np.asarray(result.labels)
    assert (expected[:2] == 0).all() and expected[2:].all()
    written = result.to_zarr(tmp_path / "a.zarr")
    assert written.chunks == (2, 15, 40)
    assert np.array_equal(written[:], expected)
    assert written.nchunks_initialized == written.nchunks
    assert "blosc" in str(written.compressors).lower()
    plain = result.to_zarr(tmp_path / "b.zarr", chunks=(3, 20, 20), compressors=None)
    assert plain.chunks == (3, 20, 20) and plain.compressors == ()
    assert np.array_equal(plain[:], expected)
    group = zarr.open_group(tmp_path / "g.zarr", mode="w")
    inside = result.to_zarr(group.store, component="labels", compressors="auto")
    assert np.array_equal(inside[:], expected)
    assert np.array_equal(zarr.open_group(tmp_path / "g.zarr")["labels"][:], expected)


# ------------------------------------------------------------------- distributed


@pytest.mark.slow
def test_same_call_on_a_local_cluster(tmp_path):
    zarr = pytest.importorskip("zarr")
    distributed = pytest.importorskip("distributed")
    image = stack((3, 16, 64, 64), seed=1)
    path = tmp_path / "in.zarr"
    z = zarr.open_array(
        path, mode="w", shape=image.shape, chunks=(3, 2, 64, 64), dtype=image.dtype
    )
    z[:] = image
    kwargs = {"channel_axis": 0, "fit_pixels": 8_000, "method": "exact"}
    local = segment(da.from_zarr(str(path)), 4, **kwargs)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster),
    ):
        remote = segment(da.from_zarr(str(path)), 4, **kwargs)
        # the graph holds the model, not pixels: small to send to the workers
        assert len(pickle.dumps(dict(remote.labels.__dask_graph__()))) < 200_000
        out = remote.to_zarr(tmp_path / "labels.zarr")
    same_result(local, remote)
    assert np.array_equal(out[:], np.asarray(local.labels))
    assert remote.converged


def test_default_scheduler_unchanged_after_cluster():
    # the cluster test above must not leave a client behind
    assert dask.config.get("scheduler", None) in (None, "threads", "sync")


def test_model_survives_pickling_for_workers(astronaut):
    model = segment(astronaut[::4, ::4], 3).model
    again = pickle.loads(pickle.dumps(model))
    assert isinstance(again, KMeansModel)
    assert np.array_equal(again.predict(astronaut), model.predict(astronaut))
