"""`score` end to end against the engine (`attribute`) on the same sequences: where score's extra time goes.

The issue measured ``score`` at 0.81x the engine on 800 sequences (48 against 59 seq/s). This script
times, in one run with the contenders' rounds interleaved, for this source tree and, with
``--baseline-src DIR`` (e.g. ``git archive <commit> deeplift_genomics data_sim | tar -x -C DIR``), for another one,
so that "before" and "after" share the machine's load:

- ``engine``: :func:`deeplift_genomics.attribute` with its defaults on the ``--n-seqs`` one-hot sequences,
  timed around the call in a fresh process after a warm-up call (imports, tracer, numba's kernels);
- ``score``: the ``score`` CLI with its defaults on a FASTA of the same sequences, run in the same kind
  of warmed-up process and timed around ``main([...])``: reading the FASTA and the model, scoring,
  writing every output (``scores.h5``, ``ohe.npz``, ``shap*.npz``, ``records.tsv``);
- ``score process``: the same command as its own process (``python -m deeplift_genomics score``), start
  to exit: interpreter, imports, numba's kernels, the run, the interpreter's exit;
- ``engine process``: the engine as its own process, start to exit: interpreter, imports, the model,
  the ``.npy`` of the sequences, the call, exit (what a user's script that calls ``attribute`` pays).

Each is measured in wall-clock seconds and in CPU seconds of the process (all its threads): on a machine
shared with other work the CPU time is the steadier of the two. Every contender keeps its best and its
median over ``--repeats`` rounds. The ratios (engine seconds over score seconds, goal >= 0.95):
``score`` (warmed up) / ``engine``; ``score process`` / ``engine`` (the whole process against the call:
the fixed costs of a process count against score, as the issue measured it); ``score process`` /
``engine process`` (both as processes).

The children run with bytecode caching on (``PYTHONPYCACHEPREFIX`` in the run's temporary folder, as an
installed package has its ``.pyc`` files; a development environment with ``PYTHONDONTWRITEBYTECODE`` would
otherwise compile every module of the package at every start), after one untimed process of each tree
has written the bytecode and numba's kernel cache.

With ``--stages``, one extra run of each tree's ``score`` process reports where its wall-clock time goes
(``python -X importtime`` for the imports, wrappers around score's steps, :data:`gc.callbacks` for the
garbage collector, numba's first call of each kernel, the time from the last statement to the exit).

Every contender uses the stored benchmark model (``tests/data/benchmark_default_model``: the paper's
net, 3 tasks, 200 bp) and ``--threads`` torch threads.

Run: ``.venv/bin/python bench/score_overhead.py [--n-seqs 800] [--repeats 3] [--threads 2]
[--baseline-src DIR] [--no-process] [--stages]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from defaults_speed import write_inputs  # noqa: E402  (the same FASTA and one-hot inputs)

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
attribute(model, x[:64], verbose=False)  # warm-up: imports, the tracer, numba's kernels, first allocations
wall, cpu = time.perf_counter(), time.process_time()
if {what!r} == "engine":
    attribute(model, x, verbose=False)
else:
    assert main(["score", "--model", {model!r}, "--fasta", {fasta!r}, "--out", {out!r}, "-q"]) == 0
print(json.dumps({{"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}}))
"""

# The engine as a user's script runs it: its own process, start to exit.
ENGINE_PROCESS = """
import sys, numpy as np, torch
torch.set_num_threads({threads})
from deeplift_genomics import attribute
from deeplift_genomics.models.files import load_model
attribute(load_model({model!r}).model, torch.from_numpy(np.load({x!r})), verbose=False)
"""

