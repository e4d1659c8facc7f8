"""Feature options: colour space, channel weights, normalisation, pixel coordinates,
smoothing; each changes what it should, survives save/load, and bad values are
refused clearly."""

import json

import numpy as np
import pytest

from napari_kmeans_seg import KMeansModel, segment
from napari_kmeans_seg.core.features import (
    FeatureOptions,
    Layout,
    build_features,
    guess_layout,
)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label images split the pixels the same way (ids aside)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


def hsv_image(hues_by_region, shape=(30, 60), s=0.9, v=0.9, seed=0):
    """uint8 RGB image of vertical bands of the given hues (a little noise)."""
    from skimage.color import hsv2rgb

    rng = np.random.default_rng(seed)
    region = np.arange(shape[1])[None, :] * len(hues_by_region) // shape[1]
    h = np.asarray(hues_by_region)[region] * np.ones(shape)
    h = (h + rng.normal(0, 0.003, shape)) % 1.0
    hsv = np.stack([h, np.full(shape, s), np.full(shape, v)], axis=-1)
    return np.round(hsv2rgb(hsv) * 255).astype(np.uint8), region * np.ones(shape, int)


def two_range_channels(seed=0):
    """Two uint16 channels (axis 0): channel 0 splits left/right with a large range
    and large noise, channel 1 splits top/bottom with a small range."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:40, :40]
    c0 = np.where(x < 20, 10_000, 50_000) + rng.normal(0, 3_000, x.shape)
    c1 = np.where(y < 20, 100, 200) + rng.normal(0, 5, x.shape)
    quadrant = (y >= 20) * 2 + (x >= 20)
    image = np.stack([c0, c1]).clip(0, 65535).astype(np.uint16)
    return image, quadrant


# ------------------------------------------------------------------ colour spaces


def test_default_options_keep_the_view(astronaut):
    layout = guess_layout(astronaut.shape, channel_axis=None, rgb=None)
    feats = build_features(astronaut, layout, None, FeatureOptions())
    assert np.shares_memory(feats.X, astronaut)
    assert feats.X.dtype == np.uint8
    other = build_features(astronaut, layout, None, FeatureOptions(color_space="lab"))
    assert other.X.dtype == np.float64 and other.X.shape == (512 * 512, 3)
    assert not np.shares_memory(other.X, astronaut)


def test_hue_wraps_around():
    # reds at h≈0.99 and h≈0.01 (a hue difference of 0.98 on the raw h axis) and
    # a green region
    image, region = hsv_image([0.99, 0.01, 0.33])
    result = segment(image, 2, color_space="hsv")
    reds = result.labels[region < 2]
    assert len(np.unique(reds)) == 1  # both reds in one cluster
    assert not np.isin(result.labels[region == 2], reds).any()
    # in the features, the two reds are close and far from green
    layout = guess_layout(image.shape, channel_axis=None, rgb=None)
    X = build_features(image, layout, None, result.model.options).X
    X = X.reshape(*image.shape[:2], 3)
    red1, red2, green = (X[region == r].mean(axis=0) for r in (0, 1, 2))
    assert np.linalg.norm(red1 - red2) < 0.1 * np.linalg.norm(red1 - green)


def test_hsv_is_the_cone():
    from skimage.color import rgb2hsv

    rgb = np.array([[[255, 0, 0], [0, 255, 0], [2, 0, 0], [0, 0, 2]]], np.uint8)
    layout = guess_layout(rgb.shape, channel_axis=None, rgb=None)
    X = build_features(rgb, layout, None, FeatureOptions(color_space="hsv")).X
    h, s, v = rgb2hsv(rgb / 255).reshape(-1, 3).T
    expected = np.stack(
        [s * v * np.cos(2 * np.pi * h), s * v * np.sin(2 * np.pi * h), v], axis=1
    )
    np.testing.assert_allclose(X, expected, atol=1e-6)
    # near-black pixels of opposite hues are close (their hue is noise)
    assert np.linalg.norm(X[2] - X[3]) < 0.02


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_lab_and_rgb_give_different_partitions(small_photos, name):
    photo = small_photos[name]
    rgb = segment(photo, 4, random_state=0)
    lab = segment(photo, 4, color_space="lab", random_state=0)
    assert not same_partition(rgb.labels, lab.labels)
    assert lab.feature_names == ("L", "a", "b")
    assert lab.converged


def test_colour_space_centroids_are_cluster_means(small_photos):
    from skimage.color import rgb2lab

    photo = small_photos["chelsea"]
    result = segment(photo, 3, color_space="lab")
    lab = rgb2lab(photo)
    for i in (1, 2, 3):
        np.testing.assert_allclose(
            result.centroids[i - 1],
            lab[result.labels == i].mean(axis=0),
            rtol=1e-5,
            atol=1e-4,
        )


@pytest.mark.parametrize(
    ("dtype", "factor"),
    [(np.uint8, 1), (np.uint16, 257), (np.float32, 1 / 255), (np.int32, None)],
)
def test_colour_spaces_scale_by_dtype(small_photos, dtype, factor):
    photo = small_photos["coffee"]
    reference = segment(photo, 3, color_space="lab")
    if factor is None:  # other integers: by their maximum
        image = np.round(photo / 255 * np.iinfo(np.int32).max).astype(np.int32)
    else:
        image = (photo.astype(np.float64) * factor).astype(dtype)
    result = segment(image, 3, color_space="lab")
    np.testing.assert_allclose(result.centroids, reference.centroids, atol=0.05)
    assert same_partition(result.labels, reference.labels) or (
        np.mean(result.labels != reference.labels) < 0.01
    )


# ------------------------------------------------------ weights and normalisation


def test_normalize_makes_both_channels_count():
    image, quadrant = two_range_channels()
    raw = segment(image, 4, channel_axis=0)
    assert not same_partition(raw.labels, quadrant)  # channel 1 is drowned out
    norm = segment(image, 4, channel_axis=0, normalize=True)
    assert same_partition(norm.labels, quadrant)
    # the fitted statistics are the channels' own, over the clustered pixels
    options = norm.model.options
    np.testing.assert_allclose(options.norm_mean, image.reshape(2, -1).mean(axis=1))
    np.testing.assert_allclose(
        options.norm_std, image.reshape(2, -1).std(axis=1), rtol=1e-6
    )
    # centroids are reported in the channels' units, before normalisation
    for i in range(1, 5):
        np.testing.assert_allclose(
            norm.centroids[i - 1],
            image[:, norm.labels == i].mean(axis=1),
            rtol=1e-5,
        )


def test_normalisation_is_fitted_once(tmp_path):
    image, _ = two_range_channels()
    model = segment(image, 4, channel_axis=0, normalize=True).model
    other = (image * 0.5).astype(np.uint16)  # other statistics
    labels = model.predict(other)
    # by hand: the fitting image's mean and std, the engine-space centroids
    o = model.options
    X = (other.reshape(2, -1).T - o.norm_mean) / o.norm_std
    d = ((X[:, None, :] - model.centroids[None]) ** 2).sum(axis=2)
    expected = d.argmin(axis=1) + 1
    assert np.mean(labels.ravel() == expected) > 0.999  # float32 ties aside
    assert model.options.norm_mean == o.norm_mean
    loaded = KMeansModel.load(model.save(tmp_path / "m.json"))
    np.testing.assert_array_equal(loaded.predict(other), labels)


def test_zero_weight_ignores_a_channel():
    image, quadrant = two_range_channels()
    noisy = image.copy()
    noisy[1] = np.random.default_rng(5).integers(0, 65535, noisy[1].shape)
    kwargs = {"channel_axis": 0, "normalize": True, "channel_weights": [1, 0]}
    a = segment(image, 2, **kwargs)
    b = segment(noisy, 2, **kwargs)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert same_partition(a.labels, quadrant % 2)  # left/right by channel 0
    assert a.model.n_features == 1  # the channel is not clustered at all
    assert a.feature_names == ("c0", "c1")
    # its column still reports the channel's cluster means
    for i in (1, 2):
        np.testing.assert_allclose(
            a.centroids[i - 1], image[:, a.labels == i].mean(axis=1), rtol=1e-5
        )


def test_weights_change_the_balance():
    image, quadrant = two_range_channels()
    # without normalisation, a large weight on the small-range channel brings it in
    result = segment(image, 4, channel_axis=0, channel_weights=[1, 300])
    assert same_partition(result.labels, quadrant)
    # weights all 1 are the default: nothing is copied, the same model
    plain = segment(image, 4, channel_axis=0, channel_weights=[1, 1])
    assert plain.model.options.is_default
    assert "channel_weights" not in plain.model.to_dict()["features"]


# ------------------------------------------------------------ spatial and smoothing


def two_blobs(seed=0):
    """Two blobs of the same grey, far apart, on a masked-out background."""
    rng = np.random.default_rng(seed)
    image = rng.normal(20, 3, (30, 80))
    mask = np.zeros(image.shape, bool)
    mask[10:20, 5:15] = mask[10:20, 65:75] = True
    image[mask] = rng.normal(200, 3, mask.sum())
    side = np.where(np.arange(80) < 40, 1, 2)[None, :] * mask
    return image.clip(0, 255).astype(np.uint8), mask, side


def test_spatial_weight_splits_far_apart_blobs():
    image, mask, side = two_blobs()
    colour = segment(image, 2, mask=mask)
    assert not same_partition(colour.labels[mask], side[mask])  # split by noise
    spatial = segment(image, 2, mask=mask, spatial_weight=1.0)
    assert same_partition(spatial.labels[mask], side[mask])
    assert np.all(spatial.labels[~mask] == 0)
    assert spatial.feature_names == ("intensity", "y", "x")
    # the coordinates are reported in pixels (scale 1): the blobs' centres
    xs = sorted(spatial.centroids[:, 2])
    np.testing.assert_allclose(xs, [9.5, 69.5])


def test_spatial_scale():
    image, mask, _ = two_blobs()
    result = segment(image, 2, mask=mask, spatial_weight=1.0, scale=(1.0, 2.0))
    assert result.model.options.scale == (1.0, 2.0)
    np.testing.assert_allclose(sorted(result.centroids[:, 2]), [19.0, 139.0])
    np.testing.assert_allclose(result.centroids[:, 1], [14.5, 14.5])
    # scale without spatial_weight is checked but not kept
    plain = segment(image, 2, scale=(1.0, 2.0))
    assert plain.model.options.is_default and plain.model.options.scale is None
    # a model with coordinates needs images with as many spatial axes
    with pytest.raises(ValueError, match=r"2 spatial axes.*this image has 3"):
        result.model.predict(np.stack([image, image]))
    # predict takes the pixel size of a new image
    twice = result.model.predict(image[:, ::2], scale=(1.0, 4.0))
    np.testing.assert_array_equal(twice, result.model.predict(image)[:, ::2])


def test_spatial_weight_on_a_3d_stack():
    rng = np.random.default_rng(1)
    stack = rng.normal(100, 2, (6, 10, 12)).astype(np.float32)
    result = segment(stack, 2, spatial_weight=5.0, scale=(3, 1, 1))
    assert result.feature_names == ("intensity", "z", "y", "x")
    assert result.centroids.shape == (2, 4)
    # with colour all alike the clusters are slabs of the longest extent: z (x3)
    assert same_partition(
        result.labels, np.arange(6)[:, None, None] // 3 * np.ones((6, 10, 12), int)
    )


def salt_and_pepper(seed=0):
    rng = np.random.default_rng(seed)
    truth = np.where(np.arange(80) < 40, 1, 2)[None, :] * np.ones((60, 80), int)
    image = np.where(truth == 1, 60, 190).astype(np.uint8)
    noise = rng.random(image.shape)
    image[noise < 0.04] = 255
    image[noise > 0.96] = 0
    return image, truth


def test_smoothing_removes_salt_and_pepper():
    image, truth = salt_and_pepper()
    inner = np.ones(truth.shape, bool)
    inner[:, 34:46] = False  # away from the edge between the halves
    raw = segment(image, 2)
    assert np.mean(raw.labels[inner] != truth[inner]) > 0.02
    smooth = segment(image, 2, smoothing=2.0)
    assert np.mean(smooth.labels[inner] != truth[inner]) < 0.002
    # the mean colours still come from the original pixels, the image is untouched
    np.testing.assert_allclose(
        smooth.channel_means[:, 0],
        [image[smooth.labels == i].mean() for i in (1, 2)],
    )


def test_smoothing_leaves_out_masked_transparent_and_nan_pixels():
    image = np.full((20, 20), 10.0)
    image[:, 10:] = 100.0
    image[5, 5] = np.nan
    mask = np.ones(image.shape, bool)
    mask[:, 15:] = False
    bright = image.copy()
    bright[:, 15:] = 1e6  # outside the mask: must not bleed into the features
    result = segment(bright, 2, mask=mask, smoothing=1.5)
    assert result.labels[5, 5] == 0 and result.n_invalid == 1
    assert np.all(result.labels[:, 15:] == 0)
    assert set(np.unique(result.labels[6:, :8])) == {1}
    assert set(np.unique(result.labels[:, 11:15])) == {2}
    # RGBA: transparent pixels are not averaged in either
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:, 10:, :3] = 30
    rgba[..., 3] = 255
    rgba[:, :3] = (255, 255, 255, 0)
    out = segment(rgba, 2, smoothing=1.0)
    assert np.all(out.labels[:, :3] == 0)
    assert out.counts.tolist() == [200, 140]
    np.testing.assert_allclose(sorted(out.channel_means[:, 0]), [30, 200])
    layout = guess_layout(rgba.shape, channel_axis=None, rgb=None)
    X = build_features(rgba, layout, None, out.model.options).X.reshape(20, 20, 3)
    np.testing.assert_allclose(X[:, 3:6], 200, atol=1e-3)  # not pulled to 255


# ------------------------------------------------------------ save, load, predict

OPTIONS = {
    "hsv": ({}, {"color_space": "hsv"}),
    "lab": ({}, {"color_space": "lab"}),
    "weights": ({}, {"channel_weights": [2.0, 1.0, 0.5]}),
    "weight-zero": ({}, {"channel_weights": [1.0, 0.0, 1.0]}),
    "normalize": ({}, {"normalize": True}),
    "spatial": ({}, {"spatial_weight": 0.2, "scale": (1.5, 1.0)}),
    "smoothing": ({}, {"smoothing": 1.2}),
    "all": (
        {},
        {
            "color_space": "lab",
            "channel_weights": [1.0, 0.5, 0.0],
            "normalize": True,
            "spatial_weight": 0.01,
            "smoothing": 0.8,
        },
    ),
    "rgba-mask-hsv-smooth": ("rgba", {"color_space": "hsv", "smoothing": 1.0}),
    "float-nan-normalize": ("nan", {"normalize": True, "smoothing": 1.0}),
    "multichannel": (
        "multi",
        {"channel_weights": [1, 0, 2], "normalize": True, "spatial_weight": 0.1},
    ),
    "sample": ({"method": "sample"}, {"color_space": "lab"}),
}


def _option_image(kind, photo):
    if kind == "rgba":
        rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
        rgba[:10, :, 3] = 0
        return rgba, {
            "mask": np.arange(photo.shape[1])[None, :] * np.ones(photo.shape[:2], int)
            > 5
        }
    if kind == "nan":
        grey = photo[..., 1].astype(np.float64) / 255
        grey[3:6, 3:9] = np.nan
        return grey, {}
    if kind == "multi":
        return np.moveaxis(photo, -1, 0).astype(np.uint16) * 100, {"channel_axis": 0}
    return photo, (kind or {})


@pytest.mark.parametrize(("kind", "options"), OPTIONS.values(), ids=OPTIONS.keys())
def test_options_survive_save_load_and_predict(small_photos, tmp_path, kind, options):
    image, extra = _option_image(kind, small_photos["coffee"])
    result = segment(image, 4, **extra, **options)
    path = result.model.save(tmp_path / "model.json")
    data = json.loads(path.read_text())
    written = set(data["features"]) - {"layout", "dtype"}
    expected = {k for k in options if k != "scale"}
    if "channel_weights" in options and options["channel_weights"] == [1, 1, 1]:
        expected.discard("channel_weights")
    if "spatial_weight" in options:
        expected.add("scale")
    assert written == expected
    loaded = KMeansModel.load(path)
    assert loaded.options == result.model.options
    np.testing.assert_array_equal(loaded.centroids, result.model.centroids)
    mask = extra.get("mask")
    np.testing.assert_array_equal(loaded.predict(image, mask=mask), result.labels)
    channel_axis = extra.get("channel_axis")
    again = segment(image, model=loaded, mask=mask, channel_axis=channel_axis)
    np.testing.assert_array_equal(again.labels, result.labels)
    np.testing.assert_array_equal(again.counts, result.counts)
    assert again.inertia == pytest.approx(result.inertia, rel=1e-6)
    if "method" not in extra:
        assert again.converged
        assert result.converged
        np.testing.assert_allclose(again.centroids, result.centroids, rtol=1e-6)
    # repeating an option of the model is allowed, contradicting it is not
    if "color_space" in options:
        segment(image, model=loaded, mask=mask, color_space=options["color_space"])
        other = "lab" if options["color_space"] == "hsv" else "hsv"
        with pytest.raises(ValueError, match="contradicts the model"):
            segment(image, model=loaded, mask=mask, color_space=other)


def test_model_options_on_another_image(small_photos):
    result = segment(small_photos["astronaut"], 3, color_space="lab", normalize=True)
    coffee = small_photos["coffee"]
    applied = segment(coffee, model=result.model)
    np.testing.assert_array_equal(applied.labels, result.model.predict(coffee))
    assert not applied.converged
    # the reported centroids are the model's centres in L*a*b*
    np.testing.assert_allclose(applied.centroids, result.centroids, rtol=1e-6)
    # the mean colours are coffee's own
    for i in (1, 2, 3):
        np.testing.assert_allclose(
            applied.channel_means[i - 1],
            coffee[applied.labels == i].mean(axis=0),
        )


# ------------------------------------------------------------------------ errors

GREY = np.arange(400, dtype=np.uint8).reshape(20, 20)
RGB = np.random.default_rng(0).integers(0, 256, (20, 20, 3), np.uint8)

BAD_OPTIONS = [
    (RGB, {"color_space": "xyz"}, "color_space must be one of"),
    (RGB, {"color_space": None}, "color_space must be one of"),
    (GREY, {"color_space": "hsv"}, r"needs an RGB\(A\) image; this one is single"),
    (
        np.zeros((2, 20, 20)),
        {"color_space": "lab", "channel_axis": 0},
        "2-channel image",
    ),
    (RGB, {"channel_weights": [1, 2]}, r"one weight per channel feature \(3\)"),
    (RGB, {"channel_weights": 2.0}, "one weight per channel feature"),
    (RGB, {"channel_weights": "abc"}, "one weight per channel feature"),
    (RGB, {"channel_weights": [1, -1, 1]}, "finite numbers >= 0"),
    (RGB, {"channel_weights": [1, np.nan, 1]}, "finite numbers >= 0"),
    (RGB, {"channel_weights": [1, "2", 1]}, "finite numbers >= 0"),
    (RGB, {"channel_weights": [0, 0, 0]}, "must not all be 0"),
    (RGB, {"normalize": "yes"}, "normalize must be True or False"),
    (GREY, {"spatial_weight": -1}, "spatial_weight must be a finite number >= 0"),
    (GREY, {"spatial_weight": np.inf}, "spatial_weight must be a finite number"),
    (GREY, {"spatial_weight": "1"}, "spatial_weight must be a finite number"),
    (GREY, {"smoothing": -0.5}, "smoothing must be a finite number >= 0"),
    (GREY, {"smoothing": np.nan}, "smoothing must be a finite number >= 0"),
    (GREY, {"smoothing": True}, "smoothing must be a finite number >= 0"),
    (GREY, {"scale": (1.0,)}, r"one pixel size per spatial axis \(2\)"),
    (RGB, {"scale": (1.0, 1.0, 1.0)}, r"one pixel size per spatial axis \(2\)"),
    (GREY, {"scale": (1.0, 0.0)}, "finite numbers > 0"),
    (GREY, {"scale": (1.0, -2)}, "finite numbers > 0"),
    (GREY, {"scale": 1.0}, "one pixel size per spatial axis"),
]


@pytest.mark.parametrize(("image", "kwargs", "message"), BAD_OPTIONS)
def test_bad_options_are_refused(image, kwargs, message):
    with pytest.raises(ValueError, match=message):
        segment(image, 2, **kwargs)


def test_options_contradicting_a_model():
    model = segment(RGB, 3, color_space="hsv", normalize=True).model
    with pytest.raises(ValueError, match="color_space='lab' contradicts the model"):
        segment(RGB, model=model, color_space="lab")
    with pytest.raises(ValueError, match=r"smoothing=1(\.0)? contradicts the model"):
        segment(RGB, model=model, smoothing=1)
    with pytest.raises(ValueError, match=r"channel_weights=.*contradicts"):
        segment(RGB, model=model, channel_weights=[1, 2, 3])
    with pytest.raises(ValueError, match="color_space must be one of"):
        segment(RGB, model=model, color_space="xyz")
    with pytest.raises(ValueError, match="one pixel size per spatial axis"):
        segment(RGB, model=model, scale=(1,))
    # the defaults mean "the model's"
    assert segment(RGB, model=model, normalize=True).model is model


def test_model_constructor_checks_options():
    layout = Layout(None, 1)
    C = np.array([[0.0], [1.0]])
    with pytest.raises(ValueError, match="needs an RGB"):
        KMeansModel(C, layout, options=FeatureOptions(color_space="lab"))
    with pytest.raises(ValueError, match="fitted norm_mean and norm_std"):
        KMeansModel(C, layout, options=FeatureOptions(normalize=True))
    with pytest.raises(ValueError, match="needs the pixel scale"):
        KMeansModel(C, layout, options=FeatureOptions(spatial_weight=1.0))
    with pytest.raises(ValueError, match="1 features per cluster but the layout and"):
        KMeansModel(
            C, layout, options=FeatureOptions(spatial_weight=1.0, scale=(1.0, 1.0))
        )


def _features_of(model_dict):
    return model_dict["features"]


@pytest.fixture(scope="module")
def option_model():
    return segment(
        RGB,
        3,
        color_space="lab",
        channel_weights=[1, 0.5, 2],
        normalize=True,
        spatial_weight=0.5,
        smoothing=1.0,
    ).model


BAD_FIELDS = {
    "space": (
        lambda f: f.update(color_space="xyz"),
        "features.color_space': color_space must be one of",
    ),
    "space-grey": (
        lambda f: f["layout"].update(rgb=False, channel_axis=2),
        "features.color_space': color_space='lab' needs an RGB",
    ),
    "weights-len": (
        lambda f: f.update(channel_weights=[1, 2]),
        r"features.channel_weights': .*one weight per channel feature \(3\)",
    ),
    "weights-neg": (
        lambda f: f.update(channel_weights=[1, -2, 1]),
        "channel_weights must be finite numbers >= 0",
    ),
    "weights-zero": (
        lambda f: f.update(channel_weights=[0, 0, 0]),
        "channel_weights must not all be 0",
    ),
    "weights-str": (
        lambda f: f.update(channel_weights="1"),
        "one weight per channel feature",
    ),
    "weights-bool": (
        lambda f: f.update(channel_weights=[1, True, 1]),
        "channel_weights must be finite numbers",
    ),
    "normalize-true": (lambda f: f.update(normalize=True), "fitted mean and std"),
    "normalize-nostd": (lambda f: f["normalize"].pop("std"), "lacks the field.*std"),
    "normalize-extra": (
        lambda f: f["normalize"].update(offset=[0, 0, 0]),
        "does not know: offset",
    ),
    "normalize-std0": (
        lambda f: f["normalize"].update(std=[1, 0, 1]),
        "std' must be positive",
    ),
    "normalize-len": (
        lambda f: f["normalize"].update(mean=[1, 2]),
        "mean' must be a list of 3 numbers",
    ),
    "spatial-noscale": (lambda f: f.pop("scale"), "spatial_weight' and .*go together"),
    "scale-nospatial": (
        lambda f: f.pop("spatial_weight"),
        "spatial_weight' and .*go together",
    ),
    "spatial-zero": (
        lambda f: f.update(spatial_weight=0),
        "must be > 0 in a model file",
    ),
    "spatial-str": (
        lambda f: f.update(spatial_weight="1"),
        "spatial_weight must be a finite number",
    ),
    "scale-zero": (lambda f: f.update(scale=[1, 0]), "numbers > 0"),
    "scale-empty": (lambda f: f.update(scale=[]), "non-empty list of pixel sizes"),
    "scale-len": (lambda f: f.update(scale=[1, 1, 1]), "make 6 features.*n_features=5"),
    "smoothing-neg": (
        lambda f: f.update(smoothing=-1),
        "features.smoothing': smoothing must be a finite number >= 0",
    ),
    "smoothing-huge": (
        lambda f: f.update(smoothing=10**400),
        "smoothing must be a finite number",
    ),
}


@pytest.mark.parametrize(
    ("mutate", "message"), BAD_FIELDS.values(), ids=BAD_FIELDS.keys()
)
def test_option_fields_are_validated_on_load(option_model, mutate, message, tmp_path):
    data = option_model.to_dict()
    assert KMeansModel.from_dict(json.loads(json.dumps(data))).options == (
        option_model.options
    )
    mutate(data["features"])
    with pytest.raises(ValueError, match=message):
        KMeansModel.from_dict(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="bad.json: .*" + message):
        KMeansModel.load(path)


def test_nan_in_a_zero_weight_channel_leaves_the_pixel_out():
    rng = np.random.default_rng(0)
    image = rng.random((3, 10, 12))
    image[1, 2, 3] = np.nan
    result = segment(image, 2, channel_axis=0, channel_weights=[1, 0, 1])
    assert result.labels[2, 3] == 0 and result.n_invalid == 1
    assert np.isfinite(result.centroids).all()
