"""Reusing a model: JSON save/load with strict validation, ``segment(model=...)``."""

import copy
import json
import pickle

import numpy as np
import pytest

import napari_kmeans_seg
from napari_kmeans_seg import KMeansModel, segment
from napari_kmeans_seg.core.features import Layout


@pytest.fixture(scope="module")
def fitted(small_photos):
    image = small_photos["astronaut"]
    return image, segment(image, 3, random_state=0)


def test_the_version_is_read_without_the_package_root():
    """Model files and the command line take the version from ``core.version``:
    importing the package root from inside the package would tie them to the whole
    public API (an import cycle)."""
    import ast
    from pathlib import Path

    from napari_kmeans_seg.core import version

    assert version.__version__ == napari_kmeans_seg.__version__
    package = Path(napari_kmeans_seg.__file__).parent
    for path in [package / "core" / "model_io.py", *(package / "cli").glob("*.py")]:
        depth = len(path.relative_to(package).parts) - 1
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                root = node.level > depth and not node.module
                assert not root, f"{path.name} imports the package root"


@pytest.fixture
def valid(fitted):
    """A valid model dict (fresh copy for each test to break)."""
    return fitted[1].model.to_dict()


def test_round_trip_save_load_predict(fitted, tmp_path):
    image, result = fitted
    path = result.model.save(tmp_path / "astro.json")
    assert path == tmp_path / "astro.json"
    loaded = KMeansModel.load(path)
    np.testing.assert_array_equal(loaded.centroids, result.model.centroids)
    assert loaded.layout == result.model.layout
    assert loaded.dtype == "uint8"
    assert loaded.cluster_names is None
    np.testing.assert_array_equal(loaded.predict(image), result.labels)
    # a human-readable file with its schema and the writer's version
    data = json.loads(path.read_text())
    assert data["format"] == "napari-kmeans-seg model"
    assert data["schema_version"] == 1
    assert data["napari_kmeans_seg_version"] == napari_kmeans_seg.__version__
    assert data["features"]["layout"] == {
        "channel_axis": 2,
        "n_channels": 3,
        "alpha": False,
        "rgb": True,
    }
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


@pytest.mark.parametrize(
    ("image", "kwargs"),
    [
        (np.random.default_rng(0).random((20, 30)).astype(np.float32), {}),
        (
            (np.random.default_rng(1).random((2, 20, 30)) * 4000).astype(np.uint16),
            {"channel_axis": 0},
        ),
        (np.random.default_rng(2).integers(0, 256, (20, 30, 4), np.uint8), {}),
        (np.random.default_rng(3).integers(0, 256, (3, 20, 30), np.uint8), {}),
        (np.random.default_rng(4).random((20, 30)) > 0.5, {}),
        (np.random.default_rng(5).integers(-9, 9, (20, 30)), {}),
    ],
    ids=["float-grey", "uint16-2ch-axis0", "rgba", "grey-stack", "bool", "int64"],
)
def test_round_trip_every_layout(image, kwargs, tmp_path):
    result = segment(image, 2 if image.dtype == bool else 3, **kwargs)
    loaded = KMeansModel.load(result.model.save(tmp_path / "m.json"))
    assert loaded.layout == result.model.layout
    assert loaded.dtype == image.dtype.name
    np.testing.assert_array_equal(loaded.predict(image), result.labels)
    again = segment(image, model=loaded, **kwargs)
    np.testing.assert_array_equal(again.labels, result.labels)
    assert again.converged


def test_cluster_names_round_trip(fitted, tmp_path):
    from dataclasses import replace

    model = replace(fitted[1].model, cluster_names=["hair", "skin", "sky"])
    assert model.cluster_names == ("hair", "skin", "sky")
    loaded = KMeansModel.load(model.save(tmp_path / "named.json"))
    assert loaded.cluster_names == ("hair", "skin", "sky")
    with pytest.raises(ValueError, match="2 names for 3 clusters"):
        replace(model, cluster_names=["a", "b"])
    with pytest.raises(ValueError, match="must be strings"):
        replace(model, cluster_names=["a", "b", 3])
    with pytest.raises(ValueError, match="list of strings"):
        replace(model, cluster_names="abc")


