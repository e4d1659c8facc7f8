"""The one-feature optimum of binned values (floats; integers the engine holds
as floats), from the 2**16-bin histogram.

The dynamic program cannot take every distinct value of a large float image
(millions). It runs on items: runs of consecutive *atoms* (bins, then values)
kept together, each with its count, mean and own sum of squares. Items start as
runs of 256 bins; after each program on them (:mod:`.bounds_1d`) the items on
both sides of an edge that holds no optimal boundary are merged, and the items
that an optimal boundary may split are cut into runs of 64 bins, then 16, 4
and single bins. The bins still in question (not of one value) are gathered
from the pixels: their distinct values become atoms, in runs of 256 values,
then 64, 16, 4 and one by one. The optimum of the last items is the global
optimum; every program is small, whatever the number of distinct values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bounds_1d import where_boundaries_may_lie
from .dp_1d import optimum_of_items
from .histogram_1d import Hist1, Lloyd1

#: the bins, then the gathered values, of the items of the successive programs:
#: runs of 256, 64, 16, 4, 1
_BIN_RUNS = _VALUE_RUNS = (256, 64, 16, 4, 1)
#: most clusters where a bin holds several values (beyond, the programs on the
#: values near the many boundaries take seconds: a Lloyd fixed point instead)
MAX_K_SPREAD = 32
#: the values gathered: at most a quarter of the pixels, or this many
_MAX_GATHERED = 1 << 20


@dataclass(frozen=True)
class _Atoms:
    """Runs of values in value order: count, mean, own sum of squares, least and
    greatest value; ``whole`` where no optimal boundary lies inside."""

    w: np.ndarray
    mean: np.ndarray
    within: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    whole: np.ndarray

    def runs(self, cuts: np.ndarray) -> _Atoms:
        """The runs of atoms from each of ``cuts`` (the first is 0) to the next."""
        shift = np.average(self.mean, weights=self.w)
        x = self.mean - shift
        w = np.add.reduceat(self.w, cuts)
        s = np.add.reduceat(self.w * x, cuts)
        q = np.add.reduceat(self.within + self.w * x * x, cuts)
        mean = s / w
        within = np.maximum(q - s * mean, 0.0)
        last = np.append(cuts[1:], self.w.size) - 1
        whole = np.minimum.reduceat(self.whole, cuts)
        return _Atoms(w, mean + shift, within, self.lo[cuts], self.hi[last], whole)

    def __add__(self, other: _Atoms) -> _Atoms:
        """Both, in value order (``other``'s values lie between ``self``'s runs:
        sorted by their least values)."""
        pairs = zip(self._fields(), other._fields(), strict=True)
        fields = [np.concatenate(pair) for pair in pairs]
        order = np.argsort(fields[3], kind="stable")
        return _Atoms(*(f[order] for f in fields))

    def take(self, which: np.ndarray) -> _Atoms:
        """The atoms ``which``."""
        return _Atoms(*(f[which] for f in self._fields()))

    def _fields(self) -> tuple:
        return (self.w, self.mean, self.within, self.lo, self.hi, self.whole)


def _narrow(atoms: _Atoms, cuts: np.ndarray, runs: tuple, k: int) -> tuple | None:
    """From items of ``atoms`` starting at ``cuts``: after each program, merge
    over the edges that hold no optimal boundary and cut the items an optimal
    boundary may split into the next of ``runs`` atoms. Returns the last cuts
    and, per atom, whether an optimal boundary may lie inside it (from the last
    program); None when a program's bounds would be too large."""
    whole = atoms.whole.copy()  # per atom: no optimal boundary inside
    sealed = np.zeros(whole.size, np.bool_)  # nor at the edge before it
    for run in (*runs[1:], None):
        items = atoms.runs(cuts)
        inner = sealed.copy()
        inner[cuts] = True  # an item's own edge is not inside it
        fields = (items.w, items.mean, items.within, items.lo, items.hi)
        item_whole = np.minimum.reduceat(whole & inner, cuts)
        found = where_boundaries_may_lie(*fields, item_whole, k)
        if found is None:
            return None
        split, possible = found
        length = np.diff(np.append(cuts, atoms.w.size))
        # no optimal boundary inside the items kept whole, nor at the edges
        # that hold none: those items merge over those edges
        kept = np.repeat(~split, length)
        whole |= kept
        sealed |= kept
        sealed[cuts[~possible[:-1]]] = True
        keep = possible[:-1] | split
        keep[0] = True
        if run is None:
            open_atoms = ~whole & np.repeat(split & (length == 1), length)
            return cuts[keep], open_atoms
        pieces = [cuts[keep]]
        for a, n in zip(cuts[split], length[split], strict=True):
            pieces.append(np.arange(a, a + n, run))
        cuts = np.unique(np.concatenate(pieces))
    raise AssertionError("unreachable")


