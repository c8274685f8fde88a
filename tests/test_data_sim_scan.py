"""Motif scanning agrees with a brute-force scorer, follows the greedy masking rule and finds planted motifs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _data_sim_util import brute_greedy, brute_log_odds, small_simulation

from data_sim.motifs import builtin_motifs
from data_sim.scan import motif_scores, scan_motif, top_n_hits
from deeplift_genomics.io.onehot import one_hot

MOTIFS = builtin_motifs(["GATA_disc1", "TAL1_known1"])
BG = (0.3, 0.2, 0.2, 0.3)


def _random_seqs(n, length, seed, with_n=True):
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGT"), size=length, p=BG)) for _ in range(n)]
    if with_n:
        seqs[0] = "N" * 3 + seqs[0][3:]
    return seqs


@pytest.mark.parametrize("strand", ["+", "-"])
@pytest.mark.parametrize("name", ["GATA_disc1", "TAL1_known1"])
def test_scores_agree_with_brute_force(name, strand):
    motif = MOTIFS[name]
    seqs = _random_seqs(6, 40, seed=1)
    scores = motif_scores(one_hot(seqs), motif, BG, 1e-3, strand)
    assert scores.shape == (6, 40 - motif.width + 1)
    for i, seq in enumerate(seqs):
        for s in range(scores.shape[1]):
            expected = brute_log_odds(seq[s : s + motif.width], motif.probs, BG, 1e-3, strand)
            assert scores[i, s] == pytest.approx(expected, abs=1e-9)


def test_fractional_input_uses_the_same_scores():
    motif = MOTIFS["GATA_disc1"]
    seqs = _random_seqs(4, 30, seed=2, with_n=False)
    x = one_hot(seqs)
    exact = motif_scores(x, motif)
    mixed = x.copy()
    mixed[:, :, 5] = 0.25  # a uniform column scores the mean of the four log-odds at that offset
    got = motif_scores(torch.from_numpy(mixed), motif)
    np.testing.assert_allclose(got[:, 6:], exact[:, 6:], atol=1e-9)
    lo = np.log((motif.probs * (1 - 1e-3) + 1e-3 / 4) / np.array(BG))
    for i in range(4):
        expected = exact[i, 0] - lo[5, np.argmax(x[i, :, 5])] + 0.25 * lo[5].sum()
        assert got[i, 0] == pytest.approx(expected, abs=1e-9)


def test_greedy_masking_rule_by_hand():
    # h = 3: a pick p masks starts p-3 .. p+1 (p - h <= s < p + h - 1).
    scores = np.array([[1.0, 0.0, 9.0, 8.0, 7.0, 0.5, 6.0, 0.0, 0.0, 0.0]])
    starts, values = top_n_hits(scores, 4, 3)
    # 9 at 2 masks 0..3; 7 at 4 is next and masks 1..5; then 6 at 6 masks 3..7; then 0.0 at 8.
    assert starts.tolist() == [[2, 4, 6, 8]]
    assert values.tolist() == [[9.0, 7.0, 6.0, 0.0]]
    # Near the left edge the mask is clipped at 0 (it does not wrap to the end).
    starts, _ = top_n_hits(np.array([[5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0]]), 2, 3)
    assert starts.tolist() == [[0, 6]]
    # Running out of starts leaves -1.
    starts, values = top_n_hits(np.array([[1.0, 2.0]]), 3, 5)
    assert starts.tolist() == [[1, -1, -1]] and np.isnan(values[0, 1])


@pytest.mark.parametrize("top_n", [1, 5])
def test_top_hits_agree_with_brute_force_greedy(top_n):
    motif = MOTIFS["GATA_disc1"]
    seqs = _random_seqs(30, 60, seed=4)
    hits = scan_motif(one_hot(seqs), motif, BG, top_n=top_n, chunk_size=7)
    for i, seq in enumerate(seqs):
        brute = [brute_log_odds(seq[s : s + 10], motif.probs, BG, 1e-3) for s in range(51)]
        expected = brute_greedy(brute, top_n, 5)
        got = hits[hits["seq_index"] == i]
        assert got["start"].tolist() == [s for s, _ in expected]
        np.testing.assert_allclose(got["log_odds"], [v for _, v in expected], atol=1e-9)
        assert (got["end"] - got["start"] == 10).all() and got["rank"].tolist() == list(range(top_n))


def test_both_strands_finds_a_reverse_planted_motif():
    motif = MOTIFS["TAL1_known1"]
    seq = list("A" * 80)
    rc = "CTGAACAGATGGTCGG"[::-1].translate(str.maketrans("ACGT", "TGCA"))
    seq[30:46] = rc
    x = one_hot(["".join(seq)])
    forward = scan_motif(x, motif, top_n=1)
    both = scan_motif(x, motif, top_n=1, both_strands=True)
    assert both.iloc[0]["start"] == 30 and both.iloc[0]["strand"] == "-"
    assert both.iloc[0]["log_odds"] > forward.iloc[0]["log_odds"]


def test_scan_finds_the_embedded_strong_motifs():
    sim = small_simulation()
    x = one_hot(sim.sequences)
    index = {name: i for i, name in enumerate(sim.ids)}
    for name in ("GATA_disc1", "TAL1_known1"):
        hits = scan_motif(x, MOTIFS[name], top_n=5)
        found = set(zip(hits["seq_index"], hits["start"]))
        emb = sim.embeddings[(sim.embeddings["motif"] == name) & (sim.embeddings["log_odds"] > 8)]
        recovered = np.mean([(index[r.id], r.start) in found for r in emb.itertuples()])
        assert len(emb) > 500 and recovered > 0.99
        # And the reported score at an embedded start is the recorded log-odds.
        hit_score = {(s, p): v for s, p, v in zip(hits["seq_index"], hits["start"], hits["log_odds"])}
        for r in emb.head(100).itertuples():
            key = (index[r.id], r.start)
            if key in hit_score:
                assert hit_score[key] == pytest.approx(r.log_odds, abs=1e-9)


def test_short_sequences_give_no_hits():
    hits = scan_motif(one_hot(["ACGT"]), MOTIFS["GATA_disc1"])
    assert len(hits) == 0 and list(hits.columns) == [
        "seq_index",
        "start",
        "end",
        "strand",
        "log_odds",
        "rank",
    ]