def _set(path: str, value):
    """A mutation of the model dict: set the field at ``a.b.c`` (DELETE: remove)."""

    def mutate(data):
        *parents, last = path.split(".")
        obj = data
        for key in parents:
            obj = obj[key]
        if value == "DELETE":
            del obj[last]
        else:
            obj[last] = value

    return mutate


def _centroid(value):
    def mutate(data):
        data["centroids"][1][0] = value

    return mutate


STRICT_CASES = {
    "format": (_set("format", "something else"), "not a napari-kmeans-seg model"),
    "no-format": (_set("format", "DELETE"), "not a napari-kmeans-seg model"),
    "newer-schema": (_set("schema_version", 2), "schema_version 2.*upgrade"),
    "older-schema": (_set("schema_version", 0), "unsupported model schema_version 0"),
    "schema-str": (_set("schema_version", "1"), "'schema_version' must be an integer"),
    "schema-bool": (_set("schema_version", True), "'schema_version' must be an int"),
    "version-type": (_set("napari_kmeans_seg_version", 1), "must be a string"),
    "missing-field": (_set("n_features", "DELETE"), "lacks the field.*n_features"),
    "unknown-field": (_set("colour", "lab"), "does not know: colour"),
    "unknown-feature": (
        _set("features.gamma", 2.2),
        "'features' has field.*does not know: gamma",
    ),
    "unknown-layout": (_set("features.layout.extra", 1), "does not know: extra"),
    "k-type": (_set("n_clusters", 3.0), "'n_clusters' must be an integer"),
    "k-shape": (_set("n_clusters", 4), r"shape \(3, 3\).*\(4, 3\)"),
    "d-shape": (_set("n_features", 2), r"shape \(3, 3\).*\(3, 2\)"),
    "d-zero": (_set("n_features", 0), "'n_features' must be a positive integer"),
    "centroids-type": (_set("centroids", "[[1]]"), "non-empty list of rows"),
    "centroids-empty": (_set("centroids", []), "non-empty list of rows"),
    "row-type": (_set("centroids", [[1.0, 2, 3], 5, [1, 2, 3]]), "row 1 must be"),
    "ragged": (
        _set("centroids", [[1.0, 2, 3], [1, 2], [1, 2, 3]]),
        "row 1 has 2 values, row 0 has 3",
    ),
    "centroid-str": (_centroid("12"), "row 1 holds '12', not a number"),
    "centroid-bool": (_centroid(True), "row 1 holds True, not a number"),
    "centroid-null": (_centroid(None), "row 1 holds None, not a number"),
    "centroid-nan": (_centroid(float("nan")), "must be finite"),
    "centroid-inf": (_centroid(float("-inf")), "must be finite"),
    "centroid-huge-int": (_centroid(10**400), "must be finite"),
    "one-cluster": (
        lambda d: d.update(n_clusters=1, centroids=d["centroids"][:1]),
        "between 2 and 254",
    ),
    "features-type": (_set("features", []), "'features' must be an object"),
    "layout-type": (_set("features.layout", None), "must be an object"),
    "axis-negative": (
        _set("features.layout.channel_axis", -1),
        "channel_axis' must be a non-negative integer",
    ),
    "axis-float": (
        _set("features.layout.channel_axis", 2.0),
        "channel_axis' must be a non-negative integer",
    ),
    "n-channels-type": (
        _set("features.layout.n_channels", "3"),
        "n_channels' must be a positive integer",
    ),
    "alpha-type": (_set("features.layout.alpha", 0), "alpha' must be true or false"),
    "rgb-type": (_set("features.layout.rgb", "yes"), "rgb' must be true or false"),
    "rgb-2-channels": (
        lambda d: (
            d["features"]["layout"].update(n_channels=2),
            d.update(n_features=2, centroids=[r[:2] for r in d["centroids"]]),
        ),
        "an RGB layout has 3 channels",
    ),
    "alpha-without-rgb": (
        lambda d: d["features"]["layout"].update(rgb=False, alpha=True),
        "only an RGB layout has an alpha channel",
    ),
    "no-axis-3-channels": (
        lambda d: d["features"]["layout"].update(channel_axis=None, rgb=False),
        "without a channel_axis the image has one channel",
    ),
    "layout-vs-features": (
        lambda d: d["features"]["layout"].update(n_channels=4, rgb=False),
        "layout has 4 channels but the model has n_features=3",
    ),
    "dtype-type": (_set("features.dtype", 8), "'features.dtype'"),
    "dtype-unknown": (_set("features.dtype", "uint9"), "unknown dtype 'uint9'"),
    "dtype-complex": (_set("features.dtype", "complex128"), "real numeric dtype"),
    "dtype-alias": (_set("features.dtype", "float"), "real numeric dtype"),
    "dtype-object": (_set("features.dtype", "O"), "real numeric dtype"),
    "names-length": (_set("cluster_names", ["a"]), "1 names for 3 clusters"),
    "names-type": (_set("cluster_names", ["a", "b", 3]), "list of strings"),
    "names-str": (_set("cluster_names", "abc"), "list of strings"),
}


