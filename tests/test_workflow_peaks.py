"""The workflow on your own peaks (config/test/peaks.yaml): dataset -> train -> score the test windows,
on a synthetic genome with motifs planted at the summits, tracks in genome coordinates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import pandas as pd
import pytest
from _workflow_util import REPO, explain, run_snakemake

from tests._peaks_util import make_genome

pytestmark = [pytest.mark.slow]

PEAKS_CONFIG = REPO / "config" / "test" / "peaks.yaml"


@pytest.fixture(scope="module")
def peaks_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("workflow_peaks")
    make_genome(workdir / "peaks_input")
    result = run_snakemake(workdir, "--configfile", str(PEAKS_CONFIG), "--cores", "2", timeout=900)
    assert result.returncode == 0, explain(result)
    return workdir


def test_dry_run_shows_the_peaks_chain(tmp_path):
    make_genome(tmp_path / "peaks_input", n_contigs=8, contig_length=20_000, per_contig=(2, 2, 1, 1))
    result = run_snakemake(tmp_path, "--configfile", str(PEAKS_CONFIG), "-n", "-p", timeout=120)
    assert result.returncode == 0, explain(result)
    out = result.stdout
    assert "deeplift-genomics dataset --genome peaks_input/genome.fa --peaks gata=peaks_input/gata.bed" in out
    assert "--test-chroms chr7 --valid-chroms chr8" in out
    assert "--pos-weight balanced" in out and "--reverse-complement" in out
    assert "--bed results/dataset/test_windows.bed" in out
    for absent in (
        "deeplift-genomics simulate",
        "deeplift-genomics benchmark",
        "deeplift-genomics attribute",
    ):
        assert absent not in out
    lint = run_snakemake(tmp_path, "--configfile", str(PEAKS_CONFIG), "--lint", timeout=120)
    lints = re.findall(r"^\s+\* (.+?):?$", lint.stdout + lint.stderr, flags=re.M)
    assert set(lints) == {"Specify a conda environment or container for each rule."}, explain(lint)


def test_peaks_run_trains_on_held_out_contigs_and_scores_them_on_the_genome(peaks_run):
    results = peaks_run / "results"
    meta = json.loads((results / "dataset" / "dataset.json").read_text())
    assert meta["task_names"] == ["gata", "tal1"] and meta["splits"]["test"]["contigs"] == ["chr7"]
    metrics = json.loads((results / "models" / "seed1" / "metrics.json").read_text())
    assert metrics["held_out_contigs"] == {"test": ["chr7"], "valid": ["chr8"]}
    assert set(metrics["training"]["pos_weight"]) == {"gata", "tal1"}
    assert metrics["test"]["auroc"]["gata"] > 0.8 and metrics["test"]["auroc"]["tal1"] > 0.8
    scored = results / "score" / "test_windows"
    records = pd.read_csv(scored / "records.tsv", sep="\t")
    test_ids = [
        line.split("\t")[3] for line in (results / "dataset" / "test_windows.bed").read_text().splitlines()
    ]
    assert records["name"].tolist() == test_ids
    with h5py.File(scored / "scores.h5", "r") as h5:
        chroms = {c.decode() if isinstance(c, bytes) else c for c in h5["records/chrom"][()]}
        starts = h5["records/chrom_start"][()]
    assert chroms == {"chr7"}
    assert sorted(int(s) for s in starts) == sorted(int(i.split(":")[1].split("-")[0]) for i in test_ids)
    for task in ("gata", "tal1"):
        lines = (scored / f"{task}.bedGraph").read_text().splitlines()
        assert lines and all(line.split("\t")[0] == "chr7" for line in lines if not line.startswith("track"))
        assert (scored / f"{task}.bw").stat().st_size > 0
    for name in ("dataset.log", "train/seed1.log"):
        assert (results / "logs" / name).exists()


def test_the_docs_page_config_validates():
    """docs/peaks.md's config snippet, merged over config/config.yaml, passes the workflow's schema."""
    import jsonschema
    import yaml

    schema = yaml.safe_load((REPO / "config" / "schema" / "config.schema.yaml").read_text())
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    page = (REPO / "docs" / "peaks.md").read_text()
    snippets = re.findall(r"```yaml\n(.*?)```", page, re.S)
    assert snippets, "docs/peaks.md shows a data.peaks config"
    for snippet in snippets:
        merged = json.loads(json.dumps(config))
        for key, value in yaml.safe_load(snippet).items():
            merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
        jsonschema.validate(merged, schema)
        assert merged["data"]["peaks"]["tasks"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"data": {"peaks": {"genome": "g.fa"}}}, "'tasks' is a required property"),
        (
            {"data": {"peaks": {"genome": "g.fa", "tasks": {"a": "a.bed"}, "lenght": 3}}},
            "'lenght' was unexpected",
        ),
        ({"model": {"train": {"pos_weight": "heavy"}}}, "'heavy' does not match '^balanced$'"),
    ],
)
def test_bad_peaks_config_is_refused_naming_the_key(tmp_path, config, message):
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(config))
    result = run_snakemake(tmp_path, "--configfile", str(path), "-n", timeout=120)
    assert result.returncode != 0 and message in result.stdout + result.stderr, explain(result)
