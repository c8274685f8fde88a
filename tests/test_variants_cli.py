"""``deeplift-genomics variants`` through ``main(argv)``: bad input is one line and exit 2, with no output."""

from __future__ import annotations

import pandas as pd
import pytest
from _score_util import write_fasta
from _variants_util import random_genome, small_model, snv_line, write_vcf

from deeplift_genomics.cli import main

GENOME = random_genome(seed=4)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from deeplift_genomics.models.files import save_model

    d = tmp_path_factory.mktemp("cli")
    model, spec = small_model()
    save_model(model, d / "m", spec=spec, task_names=["t0", "t1"])
    fasta = write_fasta(d / "g.fa", GENOME)
    g = GENOME["chr1"]
    good = [snv_line("chr1", p, g[p], "A" if g[p] != "A" else "C") for p in range(40, 160, 20)]
    return d, fasta, good


def _run(d, fasta, vcf, out, *extra):
    return main(["variants", "--model", str(d / "m"), "--fasta", str(fasta), "--vcf", str(vcf), "--out", str(out),
                 "--n-references", "3", "--device", "cpu", "--report-top", "1", "-q", *extra])  # fmt: skip


@pytest.mark.parametrize(
    "bad, message",
    [
        ("chr1\t70\t.\tA", r"line 5: expected at least 8 tab-separated columns"),
        ("chr1\t7x\t.\tA\tG\t.\t.\t.", r"line 5: POS '7x' is not a positive integer"),
        ("chr9\t70\t.\tA\tG\t.\t.\t.", r"line 5: chr9:70:A>G: record 'chr9' is not in"),
        ("REFMISMATCH", r"line 5: chr1:31:.>.: REF . does not match the genome's ."),
        ("chr1\t3\t.\tNEAREND\t.\t.\t.\t.", r"line 5: chr1:3:.>.: the centred 24 bp window runs past an end"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(setup, tmp_path, capsys, bad, message):
    d, fasta, good = setup
    g = GENOME["chr1"]
    if bad == "REFMISMATCH":
        wrong = "A" if g[30] != "A" else "C"
        bad = snv_line("chr1", 30, wrong, "G" if wrong != "G" else "T")
    elif "NEAREND" in bad:
        bad = snv_line("chr1", 2, g[2], "A" if g[2] != "A" else "C")
    vcf = write_vcf(tmp_path / "v.vcf", good[:2] + [bad] + good[2:])
    rc = _run(d, fasta, vcf, tmp_path / "out", "--strict", "--edge", "skip")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and str(vcf) in err[0]
    import re

    assert re.search(message, err[0]), err[0]
    assert not (tmp_path / "out").exists()


def test_skips_are_counted_without_strict_and_shards_gather(setup, tmp_path):
    d, fasta, good = setup
    g = GENOME["chr1"]
    extra = [snv_line("chr9", 3, "A", "G"), f"chr1\t{g.find('A', 100) + 1}\t.\tA\t<DUP>\t.\t.\t.",
             snv_line("chr1", 1, g[1], "A" if g[1] != "A" else "C")]  # fmt: skip
    vcf = write_vcf(tmp_path / "v.vcf", good + extra)
    assert _run(d, fasta, vcf, tmp_path / "full", "--edge", "skip", "--chunk-size", "3") == 0
    skipped = pd.read_csv(tmp_path / "full" / "skipped.tsv", sep="\t")
    assert sorted(skipped["reason"]) == ["missing_contig", "near_record_end", "symbolic_allele"]
    # by hand, as the workflow runs it: screen each shard, choose over the whole run, explain each shard's choice
    for k in (1, 2):
        assert _run(d, fasta, vcf, tmp_path / f"s{k}", "--edge", "skip", "--chunk-size", "3", "--shard", f"{k}/2",
                    "--screen-only") == 0  # fmt: skip
    assert main(["variants", "--select", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "sel"),
                 "-q"]) == 0  # fmt: skip
    for k in (1, 2):
        assert _run(d, fasta, vcf, tmp_path / f"s{k}", "--edge", "skip", "--chunk-size", "3", "--shard", f"{k}/2",
                    "--explain-ids", str(tmp_path / "sel" / "selection.json")) == 0  # fmt: skip
    assert main(["variants", "--gather", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "g"), "-q"]) == 0
    # exact on any CPU: the shards' chunks are the unsharded run's (--chunk-size 3 in both), so the same batches
    # and kernels
    assert (tmp_path / "g" / "variants.tsv").read_bytes() == (tmp_path / "full" / "variants.tsv").read_bytes()
    assert (tmp_path / "g" / "skipped.tsv").read_bytes() == (tmp_path / "full" / "skipped.tsv").read_bytes()


def test_config_file_fills_what_flags_do_not_give(tmp_path):
    from deeplift_genomics.cli import build_parser
    from deeplift_genomics.cli.variants import resolve_variants_settings
    from deeplift_genomics.core.errors import InputError

    config = tmp_path / "c.yaml"
    config.write_text("variants:\n  n_references: 7\n  strict: true\n  tasks: [t1]\nscore:\n  chunk_size: 3\n")
    args = build_parser().parse_args(["variants", "--model", "m", "--fasta", "f", "--vcf", "v", "--out", "o",
                                      "--config", str(config), "--n-references", "9"])  # fmt: skip
    s = resolve_variants_settings(args)
    assert (s["n_references"], s["strict"], s["tasks"], s["chunk_size"], s["motif_threshold"]) == (9, True, ["t1"], 500, 1e-4)
    config.write_text("variants:\n  n_refs: 7\n")
    with pytest.raises(InputError, match="unknown key 'variants.n_refs'"):
        resolve_variants_settings(args)
    with pytest.raises(InputError, match="missing --vcf"):
        resolve_variants_settings(build_parser().parse_args(["variants", "--model", "m", "--fasta", "f", "--out", "o"]))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--shard", "1/2"], r"--shard with --explain-top or --explain-share chooses over the whole run"),
        (["--screen-only", "--explain-ids", "x.json"], r"--screen-only screens and stops"),
        (["--explain-ids", "nothere.json"], r"--explain-ids: .*nothere.json: file not found"),
        (["--explain-ids", "VCF"], r"--explain-ids: .*v.vcf: unreadable"),
        (["--screened", "DIR"], r"--screened: .*: not a --screen-only output"),
    ],
)
def test_bad_steps_are_one_line_exit_2_and_no_output(setup, tmp_path, capsys, extra, message):
    d, fasta, good = setup
    vcf = write_vcf(tmp_path / "v.vcf", good)
    (tmp_path / "empty").mkdir()
    extra = [str(vcf) if e == "VCF" else str(tmp_path / "empty") if e == "DIR" else e for e in extra]
    rc = _run(d, fasta, vcf, tmp_path / "out", *extra)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    import re

    assert re.search(message, err[0]), err[0]
    assert not (tmp_path / "out").exists()


def test_select_takes_no_run_flags(tmp_path, capsys):
    rc = main(["variants", "--select", str(tmp_path), "--shard", "1/2", "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--select chooses over finished screens; it takes no --shard" in err[0]
