"""Variant screening speed: the screen against the model's plain forward pass, the explained share's cost,
today's rate (every allele explained), and ``variants`` end to end on 100,000 SNVs, in one run.

One process, 2 torch threads, the benchmark model (``tests/data/benchmark_default_model``, the paper net:
L = 200, 3 tasks), random SNVs on a random genome (seeded). In ``--repeats`` interleaved rounds (each
keeping its best time, so a busy spell of the shared machine hits all alike), on ``--n-variants`` SNVs:

- ``forward``: the model's plain forward pass on the same REF and ALT windows (one-hot made from the
  window strings, batches of 512 windows): the floor of any screen;
- ``screen``: :func:`variants.screen.screen_alleles` on those windows (both windows, the null SNVs of the
  default null, p-values need nothing more);
- ``variants_screen_only``: :func:`score_variants` end to end with ``explain="none"`` (VCF, windows, screen,
  null, every output);
- ``variants_default``: end to end with the defaults (the top 1% of the run explained with DeepLIFT
  against 20 shuffles, motif context, report);
- ``variants_explain_all`` (today's behaviour, ``--explain all``) on the first ``--n-explain-all`` SNVs
  (it runs ~100 SNVs/s; its rate is what matters).

Then ``variants`` with the defaults on ``--n-large`` SNVs (default 100,000) in a child process, timed, its
peak resident memory from ``resource.getrusage(RUSAGE_CHILDREN)``.

Run: ``.venv/bin/python bench/variants_screen.py [--n-variants 4000] [--n-large 100000] [--repeats 2]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def make_inputs(work: Path, n: int, seed: int = 0, name: str = "v") -> tuple[Path, Path]:
    """A random genome and ``n`` random SNVs on it (sorted, one per position)."""
    rng = np.random.default_rng(seed)
    n_chrom = max(1, n // 10000 + 1)
    size = max(5000, 30 * n // n_chrom)
    genome = {f"chr{i}": "".join(rng.choice(list("ACGT"), size)) for i in range(1, n_chrom + 1)}
    fa = work / f"{name}.fa"
    with open(fa, "w") as h:
        for k, v in genome.items():
            h.write(f">{k}\n")
            for lo in range(0, len(v), 80):
                h.write(v[lo : lo + 80] + "\n")
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    per = -(-n // n_chrom)
    for c in range(1, n_chrom + 1):
        seq = genome[f"chr{c}"]
        pos = np.sort(rng.choice(np.arange(150, size - 150), size=min(per, size - 300), replace=False))
        for p in pos:
            ref = seq[p]
            lines.append(f"chr{c}\t{p + 1}\t.\t{ref}\t{'ACGT'.replace(ref, '')[int(rng.integers(3))]}\t.\t.\t.")
            if len(lines) - 2 >= n:
                break
    vcf = work / f"{name}.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    return fa, vcf


def large_run(args: argparse.Namespace) -> None:
    """Child process: ``variants`` with the defaults on the large VCF; prints its JSON line."""
    torch.set_num_threads(args.threads)
    from deeplift_genomics.models.files import load_model
    from deeplift_genomics.variants import VariantOptions, score_variants

    m = load_model(args.model)
    work = Path(args.work)
    t0 = time.perf_counter()
    s = score_variants(m.model, m.input_length, m.task_names, work / "large.fa", work / "large.vcf", work / "large_out",
                       options=VariantOptions(device="cpu"))  # fmt: skip
    sec = time.perf_counter() - t0
    print(json.dumps({"n": s.n_scored, "seconds": sec, "seconds_screen": s.seconds_screen,
                      "seconds_explain": s.seconds_explain, "n_explained": s.n_explained,
                      "peak_rss_mib_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-variants", type=int, default=4000)
    ap.add_argument("--n-explain-all", type=int, default=300)
    ap.add_argument("--n-large", type=int, default=100000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=str(ROOT / "tests" / "data" / "benchmark_default_model"))
    ap.add_argument("--large-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.large_child:
        large_run(args)
        return {}
    torch.set_num_threads(args.threads)

    from deeplift_genomics.io.fasta import FastaFile
    from deeplift_genomics.io.onehot import one_hot
    from deeplift_genomics.io.vcf import read_vcf
    from deeplift_genomics.models.files import load_model
    from deeplift_genomics.variants import VariantOptions, score_variants
    from deeplift_genomics.variants.alleles import build_windows
    from deeplift_genomics.variants.screen import ForwardScorer, chunk_rng, screen_alleles

    m = load_model(args.model)
    work = Path(tempfile.mkdtemp(prefix="variants_screen."))
    fa, vcf = make_inputs(work, args.n_variants)
    small_fa, small_vcf = fa, work / "small.vcf"
    text = vcf.read_text().splitlines()
    small_vcf.write_text("\n".join(text[: 2 + args.n_explain_all]) + "\n")
    with FastaFile(fa) as f:
        wins, _ = build_windows(f, read_vcf(vcf).alleles, m.input_length)
    n = len(wins)
    seqs = [w.ref_seq for w in wins] + [w.alt_seq for w in wins]
    scorer = ForwardScorer(m.model, m.input_length, list(range(len(m.task_names))), "logit", "cpu")
    model = m.model.eval()

    def run_forward() -> None:
        with torch.inference_mode():
            for lo in range(0, len(seqs), 512):
                model(torch.from_numpy(one_hot(seqs[lo : lo + 512])))

    def run_screen() -> None:
        screen_alleles(scorer, wins, batch_size=256, null_rate=VariantOptions().null_per_variant, rng=chunk_rng(0, 0))

    def run_variants(vcf_path: Path, **kw: object) -> None:
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        score_variants(m.model, m.input_length, m.task_names, small_fa, vcf_path, out,
                       options=VariantOptions(device="cpu", **kw))  # type: ignore[arg-type]  # fmt: skip

    jobs = {
        "forward": (n, run_forward),
        "screen": (n, run_screen),
        "variants_screen_only": (n, lambda: run_variants(vcf, explain="none")),
        "variants_default": (n, lambda: run_variants(vcf)),
        "variants_explain_all": (args.n_explain_all, lambda: run_variants(small_vcf, explain="all")),
    }
    run_forward()  # warm-up
    best = {k: float("inf") for k in jobs}
    for _ in range(args.repeats):
        for k, (_, fn) in jobs.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    rate = {k: jobs[k][0] / best[k] for k in jobs}
    result: dict = {
        "n_variants": n,
        "threads": args.threads,
        "seconds": best,
        "snvs_per_second": rate,
        "screen_over_forward_rate": rate["screen"] / rate["forward"],
        "variants_screen_only_over_forward_rate": rate["variants_screen_only"] / rate["forward"],
        "variants_default_over_forward_rate": rate["variants_default"] / rate["forward"],
        "variants_default_over_explain_all_rate": rate["variants_default"] / rate["variants_explain_all"],
        "explained_share_cost_seconds": best["variants_default"] - best["variants_screen_only"],
        "explained_share_cost_fraction": (best["variants_default"] - best["variants_screen_only"]) / best["variants_default"],
    }
    if args.n_large:
        make_inputs(work, args.n_large, seed=1, name="large")
        cmd = [sys.executable, __file__, "--large-child", "--work", str(work), "--model", args.model,
               "--threads", str(args.threads)]  # fmt: skip
        t0 = time.perf_counter()
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        large = json.loads(done.stdout.strip().splitlines()[-1])
        large["wall_seconds_with_start"] = wall
        large["peak_rss_mib_children"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        large["snvs_per_second"] = large["n"] / large["seconds"]
        result["large"] = large
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))
    print(
        f"{n} SNVs, {args.threads} threads: forward {rate['forward']:.0f} SNV pairs/s; screen {rate['screen']:.0f}/s "
        f"({result['screen_over_forward_rate']:.2f}x forward); variants screen-only end to end "
        f"{rate['variants_screen_only']:.0f}/s ({result['variants_screen_only_over_forward_rate']:.2f}x); defaults "
        f"{rate['variants_default']:.0f}/s ({result['variants_default_over_forward_rate']:.2f}x, "
        f"{result['variants_default_over_explain_all_rate']:.1f}x today's explain-all {rate['variants_explain_all']:.0f}/s)"
    )
    if "large" in result:
        lg = result["large"]
        print(f"{lg['n']} SNVs end to end (defaults): {lg['seconds']:.0f} s ({lg['snvs_per_second']:.0f}/s), peak RSS "
              f"{lg['peak_rss_mib_self']:.0f} MiB")
    return result


if __name__ == "__main__":
    main()
