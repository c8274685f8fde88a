"""``variants``: VCF reading, allele windows, effects (= ISM), shared-reference DeepLIFT, motifs, outputs."""

from __future__ import annotations

import dataclasses
import gzip

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from _score_util import write_fasta
from _variants_util import LENGTH, random_genome, small_model, snv_line, write_vcf

from deeplift_genomics.core.errors import InputError
from deeplift_genomics.io.fasta import FastaFile
from deeplift_genomics.io.onehot import one_hot
from deeplift_genomics.io.vcf import read_vcf
from deeplift_genomics.ism import ism_scores
from deeplift_genomics.variants import VariantOptions, gather_shards, score_variants, select_screens
from deeplift_genomics.variants.alleles import build_windows
from deeplift_genomics.variants.effects import contribution_changes, score_alleles
from deeplift_genomics.variants.motif_context import assign_motifs, load_bank

GENOME = random_genome()


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return write_fasta(tmp_path_factory.mktemp("genome") / "g.fa", GENOME, width=50)


def _bgzip(path, text):
    from data_sim.variants import bgzip_bytes

    path.write_bytes(bgzip_bytes(text))
    return path


# -- reading the VCF ------------------------------------------------------------------------------------


def test_multiallelic_records_split_and_symbolic_alleles_counted(tmp_path):
    g = GENOME["chr1"]
    vcf = write_vcf(tmp_path / "v.vcf", [
        snv_line("chr1", 50, g[50], ",".join([b for b in "ACGT" if b != g[50]][:2])),
        f"chr1\t61\t.\t{g[60]}\t<DEL>\t.\t.\tSVTYPE=DEL",
        f"chr1\t71\t.\t{g[70]}\t{g[70]}[chr2:5[\t.\t.\t.",
        f"chr1\t81\t.\t{g[80]}\t*,{'A' if g[80] != 'A' else 'C'}\t.\t.\t.",
    ])  # fmt: skip
    c = read_vcf(vcf)
    assert c.n_records == 4
    assert [(a.line, a.alt_index) for a in c.alleles] == [(3, 0), (3, 1), (6, 1)]
    assert c.skip_counts() == {"breakend_allele": 1, "spanning_deletion": 1, "symbolic_allele": 1}
    assert [type(e).__name__ for e in c.entries] == ["VcfAllele", "VcfAllele", "Skip", "Skip", "Skip", "VcfAllele"]


@pytest.mark.parametrize(
    "line, expected",
    [
        ("chr1\t10\t.\tA", "line 4: expected at least 8 tab-separated columns"),
        ("chr1\tten\t.\tA\tG\t.\t.\t.", "line 4: POS 'ten' is not a positive integer"),
        ("", "line 4: empty line"),
    ],
)
def test_malformed_line_names_its_line(tmp_path, line, expected):
    vcf = write_vcf(tmp_path / "v.vcf", [snv_line("chr1", 5, GENOME["chr1"][5], "N"), line, snv_line("chr1", 9, "A", "C")])
    with pytest.raises(InputError) as err:
        read_vcf(vcf)
    assert expected in str(err.value) and str(vcf) in str(err.value)
    assert "\n" not in str(err.value)


def test_bgzip_vcf_reads_without_index_and_plain_gzip_is_refused(tmp_path):
    text = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + snv_line("chr1", 3, "A", "G") + "\n"
    bg = _bgzip(tmp_path / "v.vcf.gz", text)
    assert not (tmp_path / "v.vcf.gz.tbi").exists()
    assert [a.name for a in read_vcf(bg).alleles] == ["chr1:4:A>G"]
    plain = tmp_path / "p.vcf.gz"
    plain.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(InputError, match="plain gzip.*bgzip"):
        read_vcf(plain)
    notvcf = tmp_path / "x.vcf"
    notvcf.write_text("hello\n")
    with pytest.raises(InputError, match="line 1: not a VCF"):
        read_vcf(notvcf)


# -- windows ----------------------------------------------------------------------------------------------


def _alleles(tmp_path, lines):
    return read_vcf(write_vcf(tmp_path / "v.vcf", lines)).alleles


