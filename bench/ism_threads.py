"""ISM on the CPU beside a busy core: batches as pieces (torch at one thread) against torch's parallel regions.

:func:`deeplift_genomics.ism.ism_scores` on ``--n-seqs`` random ``--length`` bp sequences (default 16 x 200
bp: 9,600 mutants, 38 batches of 256) of the stored benchmark model (the paper's net, 3 tasks), two ways
in one process:

- ``pieces`` (this code): torch at one thread, the batches of mutants taken from a shared counter by
  the calling thread and ``threads - 1`` helpers (:mod:`deeplift_genomics.core.threads`);
- ``torch regions`` (the code before): the same function with the batches run in order on the calling
  thread and torch at ``threads`` intra-op threads, whose parallel regions split every operation into one
  fixed part per thread (``one_torch_thread`` replaced by a block that leaves torch's count alone).

Settings: every ``--threads`` count under every ``--load``: ``idle`` (nothing added; other work on a
shared machine still counts) and ``busy`` (a child process spins a Python loop pinned to one core for
the whole setting, as in ``bench/shuffle_speed.py``). In each setting both get a warm-up call, then
``--repeats`` rounds in which they take turns; each keeps its best and its median. Prints mutants/s and
the ratio pieces / torch regions (best, median), and one JSON line. Both give the same scores up to the
rounding of a parallel reduction (checked once per setting).

Run: ``.venv/bin/python bench/ism_threads.py [--threads 1 2] [--load idle busy] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shuffle_speed import load  # noqa: E402 - the same busy core as the shuffle benchmark

from deeplift_genomics import ism  # noqa: E402
from deeplift_genomics.models.files import load_model  # noqa: E402

MODEL = Path(__file__).resolve().parents[1] / "tests" / "data" / "benchmark_default_model"


@contextlib.contextmanager
def torch_regions(device: torch.device) -> Iterator[int]:
    """Stands in for ``one_torch_thread``: torch keeps its threads, the batches run on one thread."""
    yield 1


def contenders(model: torch.nn.Module) -> dict:
    def pieces(x):
        return ism.ism_scores(model, x, device="cpu", verbose=False)

    def regions(x):
        with mock.patch.object(ism, "one_torch_thread", torch_regions):
            return ism.ism_scores(model, x, device="cpu", verbose=False)

    return {"pieces": pieces, "torch regions": regions}


def measure(x: torch.Tensor, threads: int, repeats: int, runs: dict) -> dict[str, list[float]]:
    """Seconds of every round of every contender, the contenders taking turns round after round."""
    torch.set_num_threads(threads)
    first = {name: f(x) for name, f in runs.items()}  # warm-up; and both compute ISM
    a, b = first.values()
    scale = float(a.abs().max())
    assert float((a - b).abs().max()) <= 1e-5 * scale, "the two ways disagree beyond float32 rounding"
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, f in runs.items():
            t0 = time.perf_counter()
            f(x)
            times[name].append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-seqs", type=int, default=16)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--load", nargs="+", choices=("idle", "busy"), default=["idle", "busy"],
                    help="idle: the machine as it is; busy: plus a process spinning on one core")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    model = load_model(MODEL).model.eval()
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 4, size=(args.n_seqs, args.length))
    x = torch.from_numpy(np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1).copy())
    mutants = 3 * args.n_seqs * args.length
    runs = contenders(model)
    before = torch.get_num_threads()
    report: dict = {}
    try:
        for threads in args.threads:
            for kind in args.load:
                with load(kind):
                    times = measure(x, threads, args.repeats, runs)
                best = {name: min(t) for name, t in times.items()}
                median = {name: statistics.median(t) for name, t in times.items()}
                print(f"{threads} thread(s), {kind}, ISM of {args.n_seqs} x {args.length} bp ({mutants:,} mutants), "
                      f"{args.repeats} interleaved rounds:")
                print(f"  {'contender':14s} {'best/s':>10s} {'median/s':>10s}")
                for name in times:
                    print(f"  {name:14s} {mutants / best[name]:10,.0f} {mutants / median[name]:10,.0f}")
                ratio = {"best": best["torch regions"] / best["pieces"],
                         "median": median["torch regions"] / median["pieces"]}
                print(f"  pieces / torch regions: best {ratio['best']:.2f}x, median {ratio['median']:.2f}x")
                report.setdefault(threads, {})[kind] = {
                    **{name: {"best": mutants / best[name], "median": mutants / median[name]} for name in times},
                    "pieces_over_torch_regions": ratio,
                }
    finally:
        torch.set_num_threads(before)
    print(json.dumps({"mutants_per_s": report}))
    return report


if __name__ == "__main__":
    main()
