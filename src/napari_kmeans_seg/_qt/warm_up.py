"""Load the engine's compiled passes and napari's label-colour lookup in a background
thread when the widget opens, so that the first Segment does not freeze the viewer."""

import gc
import logging
import threading

import numpy as np

logger = logging.getLogger(__name__)

#: set once the compiled passes are loaded (see :func:`start_warm_up`)
WARM = threading.Event()
_warm_up_started = threading.Lock()


def start_warm_up() -> None:
    """Load the engine's compiled passes and napari's label-colour lookup in a
    background thread, once per process (:data:`WARM` is set when done).

    Loading them (numba's cache) holds the GIL for about a second in all; done on
    the first Segment, in its worker thread, it would freeze the viewer for
    stretches of 0.1–0.2 s. Done when the widget opens, it is over before the
    user has chosen what to segment. A full garbage collection follows, for the
    same reason."""
    if not _warm_up_started.acquire(blocking=False):
        return
    threading.Thread(target=_warm_up, name="kmeans-seg-warm-up", daemon=True).start()


def _warm_up() -> None:
    try:
        from napari.utils.colormaps import DirectLabelColormap

        from ..core.warm_up import warm_up

        warm_up()
        colors = {None: np.zeros(4), 0: np.zeros(4), 1: np.ones(4)}
        DirectLabelColormap(color_dict=colors).map(np.zeros(1, np.uint8))
        # a full collection now, rather than one triggered by the allocations of
        # the first Segment: in a napari process it takes ~0.2 s, GIL held
        gc.collect()
    except Exception:  # only an optimisation: the first Segment loads them then
        logger.debug("warm-up failed", exc_info=True)
    finally:
        WARM.set()
