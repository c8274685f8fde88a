"""Variant effects on the simulation's ground truth: do motif-core SNVs stand out, and is the motif named?

Simulates the default benchmark (seed 0, the data ``tests/data/benchmark_default_model`` was trained on;
its variants lie in the held-out test split), scores ``variants.vcf.gz`` with that model and the
``variants`` defaults, then reports:

- per task and planted motif: auROC of |effect| separating the core SNVs of that motif from their matched
  background SNVs (the task whose motif is hit should be near 1);
- the share of core SNVs whose assigned motif is the planted one: exactly, and by motif family (the id's
  prefix: GATA_*, TAL1_*), against the 2,067 shipped ENCODE motifs (default) and against a MEME file of
  the two planted PWMs (what a ``motifs`` run that found both patterns would give);
- the largest summation-to-delta error of the contribution change;
- calibration of the p-values: per task, the KS test of the background SNVs' p-values against the uniform
  (and their mean and share below 0.05), and the share of core SNVs of each motif at q < 0.05, for each
  null in ``--nulls`` (``--null-per-variant`` null SNVs per allele).

Run: ``.venv/bin/python bench/variants_ground_truth.py [--out DIR] [--n-references 20] [--null-per-variant 2]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def meme_text(motifs: dict) -> str:
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", ""]
    for name, m in motifs.items():
        lines += [f"MOTIF {name}", f"letter-probability matrix: alength= 4 w= {m.width}"]
        lines += [" ".join(f"{v:.6f}" for v in row) for row in m.probs] + [""]
    return "\n".join(lines)


def shares(motif: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    fam = lambda a: np.array([str(x).split("_")[0] for x in a])  # noqa: E731
    return float(np.mean(motif == true)), float(np.mean(fam(motif) == fam(true)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None)
    ap.add_argument("--n-references", type=int, default=20)
    ap.add_argument("--null-per-variant", type=float, default=2.0)
    ap.add_argument("--nulls", default="shuffled,matched,vcf")
    args = ap.parse_args()
    import torch
    from scipy.stats import kstest
    from sklearn.metrics import roc_auc_score

    from data_sim.motifs import builtin_motifs
    from data_sim.simulate import SimulationConfig, simulate
    from deeplift_genomics.datasets.write import write_simulation
    from deeplift_genomics.models.files import load_model
    from deeplift_genomics.variants import VariantOptions, score_variants
    from deeplift_genomics.variants.motif_context import assign_motifs, load_bank
    from deeplift_genomics.variants.outputs import read_h5

    torch.set_num_threads(2)
    out = Path(args.out or tempfile.mkdtemp(prefix="variants_gt."))
    sim = out / "sim"
    write_simulation(simulate(SimulationConfig(seed=0)), sim)
    m = load_model(ROOT / "tests" / "data" / "benchmark_default_model")
    res = out / "variants"
    nulls = args.nulls.split(",")
    # the first null's run explains every allele (motif shares); the others only screen (their p-values)
    opts = {null: VariantOptions(device="cpu", n_references=args.n_references, explain="all" if k == 0 else "none",
                                 null=null, null_per_variant=args.null_per_variant)
            for k, null in enumerate(nulls)}  # fmt: skip
    summary = score_variants(m.model, m.input_length, m.task_names, sim / "sequences.fa", sim / "variants.vcf.gz",
                             res, options=opts[nulls[0]])  # fmt: skip
    d = pd.read_csv(res / "variants.tsv", sep="\t")
    d["sim"] = d["info"].str.extract(r"SIM=(\w+)", expand=False)
    d["planted"] = d["info"].str.extract(r"MOTIF=(\w+)", expand=False)
    result: dict = {"n_alleles": summary.n_scored, "seconds": summary.seconds, "auroc": {}}
    for task in m.task_names:
        for motif in ("GATA_disc1", "TAL1_known1"):
            s = d[(d.task == task) & (d.planted == motif)]
            result["auroc"][f"{task}/{motif}"] = float(roc_auc_score(s.sim == "core", s.abs_effect))
    result["max_abs_delta_error"] = float(d.delta_error.abs().max())
    result["calibration"] = {}
    for null in nulls:
        if null != nulls[0]:
            score_variants(m.model, m.input_length, m.task_names, sim / "sequences.fa", sim / "variants.vcf.gz",
                           out / f"variants_{null}", options=opts[null])  # fmt: skip
            dn = pd.read_csv(out / f"variants_{null}" / "variants.tsv", sep="\t")
            dn["sim"] = dn["info"].str.extract(r"SIM=(\w+)", expand=False)
            dn["planted"] = dn["info"].str.extract(r"MOTIF=(\w+)", expand=False)
        else:
            dn = d
        cal: dict = {}
        for task in m.task_names:
            bg = dn[(dn.task == task) & (dn.sim == "background")].pvalue
            cal[task] = {"background_ks_pvalue": float(kstest(bg, "uniform").pvalue), "background_mean_p": float(bg.mean()),
                         "background_share_p_below_0.05": float((bg < 0.05).mean())}  # fmt: skip
            for motif in ("GATA_disc1", "TAL1_known1"):
                core = dn[(dn.task == task) & (dn.sim == "core") & (dn.planted == motif)]
                cal[task][f"core_{motif}_share_q_below_0.05"] = float((core.qvalue < 0.05).mean())
        result["calibration"][null] = cal
    table, _ = read_h5(res / "scores.h5")
    core = np.array(["SIM=core" in s for s in table.alleles["info"]])
    true = np.array([s.split("MOTIF=")[1].split(";")[0] for s in table.alleles["info"]])[core]
    result["motif_share_encode"] = dict(zip(("exact", "family"), shares(table.motif["name"][core], true)))
    two = out / "planted.meme"
    two.write_text(meme_text(builtin_motifs(["GATA_disc1", "TAL1_known1"])))
    seq = lambda a: [bytes(r).decode() for r in a]  # noqa: E731
    import h5py

    with h5py.File(res / "scores.h5") as h5:  # every allele explained: its windows are there, in order
        ref_sequence, alt_sequence = h5["ref_sequence"][()], h5["alt_sequence"][()]
    hits = assign_motifs(load_bank(two), seq(ref_sequence[core]), seq(alt_sequence[core]),
                         table.alleles["offset"][core], [1] * core.sum(), [1] * core.sum())  # fmt: skip
    result["motif_share_planted_meme"] = dict(zip(("exact", "family"), shares(np.array(hits.motif), true)))
    result["core_change_planted_meme"] = dict(pd.Series(hits.change).value_counts())
    print(json.dumps(result, indent=1, default=int))


if __name__ == "__main__":
    main()
