"""Keeping a vispy canvas drawable when its widget moves to another window.

Qt gives an OpenGL widget a new context when its top-level window changes (a
dock floated or docked again); vispy keeps the objects it made in the old one,
so the canvas then fails to draw. :class:`ContextWatch` notices the old context
going away, stops the canvas drawing, and asks for a new canvas once the move
is done.
"""

import contextlib
from collections.abc import Callable

from qtpy.QtCore import QTimer


class ContextWatch:
    """Calls ``rebuild`` (once the event loop turns) when the OpenGL context of
    the vispy ``canvas`` is about to be destroyed.

    Parameters
    ----------
    canvas : vispy.scene.SceneCanvas
        The canvas watched (a Qt ``QOpenGLWidget`` backend).
    rebuild : callable
        Called without arguments: replace the canvas with a new one.
    """

    def __init__(self, canvas, rebuild: Callable[[], None]):
        self._canvas, self._rebuild = canvas, rebuild
        self._lost = False
        canvas.events.initialize.connect(self._on_initialize)

    @property
    def lost(self) -> bool:
        """Whether the canvas lost its context (it no longer draws)."""
        return self._lost

    def _on_initialize(self, event=None) -> None:
        context = self._canvas.native.context()
        if context is not None:
            context.aboutToBeDestroyed.connect(self._on_lost)

    def _on_lost(self) -> None:
        if self._lost:
            return
        self._lost = True
        self._canvas.events.draw.block()  # its objects are gone with the context
        with contextlib.suppress(Exception):
            self._canvas.events.initialize.disconnect(self._on_initialize)
        QTimer.singleShot(0, self._rebuild)
