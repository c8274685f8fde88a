"""``variants`` on the simulation's ground truth, with the trained benchmark model (held-out test split).

Core SNVs break an embedded motif at an informative base; matched background SNVs change the same base
elsewhere in the same sequence. The task whose motif is broken must rank the core SNVs above their
matches by |effect|, and with the planted PWMs as the motif set the broken motif must be named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

MODEL = Path(__file__).resolve().parent / "data" / "benchmark_default_model"


@pytest.mark.slow
def test_core_snvs_outrank_matched_background_and_the_motif_is_named(tmp_path):
    from sklearn.metrics import roc_auc_score

    from data_sim.fasta_io import format_fasta
    from data_sim.motifs import builtin_motifs
    from data_sim.simulate import SimulationConfig, simulate
    from data_sim.variants import bgzip_bytes, format_vcf, simulated_variants
    from deeplift_genomics.models.files import load_model
    from deeplift_genomics.variants import VariantOptions, score_variants

    data = simulate(SimulationConfig(seed=0))  # the model's training data; its test split
    motifs = builtin_motifs(["GATA_disc1", "TAL1_known1"])
    records = simulated_variants(data.ids, data.sequences, data.split, data.embeddings, motifs,
                                 data.config.background, seed=0, max_per_motif=30)  # fmt: skip
    used = dict.fromkeys(r["chrom"] for r in records)
    seqs = dict(zip(data.ids, data.sequences))
    (tmp_path / "g.fa").write_text(format_fasta(list(used), [seqs[k] for k in used], 60))
    (tmp_path / "v.vcf.gz").write_bytes(bgzip_bytes(format_vcf(records, {k: len(seqs[k]) for k in used})))
    meme = ["MEME version 4", "", "ALPHABET= ACGT", ""]
    for name, m in motifs.items():
        meme += [f"MOTIF {name}", f"letter-probability matrix: alength= 4 w= {m.width}"]
        meme += [" ".join(f"{v:.6f}" for v in row) for row in m.probs] + [""]
    (tmp_path / "planted.meme").write_text("\n".join(meme))
    m = load_model(MODEL)
    # 20 null draws per variant (1,200 in all): each repeated draw is its own shuffle, and the pooled null must
    # be large enough that a core SNV's p-value can fall below what BH needs at q < 0.05 over 120 variants
    opt = VariantOptions(n_references=4, device="cpu", report_top=2, explain="all", null_per_variant=20)
    score_variants(m.model, m.input_length, m.task_names, tmp_path / "g.fa", tmp_path / "v.vcf.gz",
                   tmp_path / "out", options=opt, motifs=tmp_path / "planted.meme")  # fmt: skip
    d = pd.read_csv(tmp_path / "out" / "variants.tsv", sep="\t")
    d["sim"] = d["info"].str.extract(r"SIM=(\w+)", expand=False)
    d["planted"] = d["info"].str.extract(r"MOTIF=(\w+)", expand=False)
    for task, motif in (("gata", "GATA_disc1"), ("tal1", "TAL1_known1")):
        s = d[(d.task == task) & (d.planted == motif)]
        assert roc_auc_score(s.sim == "core", s.abs_effect) > 0.95, (task, motif)
    core = d[(d.sim == "core") & (d.task == "gata")]
    assert np.mean(core.motif == core.planted) > 0.75  # the rest: weak instances (p > 1e-4 on REF)
    assert (core.motif_change == "breaks").mean() > 0.75
    assert d.delta_error.abs().max() < 1e-4
    # calibration: the background SNVs' p-values are valid (no more small ones than chance allows; the
    # shuffled null is conservative on this simulation, docs/variants.md gives the KS numbers), and most core
    # SNVs of a task's own motif pass q < 0.05 on that task
    for task, motif in (("gata", "GATA_disc1"), ("tal1", "TAL1_known1")):
        bg = d[(d.task == task) & (d.sim == "background")]
        assert (bg.pvalue < 0.05).mean() <= 0.1, task
        core = d[(d.task == task) & (d.sim == "core") & (d.planted == motif)]
        assert (core.qvalue < 0.05).mean() >= 0.4, (task, (core.qvalue < 0.05).mean())
    assert d.pvalue.between(0, 1, inclusive="right").all() and (d.qvalue >= d.pvalue).all()
