"""Compiled loops of the Gaussian mixture fit (numba; ``nogil``, so threads run in
parallel). Conventions as in :mod:`.kernels`: each pass reads the rows of ``X``
(any real dtype and strides) and never writes to it; a row is valid when the
optional mask allows it and all its values are finite.

A component ``c`` is given by its mean ``means[c]``, the upper-triangular
Cholesky factor of its precision ``prec[c]`` (so that ``(x - mean) @ prec[c]``
whitens ``x``, as scikit-learn's ``precisions_cholesky_``) and ``const[c] =
log weight + log det prec[c] - d/2 · log 2π``: its weighted log density at ``x``
is ``const[c] - ½ ‖(x - mean) @ prec[c]‖²``.

Sums are taken around the current means (``x - mean``), not around 0, so that
the new covariances lose nothing to cancellation when the data sit on an offset.
"""

from __future__ import annotations

import math

import numpy as np

from .compile_cache import njit
from .kernels import _OPTS, _valid


@njit(**_OPTS)
def _log_densities(X, i, means, prec, const, diff, lp):
    """``lp[c]``: the weighted log density of row ``i`` under each component
    (``diff[c]``: the row minus the mean); returns the largest."""
    k, d = means.shape
    top = -np.inf
    for c in range(k):
        for a in range(d):
            diff[c, a] = np.float64(X[i, a]) - means[c, a]
        s = 0.0
        for a in range(d):
            y = 0.0
            for b in range(a + 1):
                y += diff[c, b] * prec[c, b, a]
            s += y * y
        lp[c] = const[c] - 0.5 * s
        if lp[c] > top:
            top = lp[c]
    return top


@njit(**_OPTS)
def em_kernel(X, mask, use_mask, w, use_w, means, prec, const, N, S1, S2):
    """One E step over the rows of ``X`` with the sums of the M step: per
    component the responsibilities ``N[c]`` (times the row weights ``w`` when
    ``use_w``), ``S1[c] = Σ r·(x - mean)`` and the upper triangle of ``S2[c] = Σ
    r·(x - mean)(x - mean)ᵀ``. Returns the weighted sum of the rows' log
    likelihoods and of their weights."""
    k, d = means.shape
    diff = np.empty((k, d))
    lp = np.empty(k)
    ll = 0.0
    total = 0.0
    for i in range(X.shape[0]):
        if not _valid(X, i, mask, use_mask):
            continue
        wi = w[i] if use_w else 1.0
        top = _log_densities(X, i, means, prec, const, diff, lp)
        t = 0.0
        for c in range(k):
            lp[c] = math.exp(lp[c] - top)
            t += lp[c]
        ll += wi * (top + math.log(t))
        total += wi
        for c in range(k):
            if lp[c] == 0.0:  # exactly nothing to add
                continue
            r = lp[c] / t * wi
            N[c] += r
            for a in range(d):
                rd = r * diff[c, a]
                S1[c, a] += rd
                for b in range(a, d):
                    S2[c, a, b] += rd * diff[c, b]
    return ll, total


@njit(**_OPTS)
def hard_kernel(X, mask, use_mask, w, use_w, means, N, S1, S2):
    """The sums of :func:`em_kernel` for the partition of the rows by their
    nearest mean (the first on ties): the Gaussian parameters of a k-means
    result."""
    k, d = means.shape
    for i in range(X.shape[0]):
        if not _valid(X, i, mask, use_mask):
            continue
        best = 0
        best_d = np.inf
        for c in range(k):
            s = 0.0
            for a in range(d):
                t = np.float64(X[i, a]) - means[c, a]
                s += t * t
            if s < best_d:
                best_d = s
                best = c
        wi = w[i] if use_w else 1.0
        N[best] += wi
        for a in range(d):
            da = np.float64(X[i, a]) - means[best, a]
            S1[best, a] += wi * da
            for b in range(a, d):
                S2[best, a, b] += wi * da * (np.float64(X[i, b]) - means[best, b])


@njit(**_OPTS)
def posterior_kernel(X, mask, use_mask, means, prec, const, probs, start, labels):
    """Each valid row's posterior probabilities ``probs[c, start + i]`` (float32;
    the whole array with an offset: one compiled layout whatever the rows) and its
    most probable component ``labels[i] = c + 1`` (the first on ties); invalid
    rows get 0 for both. Returns the sum of the valid rows' log likelihoods."""
    k, d = means.shape
    diff = np.empty((k, d))
    lp = np.empty(k)
    ll = 0.0
    for i in range(X.shape[0]):
        if not _valid(X, i, mask, use_mask):
            labels[i] = 0
            for c in range(k):
                probs[c, start + i] = 0.0
            continue
        top = _log_densities(X, i, means, prec, const, diff, lp)
        t = 0.0
        best = -1
        for c in range(k):
            if best < 0 and lp[c] == top:  # the first most probable
                best = c
            lp[c] = math.exp(lp[c] - top)
            t += lp[c]
        ll += top + math.log(t)
        labels[i] = best + 1
        for c in range(k):
            probs[c, start + i] = lp[c] / t
    return ll


