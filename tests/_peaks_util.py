"""A synthetic genome with planted motifs at the summits of known peaks, for the peak-dataset tests.

Background: blocks of 1 kb whose GC fraction is uniform on [0.3, 0.65]; peaks sit at block centres,
preferring GC-rich blocks (weight gc^6), so a random genomic window is GC-poorer than a peak window and
GC matching has work to do. Per contig: GATA peaks (GATA_disc1's consensus at the summit), TAL1 peaks
(TAL1_known1's consensus), peaks in both files (both motifs) and decoy peaks (no motif). The generator
records what it planted and the special cases it made (peaks on a contig the genome lacks, past the
contig end, windows off the contig start, with N, blacklisted), so the tests count independently.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

GATA = "GCAGATAAGG"  # consensus of GATA_disc1 (ENCODE motif collection)
TAL1 = "CTGAACAGATGGTCGG"  # consensus of TAL1_known1
BLOCK = 1000


@dataclasses.dataclass
class SyntheticGenome:
    fasta: Path
    beds: dict[str, Path]
    blacklist: Path
    contigs: dict[str, int]
    # task -> list of (chrom, summit) of every peak written to its BED file (on genome contigs)
    summits: dict[str, list[tuple[str, int]]]
    expected: dict[str, dict[str, int]]  # task -> counts the builder must report
    planted: dict[str, int]  # task -> windows expected to survive


def _block_sequence(rng: np.random.Generator, gc: float, n: int) -> np.ndarray:
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return np.array(list("ACGT"))[rng.choice(4, size=n, p=p)]


def make_genome(
    root: Path,
    n_contigs: int = 8,
    contig_length: int = 100_000,
    per_contig: tuple[int, int, int, int] = (15, 15, 5, 10),
    seed: int = 0,
) -> SyntheticGenome:
    """Write ``genome.fa``, ``gata.bed``, ``tal1.bed``, ``decoy.bed`` and ``blacklist.bed`` into ``root``.

    ``per_contig`` = GATA-only, TAL1-only, both, decoy peaks per contig. Special cases, all on chr1:
    2 GATA peaks whose 200-bp window runs off the contig start, 1 TAL1 peak with N in its window,
    1 decoy peak inside the blacklist; plus 3 GATA peaks on ``chrUn_missing`` (not in the genome) and
    2 TAL1 peaks reaching past chr2's end.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    contigs = {f"chr{i + 1}": contig_length for i in range(n_contigs)}
    n_blocks = contig_length // BLOCK
    seqs: dict[str, np.ndarray] = {}
    lines = {"gata": [], "tal1": [], "decoy": []}
    summits = {"gata": [], "tal1": [], "decoy": []}
    expected = {
        t: {
            "peaks": 0,
            "unknown_contig": 0,
            "peak_past_contig_end": 0,
            "off_contig_end": 0,
            "contains_n": 0,
            "blacklisted": 0,
            "duplicate": 0,
        }
        for t in lines
    }
    planted = {"gata": 0, "tal1": 0, "decoy": 0}
    blacklist_lines = []

    def add(task: str, chrom: str, summit: int, half: int = 120, kept: bool = True) -> None:
        start, end = summit - half, summit + half + 1
        start = max(start, 0)
        # narrowPeak: column 10 is the summit's offset from the start
        lines[task].append(
            f"{chrom}\t{start}\t{end}\t{task}_{len(lines[task])}\t0\t.\t5.0\t-1\t-1\t{summit - start}"
        )
        summits[task].append((chrom, summit))
        expected[task]["peaks"] += 1
        planted[task] += kept

    for chrom in contigs:
        gcs = rng.uniform(0.3, 0.65, size=n_blocks)
        seq = np.concatenate([_block_sequence(rng, g, BLOCK) for g in gcs])
        weights = gcs**6
        weights[0] = weights[-1] = 0  # keep regular peaks away from the contig ends
        n_gata, n_tal1, n_both, n_decoy = per_contig
        blocks = rng.choice(n_blocks, size=sum(per_contig), replace=False, p=weights / weights.sum())
        kinds = ["gata"] * n_gata + ["tal1"] * n_tal1 + ["both"] * n_both + ["decoy"] * n_decoy
        for block, kind in zip(blocks, kinds):
            summit = int(block * BLOCK + BLOCK // 2 + rng.integers(-50, 51))
            if kind in ("gata", "both"):
                at = summit - len(GATA) // 2 - (25 if kind == "both" else 0)
                seq[at : at + len(GATA)] = list(GATA)
                add("gata", chrom, summit)
            if kind in ("tal1", "both"):
                at = summit - len(TAL1) // 2 + (25 if kind == "both" else 0)
                seq[at : at + len(TAL1)] = list(TAL1)
                add("tal1", chrom, summit)
            if kind == "decoy":
                add("decoy", chrom, summit)
        seqs[chrom] = seq

    # Special cases on chr1's first and last blocks (free of regular peaks).
    chr1 = seqs["chr1"]
    for summit in (40, 80):  # window [summit - 100, ...) starts before 0
        add("gata", "chr1", summit, half=30, kept=False)
        expected["gata"]["off_contig_end"] += 1
    last = contig_length - BLOCK
    chr1[last + 100 : last + 110] = list("N" * 10)
    add("tal1", "chr1", last + 150, kept=False)  # its window [last+50, last+250) holds the Ns
    expected["tal1"]["contains_n"] += 1
    add("decoy", "chr1", last + 700, kept=False)
    blacklist_lines.append(f"chr1\t{last + 650}\t{last + 750}")
    expected["decoy"]["blacklisted"] += 1
    for k in range(3):
        lines["gata"].append(f"chrUn_missing\t{1000 * k}\t{1000 * k + 200}")
        expected["gata"]["peaks"] += 1
        expected["gata"]["unknown_contig"] += 1
    for k in range(2):
        lines["tal1"].append(f"chr2\t{contig_length - 100 + 10 * k}\t{contig_length + 50}")
        expected["tal1"]["peaks"] += 1
        expected["tal1"]["peak_past_contig_end"] += 1

    fasta = root / "genome.fa"
    with open(fasta, "w") as fh:
        for chrom, seq in seqs.items():
            fh.write(f">{chrom}\n")
            text = "".join(seq)
            for i in range(0, len(text), 80):
                fh.write(text[i : i + 80] + "\n")
    beds = {}
    for task, rows in lines.items():
        beds[task] = root / f"{task}.bed"
        beds[task].write_text("\n".join(rows) + "\n")
    blacklist = root / "blacklist.bed"
    blacklist.write_text("\n".join(blacklist_lines) + "\n")
    return SyntheticGenome(fasta, beds, blacklist, contigs, summits, expected, planted)
