"""The one-feature optimum of binned values (floats; integers the engine holds
as floats), from the 2**16-bin histogram.

The dynamic program cannot take every distinct value of a large float image
(millions). It runs on items, each a run of consecutive bins kept whole (count,
mean and own sum of squares, summed from the histogram) or a single value. From
runs of 256 bins, the runs that an optimal partition may split
(:func:`~.bounds_1d.bins_to_split`) are cut into runs of 16 bins, those into
single bins, and the bins still in question are gathered from the pixels and
enter as their distinct values: the optimum of the last items is the global
optimum, from small programs only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bounds_1d import bins_to_split
from .dp_1d import optimum_of_items
from .histogram_1d import Hist1, Lloyd1

#: the runs of bins of the successive items: 2**8 bins, 2**4, then single bins
_RUN_SHIFTS = (8, 4, 0)
#: a bin's values are taken to span this many bin widths (rounding of the binning)
_SPAN = 1.002
#: the split bins' values are first taken in runs of this many
_VALUE_RUN = 16


class _Runs:
    """Runs of consecutive bins of a histogram, ``first`` bin of each (the next
    run's first ends it): their counts, means, own sums of squares and the
    least and greatest value each may hold."""

    def __init__(self, hist: Hist1, first: np.ndarray, lo_hi):
        B = hist.acc.shape[0]
        self.first = first
        self.stop = np.append(first[1:], B)
        acc = np.add.reduceat(hist.acc, first, axis=0)
        self.w = acc[:, 0]
        full = self.w > 0
        self.mean = np.zeros(first.size)
        self.mean[full] = acc[full, 1] / self.w[full]
        self.within = np.maximum(acc[:, 2] - acc[:, 1] * self.mean, 0.0)
        width = 1.0 / hist.inv
        slack = (_SPAN - 1.0) / 2 * width
        mn, mx = (float(v[0]) for v in lo_hi)
        self.lo = np.maximum(hist.lo + first * width - slack, mn)
        self.hi = np.minimum(hist.lo + self.stop * width + slack, mx)

    def to_split(self, k: int) -> np.ndarray | None:
        """Per run, whether an optimal partition into ``k`` clusters may split
        it (see :func:`~.bounds_1d.bins_to_split`); None when too large to
        tell."""
        full = np.flatnonzero(self.w > 0)
        fields = (self.w, self.mean, self.within, self.lo, self.hi)
        found = bins_to_split(*(a[full] for a in fields), k)
        if found is None:
            return None
        split = np.zeros(self.w.size, np.bool_)
        split[full] = found
        return split

    def cut(self, split: np.ndarray, shift: int) -> np.ndarray:
        """The first bins of the runs with those ``split`` cut into runs of
        ``2**shift`` bins."""
        pieces = [self.first[~split]]
        for a, b in zip(self.first[split], self.stop[split], strict=True):
            pieces.append(np.arange(a, b, 1 << shift))
        return np.sort(np.concatenate(pieces))


@dataclass(frozen=True)
class _Items:
    """Items of the program in value order: per item the bin it starts in, its
    count, mean, own sum of squares and the least and greatest value it may
    hold."""

    bin: np.ndarray
    w: np.ndarray
    mean: np.ndarray
    within: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def of_runs(cls, runs: _Runs, which: np.ndarray) -> _Items:
        """The runs of bins ``which``."""
        fields = (runs.first, runs.w, runs.mean, runs.within, runs.lo, runs.hi)
        return cls(*(a[which] for a in fields))

    @classmethod
    def of_values(cls, in_bin, values, counts, starts: np.ndarray) -> _Items:
        """Runs of the sorted distinct ``values`` (``counts``; bins ``in_bin``),
        each from a value whose ``starts`` is set to the next."""
        first = np.flatnonzero(starts)
        w = np.add.reduceat(counts, first)
        s = np.add.reduceat(counts * values, first)
        q = np.add.reduceat(counts * values * values, first)
        mean = s / w
        last = np.append(first[1:], values.size) - 1
        within = np.maximum(q - s * mean, 0.0)
        return cls(in_bin[first], w, mean, within, values[first], values[last])

    def __add__(self, other: _Items) -> _Items:
        """Both in one value order (no bin holds items of both)."""
        pairs = zip(self._arrays(), other._arrays(), strict=True)
        fields = [np.concatenate(pair) for pair in pairs]
        order = np.lexsort((fields[4], fields[0]))
        return _Items(*(f[order] for f in fields))

    def _arrays(self) -> tuple:
        return (self.bin, self.w, self.mean, self.within, self.lo, self.hi)


def binned_optimum(
    px, hist: Hist1, k: int, max_items: int
) -> tuple[float, np.ndarray] | None:
    """The optimum of the binned one-feature pixels ``px`` (histogram ``hist``
    of 2**16 bins) in ``k`` clusters, as (inertia, (k, 1) centroids); None when
    more than ``max_items`` items would remain or the bounds grow too large."""
    B = hist.acc.shape[0]
    runs = _Runs(hist, np.arange(0, B, 1 << _RUN_SHIFTS[0]), px.lo_hi)
    for shift in (*_RUN_SHIFTS[1:], None):
        split = runs.to_split(k)
        if split is None:
            return None
        if shift is not None:
            runs = _Runs(hist, runs.cut(split, shift), px.lo_hi)
    whole = _Items.of_runs(runs, ~split & (runs.w > 0))
    if whole.w.size + runs.w[split].sum() > max_items:
        return None
    values, counts = _split_values(px, hist, runs.first[split])
    if values.size == 0:
        return optimum_of_items(whole.w, whole.mean, whole.within, k)
    in_bin = np.clip(((values - hist.lo) * hist.inv).astype(np.int64), 0, B - 1)
    # the split bins' values in runs (cut where the bin changes); the whole runs
    # of bins stay whole (no optimum splits them); the runs of values that an
    # optimum may split enter as their values
    starts = _value_runs(in_bin)
    items = whole + _Items.of_values(in_bin, values, counts, starts)
    fields = (items.w, items.mean, items.within, items.lo, items.hi)
    found = bins_to_split(*fields, k)
    if found is None:
        return None
    of_values = ~np.isin(items.bin, whole.bin)
    run_length = np.diff(np.append(np.flatnonzero(starts), values.size))
    starts |= np.repeat(found[of_values], run_length)
    items = whole + _Items.of_values(in_bin, values, counts, starts)
    return optimum_of_items(items.w, items.mean, items.within, k)


def _value_runs(in_bin: np.ndarray) -> np.ndarray:
    """Per sorted value (in bins ``in_bin``): whether it starts a run, runs of
    :data:`_VALUE_RUN` values cut where the bin changes."""
    n = in_bin.size
    new_bin = np.ones(n, np.bool_)
    new_bin[1:] = in_bin[1:] != in_bin[:-1]
    at = np.flatnonzero(new_bin)
    rank = np.arange(n) - np.repeat(at, np.diff(np.append(at, n)))
    return rank % _VALUE_RUN == 0


def _split_values(px, hist: Hist1, bins: np.ndarray) -> tuple:
    """The distinct values in ``bins`` (sorted) and their counts, gathered in
    one pass."""
    lloyd = Lloyd1(px, hist)
    selected = np.zeros(hist.acc.shape[0], np.bool_)
    selected[bins] = True
    lloyd.gather(selected)
    values, counts = np.unique(lloyd.gathered[2], return_counts=True)
    return values, counts.astype(np.float64)
