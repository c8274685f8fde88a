"""Safety of the newer commands (issue 25): one test per class of silently wrong or unclear behaviour.

Each test names its class; each is parametrised over the commands the class applies to and fails without
the fix.
"""

from __future__ import annotations

import pytest
from _safety_util import argv, bench_argv, one_error_line, shared_env
from _score_util import write_fasta
from _variants_util import LENGTH, random_genome, write_vcf

from deeplift_genomics.cli import main
from deeplift_genomics.errors import InputError
from deeplift_genomics.fasta import FastaFile
from deeplift_genomics.variants.alleles import build_windows
from deeplift_genomics.variants.vcf import read_vcf

GENOME = random_genome(seed=4, lengths=(60, 20))
env = pytest.fixture(scope="session")(shared_env)


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return write_fasta(tmp_path_factory.mktemp("genome") / "g.fa", GENOME, width=50)


# -- class 1: indels near a record's end ----------------------------------------------------------------


@pytest.mark.parametrize("edge", ["shift", "skip"])
def test_every_indel_position_gives_windows_holding_both_alleles_or_a_counted_skip(tmp_path, genome, edge):
    """Insertions and deletions of 1..L/2-1 bases at every position of a record: each allele is either
    scored with windows equal to the REF and ALT haplotypes (built here independently) and holding every
    base of both alleles, or skipped with a reason; none is placed with its variant trimmed away."""
    g = GENOME["chr1"]
    lines = []
    for pos in range(len(g)):
        for size in (1, 5, LENGTH // 2 - 1):
            lines.append(f"chr1\t{pos + 1}\t.\t{g[pos]}\t{g[pos]}{'ACGT'[size % 4] * size}\t.\t.\t.")  # insertion
            if pos + 1 + size <= len(g):
                lines.append(f"chr1\t{pos + 1}\t.\t{g[pos:pos + 1 + size]}\t{g[pos]}\t.\t.\t.")  # deletion
    alleles = read_vcf(write_vcf(tmp_path / "v.vcf", lines)).alleles
    with FastaFile(genome) as fa:
        wins, skipped = build_windows(fa, alleles, LENGTH, edge=edge)
    assert len(wins) + len(skipped) == len(alleles)
    assert {s.reason for s in skipped} <= {"near_record_end"}
    for w in wins:
        a = w.allele
        hap = g[: a.pos] + a.alt + g[a.pos + len(a.ref):]
        assert w.offset == a.pos - w.start
        assert w.offset + max(len(a.ref), len(a.alt)) <= LENGTH, a.name  # both alleles whole in the windows
        assert w.ref_seq == g[w.start: w.start + LENGTH]
        assert w.alt_seq == hap[w.start: w.start + LENGTH], a.name
    if edge == "shift":  # what shift cannot place is only what no window can hold: the variant's end region
        for s in skipped:
            assert s.pos + max(len(s.ref), len(s.alt)) > len(g) - LENGTH // 2


def test_positions_outside_the_record_are_outside_record_not_near_end(tmp_path, genome):
    g = GENOME["chr1"]
    lines = ["chr1\t0\t.\tA\tC\t.\t.\t.", f"chr1\t{len(g) + 5}\t.\tA\tC\t.\t.\t.", f"chr1\t{len(g)}\t.\t{g[-1]}A\tC\t.\t.\t."]
    alleles = read_vcf(write_vcf(tmp_path / "v.vcf", lines)).alleles
    with FastaFile(genome) as fa:
        wins, skipped = build_windows(fa, alleles, LENGTH)
        assert not wins and [s.reason for s in skipped] == ["outside_record"] * 3
        with pytest.raises(InputError, match="line 3: chr1:0:A>C: POS 0 is before the first base"):
            build_windows(fa, alleles[:1], LENGTH, strict=True)


# -- class 2: two inputs that do not belong together ----------------------------------------------------


@pytest.fixture(scope="module")
def other_data(env, tmp_path_factory):
    """An attribution file of the shared simulation, and another simulation with the same ids."""
    base = tmp_path_factory.mktemp("pairs")
    att = base / "att.npz"
    assert main(argv("attribute", env, att)) == 0
    other = base / "other_sim"
    assert main(["simulate", "--out", str(other), "--n-per-class", "10", "--length", "100", "--seed", "7", "-q"]) == 0
    return att, other


@pytest.mark.parametrize("command", ["motifs", "benchmark"])
def test_attributions_of_other_data_are_refused(env, other_data, command, tmp_path, capsys):
    att, other = other_data
    if command == "motifs":
        args = ["motifs", "--attributions", str(att), "--data", str(other), "--out", str(tmp_path / "o"),
                "--no-report", "--min-seqlets", "2", "-q"]  # fmt: skip
    else:
        args = bench_argv(env, tmp_path / "o") + ["--attributions", str(att)]
        args[args.index("--data") + 1] = str(other)
    assert main(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(att) in line and "made on other data" in line
    assert not (tmp_path / "o").exists()
