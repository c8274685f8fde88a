"""``deeplift-genomics motifs`` end to end: the benchmark model's motifs, outputs, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _motifs_util import GATA, TAL1, planted_tracks

from deeplift_genomics.cli import main

MODEL = Path(__file__).parent / "data" / "benchmark_default_model"
PER_CLASS = 150


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> Path:
    """`score` output of the first 150 sequences of each class of the default simulation (seed 0)."""
    root = tmp_path_factory.mktemp("motifs_cli")
    assert main(["simulate", "--out", str(root / "sim"), "--seed", "0", "-q"]) == 0
    text = (root / "sim" / "sequences.fa").read_text()
    records = [">" + r for r in text.split(">")[1:]]
    # records are interleaved both, gata, tal1, neither: a prefix is balanced
    (root / "subset.fa").write_text("".join(records[: 4 * PER_CLASS]))
    assert main(["score", "--model", str(MODEL), "--fasta", str(root / "subset.fa"), "--out", str(root / "scores"),
                 "--n-references", "10", "--no-bedgraph", "-q"]) == 0
    return root


def test_benchmark_model_motifs_match_the_simulated_ones(scored):
    """GATA1 task -> GATA_disc1, TAL1 task -> TAL1_known1, "both" task -> both, with q < 0.05."""
    out = scored / "motifs"
    assert main(["motifs", "--scores", str(scored / "scores"), "--out", str(out), "-q"]) == 0
    patterns = pd.read_csv(out / "patterns.tsv", sep="\t")
    pos = patterns[patterns["sign"] == "pos"]

    def top(task):
        rows = pos[pos["task"] == task].sort_values("n_seqlets", ascending=False)
        return rows.iloc[0]

    assert top("gata")["best_match"] == GATA and top("gata")["q_value"] < 0.05
    assert top("tal1")["best_match"] == TAL1 and top("tal1")["q_value"] < 0.05
    both = pos[(pos["task"] == "both") & (pos["q_value"] < 0.05)]
    assert {GATA, TAL1} <= set(both["best_match"])
    # the outputs a user reads
    for name in ("seqlets.tsv", "instances.tsv", "instance_counts.tsv", "matches.tsv", "motifs.meme",
                 "patterns.npz", "summary.json", "report/index.html", "report/task_0.html"):
        assert (out / name).is_file(), name
    html = (out / "report" / "task_1.html").read_text()
    assert "GATA_disc1" in html and "data:image/png;base64," in html and "http" not in html.split("<body>")[1]


def test_score_dir_errors_leave_no_output(scored, tmp_path, capsys):
    out = tmp_path / "m"
    cases = [
        ["--scores", str(scored / "sim")],  # a directory, but not a score output
        ["--scores", str(scored / "scores"), "--tasks", "gata,nope"],
        ["--scores", str(scored / "scores"), "--motif-db", str(tmp_path / "missing.meme")],
    ]
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\n\nMOTIF x\nletter-probability matrix: alength= 4 w= 2\n0.5 0.5 0 0\n0.1 x 0 0\n")
    cases.append(["--scores", str(scored / "scores"), "--motif-db", str(bad)])
    for extra in cases:
        assert main(["motifs", "--out", str(out), *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in err[0], err
        assert not out.exists()
    # an --out that is (or holds) the input would replace it
    for out in (scored / "scores", scored):
        assert main(["motifs", "--scores", str(scored / "scores"), "--out", str(out)]) == 2
        assert (scored / "scores" / "scores.h5").is_file()


def test_outputs_of_planted_motifs(tmp_path):
    """Synthetic tracks: both motifs found and matched; a task without signal says so on its page."""
    from data_sim.motifs import load_motifs
    from deeplift_genomics.motifs.run import MotifSettings, find_motifs, write_motifs

    tracks, truth = planted_tracks(n=200)
    results = find_motifs(tracks, MotifSettings())
    table = results.pattern_table
    best = dict(zip(table["task"] + "/" + table["pattern"], table["best_match"]))
    assert best["gata/pos_0"] == GATA and best["tal1/pos_0"] == TAL1
    assert not (table["task"] == "flat").any()
    out = write_motifs(results, tracks, tmp_path / "m")
    # MEME export read back by the independent reader gives the same PFMs
    meme = load_motifs(out / "motifs.meme")
    npz = np.load(out / "patterns.npz")
    assert list(meme) == list(npz["names"])
    for key, motif in meme.items():
        np.testing.assert_allclose(motif.probs, npz[f"{key}/pfm"].T, atol=1e-5)
    flat = (out / "report" / "task_2.html").read_text()
    assert "No seqlets were found for this task" in flat
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tasks"]["flat"]["n_seqlets"] == {"pos": 0, "neg": 0}
    inst = pd.read_csv(out / "instances.tsv", sep="\t")
    assert set(inst["match"]) <= {GATA, TAL1, "novel"}
