"""Hit callers against a simulation's embedded instances: our joint fit, our window caller and Fi-NeMo.

Input: a ``score`` output directory of a simulation's sequences and that simulation's ``embeddings.tsv``,
e.g. the default simulation (8,000 records of 200 bp):

    deeplift-genomics simulate --out D
    deeplift-genomics score --model tests/data/benchmark_default_model --fasta D/sequences.fa --out S
    .venv/bin/python bench/hits_vs_finemo.py --scores S --sim-dir D --out BENCH_DIR

On a simulation the defaults were not tuned to (another seed, another length), train its own model first:

    deeplift-genomics simulate --out D1 --seed 1
    deeplift-genomics train --data D1 --out M1 --no-kmer-baseline
    deeplift-genomics score --model M1 --fasta D1/sequences.fa --out S1
    .venv/bin/python bench/hits_vs_finemo.py --scores S1 --sim-dir D1 --pvalue-grid 1e-4,2e-4,4e-4,1e-3

Contenders, all on the same scores and the same patterns (each ``motifs`` run discovers them with the
same seed, so both runs find the same patterns):

- ``joint``: ``deeplift-genomics motifs --hit-caller joint`` (the default);
- ``window``: ``deeplift-genomics motifs --hit-caller window``;
- ``finemo``: ``finemo call-hits`` (Fi-NeMo, on the CPU) with the joint run's exported patterns
  (``modisco/<task>.h5``, read as they are) on the same hypothetical contributions (an ``.npz`` of
  ``sequences`` and ``contributions``; equal-length records only). Left out, with a note, when the
  ``finemo`` command is not installed.

With ``--pvalue-grid`` / ``--similarity-grid`` the joint fit is also run at every pair of cuts
(``--hit-pvalue`` x ``--hit-similarity``) on the same patterns, in this process (the patterns are
discovered once, as ``motifs`` does with its defaults): one row per cut and task, with the margin
``F1 - max(F1 of the other callers run)``, written to ``--out/hit_caller_grid.tsv``. The row at the
command's defaults is the ``joint`` caller's hits again (a test checks this), so the grid says how far
the defaults sit from the best cut on this simulation.

Every call is judged by :func:`deeplift_genomics.motifs.recovery.recovery_table` (a positive call is
right when it covers half of an embedded instance of a motif the task depends on: task ``both`` GATA1
and TAL1, ``gata`` GATA1, ``tal1`` TAL1). Printed: precision, recall and F1 per task and caller, each
caller's seconds and Fi-NeMo's hits in records without any motif. Written: ``--out/hit_callers.tsv`` (the
benchmark report shows it when it lies in the benchmark directory). Times are wall-clock of one run on
whatever machine this is; on a shared machine they are noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from deeplift_genomics.benchmark.analysis import DEFAULT_RELEVANT
from deeplift_genomics.motifs.hits import JointSettings
from deeplift_genomics.motifs.inputs import read_score_dir
from deeplift_genomics.motifs.recovery import recovery_table, truth_from_embeddings
from deeplift_genomics.motifs.run import MotifSettings, call_task_hits, find_motifs

TASK_NAMES = ("both", "gata", "tal1")
CALLERS = ("joint", "window", "finemo")


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


def joint_grid(scores: Path, cuts: list[tuple[float, float]]) -> dict[tuple[float, float], tuple[pd.DataFrame, float]]:
    """The joint fit's hits at every ``(max_pvalue, min_similarity)`` of ``cuts`` and the seconds of each fit,
    on the patterns that ``motifs`` with its defaults discovers (discovered once, in this process)."""
    tracks = read_score_dir(scores)
    base = MotifSettings()
    first = dataclasses.replace(base, joint=dataclasses.replace(base.joint, max_pvalue=cuts[0][0],
                                                                min_similarity=cuts[0][1]))
    t0 = time.perf_counter()
    results = find_motifs(tracks, first)
    out = {cuts[0]: (results.instances, time.perf_counter() - t0)}
    for pvalue, similarity in cuts[1:]:
        settings = dataclasses.replace(base, joint=JointSettings(fdr=base.joint.fdr, min_similarity=similarity,
                                                                 max_pvalue=pvalue))
        t0 = time.perf_counter()
        frames = [call_task_hits(tracks, t, [p for p in results.patterns if p.task == task], settings, "joint")
                  for t, task in enumerate(tracks.task_names)]
        out[(pvalue, similarity)] = (pd.concat(frames, ignore_index=True), time.perf_counter() - t0)
    return out


def judge(caller: str, table: pd.DataFrame, seconds: float, truth: pd.DataFrame,
          relevant: dict[str, list[str]]) -> list[dict]:
    """One row per task: precision, recall, F1 against ``truth`` and the calls in records without a motif."""
    rows = []
    rec = recovery_table(truth, relevant, instances=table)
    no_motif = table["record"].astype(str).isin(set(truth["record"])) == False  # noqa: E712
    for r in rec.itertuples(index=False):
        mine = (table["task"] == r.task) & (table["sign"] == "pos")
        rows.append({"caller": caller, "task": r.task, "n_calls": r.n_calls, "n_true": r.n_true,
                     "precision": r.precision, "recall": r.recall, "f1": r.f1,
                     "calls_in_records_without_motif": int((mine & no_motif).sum()), "seconds": seconds})
    return rows


def floats(text: str) -> list[float]:
    """``"1e-4,4e-4"`` -> ``[0.0001, 0.0004]``."""
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", required=True, type=Path, help="score output directory")
    parser.add_argument("--sim-dir", type=Path, default=None, help="the simulation (`simulate --out`): its "
                        "embeddings.tsv is the truth")
    parser.add_argument("--embeddings", type=Path, default=None, help="the simulation's embeddings.tsv "
                        "(default SIM_DIR/embeddings.tsv)")
    parser.add_argument("--out", type=Path, default=None, help="where hit_callers.tsv (and hit_caller_grid.tsv) "
                        "go (e.g. the benchmark directory)")
    parser.add_argument("--callers", default=",".join(CALLERS), help="comma-separated callers to run "
                        f"(default {','.join(CALLERS)})")
    parser.add_argument("--no-finemo", action="store_true", help="leave Fi-NeMo out")
    parser.add_argument("--pvalue-grid", type=floats, default=None, help="joint-fit PFM p-value cuts to sweep, "
                        "comma-separated (e.g. 1e-4,2e-4,4e-4,1e-3); default only the command's")
    parser.add_argument("--similarity-grid", type=floats, default=None, help="joint-fit CWM similarity cuts to "
                        "sweep, comma-separated; default only the command's")
    args = parser.parse_args(argv)
    embeddings = args.embeddings or (args.sim_dir / "embeddings.tsv" if args.sim_dir else None)
    if embeddings is None:
        parser.error("give --sim-dir or --embeddings")
    callers = [c for c in args.callers.split(",") if c]
    unknown = sorted(set(callers) - set(CALLERS))
    if unknown:
        parser.error(f"unknown caller(s) {', '.join(unknown)} (known: {', '.join(CALLERS)})")
    if args.no_finemo and "finemo" in callers:
        callers.remove("finemo")

    truth = truth_from_embeddings(pd.read_csv(embeddings, sep="\t"))
    relevant = {TASK_NAMES[t]: list(m) for t, m in DEFAULT_RELEVANT.items()}
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="hits_vs_finemo_") as tmp:
        work = Path(tmp)
        calls = {}
        for caller in ("joint", "window"):
            if caller in callers or (caller == "joint" and "finemo" in callers):  # Fi-NeMo reads joint's export
                seconds = run_motifs(args.scores, work / caller, caller)
                if caller in callers:
                    calls[caller] = (pd.read_csv(work / caller / "instances.tsv", sep="\t"), seconds)
        if "finemo" in callers:
            got = run_finemo(args.scores, work / "joint", work, list(relevant))
            if isinstance(got, str):
                notes.append(f"Fi-NeMo left out: {got}")
            else:
                calls["finemo"] = got
        for caller, (table, seconds) in calls.items():
            rows += judge(caller, table, seconds, truth, relevant)
    out = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    fmt = lambda v: f"{v:.3f}"  # noqa: E731
    if len(out):
        print(out.to_string(index=False, float_format=fmt))
        wide = out.pivot(index="task", columns="caller", values="f1")
        print("\nF1 per task:\n" + wide.to_string(float_format=fmt))
    for note in notes:
        print(note)

    grid = None
    if args.pvalue_grid or args.similarity_grid:
        default = JointSettings()
        cuts = [(p, s) for p in (args.pvalue_grid or [default.max_pvalue])
                for s in (args.similarity_grid or [default.min_similarity])]
        grid_rows = []
        for (pvalue, similarity), (table, seconds) in joint_grid(args.scores, cuts).items():
            for row in judge("joint", table, seconds, truth, relevant):
                grid_rows.append({"hit_pvalue": pvalue, "hit_similarity": similarity, **row})
        grid = pd.DataFrame(grid_rows).drop(columns="caller")
        others = out[out["caller"] != "joint"] if len(out) else out
        best_other = (others.groupby("task")["f1"].max() if len(others)
                      else pd.Series(np.nan, index=grid["task"].unique()))
        grid["best_other_f1"] = grid["task"].map(best_other)
        grid["margin"] = grid["f1"] - grid["best_other_f1"]
        print("\njoint fit per cut (margin: F1 minus the best other caller's F1 on the task):")
        cut_fmt = {"hit_pvalue": "{:g}".format, "hit_similarity": "{:g}".format}
        print(grid.to_string(index=False, float_format=fmt, formatters=cut_fmt))
        # a task without any hit at a cut has no F1 (NaN); it counts as the worst margin there
        worst = (grid.assign(margin=grid["margin"].fillna(-grid["best_other_f1"]))
                 .groupby(["hit_pvalue", "hit_similarity"])["margin"].min().rename("worst_task_margin"))
        print("\n" + worst.reset_index().to_string(index=False, float_format=fmt, formatters=cut_fmt))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        if len(out):
            out.to_csv(args.out / "hit_callers.tsv", sep="\t", index=False, float_format="%.6g")
            print(f"wrote {args.out / 'hit_callers.tsv'}")
        if grid is not None:
            grid.to_csv(args.out / "hit_caller_grid.tsv", sep="\t", index=False, float_format="%.6g")
            print(f"wrote {args.out / 'hit_caller_grid.tsv'}")
    return out, grid


if __name__ == "__main__":
    main()
