"""Bad and odd inputs, each through the API (``segment``) and a layer
(``segment_layer`` on a headless ``ViewerModel``); the widget takes the cases a user
can get there in ``tests/qt/test_widget_bad_inputs.py``. Every case either works or
fails with a clear message, and the input data is byte-identical afterwards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from napari.components import ViewerModel

from napari_kmeans_seg import segment, segment_layer


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _grey(shape=(20, 30), dtype=np.uint8, seed=0) -> np.ndarray:
    return _rng(seed).integers(0, 200, shape).astype(dtype)


def _rgb(shape=(40, 50), seed=0) -> np.ndarray:
    """RGB big enough (> 30 px a side) for napari to show it as RGB."""
    return _rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def _with_invalid(dtype=np.float64) -> np.ndarray:
    img = _rng().random((20, 30)).astype(dtype)
    img[0, :5] = np.nan
    img[1, :3] = np.inf
    img[2, :2] = -np.inf
    return img


def _rgb_float_nan() -> np.ndarray:
    img = _rng().random((40, 50, 3)).astype(np.float32)
    img[5, 5:15, 1] = np.nan  # one NaN channel leaves the whole pixel out
    return img


def _rgba(alpha: np.ndarray) -> np.ndarray:
    return np.dstack([_rgb(alpha.shape), alpha.astype(np.uint8)])


def _half_transparent() -> np.ndarray:
    alpha = np.full((40, 50), 255, np.uint8)
    alpha[:, :20] = 0
    alpha[:5, 20:] = 7  # partly transparent pixels are clustered
    return _rgba(alpha)


def _read_only() -> np.ndarray:
    img = _rgb()
    img.flags.writeable = False
    return img


def _extremes(dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.array([[info.min, info.max], [0, 1], [info.max // 2, 5]], dtype=dtype)


@dataclass(frozen=True)
class Case:
    """One bad or odd input and what must happen to it.

    ``error`` is a regex the message must match (None: it segments). ``layer`` says
    whether napari can hold the data as an image layer; ``widget`` whether the case
    also runs through the dock widget (it offers 2 to 20 clusters and no
    ``channel_axis``). ``zero`` gives the pixels expected to get label 0;
    ``n_invalid`` the expected count of NaN/inf pixels; ``layer_kwargs`` options of
    ``segment_layer`` only.
    """

    id: str
    make: Callable[[], Any]
    kwargs: dict = field(default_factory=dict)
    error: str | None = None
    layer: bool = True
    widget: bool = False
    zero: Callable[[np.ndarray], np.ndarray] | None = None
    n_invalid: int | None = None
    layer_kwargs: dict = field(default_factory=dict)
    marks: tuple = ()

    @property
    def k(self) -> int:
        return self.kwargs.get("n_clusters", 3)

    def param(self):
        return pytest.param(self, id=self.id, marks=self.marks)


CASES = [
    # --- empty, tiny and thin shapes
    Case(
        "empty", lambda: np.zeros((0, 0), np.uint8), error="image is empty", layer=False
    ),
    Case(
        "empty_rows",
        lambda: np.zeros((0, 5), np.uint8),
        error="image is empty",
        layer=False,
    ),
    Case(
        "1d",
        lambda: np.arange(10, dtype=np.uint8),
        error="at least 2 dimensions",
        layer=False,
    ),
    Case("0d", lambda: np.float64(3.0), error="at least 2 dimensions", layer=False),
    Case(
        "1x1",
        lambda: np.array([[5]], np.uint8),
        error="only 1 distinct value",
        widget=True,
    ),
    Case("1xN", lambda: _grey((1, 50)), widget=True),
    Case("Nx1", lambda: _grey((50, 1)), widget=True),
    Case("1x100000", lambda: _grey((1, 100_000)), widget=True),
    # --- too few values for k, k out of range
    Case(
        "constant",
        lambda: np.full((20, 20), 7, np.uint8),
        error=r"only 1 distinct value; choose n_clusters <= 1",
        widget=True,
    ),
    Case(
        "two_values_k3",
        lambda: (np.indices((20, 20)).sum(0) % 2 * 100).astype(np.uint8),
        error=r"only 2 distinct values; choose n_clusters <= 2",
        widget=True,
    ),
    Case(
        "k_equals_distinct",
        lambda: np.arange(9, dtype=np.uint8).reshape(3, 3),
        kwargs={"n_clusters": 9},
        widget=True,
    ),
    Case(
        "k_1",
        _grey,
        kwargs={"n_clusters": 1},
        error="n_clusters must be between 2 and 254, got 1",
    ),
    Case(
        "k_0",
        _grey,
        kwargs={"n_clusters": 0},
        error="n_clusters must be between 2 and 254, got 0",
    ),
    Case(
        "k_negative",
        _grey,
        kwargs={"n_clusters": -3},
        error="n_clusters must be between 2 and 254, got -3",
    ),
    Case(
        "k_255",
        _grey,
        kwargs={"n_clusters": 255},
        error="n_clusters must be between 2 and 254, got 255",
    ),
    Case(
        "k_254",
        lambda: np.tile(np.arange(256, dtype=np.uint8), (4, 1)),
        kwargs={"n_clusters": 254},
        layer_kwargs={"masked_layers": False},
    ),
    Case(
        "k_float",
        _grey,
        kwargs={"n_clusters": 3.0},
        error="n_clusters must be an integer",
    ),
    Case(
        "k_str",
        _grey,
        kwargs={"n_clusters": "3"},
        error="n_clusters must be an integer",
    ),
    Case(
        "k_bool",
        _grey,
        kwargs={"n_clusters": True},
        error="n_clusters must be an integer",
    ),
    # --- NaN and inf: left out with label 0, counted in n_invalid
    Case(
        "nan_inf_float64",
        _with_invalid,
        widget=True,
        n_invalid=10,
        zero=lambda img: ~np.isfinite(img),
    ),
    Case(
        "nan_inf_float32",
        lambda: _with_invalid(np.float32),
        n_invalid=10,
        zero=lambda img: ~np.isfinite(img),
    ),
    Case(
        "nan_rgb_float32",
        _rgb_float_nan,
        n_invalid=10,
        widget=True,
        zero=lambda img: ~np.isfinite(img).all(axis=-1),
    ),
    Case(
        "all_nan",
        lambda: np.full((10, 10), np.nan),
        error="no pixel to cluster",
        widget=True,
    ),
    Case("all_inf", lambda: np.full((10, 10), -np.inf), error="no pixel to cluster"),
    # --- dtypes
    Case(
        "bool",
        lambda: _rng().random((20, 20)) > 0.5,
        kwargs={"n_clusters": 2},
        widget=True,
    ),
    Case(
        "int8",
        lambda: _rng().integers(-128, 128, (20, 20)).astype(np.int8),
        widget=True,
    ),
    Case("int16", lambda: _rng().integers(-3000, 3000, (20, 20)).astype(np.int16)),
    Case("int64", lambda: _rng().integers(-(10**12), 10**12, (20, 20)), widget=True),
    # a dtype's extremes stay distinct in float64: clustered
    Case("int64_extremes", lambda: _extremes(np.int64), kwargs={"n_clusters": 2}),
    # values float64 would merge: refused, never rounded silently
    Case(
        "int64_merged_by_float64",
        lambda: np.array([[2**60, 2**60 + 1], [0, 1]], dtype=np.int64),
        kwargs={"n_clusters": 2},
        error=r"beyond 2\*\*53.*merges into 1",
    ),
    Case(
        "uint32",
        lambda: _rng().integers(0, 2**32 - 1, (20, 20)).astype(np.uint32),
        widget=True,
    ),
    Case("uint64_extremes", lambda: _extremes(np.uint64), kwargs={"n_clusters": 2}),
    Case("float16", lambda: _rng().random((20, 20)).astype(np.float16), widget=True),
    Case(
        "subnormal",
        lambda: np.array([[5e-324, 0.0], [1e-320, 1.0]]),
        kwargs={"n_clusters": 2},
    ),
    Case(
        "complex",
        lambda: _rng().random((20, 20)) + 1j,
        error="complex images cannot be clustered",
        layer=False,
    ),
    Case(
        "object",
        lambda: np.array([[1, 2], [3, "a"]], dtype=object),
        error="dtype object cannot be clustered",
        layer=False,
    ),
    Case(
        "str",
        lambda: np.array([["a", "b"], ["c", "d"]]),
        error="cannot be clustered",
        layer=False,
    ),
    Case(
        "datetime64",
        lambda: np.array([[1, 2], [3, 4]], dtype="datetime64[s]"),
        error="cannot be clustered",
        layer=False,
    ),
    Case(
        "nested_list",
        lambda: [[1, 2, 3], [4, 5, 6]],
        kwargs={"n_clusters": 2},
        layer=False,
    ),
    # --- RGB(A)
    Case(
        "rgba_transparent",
        lambda: _rgba(np.zeros((40, 50))),
        error="no pixel to cluster",
        widget=True,
    ),
    Case(
        "rgba_partly_transparent",
        _half_transparent,
        widget=True,
        zero=lambda img: img[..., 3] == 0,
    ),
    # --- dimensions and channel axes
    Case(
        "5d",
        lambda: _rng().integers(0, 255, (2, 3, 4, 5, 6)).astype(np.uint8),
        widget=True,
    ),
    Case(
        "channel_axis_0", lambda: _rng().random((3, 20, 30)), kwargs={"channel_axis": 0}
    ),
    Case(
        "channel_axis_too_big",
        _rgb,
        kwargs={"channel_axis": 3},
        error=r"channel_axis=3 is out of range for an image with 3 dimensions",
    ),
    Case(
        "channel_axis_too_negative",
        _rgb,
        kwargs={"channel_axis": -4},
        error=r"channel_axis=-4 is out of range",
    ),
    Case(
        "channel_axis_2d",
        _grey,
        kwargs={"channel_axis": 0},
        error="needs at least 3 dimensions",
    ),
    Case(
        "channel_axis_float",
        _rgb,
        kwargs={"channel_axis": 1.0},
        error="channel_axis must be an integer",
    ),
    # --- memory layouts and byte orders
    Case("read_only", _read_only, widget=True),
    Case("non_contiguous", lambda: _rgb((80, 100))[::2, ::2], widget=True),
    Case("fortran_order", lambda: np.asfortranarray(_rgb()), widget=True),
    Case("transposed_view", lambda: _grey((30, 20)).T),
    Case(
        "big_endian_uint16", lambda: _grey(dtype=np.uint16).astype(">u2"), widget=True
    ),
    Case(
        "big_endian_uint16_rgb",
        lambda: _rng().integers(0, 60000, (40, 50, 3)).astype(">u2"),
    ),
    Case("big_endian_float32", lambda: _rng().random((20, 30)).astype(">f4")),
    Case("big_endian_float64_rgb", lambda: _rng().random((40, 50, 3)).astype(">f8")),
    Case(
        "huge_float_range",
        lambda: np.array([[1e308, -1e308], [0.0, 1.0]]),
        kwargs={"n_clusters": 2},
        error="rescale",
    ),
    # --- other options
    Case(
        "mask_wrong_shape",
        _grey,
        kwargs={"mask": np.ones((4, 4), bool)},
        error="mask shape",
    ),
    Case(
        "mask_all_false",
        _grey,
        kwargs={"mask": np.zeros((20, 30), bool)},
        error="no pixel to cluster",
    ),
    Case(
        "method_unknown",
        _grey,
        kwargs={"method": "fast"},
        error="method must be one of",
    ),
    Case(
        "n_init_0",
        _grey,
        kwargs={"n_init": 0},
        error="n_init must be a positive integer",
    ),
    Case(
        "max_iter_0",
        _grey,
        kwargs={"max_iter": 0},
        error="max_iter must be a positive integer",
    ),
    Case("seed_negative", _grey, kwargs={"random_state": -1}, error="non-negative"),
    Case(
        "method_sample_few_values",
        lambda: np.array([[0, 0, 0, 1, 2]], np.uint8),
        kwargs={"method": "sample"},
    ),
]

WIDGET_CASES = [c for c in CASES if c.widget]
#: widget cases that also add their masked layers in the real viewer
MASKED_IN_WIDGET = {"nan_rgb_float32", "rgba_partly_transparent", "big_endian_uint16"}


def test_the_table_is_big_enough():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert len(WIDGET_CASES) >= 20


# ---------------------------------------------------------------- helpers


def snapshot(data) -> tuple | None:
    """What must not change: bytes, dtype, shape, strides and flags."""
    if not isinstance(data, np.ndarray):
        return None
    return (
        data.tobytes(order="A"),
        data.dtype,
        data.shape,
        data.strides,
        data.flags.writeable,
    )


def _spatial_shape(img: np.ndarray, kwargs: dict) -> tuple[int, ...]:
    axis = kwargs.get("channel_axis")
    if axis is not None:
        return tuple(s for i, s in enumerate(img.shape) if i != axis % img.ndim)
    if img.ndim >= 3 and img.shape[-1] in (3, 4):
        return img.shape[:-1]
    return img.shape


def _check_result(case: Case, img, result) -> None:
    arr = np.asarray(img)
    k = case.k
    labels = result.labels
    assert labels.shape == _spatial_shape(arr, case.kwargs)
    assert labels.dtype == np.uint8
    assert labels.min() >= 0 and labels.max() <= k
    assert result.n_clusters == k
    counts = np.bincount(labels.ravel(), minlength=k + 1)
    np.testing.assert_array_equal(result.counts, counts[1:])
    assert (result.counts > 0).all(), "every cluster has pixels"
    if case.n_invalid is not None:
        assert result.n_invalid == case.n_invalid
    if case.zero is not None:
        zero = case.zero(arr)
        assert (labels[zero] == 0).all() and (labels[~zero] > 0).all()
    else:
        assert (labels > 0).all()


def _api_kwargs(case: Case) -> dict:
    return {"n_clusters": 3, **case.kwargs}


# ---------------------------------------------------------------- API


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_segment(case: Case):
    img = case.make()
    before = snapshot(img)
    if case.error:
        with pytest.raises(ValueError, match=case.error):
            segment(img, **_api_kwargs(case))
    else:
        result = segment(img, **_api_kwargs(case))
        _check_result(case, img, result)
    assert snapshot(img) == before, "the input was modified"


@pytest.mark.parametrize("case", [c.param() for c in CASES if c.layer])
def test_segment_layer(case: Case):
    viewer = ViewerModel()
    img = case.make()
    layer = viewer.add_image(img, name="img")
    before = snapshot(layer.data)
    kwargs = {**_api_kwargs(case), **case.layer_kwargs}
    if case.error:
        with pytest.raises(ValueError, match=case.error):
            segment_layer(viewer, "img", **kwargs)
        assert [x.name for x in viewer.layers] == ["img"]
    else:
        result = segment_layer(viewer, "img", **kwargs)
        _check_result(case, img, result)
        labels = viewer.layers["img clusters"]
        np.testing.assert_array_equal(labels.data, result.labels)
        masked = kwargs.get("masked_layers", True)
        assert len(viewer.layers) == 2 + case.k * masked  # source, labels, masked
        for i in range(1, case.k + 1 if masked else 1):
            masked = viewer.layers[f"img cluster {i}"]
            np.testing.assert_array_equal(masked.data, result.masked_image(img, i))
    assert layer.data is img or not isinstance(img, np.ndarray)
    assert snapshot(layer.data) == before, "the layer's data was modified"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("points", "Points layer; choose an image layer"),
        ("labels", "Labels layer; choose an image layer"),
        ("nope", "no layer named 'nope'"),
        (None, "no image layer chosen"),
    ],
)
def test_segment_layer_refuses_non_image_layers(name, message):
    viewer = ViewerModel()
    viewer.add_points(np.zeros((2, 2)), name="points")
    viewer.add_labels(np.zeros((5, 5), np.uint8), name="labels")
    with pytest.raises(ValueError, match=message):
        segment_layer(viewer, name, 3)
    assert [x.name for x in viewer.layers] == ["points", "labels"]


@pytest.mark.parametrize("flag", ["masked_layers", "mean_color_layer"])
@pytest.mark.parametrize("value", ["no", 0, 1, None, [True]])
def test_segment_layer_flags_are_bools(flag, value):
    """A layer flag is never taken by truthiness (``masked_layers="no"`` must not
    add the layers): a TypeError names it, and no layer is added."""
    from napari.components import ViewerModel

    viewer = ViewerModel()
    viewer.add_image(np.zeros((8, 8, 3), np.uint8) + np.arange(8)[:, None, None])
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        segment_layer(viewer, viewer.layers[0], 2, **{flag: value})
    assert len(viewer.layers) == 1
