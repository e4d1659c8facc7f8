"""Help choosing k: cluster one random sample of pixels for every k and score it.

No napari and no Qt here. The image is read once: its pixel matrix is made as
:func:`segment` makes it (channel layout, alpha, mask, NaN), one random sample of
the valid pixels is drawn, and every k is fitted on that sample only, so trying nine
values of k costs about as much as reading a few hundred thousand pixels. With
``mixture=``, every k is a Gaussian mixture fitted by :func:`segment` on the sample,
and scored by its BIC too.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from . import arrays as _arrays
from . import engine as _engine
from . import features as _features
from . import lazy as _lazy
from . import stats as _stats
from .defaults import DEFAULT_N_INIT
from .options import MAX_CLUSTERS, Options, check_mixture, check_positive_int
from .segment import segment
from .stats import sample_pixels

#: criteria that :func:`suggest_n_clusters` can pick k by ("bic": Gaussian
#: mixtures only)
CRITERIA = ("silhouette", "elbow", "bic")
#: a lazy image is sampled from a regular grid of at least this many pixels
LAZY_REGION_PIXELS = 1 << 22
#: rows of the pairwise-distance matrix computed at once by the silhouette
_SILHOUETTE_CHUNK = 512


@dataclass(frozen=True, eq=False)
class KSuggestion:
    """The outcome of :func:`suggest_n_clusters`: one score per tried k.

    Attributes
    ----------
    k_values : tuple of int
        The numbers of clusters tried, increasing.
    inertia : (n_k,) ndarray of float64
        For each k, the k-means inertia on the sampled pixels (sum of squared
        distances to the nearest centroid, in the image's units).
    silhouette : (n_k,) ndarray of float64
        For each k, the mean silhouette coefficient (from -1 to 1, higher is better)
        of the silhouette subsample; NaN where it is not defined (fewer than two
        clusters in the subsample, or one cluster per point).
    suggested : int
        The k picked by ``criterion``.
    criterion : {"silhouette", "elbow", "bic"}
        How ``suggested`` was picked (see :func:`suggest_n_clusters`).
    n_samples : int
        Pixels in the sample every k was fitted on.
    n_silhouette : int
        Pixels of the sample the silhouettes were computed on.
    bic : (n_k,) ndarray of float64, optional
        With ``mixture=``: for each k, the Bayesian information criterion of the
        Gaussian mixture fitted on the sample (:meth:`SegmentationResult.bic`;
        lower is better). None for k-means.
    mixture : {None, "full", "diag"}
        The covariance type of the Gaussian mixtures scored (None: k-means).
    """

    k_values: tuple[int, ...]
    inertia: np.ndarray
    silhouette: np.ndarray
    suggested: int
    criterion: str
    n_samples: int
    n_silhouette: int
    bic: np.ndarray | None = None
    mixture: str | None = None

    def best(self, criterion: str | None = None) -> int:
        """The k picked by ``criterion`` (``self.criterion`` when None), from the
        stored scores: no refitting.

        Parameters
        ----------
        criterion : {"silhouette", "elbow", "bic"}, optional
            See :func:`suggest_n_clusters`.

        Returns
        -------
        int

        Raises
        ------
        ValueError
            If ``criterion`` is unknown, is "elbow" with fewer than 3 values of k,
            or is "bic" for k-means (no ``mixture``).
        """
        return _pick(
            self.k_values,
            self.inertia,
            self.silhouette,
            self.criterion if criterion is None else criterion,
            bic=self.bic,
        )

    def elbow_distances(self) -> np.ndarray:
        """For each k, how far the normalised inertia curve lies below its chord
        (0 at both ends); the elbow criterion picks the largest."""
        return _elbow_distances(self.k_values, self.inertia)


def suggest_n_clusters(
    image,
    k_range: Iterable[int] = range(2, 11),
    *,
    sample_size: int = 200_000,
    silhouette_size: int = 5_000,
    random_state: int | None = 0,
    criterion: str | None = None,
    mixture: str | None = None,
    channel_axis: int | None = None,
    rgb: bool | None = None,
    mask=None,
    color_space: str = "rgb",
    color_features: Sequence[str] | None = None,
    channel_weights: Sequence[float] | None = None,
    normalize: bool = False,
    spatial_weight: float = 0.0,
    scale: Sequence[float] | None = None,
    smoothing: float = 0.0,
    n_init: int = DEFAULT_N_INIT,
    max_iter: int = 300,
) -> KSuggestion:
    """Suggest a number of clusters for :func:`segment` by scoring several k.

    The image is read once: its features are made as :func:`segment` makes them
    (same channel layout and feature options; with the default options this is a
    view of the image, no copy), one random sample of ``sample_size`` valid pixels
    is drawn (pixels that :func:`segment` would leave out — outside ``mask``, fully
    transparent, NaN or infinite — are never drawn), and k-means runs on that sample
    for every k in ``k_range``. A lazy image (dask, zarr) is not read whole: the
    sample is drawn from a regular grid of pixels spread over it (as :func:`segment`
    fits a large lazy image; at least 4,194,304 pixels, or ``4 · sample_size``).
    Each k gets two scores:

    - the **inertia** of the sample (sum of squared distances to the nearest
      centroid; it always falls as k grows);
    - the mean **silhouette coefficient** of a random subsample of
      ``silhouette_size`` of the sampled pixels, the same pixels for every k. It is
      exactly what ``sklearn.metrics.silhouette_score(points, labels)`` gives on
      that subsample, computed for all k in one pass over the pairwise distances
      (scikit-learn would recompute them for every k).

    With ``mixture="full"`` or ``"diag"``, each k is a Gaussian mixture fitted on
    the sample as ``segment(..., mixture=mixture)`` fits one (EM from the k-means
    fit); the inertia and silhouette are then those of its labels (each pixel's
    most probable component), and each k gets a third score:

    - the **BIC** of the mixture on the sample (:meth:`SegmentationResult.bic`,
      as scikit-learn's ``GaussianMixture.bic``; lower is better): the fit's
      log-likelihood penalised by its number of parameters.

    The suggestion follows ``criterion``:

    - ``"silhouette"`` (default for k-means): the k with the highest mean
      silhouette, i.e. the clusters that are tightest and farthest apart;
    - ``"elbow"``: the k of the "elbow" of the inertia curve, the point farthest
      below the chord from its first to its last point once k and inertia are both
      scaled to [0, 1]. It never picks the first or last k of the range, so it needs
      at least 3 values of k; the silhouette can pick any;
    - ``"bic"`` (default with ``mixture``): the k of the lowest BIC.

    Parameters
    ----------
    image : array_like
        An image as :func:`segment` takes it (2D or nD, greyscale, RGB(A) or
        multichannel with ``channel_axis``). Never modified.
    k_range : iterable of int
        The numbers of clusters to try, each from 2 to 254 (sorted; duplicates are
        dropped). Values above the number of distinct values in the sample are
        dropped with a warning.
    sample_size : int
        Pixels drawn at random (without replacement) and clustered for every k; all
        valid pixels when the image has fewer.
    silhouette_size : int
        Sampled pixels the silhouettes are computed on (the cost grows with its
        square: 5,000 pixels take a fraction of a second).
    random_state : int or None
        Seed of the sampling and of the k-means++ starts; the same image and seed
        give the same suggestion.
    criterion : {"silhouette", "elbow", "bic"}, optional
        How the suggested k is picked (see above; None: "bic" with ``mixture``,
        else "silhouette"); :meth:`KSuggestion.best` gives another criterion's
        answer without refitting. "bic" needs ``mixture``.
    mixture : {None, "full", "diag"}
        None: score k-means. "full" or "diag": score Gaussian mixtures with full
        or diagonal covariances (as :func:`segment`'s ``mixture``), BIC included.
    channel_axis, rgb, mask
        As for :func:`segment`: the channel layout and the pixels to cluster.
    color_space, color_features, channel_weights, normalize, spatial_weight
        As for :func:`segment`: the features k-means sees (see below).
    scale, smoothing
        As for :func:`segment`: the features k-means sees, so that k is scored in
        the space the segmentation will use (distances, inertia and silhouettes
        are in that space).
    n_init, max_iter
        As for :func:`segment`: k-means++ starts and Lloyd iteration cap, per k.

    Returns
    -------
    KSuggestion
        ``k_values``, ``inertia`` and ``silhouette`` (and ``bic`` with
        ``mixture``) per k, the ``suggested`` k and the ``criterion``.

    Raises
    ------
    ValueError
        If ``k_range`` is empty or holds a value that is not an integer from 2 to
        254; if the sample holds fewer than 2 distinct values (nothing to split);
        if ``criterion`` is unknown, is "elbow" with fewer than 3 values of k
        left, or is "bic" without ``mixture``; if ``mixture`` is not None, "full"
        or "diag"; if a size is not a positive integer; or if the image, a layout
        option or a feature option is refused as by :func:`segment`.

    Warns
    -----
    UserWarning
        When values of ``k_range`` above the number of distinct sampled values are
        dropped.

    See Also
    --------
    segment : segment the image with the chosen k.

    Examples
    --------
    >>> from skimage import data
    >>> from napari_kmeans_seg import segment, suggest_n_clusters
    >>> image = data.astronaut()
    >>> s = suggest_n_clusters(image, range(2, 8))
    >>> s.k_values
    (2, 3, 4, 5, 6, 7)
    >>> s.suggested in s.k_values
    True
    >>> s.best("elbow") in s.k_values[1:-1]
    True
    >>> result = segment(image, s.suggested)

    Gaussian mixtures, scored by their BIC:

    >>> g = suggest_n_clusters(image, range(2, 5), mixture="diag", sample_size=5000)
    >>> g.criterion, g.bic.shape
    ('bic', (3,))
    """
    mixture = check_mixture(mixture)
    criterion = _check_criterion(criterion, mixture)
    ks = _check_k_range(k_range)
    sample_size = check_positive_int(sample_size, "sample_size")
    silhouette_size = check_positive_int(silhouette_size, "silhouette_size")
    options = Options.checked(
        channel_axis=channel_axis,
        rgb=rgb,
        color_space=color_space,
        color_features=color_features,
        channel_weights=channel_weights,
        normalize=normalize,
        spatial_weight=spatial_weight,
        scale=scale,
        smoothing=smoothing,
        random_state=random_state,
        n_init=n_init,
        max_iter=max_iter,
    )
    rng = np.random.default_rng(options.random_state)
    P = _sample(image, options, mask, sample_size, rng)
    ks = _feasible(P, ks, criterion)
    n_sub = min(silhouette_size, len(P))
    sub = np.sort(rng.choice(len(P), size=n_sub, replace=False))
    if mixture is None:
        inertia, sub_labels = _fit_each_k(P, ks, options, sub)
        bic = None
    else:
        inertia, sub_labels, bic = _fit_mixture_each_k(P, ks, options, sub, mixture)
        bic.flags.writeable = False
    silhouette = silhouette_scores(P[sub], sub_labels, list(ks))
    inertia.flags.writeable = silhouette.flags.writeable = False
    return KSuggestion(
        k_values=ks,
        inertia=inertia,
        silhouette=silhouette,
        suggested=_pick(ks, inertia, silhouette, criterion, bic=bic),
        criterion=criterion,
        n_samples=len(P),
        n_silhouette=n_sub,
        bic=bic,
        mixture=mixture,
    )


def _check_criterion(criterion: str | None, mixture: str | None) -> str:
    """``criterion``, its default for ``mixture`` when None; a ValueError for an
    unknown one, or "bic" without a mixture."""
    if criterion is None:
        return "silhouette" if mixture is None else "bic"
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, not {criterion!r}")
    if criterion == "bic" and mixture is None:
        raise ValueError(
            "criterion='bic' scores Gaussian mixtures: pass mixture='full' or "
            "'diag' (or use criterion='silhouette' for k-means)"
        )
    return criterion


def _fit_mixture_each_k(
    P: np.ndarray,
    ks: tuple[int, ...],
    options: Options,
    sub: np.ndarray,
    mixture: str,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """A Gaussian mixture of the sample ``P`` for each k, fitted by :func:`segment`
    (the sample as a one-row image of ``P.shape[1]`` channels, its features as
    they are): the inertias of its labels, the 0-based labels of the silhouette
    subsample ``sub``, and the BICs (:meth:`SegmentationResult.bic`)."""
    inertia, bic = np.empty(len(ks)), np.empty(len(ks))
    sub_labels = []
    for i, k in enumerate(ks):
        result = segment(
            P[None],
            k,
            channel_axis=-1,
            rgb=False,
            random_state=options.random_state,
            n_init=options.n_init,
            max_iter=options.max_iter,
            mixture=mixture,
        )
        inertia[i] = result.inertia
        bic[i] = result.bic()
        sub_labels.append(result.labels[0, sub].astype(np.intp) - 1)
    return inertia, sub_labels, bic


def _fit_each_k(
    P: np.ndarray, ks: tuple[int, ...], options: Options, sub: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """k-means of the sample ``P`` for each k: the inertias, and the 0-based labels
    of the silhouette subsample ``sub``."""
    inertia = np.empty(len(ks))
    sub_labels = []
    for i, k in enumerate(ks):
        fit = _engine.fit_predict(
            P,
            n_clusters=k,
            random_state=options.random_state,
            n_init=options.n_init,
            max_iter=options.max_iter,
        )
        inertia[i] = fit.inertia
        sub_labels.append(fit.labels[sub].astype(np.intp) - 1)
    return inertia, sub_labels


def _sample(
    image, options: Options, mask, sample_size: int, rng: np.random.Generator
) -> np.ndarray:
    """The features of ``sample_size`` random valid pixels of ``image`` (of a
    bounded region of a lazy image)."""
    layout_for = partial(
        _features.guess_layout, channel_axis=options.channel_axis, rgb=options.rgb
    )
    region = None
    if _arrays.is_lazy(image):  # a bounded region of it, never the whole
        darr, layout = _lazy.open_image(image, layout_for)
        region_pixels = max(LAZY_REGION_PIXELS, 4 * sample_size)
        region = _lazy.Region.of(darr.shape, layout, region_pixels)
        mask = _lazy.as_mask(mask, layout.spatial_shape(darr.shape))
        arr, mask = region.read(darr, mask)
    else:
        image, mask = _features.unmask(image, mask, layout_for)
        arr = _features.check_image(image)
        layout = layout_for(arr.shape)
    features = options.feature_options(layout, len(layout.spatial_shape(arr.shape)))
    if region is not None and not region.whole:
        _lazy.check_region_smoothing(features, region_pixels)
    feats = _features.build_features(
        arr,
        layout,
        mask,
        features,
        origin=None if region is None else region.origin,
        step=None if region is None else region.step,
    )
    P = sample_pixels(feats.X, feats.keep, sample_size, rng)
    if len(P) == 0:
        raise ValueError("there is no pixel to cluster (all are masked or NaN)")
    return P


def _feasible(P: np.ndarray, ks: tuple[int, ...], criterion: str) -> tuple[int, ...]:
    """The values of ``ks`` the sample ``P`` has enough distinct values for (with
    a warning when some are dropped)."""
    n_distinct = _stats.n_distinct(P, ks[-1])
    if n_distinct < 2:
        raise ValueError(
            "the sampled pixels hold only 1 distinct value: there is nothing to split"
        )
    if n_distinct < ks[-1]:
        kept = tuple(k for k in ks if k <= n_distinct)
        warnings.warn(
            f"the sampled pixels hold only {n_distinct} distinct values; k above "
            f"{n_distinct} is not tried (k_range {_fmt(ks)} → {_fmt(kept or (2,))})",
            UserWarning,
            stacklevel=3,
        )
        ks = kept or (2,)  # n_distinct >= 2 here
    if criterion == "elbow" and len(ks) < 3:
        raise ValueError(
            f"the elbow criterion needs at least 3 values of k, got {_fmt(ks)}; "
            "widen k_range or use criterion='silhouette'"
        )
    return ks


def silhouette_scores(
    points: np.ndarray, label_sets: list[np.ndarray], n_clusters: list[int]
) -> np.ndarray:
    """Mean silhouette coefficient of ``points`` under each labelling, in one pass.

    Equal to ``sklearn.metrics.silhouette_score(points, labels)`` for each
    ``labels`` (Euclidean distance; a point alone in its cluster scores 0), NaN
    where scikit-learn would refuse (fewer than 2 or more than ``n - 1`` clusters
    present). The pairwise distances are computed once, row block by row block,
    and multiplied by the stacked one-hot matrices of all labellings, so that the
    sum of distances of every point to every cluster of every labelling comes out
    of one matrix product per block.

    Parameters
    ----------
    points : (n, d) ndarray
        The points.
    label_sets : list of (n,) int ndarray
        Labellings, each with values in ``0 .. n_clusters[i] - 1``.
    n_clusters : list of int
        Number of clusters of each labelling.

    Returns
    -------
    (len(label_sets),) ndarray of float64
    """
    P = np.asarray(points, dtype=np.float64)
    n = len(P)
    offsets = np.concatenate([[0], np.cumsum(n_clusters)]).astype(np.intp)
    onehot = np.zeros((n, offsets[-1]))
    rows = np.arange(n)
    for labels, off in zip(label_sets, offsets[:-1], strict=True):
        onehot[rows, off + labels] = 1.0
    sizes = onehot.sum(axis=0)
    sums = np.empty((n, offsets[-1]))  # sum of distances of point i to cluster c
    d2 = np.empty((min(n, _SILHOUETTE_CHUNK), n))
    tmp = np.empty_like(d2)
    for start in range(0, n, _SILHOUETTE_CHUNK):
        block = P[start : start + _SILHOUETTE_CHUNK]
        D, T = d2[: len(block)], tmp[: len(block)]
        # feature by feature, in place: exact, and faster than BLAS for few features
        np.subtract.outer(block[:, 0], P[:, 0], out=D)
        D *= D
        for j in range(1, P.shape[1]):
            np.subtract.outer(block[:, j], P[:, j], out=T)
            T *= T
            D += T
        np.sqrt(D, out=D)
        sums[start : start + len(block)] = D @ onehot
    scores = np.full(len(label_sets), np.nan)
    for i, (labels, lo, hi) in enumerate(
        zip(label_sets, offsets[:-1], offsets[1:], strict=True)
    ):
        size = sizes[lo:hi]
        present = np.count_nonzero(size)
        if not 2 <= present <= n - 1:
            continue
        S = sums[:, lo:hi]
        own_size = size[labels]
        with np.errstate(divide="ignore", invalid="ignore"):
            intra = S[rows, labels] / (own_size - 1)
            mean_to = S / size
        mean_to[rows, labels] = np.inf
        mean_to[:, size == 0] = np.inf
        inter = mean_to.min(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (inter - intra) / np.maximum(intra, inter)
        s[own_size <= 1] = 0.0
        scores[i] = float(np.mean(np.nan_to_num(s)))
    return scores


def _elbow_distances(ks: tuple[int, ...], inertia: np.ndarray) -> np.ndarray:
    k = np.asarray(ks, dtype=np.float64)
    y = np.asarray(inertia, dtype=np.float64)
    if len(k) < 2:
        return np.zeros(len(k))
    x = (k - k[0]) / (k[-1] - k[0])
    span = y.max() - y.min()
    y = (y - y.min()) / span if span > 0 else np.zeros_like(y)
    # signed distance below the chord from (0, y0) to (1, y_end)
    dx, dy = 1.0, y[-1] - y[0]
    return (dy * x - dx * (y - y[0])) / np.hypot(dx, dy)


def _pick(ks, inertia, silhouette, criterion: str, *, bic=None) -> int:
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, not {criterion!r}")
    if criterion == "bic":
        if bic is None:
            raise ValueError(
                "the BIC scores Gaussian mixtures: suggest_n_clusters(..., "
                "mixture='full') gives it"
            )
        if np.all(np.isnan(bic)):
            return int(ks[0])
        return int(ks[int(np.nanargmin(bic))])
    if criterion == "elbow":
        if len(ks) < 3:
            raise ValueError(
                f"the elbow criterion needs at least 3 values of k, got {_fmt(ks)}"
            )
        return int(ks[int(np.argmax(_elbow_distances(ks, inertia)))])
    if np.all(np.isnan(silhouette)):  # no defined silhouette: the elbow, else smallest
        return int(ks[int(np.argmax(_elbow_distances(ks, inertia)))])
    return int(ks[int(np.nanargmax(silhouette))])


def _check_k_range(k_range) -> tuple[int, ...]:
    try:
        values = list(k_range)
    except TypeError:
        raise ValueError(
            f"k_range must be an iterable of integers such as range(2, 11), not "
            f"{k_range!r}"
        ) from None
    if not values:
        raise ValueError("k_range is empty; try range(2, 11)")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise ValueError(f"k_range must hold integers, got {k!r}")
        if not 2 <= k <= MAX_CLUSTERS:
            raise ValueError(
                f"every k in k_range must be between 2 and {MAX_CLUSTERS}, got {int(k)}"
            )
    return tuple(sorted({int(k) for k in values}))


def _fmt(ks: tuple[int, ...]) -> str:
    if len(ks) > 2 and ks == tuple(range(ks[0], ks[-1] + 1)):
        return f"{ks[0]}..{ks[-1]}"
    return ", ".join(map(str, ks))
