"""The speed benchmarks run end to end on tiny inputs, so that the numbers in the docs can be re-measured.

Their timings are not checked (the machines are shared and noisy); what is checked is that every
contender ran on the same input and that the report has a rate for each.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
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
                                         "--repeats", "1", "--load", "idle"])
    assert set(report[1]["idle"]) == {"ours", "ours, torch walk", "ours before (numpy)", "tangermeme"}
    assert all(r["best"] >= r["median"] > 0 for r in report[1]["idle"].values())
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["shuffles_per_s"]["1"] == report[1]


def test_shuffle_speed_busy_mode_runs_beside_a_spinning_process(capsys):
    """Two thread counts, idle and busy (a child spinning on one core), ours against tangermeme."""
    pytest.importorskip("tangermeme")
    report = load("shuffle_speed").main(["--n-seqs", "12", "--length", "40", "--n", "3", "--threads", "1", "2",
                                         "--repeats", "3", "--methods", "ours", "tangermeme"])
    assert set(report) == {1, 2}
    for kinds in report.values():
        assert set(kinds) == {"idle", "busy"}
        for rates in kinds.values():
            assert set(rates) == {"ours", "tangermeme"}
            assert all(r["best"] >= r["median"] > 0 for r in rates.values())
    assert "ours / tangermeme, median" in capsys.readouterr().out


def test_defaults_speed_runs_score_and_attribute_in_fresh_processes():
    report = load("defaults_speed").main(["--n-seqs", "12", "--length", "200", "--repeats", "1",
                                          "--batch-sizes", "64"])
    assert set(report) == {
        "score, defaults (this tree)", "attribute, defaults (this tree)", "attribute, batch_size=64 (this tree)",
    }
    assert all(rate > 0 for rate in report.values())


def test_variants_screen_threads_runs_before_and_after_idle_and_busy(capsys):
    report = load("variants_screen_threads").main(["--n-variants", "60", "--repeats", "2", "--pieces", "16"])
    assert set(report) == {"idle", "busy"}
    for rates in report.values():
        assert set(rates) == {"before", "after", "after, 1 thread", "after, pieces of 16"}
        assert all(r["best"] >= r["median"] > 0 for r in rates.values())
    # equal on any CPU: the printed line is json.dumps of these same floats, whose repr round-trips exactly
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["snvs_per_s"] == report


def test_variants_screen_runs_every_contender():
    report = load("variants_screen").main(["--n-variants", "40", "--n-explain-all", "4", "--n-large", "0",
                                           "--repeats", "1", "--threads", "1"])
    assert set(report["snvs_per_second"]) == {"forward", "screen", "variants_screen_only", "variants_default",
                                              "variants_explain_all"}
    assert all(rate > 0 for rate in report["snvs_per_second"].values()) and report["n_variants"] == 40


def test_attention_anchors_runs_every_contender_and_ours_is_exact(capsys):
    for package in ("tangermeme", "captum", "enformer_pytorch"):
        pytest.importorskip(package)
    rows = load("attention_anchors").main(["--n-seqs", "2", "--refs", "2", "--length", "32",
                                           "--enformer-length", "64", "--repeats", "1", "--threads", "1",
                                           "--no-trace-costs"])
    assert {(r["model"], r["method"]) for r in rows} == {
        ("attn (BilinearOp)", "ours (DeepLIFT Rescale)"), ("attn (BilinearOp)", "captum IG (50 steps)"),
        ("attn (BilinearOp)", "tangermeme deep_lift_shap"), ("attn (BilinearOp)", "gradient floor"),
        ("enformer (small)", "ours (DeepLIFT Rescale)"), ("enformer (small)", "captum IG (50 steps)"),
        ("enformer (small)", "gradient floor"),
    }
    ours = [r for r in rows if r["method"].startswith("ours")]
    # float32: our contributions add up to f(x) - f(r) up to rounding
    assert all(r["sum err"] <= 1e-4 for r in ours)
    assert "x ours" in capsys.readouterr().out


def test_score_overhead_times_score_and_the_engine_and_the_steps_of_a_score_process(capsys):
    # one run for both modes: each fresh process pays the interpreter's and torch's start
    report = load("score_overhead").main(["--n-seqs", "4", "--repeats", "1", "--threads", "1", "--stages"])
    assert {"engine (this tree)", "score (this tree)", "score process (this tree)",
            "engine process (this tree)"} <= set(report["best"])
    assert all(sec > 0 for times in report["best"].values() for sec in times.values())
    ratios = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["score_over_engine"]
    assert "score (this tree)" in ratios and ratios["score (this tree)"]["cpu"] > 0
    assert "score process vs engine process (this tree)" in report["ratios"]
    steps = report["steps"]["this tree"]
    # the steps are parts of the process (the collector's time lies inside the other steps)
    parts = ("interpreter start", "import torch", "import the package and the score command", "main() in all",
             "interpreter exit (after the last statement)")
    assert all(steps[p] >= 0 for p in parts) and sum(steps[p] for p in parts) <= steps["process, start to exit"]
    assert steps["engine: attribute() calls"] <= steps["main() in all"]


def test_ism_threads_runs_both_ways_idle_and_busy(capsys):
    report = load("ism_threads").main(["--n-seqs", "1", "--threads", "2", "--repeats", "2"])
    assert set(report[2]) == {"idle", "busy"}
    for rates in report[2].values():
        assert all(rates[name]["best"] >= rates[name]["median"] > 0 for name in ("pieces", "torch regions"))
    # equal on any CPU: the printed line is json.dumps of these same floats, whose repr round-trips exactly
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["mutants_per_s"]["2"] == report[2]


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
    split = report["cost"]["breakdown"]  # the profiled split into convolutions and the rest, on the CPU
    assert all(split[rule]["convolutions_s"] > 0 and split[rule]["rest_s"] > 0 for rule in ("rescale", "reveal_cancel"))
    assert json.loads((tmp_path / "p.json").read_text())["cost"]["seconds"]["floor"] > 0


def test_hits_vs_finemo_grid_reproduces_the_command_at_its_defaults(tmp_path, capsys):
    """The in-process cut sweep at the defaults gives the `motifs` command's joint hits (same judged rows)."""
    from deeplift_genomics.cli import main as cli

    model = ROOT / "tests" / "data" / "benchmark_default_model"
    assert cli(["simulate", "--out", str(tmp_path / "sim"), "--seed", "3", "--n-per-class", "30", "-q"]) == 0
    assert cli(["score", "--model", str(model), "--fasta", str(tmp_path / "sim" / "sequences.fa"),
                "--out", str(tmp_path / "scores"), "--n-references", "3", "--no-bedgraph", "-q"]) == 0
    table, grid = load("hits_vs_finemo").main([
        "--scores", str(tmp_path / "scores"), "--sim-dir", str(tmp_path / "sim"), "--callers", "joint,window",
        "--pvalue-grid", "1e-3,4e-4", "--out", str(tmp_path / "bench")])
    assert set(table["caller"]) == {"joint", "window"}
    assert set(zip(grid["hit_pvalue"], grid["task"])) == {(p, t) for p in (1e-3, 4e-4) for t in ("both", "gata",
                                                                                                     "tal1")}
    cols = ["task", "n_calls", "n_true", "precision", "recall", "f1", "calls_in_records_without_motif"]
    at_default = grid[grid["hit_pvalue"] == 4e-4].sort_values("task")[cols].reset_index(drop=True)
    command = table[table["caller"] == "joint"].sort_values("task")[cols].reset_index(drop=True)
    # the same patterns (same seed) and the same deterministic fit: the same hits, so the same counts
    pd.testing.assert_frame_equal(at_default, command, check_dtype=False)
    # margins are against the window caller, the only other caller run
    window = table[table["caller"] == "window"].set_index("task")["f1"]
    np.testing.assert_allclose(grid["margin"], grid["f1"] - grid["task"].map(window).to_numpy())
    assert (tmp_path / "bench" / "hit_caller_grid.tsv").is_file() and "worst_task_margin" in capsys.readouterr().out
