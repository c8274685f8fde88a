"""Calibration of the variant p-values: tie rules on generated data where the null is right by
construction, the matched null's exclusion intervals, the shuffled null's repeated draws, and the REF/ALT
swap with the new null options."""

from __future__ import annotations

import numpy as np
import pytest
from _score_util import write_fasta
from _variants_util import random_genome, small_model, snv_line, write_vcf
from scipy.stats import kstest

from deeplift_genomics.cli import main
from deeplift_genomics.io.fasta import FastaFile
from deeplift_genomics.io.vcf import VcfAllele, read_vcf
from deeplift_genomics.models.files import load_model
from deeplift_genomics.variants import VariantOptions, score_variants
from deeplift_genomics.variants.alleles import build_windows
from deeplift_genomics.variants.outputs import derive, read_h5
from deeplift_genomics.variants.screen import (
    ForwardScorer,
    NullExclusion,
    draw_null,
    load_exclusion,
    screen_alleles,
)
from deeplift_genomics.variants.stats import empirical_pvalues, own_pvalues, tie_uniforms

SIGNED = ("effect", "prob_diff", "log_odds_change", "site_diff", "around_diff", "total_diff", "delta_error")


@pytest.mark.parametrize("seed", range(6))
def test_randomized_ties_give_uniform_pvalues_where_conservative_ones_are_not(seed):
    # 3000 replicates (columns), each one statistic and its own null of 30 draws from one discrete law (6
    # values: nearly every statistic is tied with draws): exchangeable by construction, so the randomised
    # p-value is exactly Uniform(0, 1] (each replicate has its own null: p-values sharing one null sample
    # are uniform only on average over that sample)
    rng = np.random.default_rng(seed)
    stat = rng.integers(0, 6, size=(1, 3000)).astype(float)
    null = rng.integers(0, 6, size=(30, 3000)).astype(float)
    u = tie_uniforms(stat.shape, seed)
    p = empirical_pvalues(stat, null, ties="randomized", uniforms=u)[0]
    assert kstest(p, "uniform").pvalue > 1e-3
    assert ((p > 0) & (p <= 1)).all()
    # counting every tie is valid but conservative: its mean sits about half a tie class above 1/2
    c = empirical_pvalues(stat, null)[0]
    assert c.mean() > 0.55 and kstest(c, "uniform").pvalue < 1e-6
    # the same uniforms give the same p-values (equal on any CPU: the same float64 operations on the same
    # inputs), and they lie in the conservative p-value's tie interval
    np.testing.assert_allclose(p, empirical_pvalues(stat, null, ties="randomized", uniforms=u)[0], rtol=0, atol=0)
    assert (p <= c + 1e-12).all()


@pytest.mark.parametrize("seed", range(4))
def test_randomized_own_pvalues_are_uniform_with_ties(seed):
    # every allele against the others of one exchangeable sample with ties: leave-one-out ranks
    rng = np.random.default_rng(100 + seed)
    stat = rng.integers(0, 5, size=(4000, 1)).astype(float)
    p = own_pvalues(stat, ties="randomized", uniforms=tie_uniforms(stat.shape, seed))
    assert kstest(p[:, 0], "uniform").pvalue > 1e-3
    assert own_pvalues(stat).mean() > 0.55


@pytest.mark.parametrize("seed", range(4))
def test_continuous_pvalues_agree_within_one_grid_step(seed):
    # no ties: the two rules differ only by where in its 1/(n+1) step a p-value sits
    rng = np.random.default_rng(seed)
    stat, null = rng.exponential(size=(500, 1)), rng.exponential(size=(300, 1))
    r = empirical_pvalues(stat, null, ties="randomized", uniforms=tie_uniforms(stat.shape, seed))
    c = empirical_pvalues(stat, null)
    assert (c - r >= 0).all() and (c - r < 1 / 301 + 1e-12).all()


@pytest.mark.parametrize("seed", range(5))
def test_exclusion_mask_against_a_direct_paint(seed):
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, 900, size=30)
    ends = starts + rng.integers(1, 40, size=30)
    margin = int(rng.integers(0, 6))
    ex = NullExclusion({"c": (starts, ends)}, margin)
    paint = np.zeros(1200, dtype=bool)
    for a, b in zip(starts, ends):
        paint[max(a - margin, 0) : b + margin] = True
    for _ in range(40):
        lo = int(rng.integers(0, 1000))
        n = int(rng.integers(1, 200))
        # booleans against booleans: no float arithmetic involved
        np.testing.assert_array_equal(ex.mask("c", lo, n), paint[lo : lo + n])
    assert not ex.mask("other", 0, 50).any()


def _windows(tmp_path, genome, lines, length):
    fa = write_fasta(tmp_path / "g.fa", genome)
    vcf = write_vcf(tmp_path / "v.vcf", lines)
    alleles = [e for e in read_vcf(vcf).entries if isinstance(e, VcfAllele)]
    with FastaFile(fa) as f:
        wins, _ = build_windows(f, alleles, length, warn=False)
    return wins


