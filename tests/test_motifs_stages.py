"""The motif stages as pure functions, each against an independent oracle or a mathematical fact."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from _motifs_util import GATA, TAL1, planted_tracks

from deeplift_genomics.motifs.instances import logodds_pvalues
from deeplift_genomics.motifs.matches import bh_qvalues
from deeplift_genomics.motifs.patterns import pattern_similarity, revcomp, scan_cosine
from deeplift_genomics.motifs.recovery import overlap_matrix, recovery_table
from deeplift_genomics.motifs.seqlets import (
    SeqletSettings,
    call_seqlets,
    fdr_threshold,
    permute_within_records,
    window_starts_valid,
    window_sums,
)


def test_windows_never_cross_records():
    offsets = np.array([0, 5, 5, 12, 14])
    valid = window_starts_valid(offsets, 3)
    rec = np.searchsorted(offsets, np.arange(14), side="right") - 1
    for i in range(14):
        inside = i + 3 <= offsets[rec[i] + 1]
        assert valid[i] == inside


def test_window_sums_match_direct_sums():
    x = np.random.default_rng(1).normal(size=50)
    s = window_sums(x, 7)
    for i in range(44):
        assert s[i] == pytest.approx(x[i:i + 7].sum())


def test_permutation_keeps_each_record_multiset():
    offsets = np.array([0, 10, 25, 26, 40])
    x = np.arange(40, dtype=float)
    y = permute_within_records(x, offsets, np.random.default_rng(0))
    for a, b in zip(offsets[:-1], offsets[1:]):
        assert sorted(y[a:b]) == sorted(x[a:b])
    assert not np.array_equal(x, y)


def test_fdr_threshold_is_the_benjamini_hochberg_cut():
    rng = np.random.default_rng(0)
    null = rng.normal(size=100_000)
    signal = rng.normal(6, 0.5, size=500)
    obs = np.concatenate([rng.normal(size=9_500), signal])
    thr = fdr_threshold(obs, null, 0.05)
    # At the threshold the empirical FDR is <= 0.05 and just below it the rule would exceed it.
    fdr_at = (np.mean(null >= thr)) / (np.mean(obs >= thr))
    assert fdr_at <= 0.05
    assert 2 < thr < 6
    # No signal at all: nothing passes.
    assert math.isinf(fdr_threshold(rng.normal(size=5000), null, 0.05))


def test_seqlets_find_planted_blocks_of_both_signs():
    rng = np.random.default_rng(3)
    n, length = 60, 80
    x = rng.normal(0, 0.05, size=n * length)
    offsets = np.arange(n + 1) * length
    planted = []
    for i in range(0, n, 2):
        a = i * length + 30
        x[a:a + 10] += 1.0 if i % 4 == 0 else -1.0
        planted.append((i, 30, 40, "pos" if i % 4 == 0 else "neg"))
    table, info = call_seqlets(x, offsets, np.array([f"r{i}" for i in range(n)]), "t",
                               SeqletSettings(width=10, flank=3, fdr=0.05))
    assert info["threshold_pos"] > 0 and info["threshold_neg"] > 0
    found = {(r.record_index, r.sign) for r in table.itertuples() if r.core_start < 40 and r.core_end > 30}
    for i, _, _, sign in planted:
        assert (i, sign) in found
    # Every seqlet lies in a planted block (the noise alone never reaches the threshold here).
    assert all(r.record_index % 2 == 0 for r in table.itertuples())
    assert (table["start"] >= 0).all() and (table["end"] <= length).all()


def test_logodds_pvalues_equal_enumeration():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(4, 3))
    bg = np.array([0.3, 0.2, 0.2, 0.3])
    scores, probs = [], []
    for word in itertools.product(range(4), repeat=3):
        scores.append(sum(matrix[b, k] for k, b in enumerate(word)))
        probs.append(np.prod([bg[b] for b in word]))
    scores, probs = np.array(scores), np.array(probs)
    got = logodds_pvalues(matrix, bg, scores, resolution=1e-6)
    expected = np.array([probs[scores >= s - 1e-9].sum() for s in scores])
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_bh_qvalues_match_scipy():
    from scipy.stats import false_discovery_control

    p = np.random.default_rng(0).uniform(size=(3, 40)) ** 3
    np.testing.assert_allclose(bh_qvalues(p), np.stack([false_discovery_control(r) for r in p]), rtol=1e-12)


def test_pattern_similarity_is_one_for_itself_and_its_reverse_complement():
    a = np.random.default_rng(0).normal(size=(4, 8))
    assert pattern_similarity(a, a) == pytest.approx(1.0)
    assert pattern_similarity(a, revcomp(a)) == pytest.approx(1.0)
    assert pattern_similarity(a, np.random.default_rng(1).normal(size=(4, 8))) < 0.9


def test_scan_cosine_finds_position_and_strand():
    rng = np.random.default_rng(0)
    pattern = rng.normal(size=(4, 6))
    windows = rng.normal(0, 0.01, size=(2, 4, 20))
    windows[0, :, 5:11] += pattern
    windows[1, :, 9:15] += revcomp(pattern)
    best, pos, minus = scan_cosine(windows, pattern)
    assert pos.tolist() == [5, 9]
    assert minus.tolist() == [False, True]
    assert (best > 0.99).all()


def test_overlap_needs_half_of_the_shorter():
    calls = pd.DataFrame({"record": ["a", "a", "b"], "start": [0, 20, 0], "end": [10, 24, 10]})
    truth = pd.DataFrame({"record": ["a", "a"], "start": [4, 22], "end": [20, 38], "motif": ["m", "m"]})
    hits, found = overlap_matrix(calls, truth, 0.5)
    # call 0 covers 6 of min(10, 16) = 10 bases of truth 0; call 1 covers 2 of its own 4 bases of truth 1
    assert hits.tolist() == [True, True, False]
    assert found.tolist() == [True, True]


def test_recovery_of_planted_motifs():
    from deeplift_genomics.motifs.patterns import discover_patterns

    tracks, truth = planted_tracks(n=160)
    for t, motif in ((0, GATA), (1, TAL1)):
        seqlets, _ = call_seqlets(tracks.projected[t], tracks.offsets, tracks.names, tracks.task_names[t])
        tab = recovery_table(truth, {tracks.task_names[t]: [motif]}, seqlets=seqlets)
        row = tab.iloc[0]
        assert row["precision"] > 0.9 and row["recall"] > 0.8, tab
        pats, assignment = discover_patterns(tracks, t, seqlets[seqlets["sign"] == "pos"], "pos", 15, 5)
        assert len(pats) >= 1
        assert (assignment["pattern"] != "").mean() > 0.8


def test_method_recovery_scores_seqlets_and_instances_per_task():
    from deeplift_genomics.motifs.recovery import method_recovery

    tracks, truth = planted_tracks(n=160)
    table = method_recovery(tracks, truth, {"gata": [GATA], "tal1": [TAL1]})
    assert set(zip(table["task"], table["kind"])) == {(t, k) for t in ("gata", "tal1")
                                                    for k in ("seqlets", "instances")}
    assert (table["n_patterns"] >= 1).all()
    assert (table["precision"] > 0.8).all() and (table["recall"] > 0.8).all(), table
    # a method whose scores are noise recovers (almost) nothing
    from deeplift_genomics.motifs.inputs import from_arrays

    rng = np.random.default_rng(5)
    onehot = tracks.onehot.reshape(4, 160, -1).transpose(1, 0, 2)
    noise = from_arrays(onehot, rng.normal(0, 0.05, size=(160, 3, 4, onehot.shape[2])), tracks.task_names,
                        names=tracks.names)
    bad = method_recovery(noise, truth, {"gata": [GATA]})
    assert (bad["recall"].fillna(0) < 0.2).all(), bad


def test_ism_scores_sit_on_the_observed_base():
    from deeplift_genomics.motifs.inputs import hypothetical_or_projected

    rng = np.random.default_rng(0)
    onehot = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=(3, 7))].transpose(0, 2, 1)
    projected = rng.normal(size=(3, 2, 7)).astype(np.float32)
    hyp = rng.normal(size=(3, 2, 4, 7)).astype(np.float32)
    for method, given in (("ism", hyp), ("gradient_x_input", hyp[..., :0])):
        out = hypothetical_or_projected(given, projected, onehot, method)
        np.testing.assert_allclose((out * onehot[:, None]).sum(axis=2), projected, rtol=1e-6)
        assert np.all(out[np.broadcast_to(onehot[:, None] == 0, out.shape)] == 0)
    # a method with hypothetical contributions gets them back as they are
    # exact: the same array handed back (a pure copy)
    np.testing.assert_array_equal(hypothetical_or_projected(hyp, projected, onehot, "deeplift"), hyp)


def test_bed_coordinates_of_reverse_complement_records():
    from deeplift_genomics.motifs.export import genomic_intervals
    from deeplift_genomics.motifs.inputs import ScoreTracks

    tracks = ScoreTracks(names=np.array(["a", "b"]), offsets=np.array([0, 10, 30]),
                         onehot=np.zeros((4, 30)), hypothetical=np.zeros((1, 4, 30)), projected=np.zeros((1, 30)),
                         task_names=["t"], chrom=np.array(["chr1", "chr2"]), chrom_start=np.array([100, 500]),
                         strand=np.array(["+", "-"]))
    g = genomic_intervals(tracks, np.array([0, 1]), np.array([2, 0]), np.array([5, 4]), np.array(["+", "+"]))
    # record b is the reverse complement of chr2:500-520, so its bases 0-4 are chr2:516-520 on the minus strand
    assert g.to_dict("list") == {"chrom": ["chr1", "chr2"], "start": [102, 516], "end": [105, 520],
                                 "strand": ["+", "-"]}
