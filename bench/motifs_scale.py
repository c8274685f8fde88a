"""``deeplift-genomics motifs`` at scale: wall-clock time and peak memory of whole runs on large ``score``
outputs (e.g. 2,500, 5,000 and 10,000 regions of 1 kb), each run in its own process, one or more package
trees (``--trees``: e.g. main's checkout against this one) interleaved size by size.

    .venv/bin/python bench/motifs_scale.py --make-standin S10k --n-records 10000
    .venv/bin/python bench/motifs_scale.py --scores S2500 S5000 S10k --trees /work/main .

``--make-standin`` writes a stand-in ``scores.h5`` (the format of ``score``; scoring 10,000 x 1 kb with a
model does not fit a shared 2-core machine): random sequence, three tasks ``gata`` / ``tal1`` / ``both``,
small Gaussian hypothetical contributions everywhere, and contributions of +0.3 per base (on the observed
base) at planted GATA (``AGATAA``) and TAL1 (``CAGCTG``) instances in about half the records, with genome
coordinates on ``chr1``.

Peak memory is the run's maximum resident set size (``RUSAGE_CHILDREN`` of a fresh process whose only
child it is), as a scheduler sees it. Printed per tree and input: seconds, peak MiB, hits, and the float32 size of
the input's score arrays, so one sees whether memory follows the score array or stays flat. On a shared
machine the seconds are noisy: compare trees within one size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

MOTIFS = {"gata": "AGATAA", "tal1": "CAGCTG"}


def make_standin(out: Path, n_records: int, length: int = 1000, seed: int = 0) -> None:
    """A ``scores.h5`` with planted motif contributions (see the module docstring)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from deeplift_genomics.score.outputs import create_scores_h5

    rng = np.random.default_rng(seed)
    n_bases = n_records * length
    tasks = ["gata", "tal1", "both"]
    out.mkdir(parents=True, exist_ok=True)
    offsets = np.arange(n_records + 1, dtype=np.int64) * length
    with h5py.File(out / "scores.h5", "w") as h5:
        create_scores_h5(h5, n_records=n_records, n_bases=n_bases, n_windows=0, n_tasks=3,
                         attrs={"task_names": tasks, "method": "standin"})
        rec = h5["records"]
        names = [f"chr1:{i * 2000}-{i * 2000 + length}" for i in range(n_records)]
        rec["name"][:] = names
        rec["record"][:] = names
        rec["action"][:] = ["scored"] * n_records
        rec["chrom"][:] = ["chr1"] * n_records
        rec["strand"][:] = ["+"] * n_records
        rec["length"][:] = length
        rec["scored_start"][:] = 0
        rec["scored_end"][:] = length
        rec["chrom_start"][:] = np.arange(n_records) * 2000
        rec["chrom_end"][:] = np.arange(n_records) * 2000 + length
        rec["offset"][:] = offsets
        step = 1000  # records per write
        for lo in range(0, n_records, step):
            hi = min(lo + step, n_records)
            n = (hi - lo) * length
            seq = rng.integers(0, 4, n)
            plant = np.zeros((3, n), dtype=bool)
            for r in range(hi - lo):
                for motif, rows in (("gata", (0, 2)), ("tal1", (1, 2))):
                    for _ in range(int(rng.random() < 0.5) * int(rng.integers(1, 3))):
                        at = r * length + int(rng.integers(20, length - 30))
                        seq[at:at + 6] = ["ACGT".index(b) for b in MOTIFS[motif]]
                        for row in rows:
                            plant[row, at:at + 6] = True
            onehot = np.zeros((4, n), dtype=np.float32)
            onehot[seq, np.arange(n)] = 1
            hyp = rng.normal(0, 0.02, (3, 4, n)).astype(np.float32)
            hyp += (0.3 * plant)[:, None, :].astype(np.float32) * onehot[None]
            a, b = lo * length, hi * length
            h5["sequence"][a:b] = np.frombuffer("".join("ACGT"[i] for i in seq).encode(), dtype=np.uint8)
            h5["hypothetical"][:, :, a:b] = hyp
            h5["projected"][:, a:b] = (hyp * onehot[None]).sum(axis=1)


MEASURE = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
seconds = time.perf_counter() - t0
print(rc, seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run_one(tree: Path, scores: Path, threads: int) -> tuple[str, float, float, int]:
    """One ``motifs`` run of the package at ``tree``: status, seconds, peak RSS MiB, hits.

    The run is the only child of a fresh Python process that reports ``RUSAGE_CHILDREN``'s maximum
    resident set size (KiB), so no other run's peak can hide it."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "PYTHONPATH": f"/tmp/noedit:{tree}"}
    with tempfile.TemporaryDirectory(prefix="motifs_scale_") as tmp:
        proc = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "deeplift_genomics", "motifs",
                               "--scores", str(scores.resolve()), "--out", str(Path(tmp) / "m"), "-q"], env=env,
                              capture_output=True, text=True, cwd=tmp)  # not the repo: -m would import it first
        rc, seconds, peak_kib = proc.stdout.split()
        ok = int(rc) == 0
        hits = sum(1 for _ in open(Path(tmp) / "m" / "instances.tsv")) - 1 if ok else 0
    status = "ok" if ok else f"failed: {proc.stderr.strip().splitlines()[-1:]}"
    return status, float(seconds), int(peak_kib) / 1024, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", nargs="+", type=Path, help="score output directories (smallest first)")
    parser.add_argument("--trees", nargs="+", type=Path, default=[Path(".")],
                        help="package checkouts to run (PYTHONPATH), interleaved per input")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads of the run")
    parser.add_argument("--make-standin", type=Path, metavar="DIR", help="write a stand-in score directory")
    parser.add_argument("--n-records", type=int, default=10_000)
    args = parser.parse_args()
    if args.make_standin:
        make_standin(args.make_standin, args.n_records)
        return
    for scores in args.scores or []:
        with h5py.File(scores / "scores.h5", "r") as h5:
            n_records = len(h5["records/name"])
            n_bases = int(h5["records/offset"][-1])
            n_tasks = len(h5.attrs["task_names"])
        score_mib = n_bases * n_tasks * 5 * 4 / 2**20
        print(f"{scores}: {n_records} records, {n_bases:,} bases, {n_tasks} tasks; float32 score arrays "
              f"{score_mib:.0f} MiB", flush=True)
        for tree in args.trees:
            status, seconds, peak, hits = run_one(tree.resolve(), scores, args.threads)
            print(f"  {tree}: {status}, {seconds:.1f} s, peak RSS {peak:.0f} MiB, {hits} hits", flush=True)


if __name__ == "__main__":
    main()
