"""Shared fixtures: small real photos, synthetic images, an array that counts its
reads; the ``gui`` marker. The dock's GUI helpers are in ``qt/gui_helpers.py``."""

import threading

import numpy as np
import pytest


@pytest.fixture(scope="session")
def astronaut():
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def small_photos():
    """A few real photos, downsampled so that scikit-learn on all pixels is quick."""
    from skimage import data

    return {
        "astronaut": data.astronaut()[::4, ::4],
        "coffee": data.coffee()[::4, ::4],
        "chelsea": data.chelsea()[::4, ::4],
        "camera": data.camera()[::4, ::4],
        "immunohistochemistry": data.immunohistochemistry()[::4, ::4],
    }


def blobs_image(shape=(40, 50), k=3, seed=0, dtype=np.uint8):
    """An RGB image of k well-separated colour regions with a little noise."""
    rng = np.random.default_rng(seed)
    colors = rng.permutation(np.linspace(20, 230, k))[:, None] * np.ones(3)
    colors[:, 0] = np.linspace(230, 20, k)
    region = (np.arange(shape[1])[None, :] * k // shape[1]) * np.ones(shape, int)
    img = colors[region] + rng.normal(0, 4, (*shape, 3))
    return np.clip(img, 0, 255).astype(dtype)


#: well-separated colours: corners of a cube inside the RGB cube
CORNERS = np.array(
    [[r, g, b] for r in (40, 215) for g in (40, 215) for b in (40, 215)], float
)


def colour_groups(k, seed=0, shape=(120, 160), noise=10.0):
    """An RGB image of k colour regions (random Voronoi cells), each a distinct
    corner colour with Gaussian noise."""
    rng = np.random.default_rng(seed)
    colors = CORNERS[rng.permutation(len(CORNERS))[:k]]
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    seeds = rng.random((k, 2)) * shape
    region = np.argmin(
        (yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2,
        axis=-1,
    )
    region[:k] = np.arange(k)[:, None]  # every colour present
    img = colors[region] + rng.normal(0, noise, (*shape, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


class CountingArray:
    """An array read on demand, as a zarr array is, that records the size of every
    non-empty read (dask reads an empty slice for its metadata)."""

    def __init__(self, data):
        self.data = data
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim
        self.reads = []
        self._lock = threading.Lock()

    def __getitem__(self, index):
        out = self.data[index]
        if out.size:
            with self._lock:
                self.reads.append(out.size)
        return out


@pytest.fixture
def counting_array():
    """:class:`CountingArray`: wrap an array to count what is read of it."""
    return CountingArray


# ---------------------------------------------------------------- markers
GUI_FIXTURES = {"make_napari_viewer", "make_napari_viewer_proxy", "qtbot"}


def pytest_collection_modifyitems(config, items):
    """Mark every test that needs a display (a Qt fixture, or a file under qt/) as
    ``gui``, so that ``pytest -m "not gui"`` runs the display-free tests alone."""
    for item in items:
        in_qt = "qt" in item.path.parent.parts[-1:]
        if in_qt or GUI_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.gui)
