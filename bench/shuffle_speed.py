"""Dinucleotide shuffle throughput: ours, ours with the torch walk, ours before (numpy, 0.1), tangermeme.

"ours" is :func:`deeplift_genomics.references.shuffle.dinucleotide_shuffle` as the CPU runs it (the compiled walk
for calls of 2M walk steps or more, as the default 1,000 x 20 x 200 is);
"ours, torch walk" is the same function with the batched torch walk that a GPU runs, here on the CPU
(the same shuffles, bit for bit). One process, the same sequences (``--n-seqs`` random ``--length`` bp,
default 1,000 x 200 bp) and ``--n`` shuffles each (default 20), the same thread count for everyone
(torch's intra-op threads for ours, numba's ``n_jobs`` for tangermeme's ``dinucleotide_shuffle``).
Every method gets a warm-up call (numba compiles), then ``--repeats`` rounds in which the methods take
turns; each keeps its best time, so a busy spell of the machine hits all alike. Prints shuffles/s per
method and the ratios of ours to the others, per thread count.

Run: ``.venv/bin/python bench/shuffle_speed.py [--threads 1 2] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
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


def measure(x: torch.Tensor, threads: int, n: int, repeats: int) -> dict[str, float]:
    torch.set_num_threads(threads)
    runs = methods(threads, n)
    for f in runs.values():
        f(x)  # warm-up at full size: numba compiles or loads its kernels, torch allocates
    best = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, f in runs.items():
            t0 = time.perf_counter()
            out = f(x)
            best[name] = min(best[name], time.perf_counter() - t0)
            assert tuple(out.shape) == (x.shape[0], n, 4, x.shape[2])
    return best


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-seqs", type=int, default=1000)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--n", type=int, default=20, help="shuffles per sequence")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    x = random_onehot(args.n_seqs, args.length, seed=0)
    total = args.n_seqs * args.n
    report = {}
    for threads in args.threads:
        best = measure(x, threads, args.n, args.repeats)
        ours = best["ours"]
        print(f"{threads} thread(s), {args.n_seqs} x {args.length} bp x {args.n} shuffles, best of {args.repeats}:")
        for name, sec in best.items():
            print(f"  {name:22s} {sec:8.3f} s  {total / sec:10,.0f} shuffles/s  ours is {sec / ours:5.2f}x faster")
        report[threads] = {name: total / sec for name, sec in best.items()}
    print(json.dumps({"shuffles_per_s": report}))
    return report


if __name__ == "__main__":
    main()