@njit(**_OPTS)
def log_likelihood_kernel(X, mask, use_mask, means, prec, const, out):
    """Each valid row's log-likelihood ``out[i] = log Σ_c exp(weighted log
    density)`` under the mixture (float64; NaN for an invalid row)."""
    k, d = means.shape
    diff = np.empty((k, d))
    lp = np.empty(k)
    for i in range(X.shape[0]):
        if not _valid(X, i, mask, use_mask):
            out[i] = np.nan
            continue
        top = _log_densities(X, i, means, prec, const, diff, lp)
        t = 0.0
        for c in range(k):
            t += math.exp(lp[c] - top)
        out[i] = top + math.log(t)


@njit(**_OPTS)
def _code(X, i, lo, strides):
    code = 0
    for a in range(X.shape[1]):
        code += (np.int64(X[i, a]) - lo[a]) * strides[a]
    return code


@njit(**_OPTS)
def mark_codes(X, mask, use_mask, lo, strides, bits):
    """Set bit ``code`` of the bit set ``bits`` (uint64 words) for each valid
    integer row, its code ``Σ (x[a] - lo[a]) · strides[a]``."""
    for i in range(X.shape[0]):
        if _valid(X, i, mask, use_mask):
            code = _code(X, i, lo, strides)
            bits[code >> 6] |= np.uint64(1) << np.uint64(code & 63)


