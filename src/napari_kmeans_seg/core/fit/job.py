"""One fitting job: the pixels, ``k``, the options and the random source that
every way of fitting takes, with what one way measures that the next may use."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .pixels import CellStats, Pixels, check_enough_values
from .records import FitOptions


@dataclass
class CellPlan:
    """The pixels binned into the grid's cells (see :meth:`Pixels.stats`)."""

    stats: CellStats | None  #: None once freed for another way's memory
    cells: np.ndarray  #: the non-empty cells
    n_valid: int  #: valid pixels
    #: the starts the cells refine, best first (see :func:`.cells.exact_starts`)
    starts: list | None = None


@dataclass
class Job:
    """What a way of fitting is given (see :mod:`.registry`)."""

    px: Pixels
    k: int
    options: FitOptions
    rng: np.random.Generator
    _plan: CellPlan | None = field(default=None, repr=False)

    def plan(self) -> CellPlan:
        """The pixels binned into cells (one pass, made once), checked to hold
        ``k`` distinct values."""
        if self._plan is None:
            stats = self.px.stats()
            cells = np.flatnonzero(stats.count)
            n_valid = int(stats.count.sum())
            check_enough_values(self.px, cells, n_valid, self.k)
            self._plan = CellPlan(stats, cells, n_valid)
        elif self._plan.stats is None:
            self._plan.stats = self.px.stats()
        return self._plan

    def free_cells(self) -> None:
        """Free the cells' statistics (they are made again if needed)."""
        if self._plan is not None:
            self._plan.stats = None
