"""Variant scoring speed: ``variants`` with its defaults against ISM of the same windows, in one run.

One process, 2 torch threads, the benchmark model (``tests/data/benchmark_default_model``, L = 200,
3 tasks), ``--n-variants`` random SNVs on a random genome (seeded). Timed, in ``--repeats`` interleaved
rounds (each keeping its best time, so a busy spell of the machine hits all alike):

- ``variants``: :func:`deeplift_genomics.variants.score_variants` end to end with the defaults (DeepLIFT
  genomics default, 20 shuffles of each REF window shared by both alleles, motif context against the
  2,067 shipped ENCODE motifs, all outputs including the HTML report of the top 20);
- ``variants_no_report``: the same without the report (``report_top=0``): the HTML report's cost is
  fixed (about 20 logos), not per variant;
- ``attribution``: only :func:`variants.effects.score_alleles` (both windows, shared references);
- ``motifs``: only :func:`variants.motif_context.assign_motifs`;
- ``ism``: :func:`deeplift_genomics.ism.ism_scores` of the same REF windows (all ``3 L`` substitutions of
  each window: the effects of every possible SNV in it, with no explanation).

Run: ``.venv/bin/python bench/variants_speed.py [--n-variants 64] [--repeats 2]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-variants", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=str(ROOT / "tests" / "data" / "benchmark_default_model"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from deeplift_genomics.io.fasta import FastaFile
    from deeplift_genomics.io.onehot import one_hot
    from deeplift_genomics.io.vcf import read_vcf
    from deeplift_genomics.ism import ism_scores
    from deeplift_genomics.models.files import load_model
    from deeplift_genomics.variants import VariantOptions, score_variants
    from deeplift_genomics.variants.alleles import build_windows
    from deeplift_genomics.variants.effects import model_head, score_alleles
    from deeplift_genomics.variants.motif_context import assign_motifs, load_bank

    m = load_model(args.model)
    rng = np.random.default_rng(0)
    work = Path(tempfile.mkdtemp(prefix="variants_speed."))
    genome = {f"chr{i}": "".join(rng.choice(list("ACGT"), 5000)) for i in range(1, 4)}
    (work / "g.fa").write_text("".join(f">{k}\n{v}\n" for k, v in genome.items()))
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    picks = sorted((f"chr{rng.integers(1, 4)}", int(rng.integers(150, 4850))) for _ in range(args.n_variants))
    for chrom, p in dict.fromkeys(picks):
        ref = genome[chrom][p]
        lines.append(f"{chrom}\t{p + 1}\t.\t{ref}\t{'ACGT'.replace(ref, '')[int(rng.integers(3))]}\t.\t.\t.")
    (work / "v.vcf").write_text("\n".join(lines) + "\n")
    alleles = read_vcf(work / "v.vcf").alleles
    with FastaFile(work / "g.fa") as fa:
        wins, _ = build_windows(fa, alleles, m.input_length)
    n = len(wins)
    refs = [w.ref_seq for w in wins]
    alts = [w.alt_seq for w in wins]
    bank = load_bank()
    head = model_head(m.model, torch.zeros(1, 4, m.input_length))
    x = torch.from_numpy(one_hot(refs))

    def run_variants(report_top: int = 20) -> None:
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        score_variants(m.model, m.input_length, m.task_names, work / "g.fa", work / "v.vcf", out,
                       options=VariantOptions(device="cpu", report_top=report_top))  # fmt: skip

    def run_attribution() -> None:
        for lo in range(0, n, 64):
            score_alleles(m.model, refs[lo : lo + 64], alts[lo : lo + 64], head=head, device="cpu")

    def run_motifs() -> None:
        assign_motifs(bank, refs, alts, [w.offset for w in wins], [1] * n, [1] * n)

    def run_ism() -> None:
        ism_scores(m.model, x, batch_size=256, device="cpu")

    jobs = {
        "variants": run_variants,
        "variants_no_report": lambda: run_variants(0),
        "attribution": run_attribution,
        "motifs": run_motifs,
        "ism": run_ism,
    }
    # warm-up on a few windows
    score_alleles(m.model, refs[:2], alts[:2], device="cpu")
    ism_scores(m.model, x[:2], device="cpu")
    best = {k: float("inf") for k in jobs}
    for _ in range(args.repeats):
        for k, fn in jobs.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    shutil.rmtree(work, ignore_errors=True)
    result = {
        "n_variants": n,
        "threads": args.threads,
        "seconds": best,
        "variants_per_second": {k: n / v for k, v in best.items()},
        "ism_over_variants": best["ism"] / best["variants"],
        "ism_over_attribution": best["ism"] / best["attribution"],
    }
    print(json.dumps(result, indent=1))
    print(
        f"{n} SNVs, {args.threads} threads: variants end to end {n / best['variants']:.1f}/s "
        f"({n / best['variants_no_report']:.1f}/s without the 20-logo report; attribution {n / best['attribution']:.1f}/s, motif context {n / best['motifs']:.1f}/s); "
        f"ISM of the same windows {n / best['ism']:.1f} windows/s; ISM takes {best['ism'] / best['variants']:.2f}x "
        f"the time of variants end to end and {best['ism'] / best['attribution']:.2f}x that of its attribution"
    )


if __name__ == "__main__":
    main()
