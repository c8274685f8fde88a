"""Which motif a variant hits: best match overlapping the variant on the REF and on the ALT window.

Motifs come from the ENCODE collection shipped in ``data_sim/resources`` (default), from a MEME file, or
from a ``motifs`` output directory (its ``*.meme`` export). Each motif is scored as log-odds against a
background (:func:`data_sim.motifs.log_odds_matrix`, pseudocount 1e-3) on both strands, at every
placement inside the window that overlaps the variant's bases. A match counts when the p-value of its
score (the chance that a background string scores as high; exact distribution of the scores rounded to
0.1, as FIMO does) is at most ``threshold`` (default 1e-4, FIMO's) on either allele. Among the motifs that
match and whose best score the variant changes, the variant is assigned the strongest match (highest
log-odds on either allele: the motif that best explains the site); ``change`` says whether the variant ``breaks`` it (REF matches, ALT does not),
``creates`` it (the reverse), ``weakens`` or ``strengthens`` it (both match), and ``none`` when no motif
matches.

Scoring runs as one 1-D convolution of the windows with all motifs (zero-padded to the widest), on the
CPU in float32, over only the stretch of each window that can hold an overlapping placement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data_sim.motifs import builtin_motifs, load_motifs, log_odds_matrix

from ..core.errors import InputError
from ..io.onehot import one_hot

DEFAULT_THRESHOLD = 1e-4
SCORE_RESOLUTION = 0.1
CHANGES = ("breaks", "creates", "weakens", "strengthens", "none")


@dataclass(frozen=True)
class MotifBank:
    """Log-odds matrices of ``M`` motifs, both strands, zero-padded to the widest ``W``.

    Attributes
    ----------
    names
        ``M`` motif ids.
    widths
        ``(M,)`` widths.
    weights
        ``(2M, 4, W)`` float32 conv weights: rows ``0..M-1`` the + strand, ``M..2M-1`` the - strand.
    min_bin, survival
        Per motif: the lowest score bin and ``P(score >= bin)`` under the background, bins of
        :data:`SCORE_RESOLUTION` (equal on both strands).
    source
        Where the motifs came from, for the outputs.
    """

    names: list[str]
    widths: np.ndarray
    weights: torch.Tensor
    min_bin: np.ndarray
    survival: list[np.ndarray]
    source: str

    def pvalues(self, scores: np.ndarray) -> np.ndarray:
        """P-values of log-odds ``scores`` ``(V, M)``; 1 where a score is ``-inf`` (no placement)."""
        out = np.ones_like(scores, dtype=np.float64)
        finite = np.isfinite(scores)
        bins = np.floor(np.where(finite, scores, 0.0) / SCORE_RESOLUTION + 1e-9).astype(np.int64)
        for m, sf in enumerate(self.survival):
            k = np.clip(bins[:, m] - self.min_bin[m], 0, len(sf) - 1)
            out[:, m] = np.where(finite[:, m], sf[k], 1.0)
        return out


def score_survival(matrix: np.ndarray, background: Sequence[float]) -> tuple[int, np.ndarray]:
    """Exact null distribution of a log-odds matrix ``(W, 4)``'s scores, rounded to :data:`SCORE_RESOLUTION`.

    Returns the lowest bin and ``P(score >= bin)`` for every bin from it up, the bases of the string drawn
    independently from ``background`` (dynamic programming over the positions).
    """
    q = np.round(np.asarray(matrix) / SCORE_RESOLUTION).astype(np.int64)
    bg = np.asarray(background, dtype=np.float64)
    dist = np.ones(1)
    for row in q - q.min(axis=1, keepdims=True):
        new = np.zeros(len(dist) + int(row.max()))
        for b in range(4):
            new[row[b] : row[b] + len(dist)] += bg[b] * dist
        dist = new
    return int(q.min(axis=1).sum()), np.cumsum(dist[::-1])[::-1]


def motif_file_in(path: str | Path) -> Path:
    """The motif file to read: ``path`` itself, or the one ``*.meme`` file of a ``motifs`` output directory."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"--motifs {path}: not found")
    if path.is_dir():
        found = sorted(path.glob("*.meme")) or sorted(path.glob("*/*.meme"))
        if not found:
            raise InputError(f"--motifs {path}: directory holds no MEME file (*.meme)")
        if len(found) > 1:
            names = ", ".join(str(p.relative_to(path)) for p in found[:4])
            raise InputError(f"--motifs {path}: several MEME files ({names}); give one of them")
        return found[0]
    return path


