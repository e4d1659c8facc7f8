"""Fiji-style colour features: the clustering features as a mix of channels of
RGB, HSV and L*a*b* (``color_features``), built as documented, kept in the
model and its file, and bad values refused clearly through every door."""

import json

import numpy as np
import pytest
from skimage.color import rgb2hsv, rgb2lab

from napari_kmeans_seg import KMeansModel, segment, suggest_n_clusters
from napari_kmeans_seg.core.features import build_features, guess_layout
from napari_kmeans_seg.core.memory import estimate_memory
from napari_kmeans_seg.core.options import COLOR_FEATURES, make_options

ALL = COLOR_FEATURES


def random_colours(shape=(40, 50), seed=0, dtype=np.uint8):
    """Random colours, with a column of greys (hue undefined) and pure black."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max if dtype != np.float64 else 1.0
    img = rng.random((*shape, 3)) * top
    img[:, 0] = (np.linspace(0, 1, shape[0]) * top)[:, None]  # greys
    img[0, 1] = 0
    return img.astype(dtype)


def expected_features(img, unit):
    """The documented features, straight from scikit-image: RGB, S, V as they
    are; hue as (cos, sin)/2 (0 for greys); L*, a*, b* over 100."""
    rgb = img.reshape(-1, 3).astype(np.float64) / unit
    h, s, v = rgb2hsv(rgb).T
    lab = rgb2lab(rgb) / 100
    grey = s == 0
    cos = np.where(grey, 0, np.cos(2 * np.pi * h) / 2)
    sin = np.where(grey, 0, np.sin(2 * np.pi * h) / 2)
    columns = [*rgb.T, cos, sin, s, v, *lab.T]
    return np.stack(columns, axis=1)


def features_of(img, color_features, **kwargs):
    layout = guess_layout(img.shape, channel_axis=None, rgb=None)
    options = make_options(layout, 2, color_features=color_features, **kwargs)
    return build_features(img, layout, None, options)


@pytest.mark.parametrize(
    ("dtype", "unit"), [(np.uint8, 255.0), (np.uint16, 65535.0), (np.float64, 1.0)]
)
def test_features_match_scikit_image(dtype, unit):
    img = random_colours(dtype=dtype)
    feats = features_of(img, ALL)
    expected = expected_features(img, unit)
    np.testing.assert_allclose(feats.X, expected, rtol=1e-12, atol=1e-12)
    assert feats.X.shape[1] == 10
    grey = img[:, 0].reshape(-1, 3)
    assert (grey == grey[:, :1]).all()
    hue = feats.X.reshape(*img.shape[:2], 10)[:, 0, 3:5]
    assert (hue == 0).all()  # greys at the centre of the hue circle
    # every feature on a scale of about 0 to 1 (a* and b* within about ±1)
    assert feats.X.min() >= -1.1 and feats.X.max() <= 1
    assert np.ptp(feats.X, axis=0).min() > 0.2


def test_large_8_bit_image_converts_through_its_colours_identically():
    """An 8-bit image of 2**20 pixels or more converts each distinct colour once;
    the features are those of the direct conversion."""
    img = random_colours((1024, 1024), seed=1)
    chosen = ("green", "hue", "brightness", "b*")
    feats = features_of(img, chosen)
    columns = [1, 3, 4, 6, 9]
    expected = expected_features(img, 255.0)[:, columns]
    np.testing.assert_allclose(feats.X, expected, rtol=1e-12, atol=1e-12)


def test_names_order_and_aliases():
    img = random_colours()
    result = segment(img, 3, color_features=["b*", "H", "red", "Value", "l"])
    assert result.model.options.color_features == (
        "red",
        "hue",
        "brightness",
        "L*",
        "b*",
    )
    assert result.feature_names == (
        "red",
        "hue cos",
        "hue sin",
        "brightness",
        "L*",
        "b*",
    )
    assert list(result.table().columns[3:9]) == list(result.feature_names)
    same = segment(img, 3, color_features="red, hue,V,L*,b*")
    np.testing.assert_array_equal(same.labels, result.labels)


def test_red_green_blue_alone_are_the_default_features():
    img = random_colours()
    plain = segment(img, 4)
    rgb = segment(img, 4, color_features=("blue", "green", "R"))
    assert rgb.model.options.is_default
    assert rgb.feature_names == plain.feature_names == ("R", "G", "B")
    np.testing.assert_array_equal(rgb.labels, plain.labels)
    np.testing.assert_array_equal(rgb.centroids, plain.centroids)


def hue_and_brightness_bands(shape=(40, 80)):
    """Left half red, right half cyan; top half bright, bottom half dark: hue
    splits left/right, brightness top/bottom (the larger RGB difference)."""
    from skimage.color import hsv2rgb

    rng = np.random.default_rng(0)
    h = np.where(np.arange(shape[1]) < shape[1] // 2, 0.0, 0.5)[None, :]
    v = np.where(np.arange(shape[0]) < shape[0] // 2, 1.0, 0.2)[:, None]
    hsv = np.stack(np.broadcast_arrays(h, 0.3, v), axis=-1).astype(float)
    hsv[..., 0] = (hsv[..., 0] + rng.normal(0, 0.01, shape)) % 1.0
    hsv[..., 2] *= 1 + rng.normal(0, 0.01, shape)
    rgb = hsv2rgb(np.clip(hsv, 0, 1))
    return np.round(rgb * 255).astype(np.uint8)


def test_hue_alone_clusters_by_hue_not_brightness():
    img = hue_and_brightness_bands()
    left = np.arange(img.shape[1]) < img.shape[1] // 2
    by_hue = segment(img, 2, color_features=("hue",)).labels
    assert (by_hue[:, left] == by_hue[0, 0]).all()
    assert (by_hue[:, ~left] == by_hue[0, -1]).all()
    assert by_hue[0, 0] != by_hue[0, -1]
    by_rgb = segment(img, 2).labels  # the raw values split by brightness
    assert by_rgb[0, 0] == by_rgb[0, -1] != by_rgb[-1, 0]


def test_centroids_are_the_clusters_mean_features_with_weights_and_normalize():
    img = random_colours(seed=3)
    chosen = ("hue", "saturation", "a*")
    weights = (1.0, 1.0, 0.5, 0.0)  # hue cos, hue sin, saturation, a* (left out)
    result = segment(
        img, 3, color_features=chosen, channel_weights=weights, normalize=True
    )
    feats = expected_features(img, 255.0)[:, [3, 4, 5, 8]]
    labels = result.labels.ravel()
    for j in range(3):
        np.testing.assert_allclose(
            result.centroids[j], feats[labels == j + 1].mean(axis=0), atol=1e-12
        )
    assert result.model.n_features == 3  # a* of weight 0 is not clustered


def test_model_file_round_trip_reapplies_the_same_features(tmp_path):
    img = random_colours(seed=4)
    other = random_colours(seed=5)
    result = segment(img, 4, color_features=("hue", "saturation", "L*"))
    path = result.model.save(tmp_path / "m.json")
    data = json.loads(path.read_text())
    assert data["features"]["color_features"] == ["hue", "saturation", "L*"]
    assert "color_space" not in data["features"]
    loaded = KMeansModel.load(path)
    assert loaded.options == result.model.options
    assert loaded.feature_names == ("hue cos", "hue sin", "saturation", "L*")
    np.testing.assert_array_equal(segment(img, model=loaded).labels, result.labels)
    np.testing.assert_array_equal(loaded.predict(other), result.model.predict(other))
    # the same option given again agrees; another one contradicts the model
    again = segment(other, model=loaded, color_features="L*,hue,S")
    np.testing.assert_array_equal(again.labels, loaded.predict(other))
    with pytest.raises(ValueError, match=r"color_features=.*contradicts the model"):
        segment(other, model=loaded, color_features=("hue",))


def test_old_model_files_without_the_field_still_load(tmp_path):
    img = random_colours()
    result = segment(img, 3, color_space="lab")
    data = result.model.to_dict()
    assert "color_features" not in data["features"]
    loaded = KMeansModel.from_dict(json.loads(json.dumps(data)))
    assert loaded.options.color_features is None
    np.testing.assert_array_equal(loaded.predict(img), result.labels)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["hue", "blue"], None),
        (["purple"], "unknown name 'purple'; valid names: red, green, blue, hue"),
        (["b"], "'b' is ambiguous; write 'blue' .* or 'b\\*'"),
        (["hue", "H"], "names 'hue' twice"),
        ("hue", None),
        (17, "must be a list of names"),
    ],
)
def test_bad_color_features_in_a_model_file(value, message):
    data = segment(random_colours(), 3, color_features=("hue", "blue")).model.to_dict()
    data["features"]["color_features"] = value
    if message is None:
        if isinstance(value, str):
            with pytest.raises(ValueError, match="must be a list of names"):
                KMeansModel.from_dict(data)
        else:
            assert KMeansModel.from_dict(data).options.color_features == (
                "blue",
                "hue",
            )
        return
    with pytest.raises(ValueError, match="features.color_features.*" + message):
        KMeansModel.from_dict(data)


def test_model_file_with_colour_space_and_features_is_refused():
    data = segment(random_colours(), 3, color_features=("hue",)).model.to_dict()
    data["features"]["color_space"] = "lab"
    with pytest.raises(ValueError, match="cannot be combined with color_space"):
        KMeansModel.from_dict(data)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"color_features": ["red", "teal"]}, ValueError, "unknown name 'teal'"),
        ({"color_features": ["red", "teal"]}, ValueError, "L\\*, a\\*, b\\*"),
        ({"color_features": ["b"]}, ValueError, "'b' is ambiguous"),
        ({"color_features": ("red", "R")}, ValueError, "'red' twice"),
        ({"color_features": ()}, ValueError, "at least one of red, green"),
        ({"color_features": ""}, ValueError, "at least one of"),
        ({"color_features": 3}, TypeError, "sequence of names"),
        ({"color_features": [1, 2]}, TypeError, "sequence of names"),
        (
            {"color_features": ("hue",), "color_space": "lab"},
            ValueError,
            "cannot be combined with color_space='lab'.*leave color_space at 'rgb'",
        ),
        (
            {"color_features": ("hue",), "channel_weights": (1, 1, 1)},
            ValueError,
            "one weight per channel feature \\(2\\)",
        ),
    ],
)
def test_bad_color_features_are_refused(kwargs, error, message):
    img = random_colours()
    with pytest.raises(error, match=message):
        segment(img, 3, **kwargs)
    with pytest.raises(error, match=message):
        suggest_n_clusters(img, range(2, 4), **kwargs)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((20, 30), np.uint8),
        np.zeros((2, 20, 30), np.uint8),  # channels on axis 0
    ],
)
def test_color_features_need_an_rgb_image(image):
    image = image + np.arange(30, dtype=np.uint8)
    axis = 0 if image.ndim == 3 else None
    for rgb_only in (("hue",), ("red", "green", "blue")):
        with pytest.raises(ValueError, match="color_features needs an RGB\\(A\\)"):
            segment(image, 2, channel_axis=axis, color_features=rgb_only)


def test_rgba_alpha_is_left_out_and_suggest_uses_the_features():
    img = hue_and_brightness_bands()
    alpha = np.full(img.shape[:2], 255, np.uint8)
    alpha[:5] = 0
    rgba = np.dstack([img, alpha])
    result = segment(rgba, 2, color_features=("hue",))
    assert (result.labels[:5] == 0).all()
    np.testing.assert_array_equal(
        result.labels[5:], segment(img[5:], 2, color_features=("hue",)).labels
    )
    s = suggest_n_clusters(img, range(2, 7), color_features=("hue",))
    assert s.suggested == 2  # two hues; brightness is not a feature
    assert suggest_n_clusters(img, range(2, 7)).suggested > 2  # brightness too


def test_lazy_image_gives_the_in_memory_labels():
    da = pytest.importorskip("dask.array")
    img = random_colours((60, 70), seed=6)
    chosen = ("red", "saturation", "a*")
    eager = segment(img, 3, color_features=chosen)
    lazy = segment(da.from_array(img, chunks=(20, 30, 3)), 3, color_features=chosen)
    np.testing.assert_array_equal(np.asarray(lazy.labels), eager.labels)
    exact = segment(
        da.from_array(img, chunks=(20, 30, 3)),
        3,
        color_features=chosen,
        fit_pixels=1000,
        method="exact",
    )
    assert exact.converged
    assert exact.feature_names == ("red", "saturation", "a*")


def test_memory_estimate_counts_the_feature_columns():
    shape = (1000, 1000, 3)
    three = estimate_memory(shape, "uint8", color_features=("hue", "S"))
    ten = estimate_memory(shape, "uint8", color_features=ALL)
    assert ten.engine - three.engine == 8 * 1_000_000 * 7
