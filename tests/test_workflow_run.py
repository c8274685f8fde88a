"""Real runs of the tiny workflow (config/test/config.yaml): every output appears, a rerun does nothing,
and a run killed mid-way then rerun with --rerun-incomplete ends with the same outputs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from _workflow_util import (
    TINY_ARGS,
    TINY_TARGETS,
    explain,
    output_digests,
    run_snakemake,
    shared_basetemp,
    snakemake_command,
    tiny_reference_run,
    workflow_env,
)

pytestmark = [
    pytest.mark.slow,
]

TARGETS = TINY_TARGETS
ARGS = TINY_ARGS
METHODS = (
    "gradient_x_input",
    "guided_backprop_x_input",
    "integrated_gradients",
    "deeplift_rescale",
    "deeplift_reveal_cancel",
    "deeplift_genomics_default",
    "deeplift_genomics_default_shuffle10",
    "deeplift_genomics_default_shuffle20",
    "ism",
)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted tiny run of `all` and `score`; its outputs are the reference of the other tests."""
    return tiny_reference_run(shared_basetemp(tmp_path_factory))


def test_tiny_run_writes_every_output_with_logs_and_timings(reference_run: Path):
    results = reference_run / "results"
    for name in ("sequences.fa", "labels.tsv", "embeddings.tsv", "sequences.simdata.gz"):
        assert (results / "data" / name).stat().st_size > 0, name
    for name in ("model.json", "model.safetensors", "metrics.json"):
        assert (results / "models" / "seed1" / name).stat().st_size > 0, name
    for method in METHODS:
        assert (results / "attributions" / "seed1" / f"{method}.npz").stat().st_size > 0, method
        assert (results / "benchmarks" / "attribute" / "seed1" / f"{method}.tsv").exists(), method
        assert (results / "logs" / "attribute" / "seed1" / f"{method}.log").exists(), method
    fig5b = pd.read_csv(results / "benchmark" / "fig5b.tsv", sep="\t")
    assert list(fig5b.columns) == ["method", "motif", "n_hits", "false_negative_rate"]
    assert set(METHODS) <= set(fig5b["method"])
    assert (results / "report" / "index.html").stat().st_size > 0
    for name in ("scores.h5", "ohe.npz", "shap.npz", "records.tsv"):
        assert (results / "score" / "simulated" / name).stat().st_size > 0, name
    records = pd.read_csv(results / "score" / "simulated" / "records.tsv", sep="\t")
    n_sequences = sum(1 for line in (results / "data" / "sequences.fa").open() if line.startswith(">"))
    assert len(records) == n_sequences
    for name in ("variants.tsv", "scores.h5", "skipped.tsv", "summary.json", "report.html"):
        assert (results / "variants" / "simulated" / name).stat().st_size > 0, name
    # Each rule's benchmark file is Snakemake's timing table (s, h:m:s, max_rss, ...).
    for tsv in (results / "benchmarks").rglob("*.tsv"):
        assert pd.read_csv(tsv, sep="\t").loc[0, "s"] >= 0, tsv
    # The commands' logs went to the rules' log files.
    assert "INFO" in (results / "logs" / "train" / "seed1.log").read_text()


def test_rerun_after_a_complete_run_does_nothing(reference_run: Path):
    before = {p: p.stat().st_mtime_ns for p in (reference_run / "results").rglob("*") if p.is_file()}
    result = run_snakemake(reference_run, *ARGS, *TARGETS, timeout=120)
    assert result.returncode == 0, explain(result)
    assert "Nothing to be done" in result.stdout + result.stderr, explain(result)
    after = {p: p.stat().st_mtime_ns for p in (reference_run / "results").rglob("*") if p.is_file()}
    assert after == before


def _wait_for(predicate, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.2)
    return False


#: The part of the workflow the kill test runs: simulate, train and a few attribution jobs.
KILL_TARGETS = tuple(f"results/attributions/seed1/{method}.npz" for method in
                     ("gradient_x_input", "deeplift_rescale", "deeplift_genomics_default_shuffle10", "ism"))


def test_snakemake_report_collects_the_marked_figures_and_tables(reference_run: Path):
    """`snakemake --report` gathers every output marked report(...) with its caption into one page."""
    result = run_snakemake(reference_run, *ARGS, *TARGETS, "--report", "report.html", timeout=300)
    assert result.returncode == 0, explain(result)
    added = set(re.findall(r"Adding (\S+) \(", result.stdout + result.stderr))
    expected = {"fig5b.tsv", "metrics.tsv", "claims.tsv", "fig5_TAL1.png", "fig5_GATA1.png", "index.html",
                "task_0.html", "records.tsv", "variants.tsv"}
    assert expected <= added, explain(result)
    page = (reference_run / "report.html").read_text(encoding="utf-8")
    assert "share whose task-0 importance is" in page  # the benchmark's caption


def test_workflow_files_are_snakefmt_clean():
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [str(Path(sys.executable).parent / "snakefmt"), "--check", "Snakefile", "workflow/"],
        cwd=root, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout


def test_killed_run_reruns_incomplete_jobs_to_the_same_outputs(reference_run: Path, tmp_path: Path):
    workdir = tmp_path / "killed"
    workdir.mkdir()
    attributions = workdir / "results" / "attributions" / "seed1"
    # Its own session: the kill takes Snakemake and the jobs it runs, as a crash or `kill -9` would.
    process = subprocess.Popen(snakemake_command(workdir, [*ARGS, *KILL_TARGETS], timeout=900), cwd=workdir,
                               env=workflow_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        started_attributing = _wait_for(lambda: any(attributions.glob("*.npz")), process, timeout=600)
        assert started_attributing, f"the run ended (exit {process.poll()}) before attributing"
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    done_before = {p.name for p in attributions.glob("*.npz")}
    assert len(done_before) < len(KILL_TARGETS), "the kill came too late to interrupt anything"
    # A killed Snakemake leaves its lock; the user's next step is --unlock, then the rerun.
    unlock = run_snakemake(workdir, *ARGS, "--unlock", *KILL_TARGETS, timeout=120)
    assert unlock.returncode == 0, explain(unlock)
    rerun = run_snakemake(workdir, *ARGS, "--rerun-incomplete", *KILL_TARGETS, timeout=900)
    assert rerun.returncode == 0, explain(rerun)
    resumed = output_digests(workdir / "results")
    reference = output_digests(reference_run / "results")
    assert {f"attributions/seed1/{Path(t).name}" for t in KILL_TARGETS} <= resumed.keys() <= reference.keys()
    differing = sorted(path for path in resumed if resumed[path] != reference[path])
    assert not differing, differing
