"""Own-peaks grid: does `train` with every default learn what a synthetic peak genome holds?

    PYTHONPATH=. .venv/bin/python bench/peaks_grid.py [--cases small,weak,...] [--old] [--motifs] [--work DIR]

Each case writes a genome with tests/_peak_genome.py, runs `dataset` (GC-matched negatives, test and
validation on whole chromosomes), then `train` with the new defaults (and, with ``--old``, with the old
ones: ``--defaults benchmark``), and prints one table row: positives per task in the train split, motif,
the PWM scan's held-out auROC (best log-odds, both strands, computed here), the k-mer baseline's, the
net's (old and new), epochs run, seconds of the new training and, with ``--motifs``, whether `score` +
`motifs` on the test windows matched the task's top positive pattern to the planted motif (TOMTOM
against the packaged ENCODE collection, q < 0.05, its rank among the pattern's matches in brackets).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_sim.scan import motif_scores  # noqa: E402
from deeplift_genomics.cli import main as cli  # noqa: E402
from deeplift_genomics.datasets.load import load_dataset  # noqa: E402
from deeplift_genomics.models.metrics import task_auroc_auprc  # noqa: E402
from tests._peak_genome import PeakGenomeSpec, make_peak_genome  # noqa: E402

CASES = {
    "A_issue": PeakGenomeSpec(seed=11),
    "small_200": PeakGenomeSpec(peaks_per_task=200, seed=12),
    "weak_sites": PeakGenomeSpec(strength="weak", peaks_per_task=1000, seed=13),
    "long_motifs": PeakGenomeSpec(motifs=("EBF1_known1", "CTCF_known1"), seed=14),
    "short_6bp": PeakGenomeSpec(motifs=("MYC_known10", "ETS_known8"), seed=18),
    "long_1000bp": PeakGenomeSpec(length=1000, seed=15),
    "overlap_gc": PeakGenomeSpec(overlap=0.5, gc_range=(0.25, 0.7), gc_block=2000, seed=16),
    "large_5000": PeakGenomeSpec(peaks_per_task=5000, seed=17),
    "xl_20000": PeakGenomeSpec(peaks_per_task=20_000, n_contigs=8, seed=19),
    "xxl_50000": PeakGenomeSpec(peaks_per_task=50_000, n_contigs=10, seed=20),
}


def scan_auroc(x: np.ndarray, y: np.ndarray, motif) -> float:
    uniform = (0.25, 0.25, 0.25, 0.25)
    best = np.maximum(motif_scores(x, motif, uniform, strand="+").max(1), motif_scores(x, motif, uniform, strand="-").max(1))
    return task_auroc_auprc(y, best)[0]


def run_case(name: str, spec: PeakGenomeSpec, work: Path, old: bool, motifs: bool) -> list[dict]:
    genome = make_peak_genome(work / "genome", spec)
    data = work / "data"
    peaks = [f"{t}={p}" for t, p in genome.beds.items()]
    cli(["dataset", "--genome", str(genome.fasta), "--peaks", *peaks, "--out", str(data), "--length", str(spec.length),
         "--test-chroms", *genome.test_chroms, "--valid-chroms", *genome.valid_chroms, "-q"])
    ds = load_dataset(data)
    test = ds.split == "test"
    started = time.perf_counter()
    assert cli(["train", "--data", str(data), "--out", str(work / "new"), "--device", "cpu", "-q"]) == 0
    seconds = time.perf_counter() - started
    new = json.loads((work / "new" / "metrics.json").read_text())
    old_auroc = {}
    if old:
        assert cli(["train", "--data", str(data), "--out", str(work / "old"), "--device", "cpu", "--defaults",
                    "benchmark", "--no-kmer-baseline", "-q"]) == 0
        old_auroc = json.loads((work / "old" / "metrics.json").read_text())["test"]["auroc"]
    found = {}
    if motifs:
        found = motif_found(genome, data, work)
    rows = []
    for t, task in enumerate(ds.task_names):
        rows.append({
            "case": name, "task": task, "positives": int((ds.labels[ds.split == "train", t] >= 0.5).sum()),
            "motif": genome.motifs[task].name, "pwm_scan": scan_auroc(ds.onehot[test], ds.labels[test, t], genome.motifs[task]),
            "kmer": new["baselines"]["kmer"]["test"]["auroc"][task], "net_old": old_auroc.get(task, np.nan),
            "net_new": new["test"]["auroc"][task], "epochs": new["training"]["epochs_run"], "seconds": round(seconds),
            "windows": len(ds.split), "motif_found": found.get(task, ""),
        })
    return rows


def motif_found(genome, data: Path, work: Path) -> dict[str, str]:
    scores, out = work / "scores", work / "motifs"
    cli(["score", "--model", str(work / "new"), "--fasta", str(genome.fasta), "--bed", str(data / "test_windows.bed"),
         "--out", str(scores), "--device", "cpu", "--n-references", "10", "--no-bedgraph", "-q"])
    cli(["motifs", "--scores", str(scores), "--out", str(out), "--no-report", "-q"])
    patterns = pd.read_csv(out / "patterns.tsv", sep="\t")
    matches = pd.read_csv(out / "matches.tsv", sep="\t")
    found = {}
    for task, motif in genome.motifs.items():
        pos = patterns[(patterns["task"] == task) & (patterns["sign"] == "pos")]
        top = pos.sort_values("contribution_share", ascending=False)
        if top.empty:
            found[task] = "no pattern"
            continue
        hits = matches[(matches["task"] == task) & (matches["pattern"] == top.iloc[0]["pattern"])]
        hits = hits[(hits["match"] == motif.name) & (hits["q_value"] < 0.05)]
        found[task] = (f"yes (rank {int(hits['rank'].min())})" if len(hits)
                       else f"no ({top.iloc[0]['best_match']})")
    return found


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--old", action="store_true", help="also train with the old defaults")
    parser.add_argument("--motifs", action="store_true", help="also run score + motifs on the test windows")
    parser.add_argument("--work", default=None)
    args = parser.parse_args(argv)
    rows = []
    for name in args.cases.split(","):
        with tempfile.TemporaryDirectory(dir=args.work) as tmp:
            rows += run_case(name, CASES[name], Path(tmp), args.old, args.motifs)
        print(pd.DataFrame(rows[-2:]).to_string(index=False, float_format="%.3f"), flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format="%.3f"))
    return table


if __name__ == "__main__":
    main()