def load_bank(
    path: str | Path | None = None,
    background: Sequence[float] = (0.3, 0.2, 0.2, 0.3),
    ids: Sequence[str] | None = None,
) -> MotifBank:
    """Read motifs (default: the shipped ENCODE collection) into a :class:`MotifBank`.

    Parameters
    ----------
    path
        MEME/ENCODE/JASPAR file or a ``motifs`` output directory; None for the shipped ENCODE set.
    background
        A, C, G, T background of the log-odds.
    ids
        Keep only these motif ids.
    """
    if path is None:
        motifs = builtin_motifs(ids)
        source = "ENCODE motifs (Kheradpour & Kellis 2014), shipped"
    else:
        file = motif_file_in(path)
        motifs = load_motifs(file, ids)
        source = str(file)
    if not motifs:
        raise InputError(f"{source}: no motifs")
    names = list(motifs)
    widths = np.array([motifs[m].width for m in names], dtype=np.int64)
    wmax = int(widths.max())
    weights = np.zeros((2 * len(names), 4, wmax), dtype=np.float64)
    lo = np.zeros(len(names), dtype=np.int64)
    survival = []
    for i, m in enumerate(names):
        plus = log_odds_matrix(motifs[m], background, strand="+")  # (W, 4)
        minus = log_odds_matrix(motifs[m], background, strand="-")
        w = plus.shape[0]
        weights[i, :, :w] = plus.T
        weights[len(names) + i, :, :w] = minus.T
        lo[i], sf = score_survival(plus, background)
        survival.append(sf)
    return MotifBank(names, widths, torch.from_numpy(weights.astype(np.float32)), lo, survival, source)


