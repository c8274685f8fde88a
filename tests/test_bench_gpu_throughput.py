"""bench/gpu_throughput.py runs on the CPU with a tiny N (so that bench/gpu_check.sh cannot rot)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def test_throughput_benchmark_runs_on_the_cpu(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("gpu_throughput", ROOT / "bench" / "gpu_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = bench.main(["--device", "cpu", "--n", "6", "--n-references", "3", "--repeats", "1",
                      "--json", str(tmp_path / "t.json")])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("throughput: CPU") and "seq/s" in line and "% of the time" in line
    assert json.loads((tmp_path / "t.json").read_text())["n"] == 6
    assert out["sequences_per_s"] > 0 and 0 < out["shuffle_share"]
    assert out["max_abs_delta"] < 1e-4  # summation-to-delta holds in float32
    assert torch.get_num_threads() >= 1


def test_gpu_check_script_says_so_without_a_gpu(tmp_path):
    import subprocess
    import sys

    if torch.cuda.is_available():
        return
    run = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh")], capture_output=True, text=True,
                         env={"PYTHON": sys.executable, "OUT": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1 and "no CUDA device" in run.stdout
