"""Calibration of the variant p-values on the simulated VCF: background SNVs uniform per null and tie rule?

Simulates the default benchmark (seed 0; its ``variants.vcf.gz`` holds one core SNV per embedded motif
instance of the test split, at most 100 per motif, and one *background* SNV per core SNV: the same
sequence, the same REF and ALT bases, at least 5 bp from every embedded instance). Scores it with the
benchmark model (``tests/data/benchmark_default_model``, trained on that simulation) through
:func:`score_variants` with ``explain="none"`` (the p-values need only the screen), once per null:

- ``shuffled`` (the default: the allele's bases at its position in dinucleotide shuffles of its window);
- ``matched`` (the same substitution elsewhere in the allele's window, anywhere);
- ``matched+exclude`` (the same, never within ``--margin`` bases of an interval of a BED file: here the
  embedded instances of ``embeddings.tsv``, the "known sites" a user would pass with ``--null-exclude``);
- ``vcf`` (the run's own alleles).

For each null, each tie rule (``randomized``, ``conservative``) and each task it prints: the KS statistic
and p-value of the background SNVs' p-values against Uniform(0, 1), their mean, their share below 0.05,
the two-sample KS p-value of the background SNVs' |effect| against the null draws' |effect| (``ks2_p``:
the test of the null itself, which also allows for the null sample's own noise that every p-value
shares), and the share of core SNVs at q < 0.05 on their motif's task (GATA_disc1 -> ``gata``, TAL1_known1 ->
``tal1``; on ``both`` either motif's core SNVs). Also, per null: the null draws, how many of them fall on
an embedded instance (+/- margin), and exact ties between background effects and null draws.
``--seeds`` repeats every run with other null seeds (the simulation stays seed 0).

Run: ``.venv/bin/python bench/variants_calibration.py [--null-per-variant 2] [--seeds 0,1,2]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MOTIF_TASK = {"GATA_disc1": "gata", "TAL1_known1": "tal1"}
NULLS = ("shuffled", "matched", "matched+exclude", "vcf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    ap.add_argument("--null-per-variant", type=float, default=2.0)
    ap.add_argument("--margin", type=int, default=5)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--nulls", default=",".join(NULLS))
    args = ap.parse_args()
    import torch
    from scipy.stats import ks_2samp, kstest

    from data_sim.simulate import SimulationConfig, simulate
    from deeplift_genomics.datasets.write import write_simulation
    from deeplift_genomics.models.files import load_model
    from deeplift_genomics.variants import VariantOptions, score_variants
    from deeplift_genomics.variants.outputs import read_h5
    from deeplift_genomics.variants.screen import load_exclusion

    torch.set_num_threads(2)
    out = Path(args.out or tempfile.mkdtemp(prefix="variants_calib."))
    sim = out / "sim"
    write_simulation(simulate(SimulationConfig(seed=0)), sim)
    emb = pd.read_csv(sim / "embeddings.tsv", sep="\t")
    bed = out / "embedded.bed"
    emb[["id", "start", "end"]].to_csv(bed, sep="\t", header=False, index=False)
    known = load_exclusion(bed, args.margin)
    m = load_model(ROOT / "tests" / "data" / "benchmark_default_model")
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for null in args.nulls.split(","):
            kind = null.split("+")[0]
            opt = VariantOptions(device="cpu", explain="none", null=kind, seed=seed,
                                 null_per_variant=args.null_per_variant,
                                 null_exclude=str(bed) if null.endswith("+exclude") else None,
                                 null_exclude_margin=args.margin)  # fmt: skip
            res = out / f"{null}_{seed}"
            score_variants(m.model, m.input_length, m.task_names, sim / "sequences.fa", sim / "variants.vcf.gz",
                           res, options=opt)  # fmt: skip
            table, attrs = read_h5(res / "scores.h5")
            info = pd.Series(table.alleles["info"])
            kind_of = info.str.extract(r"SIM=(\w+)", expand=False).to_numpy()
            planted = info.str.extract(r"MOTIF=(\w+)", expand=False).to_numpy()
            bg, core = kind_of == "background", kind_of == "core"
            effect = np.abs(table.arrays["logits_alt"] - table.arrays["logits_ref"])
            null_abs = np.abs(table.null_effect)
            ties = int(sum(np.isin(effect[bg, t], null_abs[:, t]).sum() for t in range(effect.shape[1])))
            on_site = _share_on_sites(res, known) if kind == "matched" else float("nan")
            print(f"# seed {seed} null {null}: {len(null_abs)} null draws, {on_site:.3f} of them on an embedded "
                  f"instance +/- {args.margin} bp, {ties} background effects tied with a null draw")  # fmt: skip
            for rule in ("randomized", "conservative"):
                d = table.derived(attrs["head"], kind, rule, seed)
                for t, task in enumerate(attrs["task_names"]):
                    p = d["pvalue"][bg, t]
                    ks = kstest(p, "uniform")
                    motif_core = core & np.array([task in ("both", MOTIF_TASK.get(x)) for x in planted])
                    cores = {mo: float(np.mean(d["qvalue"][motif_core & (planted == mo), t] < 0.05))
                             if (motif_core & (planted == mo)).any() else float("nan") for mo in MOTIF_TASK}  # fmt: skip
                    two = ks_2samp(effect[bg, t], null_abs[:, t]) if len(null_abs) else None
                    rows.append({"seed": seed, "null": null, "ties": rule, "task": task, "n_bg": int(bg.sum()),
                                 "ks_stat": ks.statistic, "ks_p": ks.pvalue,
                                 "ks2_p": two.pvalue if two is not None else float("nan"), "mean_p": p.mean(),
                                 "share_p<0.05": np.mean(p < 0.05),
                                 **{f"core_{mo}_q<0.05": v for mo, v in cores.items()}})  # fmt: skip
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 500):
        print(df.to_string(index=False, float_format=lambda x: f"{x:.3g}"))


def _share_on_sites(res: Path, known) -> float:
    """Share of the matched null's draws on an embedded instance: drawn again as the run drew them."""
    from deeplift_genomics.io.fasta import FastaFile
    from deeplift_genomics.io.vcf import VcfAllele, read_vcf
    from deeplift_genomics.variants.alleles import build_windows
    from deeplift_genomics.variants.outputs import read_h5
    from deeplift_genomics.variants.screen import chunk_rng, draw_null

    table, attrs = read_h5(res / "scores.h5")
    import json

    opts = json.loads(attrs["options"])
    vcf, fasta = attrs["vcf"], attrs["fasta"]
    entries = read_vcf(vcf).entries
    hits = total = 0
    with FastaFile(fasta) as fa:
        for k in range(-(-len(entries) // opts["chunk_size"])):
            part = [e for e in entries[k * opts["chunk_size"] : (k + 1) * opts["chunk_size"]] if isinstance(e, VcfAllele)]
            wins, _ = build_windows(fa, part, int(attrs["input_length"]), warn=False)
            exclude = known if opts["null_exclude"] else None
            idx, pos, _, _ = draw_null(wins, opts["null_per_variant"], chunk_rng(opts["seed"], k), "matched", exclude)
            for i, p in zip(idx, pos):
                w = wins[int(i)]
                hits += bool(known.mask(w.allele.chrom, w.start + int(p), 1)[0])
                total += 1
    return hits / max(total, 1)


if __name__ == "__main__":
    main()
