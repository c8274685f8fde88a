"""The workflow's plan without running it: dry-runs of each target, lint, config validation, profiles."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from _workflow_util import REPO, SLURM_SCRIPT, TEST_CONFIG, explain, run_snakemake, write_yaml

PAPER_METHODS = {
    "gradient_x_input", "guided_backprop_x_input", "integrated_gradients", "deeplift_rescale",
    "deeplift_reveal_cancel", "deeplift_genomics_default", "deeplift_genomics_default_shuffle10",
    "deeplift_genomics_default_shuffle20", "ism",
}


def job_counts(output: str) -> dict[str, int]:
    """The `Job stats` table of a dry-run: rule -> number of jobs."""
    table = output[output.index("Job stats:"):]
    counts = {}
    for line in table.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def shell_commands(output: str) -> list[str]:
    return [line.split("Shell command: ", 1)[1] for line in output.splitlines() if "Shell command: deeplift" in line]


def test_dry_run_default_config_plans_the_paper_benchmark(tmp_path: Path):
    result = run_snakemake(tmp_path, "-n", timeout=120)
    assert result.returncode == 0, explain(result)
    out = result.stdout + result.stderr
    assert job_counts(out) == {
        "simulate": 1, "train": 1, "attribute": 9, "benchmark": 1, "report": 1,
        "variants_screen": 2, "variants_select": 1, "variants_vcf": 2, "variants_gather": 1,
        "score_fasta": 4, "score_gather": 1,
        "motifs_patterns": 1, "motifs_hits": 2, "motifs_fasta": 1, "motifs_benchmark": 1, "all": 1,
    }  # fmt: skip
    commands = shell_commands(out)
    outputs = {re.search(r"--out results/attributions/seed0/(\S+)\.npz", c).group(1) for c in commands if " attribute " in c}
    assert outputs == PAPER_METHODS
    by_method = {re.search(r"attributions/seed0/(\S+)\.npz", c).group(1): c for c in commands if " attribute " in c}
    assert "--method integrated_gradients" in by_method["integrated_gradients"]
    assert "--n-steps 10" in by_method["integrated_gradients"]
    assert "--rule reveal_cancel --references background" in by_method["deeplift_reveal_cancel"]
    assert "--references shuffle --n-references 20" in by_method["deeplift_genomics_default_shuffle20"]
    assert "--references" not in by_method["ism"]
    # Each rule's stderr goes to its own log file.
    assert all(re.search(r"2> results/logs/\S+\.log$", c) for c in commands), commands


def test_dry_run_variants_scores_the_simulated_vcf_in_shards(tmp_path: Path):
    result = run_snakemake(tmp_path, "-n", "-p", "variants", timeout=120)
    assert result.returncode == 0, explain(result)
    commands = [c for c in shell_commands(result.stdout + result.stderr) if " variants " in c]
    # three steps, so that the shards explain what one unsharded run explains: screen, select once, explain
    screens = sorted(c for c in commands if "--screen-only" in c)
    shards = sorted(c for c in commands if "--explain-ids" in c)
    for step in (screens, shards):
        assert len(step) == 2 and "--shard 1/2" in step[0] and "--shard 2/2" in step[1]
        assert all("--fasta results/data/sequences.fa --vcf results/data/variants.vcf.gz" in c for c in step)
        assert "--strict" not in step[0] and "--n-references 20" in step[0]
    assert all(f"--out results/variants_screen/simulated/{k}" in c for k, c in zip((1, 2), screens))
    select = [c for c in commands if "--select" in c]
    assert select == [
        "deeplift-genomics variants --select results/variants_screen/simulated/1 results/variants_screen/simulated/2"
        " --out results/variants_select/simulated 2> results/logs/variants/simulated/select.log"
    ]
    for k, c in zip((1, 2), shards):
        assert f"--screened results/variants_screen/simulated/{k}" in c
        assert "--explain-ids results/variants_select/simulated/selection.json" in c
        assert f"--out results/variants_shards/simulated/{k}" in c
    gather = [c for c in commands if "--gather" in c]
    assert gather == [
        "deeplift-genomics variants --gather results/variants_shards/simulated/1 results/variants_shards/simulated/2"
        " --out results/variants/simulated 2> results/logs/variants/simulated.log"
    ]


def test_dry_run_score_and_motifs_targets(tmp_path: Path):
    result = run_snakemake(tmp_path, "-n", "-p", "motifs", timeout=120)
    assert result.returncode == 0, explain(result)
    out = result.stdout + result.stderr
    counts = job_counts(out)
    # the default config scores each FASTA in 4 shards, then gathers them
    assert counts["score_fasta"] == 4 and counts["score_gather"] == 1 and counts["motifs_fasta"] == 1
    assert counts["motifs_benchmark"] == 1
    # motifs: patterns once over all records, hits in 2 shards, one merge (as `score`)
    assert counts["motifs_patterns"] == 1 and counts["motifs_hits"] == 2
    motifs = [c for c in shell_commands(out) if " motifs --scores " in c]
    (discover,) = [c for c in motifs if "--discover-only" in c]
    assert "--out results/motifs_work/simulated/patterns " in discover and "--seqlet-cap 20000" in discover
    hits = sorted(c for c in motifs if " --shard " in c)
    assert [f"--shard {k}/2 --out results/motifs_work/simulated/{k} " in c for k, c in enumerate(hits, 1)] == [True] * 2
    assert all("--patterns results/motifs_work/simulated/patterns " in c for c in hits)
    (merge,) = [c for c in motifs if " --gather " in c]
    assert ("--scores results/score/simulated --patterns results/motifs_work/simulated/patterns --gather "
            "results/motifs_work/simulated/1 results/motifs_work/simulated/2 --out results/motifs/simulated ") in merge
    commands = [c for c in shell_commands(out) if " score " in c]
    shards = sorted(c for c in commands if " --shard " in c)
    for k, score in enumerate(shards, start=1):
        assert "--fasta results/data/sequences.fa" in score and f"--shard {k}/4 " in score
        assert f"--out results/score_shards/simulated/{k} " in score
        assert "--model results/models/seed0 " in score
        assert "--references shuffle --n-references 20" in score
    (gather,) = [c for c in commands if " --gather " in c]
    dirs = " ".join(f"results/score_shards/simulated/{k}" for k in range(1, 5))
    assert f"--gather {dirs} --out results/score/simulated " in gather


def test_existing_dataset_and_model_replace_simulate_and_train(tmp_path: Path):
    (tmp_path / "in").mkdir()
    simdata = tmp_path / "in" / "mine.simdata"
    test_ids = tmp_path / "in" / "test_ids.txt"
    model = tmp_path / "in" / "model"
    model.mkdir()
    for path in (simdata, test_ids, model / "model.json", model / "model.safetensors"):
        path.write_text("")
    config = write_yaml(tmp_path / "mine.yaml", {
        "data": {"simdata": str(simdata), "test_ids": str(test_ids)}, "model": {"dir": str(model)}})
    result = run_snakemake(tmp_path, "-n", "--configfile", str(config), timeout=120)
    assert result.returncode == 0, explain(result)
    out = result.stdout + result.stderr
    counts = job_counts(out)
    assert "simulate" not in counts and "train" not in counts
    assert counts["attribute"] == 9
    for command in shell_commands(out):
        if " attribute " in command or " benchmark " in command:
            assert f"--data {simdata} --test-ids {test_ids} --model {model} " in command


def test_lint_finds_nothing_but_the_missing_conda_envs(tmp_path: Path):
    result = run_snakemake(tmp_path, "--lint", timeout=120)
    lints = re.findall(r"^\s+\* (.+?):?$", result.stdout + result.stderr, flags=re.M)
    assert lints, explain(result)
    assert set(lints) == {"Specify a conda environment or container for each rule."}, explain(result)


@pytest.mark.parametrize(
    ("override", "key", "message"),
    [
        ({"model": {"train": {"epoch": 3}}}, "'epoch' was unexpected", "Additional properties are not allowed"),
        ({"score": {"chunk_size": 0}}, "['score']['chunk_size']", "0 is less than the minimum of 1"),
        ({"score": {"shards": 0}}, "['score']['shards']", "0 is less than the minimum of 1"),
        ({"attribute": {"methods": [{"method": "deeplift", "rule": "rescal"}]}}, "['rule']", "is not one of"),
        ({"device": "gpu"}, "['device']", "is not one of"),
    ],
)
def test_invalid_config_stops_with_the_schema_message_naming_the_key(tmp_path: Path, override, key, message):
    config = write_yaml(tmp_path / "bad.yaml", override)
    result = run_snakemake(tmp_path, "-n", "--configfile", str(config), timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error validating config file" in out, explain(result)
    assert key in out and message in out, explain(result)
    assert not (tmp_path / "results").exists()


def test_duplicate_method_names_are_refused(tmp_path: Path):
    config = write_yaml(tmp_path / "dup.yaml", {"attribute": {"methods": [{"method": "ism"}, {"method": "ism"}]}})
    result = run_snakemake(tmp_path, "-n", "--configfile", str(config), timeout=120)
    assert result.returncode != 0
    assert "two settings are named 'ism'" in result.stdout + result.stderr, explain(result)


def test_test_ids_without_an_existing_dataset_are_refused(tmp_path: Path):
    config = write_yaml(tmp_path / "ids.yaml", {"data": {"test_ids": "ids.txt"}})
    result = run_snakemake(tmp_path, "-n", "--configfile", str(config), timeout=120)
    assert result.returncode != 0
    assert "data.test_ids needs data.simdata" in result.stdout + result.stderr, explain(result)


def test_tiny_test_config_keeps_every_method_on_few_sequences(tmp_path: Path):
    result = run_snakemake(tmp_path, "-n", "-p", "--configfile", str(TEST_CONFIG), timeout=120)
    assert result.returncode == 0, explain(result)
    commands = shell_commands(result.stdout + result.stderr)
    attribute = [c for c in commands if " attribute " in c]
    assert {re.search(r"attributions/seed1/(\S+)\.npz", c).group(1) for c in attribute} == PAPER_METHODS
    assert all("--max-sequences 30 " in c and "--device cpu" in c for c in attribute)
    (simulate,) = [c for c in commands if " simulate " in c]
    assert "--n-per-class 75 " in simulate
    (train,) = [c for c in commands if " train " in c]
    assert "--epochs 2 " in train


def test_profiles_request_gpus_only_on_the_cluster():
    default = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    slurm = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert "executor" not in default and "set-resources" not in default
    assert slurm["executor"] == "slurm"
    # Gotcha 2 of the SLURM recipe: without accounting, `sacct` fails and Snakemake waits for ever.
    assert slurm["slurm-status-command"] == "squeue"
    gpu_rules = {rule for rule, res in slurm["set-resources"].items() if "gpu" in res or "gres" in res}
    assert gpu_rules == {"train", "attribute", "score_fasta"}
    rules_text = "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    assert "gpu" not in re.sub(r"#.*", "", rules_text)


def test_slurm_cluster_script_prints_its_usage():
    result = subprocess.run(["bash", str(SLURM_SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "slurm_cluster.sh start" in result.stderr and "stop" in result.stderr
    syntax = subprocess.run(["bash", "-n", str(SLURM_SCRIPT)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr


def test_attention_config_trains_and_benchmarks_a_second_model(tmp_path: Path):
    attention = REPO / "config" / "attention.yaml"
    extra = write_yaml(tmp_path / "subset.yaml", {"model": {"extra": [
        {"name": "attention", "architecture": "conv_attention", "seed": 3, "train": {"epochs": 5},
         "methods": ["deeplift_rescale", "ism"]},
        {"name": "wide", "architecture": {"conv": [{"filters": 64, "width": 21}]}},
    ]}})  # fmt: skip
    result = run_snakemake(tmp_path, "-n", "-p", "--configfile", str(attention), timeout=120)
    assert result.returncode == 0, explain(result)
    out = result.stdout + result.stderr
    assert job_counts(out)["train_extra"] == 1 and job_counts(out)["attribute"] == 18
    commands = shell_commands(out)
    (train,) = [c for c in commands if "--out results/models/attention " in c]
    assert "--architecture conv_attention" in train and "--seed 0 " in train
    (bench,) = [c for c in commands if " benchmark " in c]
    assert "--model results/models/seed0 results/models/attention --out" in bench
    result = run_snakemake(tmp_path, "-n", "-p", "--configfile", str(extra), timeout=120)
    assert result.returncode == 0, explain(result)
    out = result.stdout + result.stderr
    assert job_counts(out)["attribute"] == 9 + 2 + 9
    commands = shell_commands(out)
    (train,) = [c for c in commands if "--out results/models/attention " in c]
    assert "--seed 3 " in train and "--epochs 5" in train
    (wide,) = [c for c in commands if "--out results/models/wide " in c]
    assert """--architecture '{"conv":[{"filters":64,"width":21}]}'""" in wide
    taken = write_yaml(tmp_path / "taken.yaml", {"model": {"extra": [{"name": "seed0", "architecture": "benchmark"}]}})
    result = run_snakemake(tmp_path, "-n", "--configfile", str(taken), timeout=120)
    assert result.returncode != 0 and "model.extra: the name 'seed0' is taken" in result.stdout + result.stderr
