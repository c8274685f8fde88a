"""``variants`` screening: REF/ALT swap exactness, indel alignment, which alleles are explained, p- and
q-values, and the profile-model scores (counts logFC, profile JSD, active-allele quantile) against an
independent numpy/scipy computation."""

from __future__ import annotations

import copy

import h5py
import numpy as np
import pytest
import torch
from _score_util import write_fasta
from _variants_util import LENGTH, random_genome, snv_line, write_vcf

from deeplift_genomics.models.files import load_model
from deeplift_genomics.variants import VariantOptions, score_variants
from deeplift_genomics.variants.outputs import derive, read_h5
from deeplift_genomics.variants.stats import (
    bh_qvalues,
    empirical_pvalues,
    js_distance,
    own_pvalues,
    select_explained,
)

SIGNED = ("effect", "prob_diff", "log_odds_change", "logfc", "site_diff", "around_diff", "total_diff", "delta_error")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from _variants_util import saved_small_model

    return saved_small_model(tmp_path_factory.mktemp("model") / "m")


def _variants(genome: dict[str, str]) -> tuple[list[tuple[str, int, str, str]], dict[str, str]]:
    """SNVs, a deletion and an insertion 40 bp apart (no window holds two), and the genome carrying ALT."""
    rng = np.random.default_rng(4)
    out, alt_genome = [], {}
    for chrom, seq in genome.items():
        if len(seq) < 100:
            alt_genome[chrom] = seq
            continue
        applied = seq
        picks = list(range(20, len(seq) - 30, 40))
        for j, p in enumerate(picks):
            if chrom == "chr1" and j == len(picks) - 1:  # last on the record: positions before it stay put
                ref, alt = seq[p : p + 3], seq[p]
            elif chrom == "chr2" and j == len(picks) - 1:
                ref, alt = seq[p], seq[p] + "".join(rng.choice(list("ACGT"), 2))
            else:
                ref = seq[p]
                alt = "ACGT".replace(ref, "")[int(rng.integers(3))]
            out.append((chrom, p, ref, alt))
            applied = applied[:p] + alt + applied[p + len(ref) :]
        alt_genome[chrom] = applied
    return out, alt_genome


def _run(tmp, name, genome, records, model_dir, **kw):
    fa = write_fasta(tmp / f"{name}.fa", genome, width=50)
    vcf = write_vcf(tmp / f"{name}.vcf", [snv_line(c, p, r, a) for c, p, r, a in records])
    m = load_model(model_dir)
    opt = VariantOptions(n_references=4, batch_size=8, chunk_size=6, device="cpu", report_top=2, **kw)
    out = tmp / f"out_{name}"
    score_variants(m.model, m.input_length, m.task_names, fa, vcf, out, options=opt)
    table, attrs = read_h5(out / "scores.h5")
    return table, derive(table, attrs), out


def test_swapping_ref_and_alt_negates_every_signed_column_exactly(tmp_path, model_dir):
    genome = random_genome(lengths=(200, 160, 20))
    records, alt_genome = _variants(genome)
    assert {len(r) != len(a) for _, _, r, a in records} == {True, False}  # indels and SNVs
    t1, d1, _ = _run(tmp_path, "fwd", genome, records, model_dir, explain="all")
    t2, d2, _ = _run(tmp_path, "swap", alt_genome, [(c, p, a, r) for c, p, r, a in records], model_dir, explain="all")
    assert len(t1) == len(t2) == len(records)
    for key in SIGNED:
        # exact on any CPU: both runs put the same two windows in the same batches in the same (canonical,
        # alphabetical) order with references made from the same window; the VCF's orientation only picks
        # which output is subtracted from which, and a - b == -(b - a) in IEEE arithmetic
        np.testing.assert_array_equal(d2[key], -d1[key], err_msg=key)
    # exact for the same reason: the swapped run's REF window is the first run's ALT window
    np.testing.assert_array_equal(t2.arrays["logits_ref"], t1.arrays["logits_alt"])
    np.testing.assert_array_equal(t2.sums["site_ref"], t1.sums["site_alt"])
    assert np.isfinite(d1["site_diff"]).all() and np.abs(d1["effect"]).max() > 0


