"""Which motif a variant hits: best match overlapping the variant on the REF and on the ALT window.

Motifs come from the ENCODE collection shipped in ``data_sim/resources`` (default), from a MEME file, or
from a ``motifs`` output directory (its ``*.meme`` export). Each motif is scored as log-odds against a
background (:func:`data_sim.motifs.log_odds_matrix`, pseudocount 1e-3) on both strands, at every
placement inside the window that overlaps the variant's bases. A match counts when its *relative* score
``(s - min) / (max - min)`` (0 = worst possible string, 1 = the consensus) reaches ``threshold`` on either
allele. Among the motifs that match, the variant is assigned the one whose best score changes most
between the alleles; ``change`` says whether the variant ``breaks`` it (REF matches, ALT does not),
``creates`` it (the reverse), ``weakens`` or ``strengthens`` it (both match), and ``none`` when no motif
matches.

Scoring runs as one 1-D convolution of the windows with all motifs (zero-padded to the widest), on the
CPU in float64, over only the stretch of each window that can hold an overlapping placement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..onehot import one_hot

DEFAULT_THRESHOLD = 0.9
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
        ``(2M, 4, W)`` float64 conv weights: rows ``0..M-1`` the + strand, ``M..2M-1`` the - strand.
    min_score, max_score
        ``(M,)`` lowest and highest possible log-odds of each motif (equal on both strands).
    source
        Where the motifs came from, for the outputs.
    """

    names: list[str]
    widths: np.ndarray
    weights: torch.Tensor
    min_score: np.ndarray
    max_score: np.ndarray
    source: str


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
    from data_sim.motifs import builtin_motifs, load_motifs, log_odds_matrix

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
    lo = np.zeros(len(names))
    hi = np.zeros(len(names))
    for i, m in enumerate(names):
        plus = log_odds_matrix(motifs[m], background, strand="+")  # (W, 4)
        minus = log_odds_matrix(motifs[m], background, strand="-")
        w = plus.shape[0]
        weights[i, :, :w] = plus.T
        weights[len(names) + i, :, :w] = minus.T
        lo[i], hi[i] = plus.min(axis=1).sum(), plus.max(axis=1).sum()
    return MotifBank(names, widths, torch.from_numpy(weights), lo, hi, source)


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
    x = torch.from_numpy(one_hot(list(seqs), dtype=np.float64))
    off = np.asarray(offsets, dtype=np.int64)
    span = np.asarray(spans, dtype=np.int64)
    smax = int(span.max())
    # stretch [off - wmax + 1, off + smax + wmax - 1) of each window, zero (score 0) outside the window
    ext = 2 * wmax + smax - 2
    first = off - wmax + 1
    cols = first[:, None] + np.arange(ext)[None, :]
    inside = (cols >= 0) & (cols < length)
    gathered = x[np.arange(len(seqs))[:, None], :, np.clip(cols, 0, length - 1)]  # (V, ext, 4)
    gathered = gathered.permute(0, 2, 1) * torch.from_numpy(inside[:, None, :].astype(np.float64))
    scores = torch.nn.functional.conv1d(gathered, bank.weights).numpy()  # (V, 2M, ext - wmax + 1)
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
    relative_ref: np.ndarray
    relative_alt: np.ndarray
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
    """For each variant, the matching motif whose score changes most, and how it changes.

    Parameters
    ----------
    bank
        Motifs from :func:`load_bank`.
    ref_seqs, alt_seqs
        The two windows of each variant.
    offsets, ref_lengths, alt_lengths
        The variant's first base and the allele lengths in the windows.
    threshold
        Relative score a match needs on at least one allele.
    chunk
        Variants scored at once (bounds memory).

    Returns
    -------
    MotifHits
        Scores are log-odds (NaN when no motif matches); ``relative_*`` the relative scores.
    """
    if not 0 <= threshold <= 1:
        raise InputError(f"motif threshold {threshold}: expected a number between 0 and 1")
    v = len(ref_seqs)
    out_m, out_s, out_c = [""] * v, [""] * v, ["none"] * v
    start = np.full(v, -1, dtype=np.int64)
    s_ref, s_alt = np.full(v, np.nan), np.full(v, np.nan)
    r_ref, r_alt = np.full(v, np.nan), np.full(v, np.nan)
    scale = bank.max_score - bank.min_score
    for lo in range(0, v, chunk):
        hi = min(v, lo + chunk)
        br, st, sd = best_overlapping(bank, ref_seqs[lo:hi], offsets[lo:hi], ref_lengths[lo:hi])
        ba, _, _ = best_overlapping(bank, alt_seqs[lo:hi], offsets[lo:hi], alt_lengths[lo:hi])
        rel_r = (br - bank.min_score) / scale
        rel_a = (ba - bank.min_score) / scale
        hit = (rel_r >= threshold) | (rel_a >= threshold)
        with np.errstate(invalid="ignore"):  # -inf - -inf where a motif fits nowhere (never a hit)
            change = np.where(hit, np.abs(ba - br), -np.inf)
        pick = change.argmax(axis=1)
        for j in range(hi - lo):
            m = int(pick[j])
            if not hit[j, m]:
                continue
            i = lo + j
            out_m[i] = bank.names[m]
            out_s[i] = "+" if sd[j, m] > 0 else "-"
            start[i] = st[j, m]
            s_ref[i], s_alt[i] = br[j, m], ba[j, m]
            r_ref[i], r_alt[i] = rel_r[j, m], rel_a[j, m]
            on_r, on_a = rel_r[j, m] >= threshold, rel_a[j, m] >= threshold
            if on_r and not on_a:
                out_c[i] = "breaks"
            elif on_a and not on_r:
                out_c[i] = "creates"
            else:
                out_c[i] = "weakens" if ba[j, m] < br[j, m] else "strengthens"
    return MotifHits(out_m, out_s, start, s_ref, s_alt, r_ref, r_alt, out_c)
