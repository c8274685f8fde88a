"""Screening statistics of variant effects (pure numpy): empirical p-values, q-values, profile scores.

- :func:`empirical_pvalues`: ``P(|null| >= |effect|)`` against a null sample, ``(1 + #hits) / (n + 1)``
  (never 0: the smallest p-value a null of ``n`` draws can give is ``1 / (n + 1)``).
- :func:`own_pvalues`: the same against the other alleles of the run (the VCF's own distribution).
- :func:`bh_qvalues`: Benjamini-Hochberg q-values per column.
- :func:`log2_fold_change`, :func:`js_distance`, :func:`allele_quantiles`: the counts log2 fold change,
  the profile Jensen-Shannon distance and the active-allele quantile as chrombpnet's variant-scorer
  defines them (``docs/variants.md`` says where this follows it and where not).
- :func:`select_explained`: which alleles a screening run explains.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NULL_KINDS = ("shuffled", "matched", "vcf")


def empirical_pvalues(stat: np.ndarray, null: np.ndarray) -> np.ndarray:
    """``(1 + #{null >= stat}) / (n + 1)`` per column.

    Parameters
    ----------
    stat
        ``(A, T)`` statistics (larger is more extreme), NaN where absent.
    null
        ``(n, T)`` the same statistic on null draws (NaN draws are ignored per column).

    Returns
    -------
    numpy.ndarray
        ``(A, T)`` float64; NaN where ``stat`` is NaN or a column's null is empty.
    """
    stat = np.asarray(stat, dtype=np.float64)
    null = np.asarray(null, dtype=np.float64).reshape(-1, stat.shape[1] if stat.ndim == 2 else 1)
    out = np.full(stat.shape, np.nan)
    for t in range(stat.shape[1]):
        col = np.sort(null[:, t][np.isfinite(null[:, t])])
        if not len(col):
            continue
        s = stat[:, t]
        ok = ~np.isnan(s)
        ge = len(col) - np.searchsorted(col, s[ok], side="left")  # draws >= s
        out[ok, t] = (1.0 + ge) / (len(col) + 1.0)
    return out


def own_pvalues(stat: np.ndarray) -> np.ndarray:
    """Each allele against the other alleles of the run: ``(1 + #{j != i: s_j >= s_i}) / A`` per column."""
    stat = np.asarray(stat, dtype=np.float64)
    out = np.full(stat.shape, np.nan)
    for t in range(stat.shape[1]):
        s = stat[:, t]
        ok = ~np.isnan(s)
        col = np.sort(s[ok])
        if not len(col):
            continue
        ge = len(col) - np.searchsorted(col, s[ok], side="left")  # includes the allele itself
        out[ok, t] = ge / len(col)
    return out


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of each column of ``p`` ``(A, T)`` (NaN stays NaN, not counted)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    for t in range(p.shape[1]):
        ok = np.flatnonzero(~np.isnan(p[:, t]))
        m = len(ok)
        if not m:
            continue
        order = ok[np.argsort(p[ok, t], kind="stable")]
        q = p[order, t] * m / np.arange(1, m + 1)
        q = np.minimum.accumulate(q[::-1])[::-1]
        out[order, t] = np.minimum(q, 1.0)
    return out


def log2_fold_change(log_counts_ref: np.ndarray, log_counts_alt: np.ndarray) -> np.ndarray:
    """variant-scorer's ``log2(counts_alt / counts_ref)`` with ``counts = exp(predicted log counts)``."""
    return (np.asarray(log_counts_alt, np.float64) - np.asarray(log_counts_ref, np.float64)) / np.log(2.0)


def js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (natural log, square root of the divergence) between rows of ``p`` and ``q``.

    What ``scipy.spatial.distance.jensenshannon(p, q)`` gives (rows normalised to sum 1 first); the two
    arguments enter symmetrically, so swapping them gives the same numbers bit for bit.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a > 0, a * np.log(a / m), 0.0).sum(axis=-1)

    return np.sqrt(np.maximum(0.5 * (kl(p) + kl(q)), 0.0))


def allele_quantiles(
    log_counts_ref: np.ndarray, log_counts_alt: np.ndarray, reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantile of each allele's predicted counts among ``reference`` predicted counts, and the larger.

    variant-scorer: ``allele_percentile = mean(reference_counts < allele_counts)``,
    ``active_allele_quantile = max(ref, alt)``. Log counts compare as counts (exp is monotone).
    """
    ref_sorted = np.sort(np.asarray(reference, dtype=np.float64)[np.isfinite(reference)])
    n = max(len(ref_sorted), 1)
    qr = np.searchsorted(ref_sorted, np.asarray(log_counts_ref, np.float64), side="left") / n
    qa = np.searchsorted(ref_sorted, np.asarray(log_counts_alt, np.float64), side="left") / n
    return qr, qa, np.maximum(qr, qa)


def select_explained(
    strength: np.ndarray,
    chunk_sizes: Sequence[int],
    *,
    mode: str = "screen",
    top: int | None = None,
    min_effect: float | None = None,
    share: float = 0.01,
) -> np.ndarray:
    """Which alleles to explain, as a boolean mask.

    Parameters
    ----------
    strength
        ``(A,)`` the largest |effect| of each allele over the tasks.
    chunk_sizes
        Scorable alleles in each chunk, in order (they sum to ``A``).
    mode
        ``all`` (every allele), ``none``, or ``screen``: the union of the ``top`` strongest alleles of
        the run, those with strength at least ``min_effect``, and, when neither is given, the strongest
        ``ceil(share * n)`` of each chunk of ``n`` alleles (a chunk's share does not depend on the other
        chunks, so a sharded run explains exactly what the unsharded run does).
    """
    strength = np.asarray(strength, dtype=np.float64)
    n_all = len(strength)
    if mode == "all":
        return np.ones(n_all, dtype=bool)
    keep = np.zeros(n_all, dtype=bool)
    if mode == "none" or not n_all:
        return keep
    key = np.where(np.isnan(strength), -np.inf, strength)
    if top is not None and top > 0:
        keep[np.argsort(-key, kind="stable")[:top]] = True
    if min_effect is not None:
        keep |= key >= min_effect
    if top is None and min_effect is None and share > 0:
        lo = 0
        for n in chunk_sizes:
            k = int(np.ceil(share * n))
            if k:
                part = key[lo : lo + n]
                keep[lo + np.argsort(-part, kind="stable")[:k]] = True
            lo += n
    return keep