def best_overlapping(
    bank: MotifBank, seqs: Sequence[str], offsets: Sequence[int], spans: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best log-odds of each motif over the placements that overlap each variant.

    Parameters
    ----------
    bank
        The motifs.
    seqs
        ``V`` windows (length ``L`` each).
    offsets, spans
        The variant covers ``[offset, offset + span)`` of its window.

    Returns
    -------
    score, start, strand
        ``(V, M)``: best log-odds (``-inf`` when no placement fits), its window start, and its strand
        (``+1`` or ``-1``).
    """
    n_m = len(bank.names)
    wmax = bank.weights.shape[2]
    if not len(seqs):
        return np.zeros((0, n_m)), np.zeros((0, n_m), dtype=np.int64), np.zeros((0, n_m), dtype=np.int8)
    length = len(seqs[0])
    x = torch.from_numpy(one_hot(list(seqs), dtype=np.float32))
    off = np.asarray(offsets, dtype=np.int64)
    span = np.asarray(spans, dtype=np.int64)
    smax = int(span.max())
    # stretch [off - wmax + 1, off + smax + wmax - 1) of each window, zero (score 0) outside the window
    ext = 2 * wmax + smax - 2
    first = off - wmax + 1
    cols = first[:, None] + np.arange(ext)[None, :]
    inside = (cols >= 0) & (cols < length)
    gathered = x[np.arange(len(seqs))[:, None], :, np.clip(cols, 0, length - 1)]  # (V, ext, 4)
    gathered = gathered.permute(0, 2, 1) * torch.from_numpy(inside[:, None, :].astype(np.float32))
    scores = torch.nn.functional.conv1d(gathered, bank.weights).numpy().astype(np.float64)  # (V, 2M, P)
    n_p = scores.shape[2]
    p = first[:, None] + np.arange(n_p)[None, :]  # (V, P) window start of each placement
    w = np.concatenate([bank.widths, bank.widths])  # (2M,)
    valid = (
        (p[:, None, :] >= 0)
        & (p[:, None, :] + w[None, :, None] <= length)
        & (p[:, None, :] + w[None, :, None] > off[:, None, None])  # overlaps the variant...
        & (p[:, None, :] < (off + span)[:, None, None])
    )
    scores = np.where(valid, scores, -np.inf)
    both = np.concatenate([scores[:, :n_m], scores[:, n_m:]], axis=2)  # (V, M, 2P)
    k = both.argmax(axis=2)
    best = np.take_along_axis(both, k[:, :, None], axis=2)[:, :, 0]
    strand = np.where(k < n_p, 1, -1).astype(np.int8)
    start = np.take_along_axis(p, (k % n_p), axis=1) if n_p else np.zeros_like(k)
    return best, start, strand


@dataclass(frozen=True)
class MotifHits:
    """The motif assigned to each of ``V`` variants (``""`` when none matches)."""

    motif: list[str]
    strand: list[str]
    start_ref: np.ndarray
    score_ref: np.ndarray
    score_alt: np.ndarray
    pvalue_ref: np.ndarray
    pvalue_alt: np.ndarray
    change: list[str]


def assign_motifs(
    bank: MotifBank,
    ref_seqs: Sequence[str],
    alt_seqs: Sequence[str],
    offsets: Sequence[int],
    ref_lengths: Sequence[int],
    alt_lengths: Sequence[int],
    threshold: float = DEFAULT_THRESHOLD,
    chunk: int = 64,
) -> MotifHits:
    """For each variant, the strongest matching motif whose score the variant changes, and how it changes.

    Parameters
    ----------
    bank
        Motifs from :func:`load_bank`.
    ref_seqs, alt_seqs
        The two windows of each variant.
    offsets, ref_lengths, alt_lengths
        The variant's first base and the allele lengths in the windows.
    threshold
        P-value a match needs on at least one allele.
    chunk
        Variants scored at once (bounds memory).

    Returns
    -------
    MotifHits
        Scores are log-odds (NaN when no motif matches), with their p-values.
    """
    if not 0 < threshold <= 1:
        raise InputError(f"motif p-value threshold {threshold}: expected a number in (0, 1]")
    v = len(ref_seqs)
    out_m, out_s, out_c = [""] * v, [""] * v, ["none"] * v
    start = np.full(v, -1, dtype=np.int64)
    s_ref, s_alt = np.full(v, np.nan), np.full(v, np.nan)
    r_ref, r_alt = np.full(v, np.nan), np.full(v, np.nan)
    for lo in range(0, v, chunk):
        hi = min(v, lo + chunk)
        br, st, sd = best_overlapping(bank, ref_seqs[lo:hi], offsets[lo:hi], ref_lengths[lo:hi])
        ba, _, _ = best_overlapping(bank, alt_seqs[lo:hi], offsets[lo:hi], alt_lengths[lo:hi])
        p_r, p_a = bank.pvalues(br), bank.pvalues(ba)
        hit = (p_r <= threshold) | (p_a <= threshold)
        with np.errstate(invalid="ignore"):  # -inf - -inf where a motif fits nowhere (never a hit)
            hit &= ba != br
        strength = np.where(hit, np.maximum(br, ba), -np.inf)
        pick = strength.argmax(axis=1)
        for j in range(hi - lo):
            m = int(pick[j])
            if not hit[j, m]:
                continue
            i = lo + j
            out_m[i] = bank.names[m]
            out_s[i] = "+" if sd[j, m] > 0 else "-"
            start[i] = st[j, m]
            s_ref[i], s_alt[i] = br[j, m], ba[j, m]
            r_ref[i], r_alt[i] = p_r[j, m], p_a[j, m]
            on_r, on_a = p_r[j, m] <= threshold, p_a[j, m] <= threshold
            if on_r and not on_a:
                out_c[i] = "breaks"
            elif on_a and not on_r:
                out_c[i] = "creates"
            else:
                out_c[i] = "weakens" if ba[j, m] < br[j, m] else "strengthens"
    return MotifHits(out_m, out_s, start, s_ref, s_alt, r_ref, r_alt, out_c)
