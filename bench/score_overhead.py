"""`score` end to end against the engine (`attribute`) on the same sequences: where score's extra time goes.

The issue measured ``score`` at 0.81x the engine on 800 sequences (48 against 59 seq/s). This script
times, in one run with the contenders' rounds interleaved (each keeps its best time), for this source
tree and, with ``--baseline-src DIR`` (e.g. ``git archive <commit> deeplift_genomics | tar -x -C DIR``),
for another one, so that "before" and "after" share the machine's load:

- ``engine``: :func:`deeplift_genomics.attribute` with its defaults on the ``--n-seqs`` one-hot sequences,
  timed around the call in a fresh process after a warm-up call (imports, tracer, allocator);
- ``score``: the ``score`` CLI with its defaults on a FASTA of the same sequences, run in the same kind
  of warmed-up process (every command's modules imported too) and timed around ``main([...])``:
  reading the FASTA and the model, scoring, writing every output (``scores.h5``, ``ohe.npz``,
  ``shap*.npz``, ``records.tsv``);
- ``score process``: the same command as its own process, start to exit (interpreter, imports).

Each is measured in wall-clock seconds and in CPU seconds of the process (``time.process_time``, all its
threads): on a machine shared with other work the CPU time is the steadier of the two. Prints seq/s and
the ratio score / engine (engine seconds over score seconds: 1.0 means score costs nothing on top).
With ``--stages``, also prints where score's own time goes in this tree (cProfile of one run, grouped).

Every contender uses the stored benchmark model (``tests/data/benchmark_default_model``: the paper's
net, 3 tasks, 200 bp) and ``--threads`` torch threads.

Run: ``.venv/bin/python bench/score_overhead.py [--n-seqs 800] [--repeats 3] [--threads 2]
[--baseline-src DIR] [--stages]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "data" / "benchmark_default_model"

# Runs in a fresh process with the source tree under test first on sys.path; prints the timed call's
# wall and CPU seconds as JSON.
CHILD = """
import json, sys, time, numpy as np, torch
torch.set_num_threads({threads})
from deeplift_genomics import attribute
from deeplift_genomics.cli import build_parser, main
from deeplift_genomics.models.files import load_model
build_parser()  # imports every command's modules: start-up, which "score process" counts
model = load_model({model!r}).model
x = torch.from_numpy(np.load({x!r}))
attribute(model, x[:4], verbose=False)  # warm-up: imports, the tracer, first allocations
wall, cpu = time.perf_counter(), time.process_time()
if {what!r} == "engine":
    attribute(model, x, verbose=False)
else:
    assert main(["score", "--model", {model!r}, "--fasta", {fasta!r}, "--out", {out!r}, "-q"]) == 0
