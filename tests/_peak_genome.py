"""A generator of synthetic peak genomes: contigs, GC regions, planted motifs, decoy peaks, overlapping tasks.

Used by ``tests/test_peaks_learn.py`` and ``bench/peaks_grid.py``. The background is drawn in GC blocks
(``gc_block`` bp, GC fraction uniform on ``gc_range``); each task's peaks sit preferably in GC-rich blocks
(weight gc^4), so GC-matched negatives have work to do. A peak that is not a decoy carries its task's
motif at the summit (jittered by up to ``jitter`` bp, on a random strand): its consensus for ``"strong"``
sites, a sequence drawn from its PWM for ``"weak"`` ones. ``overlap`` of each later task's peaks share a
summit region with the first task's peaks (both motifs planted, 30 bp apart). The last contig is the test
split and the one before it the validation split.

What was planted is returned, so a test scores the PWM scan on its own (best log-odds, both strands).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from data_sim.motifs import Motif, builtin_motifs

COMPLEMENT = str.maketrans("ACGT", "TGCA")


@dataclasses.dataclass(frozen=True)
class PeakGenomeSpec:
    """Parameters of one synthetic peak genome (see the module docstring)."""

    motifs: tuple[str, ...] = ("GATA_disc1", "TAL1_known1")  # one task per motif, ENCODE collection ids
    peaks_per_task: int = 480
    n_contigs: int = 4
    contig_length: int | None = None  # None: sized for the peaks (at least 100 kb)
    gc_range: tuple[float, float] = (0.35, 0.6)
    gc_block: int = 5000
    strength: str = "strong"  # or "weak"
    decoy_fraction: float = 0.1
    length: int = 200  # dataset window length
    overlap: float = 0.0
    jitter: int = 10
    seed: int = 0

    def sized_contig_length(self) -> int:
        if self.contig_length is not None:
            return self.contig_length
        n_tasks = len(self.motifs)
        # peaks take at most a fifth of the genome, with room for GC-matched negatives around them
        need = 5 * 2 * self.peaks_per_task * n_tasks * max(self.length, 200) // self.n_contigs
        return int(max(100_000, need))


@dataclasses.dataclass
class PeakGenome:
    spec: PeakGenomeSpec
    fasta: Path
    beds: dict[str, Path]  # task -> narrowPeak file
    motifs: dict[str, Motif]  # task -> planted motif
    test_chroms: list[str]
    valid_chroms: list[str]
    n_planted: dict[str, int]  # task -> peaks carrying the motif


def _draw_site(rng: np.random.Generator, motif: Motif, strength: str) -> str:
    if strength == "strong":
        site = motif.consensus()
    else:
        site = "".join("ACGT"[rng.choice(4, p=row / row.sum())] for row in motif.probs)
    return site.translate(COMPLEMENT)[::-1] if rng.random() < 0.5 else site


def make_peak_genome(root: Path, spec: PeakGenomeSpec) -> PeakGenome:
    """Write ``genome.fa`` and one ``<task>.narrowPeak`` per motif into ``root``; see the module docstring."""
    rng = np.random.default_rng(spec.seed)
    root.mkdir(parents=True, exist_ok=True)
    motifs = builtin_motifs(list(spec.motifs))
    tasks = [f"t{k}_{name.split('_')[0].lower()}" for k, name in enumerate(spec.motifs)]
    task_motif = dict(zip(tasks, (motifs[m] for m in spec.motifs)))
    length = spec.sized_contig_length()
    n_blocks = length // spec.gc_block
    spacing = max(spec.length, 200) + 2 * spec.jitter + 60  # peaks never share a window
    seqs, lines = {}, {task: [] for task in tasks}
    n_planted = dict.fromkeys(tasks, 0)
    per_contig = [spec.peaks_per_task // spec.n_contigs + (i < spec.peaks_per_task % spec.n_contigs)
                  for i in range(spec.n_contigs)]
    for c in range(spec.n_contigs):
        chrom = f"chr{c + 1}"
        gcs = rng.uniform(*spec.gc_range, size=n_blocks + 1)
        block_of = np.minimum(np.arange(length) // spec.gc_block, n_blocks)
        gc = gcs[block_of]
        p = np.stack([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], axis=1)
        u = rng.random(length)[:, None]
        seq = np.array(list("ACGT"))[(u > np.cumsum(p, axis=1)).sum(axis=1).clip(0, 3)]
        # candidate summits on a grid, so no two peaks share a window; GC-rich blocks preferred
        grid = np.arange(spacing, length - spacing, spacing)
        weight = gc[grid] ** 4
        n_first = per_contig[c]
        n_shared = [int(round(spec.overlap * n_first)) for _ in tasks[1:]]
        n_total = n_first + sum(n_first - s for s in n_shared)
        if n_total > grid.size:
            raise ValueError(f"{chrom}: {n_total} peaks do not fit in {length} bp; give a longer contig_length")
        chosen = rng.choice(grid, size=n_total, replace=False, p=weight / weight.sum())
        first = chosen[:n_first]
        summits = {tasks[0]: first}
        rest = chosen[n_first:]
        for k, task in enumerate(tasks[1:]):
            own = rest[: n_first - n_shared[k]]
            rest = rest[n_first - n_shared[k]:]
            summits[task] = np.concatenate([rng.choice(first, size=n_shared[k], replace=False), own])
        for k, task in enumerate(tasks):
            for summit in summits[task]:
                summit = int(summit + rng.integers(-spec.jitter, spec.jitter + 1))
                if rng.random() >= spec.decoy_fraction:
                    site = _draw_site(rng, task_motif[task], spec.strength)
                    # shared summits: each task's site on its own side of the summit
                    at = summit - len(site) // 2 + (0 if k == 0 else 40 + 25 * (k - 1)) * (spec.overlap > 0)
                    seq[at : at + len(site)] = list(site)
                    n_planted[task] += 1
                start = summit - 100
                lines[task].append(f"{chrom}\t{start}\t{start + 200}\t{task}_{len(lines[task])}\t0\t.\t5\t-1\t-1\t100")
        seqs[chrom] = "".join(seq)
    fasta = root / "genome.fa"
    with open(fasta, "w") as fh:
        for chrom, text in seqs.items():
            fh.write(f">{chrom}\n")
            for i in range(0, len(text), 80):
                fh.write(text[i : i + 80] + "\n")
    beds = {}
    for task, rows in lines.items():
        beds[task] = root / f"{task}.narrowPeak"
        beds[task].write_text("\n".join(rows) + "\n")
    names = list(seqs)
    return PeakGenome(spec, fasta, beds, task_motif, [names[-1]], [names[-2]], n_planted)
