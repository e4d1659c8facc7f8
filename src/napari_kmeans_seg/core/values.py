"""Which pixel values the engine takes, and how: dtypes, magnitudes, offsets and
64-bit integers that float64 (in which k-means computes) can or cannot keep
apart."""

from __future__ import annotations

import numpy as np

#: largest magnitude of a pixel value: squared distances must stay finite in float64
MAX_MAGNITUDE = 1e150
#: a float feature whose spread is at most this share of its offset (its values
#: share about 20 leading bits) is clustered after subtracting that offset
OFFSET_SHARE = 2.0**-20
#: float data whose largest magnitude is below this is scaled by a power of two
#: (exactly) before clustering: the squared differences of its distinct values
#: could underflow in float64
MIN_MAGNITUDE = 2.0**-400


def magnitude_ok(top: float) -> bool:
    """Whether float values of largest magnitude ``top`` are clustered as they
    are (neither refused as too large nor scaled as too small)."""
    return top <= MAX_MAGNITUDE and not 0.0 < top < MIN_MAGNITUDE


#: integers up to this magnitude are exact in float64, which k-means computes in
EXACT_INTEGER_LIMIT = 2**53


#: distinct 64-bit integers beyond 2**53 fewer float64 steps apart than this
#: (at their magnitude), in an image too spread for the engine to subtract an
#: offset, are refused: means and midpoints between values a few steps apart
#: round onto them, and Lloyd iterations stop short of a fixed point (seen up
#: to 64 steps apart with three features)
MIN_FLOAT_STEPS = 1 << 12


def check_exact_integers(X: np.ndarray, name: str = "image") -> None:
    """Refuse 64-bit integer values that float64, in which k-means computes,
    would merge or cannot keep apart: distinct values of magnitude 2**53 or
    more that round to the same float (2**53 itself included: 2**53 + 1 rounds
    onto it), or to floats fewer than :data:`MIN_FLOAT_STEPS` steps apart
    (unless all values sit on an offset that the engine subtracts, see
    :func:`offset_of`). Counted on the integers. Values far enough apart (e.g.
    a dtype's extremes) are clustered.

    Parameters
    ----------
    X : ndarray
        The values (any shape).
    name : str
        The variable ``X`` is, for the message ("image": "the image").

    Raises
    ------
    ValueError
        If float64 merges or crowds some of the distinct values; the message
        says which and what to do.
    """
    if X.dtype.kind not in "iu" or X.dtype.itemsize < 8 or X.size == 0:
        return
    flat = X.reshape(-1)
    big = flat[(flat >= EXACT_INTEGER_LIMIT) | (flat <= -EXACT_INTEGER_LIMIT)]
    if big.size == 0:
        return
    # below 2**53 every integer is its own float, and none rounds across it
    distinct = np.unique(big)
    floats = np.unique(distinct.astype(np.float64))
    what = "the image" if name == "image" else name
    if floats.size < distinct.size:
        raise ValueError(
            f"{what} holds {distinct.size} distinct {X.dtype} values at or beyond "
            f"2**53 in magnitude, which float64 (what k-means computes in) merges "
            f"into {floats.size}; {_integer_advice(flat, name)}"
        )
    lo, hi = float(flat.min()), float(flat.max())
    close = None if np.any(offset_of(lo, hi)) else _closest_steps(floats)
    if close is not None:  # not on an offset the engine subtracts (exactly)
        a, b = (int(v) for v in close)
        raise ValueError(
            f"{what} holds {X.dtype} values at or beyond 2**53 in magnitude only a "
            f"few float64 steps apart ({a} and {b}): k-means in float64 cannot "
            f"keep them apart exactly; {_integer_advice(flat, name)}"
        )


def _closest_steps(values: np.ndarray) -> tuple[float, float] | None:
    """The first two neighbours of the sorted distinct floats ``values`` fewer
    than :data:`MIN_FLOAT_STEPS` float64 steps apart, or None."""
    if values.size < 2:
        return None
    step = np.spacing(np.maximum(np.abs(values[:-1]), np.abs(values[1:])))
    near = np.flatnonzero(np.diff(values) < MIN_FLOAT_STEPS * step)
    return None if near.size == 0 else (values[near[0]], values[near[0] + 1])


def _integer_advice(flat: np.ndarray, name: str) -> str:
    """What to do with 64-bit integers float64 cannot cluster exactly."""
    if int(flat.max()) - int(flat.min()) <= EXACT_INTEGER_LIMIT:
        return (
            f"subtract the minimum first ({name} - {name}.min()), which makes "
            "them exact"
        )
    return (
        "their range is too wide for float64 to keep them apart even after "
        f"subtracting the minimum; convert to float64 ({name}.astype(float)) if "
        "merging them is acceptable"
    )


def offset_of(lo, hi) -> np.ndarray:
    """Per feature, the offset to subtract before clustering values from ``lo``
    to ``hi``: the value nearest 0 where they share their sign and about 20
    leading bits (a spread of at most :data:`OFFSET_SHARE` of it), else 0.
    Subtracting it is exact (the values lie within a factor 2 of it); left in,
    it would crowd the values' means and midpoints into a few float64 steps."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    with np.errstate(invalid="ignore"):
        near = np.where(lo > 0, lo, np.where(hi < 0, hi, 0.0))
        crowded = np.isfinite(near) & (hi - lo <= np.abs(near) * OFFSET_SHARE)
    return np.where(crowded, near, 0.0)


def as_supported(X: np.ndarray) -> np.ndarray:
    """``X`` in a dtype the kernels are compiled for, converted only if needed and
    always exactly: uint8, uint16, float32 and float64 pass through; bool → uint8;
    int8, int16 and float16 → float32; other integers → float64.

    Raises
    ------
    ValueError
        If distinct integers beyond ``2**53`` in magnitude would be merged by the
        conversion to float64 (see :func:`check_exact_integers`).
    """
    dt = X.dtype
    if not dt.isnative:  # big-endian data on a little-endian machine, or vice versa
        X = X.astype(dt.newbyteorder("="))
        dt = X.dtype
    if dt in (np.uint8, np.uint16, np.float32, np.float64):
        return X
    if dt == np.bool_:
        return X.view(np.uint8)
    if dt in (np.int8, np.int16, np.float16):
        return X.astype(np.float32)
    if dt.kind in "iu":
        check_exact_integers(X)
        return X.astype(np.float64)
    raise TypeError(f"pixels of dtype {dt} cannot be clustered")
