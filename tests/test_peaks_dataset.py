"""Peak datasets on a synthetic genome: counts, labels, GC matching, splits, negatives, bad input.

The genome, its peaks and every special case are made by ``tests/_peaks_util.py``, which records what
it planted; the checks here count and compare on their own (reading the genome and the written files
back with plain Python), never with the builder's helpers.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp

from deeplift_genomics.core.errors import InputError
from deeplift_genomics.datasets.load import load_dataset
from deeplift_genomics.datasets.peaks import PeakDatasetConfig, build_peak_dataset, make_peak_dataset
from deeplift_genomics.datasets.peaks.bed import IntervalIndex, contains_point, merge_intervals
from deeplift_genomics.io import fasta as fasta_module
from tests._peaks_util import make_genome

CONFIG = dict(test_chroms=("chr7",), valid_chroms=("chr8",))


def read_genome(path: Path) -> dict[str, str]:
    seqs: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            seqs[name] = []
        else:
            seqs[name].append(line.strip())
    return {k: "".join(v) for k, v in seqs.items()}


def read_out(out: Path) -> tuple[list[str], dict[str, str], list[list[str]], dict]:
    rows = [line.split("\t") for line in (out / "labels.tsv").read_text().splitlines()]
    return (
        rows[0],
        read_genome(out / "sequences.fa"),
        rows[1:],
        json.loads((out / "dataset.json").read_text()),
    )


def coords(name: str) -> tuple[str, int, int]:
    chrom, span = name.split(":")[:2]
    start, end = span.split("-")
    return chrom, int(start), int(end)


def gc(seq: str) -> float:
    return (seq.count("G") + seq.count("C")) / len(seq)


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return make_genome(tmp_path_factory.mktemp("genome"))


@pytest.fixture(scope="module")
def built(genome, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "data"
    config = PeakDatasetConfig(**CONFIG, blacklist=str(genome.blacklist), seed=3)
    make_peak_dataset(genome.fasta, {t: str(p) for t, p in genome.beds.items()}, out, config)
    return out


def test_counts_are_what_was_planted(genome, built):
    header, seqs, rows, meta = read_out(built)
    assert header == ["id", "split", "gata", "tal1", "decoy"]
    for task, expected in genome.expected.items():
        assert {k: meta["peaks"][task][k] for k in expected} == expected, task
        assert meta["peaks"][task]["windows"] == genome.planted[task]
    # Peaks in both files share one window; every window is positive for the tasks whose summit it holds.
    labels = np.array([[int(v) for v in r[2:]] for r in rows])
    is_peak = labels.any(axis=1)
    assert labels[:, 0].sum() == genome.planted["gata"] and labels[:, 1].sum() == genome.planted["tal1"]
    assert labels[:, 2].sum() == genome.planted["decoy"]
    assert (labels[:, 0] & labels[:, 1]).sum() == 5 * len(genome.contigs)  # the "both" peaks
    # One negative per peak window (K = 1), none short.
    assert meta["n_peak_windows"] == is_peak.sum()
    assert (~is_peak).sum() == is_peak.sum() == meta["n_negatives"]
    assert meta["negatives"]["short"] == 0
    assert len(seqs) == len(rows) == meta["n_windows"]


def test_windows_are_genome_slices_centred_on_summits_and_labelled_by_summits(genome, built):
    reference = read_genome(genome.fasta)
    _, seqs, rows, _ = read_out(built)
    summits = {t: set(v) for t, v in genome.summits.items()}
    all_summits = {s for v in summits.values() for s in v}
    for row in rows:
        chrom, start, end = coords(row[0])
        assert end - start == 200
        assert seqs[row[0]] == reference[chrom][start:end].upper()
        assert "N" not in seqs[row[0]]
        for t, task in enumerate(("gata", "tal1", "decoy")):
            inside = any(c == chrom and start <= s < end for c, s in summits[task])
            assert int(row[2 + t]) == inside, (row, task)
        if any(v == "1" for v in row[2:]):
            assert (chrom, start + 100) in all_summits  # a peak window is centred on its summit


def test_gc_of_negatives_matches_positives(genome, built):
    _, seqs, rows, meta = read_out(built)
    pos = np.array([gc(seqs[r[0]]) for r in rows if "1" in r[2:]])
    neg = np.array([gc(seqs[r[0]]) for r in rows if "1" not in r[2:]])
    ks = ks_2samp(pos, neg).statistic
    assert meta["gc"]["overall"]["ks_statistic"] == pytest.approx(ks, abs=1e-6)
    assert ks < 0.1
    for split in ("train", "valid", "test"):
        assert meta["gc"][split]["ks_pvalue"] > 0.05
    # Matching had work to do: windows drawn uniformly from the genome are far GC-poorer than the peaks.
    reference = read_genome(genome.fasta)
    rng = np.random.default_rng(0)
    random_gc = []
    while len(random_gc) < 400:
        chrom = f"chr{rng.integers(1, 9)}"
        start = int(rng.integers(0, len(reference[chrom]) - 200))
        window = reference[chrom][start : start + 200]
        if "N" not in window:
            random_gc.append(gc(window))
    assert ks_2samp(pos, random_gc).statistic > 0.3


def test_no_window_in_two_splits_and_negatives_avoid_peaks(genome, built):
    _, seqs, rows, meta = read_out(built)
    split_of_contig: dict[str, set[str]] = {}
    for row in rows:
        split_of_contig.setdefault(coords(row[0])[0], set()).add(row[1])
    assert all(len(s) == 1 for s in split_of_contig.values())
    assert {c for c, s in split_of_contig.items() if s == {"test"}} == {"chr7"}
    assert {c for c, s in split_of_contig.items() if s == {"valid"}} == {"chr8"}
    assert meta["splits"]["test"]["contigs"] == ["chr7"] and meta["splits"]["valid"]["contigs"] == ["chr8"]
    # No two windows of different splits overlap, and no sequence appears in two splits.
    windows = sorted((coords(r[0]), r[1]) for r in rows)
    for (a, sa), (b, sb) in zip(windows, windows[1:]):
        if a[0] == b[0] and b[1] < a[2]:
            assert sa == sb
    by_seq: dict[str, set[str]] = {}
    for row in rows:
        by_seq.setdefault(seqs[row[0]], set()).add(row[1])
    assert all(len(s) == 1 for s in by_seq.values())
    # A negative overlaps no peak of any BED file and no other window.
    peaks = []
    for bed in genome.beds.values():
        for line in bed.read_text().splitlines():
            c, s, e = line.split("\t")[:3]
            peaks.append((c, int(s), int(e)))
    for row in rows:
        if "1" not in row[2:]:
            chrom, start, end = coords(row[0])
            assert not any(c == chrom and s < end and start < e for c, s, e in peaks), row[0]
    for (a, _), (b, _) in zip(windows, windows[1:]):
        assert not (a[0] == b[0] and b[1] < a[2]) or a[1] == b[1]  # only peak windows may overlap


def test_load_dataset_reads_the_output(built):
    ds = load_dataset(built)
    _, _, rows, meta = read_out(built)
    assert ds.task_names == ["gata", "tal1", "decoy"]
    assert len(ds) == meta["n_windows"] and ds.length == 200
    assert ds.ids == [r[0] for r in rows]
    for split in ("train", "valid", "test"):
        assert int((ds.split == split).sum()) == meta["splits"][split]["windows"]
    windows_bed = (built / "windows.bed").read_text().splitlines()
    assert [line.split("\t")[3] for line in windows_bed] == ds.ids
    test_bed = (built / "test_windows.bed").read_text().splitlines()
    assert [line.split("\t")[3] for line in test_bed] == [i for i, s in zip(ds.ids, ds.split) if s == "test"]


def test_same_seed_same_bytes_other_seed_other_negatives(genome, built, tmp_path):
    config = PeakDatasetConfig(**CONFIG, blacklist=str(genome.blacklist), seed=3)
    make_peak_dataset(genome.fasta, genome.beds, tmp_path / "again", config)
    for name in ("sequences.fa", "labels.tsv", "windows.bed"):
        assert (tmp_path / "again" / name).read_bytes() == (built / name).read_bytes()
    other = build_peak_dataset(genome.fasta, genome.beds, PeakDatasetConfig(**CONFIG, seed=4))
    assert set(other.ids) != set(load_dataset(built).ids)


def test_shuffled_negatives_keep_dinucleotides_and_split(genome, tmp_path):
    ds = make_peak_dataset(
        genome.fasta,
        genome.beds,
        tmp_path / "shuf",
        PeakDatasetConfig(**CONFIG, negatives="shuffled", negatives_per_positive=2),
    )
    _, seqs, rows, meta = read_out(tmp_path / "shuf")
    split_of = {r[0]: r[1] for r in rows}
    shuffles = [r for r in rows if ":shuf" in r[0]]
    assert len(shuffles) == 2 * meta["n_peak_windows"] == meta["n_negatives"]
    for row in shuffles:
        source = row[0].rsplit(":", 1)[0]
        a, b = seqs[row[0]], seqs[source]
        assert Counter(zip(a, a[1:])) == Counter(zip(b, b[1:])) and a[0] == b[0] and a[-1] == b[-1]
        assert row[1] == split_of[source] and set(row[2:]) == {"0"}
    assert meta["gc"]["overall"]["ks_statistic"] == 0
    assert len((tmp_path / "shuf" / "windows.bed").read_text().splitlines()) == meta["n_peak_windows"]
    assert all(kind in ("peak", "shuffled") for kind in ds.kind)


def test_negatives_from_a_bed_file(genome, tmp_path):
    reference = read_genome(genome.fasta)
    chrom, summit = genome.summits["gata"][0]
    free = [  # spots of chr3/chr7 far from every summit
        (c, s)
        for c in ("chr3", "chr7")
        for s in range(1000, 99_000, 5000)
        if all(c != c2 or abs(s - s2) > 400 for v in genome.summits.values() for c2, s2 in v)
    ]
    lines = [f"{c}\t{s - 50}\t{s + 50}" for c, s in free]
    lines += [f"{chrom}\t{summit - 10}\t{summit + 10}", f"{free[0][0]}\t{free[0][1] - 50}\t{free[0][1] + 50}"]
    lines += ["chr3\t10\t30", "chrUn_missing\t0\t100"]
    bed = tmp_path / "neg.bed"
    bed.write_text("\n".join(lines) + "\n")
    make_peak_dataset(
        genome.fasta, genome.beds, tmp_path / "out", PeakDatasetConfig(**CONFIG, negatives=str(bed))
    )
    _, seqs, rows, meta = read_out(tmp_path / "out")
    negatives = [r for r in rows if "1" not in r[2:]]
    assert sorted(coords(r[0])[:2] for r in negatives) == sorted((c, s - 100) for c, s in free)
    for row in negatives:
        c, s, e = coords(row[0])
        assert seqs[row[0]] == reference[c][s:e] and row[1] == ("test" if c == "chr7" else "train")
    counts = meta["negatives"]
    assert counts["overlaps_peak_or_blacklist"] == 1 and counts["duplicate"] == 1
    assert counts["off_contig_end"] == 1 and counts["unknown_contig"] == 1 and counts["kept"] == len(free)


def test_automatic_splits_take_whole_contigs(genome):
    ds = build_peak_dataset(genome.fasta, genome.beds, PeakDatasetConfig(seed=1, negatives_per_positive=0))
    contigs = {s: {c for c, sp in zip(ds.chroms, ds.split) if sp == s} for s in ("train", "valid", "test")}
    assert all(contigs.values())
    assert not (contigs["train"] & contigs["valid"]) and not (contigs["valid"] & contigs["test"])
    assert not (contigs["train"] & contigs["test"])


# ------------------------------------------------------------------------------------------- bad input
def _expect_refusal(genome, tmp_path, pattern, peaks=None, **config):
    out = tmp_path / "out"
    with pytest.raises(InputError, match=pattern) as info:
        make_peak_dataset(genome.fasta, peaks or genome.beds, out, PeakDatasetConfig(**{**CONFIG, **config}))
    assert "\n" not in str(info.value)
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_bed_on_another_assembly_is_refused(genome, tmp_path):
    bed = tmp_path / "other.bed"
    bed.write_text("1\t100\t300\n2\t500\t700\n")
    _expect_refusal(
        genome, tmp_path, r"other\.bed: none of its 2 peaks lies on a contig of the genome: '1'", {"x": bed}
    )


def test_empty_bed_is_refused(genome, tmp_path):
    bed = tmp_path / "empty.bed"
    bed.write_text("# nothing\ntrack name=x\n")
    _expect_refusal(genome, tmp_path, r"empty\.bed: no peaks found", {"gata": genome.beds["gata"], "e": bed})


@pytest.mark.parametrize(
    ("peaks", "pattern"),
    [
        (["gata=A", "gata=B"], r"task 'gata' given twice"),
        (["GATA=A", "gata=B"], r"task 'gata' given twice \(first as GATA=A\)"),
        (["split=A"], r"task name 'split' is reserved"),
        (["a b=A"], r"task name 'a b' must be"),
        (["gata"], r"expected TASK=FILE\.bed"),
    ],
)
def test_conflicting_task_names_are_refused(genome, tmp_path, peaks, pattern):
    _expect_refusal(genome, tmp_path, pattern, peaks)


def test_bad_summit_and_interval_name_the_line(genome, tmp_path):
    bed = tmp_path / "bad.bed"
    bed.write_text("chr1\t1000\t1200\tp\t0\t.\t0\t0\t0\t300\n")
    _expect_refusal(
        genome, tmp_path, r"bad\.bed: line 1: column 10 \(summit offset\) 300 is outside", {"x": bed}
    )
    bed.write_text("chr1\t1000\t1200\nchr1\t1300\t1300\n")
    _expect_refusal(genome, tmp_path, r"bad\.bed: line 2: contig 'chr1': bad interval 1300-1300", {"x": bed})


@pytest.mark.parametrize(
    ("config", "pattern"),
    [
        ({"test_chroms": ("chrZ",)}, r"--test-chroms: contig 'chrZ' is not in genome\.fa"),
        ({"valid_chroms": ("chr7",)}, r"both name contig 'chr7'"),
        (
            {"negatives": "nope.bed"},
            r"--negatives nope\.bed: not gc-matched, shuffled or an existing BED file",
        ),
        ({"length": 0}, r"'length' must be an integer >= 1"),
    ],
)
def test_bad_settings_are_refused(genome, tmp_path, config, pattern):
    _expect_refusal(genome, tmp_path, pattern, **config)


def test_out_holding_an_input_is_refused(genome, tmp_path):
    out = genome.fasta.parent
    with pytest.raises(InputError, match=r"contains the input .*genome\.fa"):
        make_peak_dataset(genome.fasta, genome.beds, out, PeakDatasetConfig(**CONFIG))
    assert genome.fasta.exists()


def test_failure_leaves_an_existing_output_alone(genome, built, tmp_path):
    before = {p.name: p.read_bytes() for p in built.iterdir()}
    bad = tmp_path / "empty.bed"
    bad.write_text("")
    with pytest.raises(InputError):
        make_peak_dataset(genome.fasta, {"x": bad}, built, PeakDatasetConfig(**CONFIG))
    assert {p.name: p.read_bytes() for p in built.iterdir()} == before


def test_genome_in_a_read_only_folder(genome, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "genome.fa").write_bytes(genome.fasta.read_bytes())
    # Permission bits do not bind root (CI containers), so make the folder look read-only instead.
    monkeypatch.setattr(fasta_module, "_writable_dir", lambda path: path != ro)
    ds = make_peak_dataset(
        ro / "genome.fa",
        genome.beds,
        tmp_path / "out",
        PeakDatasetConfig(**CONFIG),
        index_dir=tmp_path / "idx",
    )
    assert len(ds) > 0 and not (ro / "genome.fa.fai").exists()
    # ... and when the index cannot be built anywhere: one line, no output.
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(
        InputError, match=r"genome\.fa: its directory is read-only and the index cannot be built"
    ):
        make_peak_dataset(
            ro / "genome.fa",
            genome.beds,
            tmp_path / "out2",
            PeakDatasetConfig(**CONFIG),
            index_dir=blocker / "idx",
        )
    assert not (tmp_path / "out2").exists()


# ------------------------------------------------------------------------------------------- intervals
def test_interval_queries_match_brute_force():
    rng = np.random.default_rng(0)
    iv = rng.integers(0, 1000, size=(60, 1))
    iv = np.concatenate([iv, iv + rng.integers(1, 40, size=(60, 1))], axis=1)
    merged = merge_intervals(iv)
    covered = np.zeros(1100, dtype=bool)
    for s, e in iv:
        covered[s:e] = True
    again = np.zeros(1100, dtype=bool)
    for s, e in merged:
        again[s:e] = True
    assert (covered == again).all() and (merged[1:, 0] > merged[:-1, 1]).all()
    index = IntervalIndex({"c": iv})
    starts = rng.integers(0, 1050, size=500)
    ends = starts + rng.integers(1, 60, size=500)
    expected = np.array([covered[s:e].any() for s, e in zip(starts, ends)])
    assert (index.overlaps("c", starts, ends) == expected).all()
    assert not index.overlaps("other", starts, ends).any()
    points = np.sort(rng.integers(0, 1000, size=30))
    assert (
        contains_point(points, starts, ends)
        == [((points >= s) & (points < e)).any() for s, e in zip(starts, ends)]
    ).all()


def test_gc_fallback_and_shortage_are_counted(tmp_path):
    from deeplift_genomics.datasets.peaks.negatives import gc_matched_negatives
    from deeplift_genomics.io.fasta import FastaFile

    rng = np.random.default_rng(0)
    at_rich = "".join(rng.choice(list("ACGT"), size=20_000, p=[0.4, 0.1, 0.1, 0.4]))
    (tmp_path / "g.fa").write_text(f">c\n{at_rich}\n>small\n{at_rich[:1000]}\n")
    with FastaFile(tmp_path / "g.fa") as fa:
        lengths = {"c": 20_000, "small": 1000}
        # Positives at GC 0.8 have no match in a GC-0.2 contig: every negative takes the nearest GC.
        draw = gc_matched_negatives(
            fa, lengths, ["c"], IntervalIndex(), np.full(10, 0.8), 1, 100, rng, max_rounds=2
        )
        assert draw.stats["chosen"] == 10 and draw.stats["gc_fallback"] == 10 and draw.stats["short"] == 0
        assert min(draw.gc) > 0.25  # the top of the contig's GC distribution (mean 0.2, sd 0.04)
        starts = sorted(draw.starts)
        assert all(b - a >= 100 for a, b in zip(starts, starts[1:]))
        assert all(fa.fetch("c", s, s + 100).upper() == q for s, q in zip(draw.starts, draw.sequences))
        # A 1 kb contig holds at most 10 disjoint 100-bp windows: asking for 30 leaves at least 20 short.
        target = np.full(30, 0.2)
        draw = gc_matched_negatives(
            fa, lengths, ["small"], IntervalIndex(), target, 1, 100, rng, max_rounds=4
        )
        assert draw.stats["chosen"] <= 10 and draw.stats["short"] == 30 - draw.stats["chosen"] >= 20
