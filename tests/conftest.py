"""Shared fixtures: small real photos, synthetic images, an array that counts its
reads."""

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