print(json.dumps({{"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}}))
"""

STAGES = """
import cProfile, pstats, sys, torch
torch.set_num_threads({threads})
from deeplift_genomics import attribute
from deeplift_genomics.cli import build_parser, main
from deeplift_genomics.models.files import load_model
build_parser()
attribute(load_model({model!r}).model, torch.zeros(2, 4, 200), references="zeros", verbose=False)
profile = cProfile.Profile()
profile.enable()
assert main(["score", "--model", {model!r}, "--fasta", {fasta!r}, "--out", {out!r}, "-q"]) == 0
profile.disable()
stats = pstats.Stats(profile).stats
total = sum(tt for _, _, tt, _, _ in stats.values())
def cumulative(name):
    return max((ct for (path, _, func), (_, _, _, ct, _) in stats.items() if func == name), default=0.0)
parts = {{
    "attribute() calls (engine, references)": cumulative("attribute"),
    "reading and windowing the FASTA, stitching": cumulative("score_chunk") - cumulative("attribute"),
    "saving the resumable chunk": cumulative("save_npz"),
    "writing scores.h5, ohe.npz, shap*.npz, records.tsv": cumulative("assemble_outputs"),
    "model load, checksums, FASTA check": cumulative("_load_model") + cumulative("_select_regions")
        + cumulative("model_fingerprint") + cumulative("file_checksum"),
}}
parts["rest"] = total - sum(parts.values())
if "--top" in sys.argv:
    pstats.Stats(profile).sort_stats("tottime").print_stats(12)
for name, sec in parts.items():
    print(f"  {{name:52s}} {{sec:7.2f}} s  {{100 * sec / total:5.1f}} %")
"""


def write_inputs(folder: Path, n: int, length: int, seed: int) -> tuple[Path, Path]:
    """A FASTA of ``n`` random records and the same sequences one-hot in a ``.npy`` file."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 4, size=(n, length))
    fasta = folder / "records.fa"
    with open(fasta, "w") as fh:
        for i, row in enumerate(idx):
            fh.write(f">r{i}\n{''.join('ACGT'[c] for c in row)}\n")
    x = np.zeros((n, 4, length), dtype=np.float32)
    np.put_along_axis(x, idx[:, None, :], 1.0, axis=1)
    onehot = folder / "records.npy"
    np.save(onehot, x)
    return fasta, onehot


def environment(src: Path, threads: int) -> dict[str, str]:
    """The child's environment: ``src`` first on the path (before an editable install's copy)."""
    path = os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS=str(threads))


def time_child(src: Path, what: str, fasta: Path, onehot: Path, folder: Path, threads: int) -> dict[str, float]:
    """Wall and CPU seconds of the engine call or of the score command inside a warmed-up process."""
    out = Path(tempfile.mkdtemp(prefix="score_", dir=folder)) / "out"
    code = CHILD.format(threads=threads, model=str(MODEL), x=str(onehot), fasta=str(fasta), out=str(out),
                        what=what)
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                          env=environment(src, threads), cwd=folder)
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_process(src: Path, fasta: Path, folder: Path, threads: int) -> dict[str, float]:
    """Wall and CPU seconds of one ``score`` process with its defaults, start to exit."""
    out = Path(tempfile.mkdtemp(prefix="score_", dir=folder)) / "out"
    cmd = [sys.executable, "-c", "from deeplift_genomics.cli import main; raise SystemExit(main())", "score",
           "--model", str(MODEL), "--fasta", str(fasta), "--out", str(out), "-q"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=environment(src, threads), cwd=folder)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-seqs", type=int, default=800)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--baseline-src", type=Path, help="another source tree to time the same contenders with")
    ap.add_argument("--no-process", action="store_true", help="leave out the whole-process score runs")
    ap.add_argument("--stages", action="store_true", help="also profile where score's time goes (this tree)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="score_overhead_") as tmp:
        folder = Path(tmp)
        fasta, onehot = write_inputs(folder, args.n_seqs, args.length, seed=0)
        trees = {"this tree": ROOT}
        if args.baseline_src is not None:
            trees["baseline"] = args.baseline_src.resolve()
        contenders = {}
        for name, src in trees.items():
            contenders[f"engine ({name})"] = lambda src=src: time_child(src, "engine", fasta, onehot, folder,
                                                                        args.threads)
            contenders[f"score ({name})"] = lambda src=src: time_child(src, "score", fasta, onehot, folder,
                                                                       args.threads)
            if not args.no_process:
                contenders[f"score process ({name})"] = lambda src=src: time_process(src, fasta, folder,
                                                                                     args.threads)
        best = {name: {"wall": float("inf"), "cpu": float("inf")} for name in contenders}
        for r in range(args.repeats):
            for name, run in contenders.items():
                sec = run()
                for key in ("wall", "cpu"):
                    best[name][key] = min(best[name][key], sec[key])
                print(f"round {r + 1}: {name:32s} {sec['wall']:7.2f} s wall {sec['cpu']:7.2f} s cpu",
                      file=sys.stderr, flush=True)
        if args.stages:
            out = folder / "stages_out"
            print(f"where score's time goes (this tree, one profiled run, {args.threads} thread(s)):")
            subprocess.run([sys.executable, "-c", STAGES.format(threads=args.threads, model=str(MODEL),
                                                                fasta=str(fasta), out=str(out))],
                           check=True, env=environment(ROOT, args.threads), cwd=folder)
    print(f"{args.n_seqs} x {args.length} bp, {args.threads} thread(s), best of {args.repeats} interleaved rounds:")
    print(f"  {'contender':32s} {'seq/s wall':>10s} {'seq/s cpu':>10s}")
    for name, sec in best.items():
        print(f"  {name:32s} {args.n_seqs / sec['wall']:10.1f} {args.n_seqs / sec['cpu']:10.1f}")
    ratios: dict[str, dict[str, float]] = {}
    print("score / engine (engine seconds over score seconds; goal >= 0.95):")
    for tree in trees:
        engine = best[f"engine ({tree})"]
        for kind in ("score", "score process"):
            name = f"{kind} ({tree})"
            if name in best:
                ratios[name] = {key: engine[key] / best[name][key] for key in ("wall", "cpu")}
                print(f"  {name:32s} wall {ratios[name]['wall']:5.3f}  cpu {ratios[name]['cpu']:5.3f}")
    print(json.dumps({"seq_per_s": {n: {k: args.n_seqs / v for k, v in s.items()} for n, s in best.items()},
                      "score_over_engine": ratios}))
    return {"best": best, "ratios": ratios}


if __name__ == "__main__":
    main()
