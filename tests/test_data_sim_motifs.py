"""Motif files: every format gives the same matrix; errors name the file and line."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from _data_sim_util import SHARED_DATA

from data_sim.motifs import (
    Motif,
    builtin_motifs,
    load_motifs,
    log_odds_matrix,
    reverse_complement,
    score_string,
    with_pseudocount,
)
from deeplift_genomics.core.errors import InputError

# GATA_disc1 as printed in the ENCODE collection (Kheradpour & Kellis 2014).
GATA_ROWS = [
    ("V", 0.322751, 0.185185, 0.359788, 0.132275),
    ("S", 0.137566, 0.476190, 0.322751, 0.063492),
    ("W", 0.666667, 0.100529, 0.000000, 0.232804),
    ("G", 0.000000, 0.000000, 1.000000, 0.000000),
    ("A", 1.000000, 0.000000, 0.000000, 0.000000),
    ("T", 0.000000, 0.000000, 0.000000, 1.000000),
    ("A", 0.878307, 0.000000, 0.000000, 0.121693),
    ("A", 0.973545, 0.026455, 0.000000, 0.000000),
    ("G", 0.000000, 0.052910, 0.947090, 0.000000),
    ("V", 0.243386, 0.248677, 0.507937, 0.000000),
]
RAW = np.array([r[1:] for r in GATA_ROWS])
EXPECTED = RAW / RAW.sum(axis=1, keepdims=True)


def _encode_text() -> str:
    lines = [">GATA_disc1 GATA1_K562b_encode-Snyder_seq_hsa_r1:MDscan#1#Intergenic"]
    lines += [" ".join([r[0], *(f"{v:.6f}" for v in r[1:])]) for r in GATA_ROWS]
    lines += [">OTHER_1 decoy", "A 1.0 0.0 0.0 0.0", "C 0.0 1.0 0.0 0.0"]
    return "\n".join(lines) + "\n"


def _meme_text() -> str:
    lines = [
        "MEME version 4",
        "",
        "ALPHABET= ACGT",
        "",
        "strands: + -",
        "",
        "Background letter frequencies",
        "A 0.3 C 0.2 G 0.2 T 0.3",
        "",
        "MOTIF OTHER_1 decoy",
        "letter-probability matrix: alength= 4 w= 1 nsites= 10 E= 0",
        " 1.0 0.0 0.0 0.0",
        "",
        "MOTIF GATA_disc1 GATA1",
        "letter-probability matrix: alength= 4 w= 10 nsites= 189 E= 0",
    ]
    lines += ["  " + "  ".join(f"{v:.6f}" for v in r[1:]) for r in GATA_ROWS]
    lines += ["", "URL http://example.org/GATA_disc1"]
    return "\n".join(lines) + "\n"


def _jaspar_text(counts: np.ndarray) -> str:
    lines = [">MA9999.1 OTHER", "A [ 5 ]", "C [ 0 ]", "G [ 0 ]", "T [ 0 ]", ">GATA_disc1 GATA1"]
    for b, base in enumerate("ACGT"):
        lines.append(f"{base}  [ " + " ".join(f"{v:g}" for v in counts[:, b]) + " ]")
    return "\n".join(lines) + "\n"


def _pfm_text(counts: np.ndarray) -> str:
    lines = [">GATA_disc1 GATA1"]
    lines += [" ".join(f"{v:g}" for v in counts[:, b]) for b in range(4)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("fmt", ["encode", "meme", "jaspar", "pfm", "encode_gz"])
def test_formats_give_the_same_matrix(tmp_path, fmt):
    counts = np.round(RAW * 189, 3)  # JASPAR files hold counts (here non-integer, so no rounding loss)
    text = {
        "encode": _encode_text,
        "encode_gz": _encode_text,
        "meme": _meme_text,
        "jaspar": lambda: _jaspar_text(counts),
        "pfm": lambda: _pfm_text(counts),
    }[fmt]()
    path = tmp_path / f"motifs.{fmt}"
    if fmt == "encode_gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    motif = load_motifs(path, ["GATA_disc1"])["GATA_disc1"]
    tol = 1e-5 if fmt in ("jaspar", "pfm") else 1e-12
    np.testing.assert_allclose(motif.probs, EXPECTED, atol=tol)
    np.testing.assert_allclose(motif.probs.sum(axis=1), 1.0, atol=1e-12)
    assert motif.consensus() == "GCAGATAAGG"


def test_builtin_matches_the_packaged_rows():
    gata = builtin_motifs(["GATA_disc1"])["GATA_disc1"]
    np.testing.assert_allclose(gata.probs, EXPECTED, atol=1e-12)
    tal1 = builtin_motifs(["TAL1_known1"])["TAL1_known1"]
    assert tal1.width == 16 and tal1.consensus() == "CTGAACAGATGGTCGG"
    assert len(builtin_motifs()) == 2067


@pytest.mark.parametrize("name", ["GATA_disc1", "TAL1_known1"])
def test_builtin_matches_shared_tables(name):
    table = SHARED_DATA / f"{name}.tsv"
    if not table.exists():
        pytest.skip(f"{table} not present (the shared data folder is only in the development checkout)")
    rows = [line.split("\t") for line in table.read_text().splitlines()[1:] if line.strip()]
    probs = np.array([[float(v) for v in r[1:5]] for r in rows])
    np.testing.assert_allclose(builtin_motifs([name])[name].probs, probs, atol=2e-6)


def test_ids_keep_the_requested_order():
    picked = builtin_motifs(["TAL1_known1", "GATA_disc1"])
    assert list(picked) == ["TAL1_known1", "GATA_disc1"]


def test_bad_motif_id_suggests_the_right_one():
    with pytest.raises(InputError, match=r"GATA1_disc1.*did you mean GATA_disc1"):
        builtin_motifs(["GATA1_disc1"])


@pytest.mark.parametrize(
    "text, where",
    [
        (">M1 x\nA 0.5 0.5 0.0 0.0\nC 0.1 0.2 0.7\n", ":3:"),  # 4 fields on line 3
        (">M1 x\nA 0.5 0.5 0.0 0.0\nC 0.1 0.2 zero 0.7\n", ":3:"),  # not a number
        (">M1 x\nA 0.5 0.5 0.0 0.0\nC 0.5 0.6 0.1 0.1\n", ":1:"),  # row sums to 1.3 (record starts line 1)
    ],
)
def test_malformed_encode_file_names_file_and_line(tmp_path, text, where):
    path = tmp_path / "bad_motifs.txt"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_motifs(path, fmt="encode")
    assert "bad_motifs.txt" in str(err.value) and where in str(err.value)


def test_malformed_meme_and_jaspar(tmp_path):
    meme = tmp_path / "short.meme"
    meme.write_text(
        "MEME version 4\n\nMOTIF M1\nletter-probability matrix: alength= 4 w= 3\n0.25 0.25 0.25 0.25\n"
    )
    with pytest.raises(InputError, match=r"short\.meme:\d+: motif 'M1': expected 3 matrix rows, found 1"):
        load_motifs(meme)
    jaspar = tmp_path / "bad.jaspar"
    jaspar.write_text(">MA1 X\nA [ 1 2 ]\nC [ 1 2 ]\nG [ 1 ]\nT [ 1 2 ]\n")
    with pytest.raises(
        InputError, match=r"bad\.jaspar:1: motif 'MA1': rows A, C, G, T have different lengths"
    ):
        load_motifs(jaspar)
    with pytest.raises(InputError, match="cannot read"):
        load_motifs(tmp_path / "missing.txt")


def test_pseudocount_and_log_odds_are_exact():
    motif = Motif("m", np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]]))
    p = with_pseudocount(motif.probs, 0.1)
    np.testing.assert_allclose(p[0], [0.925, 0.025, 0.025, 0.025])
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    bg = (0.3, 0.2, 0.2, 0.3)
    matrix = log_odds_matrix(motif, bg, 0.1)
    assert matrix[0, 0] == pytest.approx(np.log(0.925 / 0.3))
    assert score_string("AC", motif, bg, 0.1) == pytest.approx(np.log(0.925 / 0.3) + np.log(0.475 / 0.2))
    # The reverse strand scores the reverse complement against the forward matrix (symmetric background).
    assert score_string("GT", motif, bg, 0.1, "-") == pytest.approx(score_string("AC", motif, bg, 0.1, "+"))
    assert reverse_complement("AACGTN") == "NACGTT"
