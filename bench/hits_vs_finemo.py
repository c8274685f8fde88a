"""Hit callers against a simulation's embedded instances: our joint fit, our window caller and Fi-NeMo.

Input: a ``score`` output directory of a simulation's sequences and that simulation's ``embeddings.tsv``,
e.g. the default simulation (8,000 records of 200 bp):

    deeplift-genomics simulate --out D
    deeplift-genomics score --model tests/data/benchmark_default_model --fasta D/sequences.fa --out S
    .venv/bin/python bench/hits_vs_finemo.py --scores S --embeddings D/embeddings.tsv --out BENCH_DIR

Contenders, all on the same scores and the same patterns (each ``motifs`` run discovers them with the
same seed, so both runs find the same patterns):

- ``joint``: ``deeplift-genomics motifs --hit-caller joint`` (the default);
- ``window``: ``deeplift-genomics motifs --hit-caller window``;
- ``finemo``: ``finemo call-hits`` (Fi-NeMo, on the CPU) with the joint run's exported patterns
  (``modisco/<task>.h5``, read as they are) on the same hypothetical contributions (an ``.npz`` of
  ``sequences`` and ``contributions``; equal-length records only). Left out, with a note, when the
  ``finemo`` command is not installed.

Every call is judged by :func:`deeplift_genomics.motifs.recovery.recovery_table` (a positive call is
right when it covers half of an embedded instance of a motif the task depends on: task ``both`` GATA1
and TAL1, ``gata`` GATA1, ``tal1`` TAL1). Printed: precision, recall and F1 per task and caller, each
caller's seconds and Fi-NeMo's hits in records without any motif. Written: ``--out/hit_callers.tsv`` (the
benchmark report shows it when it lies in the benchmark directory). Times are wall-clock of one run on
whatever machine this is; on a shared machine they are noisy.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from deeplift_genomics.benchmark.analysis import DEFAULT_RELEVANT
from deeplift_genomics.motifs.inputs import read_score_dir
from deeplift_genomics.motifs.recovery import recovery_table, truth_from_embeddings

TASK_NAMES = ("both", "gata", "tal1")


def run_motifs(scores: Path, out: Path, caller: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "deeplift_genomics", "motifs", "--scores", str(scores), "--out", str(out),
                    "--hit-caller", caller, "--no-report", "-q"], check=True)
    return time.perf_counter() - t0


def run_finemo(scores: Path, motifs: Path, work: Path, tasks: list[str]) -> tuple[pd.DataFrame, float] | str:
    """Fi-NeMo's positive hits of every task (``task, sign, record, start, end``) and its seconds, or why not."""
    exe = shutil.which("finemo") or str(Path(sys.executable).with_name("finemo"))
    if not Path(exe).exists():
        return "finemo is not installed"
    tracks = read_score_dir(scores)
    lengths = tracks.lengths
    if not (lengths == lengths[0]).all():
        return "Fi-NeMo needs records of one length"
    n, length = tracks.n_records, int(lengths[0])
    seq = tracks.onehot.reshape(4, n, length).transpose(1, 0, 2).astype(np.int8)
    frames, seconds = [], 0.0
    for t, task in enumerate(tracks.task_names):
        if task not in tasks or not (motifs / "modisco" / f"{task}.h5").is_file():
            continue
        hyp = tracks.hypothetical[t].reshape(4, n, length).transpose(1, 0, 2).astype(np.float32)
        regions = work / f"regions_{task}.npz"
        np.savez(regions, sequences=seq, contributions=hyp)
        t0 = time.perf_counter()
        proc = subprocess.run([exe, "call-hits", "-r", str(regions), "-m", str(motifs / "modisco" / f"{task}.h5"),
                               "-o", str(work / f"finemo_{task}")], capture_output=True, text=True)
        seconds += time.perf_counter() - t0
        if proc.returncode != 0:
            return f"finemo call-hits failed on task {task}: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"
        hits = pd.read_csv(work / f"finemo_{task}" / "hits.tsv", sep="\t")
        frames.append(pd.DataFrame({
            "task": task, "sign": np.where(hits["motif_name"].str.startswith("pos"), "pos", "neg"),
            "record": tracks.names[hits["peak_id"].to_numpy()], "start": hits["start"].to_numpy(),
            "end": hits["end"].to_numpy()}))
    return pd.concat(frames, ignore_index=True), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", required=True, type=Path, help="score output directory")
    parser.add_argument("--embeddings", required=True, type=Path, help="the simulation's embeddings.tsv")
    parser.add_argument("--out", type=Path, default=None, help="where hit_callers.tsv goes (e.g. the benchmark "
                        "directory)")
    parser.add_argument("--no-finemo", action="store_true", help="leave Fi-NeMo out")
    args = parser.parse_args()

    truth = truth_from_embeddings(pd.read_csv(args.embeddings, sep="\t"))
    relevant = {TASK_NAMES[t]: list(m) for t, m in DEFAULT_RELEVANT.items()}
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="hits_vs_finemo_") as tmp:
        work = Path(tmp)
        calls = {}
        for caller in ("joint", "window"):
            seconds = run_motifs(args.scores, work / caller, caller)
            calls[caller] = (pd.read_csv(work / caller / "instances.tsv", sep="\t"), seconds)
        if not args.no_finemo:
            got = run_finemo(args.scores, work / "joint", work, list(relevant))
            if isinstance(got, str):
                notes.append(f"Fi-NeMo left out: {got}")
            else:
                calls["finemo"] = got
        for caller, (table, seconds) in calls.items():
            rec = recovery_table(truth, relevant, instances=table)
            no_motif = table["record"].astype(str).isin(set(truth["record"])) == False  # noqa: E712
            for r in rec.itertuples(index=False):
                mine = (table["task"] == r.task) & (table["sign"] == "pos")
                rows.append({"caller": caller, "task": r.task, "n_calls": r.n_calls, "n_true": r.n_true,
                             "precision": r.precision, "recall": r.recall, "f1": r.f1,
                             "calls_in_records_without_motif": int((mine & no_motif).sum()),
                             "seconds": seconds})
    out = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(out.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    wide = out.pivot(index="task", columns="caller", values="f1")
    print("\nF1 per task:\n" + wide.to_string(float_format=lambda v: f"{v:.3f}"))
    for note in notes:
        print(note)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        out.to_csv(args.out / "hit_callers.tsv", sep="\t", index=False, float_format="%.6g")
        print(f"wrote {args.out / 'hit_callers.tsv'}")


if __name__ == "__main__":
    main()