def test_indels_keep_their_alignment_in_the_ref_over_alt_tracks(tmp_path, model_dir):
    genome = random_genome(lengths=(200, 160, 20))
    records, _ = _variants(genome)
    table, _, out = _run(tmp_path, "fwd", genome, records, model_dir, explain="all")
    with h5py.File(out / "scores.h5") as h5:
        ref_seq, alt_seq = h5["ref_sequence"][()], h5["alt_sequence"][()]
        cref, calt = h5["contrib_ref"][()], h5["contrib_alt"][()]
        rows = h5["explained_index"][()]
    assert cref.shape == calt.shape == (len(table), 2, LENGTH)
    n_indels = 0
    for j, i in enumerate(rows):
        ref, alt = table.alleles["ref"][i], table.alleles["alt"][i]
        off = int(table.alleles["offset"][i])
        r, a = bytes(ref_seq[j]).decode(), bytes(alt_seq[j]).decode()
        start = int(table.alleles["window_start"][i])
        chrom = table.alleles["chrom"][i]
        # both tracks start at the same genomic base, so every base left of the variant is in the same column
        assert r == genome[chrom][start : start + LENGTH]
        assert r[:off] == a[:off] and r[off : off + len(ref)] == ref and a[off : off + len(alt)] == alt
        # right of the variant the ALT track carries the REF track's bases shifted by the length change
        tail = min(LENGTH - off - len(ref), LENGTH - off - len(alt))
        assert a[off + len(alt) : off + len(alt) + tail] == r[off + len(ref) : off + len(ref) + tail]
        # contributions sit on the observed bases: a column of the track is never all zero for a base
        assert (cref[j, :, :off] != 0).any() and (calt[j, :, :off] != 0).any()
        n_indels += len(ref) != len(alt)
    assert n_indels == 2


def test_selection_rules_against_a_direct_count():
    rng = np.random.default_rng(0)
    strength = rng.exponential(size=57)
    assert select_explained(strength, mode="all").all()
    assert not select_explained(strength, mode="none").any()
    top = select_explained(strength, top=5)
    assert set(np.flatnonzero(top)) == set(np.argsort(-strength)[:5])
    both = select_explained(strength, top=3, min_effect=1.5)
    assert set(np.flatnonzero(both)) == set(np.argsort(-strength)[:3]) | set(np.flatnonzero(strength >= 1.5))
    share = select_explained(strength, share=0.1)  # ceil(0.1 * 57) = 6 strongest of the whole run
    assert set(np.flatnonzero(share)) == set(np.argsort(-strength)[:6])
    # ties go to the earlier allele, NaN last: the mask depends on the alleles' order only
    tied = np.array([1.0, np.nan, 2.0, 1.0, 1.0, 2.0])
    assert np.flatnonzero(select_explained(tied, top=3)).tolist() == [0, 2, 5]
    assert np.flatnonzero(select_explained(tied, top=5)).tolist() == [0, 2, 3, 4, 5]


def test_screen_explains_the_selected_alleles_with_the_effects_of_a_full_run(tmp_path, model_dir):
    genome = random_genome(lengths=(200, 160, 20))
    records, _ = _variants(genome)
    full, dfull, _ = _run(tmp_path, "all", genome, records, model_dir, explain="all")
    part, dpart, out = _run(tmp_path, "screen", genome, records, model_dir, explain="screen", explain_top=3)
    assert full.explained.all() and part.explained.sum() == 3
    strength = np.abs(dfull["effect"]).max(axis=1)
    assert set(np.flatnonzero(part.explained)) == set(np.argsort(-strength)[:3])
    # exact on any CPU: the screen's forward passes run the same batches whatever is explained afterwards
    np.testing.assert_array_equal(dpart["effect"], dfull["effect"])
    e = part.explained
    np.testing.assert_allclose(dpart["site_diff"][e], dfull["site_diff"][e], rtol=1e-4, atol=1e-6)
    assert np.isnan(dpart["site_diff"][~e]).all() and np.abs(dpart["delta_error"][e]).max() < 1e-4
    # p- and q-values are printed as numbers with 3 significant digits (never 0.000), in the table and report
    import csv

    with open(out / "variants.tsv") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    for r in rows:
        for key in ("pvalue", "qvalue"):
            v = float(r[key])
            assert 0 < v <= 1 and r[key] == f"{v:.3g}", r[key]
    assert {r["explained"] for r in rows} == {"yes", "no"}
    html = (out / "report.html").read_text()
    assert "p-value" in html and f">{rows[0]['pvalue']}<" in html and f">{rows[0]['qvalue']}<" in html