# One score process, timed step by step (run under python -X importtime); prints a JSON line of seconds.
STAGES = r"""
import gc, importlib.abc, importlib.util, json, sys, time
START = time.time()
steps = {{}}
def add(name, sec):
    steps[name] = steps.get(name, 0.0) + sec
def wrap(owner, attr, name):
    inner = getattr(owner, attr)
    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            add(name, time.perf_counter() - t)
    setattr(owner, attr, timed)
class NumbaHook(importlib.abc.MetaPathFinder):  # times numba's first call of each kernel (cache load)
    def find_spec(self, name, path, target=None):
        if name != "numba.core.dispatcher":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            wrap(module.Dispatcher, "_compile_for_args", "numba: first call of each kernel (cache load)")
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, NumbaHook())
gc_started = []
where = ["garbage collection before main() (in the imports)"]
def collector(phase, info):
    if phase == "start":
        gc_started.append(time.perf_counter())
    else:
        add(where[0], time.perf_counter() - gc_started.pop())
gc.callbacks.append(collector)
t = time.perf_counter()
import torch
add("import torch", time.perf_counter() - t)
torch.set_num_threads({threads})
t = time.perf_counter()
from deeplift_genomics.cli import build_parser, main
import deeplift_genomics.cli.score as cli_score
build_parser("score")
add("import the package and the score command", time.perf_counter() - t)
import deeplift_genomics.jobs.work as work
import deeplift_genomics.score.runner as runner
wrap(cli_score, "_load_model", "model load")
wrap(runner, "_select_regions", "FASTA index, read and check")
wrap(runner, "_manifest", "checksums (FASTA, model)")
wrap(runner, "attribute", "engine: attribute() calls")
wrap(runner, "save_npz", "saving the resumable chunk")
wrap(runner, "assemble_outputs", "writing scores.h5, ohe.npz, shap*.npz, records.tsv")
wrap(work.ChunkedWork, "finish", "finish (work folder, marker)")
where[0] = "garbage collection in main() (in the steps above)"
t = time.perf_counter()
sys.argv = ["deeplift-genomics", "score", "--model", {model!r}, "--fasta", {fasta!r}, "--out", {out!r}, "-q"]
try:
    main()
finally:
    add("main() in all", time.perf_counter() - t)
    print(json.dumps({{"start": START, "end": time.time(), "steps": steps}}), flush=True)
"""


def environment(src: Path, threads: int, folder: Path) -> dict[str, str]:
    """The child's environment: ``src`` first on the path (before an editable install's copy), bytecode on."""
    path = os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS=str(threads),
               PYTHONPYCACHEPREFIX=str(folder / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _out(folder: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix="score_", dir=folder)) / "out"


def time_child(src: Path, what: str, fasta: Path, onehot: Path, folder: Path, threads: int) -> dict[str, float]:
    """Wall and CPU seconds of the engine call or of the score command inside a warmed-up process."""
    code = CHILD.format(threads=threads, model=str(MODEL), x=str(onehot), fasta=str(fasta),
                        out=str(_out(folder)), what=what)
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                          env=environment(src, threads, folder), cwd=folder)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _time_process(cmd: list[str], src: Path, folder: Path, threads: int) -> dict[str, float]:
    """Wall and CPU seconds (all threads, user + system) of one child process, start to exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=environment(src, threads, folder), cwd=folder)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def time_process(src: Path, fasta: Path, folder: Path, threads: int) -> dict[str, float]:
    """One ``python -m deeplift_genomics score`` with its defaults, start to exit."""
    cmd = [sys.executable, "-m", "deeplift_genomics", "score", "--model", str(MODEL), "--fasta", str(fasta),
           "--out", str(_out(folder)), "-q"]
    return _time_process(cmd, src, folder, threads)


def time_engine_process(src: Path, onehot: Path, folder: Path, threads: int) -> dict[str, float]:
    """One process that loads the model and the sequences and calls ``attribute``, start to exit."""
    code = ENGINE_PROCESS.format(threads=threads, model=str(MODEL), x=str(onehot))
    return _time_process([sys.executable, "-c", code], src, folder, threads)


def stages(src: Path, fasta: Path, folder: Path, threads: int) -> dict[str, float]:
    """Where one ``score`` process's wall-clock seconds go, step by step (see the module docstring)."""
    code = STAGES.format(threads=threads, model=str(MODEL), fasta=str(fasta), out=str(_out(folder)))
    launched = time.time()
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], check=True, capture_output=True,
                          text=True, env=environment(src, threads, folder), cwd=folder)
    ended = time.time()
    report = json.loads(done.stdout.strip().splitlines()[-1])
    steps = {"interpreter start": report["start"] - launched, **report["steps"]}
    steps.update(_import_seconds(done.stderr, ("numba", "scipy", "pandas", "sklearn")))
    steps["interpreter exit (after the last statement)"] = ended - report["end"]
    steps["process, start to exit"] = ended - launched
    return steps


