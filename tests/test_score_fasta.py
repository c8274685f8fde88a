"""FASTA and BED reading for ``score``: formats that must work and bad inputs that must fail clearly."""

from __future__ import annotations

import pytest
from _score_util import random_seqs, write_bgzf, write_fasta, write_gzip

from deeplift_genomics.core.errors import InputError
from deeplift_genomics.io import fasta as fasta_module
from deeplift_genomics.io.fasta import FastaFile, parse_coordinate_name, read_bed, record_regions


def test_crlf_lowercase_and_wrapping_read_the_same_letters(tmp_path):
    seqs = {"a": "ACGTNacgtnRYacgt" * 7, "b": "ggggCCCCttaa"}
    plain = write_fasta(tmp_path / "plain.fa", seqs, width=1000)
    crlf = write_fasta(tmp_path / "crlf.fa", seqs, width=7, newline="\r\n")
    with FastaFile(plain) as fa, FastaFile(crlf) as fb:
        assert fa.names == fb.names == ["a", "b"]
        for name, seq in seqs.items():
            assert fb.length(name) == len(seq)
            assert fb.fetch(name) == fa.fetch(name) == seq
            assert fb.fetch(name, 3, 11) == seq[3:11]


def test_long_record_slices_match(tmp_path):
    (seq,) = random_seqs(1, 10_007, seed=1)
    path = write_fasta(tmp_path / "long.fa", {"chrZ": seq}, width=61)
    with FastaFile(path) as fa:
        assert fa.fetch("chrZ", 5000, 5123) == seq[5000:5123]
        assert fa.fetch("chrZ") == seq


def test_bgzip_input_reads_like_plain(tmp_path):
    seqs = {"r1": random_seqs(1, 333, seed=2)[0], "r2": "ACGTN" * 20}
    plain = write_fasta(tmp_path / "x.fa", seqs, width=50)
    bgz = write_bgzf(tmp_path / "x.fa.gz", plain.read_bytes(), block=97)
    with FastaFile(bgz) as fa:
        assert fa.compressed
        assert [fa.fetch(n) for n in fa.names] == list(seqs.values())
        assert fa.fetch("r1", 100, 250) == seqs["r1"][100:250]


def test_plain_gzip_is_refused_with_a_bgzip_hint(tmp_path):
    path = write_gzip(tmp_path / "x.fa.gz", b">a\nACGT\n")
    with pytest.raises(InputError, match=r"x\.fa\.gz.*bgzip"):
        FastaFile(path)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"empty\.fa: empty file"),
        (b"chr1\t10\t20\nchr1\t30\t40\n", r"empty\.fa: not a FASTA file"),
        (b"\x00\x01\x02binary", r"empty\.fa: binary file"),
        (b">a\nACGT\n>b\nAC\n>a\nGGGG\n", r"empty\.fa: record 'a': duplicate record name"),
        (b">a\nACGTAC\nAC\nACGTAC\n", r"empty\.fa: not a valid FASTA file.*Inconsistent line"),
    ],
    ids=["empty", "not-fasta", "binary", "duplicate", "ragged-lines"],
)
def test_bad_fasta_names_the_file_and_problem(tmp_path, content, pattern):
    path = tmp_path / "empty.fa"
    path.write_bytes(content)
    with pytest.raises(InputError, match=pattern):
        FastaFile(path)


def test_non_nucleotide_letter_names_record_and_position(tmp_path):
    path = write_fasta(tmp_path / "x.fa", {"ok": "ACGT", "bad": "ACGJT"})
    with (
        FastaFile(path) as fa,
        pytest.raises(InputError, match=r"x\.fa: record 'bad': character 'J' at position 4"),
    ):
        fa.fetch("bad")


def test_read_only_directory_gets_the_index_elsewhere(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    write_fasta(ro / "x.fa", {"a": "ACGTACGT"})
    # Permission bits do not bind root (CI containers), so make the directory look read-only instead.
    monkeypatch.setattr(fasta_module, "_writable_dir", lambda path: path != ro)
    with FastaFile(ro / "x.fa", index_dir=tmp_path / "idx") as fa:
        assert fa.fetch("a", 2, 6) == "GTAC"
    assert not (ro / "x.fa.fai").exists()
    assert len(list((tmp_path / "idx").rglob("x.fa.fai"))) == 1


@pytest.mark.parametrize(
    ("name", "length", "expected"),
    [
        ("chr1:100-300", 200, ("chr1", 100, "+")),  # bedtools getfasta: 0-based, end exclusive
        ("chr1:101-300", 200, ("chr1", 100, "+")),  # samtools faidx: 1-based, inclusive
        ("chrX:1,000-1,010(-)", 10, ("chrX", 1000, "-")),
        ("chr1:100-300", 50, None),  # span matches neither convention
        ("plain_name", 10, None),
    ],
)
def test_coordinate_names(name, length, expected):
    assert parse_coordinate_name(name, length) == expected


def test_bed_regions_skip_comments_and_name_regions(tmp_path):
    fasta = write_fasta(tmp_path / "g.fa", {"chr1": "A" * 100, "chr2": "C" * 50})
    bed = tmp_path / "r.bed"
    bed.write_text("track name=x\n# comment\nchr1\t10\t30\tpeak1\t0\t-\r\nchr2 0 50\n\n")
    with FastaFile(fasta) as fa:
        regions = read_bed(bed, fa)
        assert [(r.name, r.record, r.start, r.end, r.chrom, r.chrom_start) for r in regions] == [
            ("peak1", "chr1", 10, 30, "chr1", 10),
            ("chr2:0-50", "chr2", 0, 50, "chr2", 0),
        ]
        assert [r.chrom for r in record_regions(fa)] == [None, None]


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        (
            "chr1\t90\t120\n",
            r"r\.bed: line 2: record 'chr1': region 90-120 is outside the record \(length 100\)",
        ),
        ("chr1\t-5\t10\n", r"r\.bed: line 2: record 'chr1': region -5-10 is outside"),
        ("chrQ\t1\t10\n", r"r\.bed: line 2: record 'chrQ' is not in"),
        ("chr1\t10\n", r"r\.bed: line 2: expected at least 3 columns"),
        ("chr1\tten\t20\n", r"r\.bed: line 2: record 'chr1': start and end must be integers"),
    ],
)
def test_bad_bed_lines_name_file_line_and_record(tmp_path, line, pattern):
    fasta = write_fasta(tmp_path / "g.fa", {"chr1": "A" * 100})
    bed = tmp_path / "r.bed"
    bed.write_text("chr1\t0\t10\n" + line)
    with FastaFile(fasta) as fa, pytest.raises(InputError, match=pattern):
        read_bed(bed, fa)
