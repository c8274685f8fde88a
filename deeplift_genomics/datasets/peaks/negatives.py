"""Negative windows: drawn from the genome to match the positives' GC content, or dinucleotide shuffles.

GC matching (as gReLU and bpnet-lite do it, by histogram): the positives' GC fractions are binned
(``n_bins`` equal bins on [0, 1]); each bin then needs ``per_positive`` times as many negatives as it
has positives. Candidate windows are drawn uniformly from the split's contigs (a contig in proportion
to the number of windows it holds), never overlapping an excluded interval (peaks, positive windows,
blacklist) or an already chosen negative, and never holding a letter other than A/C/G/T. Each round
draws a few candidates per missing negative and fills the bins; after ``max_rounds`` rounds a bin still
short takes the unused candidates nearest in GC (counted as ``gc_fallback``), and what the genome
cannot supply at all is counted as ``short``. Sequences are fetched window by window through pyfaidx,
so the genome is never loaded whole.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ...core.progress import progress_bar
from ...io.fasta import FastaFile
from ...io.onehot import sequence_indices
from ...references.shuffle import shuffle_tokens
from .bed import IntervalIndex

log = logging.getLogger(__name__)

_ACGT = frozenset("ACGT")
_GC_LOOKUP = np.zeros(256, dtype=np.int8)
for _c in "GCgc":
    _GC_LOOKUP[ord(_c)] = 1


def gc_fraction(sequences: Sequence[str]) -> np.ndarray:
    """G+C share of each sequence (over all its letters), ``(N,)`` float64."""
    out = np.empty(len(sequences), dtype=np.float64)
    for i, seq in enumerate(sequences):
        raw = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
        out[i] = _GC_LOOKUP[raw].sum() / max(len(seq), 1)
    return out


def gc_bin(gc: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of GC fractions in ``n_bins`` equal bins on [0, 1] (1.0 goes in the last bin)."""
    return np.minimum((np.asarray(gc) * n_bins).astype(np.int64), n_bins - 1)


@dataclass
class NegativeDraw:
    """Negatives drawn for one split.

    Attributes
    ----------
    chroms, starts, sequences, gc
        The chosen windows (upper-case sequences).
    stats
        ``requested, chosen, gc_fallback, short, candidates, rejected_overlap, rejected_letters, rounds``.
    """

    chroms: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)
    gc: list[float] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


class _Chosen:
    """Chosen windows per contig, for 'does this new window overlap one already chosen?'."""

    def __init__(self, length: int):
        self.length = length
        self.starts: dict[str, list[int]] = {}

    def overlaps(self, chrom: str, start: int) -> bool:
        starts = self.starts.get(chrom)
        if not starts:
            return False
        i = bisect.bisect_left(starts, start)
        # Windows have one length, so only the neighbours in start order can overlap.
        return (i < len(starts) and starts[i] < start + self.length) or (
            i > 0 and starts[i - 1] + self.length > start
        )

    def add(self, chrom: str, start: int) -> None:
        bisect.insort(self.starts.setdefault(chrom, []), start)


def gc_matched_negatives(
    genome: FastaFile,
    contig_lengths: Mapping[str, int],
    contigs: Sequence[str],
    exclude: IntervalIndex,
    target_gc: np.ndarray,
    per_positive: int,
    length: int,
    rng: np.random.Generator,
    n_bins: int = 50,
    oversample: int = 4,
    max_rounds: int = 8,
    label: str = "",
    verbose: bool | None = None,
) -> NegativeDraw:
    """Draw ``per_positive * len(target_gc)`` windows of ``contigs`` with the GC histogram of ``target_gc``.

    Parameters
    ----------
    genome
        The genome.
    contig_lengths
        Contig -> length.
    contigs
        Contigs to draw from (one split's).
    exclude
        Intervals a negative may not overlap.
    target_gc
        GC fractions of the positives to match.
    per_positive
        Negatives per positive.
    length
        Window length.
    rng
        Random generator (the draw depends on it alone).
    n_bins, oversample, max_rounds
        GC bins; candidates drawn per missing negative in a round; rounds before falling back to the
        nearest GC.
    label
        Shown on the progress bar.
    verbose
        Progress bar on/off (``None``: when stderr is a terminal).
    """
    draw = NegativeDraw()
    need = np.bincount(gc_bin(target_gc, n_bins), minlength=n_bins) * int(per_positive)
    stats = _empty_stats()
    stats["requested"] = int(need.sum())
    draw.stats = stats
    names = [c for c in contigs if contig_lengths[c] >= length]
    weights = np.asarray([contig_lengths[c] - length + 1 for c in names], dtype=np.float64)
    if stats["requested"] == 0 or not names:
        stats["short"] = stats["requested"]
        return draw
    probs = weights / weights.sum()
    chosen = _Chosen(length)
    # Unused valid candidates (GC, contig index, start), for the nearest-GC fallback; refetched if used.
    spare_gc: list[float] = []
    spare_at: list[tuple[int, int]] = []
    bar = progress_bar(
        total=stats["requested"], desc=f"negatives{' ' + label if label else ''}", unit="win", verbose=verbose
    )
    try:
        for _ in range(max_rounds):
            missing = int(need.sum())
            if missing == 0:
                break
            stats["rounds"] += 1
            n_draw = max(256, oversample * missing)
            which, starts = _draw_candidates(rng, names, weights, probs, exclude, length, n_draw, stats)
            _take_candidates(genome, names, which, starts, length, n_bins, need, chosen, draw, stats, spare_gc,
                             spare_at, bar)  # fmt: skip
        if need.sum() > 0 and spare_gc:
            _gc_fallback(genome, names, spare_gc, spare_at, length, n_bins, need, chosen, draw, stats, bar)
    finally:
        bar.close()
    stats["chosen"] = len(draw.starts)
    stats["short"] = int(need.sum())
    return draw


