"""Smoke test of bench/bpnet_speed.py: it runs, and both tools compute the same scores.

Skipped without bpnet-lite, except where the environment variable CI is set (make setup installs it).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from _bpnet_util import skip_without_bpnet_lite

try:
    import bpnetlite.bpnet  # noqa: F401
except ImportError as exc:
    skip_without_bpnet_lite(exc)

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bpnet_speed.py"


@pytest.mark.slow
def test_bench_runs_and_the_tools_agree(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bpnet_speed", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    threads = torch.get_num_threads()  # main() sets the thread count for the process
    out = tmp_path / "speed.json"
    try:
        assert bench.main(["--n-seqs", "2", "--n-references", "2", "--length", "140", "--filters", "4",
                           "--layers", "2", "--repeats", "1", "--json", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    report = json.loads(out.read_text())
    assert set(report["models"]) == {"bpnet_count", "bpnet_profile", "chrombpnet_count"}
    for numbers in report["models"].values():
        assert numbers["max_rel_diff"] < 1e-3  # float32; the float64 agreement is in test_models_bpnetlite
        assert numbers["speedup"] > 0
    assert "faster" in capsys.readouterr().out