@pytest.mark.parametrize(
    ("mutate", "message"), STRICT_CASES.values(), ids=STRICT_CASES.keys()
)
def test_strict_validation(valid, mutate, message, tmp_path):
    data = copy.deepcopy(valid)
    mutate(data)
    with pytest.raises(ValueError, match=message):
        KMeansModel.from_dict(data)
    # the same through a file, with the file named in the message
    path = tmp_path / "bad-model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="bad-model.json: .*" + message):
        KMeansModel.load(path)


def test_valid_dict_loads(valid):
    assert KMeansModel.from_dict(valid).n_clusters == 3
    assert KMeansModel.from_dict({**valid, "cluster_names": None}).n_clusters == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a valid model file"),
        ("{", "not a valid model file"),
        ("[1, 2]", "must be a JSON object, not list"),
        ('"model"', "must be a JSON object, not str"),
        ('{"format": "napari-kmeans-seg model", "x": NaN}', "NaN is not allowed"),
        ('{"a": Infinity}', "Infinity is not allowed"),
    ],
)
def test_not_a_model_file(text, message, tmp_path):
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        KMeansModel.load(path)


def test_nan_literal_in_centroids_is_refused(valid, tmp_path):
    text = json.dumps(valid).replace(str(valid["centroids"][0][0]), "NaN", 1)
    path = tmp_path / "nan.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"nan\.json: .*NaN is not allowed"):
        KMeansModel.load(path)


def test_never_unpickles(fitted, tmp_path):
    path = tmp_path / "model.json"
    path.write_bytes(pickle.dumps(fitted[1].model))
    with pytest.raises(ValueError, match="not a valid model file"):
        KMeansModel.load(path)


def test_missing_file_and_unwritable_path(fitted, tmp_path):
    with pytest.raises(FileNotFoundError):
        KMeansModel.load(tmp_path / "nope.json")
    with pytest.raises(OSError):
        fitted[1].model.save(tmp_path / "no-such-dir" / "m.json")


def test_model_constructor_validates():
    layout = Layout(None, 1)
    with pytest.raises(ValueError, match="finite"):
        KMeansModel(np.array([[0.0], [np.nan]]), layout)
    with pytest.raises(ValueError, match="2D array"):
        KMeansModel(np.array([0.0, 1.0]), layout)
    with pytest.raises(ValueError, match="2 features per cluster but the layout has 1"):
        KMeansModel(np.zeros((3, 2)), layout)
    with pytest.raises(ValueError, match="real numeric dtype"):
        KMeansModel(np.array([[0.0], [1.0]]), layout, dtype="str")
    with pytest.raises(ValueError, match="n_clusters must be between 2 and 254"):
        KMeansModel(np.zeros((1, 1)), layout)


def test_loaded_model_checks_channel_count(fitted, tmp_path):
    from skimage import data

    model = KMeansModel.load(fitted[1].model.save(tmp_path / "m.json"))
    with pytest.raises(ValueError, match="fitted on RGB"):
        model.predict(data.camera())
    with pytest.raises(ValueError, match="fitted on RGB"):
        model.predict(np.zeros((10, 10, 5), np.uint8))
    two = segment(
        (np.random.default_rng(0).random((2, 20, 30)) * 100).astype(np.uint8),
        2,
        channel_axis=0,
    ).model
    with pytest.raises(ValueError, match="fitted on 2 channels"):
        two.predict(np.zeros((3, 20, 30)))


# ------------------------------------------------------------- segment(model=)