def test_windows_of_snv_and_indels_match_the_haplotypes(tmp_path, genome):
    g = GENOME["chr1"]
    lines = [
        snv_line("chr1", 100, g[100], "T" if g[100] != "T" else "A"),
        f"chr1\t101\t.\t{g[100]}\t{g[100]}GGG\t.\t.\t.",  # insertion of 3
        f"chr1\t101\t.\t{g[100:105]}\t{g[100]}\t.\t.\t.",  # deletion of 4
    ]
    with FastaFile(genome) as fa:
        wins, skipped = build_windows(fa, _alleles(tmp_path, lines), LENGTH)
    assert not skipped
    for w in wins:
        a = w.allele
        hap = g[: a.pos] + a.alt + g[a.pos + len(a.ref) :]  # the ALT chromosome, built independently
        start = a.pos - LENGTH // 2
        assert (w.start, w.offset) == (start, LENGTH // 2)
        assert w.ref_seq == g[start : start + LENGTH]
        assert w.alt_seq == hap[start : start + LENGTH]
        assert len(w.alt_seq) == LENGTH
    assert [w.note for w in wins] == ["centred", "centred; far end trimmed by 3", "centred; far end extended by 4"]


def test_record_ends_missing_records_and_ref_mismatches(tmp_path, genome):
    g1, g3 = GENOME["chr1"], GENOME["chr3"]
    lines = [
        snv_line("chr1", 2, g1[2], "T" if g1[2] != "T" else "A"),  # near the start
        snv_line("chr1", 198, g1[198], "T" if g1[198] != "T" else "A"),  # near the end
        snv_line("chrX", 10, "A", "C"),
        snv_line("chr1", 50, "T" if g1[50] != "T" else "A", "G" if g1[50] != "G" else "C"),  # REF wrong
        snv_line("chr3", 5, g3[5], "T" if g3[5] != "T" else "A"),  # record of 20 bp < LENGTH
        f"chr1\t101\t.\t{g1[100]}\t{g1[100]}{'A' * (LENGTH // 2)}\t.\t.\t.",  # insertion longer than L/2
    ]
    alleles = _alleles(tmp_path, lines)
    with FastaFile(genome) as fa:
        wins, skipped = build_windows(fa, alleles, LENGTH, edge="shift")
        assert [(w.start, w.offset) for w in wins] == [(0, 2), (200 - LENGTH, 198 - (200 - LENGTH))]
        assert [w.note.split(";")[0] for w in wins] == [f"shifted by {LENGTH // 2 - 2:+d}", "shifted by -10"]
        assert [s.reason for s in skipped] == ["missing_contig", "ref_mismatch", "record_shorter_than_input",
                                               "indel_too_long"]  # fmt: skip
        _, skipped = build_windows(fa, alleles, LENGTH, edge="skip")
        assert [s.reason for s in skipped][:2] == ["near_record_end", "near_record_end"]
        for k, what in ((2, "record 'chrX' is not in"), (3, "does not match the genome"), (0, "runs past an end")):
            with pytest.raises(InputError, match=f"line {3 + k}: .*{what}"):
                build_windows(fa, [alleles[k]], LENGTH, edge="skip", strict=True)


# -- effects ----------------------------------------------------------------------------------------------


def test_snv_effect_equals_ism_score_of_that_base_exactly():
    """f(ALT) - f(REF) of an SNV is by definition its ISM score: both computed in float64, batch of one."""
    model, _ = small_model()
    model = model.double()
    rng = np.random.default_rng(5)
    refs, alts, where = [], [], []
    for _ in range(12):
        seq = "".join(rng.choice(list("ACGT"), LENGTH))
        p = int(rng.integers(LENGTH))
        b = "ACGT".replace(seq[p], "")[int(rng.integers(3))]
        refs.append(seq)
        alts.append(seq[:p] + b + seq[p + 1 :])
        where.append((p, "ACGT".index(b)))
    got = score_alleles(model, refs, alts, device="cpu", dtype=torch.float64, n_references=3)
    effect = got.logits_alt - got.logits_ref
    ism = ism_scores(model, torch.from_numpy(one_hot(refs, dtype=np.float64)), batch_size=1).numpy()
    expected = np.stack([ism[i, :, b, p] for i, (p, b) in enumerate(where)])
    # float64, ISM in batches of one against the pair batch: 1e-12 is ~4,500 units of 2^-53 on O(1) logits
    np.testing.assert_allclose(effect, expected, rtol=0, atol=1e-12)


def test_shared_references_make_contribution_change_equal_prediction_change():
    model, _ = small_model(n_tasks=3)
    rng = np.random.default_rng(8)
    refs = ["".join(rng.choice(list("ACGT"), LENGTH)) for _ in range(10)]
    alts = [s[:9] + ("A" if s[9] != "A" else "G") + s[10:] for s in refs]
    for rule in ("rescale", "reveal_cancel", "genomics_default"):
        s = score_alleles(model, refs, alts, rule=rule, device="cpu", dtype=torch.float64, n_references=5)
        effect = s.logits_alt - s.logits_ref
        ch = contribution_changes(s.contrib_ref, s.contrib_alt, [9] * 10, [1] * 10, [1] * 10, effect, flank=3)
        np.testing.assert_allclose(ch["total_diff"], effect, atol=1e-10)
        assert np.abs(ch["delta_error"]).max() < 1e-10
    # with different references for the two alleles the identity fails: the shared ones are what makes it hold
    from deeplift_genomics import attribute

    x = torch.from_numpy(one_hot(refs + alts, dtype=np.float64))
    res = attribute(model, x, references="shuffle", n_references=5, device="cpu", dtype=torch.float64)
    diff = (res.projected[10:].sum(-1) - res.projected[:10].sum(-1)).numpy()
    assert np.abs(diff - (res.outputs[10:] - res.outputs[:10]).numpy()).max() > 1e-3


def test_contribution_changes_sum_the_right_bases():
    rng = np.random.default_rng(0)
    cr, ca = rng.normal(size=(2, 1, 30)), rng.normal(size=(2, 1, 30))
    out = contribution_changes(cr, ca, [10, 0], [3, 1], [1, 1], np.zeros((2, 1)), flank=2)
    assert out["site_ref"][0, 0] == pytest.approx(cr[0, 0, 10:13].sum())
    assert out["site_alt"][0, 0] == pytest.approx(ca[0, 0, 10:11].sum())
    assert out["around_diff"][0, 0] == pytest.approx(ca[0, 0, 8:13].sum() - cr[0, 0, 8:15].sum())
    assert out["around_diff"][1, 0] == pytest.approx(ca[1, 0, 0:3].sum() - cr[1, 0, 0:3].sum())
    assert out["total_diff"][1, 0] == pytest.approx(ca[1, 0].sum() - cr[1, 0].sum())


# -- motifs -----------------------------------------------------------------------------------------------


def _meme(path, motifs):
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", ""]
    for name, probs in motifs.items():
        lines += [f"MOTIF {name}", f"letter-probability matrix: alength= 4 w= {len(probs)}"]
        lines += [" ".join(f"{v:.6f}" for v in row) for row in probs] + [""]
    path.write_text("\n".join(lines))
    return path


def test_motif_broken_created_and_none(tmp_path):
    from data_sim.motifs import builtin_motifs

    m = builtin_motifs(["GATA_disc1", "TAL1_known1"])
    bank = load_bank(_meme(tmp_path / "two.meme", {k: v.probs for k, v in m.items()}))
    assert bank.names == ["GATA_disc1", "TAL1_known1"]
    gata = m["GATA_disc1"].consensus()  # GCAGATAAGG
    flank = "T" * 20
    ref = flank + gata + flank
    broken = ref[:24] + "C" + ref[25:]  # the A of GATA, a core base
    from data_sim.motifs import reverse_complement

    rc_ref = reverse_complement(broken)
    hits = assign_motifs(bank, [ref, broken, "T" * 50, rc_ref], [broken, ref, "T" * 24 + "A" + "T" * 25, reverse_complement(ref)],
                         [24, 24, 24, 50 - 1 - 24], [1] * 4, [1] * 4)  # fmt: skip
    assert hits.motif[:2] == ["GATA_disc1", "GATA_disc1"] and hits.motif[2] == ""
    assert hits.change == ["breaks", "creates", "none", "creates"]
    assert hits.strand[0] == "+" and hits.strand[3] == "-"
    assert hits.score_ref[0] > hits.score_alt[0] and hits.start_ref[0] == 20


# -- end to end -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from deeplift_genomics.models.files import save_model

    model, spec = small_model()
    path = tmp_path_factory.mktemp("model") / "m"
    save_model(model, path, spec=spec, task_names=["t0", "t1"])
    return path


@pytest.fixture(scope="module")
def vcf_mixed(tmp_path_factory):
    g1, g2 = GENOME["chr1"], GENOME["chr2"]
    lines = []
    for p in range(30, 170, 9):
        lines.append(snv_line("chr1", p, g1[p], ",".join(b for b in "ACGT" if b != g1[p]), vid=f"s{p}"))
    lines += [
        f"chr2\t41\td1\t{g2[40:43]}\t{g2[40]}\t.\t.\t.",
        f"chr2\t61\ti1\t{g2[60]}\t{g2[60]}AC\t.\t.\t.",
        snv_line("chrX", 3, "A", "C"),
        snv_line("chr2", 80, "T" if g2[80] != "T" else "A", "G" if g2[80] != "G" else "C"),
        f"chr2\t90\t.\t{g2[89]}\t<INS>\t.\t.\t.",
    ]
    return write_vcf(tmp_path_factory.mktemp("vcf") / "v.vcf", lines)


def _load(model_dir):
    from deeplift_genomics.models.files import load_model

    return load_model(model_dir)


def test_end_to_end_outputs(tmp_path, genome, vcf_mixed, model_dir):
    m = _load(model_dir)
    opt = VariantOptions(n_references=4, batch_size=8, chunk_size=10, device="cpu", report_top=3, explain="all")
    s = score_variants(m.model, m.input_length, m.task_names, genome, vcf_mixed, tmp_path / "o", options=opt)
    assert s.skip_counts == {"missing_contig": 1, "ref_mismatch": 1, "symbolic_allele": 1}
    tsv = pd.read_csv(tmp_path / "o" / "variants.tsv", sep="\t")
    assert len(tsv) == 2 * s.n_scored and s.n_scored == 16 * 3 + 2
    assert (np.diff(tsv["abs_effect"].to_numpy()) <= 0).all()
    assert tsv["delta_error"].abs().max() < 1e-4
    assert set(tsv["kind"]) == {"snv", "deletion", "insertion"}
    skipped = pd.read_csv(tmp_path / "o" / "skipped.tsv", sep="\t")
    assert list(skipped["reason"]) == ["missing_contig", "ref_mismatch", "symbolic_allele"]
    with h5py.File(tmp_path / "o" / "scores.h5") as h5:
        assert h5["contrib_ref"].shape == (s.n_scored, 2, LENGTH)
        assert list(h5.attrs["task_names"]) == ["t0", "t1"]
    html = (tmp_path / "o" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "http" not in html.replace("http-equiv", "")
    assert not (tmp_path / "o" / ".variants_work").exists()


def test_strict_error_leaves_no_output(tmp_path, genome, vcf_mixed, model_dir):
    m = _load(model_dir)
    with pytest.raises(InputError, match=r"line \d+: chrX:4:A>C: record 'chrX' is not in"):
        score_variants(m.model, m.input_length, m.task_names, genome, vcf_mixed, tmp_path / "o",
                       options=VariantOptions(strict=True, device="cpu"))  # fmt: skip
    assert not (tmp_path / "o").exists()
    with pytest.raises(InputError, match="contains the input"):
        score_variants(m.model, m.input_length, m.task_names, genome, vcf_mixed, vcf_mixed.parent)


def _same_outputs(a, b):
    # exact on any CPU: shards never split a chunk, so every allele is attributed in the same batch as
    # unsharded (docs/scoring.md)
    assert (a / "variants.tsv").read_bytes() == (b / "variants.tsv").read_bytes()
    assert (a / "skipped.tsv").read_bytes() == (b / "skipped.tsv").read_bytes()
    with h5py.File(a / "scores.h5") as ha, h5py.File(b / "scores.h5") as hb:
        keys = []
        ha.visit(lambda k: keys.append(k) if isinstance(ha[k], h5py.Dataset) else None)
        for k in keys:
            # exact on any CPU: same chunks, same batches (see above)
            np.testing.assert_array_equal(ha[k][()], hb[k][()], err_msg=k)


def _sharded_in_three_steps(args, tmp_path, opt, n):
    """Screen each of ``n`` shards, choose over all their screens, explain each shard's choice, gather."""
    screens = [tmp_path / f"c{k}" for k in range(1, n + 1)]
    for k, d in enumerate(screens, start=1):
        score_variants(*args, d, options=opt, shard=f"{k}/{n}", screen_only=True)
    select_screens(screens, tmp_path / "sel")
    shards = [tmp_path / f"s{k}" for k in range(1, n + 1)]
    def recomputed(k):
        pytest.fail(f"chunk {k} screened again")  # after_chunk runs only after a chunk is screened

    for k, d in enumerate(shards, start=1):
        score_variants(*args, d, options=opt, shard=f"{k}/{n}", explain_ids=tmp_path / "sel" / "selection.json",
                       screened=screens[k - 1], after_chunk=recomputed)  # fmt: skip
    return shards


def _explained_are_the_strongest(out, n_expected):
    """Every explained allele's max |logit change| is at least every other's (and ties went to the earlier)."""
    with h5py.File(out / "scores.h5") as h5:
        strength = np.abs(h5["logits_alt"][()] - h5["logits_ref"][()]).max(axis=1)
        explained = h5["explained"][()].astype(bool)
    # a count of booleans (integers)
    assert explained.sum() == n_expected
    assert strength[explained].min() >= strength[~explained].max()


def test_shards_gather_to_the_unsharded_run_and_a_crash_resumes(tmp_path, genome, vcf_mixed, model_dir):
    m = _load(model_dir)
    opt = VariantOptions(n_references=4, batch_size=8, chunk_size=10, device="cpu", report_top=2)
    args = (m.model, m.input_length, m.task_names, genome, vcf_mixed)
    full = score_variants(*args, tmp_path / "full", options=opt)
    # the default: the strongest 1% of the run's scored alleles
    _explained_are_the_strongest(tmp_path / "full", int(np.ceil(0.01 * full.n_scored)))
    with pytest.raises(InputError, match="chooses over the whole run"):
        score_variants(*args, tmp_path / "x", options=opt, shard="1/3")
    shards = _sharded_in_three_steps(args, tmp_path, opt, 3)
    with pytest.raises(InputError, match=r"shard\(s\) 3/3 missing"):
        gather_shards(shards[:2], tmp_path / "g")
    gather_shards(shards, tmp_path / "g")
    _same_outputs(tmp_path / "full", tmp_path / "g")

    class Crash(Exception):
        pass

    def crash(k):
        if k == 1:
            raise Crash

    with pytest.raises(Crash):
        score_variants(*args, tmp_path / "r", options=opt, after_chunk=crash)
    assert len(list((tmp_path / "r" / ".variants_work" / "chunks").glob("chunk_*.npz"))) == 2
    assert not (tmp_path / "r" / "variants.tsv").exists()
    score_variants(*args, tmp_path / "r", options=opt)
    _same_outputs(tmp_path / "full", tmp_path / "r")


def test_sharded_top_k_explains_the_unsharded_alleles_and_bad_steps_exit(tmp_path, genome, vcf_mixed, model_dir):
    m = _load(model_dir)
    opt = VariantOptions(n_references=3, batch_size=8, chunk_size=10, device="cpu", report_top=2, explain_top=4)
    args = (m.model, m.input_length, m.task_names, genome, vcf_mixed)
    score_variants(*args, tmp_path / "full", options=opt)
    _explained_are_the_strongest(tmp_path / "full", 4)
    shards = _sharded_in_three_steps(args, tmp_path, opt, 2)
    gather_shards(shards, tmp_path / "g")
    _same_outputs(tmp_path / "full", tmp_path / "g")
    sel = tmp_path / "sel" / "selection.json"
    other = dataclasses.replace(opt, explain_top=5)
    with pytest.raises(InputError, match=r"chosen for another run: it differs in settings.options.explain_top \(4 vs 5\)"):
        score_variants(*args, tmp_path / "o", options=other, shard="1/2", explain_ids=sel)
    with pytest.raises(InputError, match=r"screened by another run: it differs in shard"):
        score_variants(*args, tmp_path / "o", options=opt, shard="2/2", explain_ids=sel, screened=tmp_path / "c1")
    with pytest.raises(InputError, match=r"--select: shard\(s\) 2/2 missing"):
        select_screens([tmp_path / "c1"], tmp_path / "sel2")
    with pytest.raises(InputError, match=r"--select: .*s1/shard.json: not a deeplift-genomics-variants-screen file"):
        select_screens([tmp_path / "s1", tmp_path / "c2"], tmp_path / "sel2")
    assert not (tmp_path / "o").exists() and not (tmp_path / "sel2").exists()


def test_motif_pvalues_are_the_exact_null_distribution_of_the_rounded_scores():
    """The dynamic programme against enumerating all 4^W strings of a small motif."""
    import itertools

    from deeplift_genomics.variants.motif_context import SCORE_RESOLUTION, score_survival

    rng = np.random.default_rng(2)
    matrix = rng.normal(scale=2.0, size=(5, 4))
    bg = np.array([0.3, 0.2, 0.2, 0.3])
    q = np.round(matrix / SCORE_RESOLUTION).astype(int)
    prob, total = {}, []
    for s in itertools.product(range(4), repeat=5):
        k = sum(q[w, b] for w, b in enumerate(s))
        prob[k] = prob.get(k, 0.0) + np.prod(bg[list(s)])
        total.append(k)
    lo, sf = score_survival(matrix, bg)
    assert lo == min(total)
    for k in range(min(total), max(total) + 1):
        assert sf[k - lo] == pytest.approx(sum(p for kk, p in prob.items() if kk >= k), abs=1e-12)
