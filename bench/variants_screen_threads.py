"""The variants screen's CPU forward passes beside a busy core: torch's parallel regions (before) against
one torch thread with pieces of windows spread over the threads (after, :mod:`deeplift_genomics.core.threads`).

One process, ``--threads`` torch threads (default 2), the benchmark model (``tests/data/benchmark_default_model``,
the paper net: L = 200, 3 tasks), ``--n-variants`` random SNVs on a random genome (seeded, as
``bench/variants_screen.py`` makes them). A round screens them as ``variants`` does with its defaults: chunks
of 500 alleles, batches of 256 alleles (512 windows), the shuffled null at 0.25 draws per allele
(:func:`variants.screen.screen_alleles`). Contenders:

- ``before``: main's code path before this change: the screen in torch's own parallel regions (the body
  of ``screen_alleles`` without its one-thread block, ``ForwardScorer._rows`` on every whole batch, torch
  at ``--threads`` threads);
- ``after``: :func:`variants.screen.screen_alleles` as it runs now (torch at one thread, forward passes in
  pieces of ``PIECE_WINDOWS`` windows over the threads);
- ``after, 1 thread``: the same with torch at one thread (what the threads add over one);
- ``after, pieces of K``: the same with ``--pieces K`` windows per piece (to choose the piece size).

Loads (as ``bench/shuffle_speed.py --load``): ``idle`` (nothing added; other work on a shared machine
still counts) and ``busy`` (a child process spinning on one core for the whole setting). Per setting one
warm-up round, then ``--repeats`` rounds in which the contenders take turns; each keeps its best and
median time (the median is what a user sees chunk after chunk; a stalled thread shows there). Prints
SNVs/s per contender, after/before ratios (best, median), and one JSON line.

Run: ``.venv/bin/python bench/variants_screen_threads.py [--n-variants 2000] [--repeats 7] [--load idle busy]
[--pieces 16 64]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from shuffle_speed import load  # noqa: E402  (the busy-core child process, shared with that bench)
from variants_screen import make_inputs  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-variants", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--load", nargs="+", choices=("idle", "busy"), default=["idle", "busy"])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--pieces", type=int, nargs="*", default=[], help="other piece sizes to compare")
    ap.add_argument("--model", default=str(ROOT / "tests" / "data" / "benchmark_default_model"))
    args = ap.parse_args(argv)

    from deeplift_genomics.io.fasta import FastaFile
    from deeplift_genomics.io.vcf import read_vcf
    from deeplift_genomics.models.files import load_model
    from deeplift_genomics.variants import VariantOptions, screen
    from deeplift_genomics.variants.alleles import build_windows

    m = load_model(args.model)
    opt = VariantOptions(device="cpu")
    work = Path(tempfile.mkdtemp(prefix="screen_threads."))
    fa, vcf = make_inputs(work, args.n_variants)
    with FastaFile(fa) as f:
        wins, _ = build_windows(f, read_vcf(vcf).alleles, m.input_length)
    n = len(wins)
    scorer = screen.ForwardScorer(m.model.eval(), m.input_length, list(range(len(m.task_names))), "logit", "cpu")

    class Before(screen.ForwardScorer):
        """Main's forward pass: the whole batch at once, in torch's parallel regions."""

        def __call__(self, x: torch.Tensor):  # type: ignore[override]
            return self._rows(x.to(self.device, self.dtype))

    before = Before.__new__(Before)
    before.__dict__.update(scorer.__dict__)

    def screen_all(s: screen.ForwardScorer) -> None:
        # before: the body without the one-thread block, as main ran it
        call = screen._screen if isinstance(s, Before) else screen.screen_alleles
        for c, lo in enumerate(range(0, n, opt.chunk_size)):
            call(s, wins[lo : lo + opt.chunk_size], batch_size=opt.screen_batch_size, null_rate=opt.null_per_variant,
                 rng=screen.chunk_rng(0, c), null_kind=opt.null, seed=0, exclude=None)  # fmt: skip

    def with_pieces(k: int):
        def run() -> None:
            with mock.patch.object(screen, "PIECE_WINDOWS", k):
                screen_all(scorer)
        return run

    def one_thread() -> None:
        torch.set_num_threads(1)
        try:
            screen_all(scorer)
        finally:
            torch.set_num_threads(args.threads)

    runs = {"before": lambda: screen_all(before), "after": lambda: screen_all(scorer), "after, 1 thread": one_thread}
    runs.update({f"after, pieces of {k}": with_pieces(k) for k in args.pieces})
    torch.set_num_threads(args.threads)
    report: dict = {}
    for kind in args.load:
        with load(kind):
            for f in runs.values():
                f()  # warm-up
            times: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.repeats):
                for name, f in runs.items():
                    t0 = time.perf_counter()
                    f()
                    times[name].append(time.perf_counter() - t0)
        best = {k: min(t) for k, t in times.items()}
        med = {k: statistics.median(t) for k, t in times.items()}
        print(f"{args.threads} threads, {kind}, {n} SNVs (chunks of {opt.chunk_size}, batches of "
              f"{opt.screen_batch_size} alleles, null {opt.null} x {opt.null_per_variant}), {args.repeats} "
              f"interleaved rounds:")
        print(f"  {'contender':20s} {'best SNV/s':>10s} {'median SNV/s':>12s}  x before (best, median)")
        for k in runs:
            print(f"  {k:20s} {n / best[k]:10,.0f} {n / med[k]:12,.0f}  {best['before'] / best[k]:5.2f} "
                  f"{med['before'] / med[k]:5.2f}")
        report[kind] = {k: {"best": n / best[k], "median": n / med[k]} for k in runs}
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"threads": args.threads, "n_variants": n, "snvs_per_s": report}))
    return report


if __name__ == "__main__":
    main()
