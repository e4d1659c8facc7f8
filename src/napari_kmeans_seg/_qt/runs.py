"""One click of Segment or Merge: what it was started on, how far it got, and
what the status says about it."""

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..core.model import KMeansModel
from ..core.segment import SegmentationResult
from ..layers.inputs import LAYER_OPTIONS, SegmentationInput
from .adding import LayerSteps

#: what the status says after Cancel
CANCELLED_TEXT = "cancelled"


@dataclass(eq=False)
class Run:
    """One click of Segment (or Merge): what it was started on, and how far it
    got."""

    id: int
    inputs: SegmentationInput
    model: KMeansModel | None
    options: dict[str, Any]
    started: float
    #: "segment" or "merge"
    kind: str = "segment"
    worker: Any = None
    cancelled: bool = False
    result: SegmentationResult | None = None
    #: adding the layers in the main thread, one per turn of the event loop
    adding: LayerSteps | None = field(default=None, repr=False)
    #: the signal relaying a lazy image's reading progress (kept alive with the run)
    relay: Any = field(default=None, repr=False)
    #: set by Cancel: what the engine's cancellation hook will poll
    stop: threading.Event = field(default_factory=threading.Event, repr=False)
    #: the clusters are found and the worker builds the output layers
    building: bool = False

    @property
    def name(self) -> str:
        return self.inputs.name

    @property
    def doing(self) -> str:
        """What the run does, as the status says it."""
        return "merging" if self.kind == "merge" else "segmenting"

    @property
    def layer_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.options.items() if k in LAYER_OPTIONS}

    def summary(self) -> str:
        """What the status says once the run's layers are all added."""
        n = self.result.n_clusters
        seconds = time.perf_counter() - self.started
        if self.kind == "merge":
            return f"merged: {n} clusters"
        if self.model is not None:  # not a fit: "converged" says nothing about it
            return f"model applied: {n} clusters in {seconds:.2f} s"
        if not self.result.converged:
            note = " (not converged)"
        else:  # one feature: the best partition there is, not only a fixed point
            note = " (the global optimum)" if self.result.optimal else ""
        return f"{n} clusters in {seconds:.2f} s{note}"

    def cancelled_status(self) -> str:
        """What the status says after Cancel."""
        adding = self.adding
        if adding is None:
            return CANCELLED_TEXT
        return f"{CANCELLED_TEXT}: {adding.added} of {adding.n_layers} layers added"
