"""Joint hit calling against planted instances, the modisco-lite export read by the tools that own the
format, hits in genome coordinates, and the motif report's numbers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _motifs_util import GATA, TAL1, planted_tracks

from data_sim.motifs import builtin_motifs
from deeplift_genomics.motifs.hits import call_hits
from deeplift_genomics.motifs.inputs import from_arrays
from deeplift_genomics.motifs.patterns import Pattern
from deeplift_genomics.motifs.recovery import overlap_matrix

BG = np.array([0.3, 0.2, 0.2, 0.3])


def true_pattern(name: str, task: str, key: str = "pos_0") -> Pattern:
    """The pattern a perfect discovery would find for a planted motif of :func:`planted_tracks` (whose
    hypothetical contribution of each letter is 0.5 x its log-odds): CWM = expected contribution."""
    m = builtin_motifs([name])[name]
    logodds = (np.log(m.probs * 0.98 + 0.005) - np.log(BG)).T * 0.5
    return Pattern(key, task, "pos", (m.probs.T * logodds).astype(np.float32), logodds.astype(np.float32),
                   m.probs.T.astype(np.float32), 100)


def weakened(seed: int, share: float = 0.5, factor: float = 0.15):
    """:func:`planted_tracks` with the contributions of a ``share`` of the planted instances scaled by
    ``factor`` (weak instances: little of the task's score, the same shape and sequence)."""
    tracks, truth = planted_tracks(n=240, length=100, seed=seed)
    rng = np.random.default_rng(1000 + seed)
    weak = rng.random(len(truth)) < share
    hyp = tracks.hypothetical.copy()
    for row in truth[weak].itertuples(index=False):
        r = int(row.record[1:])
        t = 0 if row.motif == GATA else 1
        a = tracks.offsets[r] + row.start
        hyp[t, :, a:a + (row.end - row.start)] *= factor
    onehot = tracks.onehot.reshape(4, tracks.n_records, 100).transpose(1, 0, 2)
    hyp_n = hyp.reshape(3, 4, tracks.n_records, 100).transpose(2, 0, 1, 3)
    return from_arrays(onehot, hyp_n, tracks.task_names, names=list(tracks.names)), truth.assign(weak=weak)


def _prf(calls: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float]:
    hit, found = overlap_matrix(calls[["record", "start", "end"]], truth)
    return float(hit.mean()) if len(hit) else float("nan"), float(found.mean())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_joint_caller_finds_planted_instances_weak_ones_included(seed):
    tracks, truth = weakened(seed)
    for t, (task, motif) in enumerate((("gata", GATA), ("tal1", TAL1))):
        mine = truth[truth["motif"] == motif].reset_index(drop=True)
        calls = call_hits(tracks, t, [true_pattern(motif, task)], seed=seed)
        precision, recall = _prf(calls, mine)
        # the planted instances are sampled from the PFM, so a few score under the p-value cut; none of
        # the calls may land away from a planted instance, weak or not
        assert precision >= 0.95, (task, precision)
        assert recall >= 0.8, (task, recall)
        _, weak_recall = _prf(calls, mine[mine["weak"]].reset_index(drop=True))
        assert weak_recall >= 0.75, (task, weak_recall)
        # records without an instance of the motif get (almost) no hit
        empty = set(tracks.names) - set(mine["record"])
        assert calls["record"].isin(empty).sum() <= 0.02 * len(calls) + 1


@pytest.mark.parametrize("seed", [0, 1])
def test_joint_caller_calls_nothing_in_noise(seed):
    """Task ``flat`` carries noise only: the planted sequences are there, their contributions are not."""
    tracks, _ = planted_tracks(n=240, length=100, seed=seed)
    calls = call_hits(tracks, 2, [true_pattern(GATA, "flat"), true_pattern(TAL1, "flat", "pos_1")], seed=seed)
    assert len(calls) <= 2


def test_joint_fit_lets_overlapping_patterns_compete():
    """Two patterns, one the other shifted by 2 bp: each planted instance gets one hit, of its own pattern."""
    tracks, truth = planted_tracks(n=240, length=100, seed=5)
    gata = true_pattern(GATA, "gata")
    shifted = Pattern("pos_1", "gata", "pos", np.roll(gata.cwm, 2, axis=1), np.roll(gata.hcwm, 2, axis=1),
                      np.roll(gata.pfm, 2, axis=1), 50)
    calls = call_hits(tracks, 0, [gata, shifted], seed=0)
    mine = truth[truth["motif"] == GATA].reset_index(drop=True)
    hit, found = overlap_matrix(calls[["record", "start", "end"]], mine)
    assert found.mean() >= 0.8 and hit.mean() >= 0.95
    # one hit per instance: no two calls within a record overlap by more than half a pattern
    for _, g in calls.groupby("record"):
        s = np.sort(g["start"].to_numpy())
        assert np.all(np.diff(s) > gata.width // 2)
    assert (calls["pattern"] == "pos_0").mean() > 0.8


def _patterns_of_two_widths() -> list[Pattern]:
    rng = np.random.default_rng(0)
    out = []
    for k, w in enumerate((10, 16)):
        cwm = rng.normal(0, 1, (4, w)).astype(np.float32)
        pfm = rng.dirichlet(np.ones(4), size=w).T.astype(np.float32)
        out.append(Pattern(f"pos_{k}", "t", "pos", cwm, cwm * 2, pfm, 30 + k))
    cwm = rng.normal(0, 1, (4, 12)).astype(np.float32)
    out.append(Pattern("neg_0", "t", "neg", -np.abs(cwm), -np.abs(cwm), rng.dirichlet(np.ones(4), 12).T, 25))
    return out


def test_modisco_h5_read_by_finemo_loader(tmp_path):
    pytest.importorskip("finemo")
    from finemo.data_io import load_modisco_motifs

    from deeplift_genomics.motifs.export import write_modisco_h5

    pats = _patterns_of_two_widths()
    path = tmp_path / "t.h5"
    write_modisco_h5(pats, path, BG, 200)
    df, cwms, masks, names = load_modisco_motifs(str(path), None, None, 0.0, "cwm", None, None, None, 0.7, False)
    assert list(names) == ["pos_patterns.pattern_0", "pos_patterns.pattern_1", "neg_patterns.pattern_0"]
    assert cwms.shape == (3, 4, 16)
    for p, cwm in zip(pats, cwms):
        # Fi-NeMo scales each CWM to unit norm; the added columns are zero
        nz = np.flatnonzero(np.abs(cwm).sum(axis=0) > 0)
        got = cwm[:, nz[0]:nz[-1] + 1].astype(np.float64)
        want = p.cwm / np.linalg.norm(p.cwm)
        np.testing.assert_allclose(got, want, atol=2e-3)  # float16 storage in Fi-NeMo
    # its default trimming (0.3) keeps each pattern's own columns only
    df3, _, masks3, _ = load_modisco_motifs(str(path), None, None, 0.3, "cwm", None, None, None, 0.7, False)
    widths = (df3["motif_end"] - df3["motif_start"]).to_list()
    assert all(w <= p.width for w, p in zip(widths, pats))


def test_modisco_h5_read_by_modiscolite_and_tangermeme(tmp_path):
    pytest.importorskip("modiscolite")
    tangermeme_io = pytest.importorskip("tangermeme.io")
    from modiscolite import util
    from modiscolite.io import write_meme_from_h5

    from deeplift_genomics.motifs.export import write_modisco_h5

    pats = _patterns_of_two_widths()
    path = tmp_path / "t.h5"
    write_modisco_h5(pats, path, BG, 200)
    meme = tmp_path / "t.meme"
    write_meme_from_h5(str(path), util.MemeDataType.PFM, str(meme), True)
    motifs = tangermeme_io.read_meme(str(meme))
    assert list(motifs) == ["pos_patterns.pattern_0", "pos_patterns.pattern_1", "neg_patterns.pattern_0"]
    for p, probs in zip(pats, motifs.values()):
        probs = probs.numpy()
        assert probs.shape == (4, 16)
        left = (16 - p.width) // 2
        pfm = p.pfm / p.pfm.sum(axis=0, keepdims=True)
        np.testing.assert_allclose(probs[:, left:left + p.width], pfm, atol=1e-4)
        # the added columns hold the background
        for col in list(range(left)) + list(range(left + p.width, 16)):
            np.testing.assert_allclose(probs[:, col], BG, atol=1e-4)


def test_modisco_report_reads_the_export(tmp_path):
    pytest.importorskip("modiscolite")
    if shutil.which("modisco") is None and not Path(sys.executable).with_name("modisco").exists():
        pytest.skip("modisco command not installed")
    from deeplift_genomics.motifs.export import write_modisco_h5

    path = tmp_path / "t.h5"
    write_modisco_h5(_patterns_of_two_widths(), path, BG, 200)
    exe = shutil.which("modisco") or str(Path(sys.executable).with_name("modisco"))
    proc = subprocess.run([exe, "report", "-i", str(path), "-o", str(tmp_path / "rep"), "-s", str(tmp_path / "rep")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (tmp_path / "rep" / "report.html").read_text()
    # modisco-lite 3.0.0's report: one logo folder per pattern, every pattern named on the page
    names = ("pos_patterns.pattern_0", "pos_patterns.pattern_1", "neg_patterns.pattern_0")
    assert sorted(p.name for p in (tmp_path / "rep" / "logos").iterdir()) == sorted(names)
    assert all(n in html for n in names)


def test_finemo_call_hits_runs_on_the_export(tmp_path):
    exe = shutil.which("finemo") or str(Path(sys.executable).with_name("finemo"))
    if not Path(exe).exists():
        pytest.skip("finemo not installed")
    from deeplift_genomics.motifs.export import write_modisco_h5

    tracks, truth = planted_tracks(n=120, length=100, seed=0)
    n = tracks.n_records
    seq = tracks.onehot.reshape(4, n, 100).transpose(1, 0, 2).astype(np.int8)
    hyp = tracks.hypothetical[0].reshape(4, n, 100).transpose(1, 0, 2)
    np.savez(tmp_path / "r.npz", sequences=seq, contributions=hyp)
    write_modisco_h5([true_pattern(GATA, "gata")], tmp_path / "gata.h5", BG, 100)
    proc = subprocess.run([exe, "call-hits", "-r", str(tmp_path / "r.npz"), "-m", str(tmp_path / "gata.h5"),
                           "-o", str(tmp_path / "fm")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    hits = pd.read_csv(tmp_path / "fm" / "hits.tsv", sep="\t")
    calls = pd.DataFrame({"record": tracks.names[hits["peak_id"]], "start": hits["start"], "end": hits["end"]})
    _, recall = _prf(calls, truth[truth["motif"] == GATA].reset_index(drop=True))
    assert recall >= 0.8


def _revcomp(s: str) -> str:
    return s[::-1].translate(str.maketrans("ACGT", "TGCA"))


def test_hits_in_genome_coordinates_cover_the_same_bases(tmp_path):
    """Records cut from a genome, some reverse-complemented: each hit's genome interval holds the hit's
    bases (reverse-complemented for records of the minus strand) and the BED per pattern lists them."""
    from deeplift_genomics.motifs.run import with_genome_coordinates

    rng = np.random.default_rng(3)
    genome = {"chr1": "".join(rng.choice(list("ACGT"), 2000)), "chr2": "".join(rng.choice(list("ACGT"), 2000))}
    recs = [("chr1", 100, "+"), ("chr2", 40, "-"), ("chr1", 900, "-"), ("chr2", 1500, "+")]
    length = 60
    seqs = []
    for chrom, start, strand in recs:
        s = genome[chrom][start:start + length]
        seqs.append(s if strand == "+" else _revcomp(s))
    idx = np.array([["ACGT".index(c) for c in s] for s in seqs])
    onehot = np.zeros((len(seqs), 4, length), dtype=np.float32)
    onehot[np.arange(len(seqs))[:, None], idx, np.arange(length)[None, :]] = 1
    tracks = from_arrays(onehot, np.zeros((len(seqs), 1, 4, length)), ["t"])
    tracks.chrom = np.array([r[0] for r in recs])
    tracks.chrom_start = np.array([r[1] for r in recs])
    tracks.strand = np.array([r[2] for r in recs])
    hits = pd.DataFrame({"record_index": [0, 1, 2, 3, 1], "start": [5, 0, 30, 52, 44], "end": [15, 9, 46, 60, 60],
                         "strand": ["+", "+", "-", "-", "-"]})
    g = with_genome_coordinates(tracks, hits)
    for h, row in zip(hits.itertuples(index=False), g.itertuples(index=False)):
        bases = seqs[h.record_index][h.start:h.end]
        on_genome = genome[row.chrom][row.genome_start:row.genome_end]
        minus_record = recs[h.record_index][2] == "-"
        assert on_genome == (_revcomp(bases) if minus_record else bases)
        assert row.genome_strand == ({"+": "-", "-": "+"}[h.strand] if minus_record else h.strand)


def test_write_motifs_writes_hits_bed_per_pattern_and_modisco(tmp_path):
    from deeplift_genomics.motifs.run import MotifSettings, find_motifs, write_motifs

    tracks, _ = planted_tracks(n=160, seed=1)
    tracks.chrom = np.array(["chr1"] * tracks.n_records)
    tracks.chrom_start = np.arange(tracks.n_records, dtype=np.int64) * 1000
    tracks.strand = np.array(["+"] * tracks.n_records)
    results = find_motifs(tracks, MotifSettings())
    out = write_motifs(results, tracks, tmp_path / "m")
    inst = pd.read_csv(out / "instances.tsv", sep="\t")
    rec = inst["record_index"].to_numpy()
    # the records were placed at chr1:1000*i, plus strand
    # exact: integer coordinates
    assert (inst["genome_start"].to_numpy() == rec * 1000 + inst["start"].to_numpy()).all()
    for p in results.patterns:
        bed = pd.read_csv(out / "hits" / f"{p.task}.{p.name}.bed", sep="\t", header=None)
        mine = inst[(inst["task"] == p.task) & (inst["pattern"] == p.name)]
        assert len(bed) == len(mine)
        assert set(bed[3]) == set(mine["match"])
    for task in ("gata", "tal1"):
        assert (out / "modisco" / f"{task}.h5").is_file()
        names = pd.read_csv(out / "modisco" / f"{task}.names.tsv", sep="\t", header=None)
        assert names.shape[1] == 2 and names[0].str.startswith("pos_patterns.pattern_").all()


def test_motif_report_prints_small_p_values_and_index_logos(tmp_path):
    from deeplift_genomics.motifs.run import MotifSettings, find_motifs, write_motifs
    from deeplift_genomics.render.html import fmt_small

    assert fmt_small(3.14159e-5) == "3.14e-05"
    assert fmt_small(0.0213) == "0.021"
    assert fmt_small(float("nan")) == "n/a"
    tracks, _ = planted_tracks(n=160, seed=2)
    results = find_motifs(tracks, MotifSettings())
    out = write_motifs(results, tracks, tmp_path / "m")
    index = (out / "report" / "index.html").read_text()
    n_patterns = len(results.patterns)
    assert index.count('CWM" src="data:image/png;base64,') == n_patterns
    small_q = results.pattern_table["q_value"].dropna()
    small_q = small_q[small_q < 1e-3]
    assert len(small_q) and all(fmt_small(q) in index for q in small_q)
    assert ">0.000<" not in index


def test_benchmark_report_shows_hit_callers_only_when_measured(tmp_path):
    from deeplift_genomics.benchmark.report import hit_caller_section

    assert hit_caller_section(tmp_path) == ""
    rows = pd.DataFrame({"caller": ["joint", "window"], "task": ["gata", "gata"], "n_calls": [10, 8],
                         "n_true": [10, 10], "precision": [0.9, 1.0], "recall": [0.9, 0.8], "f1": [0.9, 0.889],
                         "calls_in_records_without_motif": [1, 0], "seconds": [3.0, 2.0]})
    rows.to_csv(tmp_path / "hit_callers.tsv", sep="\t", index=False)
    html = hit_caller_section(tmp_path)
    assert "joint" in html and "window" in html and "90.0%" in html and "finemo" not in html.split("</p>")[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_short_patterns_cut_leaves_room_above_its_best_sequence(seed):
    import itertools

    from deeplift_genomics.motifs.hits import best_pvalue, pvalue_cut

    rng = np.random.default_rng(seed)
    width = 5
    logodds = rng.normal(0, 1.5, (4, width))
    background = rng.dirichlet(np.full(4, 20.0))
    # independent answer: every sequence of the width enumerated, with its background probability
    scores, probs = [], []
    for seq in itertools.product(range(4), repeat=width):
        scores.append(sum(logodds[b, w] for w, b in enumerate(seq)))
        probs.append(np.prod([background[b] for b in seq]))
    scores, probs = np.array(scores), np.array(probs)
    p_best = probs[scores >= scores.max() - 1e-9].sum()
    got = best_pvalue(logodds, background)
    np.testing.assert_allclose(got, p_best, rtol=1e-2)  # the DP rounds each entry to 1e-3
    # a loose cut is kept as it is; a cut below twice the best sequence's p-value is raised to it
    assert pvalue_cut(got, 0.5, 2.0) == 0.5  # max() of two floats returns one of them
    np.testing.assert_allclose(pvalue_cut(got, p_best / 10, 2.0), 2 * p_best, rtol=1e-2)  # as above
    assert pvalue_cut(got, p_best / 10, 0.0) == p_best / 10  # headroom 0: the cut itself (max() returns it)
