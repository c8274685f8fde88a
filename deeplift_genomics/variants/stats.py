"""Screening statistics of variant effects (pure numpy): empirical p-values, q-values, profile scores.

- :func:`empirical_pvalues`: ``P(|null| >= |effect|)`` against a null sample, ``(1 + #hits) / (n + 1)``
  (never 0: the smallest p-value a null of ``n`` draws can give is ``1 / (n + 1)``), or with ties broken
  at random (:data:`TIE_RULES`): ``(#{null > s} + U (1 + #{null == s})) / (n + 1)``, ``U`` uniform on
  (0, 1] from a seeded generator. When the statistic and the ``n`` draws are exchangeable (the null is
  right), the randomised p-value is exactly uniform on (0, 1], ties or not; the conservative one is
  uniform on the grid ``k / (n + 1)`` without ties and above uniform with them.
- :func:`own_pvalues`: the same against the other alleles of the run (the VCF's own distribution).
- :func:`bh_qvalues`: Benjamini-Hochberg q-values per column.
- :func:`log2_fold_change`, :func:`js_distance`, :func:`allele_quantiles`: the counts log2 fold change,
  the profile Jensen-Shannon distance and the active-allele quantile as chrombpnet's variant-scorer
  defines them (``docs/variants.md`` says where this follows it and where not).
- :func:`select_explained`: which alleles a screening run explains.
"""

from __future__ import annotations

import numpy as np

NULL_KINDS = ("shuffled", "matched", "vcf")
#: How a statistic tied with null draws counts: ``randomized`` (a seeded uniform share of the ties and of
#: the statistic itself: exactly uniform p-values under the null) or ``conservative`` (every tie counts).
TIE_RULES = ("randomized", "conservative")


def tie_uniforms(shape: tuple[int, ...], seed: int, stream: int = 0) -> np.ndarray:
    """Uniforms on (0, 1] that break ties, one per p-value, from ``seed`` alone.

    They depend on the seed, the stream and the position in the whole run's table only, so a gathered
    sharded run gets what the unsharded run gets.
    """
    return 1.0 - np.random.default_rng([int(seed), int(stream), 0x7135]).random(shape)


def _counts(col: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(#{col > s}, #{col == s})`` for sorted ``col``."""
    left = np.searchsorted(col, s, side="left")
    right = np.searchsorted(col, s, side="right")
    return len(col) - right, right - left


def empirical_pvalues(
    stat: np.ndarray, null: np.ndarray, *, ties: str = "conservative", uniforms: np.ndarray | None = None
) -> np.ndarray:
    """``(1 + #{null >= stat}) / (n + 1)`` per column, or with ties broken at random.

    Parameters
    ----------
    stat
        ``(A, T)`` statistics (larger is more extreme), NaN where absent.
    null
        ``(n, T)`` the same statistic on null draws (NaN draws are ignored per column).
    ties
        ``conservative`` (above) or ``randomized``: ``(#{null > s} + U (1 + #{null == s})) / (n + 1)``.
    uniforms
        ``(A, T)`` the ``U`` of ``randomized`` (:func:`tie_uniforms`), on (0, 1].

    Returns
    -------
    numpy.ndarray
        ``(A, T)`` float64; NaN where ``stat`` is NaN or a column's null is empty.
    """
    stat = np.asarray(stat, dtype=np.float64)
    null = np.asarray(null, dtype=np.float64).reshape(-1, stat.shape[1] if stat.ndim == 2 else 1)
    u = _uniforms(stat.shape, ties, uniforms)
    out = np.full(stat.shape, np.nan)
    for t in range(stat.shape[1]):
        col = np.sort(null[:, t][np.isfinite(null[:, t])])
        if not len(col):
            continue
        s = stat[:, t]
        ok = ~np.isnan(s)
        gt, eq = _counts(col, s[ok])
        out[ok, t] = (gt + u[ok, t] * (1.0 + eq)) / (len(col) + 1.0)
    return out


def _uniforms(shape: tuple[int, ...], ties: str, uniforms: np.ndarray | None) -> np.ndarray:
    if ties not in TIE_RULES:
        raise ValueError(f"ties {ties!r}: expected one of {', '.join(TIE_RULES)}")
    if ties == "conservative":
        return np.ones(shape)
    if uniforms is None or np.shape(uniforms) != shape:
        raise ValueError(f"ties='randomized' needs uniforms of shape {shape}")
    return np.asarray(uniforms, dtype=np.float64)


def own_pvalues(stat: np.ndarray, *, ties: str = "conservative", uniforms: np.ndarray | None = None) -> np.ndarray:
    """Each allele against the other alleles of the run: ``(1 + #{j != i: s_j >= s_i}) / A`` per column.

    ``ties="randomized"``: ``(#{j != i: s_j > s_i} + U (1 + #{j != i: s_j == s_i})) / A``
    (:func:`empirical_pvalues` with the other ``A - 1`` alleles as the null).
    """
    stat = np.asarray(stat, dtype=np.float64)
    u = _uniforms(stat.shape, ties, uniforms)
    out = np.full(stat.shape, np.nan)
    for t in range(stat.shape[1]):
        s = stat[:, t]
        ok = ~np.isnan(s)
        col = np.sort(s[ok])
        if not len(col):
            continue
        gt, eq = _counts(col, s[ok])  # eq includes the allele itself
        out[ok, t] = (gt + u[ok, t] * eq) / len(col)
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
    *,
    mode: str = "screen",
    top: int | None = None,
    min_effect: float | None = None,
    share: float = 0.01,
) -> np.ndarray:
    """Which alleles of a whole run to explain, as a boolean mask.

    Parameters
    ----------
    strength
        ``(A,)`` the largest |effect| of each allele over the tasks, for every scored allele of the run in
        VCF order (a sharded run passes its shards' screens concatenated in shard order).
    mode
        ``all`` (every allele), ``none``, or ``screen``: the union of the ``top`` strongest alleles of
        the run, those with strength at least ``min_effect``, and, when neither is given, the strongest
        ``ceil(share * A)`` of the run. Ties are broken by VCF order (the earlier allele first; a stable
        sort), NaN strengths come last, so the mask depends on the run's alleles only, never on chunks
        or shards.
    """
    strength = np.asarray(strength, dtype=np.float64)
    n_all = len(strength)
    if mode == "all":
        return np.ones(n_all, dtype=bool)
    keep = np.zeros(n_all, dtype=bool)
    if mode == "none" or not n_all:
        return keep
    key = np.where(np.isnan(strength), -np.inf, strength)
    order = np.argsort(-key, kind="stable")
    if top is not None and top > 0:
        keep[order[:top]] = True
    if min_effect is not None:
        keep |= key >= min_effect
    if top is None and min_effect is None and share > 0:
        keep[order[: int(np.ceil(share * n_all))]] = True
    return keep