def _empty_stats() -> dict[str, int]:
    """Zeroed counters of a negative draw."""
    keys = ("requested", "chosen", "gc_fallback", "short", "candidates", "rejected_overlap", "rejected_letters",
            "rounds")  # fmt: skip
    return dict.fromkeys(keys, 0)


def _draw_candidates(
    rng: np.random.Generator,
    names: list[str],
    weights: np.ndarray,
    probs: np.ndarray,
    exclude: IntervalIndex,
    length: int,
    n_draw: int,
    stats: dict[str, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_draw`` random windows (contig index, start); those overlapping ``exclude`` get index -1."""
    which = rng.choice(len(names), size=n_draw, p=probs)
    offsets = rng.random(n_draw)
    starts = np.floor(offsets * weights[which]).astype(np.int64)
    stats["candidates"] += n_draw
    for k in np.unique(which):
        chrom = names[k]
        sel = np.flatnonzero(which == k)
        bad = exclude.overlaps(chrom, starts[sel], starts[sel] + length)
        stats["rejected_overlap"] += int(bad.sum())
        which[sel[bad]] = -1
    return which, starts


def _take_candidates(
    genome: FastaFile,
    names: list[str],
    which: np.ndarray,
    starts: np.ndarray,
    length: int,
    n_bins: int,
    need: np.ndarray,
    chosen: _Chosen,
    draw: NegativeDraw,
    stats: dict[str, int],
    spare_gc: list[float],
    spare_at: list[tuple[int, int]],
    bar,
) -> None:
    """Keep the candidates whose GC bin still needs negatives; set the other valid ones aside as spares."""
    # Visit candidates in draw order (the draw is random), fetching each window once.
    for i in np.flatnonzero(which >= 0):
        chrom, start = names[which[i]], int(starts[i])
        if chosen.overlaps(chrom, start):
            stats["rejected_overlap"] += 1
            continue
        seq = genome.fetch(chrom, start, start + length).upper()
        if not set(seq) <= _ACGT:
            stats["rejected_letters"] += 1
            continue
        gc = float(gc_fraction([seq])[0])
        b = int(gc_bin(np.asarray([gc]), n_bins)[0])
        if need[b] > 0:
            need[b] -= 1
            chosen.add(chrom, start)
            _append(draw, chrom, start, seq, gc)
            bar.update(1)
        else:
            spare_gc.append(gc)
            spare_at.append((int(which[i]), start))


def _gc_fallback(
    genome: FastaFile,
    names: list[str],
    spare_gc: list[float],
    spare_at: list[tuple[int, int]],
    length: int,
    n_bins: int,
    need: np.ndarray,
    chosen: _Chosen,
    draw: NegativeDraw,
    stats: dict[str, int],
    bar,
) -> None:
    """Fill the bins still short with the spare candidates of nearest GC."""
    gcs = np.asarray(spare_gc)
    used = np.zeros(gcs.size, dtype=bool)
    centres = (np.arange(n_bins) + 0.5) / n_bins
    for b in np.flatnonzero(need).tolist():
        for j in np.argsort(np.abs(gcs - centres[b]), kind="stable").tolist():
            if need[b] == 0:
                break
            chrom, start = names[spare_at[j][0]], spare_at[j][1]
            if used[j] or chosen.overlaps(chrom, start):
                continue
            used[j] = True
            need[b] -= 1
            chosen.add(chrom, start)
            seq = genome.fetch(chrom, start, start + length).upper()
            _append(draw, chrom, start, seq, float(gcs[j]))
            stats["gc_fallback"] += 1
            bar.update(1)


def _append(draw: NegativeDraw, chrom: str, start: int, seq: str, gc: float) -> None:
    draw.chroms.append(chrom)
    draw.starts.append(start)
    draw.sequences.append(seq)
    draw.gc.append(gc)


def shuffled_negatives(sequences: Sequence[str], per_positive: int, seed: int) -> list[list[str]]:
    """``per_positive`` exact dinucleotide shuffles of each sequence (A/C/G/T only), via :mod:`..shuffle`.

    Returns
    -------
    list of list of str
        ``out[i][k]``: the k-th shuffle of ``sequences[i]``. The shuffles of a sequence depend on the
        seed and its letters only.
    """
    if not sequences:
        return []
    tokens = np.stack([sequence_indices(s) for s in sequences]).astype(np.int64)
    tokens[tokens < 0] = 4  # shuffle_tokens' unknown letter
    shuffled = shuffle_tokens(torch.from_numpy(tokens), int(per_positive), seed)[0].numpy()
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)
    return [[letters[row].tobytes().decode() for row in per] for per in shuffled]
