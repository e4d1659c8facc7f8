"""The state of one ``segment`` run: its options, the model, what is done and
what failed."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .program import PROG
from .progress import Progress

if TYPE_CHECKING:
    from ..core.model import KMeansModel


@dataclass
class Batch:
    """The state of one ``segment`` run."""

    out: Path
    n_clusters: int | None
    random_state: int
    masks: bool
    save_model: Path | None
    ome_zarr: bool = False
    color_features: tuple[str, ...] | None = None
    #: a Gaussian mixture's covariance type ("full", "diag"); None: k-means
    mixture: str | None = None
    model: KMeansModel | None = None
    model_source: str = ""
    save_error: str | None = None
    done: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    progress: Progress | None = None
    current: Path | None = None  #: the image being segmented

    def fail(self, path: Path, why: str) -> None:
        """Report that ``path`` failed, and why."""
        self.failed.append((path, why))
        self.report(f"{PROG}: {path}: {why}")

    def report(self, text: str) -> None:
        """Print ``text`` on stderr (above the progress bar, if any)."""
        if self.progress is not None:
            self.progress.write(text)
        else:
            print(text, file=sys.stderr, flush=True)

    @property
    def k(self) -> int:
        """The number of clusters every output will have."""
        if self.model is not None:
            return self.model.n_clusters
        return 3 if self.n_clusters is None else self.n_clusters


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a batch; its message says what was left."""

    @classmethod
    def during(cls, batch: Batch, n_todo: int) -> Interrupted:
        """The interruption of ``batch`` (of ``n_todo`` images)."""
        text = (
            f"interrupted: {len(batch.done)} of {n_todo} images done (their outputs "
            f"are complete in {batch.out})"
        )
        if batch.current is not None:
            text += f"; the outputs of {batch.current} were not all written"
        return cls(text + "; no partly written file was left")
