"""How far building the result layers got: the outputs counted as they are built,
told to the callback of :func:`reporting_outputs` in the building thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable


class OutputProgress:
    """Counts the outputs (and blocks of the mean-colour image) built, telling the
    callback of :func:`reporting_outputs` in this thread, if any."""

    def __init__(self, total: int):
        self.done, self.total = 0, total
        self._report = getattr(_reporting, "callback", None)

    def step(self) -> None:
        self.done += 1
        if self._report is not None:
            self._report(self.done, self.total)


_reporting = threading.local()


@contextlib.contextmanager
def reporting_outputs(callback: Callable[[int, int], None]):
    """Call ``callback(done, total)`` as
    :func:`~.result_layers.result_layer_data` (run in this thread, in this
    context) builds each output, and each block of rows of the mean-colour image:
    how far building the outputs got."""
    before = getattr(_reporting, "callback", None)
    _reporting.callback = callback
    try:
        yield
    finally:
        _reporting.callback = before
