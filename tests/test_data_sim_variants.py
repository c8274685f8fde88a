"""``simulate``'s ground-truth VCF: core SNVs break embedded motifs at informative bases; matched background."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _data_sim_util import small_simulation

from data_sim.motifs import builtin_motifs
from data_sim.variants import bgzip_bytes, format_vcf, simulated_variants
from deeplift_genomics.io.vcf import read_vcf

COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}


@pytest.fixture(scope="module", params=[0.0, 0.5], ids=["forward", "both_strands"])
def sim(request):
    data = small_simulation(n_per_class=200, seed=4, reverse_complement=request.param)
    motifs = builtin_motifs(["GATA_disc1", "TAL1_known1"])
    records = simulated_variants(data.ids, data.sequences, data.split, data.embeddings, motifs,
                                 data.config.background, seed=1, max_per_motif=30)  # fmt: skip
    return data, motifs, records


def _kl(row, bg):
    return sum(p * math.log(p / q) for p, q in zip(row, bg) if p > 0)


def test_core_snvs_break_an_informative_base_of_their_instance(sim):
    data, motifs, records = sim
    seqs = dict(zip(data.ids, data.sequences))
    split = dict(zip(data.ids, data.split))
    emb = data.embeddings
    cores = [r for r in records if "SIM=core" in r["info"]]
    assert {r["info"].split("MOTIF=")[1].split(";")[0] for r in cores} == set(motifs)
    assert len(cores) <= 2 * 30
    for r in cores:
        motif = r["info"].split("MOTIF=")[1].split(";")[0]
        offset = int(r["info"].split("MOTIF_OFFSET=")[1].split(";")[0])
        assert split[r["chrom"]] == "test"
        assert seqs[r["chrom"]][r["pos"]] == r["ref"]
        inst = emb[(emb["id"] == r["chrom"]) & (emb["motif"] == motif) & (emb["start"] <= r["pos"]) & (emb["end"] > r["pos"])]
        assert len(inst) == 1
        inst = inst.iloc[0]
        w = r["pos"] - inst.start if inst.strand == "+" else inst.end - 1 - r["pos"]
        assert w == offset
        probs = motifs[motif].probs
        # among the three most informative positions (KL from the background, computed here by hand)
        kl = [_kl(row, data.config.background) for row in probs]
        assert kl[w] >= sorted(kl, reverse=True)[2] - 1e-12
        ref, alt = (r["ref"], r["alt"]) if inst.strand == "+" else (COMP[r["ref"]], COMP[r["alt"]])
        assert ref == "ACGT"[int(np.argmax(probs[w]))]
        assert alt == "ACGT"[int(np.argmin(probs[w]))]


def test_background_snvs_are_matched_and_away_from_every_instance(sim):
    data, _, records = sim
    seqs = dict(zip(data.ids, data.sequences))
    by_id = {r["id"]: r for r in records}
    emb = data.embeddings
    bgs = [r for r in records if "SIM=background" in r["info"]]
    assert len(bgs) >= 0.9 * (len(records) - len(bgs))
    for r in bgs:
        partner = by_id[r["info"].split("PAIR=")[1]]
        assert (partner["chrom"], partner["ref"], partner["alt"]) == (r["chrom"], r["ref"], r["alt"])
        assert seqs[r["chrom"]][r["pos"]] == r["ref"]
        own = emb[emb["id"] == r["chrom"]]
        assert ((own["start"] - 5 > r["pos"]) | (own["end"] + 5 <= r["pos"])).all()
    assert len({(r["chrom"], r["pos"]) for r in records}) == len(records)


def test_vcf_text_reads_back_through_pysam_and_is_reproducible(sim, tmp_path):
    data, motifs, records = sim
    lengths = dict(zip(data.ids, map(len, data.sequences)))
    blob = bgzip_bytes(format_vcf(records, lengths))
    again = simulated_variants(data.ids, data.sequences, data.split, data.embeddings, motifs,
                               data.config.background, seed=1, max_per_motif=30)  # fmt: skip
    assert bgzip_bytes(format_vcf(again, lengths)) == blob
    path = tmp_path / "v.vcf.gz"
    path.write_bytes(blob)
    got = read_vcf(path)
    assert [(a.chrom, a.pos, a.ref, a.alt, a.vcf_id) for a in got.alleles] == [
        (r["chrom"], r["pos"], r["ref"], r["alt"], r["id"]) for r in records
    ]
    assert not got.skipped
