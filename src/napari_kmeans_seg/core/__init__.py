"""The engine and the public API on arrays: numpy or dask arrays in, labels and a
model out.

Nothing here imports napari or Qt (``tests/test_layering.py`` checks it), so the
core runs in plain scripts, in worker processes and on a dask cluster.
"""
