"""The command line: segment a batch of image files with one k-means model.

::

    napari-kmeans-seg segment photos/ extra.tif --n-clusters 3 --out results/
    python -m napari_kmeans_seg segment photos/ --model sky.json --out results/
    napari-kmeans-seg warm-up

One model serves the whole batch, so a cluster id means the same class in every
output: it is fitted on the first input that can be read and segmented (the inputs
in the order given, a folder's files sorted by name), unless ``--model`` gives a
saved one. Every other image is labelled with that model, without refitting.

Imports neither napari nor Qt (nor, until an image is read, imageio or tifffile),
so it runs on a headless machine and starts quickly.

Its modules, by role: ``command`` (:func:`main`), ``parser`` (the options),
``segment`` (the ``segment`` command) with ``batch`` (a run's state), ``inputs``
(which files a run takes), ``checks`` (what is refused before any work),
``reading`` and ``png16`` (image files in), ``writing`` (an image's outputs),
``safe_write`` (whole files, never over what is not ours), ``outputs`` (the names
and marks of what this command writes), ``progress`` and ``program`` (its name,
exit codes and usage error).
"""

from .command import main
from .outputs import output_names, written_here
from .parser import build_parser
from .png16 import read_png16
from .reading import Placement, read_image, read_placement
from .writing import feature_names, write_outputs

__all__ = [
    "Placement",
    "build_parser",
    "feature_names",
    "main",
    "output_names",
    "read_image",
    "read_placement",
    "read_png16",
    "write_outputs",
    "written_here",
]
