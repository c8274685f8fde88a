"""Dinucleotide shuffle throughput: ours, ours with the torch walk, ours before (numpy, 0.1), tangermeme.

"ours" is :func:`deeplift_genomics.references.shuffle.dinucleotide_shuffle` as the CPU runs it (the compiled walk
for calls of 2M walk steps or more, as the default 1,000 x 20 x 200 is);
"ours, torch walk" is the same function with the batched torch walk that a GPU runs, here on the CPU
(the same shuffles, bit for bit). One process, the same sequences (``--n-seqs`` random ``--length`` bp,
default 1,000 x 200 bp) and ``--n`` shuffles each (default 20), the same thread count for everyone
(torch's intra-op threads for ours, numba's ``n_jobs`` for tangermeme's ``dinucleotide_shuffle``).

Settings: every ``--threads`` count under every ``--load``: ``idle`` (nothing added; other work on a
shared machine still counts, so "idle" is only what the machine had) and ``busy`` (a child process spins
a Python loop pinned to one core for the whole setting, as a job beside ours on a cluster node would).
In each setting every method gets a warm-up call (numba compiles), then ``--repeats`` rounds in which the
methods take turns; each keeps its best and its median time, so a busy spell of the machine hits all
alike. The median is what a user sees call after call; a stalled thread shows there, not in the best.
Prints shuffles/s per method and ours' ratio to each, best and median, per setting, and one JSON line.

Run: ``.venv/bin/python bench/shuffle_speed.py [--threads 1 2] [--load idle busy] [--repeats 7]
[--methods ours tangermeme]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from unittest import mock

import numpy as np
import torch


def random_onehot(n: int, length: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 4, size=(n, length))
    x = np.zeros((n, 4, length), dtype=np.float32)
    np.put_along_axis(x, idx[:, None, :], 1.0, axis=1)
    return torch.from_numpy(x)


def methods(threads: int, n: int) -> dict:
    from tangermeme.ersatz import dinucleotide_shuffle as tangermeme_shuffle

    from deeplift_genomics.references import shuffle
    from deeplift_genomics.references.shuffle import dinucleotide_shuffle
    from deeplift_genomics.references.shuffle_legacy import dinucleotide_shuffle_legacy

    def tangermeme(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tangermeme_shuffle(x, n=n, random_state=0, n_jobs=threads)

    def torch_walk(x):
        with mock.patch.object(shuffle, "_COMPILED_CPU_WALK", False):
            return dinucleotide_shuffle(x, n, seed=0)

    return {
        "ours": lambda x: dinucleotide_shuffle(x, n, seed=0),
        "ours, torch walk": torch_walk,
        "ours before (numpy)": lambda x: dinucleotide_shuffle_legacy(x, n, seed=0),
        "tangermeme": tangermeme,
    }


ALL_METHODS = ("ours", "ours, torch walk", "ours before (numpy)", "tangermeme")
SPIN = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


@contextlib.contextmanager
def load(kind: str) -> Iterator[None]:
    """``busy``: a child process spinning on one core (the last one) for the block; ``idle``: nothing."""
    if kind == "idle":
        yield
        return
    core = max(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    spinner = subprocess.Popen([sys.executable, "-c", SPIN, str(core)])
    try:
        time.sleep(0.2)  # let it start spinning
        yield
    finally:
        spinner.kill()
        spinner.wait()


def measure(x: torch.Tensor, threads: int, n: int, repeats: int, names: list[str]) -> dict[str, list[float]]:
    """Seconds of every round of every method in ``names``, the methods taking turns round after round."""
    torch.set_num_threads(threads)
    runs = {name: f for name, f in methods(threads, n).items() if name in names}
    for f in runs.values():
        f(x)  # warm-up at full size: numba compiles or loads its kernels, torch allocates
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, f in runs.items():
            t0 = time.perf_counter()
            out = f(x)
            times[name].append(time.perf_counter() - t0)
            assert tuple(out.shape) == (x.shape[0], n, 4, x.shape[2])
    return times


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-seqs", type=int, default=1000)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--n", type=int, default=20, help="shuffles per sequence")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--load", nargs="+", choices=("idle", "busy"), default=["idle", "busy"],
                    help="idle: the machine as it is; busy: plus a process spinning on one core")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--methods", nargs="+", choices=ALL_METHODS, default=list(ALL_METHODS))
    args = ap.parse_args(argv)
    x = random_onehot(args.n_seqs, args.length, seed=0)
    total = args.n_seqs * args.n
    report: dict = {}
    for threads in args.threads:
        for kind in args.load:
            with load(kind):
                times = measure(x, threads, args.n, args.repeats, args.methods)
            best = {name: min(t) for name, t in times.items()}
            median = {name: statistics.median(t) for name, t in times.items()}
            print(f"{threads} thread(s), {kind}, {args.n_seqs} x {args.length} bp x {args.n} shuffles, "
                  f"{args.repeats} interleaved rounds:")
            print(f"  {'method':22s} {'best/s':>10s} {'median/s':>10s}  ours is x faster (best, median)")
            for name in times:
                print(f"  {name:22s} {total / best[name]:10,.0f} {total / median[name]:10,.0f}  "
                      f"{best[name] / best['ours'] if 'ours' in best else float('nan'):5.2f} "
                      f"{median[name] / median['ours'] if 'ours' in median else float('nan'):5.2f}")
            report.setdefault(threads, {})[kind] = {
                name: {"best": total / best[name], "median": total / median[name]} for name in times
            }
    if "ours" in args.methods and "tangermeme" in args.methods:
        print("ours / tangermeme, median (goal >= 3 in every setting):")
        for threads, kinds in report.items():
            for kind, rates in kinds.items():
                ratio = rates["ours"]["median"] / rates["tangermeme"]["median"]
                print(f"  {threads} thread(s), {kind:4s}: {ratio:5.2f}  {'met' if ratio >= 3 else 'NOT met'}")
    print(json.dumps({"shuffles_per_s": report}))
    return report


if __name__ == "__main__":
    main()