def test_segment_with_model_reproduces_the_fit(fitted, tmp_path):
    image, result = fitted
    model = KMeansModel.load(result.model.save(tmp_path / "m.json"))
    again = segment(image, model=model)
    np.testing.assert_array_equal(again.labels, result.labels)
    np.testing.assert_array_equal(again.counts, result.counts)
    np.testing.assert_array_equal(again.centroids, result.centroids)
    assert again.model is model
    assert again.inertia == pytest.approx(result.inertia, rel=1e-9)
    assert again.converged  # the model's centroids are this image's cluster means
    assert again.n_iter == 0 and again.n_invalid == 0
    # n_clusters may repeat the model's; rgb may confirm it
    assert segment(image, 3, rgb=True, model=model).converged


def test_segment_with_model_on_another_image(fitted, small_photos):
    coffee = small_photos["coffee"]
    model = fitted[1].model
    result = segment(coffee, model=model)
    np.testing.assert_array_equal(result.labels, model.predict(coffee))
    assert result.counts.sum() == coffee.shape[0] * coffee.shape[1]
    assert not result.converged  # the astronaut's centroids are not coffee's means
    assert result.n_iter == 0
    labels = result.labels
    C = model.centroids
    inertia = sum(
        ((coffee[labels == i].astype(float) - C[i - 1]) ** 2).sum() for i in (1, 2, 3)
    )
    assert result.inertia == pytest.approx(inertia, rel=1e-9)
    masked = result.masked_image(coffee, 2)
    assert not masked[labels != 2].any()


def test_sample_fit_is_not_the_means_of_all_pixels(astronaut):
    # fitted on a sample of 100,000 of the 262,144 pixels: not their means
    result = segment(astronaut, 4, method="sample")
    assert not result.converged
    assert not segment(astronaut, model=result.model).converged


def test_segment_with_model_mask_nan_and_stack(fitted):
    image, result = fitted
    mask = np.zeros(image.shape[:2], bool)
    mask[10:50] = True
    masked = segment(image, model=result.model, mask=mask)
    assert np.all(masked.labels[~mask] == 0)
    np.testing.assert_array_equal(masked.labels[mask], result.labels[mask])
    assert masked.counts.sum() == mask.sum() and masked.n_invalid == 0

    grey = np.random.default_rng(0).random((20, 30))
    model = segment(grey, 2).model
    grey[0, :4] = np.nan
    out = segment(grey, model=model)
    assert out.n_invalid == 4 and np.all(out.labels[0, :4] == 0)
    assert not out.converged  # 4 pixels fewer: the means moved

    # a 2D RGB model applies to an RGB stack (its channels are the last axis)
    stack = np.stack([image, image[::-1]])
    on_stack = segment(stack, model=result.model)
    assert on_stack.labels.shape == stack.shape[:3]
    np.testing.assert_array_equal(on_stack.labels[1], result.labels[::-1])
    assert on_stack.masked_image(stack, 1).shape == stack.shape


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_clusters": 4}, "n_clusters=4 contradicts the model, which has 3"),
        ({"rgb": False}, "fitted on RGB"),
        ({"channel_axis": 0}, "channel_axis=0 contradicts the model"),
        ({"mask": np.zeros((3, 3), bool)}, "mask shape"),
        ({"mask": False}, "mask shape"),
    ],
)
def test_segment_with_model_refuses_contradictions(fitted, kwargs, message):
    image, result = fitted
    with pytest.raises(ValueError, match=message):
        segment(image, model=result.model, **kwargs)


def test_segment_with_model_other_errors(fitted):
    image, result = fitted
    with pytest.raises(ValueError, match="model must be a KMeansModel"):
        segment(image, model=result.model.to_dict())
    with pytest.raises(ValueError, match="no pixel to label"):
        segment(image, model=result.model, mask=np.zeros(image.shape[:2], bool))
    with pytest.raises(ValueError, match="fitted on RGB"):
        segment(image[..., 0], model=result.model)
    grey_model = segment(image[..., 0], 3).model
    with pytest.raises(ValueError, match=r"RGB.*fitted on single-channel images"):
        segment(image, rgb=True, model=grey_model)
    with pytest.raises(ValueError, match="channel_axis=2 contradicts"):
        segment(image, channel_axis=2, model=grey_model)
    # without a model, n_clusters still defaults to 3
    assert segment(image).n_clusters == 3