def binned_optimum(px, hist: Hist1, k: int) -> tuple[float, np.ndarray] | None:
    """The optimum of the binned one-feature pixels ``px`` (histogram ``hist``
    of 2**16 bins) in ``k`` clusters, as (inertia, (k, 1) centroids); None when
    more than a quarter of the pixels (and :data:`_MAX_GATHERED`) would be
    gathered (the memory allowed for gathered pixels), a program's bounds grow
    too large, or ``k`` exceeds :data:`MAX_K_SPREAD` and a bin holds several
    values."""
    b = hist.bins
    acc = hist.acc[b]
    mean = acc[:, 1] / acc[:, 0]
    lo, hi = (r[b] for r in hist.ranges)
    within = np.maximum(acc[:, 2] - acc[:, 1] * mean, 0.0)
    bins = _Atoms(acc[:, 0], mean, within, lo, hi, lo == hi)
    if k > MAX_K_SPREAD and not bins.whole.all():
        return None
    found = _narrow(bins, _run_starts(b // _BIN_RUNS[0]), _BIN_RUNS, k)
    if found is None:
        return None
    cuts, open_bins = found
    if not open_bins.any():
        return _optimum(bins.runs(cuts), k)
    if bins.w[open_bins].sum() > max(px.n // 4, _MAX_GATHERED):
        return None
    # the items kept whole, and the values of the bins opened: the atoms of the
    # next programs, each item alone and the values in runs within their bin
    kept = bins.runs(cuts).take(~open_bins[cuts])
    kept = _Atoms(kept.w, kept.mean, kept.within, kept.lo, kept.hi, kept.w > 0)
    values = _values_of(px, hist, b[open_bins])
    atoms = kept + values
    in_bin = np.clip(((values.lo - hist.lo) * hist.inv).astype(np.int64), 0, None)
    group = np.concatenate([-1 - np.arange(kept.w.size), in_bin])
    group = group[np.argsort(np.concatenate([kept.lo, values.lo]), kind="stable")]
    found = _narrow(atoms, _run_starts(group, _VALUE_RUNS[0]), _VALUE_RUNS, k)
    if found is None:
        return None
    return _optimum(atoms.runs(found[0]), k)


def _run_starts(group: np.ndarray, run: int | None = None) -> np.ndarray:
    """The first of each run of equal ``group`` (and of each ``run`` within)."""
    n = group.size
    new = np.ones(n, np.bool_)
    new[1:] = group[1:] != group[:-1]
    if run is not None:
        at = np.flatnonzero(new)
        rank = np.arange(n) - np.repeat(at, np.diff(np.append(at, n)))
        new |= rank % run == 0
    return np.flatnonzero(new)


def _optimum(items: _Atoms, k: int) -> tuple[float, np.ndarray]:
    return optimum_of_items(items.w, items.mean, items.within, k)


def _values_of(px, hist: Hist1, bins: np.ndarray) -> _Atoms:
    """The distinct values in ``bins`` as atoms, gathered in one pass."""
    lloyd = Lloyd1(px, hist)
    selected = np.zeros(hist.acc.shape[0], np.bool_)
    selected[bins] = True
    lloyd.gather(selected)
    values, counts = np.unique(lloyd.gathered[2], return_counts=True)
    zero = np.zeros(values.size)
    return _Atoms(counts.astype(np.float64), values, zero, values, values, zero == 0)
