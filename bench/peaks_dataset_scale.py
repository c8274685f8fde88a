"""Time and peak memory of ``dataset`` on a large random genome: the genome is read window by window.

    .venv/bin/python bench/peaks_dataset_scale.py [--contigs 4] [--contig-mb 25] [--peaks 10000] [--work DIR]

Writes a random genome (i.i.d. bases, GC varying per 10 kb block) and two BED files of random peaks,
then builds a GC-matched dataset (one negative per peak window) and prints the wall time, the peak RSS
(which stays far below the genome's size) and the counts.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def write_genome(path: Path, contigs: int, length: int, rng: np.random.Generator) -> None:
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "wb") as fh:
        for c in range(contigs):
            fh.write(f">chr{c + 1}\n".encode())
            for block in range(0, length, 10_000):
                gc = rng.uniform(0.3, 0.6)
                p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
                seq = letters[rng.choice(4, size=min(10_000, length - block), p=p)]
                for i in range(0, seq.size, 100):
                    fh.write(seq[i : i + 100].tobytes() + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contigs", type=int, default=4)
    parser.add_argument("--contig-mb", type=float, default=25)
    parser.add_argument("--peaks", type=int, default=10_000, help="peaks per task (2 tasks)")
    parser.add_argument("--work", default=None)
    args = parser.parse_args()

    from deeplift_genomics.datasets.peaks import PeakDatasetConfig, make_peak_dataset

    work = Path(args.work or tempfile.mkdtemp(prefix="peaks_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    length = int(args.contig_mb * 1e6)
    genome = work / "genome.fa"
    if not genome.exists():
        write_genome(genome, args.contigs, length, rng)
    beds = {}
    for task in ("a", "b"):
        chroms = rng.integers(1, args.contigs + 1, size=args.peaks)
        summits = rng.integers(1000, length - 1000, size=args.peaks)
        beds[task] = work / f"{task}.bed"
        beds[task].write_text("".join(f"chr{c}\t{s - 150}\t{s + 150}\n" for c, s in zip(chroms, summits)))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    config = PeakDatasetConfig(test_chroms=("chr1",), valid_chroms=("chr2",))
    ds = make_peak_dataset(genome, beds, work / "out", config, verbose=False)
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"genome {genome.stat().st_size / 1e6:.0f} MB ({args.contigs} contigs), {2 * args.peaks} peaks: "
        f"{len(ds)} windows ({ds.report['n_peak_windows']} peak windows, {ds.report['n_negatives']} negatives), "
        f"GC KS {ds.report['gc']['overall']['ks_statistic']:.3f}; {seconds:.1f} s wall "
        f"({len(ds) / seconds:.0f} windows/s), peak RSS {rss:.0f} MB (before building: {rss_before:.0f} MB)"
    )


if __name__ == "__main__":
    main()
