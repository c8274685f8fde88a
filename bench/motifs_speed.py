"""Motif discovery speed: ``deeplift-genomics motifs`` against modisco-lite's CLI and tangermeme's seqlet
caller, on the same scores.

Input: a ``score`` output directory (``scores.h5`` + ``ohe.npz`` + ``shap_<task>.npz``), e.g. of the 8,000
sequences of the default simulation:

    deeplift-genomics simulate --out D && deeplift-genomics score --model tests/data/benchmark_default_model \\
        --fasta D/sequences.fa --out S
    .venv/bin/python bench/motifs_speed.py --scores S [--task gata] [--timeout 1800]

Each contender runs as its own process (imports and numba start-up count, as a user sees them), the
contenders taking turns within each of ``--rounds`` rounds:

- ``ours (one task)``: ``deeplift-genomics motifs --tasks TASK --no-report`` (seqlets, patterns, TOMTOM
  matches, instances);
- ``ours (all tasks)``: the same for every task;
- ``ours (seqlets only)``: :func:`deeplift_genomics.motifs.seqlets.call_seqlets` on the task, in-process
  timing of the call after reading the scores (the like-for-like partner of the next one);
- ``tangermeme recursive_seqlets``: the same scores, in-process timing of the call;
- ``modisco-lite CLI``: ``modisco motifs -s ohe.npz -a shap_TASK.npz -n N -w W`` (``-w 200`` is known to
  crash with NaN on these scores, see the notes; default ``-w 100``). A run past ``--timeout`` is stopped
  and reported as such.

Printed: one table with each contender's wall-clock seconds (best over rounds) and its ratio to ours.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEQLETS_SNIPPET = """
import sys, time, json
import numpy as np
from deeplift_genomics.motifs.inputs import read_score_dir
tracks = read_score_dir(sys.argv[1]).select_tasks([sys.argv[2]])
if sys.argv[3] == "ours":
    from deeplift_genomics.motifs.seqlets import call_seqlets
    t0 = time.perf_counter()
    table, _ = call_seqlets(tracks.projected[0], tracks.offsets, tracks.names, sys.argv[2])
    n = int((table["sign"] == "pos").sum())
else:
    import torch
    from tangermeme.seqlet import recursive_seqlets
    lengths = np.diff(tracks.offsets)
    assert (lengths == lengths[0]).all(), "tangermeme needs equal-length records"
    x = torch.tensor(tracks.projected[0].reshape(len(lengths), int(lengths[0])))
    t0 = time.perf_counter()
    n = len(recursive_seqlets(x))
print(json.dumps({"seconds": time.perf_counter() - t0, "n_seqlets": n}))
"""


def run(cmd: list[str], timeout: float) -> dict:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"seconds": time.perf_counter() - t0, "status": f"stopped after {timeout:.0f} s"}
    out = {"seconds": time.perf_counter() - t0,
           "status": "ok" if proc.returncode == 0 else f"failed ({proc.returncode}): "
           + (proc.stderr.strip().splitlines() or ["?"])[-1][:120]}
    if proc.returncode == 0 and proc.stdout.strip().startswith("{"):
        out.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", required=True, help="score output directory")
    parser.add_argument("--task", default="gata")
    parser.add_argument("--modisco-n", type=int, default=2000, help="modisco -n (max seqlets)")
    parser.add_argument("--modisco-window", type=int, default=100, help="modisco -w")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a contender is stopped")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--skip", nargs="*", default=[], help="contenders to leave out (ours-all, modisco, ...)")
    args = parser.parse_args()

    scores = Path(args.scores)
    py = sys.executable
    cli = [py, "-m", "deeplift_genomics"]
    work = Path(tempfile.mkdtemp(prefix="motifs_speed."))
    shap = scores / f"shap_{args.task}.npz"
    if not shap.exists():
        shap = scores / "shap.npz"
    modisco = str(Path(py).with_name("modisco"))
    contenders = {
        "ours": cli + ["motifs", "--scores", str(scores), "--out", str(work / "ours"), "--tasks", args.task,
                       "--no-report", "-q"],
        "ours-all": cli + ["motifs", "--scores", str(scores), "--out", str(work / "all"), "--no-report", "-q"],
        "ours-seqlets": [py, "-c", SEQLETS_SNIPPET, str(scores), args.task, "ours"],
        "tangermeme-seqlets": [py, "-c", SEQLETS_SNIPPET, str(scores), args.task, "tangermeme"],
        "modisco": [modisco, "motifs", "-s", str(scores / "ohe.npz"), "-a", str(shap), "-n", str(args.modisco_n),
                    "-w", str(args.modisco_window), "-o", str(work / "modisco.h5")],
    }
    contenders = {k: v for k, v in contenders.items() if k not in args.skip}
    best: dict[str, dict] = {}
    for r in range(args.rounds):
        for name, cmd in contenders.items():
            res = run(cmd, args.timeout)
            print(json.dumps({"round": r, "contender": name, **res}), flush=True)
            if name not in best or (res["status"] == "ok" and res["seconds"] < best[name]["seconds"]):
                best[name] = res
    print(f"\nmachine: {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}; task {args.task}; scores {scores}")
    ref = best.get("ours", {}).get("seconds")
    ref_seq = best.get("ours-seqlets", {}).get("seconds")
    print(f"{'contender':<22}{'seconds':>10}{'ratio':>10}  status")
    for name, res in best.items():
        base = ref_seq if name.endswith("seqlets") else ref
        ratio = f"{res['seconds'] / base:.2f}x" if base else "n/a"
        extra = f", {res['n_seqlets']} seqlets" if "n_seqlets" in res else ""
        print(f"{name:<22}{res['seconds']:>10.1f}{ratio:>10}  {res['status']}{extra}")


if __name__ == "__main__":
    main()
