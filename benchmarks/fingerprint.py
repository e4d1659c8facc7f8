"""Fingerprints of the engine's results: labels and centroids, hashed, on images
that take every way of fitting (cells, per-pixel, sample, one feature by histogram
and by the fast path, a region then labelled, lazy passes, a model applied, the
estimator).

A refactoring of the engine must leave every fingerprint unchanged (bitwise):

    .venv/bin/python benchmarks/fingerprint.py > /tmp/before.json
    ... change the code ...
    .venv/bin/python benchmarks/fingerprint.py --against /tmp/before.json

``--against`` prints the cases that differ and exits 1 if any does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

import numpy as np


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _images() -> dict:
    """The images, each made here from scikit-image's samples or a seeded rng."""
    sys.path.insert(0, "benchmarks")
    import bench_engine as be
    from skimage import data

    rng = np.random.default_rng(7)
    astro = data.astronaut()
    return {
        "astronaut": astro,
        "coffee": data.coffee(),
        "camera": data.camera(),
        "f32-rgb": be.sci_float_rgb(512),
        "u16-3": be.sci_poisson(512, 3),
        "u16-5": be.sci_poisson(512, 5),
        "f64-2": be.sci_float64_2ch(512),
        "f32-grey": be.sci_grey(1024),
        "u16-grey": be.sci_poisson(512, 1)[..., 0],
        "f64-offset": 1e9 + rng.normal(0, 1e-3, (256, 256, 3)),
        "stack": be.make_stack((3, 8, 256, 256)),
    }


def _cases(images: dict):
    from napari_kmeans_seg import ExactKMeans, segment

    channels = {"stack": 0, "u16-5": -1, "f64-2": -1}
    for name, image in images.items():
        axis = channels.get(name)
        for k in (2, 5):
            yield (
                f"{name} k={k}",
                lambda im=image, k=k, a=axis: segment(im, k, channel_axis=a),
            )
    astro = images["astronaut"]
    grey = images["camera"]
    mask = np.zeros(astro.shape[:2], bool)
    mask[50:400, 30:480] = True
    yield "astronaut sample", lambda: segment(astro, 4, method="sample")
    yield "astronaut mask", lambda: segment(astro, 4, mask=mask)
    yield "astronaut lab", lambda: segment(astro, 4, color_space="lab")
    yield "astronaut spatial", lambda: segment(astro, 4, spatial_weight=0.5)
    yield "astronaut fit_pixels", lambda: segment(astro, 4, fit_pixels=20_000)
    yield "camera mask", lambda: segment(grey, 3, mask=mask)
    yield "camera sample", lambda: segment(grey, 3, method="sample")
    yield "u16-3 n_init=1", lambda: segment(images["u16-3"], 6, n_init=1)
    yield "f32-rgb k=12", lambda: segment(images["f32-rgb"], 12)

    def lazy():
        import dask.array as da

        return segment(da.from_array(images["u16-3"], chunks=(128, 128, 3)), 4)

    yield "u16-3 lazy", lazy

    def applied():
        model = segment(astro, 4).model
        return model.segment(images["coffee"])

    yield "model applied", applied

    def estimator():
        X = astro.reshape(-1, 3)[::7].astype(np.float64)
        est = ExactKMeans(n_clusters=5, random_state=0).fit(X)
        return est.labels_, est.cluster_centers_

    yield "estimator", estimator

    def estimator_weighted():
        X = images["u16-3"].reshape(-1, 3)[::31].astype(np.float64)
        w = np.random.default_rng(3).uniform(0.5, 2, len(X))
        est = ExactKMeans(n_clusters=4, random_state=1).fit(X, sample_weight=w)
        return est.labels_, est.cluster_centers_

    yield "estimator weighted", estimator_weighted


def fingerprints() -> dict:
    out = {}
    for name, run in _cases(_images()):
        got = run()
        if isinstance(got, tuple):
            out[name] = _digest(*got)
        else:
            labels = np.asarray(got.labels)
            out[name] = _digest(labels, got.model.centroids)
        print(name, out[name], file=sys.stderr)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", help="a JSON file written by an earlier run")
    args = parser.parse_args(argv)
    now = fingerprints()
    if not args.against:
        json.dump(now, sys.stdout, indent=1)
        return 0
    with open(args.against) as f:
        before = json.load(f)
    differ = [n for n in before if now.get(n) != before[n]]
    for name in differ:
        print(f"DIFFERS: {name}: {before[name]} -> {now.get(name)}")
    print(f"{len(before) - len(differ)} of {len(before)} cases identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
