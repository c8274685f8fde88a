"""The speed benchmarks run end to end on tiny inputs, so that the numbers in the docs can be re-measured.

Their timings are not checked (the machines are shared and noisy); what is checked is that every
contender ran on the same input and that the report has a rate for each.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shuffle_speed_runs_every_contender(capsys):
    pytest.importorskip("tangermeme")
    report = load("shuffle_speed").main(["--n-seqs", "12", "--length", "40", "--n", "3", "--threads", "1",
                                         "--repeats", "1"])
    assert set(report[1]) == {"ours", "ours, torch walk", "ours before (numpy)", "tangermeme"}
    assert all(rate > 0 for rate in report[1].values())
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["shuffles_per_s"]["1"] == report[1]


def test_defaults_speed_runs_score_and_attribute_in_fresh_processes():
    report = load("defaults_speed").main(["--n-seqs", "12", "--length", "200", "--repeats", "1",
                                          "--batch-sizes", "64"])
    assert set(report) == {
        "score, defaults (this tree)", "attribute, defaults (this tree)", "attribute, batch_size=64 (this tree)",
    }
    assert all(rate > 0 for rate in report.values())


def test_precision_bench_measures_both_streams_on_tiny_nets(tmp_path):
    report = load("precision").main([
        "--n-seqs", "3", "--n-references", "2", "--precision-seqs", "2", "--precision-references", "2",
        "--length", "120", "--filters", "4", "--layers", "1", "--seeds", "0", "--repeats", "1",
        "--json", str(tmp_path / "p.json"),
    ])
    worst = report["precision"]["worst"]
    assert "benchmark_net" in worst
    # float32 against float64 of a small ReLU net: both ways keep most digits
    assert all(0 <= w["error_after"] < 1e-3 and 0 <= w["error_before"] < 1e-3 for w in worst.values())
    for stream in ("reference", "difference"):
        assert report["cost"][stream]["reveal_cancel_over_rescale"] > 0
    assert json.loads((tmp_path / "p.json").read_text())["cost"]["seconds"]["floor"] > 0