def test_pvalues_and_qvalues_against_direct_counts():
    rng = np.random.default_rng(1)
    stat = np.abs(rng.normal(size=(30, 2)))
    null = np.abs(rng.normal(size=(200, 2)))
    p = empirical_pvalues(stat, null)
    for i in range(30):
        for t in range(2):
            assert p[i, t] == pytest.approx((1 + np.sum(null[:, t] >= stat[i, t])) / 201)
    own = own_pvalues(stat)
    assert own[:, 0] == pytest.approx([np.sum(stat[:, 0] >= s) / 30 for s in stat[:, 0]])
    q = bh_qvalues(p)
    for t in range(2):  # BH from its definition: min over ranks k >= rank(i) of p_(k) m / k
        order = np.sort(p[:, t])
        for i in range(30):
            ranks = np.arange(1, 31)
            expect = min(1.0, np.min((order * 30 / ranks)[order >= p[i, t]]))
            assert q[i, t] == pytest.approx(expect)


def test_uniform_null_gives_uniform_pvalues_over_seeds():
    # statistics drawn from the null itself: the empirical p-values are uniform (discrete, 1/(n+1) steps)
    from scipy.stats import kstest

    for seed in range(5):
        rng = np.random.default_rng(seed)
        p = empirical_pvalues(rng.exponential(size=(2000, 1)), rng.exponential(size=(5000, 1)))
        assert kstest(p[:, 0], "uniform").pvalue > 1e-3


# -- profile models ------------------------------------------------------------------------------------


def _profile_model(wrapper: str, chrom: bool = False):
    bpnet = pytest.importorskip("bpnetlite.bpnet")
    import warnings

    from deeplift_genomics.models.bpnet_lite import BpnetLiteModel, describe_architecture

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nets = [bpnet.BPNet(n_filters=6, n_layers=2, n_control_tracks=0, trimming=20, verbose=False)
                for _ in range(2 if chrom else 1)]  # fmt: skip
        if chrom:
            from bpnetlite.chrombpnet import ChromBPNet

            net = ChromBPNet(nets[0], nets[1])
        else:
            net = nets[0]
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.3)
    model = BpnetLiteModel(describe_architecture(net, "test"), wrapper)
    model.model.model.model = net  # the very network, its weights
    return model.eval(), net.eval()


