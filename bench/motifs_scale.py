"""``deeplift-genomics motifs`` at scale: wall-clock time and peak memory of one run on a large ``score``
output (e.g. 10,000 regions of 1 kb), each hit caller in its own process.

    deeplift-genomics simulate --out D --n-per-class 2500 --length 1000
    deeplift-genomics score --model tests/data/benchmark_default_model --fasta D/sequences.fa --out S \\
        --method gradient_x_input
    .venv/bin/python bench/motifs_scale.py --scores S [--callers joint window] [--threads 2]

Peak memory is the child process's maximum resident set size (``getrusage``), as a scheduler sees it.
Printed: records, bases, tasks, and per caller the seconds, the peak MiB and the peak MiB per million
scored values (bases x tasks x 4 hypothetical + 1 projected) against the size of the score arrays, so one
sees whether memory follows the whole score array or stays below it. One run: on a shared machine the
seconds are noisy.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", required=True, type=Path, help="score output directory")
    parser.add_argument("--callers", nargs="+", default=["joint"], choices=["joint", "window"])
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads of the run")
    args = parser.parse_args()
    with h5py.File(args.scores / "scores.h5", "r") as h5:
        n_records = len(h5["records/name"])
        n_bases = int(h5["records/offset"][-1])
        n_tasks = len(h5.attrs["task_names"])
    score_mib = n_bases * n_tasks * 5 * 4 / 2**20
    print(f"{n_records} records, {n_bases:,} bases, {n_tasks} tasks; float32 score arrays {score_mib:.0f} MiB")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads)}
    for caller in args.callers:
        with tempfile.TemporaryDirectory(prefix="motifs_scale_") as tmp:
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "deeplift_genomics", "motifs", "--scores", str(args.scores),
                                   "--out", str(Path(tmp) / "m"), "--hit-caller", caller, "-q"], env=env,
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
            status = "ok" if proc.returncode == 0 else f"failed: {proc.stderr.strip().splitlines()[-1:]}"
            n_hits = sum(1 for _ in open(Path(tmp) / "m" / "instances.tsv")) - 1 if proc.returncode == 0 else 0
        note = "" if peak > before else " (peak not above an earlier caller's: read the first caller's)"
        print(f"{caller}: {status}, {seconds:.1f} s, peak RSS {peak / 1024:.0f} MiB{note}, {n_hits} hits")


if __name__ == "__main__":
    main()