@njit(**_OPTS)
def _popcount(word):
    word = word - ((word >> np.uint64(1)) & np.uint64(0x5555555555555555))
    word = (word & np.uint64(0x3333333333333333)) + (
        (word >> np.uint64(2)) & np.uint64(0x3333333333333333)
    )
    word = (word + (word >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((word * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(**_OPTS)
def ranks_of(bits, ranks):
    """``ranks[w]``: the set bits in the words before ``w``; returns their total."""
    total = 0
    for w in range(bits.size):
        ranks[w] = total
        total += _popcount(bits[w])
    return total


@njit(**_OPTS)
def set_codes(bits, codes):
    """The set bits' positions, ascending."""
    j = 0
    for w in range(bits.size):
        word = bits[w]
        b = 0
        while word:
            if word & np.uint64(1):
                codes[j] = w * 64 + b
                j += 1
            word >>= np.uint64(1)
            b += 1


@njit(**_OPTS)
def count_ranked(X, mask, use_mask, lo, strides, bits, ranks, counts):
    """``counts[rank of code] += 1`` for each valid integer row (see
    :func:`mark_codes`): the count of each distinct row, in the order of codes."""
    for i in range(X.shape[0]):
        if _valid(X, i, mask, use_mask):
            code = _code(X, i, lo, strides)
            w = code >> 6
            below = bits[w] & ((np.uint64(1) << np.uint64(code & 63)) - np.uint64(1))
            counts[ranks[w] + _popcount(below)] += 1


@njit(**_OPTS)
def label_kernel(X, labels, means, N, S1, S2):
    """The sums of :func:`em_kernel` for the partition ``labels`` (1..k; 0: left
    out) of the rows."""
    d = means.shape[1]
    for i in range(X.shape[0]):
        c = np.int64(labels[i]) - 1
        if c < 0:
            continue
        N[c] += 1.0
        for a in range(d):
            da = np.float64(X[i, a]) - means[c, a]
            S1[c, a] += da
            for b in range(a, d):
                S2[c, a, b] += da * (np.float64(X[i, b]) - means[c, b])


# ------------------------------------------------ three features, by blocks of rows
# RGB's passes take the rows a block at a time and each step over the whole block
# (the component's densities, the exponentials, the sums), so that the compiler
# vectorises the arithmetic across rows; sums may be reassociated (``_FAST``),
# which changes their rounding only.

#: rows per block
BLOCK = 512
_FAST = {**_OPTS, "fastmath": {"reassoc", "contract", "nsz"}}


@njit(**_FAST)
def _block_densities(X, b0, m, mask, use_mask, w, use_w, means, prec, const, blk):
    """For the rows ``b0 .. b0 + m``: their values (``x0``, ``x1``, ``x2``; 0 for
    an invalid row), weights ``wt`` (0 for an invalid row), each component's
    ``exp(log density - top)`` in ``LP``, the row's ``top`` log density, its
    first most probable component ``best`` and ``tot = Σ exp``."""
    x0, x1, x2, wt, LP, top, best, tot = blk
    k = means.shape[0]
    for j in range(m):
        i = b0 + j
        v0 = np.float64(X[i, 0])
        v1 = np.float64(X[i, 1])
        v2 = np.float64(X[i, 2])
        ok = math.isfinite(v0) and math.isfinite(v1) and math.isfinite(v2)
        if use_mask and not mask[i]:
            ok = False
        x0[j] = v0 if ok else 0.0
        x1[j] = v1 if ok else 0.0
        x2[j] = v2 if ok else 0.0
        wt[j] = (w[i] if use_w else 1.0) if ok else 0.0
        top[j] = -np.inf
        best[j] = 0
    for c in range(k):
        m0, m1, m2 = means[c, 0], means[c, 1], means[c, 2]
        p00, p01, p02 = prec[c, 0, 0], prec[c, 0, 1], prec[c, 0, 2]
        p11, p12, p22 = prec[c, 1, 1], prec[c, 1, 2], prec[c, 2, 2]
        cc = const[c]
        for j in range(m):
            a0 = x0[j] - m0
            a1 = x1[j] - m1
            a2 = x2[j] - m2
            y0 = a0 * p00
            y1 = a0 * p01 + a1 * p11
            y2 = a0 * p02 + a1 * p12 + a2 * p22
            v = cc - 0.5 * (y0 * y0 + y1 * y1 + y2 * y2)
            LP[c, j] = v
            if v > top[j]:  # the first most probable
                top[j] = v
                best[j] = c
    for j in range(m):
        tot[j] = 0.0
    for c in range(k):
        for j in range(m):
            gap = LP[c, j] - top[j]
            e = 1.0 if gap == 0.0 else math.exp(gap)  # exp(0) is 1
            LP[c, j] = e
            tot[j] += e


@njit(**_FAST)
def _block_buffers(k):
    """The work arrays of :func:`_block_densities` for ``k`` components."""
    return (
        np.empty(BLOCK),
        np.empty(BLOCK),
        np.empty(BLOCK),
        np.empty(BLOCK),
        np.empty((k, BLOCK)),
        np.empty(BLOCK),
        np.empty(BLOCK, np.int64),
        np.empty(BLOCK),
    )


@njit(**_FAST)
def em3_kernel(X, mask, use_mask, w, use_w, means, prec, const, N, S1, S2):
    """:func:`em_kernel` for three features, by blocks of rows."""
    k = means.shape[0]
    blk = _block_buffers(k)
    x0, x1, x2, wt, LP, top, _, tot = blk
    n = X.shape[0]
    ll = 0.0
    total = 0.0
    for b0 in range(0, n, BLOCK):
        m = min(BLOCK, n - b0)
        _block_densities(X, b0, m, mask, use_mask, w, use_w, means, prec, const, blk)
        for j in range(m):
            if wt[j] > 0.0:
                ll += wt[j] * (top[j] + math.log(tot[j]))
                total += wt[j]
            tot[j] = wt[j] / tot[j]  # now each density's share times the weight
        for c in range(k):
            m0, m1, m2 = means[c, 0], means[c, 1], means[c, 2]
            nc = s0 = s1 = s2 = q00 = q01 = q02 = q11 = q12 = q22 = 0.0
            for j in range(m):
                r = LP[c, j] * tot[j]
                a0 = x0[j] - m0
                a1 = x1[j] - m1
                a2 = x2[j] - m2
                nc += r
                r0 = r * a0
                r1 = r * a1
                r2 = r * a2
                s0 += r0
                s1 += r1
                s2 += r2
                q00 += r0 * a0
                q01 += r0 * a1
                q02 += r0 * a2
                q11 += r1 * a1
                q12 += r1 * a2
                q22 += r2 * a2
            N[c] += nc
            S1[c, 0] += s0
            S1[c, 1] += s1
            S1[c, 2] += s2
            S2[c, 0, 0] += q00
            S2[c, 0, 1] += q01
            S2[c, 0, 2] += q02
            S2[c, 1, 1] += q11
            S2[c, 1, 2] += q12
            S2[c, 2, 2] += q22
    return ll, total


@njit(**_FAST)
def posterior3_kernel(X, mask, use_mask, means, prec, const, probs, start, labels):
    """:func:`posterior_kernel` for three features, by blocks of rows."""
    k = means.shape[0]
    blk = _block_buffers(k)
    _, _, _, wt, LP, top, best, tot = blk
    n = X.shape[0]
    no_w = np.empty(0)
    ll = 0.0
    for b0 in range(0, n, BLOCK):
        m = min(BLOCK, n - b0)
        _block_densities(X, b0, m, mask, use_mask, no_w, False, means, prec, const, blk)
        for j in range(m):
            valid = wt[j] > 0.0
            if valid:
                ll += top[j] + math.log(tot[j])
            labels[b0 + j] = best[j] + 1 if valid else 0
            tot[j] = wt[j] / tot[j]  # 0 for an invalid row
        for c in range(k):
            for j in range(m):
                probs[c, start + b0 + j] = LP[c, j] * tot[j]
    return ll