@pytest.mark.parametrize("wrapper,chrom", [("count", False), ("profile", False), ("count", True)])
def test_profile_scores_equal_an_independent_numpy_computation(tmp_path, wrapper, chrom):
    from scipy.spatial.distance import jensenshannon
    from scipy.special import softmax

    model, net = _profile_model(wrapper, chrom)
    length = 100
    genome = random_genome(seed=5, lengths=(400,))
    seq = genome["chr1"]
    picks = range(60, 340, 25)
    rng = np.random.default_rng(2)
    lines = [snv_line("chr1", p, seq[p], "ACGT".replace(seq[p], "")[int(rng.integers(3))]) for p in picks]
    fa = write_fasta(tmp_path / "g.fa", genome, width=60)
    vcf = write_vcf(tmp_path / "v.vcf", lines)
    opt = VariantOptions(n_references=3, device="cpu", report_top=2, explain="all", chunk_size=5)
    output = "log_counts" if wrapper == "count" else "profile"
    score_variants(model, length, ["x"], fa, vcf, tmp_path / "o", options=opt, output=output)
    table, attrs = read_h5(tmp_path / "o" / "scores.h5")
    d = derive(table, attrs)
    assert list(attrs["task_names"]) == ["counts", "profile"]
    with h5py.File(tmp_path / "o" / "scores.h5") as h5:
        ref = [bytes(s).decode() for s in h5["ref_sequence"][()]]
        alt = [bytes(s).decode() for s in h5["alt_sequence"][()]]
        assert h5["contrib_ref"].shape == (len(table), 2, length)  # both heads explained

    def run(seqs):
        from deeplift_genomics.io.onehot import one_hot

        net64 = net.double()
        with torch.no_grad():
            prof, counts = net64(torch.from_numpy(one_hot(seqs, dtype=np.float64)))
        net.float()
        return prof.reshape(len(seqs), -1).numpy(), counts[:, 0].numpy()

    pr, cr = run(ref)
    pa, ca = run(alt)
    logfc = np.log2(np.exp(ca) / np.exp(cr))  # variant-scorer: log2(counts_alt / counts_ref)
    jsd = np.array([jensenshannon(softmax(a), softmax(r)) for a, r in zip(pa, pr)])
    quant = np.maximum([np.mean(cr < x) for x in cr], [np.mean(cr < x) for x in ca])
    np.testing.assert_allclose(d["logfc"][:, 0], logfc, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(d["jsd"][:, 0], jsd, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(d["active_allele_quantile"][:, 0], quant, atol=1e-12)
    assert np.abs(d["delta_error"]).max() < 1e-3  # each head's contributions sum to its own change
    assert np.isfinite(d["pvalue"]).all() and np.isfinite(d["jsd_pvalue"][:, 0]).all()


def test_js_distance_is_scipys():
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(3)
    p, q = rng.dirichlet(np.ones(50), size=20), rng.dirichlet(np.ones(50), size=20)
    np.testing.assert_allclose(js_distance(p, q), [jensenshannon(a, b) for a, b in zip(p, q)], rtol=1e-12)
    # exact on any CPU: the two arguments enter symmetrically (m = (p + q) / 2, the KL terms are added)
    np.testing.assert_array_equal(js_distance(p, q), js_distance(q, p))


# -- CPU threads ---------------------------------------------------------------------------------------


def _windows(tmp_path, length: int, n: int, seed: int):
    from deeplift_genomics.io.fasta import FastaFile
    from deeplift_genomics.io.vcf import read_vcf
    from deeplift_genomics.variants.alleles import build_windows

    genome = random_genome(seed=seed, lengths=(n * 4 + 2 * length,))
    seq = genome["chr1"]
    rng = np.random.default_rng(seed)
    lines = [snv_line("chr1", p, seq[p], "ACGT".replace(seq[p], "")[int(rng.integers(3))])
             for p in range(length, length + 4 * n, 4)]  # fmt: skip
    fa = write_fasta(tmp_path / "t.fa", genome, width=60)
    with FastaFile(fa) as f:
        wins, _ = build_windows(f, read_vcf(write_vcf(tmp_path / "t.vcf", lines)).alleles, length, warn=False)
    return wins


@pytest.mark.parametrize("kind", ["logit", "profile"])
def test_screen_does_not_depend_on_the_number_of_threads(tmp_path, kind):
    """The screen's forward passes, in pieces over 1, 2 or 3 threads, give the same results bit for bit,
    and the pieces put together are the model's forward pass."""
    from deeplift_genomics.io.onehot import one_hot
    from deeplift_genomics.variants.screen import PIECE_WINDOWS, ForwardScorer, chunk_rng, screen_alleles

    if kind == "logit":
        from _variants_util import small_model

        model, _ = small_model(n_tasks=2)
        length, scorer = LENGTH, ForwardScorer(model, LENGTH, [0, 1], "logit", "cpu")
    else:
        model, _ = _profile_model("count")
        length = 100
        scorer = ForwardScorer(model, length, [0], "log_counts", "cpu")
    wins = _windows(tmp_path, length, n=3 * PIECE_WINDOWS // 2 + 5, seed=6)  # batches of several pieces
    x = torch.from_numpy(one_hot([w.ref_seq for w in wins] + [w.alt_seq for w in wins]))
    if kind == "logit":
        with torch.no_grad():
            direct = copy.deepcopy(model).double()(x.double()).numpy()  # float64, one pass: independent
        np.testing.assert_allclose(scorer(x)[0], direct, rtol=1e-5, atol=1e-6)
    before = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            runs.append(screen_alleles(scorer, wins, batch_size=2 * PIECE_WINDOWS, null_rate=1.5,
                                       rng=chunk_rng(0, 0), seed=0))  # fmt: skip
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    for other in runs[1:]:
        for field in ("out_ref", "out_alt", "probs_ref", "probs_alt", "jsd", "null_effect", "null_jsd"):
            # exact on any CPU: the same batches cut into the same pieces whatever the thread count, each
            # piece computed by one thread with torch's one-thread kernels (threads only pick the pieces)
            np.testing.assert_array_equal(getattr(runs[0], field), getattr(other, field), err_msg=field)