def _import_seconds(importtime: str, packages: tuple[str, ...]) -> dict[str, float]:
    """Seconds spent importing each of ``packages`` (and its submodules), from ``-X importtime`` output.

    Lines read ``import time: self [us] | cumulative | <2 spaces per level>module``, each module after the
    modules it imported; a module counts once, unless a module of the same package imported it.
    """
    seconds: dict[str, float] = {}
    stack: list[tuple[int, str]] = []  # the enclosing imports of the line being read (reading backwards)
    for line in reversed(importtime.splitlines()):
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        depth = len(parts[2]) - len(parts[2].lstrip()) - 1
        name = parts[2].strip()
        while stack and stack[-1][0] >= depth:
            stack.pop()
        top = name.split(".")[0]
        if top in packages and not any(n.split(".")[0] == top for _, n in stack):
            key = f"of which import {top}"
            seconds[key] = seconds.get(key, 0.0) + int(parts[1]) / 1e6
        stack.append((depth, name))
    return seconds


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-seqs", type=int, default=800)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--baseline-src", type=Path, help="another source tree to time the same contenders with")
    ap.add_argument("--no-process", action="store_true", help="leave out the contenders that are processes")
    ap.add_argument("--stages", action="store_true", help="also time the steps of one score process per tree")
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
                contenders[f"engine process ({name})"] = lambda src=src: time_engine_process(
                    src, onehot, folder, args.threads)
        if not args.no_process:
            for src in trees.values():  # untimed: writes the bytecode and numba's kernel cache of each tree
                time_process(src, fasta, folder, args.threads)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
        for r in range(args.repeats):
            for name, run in contenders.items():
                sec = run()
                rounds[name].append(sec)
                print(f"round {r + 1}: {name:32s} {sec['wall']:7.2f} s wall {sec['cpu']:7.2f} s cpu",
                      file=sys.stderr, flush=True)
        steps = {}
        if args.stages:
            steps = {tree: stages(src, fasta, folder, args.threads) for tree, src in trees.items()}
    best = {n: {k: min(s[k] for s in runs) for k in ("wall", "cpu")} for n, runs in rounds.items()}
    median = {n: {k: statistics.median(s[k] for s in runs) for k in ("wall", "cpu")} for n, runs in rounds.items()}
    print(f"{args.n_seqs} x {args.length} bp, {args.threads} thread(s), {args.repeats} interleaved rounds:")
    print(f"  {'contender':32s} {'seconds wall, cpu (best)':>26s} {'(median)':>16s} {'seq/s wall':>10s}")
    for name, sec in best.items():
        print(f"  {name:32s} {sec['wall']:12.2f} {sec['cpu']:12.2f}   {median[name]['wall']:7.2f} "
              f"{median[name]['cpu']:7.2f} {args.n_seqs / sec['wall']:10.1f}")
    ratios: dict[str, dict[str, float]] = {}
    print("score / engine (engine seconds over score seconds, of the best rounds; goal >= 0.95):")
    for tree in trees:
        pairs = {f"score ({tree})": f"engine ({tree})", f"score process ({tree})": f"engine ({tree})",
                 f"score process vs engine process ({tree})": f"engine process ({tree})"}
        for label, engine in pairs.items():
            name = label.replace(" vs engine process", "")
            if name in best and engine in best:
                ratios[label] = {key: best[engine][key] / best[name][key] for key in ("wall", "cpu")}
                print(f"  {label:44s} wall {ratios[label]['wall']:5.3f}  cpu {ratios[label]['cpu']:5.3f}")
    if steps:
        names = list(dict.fromkeys(k for tree_steps in steps.values() for k in tree_steps))
        print("one score process, wall-clock seconds by step (" + ", ".join(steps) + "):")
        for name in names:
            print(f"  {name:52s} " + " ".join(f"{steps[t].get(name, 0.0):8.2f}" for t in steps))
    print(json.dumps({"seq_per_s": {n: {k: args.n_seqs / v for k, v in s.items()} for n, s in best.items()},
                      "score_over_engine": ratios, "steps": steps}))
    return {"best": best, "median": median, "ratios": ratios, "steps": steps}


if __name__ == "__main__":
    main()