def test_matched_null_never_draws_near_an_excluded_interval(tmp_path):
    genome = random_genome(seed=7, lengths=(400,))
    g = genome["chr1"]
    lines = [snv_line("chr1", p, g[p], "A" if g[p] != "A" else "C") for p in range(30, 370, 10)]
    wins = _windows(tmp_path, genome, lines, 24)
    bed = tmp_path / "x.bed"
    bed.write_text("chr1\t40\t52\tsite\nchr1\t100\t130\n#comment\nchr1\t300\t301\n")
    ex = load_exclusion(bed, 3)
    banned = np.zeros(400, dtype=bool)
    for a, b in ((40, 52), (100, 130), (300, 301)):
        banned[a - 3 : b + 3] = True
    idx, pos, ref, _ = draw_null(wins, 6.0, np.random.default_rng(0), "matched", ex)
    at = np.array([wins[i].start + p for i, p in zip(idx, pos)])
    assert len(at) > 100 and not banned[at].any()
    assert all(g[a] == "ACGT"[r] for a, r in zip(at, ref))  # the allele's REF base
    assert all(p != wins[i].offset for i, p in zip(idx, pos))  # never the allele itself
    # a window with no allowed position drops its draws rather than using the allele itself
    whole = NullExclusion({"chr1": (np.array([0]), np.array([400]))}, 0)
    assert len(draw_null(wins, 2.0, np.random.default_rng(0), "matched", whole)[0]) == 0


def test_repeated_shuffled_draws_of_one_allele_are_distinct_shuffles(tmp_path):
    # five draws per allele: each is another shuffle of the window, not the same one five times
    genome = random_genome(seed=2, lengths=(300,))
    g = genome["chr1"]
    lines = [snv_line("chr1", p, g[p], "A" if g[p] != "A" else "C") for p in range(40, 260, 40)]
    wins = _windows(tmp_path, genome, lines, 24)
    model, _ = small_model(n_tasks=2)
    scorer = ForwardScorer(model, 24, [0, 1], "logit", "cpu")
    s = screen_alleles(scorer, wins, batch_size=8, null_rate=5.0, rng=np.random.default_rng(1), null_kind="shuffled")
    assert len(s.null_effect) == 5 * len(wins)
    assert len(np.unique(s.null_effect[:, 0])) > 0.8 * len(s.null_effect)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from _variants_util import saved_small_model

    return saved_small_model(tmp_path_factory.mktemp("model") / "m")


def test_swap_stays_exact_with_the_excluded_matched_null_and_random_ties(tmp_path, model_dir):
    genome = random_genome(seed=5, lengths=(260,))
    g = genome["chr1"]
    rng = np.random.default_rng(3)
    records = [(p, g[p], "ACGT".replace(g[p], "")[int(rng.integers(3))]) for p in range(30, 230, 25)]
    alt = list(g)
    for p, _, a in records:
        alt[p] = a
    bed = tmp_path / "sites.bed"
    bed.write_text("chr1\t60\t70\nchr1\t150\t162\n")
    runs = []
    for name, gen, recs in (("fwd", g, records), ("swap", "".join(alt), [(p, a, r) for p, r, a in records])):
        fa = write_fasta(tmp_path / f"{name}.fa", {"chr1": gen})
        vcf = write_vcf(tmp_path / f"{name}.vcf", [snv_line("chr1", p, r, a) for p, r, a in recs])
        m = load_model(model_dir)
        opt = VariantOptions(n_references=3, batch_size=4, chunk_size=5, device="cpu", explain="all", null="matched",
                             null_per_variant=2, null_exclude=str(bed), null_exclude_margin=2)  # fmt: skip
        score_variants(m.model, m.input_length, m.task_names, fa, vcf, tmp_path / name, options=opt)
        table, attrs = read_h5(tmp_path / name / "scores.h5")
        assert attrs["pvalue_ties"] == "randomized"
        runs.append(derive(table, attrs))
    for key in SIGNED:
        # exact on any CPU: both runs put the same two windows in the same batches in canonical order; the
        # VCF's orientation only picks which output is subtracted from which (a - b == -(b - a) in IEEE)
        np.testing.assert_array_equal(runs[1][key], -runs[0][key], err_msg=key)
    assert np.isfinite(runs[0]["pvalue"]).all()


def test_null_exclude_errors_are_one_line_exit_2(tmp_path, model_dir, capsys):
    genome = random_genome(seed=4)
    fa = write_fasta(tmp_path / "g.fa", genome)
    g = genome["chr1"]
    vcf = write_vcf(tmp_path / "v.vcf", [snv_line("chr1", p, g[p], "A" if g[p] != "A" else "C") for p in (50, 90)])
    bed = tmp_path / "bad.bed"
    bed.write_text("chr1\t10\t20\nchr1\tx\t30\n")
    base = ["variants", "--model", str(model_dir), "--fasta", str(fa), "--vcf", str(vcf), "--device", "cpu", "-q"]
    cases = [
        (["--null-model", "matched", "--null-exclude", str(bed)], f"{bed}: line 2"),
        (["--null-exclude", str(tmp_path / "g.fa.missing")], "--null-exclude applies to --null-model matched"),
        (["--null-model", "matched", "--null-exclude", str(tmp_path / "none.bed")], "none.bed: BED file not found"),
    ]
    for k, (extra, message) in enumerate(cases):
        capsys.readouterr()
        rc = main([*base, "--out", str(tmp_path / f"out{k}"), *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and message in err[0], err
        assert not (tmp_path / f"out{k}").exists()


def test_tie_uniforms_depend_on_seed_and_stream_only():
    a = tie_uniforms((50, 3), 7, 0)
    # equal: one generator, seeded alike, draws the same doubles on any CPU (numpy's PCG64 is portable)
    np.testing.assert_array_equal(a, tie_uniforms((50, 3), 7, 0))
    assert not np.array_equal(a, tie_uniforms((50, 3), 7, 1)) and ((a > 0) & (a <= 1)).all()
