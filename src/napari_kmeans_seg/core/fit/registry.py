"""The one place that chooses how pixels are fitted.

Each way of fitting is a strategy (see :class:`Strategy`): given a :class:`~.job.Job`
(the pixels, ``k``, the options and a random source) it says whether it
:meth:`~Strategy.applies` and :meth:`~Strategy.fit`\\ s, returning a
:class:`~.records.Fit`, or None to decline. The chains below are tried in order;
the first strategy that applies and does not decline fits. A strategy that
declines leaves the random state as it found it, so the next one draws the same
starts. The last strategy of every chain never declines.

Chains, by method and number of features:

- ``exact``, one feature: :class:`~.optimum_1d.Optimum1D` (without given
  starts; binned values up to 128 clusters: the global optimum; declines where
  its programs would grow too large, or beyond 32 clusters on values that share
  bins) → :class:`~.fast_1d.Fast1D` (float data, 2 to 8 clusters, from 2**16
  pixels; declines when its windows do not settle) →
  :class:`~.histogram_1d.Histogram1D`;
- ``exact``, several features: :class:`~.per_pixel.PerPixel` (large images whose
  values are mostly distinct; 8-bit ones from 16 clusters on; declines when a
  sample has fewer than ``k`` distinct values) → :class:`~.cells.Cells` (from 8
  clusters on a large image, from a start settled on samples of the pixels);
- ``sample``: :class:`~.sample.Sample`.

A Gaussian mixture (``options.mixture``) is fitted by :class:`~.mixture.EM`
from the k-means fit of the chain.

A new way of fitting is one module with a strategy class and one line in a chain.
"""

from __future__ import annotations

from typing import Protocol

from .cells import Cells
from .fast_1d import Fast1D
from .histogram_1d import Histogram1D
from .job import Job
from .mixture import EM
from .optimum_1d import Optimum1D
from .per_pixel import PerPixel
from .records import Fit
from .sample import Sample


class Strategy(Protocol):
    """A way of fitting k-means to the pixels of a job."""

    #: a short name, for messages and tests
    name: str

    def applies(self, job: Job) -> bool:
        """Whether this way suits the job (cheap: may measure, never fits)."""

    def fit(self, job: Job) -> Fit | None:
        """The fit, or None to let the next strategy of the chain fit."""


#: (method, one feature) -> the strategies tried, in order
CHAINS: dict[tuple[str, bool], tuple[Strategy, ...]] = {
    ("exact", True): (Optimum1D(), Fast1D(), Histogram1D()),
    ("exact", False): (PerPixel(), Cells()),
    ("sample", True): (Sample(),),
    ("sample", False): (Sample(),),
}


def chain(method: str, n_features: int) -> tuple[Strategy, ...]:
    """The strategies tried for ``method`` on pixels of ``n_features`` features."""
    return CHAINS[method, n_features == 1]


def bins_cells(method: str, n_features: int) -> bool:
    """Whether the pixels are binned into the grid's cells before fitting (the
    one-feature ways bin their own way)."""
    return not (method == "exact" and n_features == 1)


def fit(job: Job) -> Fit:
    """Fit ``job`` by the first strategy of its chain that applies and does not
    decline; then the mixture, when the options ask for one."""
    found = _kmeans(job)
    if job.options.mixture is None:
        return found
    return EM().fit(job, found)


def _kmeans(job: Job) -> Fit:
    for strategy in chain(job.options.method, job.px.d):
        if not strategy.applies(job):
            continue
        state = job.rng.bit_generator.state
        found = strategy.fit(job)
        if found is not None:
            return found
        job.rng.bit_generator.state = state
    raise RuntimeError(f"no way of fitting took {job}")  # the last never declines
