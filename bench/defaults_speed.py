"""`score` end to end against `attribute` with its defaults, and both against another source tree.

The issue asked why ``score`` (37 seq/s) and ``attribute`` with its defaults (32 seq/s) ran at different
speeds on the same 2,000 sequences, and for ``score`` to stay at least as fast after the device shuffle.
This script measures, in one run with the contenders' rounds interleaved (each keeps its best time):

- ``score`` CLI with its defaults on a FASTA of ``--n-seqs`` random ``--length`` bp records, end to end
  (a fresh process: start-up, model load, scoring, writing every output);
- ``attribute`` (the Python function) with its defaults on the same sequences, in a fresh process, timed
  around the call only; and with ``--batch-sizes`` pairs per batch, to show what the batch size does;
- with ``--baseline-src DIR`` (a checkout of another commit, e.g. ``git worktree add /tmp/base main``),
  the same two default runs with that tree's code, so "before" and "after" share the machine's load.

Every contender uses the stored benchmark model (``tests/data/benchmark_default_model``: the paper's
net, 3 tasks) and ``--threads`` torch threads. Prints sequences/s per contender and one JSON line.

Run: ``.venv/bin/python bench/defaults_speed.py [--n-seqs 2000] [--repeats 2] [--baseline-src DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "data" / "benchmark_default_model"

# Runs in a fresh process with the source tree under test first on sys.path; prints the call's seconds.
ATTRIBUTE = """
import sys, time, numpy as np, torch
torch.set_num_threads({threads})
from deeplift_genomics import attribute
from deeplift_genomics.models.files import load_model
model = load_model({model!r}).model
x = torch.from_numpy(np.load({x!r}))
attribute(model, x[:4], verbose=False)  # warm-up: imports, the tracer, first allocations
kwargs = {kwargs}
t0 = time.perf_counter()
attribute(model, x, verbose=False, **kwargs)
print(time.perf_counter() - t0)
"""


def write_inputs(folder: Path, n: int, length: int, seed: int) -> tuple[Path, Path]:
    """A FASTA of ``n`` random records and the same sequences one-hot in a ``.npy`` file."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 4, size=(n, length))
    fasta = folder / "records.fa"
    with open(fasta, "w") as fh:
        for i, row in enumerate(idx):
            fh.write(f">r{i}\n{''.join('ACGT'[c] for c in row)}\n")
    x = np.zeros((n, 4, length), dtype=np.float32)
    np.put_along_axis(x, idx[:, None, :], 1.0, axis=1)
    onehot = folder / "records.npy"
    np.save(onehot, x)
    return fasta, onehot


def environment(src: Path, threads: int) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS=str(threads))
    return env


def time_score(src: Path, fasta: Path, folder: Path, threads: int) -> float:
    """Seconds of one ``score`` run with its defaults, start to exit (into a new folder: no resuming)."""
    out = Path(tempfile.mkdtemp(prefix="score_", dir=folder)) / "out"
    cmd = [sys.executable, "-c", "from deeplift_genomics.cli import main; raise SystemExit(main())", "score",
           "--model", str(MODEL), "--fasta", str(fasta), "--out", str(out), "-q"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=environment(src, threads), cwd=out.parent)
    return time.perf_counter() - t0


def time_attribute(src: Path, onehot: Path, threads: int, kwargs: dict) -> float:
    """Seconds of one ``attribute`` call (defaults updated by ``kwargs``), in a fresh process."""
    code = ATTRIBUTE.format(threads=threads, model=str(MODEL), x=str(onehot), kwargs=repr(kwargs))
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                          env=environment(src, threads), cwd=onehot.parent)
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-seqs", type=int, default=2000)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", type=int, nargs="*", default=[128, 256],
                    help="also time attribute with these pairs per batch (this tree)")
    ap.add_argument("--baseline-src", type=Path, help="another source tree to time the same defaults with")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="defaults_speed_") as tmp:
        folder = Path(tmp)
        fasta, onehot = write_inputs(folder, args.n_seqs, args.length, seed=0)
        trees = {"this tree": ROOT}
        if args.baseline_src is not None:
            trees["baseline"] = args.baseline_src.resolve()
        contenders = {}
        for name, src in trees.items():
            contenders[f"score, defaults ({name})"] = lambda src=src: time_score(src, fasta, folder, args.threads)
            contenders[f"attribute, defaults ({name})"] = (
                lambda src=src: time_attribute(src, onehot, args.threads, {}))
        for bs in args.batch_sizes:
            contenders[f"attribute, batch_size={bs} (this tree)"] = (
                lambda bs=bs: time_attribute(ROOT, onehot, args.threads, {"batch_size": bs}))
        best = {name: float("inf") for name in contenders}
        for r in range(args.repeats):
            for name, run in contenders.items():
                sec = run()
                best[name] = min(best[name], sec)
                print(f"round {r + 1}: {name:40s} {sec:7.1f} s", file=sys.stderr, flush=True)
    print(f"{args.n_seqs} x {args.length} bp, {args.threads} threads, best of {args.repeats} interleaved rounds:")
    rates = {name: args.n_seqs / sec for name, sec in best.items()}
    for name, rate in rates.items():
        print(f"  {name:40s} {rate:7.1f} seq/s  ({best[name]:.1f} s)")
    print(json.dumps({"seq_per_s": rates}))
    return rates


if __name__ == "__main__":
    main()
