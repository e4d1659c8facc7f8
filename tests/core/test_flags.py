"""Every boolean option is a real bool (numpy's too), never taken by truthiness:
``rgb="no"`` must not mean RGB, ``overwrite="no"`` must not overwrite (issue 26)."""

import numpy as np
import pytest

from napari_kmeans_seg import segment
from napari_kmeans_seg.core.options import Options, OptionTypeError


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        *[("rgb", value) for value in ("no", 1, 0.0, [True], np.int64(1))],
        *[("normalize", value) for value in ("no", 1, 0.0, None, [True])],
    ],
)
def test_options_refuse_a_flag_that_is_not_a_bool(name, value):
    with pytest.raises(OptionTypeError, match=f"{name} must be True"):
        Options(**{name: value})
    with pytest.raises(OptionTypeError, match=f"{name} must be True"):
        Options.checked(**{name: value})


def test_options_take_numpy_bools_as_bools():
    options = Options(rgb=np.bool_(True), normalize=np.bool_(False))
    assert options.rgb is True and options.normalize is False
    assert Options.checked(normalize=np.bool_(True)).normalize is True


@pytest.mark.parametrize("name", ["overwrite", "ome"])
def test_writing_labels_refuses_a_flag_that_is_not_a_bool(image, tmp_path, name):
    pytest.importorskip("zarr")
    result = segment(image, 3)
    target = tmp_path / "labels.zarr"
    with pytest.raises(OptionTypeError, match=f"{name} must be True or False"):
        result.to_zarr(target, **{name: "no"})
    assert not target.exists()
