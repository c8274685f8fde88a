"""``motifs`` in bounded memory and sharded: records read in blocks find what all records read at once find,
the seqlet cap samples deterministically, and hits called shard by shard are the hits of one run."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from _motifs_util import GATA, TAL1, planted_tracks

from deeplift_genomics.cli import main
from deeplift_genomics.motifs.hits import uniforms_at
from deeplift_genomics.motifs.inputs import ScoreSource, ScoreTracks
from deeplift_genomics.motifs.pipeline import find_motifs_streamed
from deeplift_genomics.motifs.run import MotifSettings, find_motifs
from deeplift_genomics.motifs.seqlets import fdr_threshold
from deeplift_genomics.motifs.stream import TailCounter
from deeplift_genomics.score.outputs import create_scores_h5


def write_scores(tracks: ScoreTracks, out: Path) -> Path:
    """``tracks`` as a ``score`` output directory (``scores.h5`` only), records at chr1:1000*i."""
    out.mkdir(parents=True)
    n, b = tracks.n_records, tracks.n_bases
    with h5py.File(out / "scores.h5", "w") as h5:
        create_scores_h5(h5, n_records=n, n_bases=b, n_windows=0, n_tasks=len(tracks.task_names),
                         attrs={"task_names": tracks.task_names, "method": "planted"})
        rec = h5["records"]
        rec["name"][:] = list(tracks.names)
        rec["chrom"][:] = ["chr1"] * n
        rec["strand"][:] = ["+"] * n
        rec["chrom_start"][:] = np.arange(n) * 1000
        rec["offset"][:] = tracks.offsets
        letters = np.frombuffer(b"ACGT", dtype=np.uint8)[np.asarray(tracks.onehot).argmax(axis=0)]
        h5["sequence"][:] = letters
        h5["hypothetical"][:] = tracks.hypothetical
        h5["projected"][:] = tracks.projected
    return out


def test_uniforms_at_continues_the_stream():
    for seed in range(5):
        whole = np.random.default_rng(seed).random(500)
        for start in (0, 1, 137, 499):
            # exact: the same 64-bit steps give the same doubles
            assert np.array_equal(uniforms_at(seed, start).random(500 - start), whole[start:])


@pytest.mark.parametrize("seed", range(6))
def test_tail_counter_gives_the_whole_array_threshold_when_exact(seed):
    rng = np.random.default_rng(seed)
    null = rng.normal(0, 1, 40_000)
    obs = np.concatenate([rng.normal(0, 1, 9_000), rng.normal(3 + seed % 3, 1, 1_000)])
    whole = fdr_threshold(obs, null, 0.05)
    for capacity in (500, 3_000, 100_000):
        tail = TailCounter(capacity)
        for lo in range(0, 10_000, 1_700):  # blocks of records: obs and null in proportion
            tail.add(obs[lo:lo + 1_700], null[4 * lo:4 * lo + 6_800])
        thr, exact = tail.threshold(0.05)
        if exact:
            # exact: both are the same element of obs, chosen by the same counts
            assert thr == whole
        else:
            assert thr >= whole
        if capacity == 100_000:
            assert exact  # everything positive was kept


def _compare(old, new):
    cols = list(old.seqlets.columns)
    # exact: every statistic is computed from its own record's values in a fixed order, and the nulls draw
    # the same random numbers for the same bases (stream.py's docstring); the blocks change nothing
    pd.testing.assert_frame_equal(old.seqlets[cols], new.seqlets[cols], check_exact=True)
    pd.testing.assert_frame_equal(old.instances, new.instances, check_exact=True)
    for a, b in zip(old.patterns, new.patterns, strict=True):
        assert a.key == b.key and a.n_seqlets == b.n_seqlets
        # exact: the same windows' values averaged in the same order
        assert np.array_equal(a.cwm, b.cwm) and np.array_equal(a.pfm, b.pfm)
    other = [c for c in old.pattern_table.columns if c != "contribution_share"]
    pd.testing.assert_frame_equal(old.pattern_table[other], new.pattern_table[other], check_exact=True)
    # the share's denominator sums all bases: whole-array numpy sum against a correctly rounded sum of records
    np.testing.assert_allclose(old.pattern_table["contribution_share"], new.pattern_table["contribution_share"],
                               rtol=1e-9)


@pytest.mark.parametrize("seed", [1, 4])
def test_streamed_in_blocks_equals_whole_array(seed):
    tracks, _ = planted_tracks(n=160, seed=seed)
    old = find_motifs(tracks, MotifSettings())
    for chunk in (700, 3_300):  # 7 records (with a 100-bp record split nowhere) and 33 records a block
        new = find_motifs_streamed(ScoreSource(tracks), MotifSettings(), chunk_bases=chunk)
        _compare(old, new)
        assert all(new.nulls[t][f"threshold_exact_{s}"] for t in new.task_names for s in ("pos", "neg"))
    best = dict(zip(old.pattern_table["task"], old.pattern_table["best_match"]))
    # names of motifs (strings), not floats
    assert best["gata"] == GATA and best["tal1"] == TAL1


def test_seqlet_cap_samples_the_same_seqlets_in_any_blocks():
    tracks, _ = planted_tracks(n=200, seed=2)
    settings = MotifSettings(seqlet_cap=60)
    a = find_motifs_streamed(ScoreSource(tracks), settings, chunk_bases=900)
    b = find_motifs_streamed(ScoreSource(tracks), settings, chunk_bases=None)
    # exact: the sample is the cap smallest hash keys of positions, whatever the blocks
    pd.testing.assert_frame_equal(a.seqlets, b.seqlets, check_exact=True)
    pd.testing.assert_frame_equal(a.instances, b.instances, check_exact=True)
    for task in ("gata", "tal1"):
        pos = a.seqlets[(a.seqlets["task"] == task) & (a.seqlets["sign"] == "pos")]
        assert len(pos) > 60 and int(pos["kept"].sum()) == 60 == a.kept[task]["pos"]
        assert (pos.loc[~pos["kept"], "pattern"] == "").all()
    # the planted motifs are still found from 60 seqlets of each task
    best = dict(zip(a.pattern_table["task"], a.pattern_table["best_match"]))
    # names of motifs (strings), not floats
    assert best["gata"] == GATA and best["tal1"] == TAL1
    full = find_motifs_streamed(ScoreSource(tracks), MotifSettings(), chunk_bases=None)
    assert not math.isclose(len(full.seqlets), 0) and int(full.seqlets["kept"].sum()) == len(full.seqlets)


def test_sharded_hits_equal_one_run(tmp_path):
    tracks, _ = planted_tracks(n=120, seed=3)
    scores = write_scores(tracks, tmp_path / "scores")
    s = str(scores)
    small = ["--chunk-bases", "2500", "-q"]
    assert main(["motifs", "--scores", s, "--out", str(tmp_path / "whole"), *small]) == 0
    assert main(["motifs", "--scores", s, "--out", str(tmp_path / "disc"), "--discover-only", *small]) == 0
    shards = []
    for k in (1, 2, 3):
        shards.append(str(tmp_path / f"h{k}"))
        assert main(["motifs", "--scores", s, "--patterns", str(tmp_path / "disc"), "--shard", f"{k}/3",
                     "--out", shards[-1], *small]) == 0
    assert main(["motifs", "--scores", s, "--patterns", str(tmp_path / "disc"), "--gather", *shards[::-1],
                 "--out", str(tmp_path / "merged"), "-q"]) == 0
    for name in ("instances.tsv", "patterns.tsv", "seqlets.tsv", "instance_counts.tsv", "motifs.meme"):
        # exact: the gather fits the very windows the one run saw (same bytes written)
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "merged" / name).read_bytes(), name
    beds = sorted(p.name for p in (tmp_path / "merged" / "hits").iterdir())
    assert beds and beds == sorted(p.name for p in (tmp_path / "whole" / "hits").iterdir())
    inst = pd.read_csv(tmp_path / "merged" / "instances.tsv", sep="\t")
    # exact: integer coordinates, records placed at chr1:1000*i
    assert (inst["genome_start"] == inst["record_index"] * 1000 + inst["start"]).all()
    # the scores read from scores.h5 in blocks give the in-memory results too
    mem = find_motifs(tracks, MotifSettings())
    assert len(mem.instances) == len(inst)


def test_shard_steps_refuse_mixed_inputs(tmp_path, capsys):
    tracks, _ = planted_tracks(n=60, seed=5)
    s = str(write_scores(tracks, tmp_path / "scores"))
    assert main(["motifs", "--scores", s, "--out", str(tmp_path / "disc"), "--discover-only", "-q"]) == 0
    cases = [
        (["--patterns", str(tmp_path / "disc"), "--shard", "1/2", "--seed", "3"], "other settings"),
        (["--patterns", str(tmp_path / "disc")], "--patterns goes with"),
        (["--shard", "1/2"], "need --scores and --patterns"),
        (["--patterns", str(tmp_path / "scores"), "--shard", "1/2"], "not a pattern discovery directory"),
    ]
    for extra, message in cases:
        out = tmp_path / "bad"
        assert main(["motifs", "--scores", s, "--out", str(out), *extra, "-q"]) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()
