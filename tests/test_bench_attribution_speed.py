"""Smoke test of bench/attribution_speed.py: every competitor runs and all compute the same Rescale scores."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "attribution_speed.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("attribution_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_and_competitors_agree(capsys):
    pytest.importorskip("tangermeme")
    pytest.importorskip("captum")
    bench = load_bench()
    threads = torch.get_num_threads()  # main() sets the torch thread count for the whole process
    argv = [
        "--n-seqs",
        "2",
        "--n-references",
        "3",
        "--batch-size",
        "4",
        "--memory-sizes",
        "",
        "--threads",
        "1",
    ]
    try:
        assert bench.main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    for name in (
        "floor",
        "ours genomics_default",
        "ours rescale",
        "ours reveal_cancel",
        "tangermeme",
        "captum",
    ):
        assert re.search(rf"^{name}.*\d+\.\d\d\s+\d+\.\d\d", out, re.M), f"no timing line for {name}:\n{out}"
    diffs = [float(v) for v in re.findall(r"^  (?:tangermeme|captum).*?(\d\.\d\de[-+]\d\d)$", out, re.M)]
    assert len(diffs) == 2 and max(diffs) < 1e-5, out
