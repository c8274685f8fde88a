"""The tiny workflow on a real one-node SLURM cluster (workflow/scripts/slurm_cluster.sh) through
snakemake-executor-plugin-slurm and profiles/slurm; its outputs match a local run.

Skipped when SLURM is not installed, unless DEEPLIFT_GENOMICS_REQUIRE_SLURM=1 (CI), which makes a missing
cluster a failure instead."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from _workflow_util import (
    REPO,
    SLURM_SCRIPT,
    TEST_CONFIG,
    explain,
    output_digests,
    run_snakemake,
    shared_basetemp,
    slurm_installed,
    tiny_reference_run,
)

REQUIRED = os.environ.get("DEEPLIFT_GENOMICS_REQUIRE_SLURM") == "1"
CLUSTER_DIR = Path(os.environ.get("DEEPLIFT_GENOMICS_SLURM_DIR", "/tmp/deeplift-genomics-slurm"))
#: The part of the tiny workflow run on SLURM: simulate, train (asks for a GPU) and two attribution jobs.
TARGETS = ("results/attributions/seed1/gradient_x_input.npz", "results/attributions/seed1/deeplift_genomics_default.npz")
ARGS = ("--configfile", str(TEST_CONFIG))

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
]


def _unavailable() -> str | None:
    if not slurm_installed():
        return (
            "SLURM is not installed (apt-get install -y --no-install-recommends munge slurmctld slurmd "
            "slurm-client)"
        )
    if os.geteuid() != 0:
        return "the local SLURM cluster needs root (munged, slurmd, /etc/slurm)"
    return None


def _script(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SLURM_SCRIPT), command], capture_output=True, text=True, check=False, timeout=120
    )


@pytest.fixture(scope="module")
def cluster():
    """The local cluster, started for these tests and stopped after them (left alone if already up)."""
    reason = _unavailable()
    if reason:
        if REQUIRED:
            pytest.fail(f"DEEPLIFT_GENOMICS_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)
    was_up = _script("status").returncode == 0
    started = _script("start")
    assert started.returncode == 0, started.stderr
    yield CLUSTER_DIR
    if not was_up:
        stopped = _script("stop")
        assert stopped.returncode == 0, stopped.stderr


def _test_profile(directory: Path) -> Path:
    """profiles/slurm sized for the test node (2 CPUs): the rules' own threads (as in the local run, so that
    torch computes the same numbers), small memory requests, short polls."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile["jobs"] = 2
    profile["latency-wait"] = 5
    profile["slurm-init-seconds-before-status-checks"] = 2
    profile["default-resources"]["mem_mb"] = 1000
    profile.pop("set-threads", None)
    for resources in profile["set-resources"].values():
        resources.update(mem_mb=1500, runtime=30)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(profile))
    return directory


def test_tiny_workflow_runs_through_slurm_and_matches_a_local_run(
    cluster: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
):
    on_slurm = tmp_path / "slurm"
    profile = _test_profile(tmp_path / "profile")
    result = run_snakemake(on_slurm, *ARGS, "--workflow-profile", str(profile), *TARGETS, timeout=900)
    assert result.returncode == 0, explain(result)
    output = result.stdout + result.stderr

    # Every job but the local `all` was submitted with sbatch, and SLURM ran each to a clean exit.
    submitted = dict(
        re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: \S+/rule_(\w+)/", output)
    )
    rules = sorted(set(submitted.values()))
    assert rules == ["attribute", "simulate", "train"], output[-4000:]
    assert list(submitted.values()).count("attribute") == len(TARGETS)
    controller_log = (cluster / "log" / "slurmctld.log").read_text()
    for job_id in submitted:
        assert f"_slurm_rpc_submit_batch_job: JobId={job_id} " in controller_log, job_id
        assert f"_job_complete: JobId={job_id} WEXITSTATUS 0" in controller_log, job_id
    # GPU requests reach SLURM only through the profile (a stand-in GPU on this node).
    assert re.search(r"gpu=1", output), "the profile's gpu request did not reach the jobs"

    # The local reference ran `all` and `score`; the SLURM run made a part of it.
    expected = output_digests(tiny_reference_run(shared_basetemp(tmp_path_factory)) / "results")
    got = output_digests(on_slurm / "results")
    assert got and set(got) <= set(expected), sorted(set(got) - set(expected))
    assert not sorted(path for path in got if got[path] != expected[path])
