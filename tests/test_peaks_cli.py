"""``deeplift-genomics dataset`` and ``train --pos-weight/--reverse-complement`` through ``main([...])``."""

from __future__ import annotations

import json
import logging
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from deeplift_genomics.cli import main
from tests._peaks_util import make_genome

SMALL_MODEL = {"conv": [{"filters": 16, "width": 11}], "pooling": "global_max", "dense": [16], "dropout": 0.1}


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return make_genome(tmp_path_factory.mktemp("genome"), per_contig=(12, 12, 4, 6))


def _peaks(genome, *tasks):
    return [f"{t}={genome.beds[t]}" for t in tasks or genome.beds]


@pytest.fixture(scope="module")
def data_dir(genome, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "data"
    argv = ["dataset", "--genome", str(genome.fasta), "--peaks", *_peaks(genome), "--out", str(out)]
    argv += ["--test-chroms", "chr7", "--valid-chroms", "chr8", "--blacklist", str(genome.blacklist), "-q"]
    assert main(argv) == 0
    return out


def test_dataset_writes_the_simulate_layout(data_dir, genome):
    assert (data_dir / ".deeplift-genomics.json").is_file()  # the output marker every command writes
    assert sorted(p.name for p in data_dir.iterdir() if not p.name.startswith(".")) == [
        "dataset.json",
        "labels.tsv",
        "sequences.fa",
        "test_windows.bed",
        "windows.bed",
    ]
    meta = json.loads((data_dir / "dataset.json").read_text())
    assert meta["task_names"] == ["gata", "tal1", "decoy"]
    assert meta["settings"]["test_chroms"] == ["chr7"] and meta["settings"]["negatives"] == "gc-matched"
    assert meta["settings"]["blacklist"] == str(genome.blacklist)
    for task in meta["task_names"]:
        assert meta["peaks"][task]["windows"] == genome.planted[task]


def test_config_file_and_flags(genome, tmp_path, data_dir):
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "seed": 5,  # top level: read (a shared config), then dataset: wins
                "dataset": {
                    "genome": str(genome.fasta),
                    "peaks": {t: str(p) for t, p in genome.beds.items()},
                    "test_chroms": ["chr7"],
                    "valid_chroms": "chr8",
                    "blacklist": str(genome.blacklist),
                    "negatives_per_positive": 3,
                },
            },
            sort_keys=False,  # task order is the mapping's order
        )
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "dataset",
                "--config",
                str(config),
                "--out",
                str(out),
                "--negatives-per-positive",
                "1",
                "--seed",
                "0",
                "-q",
            ]
        )
        == 0
    )
    # The same settings as the flags-only run give the same bytes.
    for name in ("sequences.fa", "labels.tsv"):
        assert (out / name).read_bytes() == (data_dir / name).read_bytes()
    config.write_text(yaml.safe_dump({"dataset": {"genome": "g.fa", "peaks": {}, "lenght": 3}}))
    assert main(["dataset", "--config", str(config), "--out", str(tmp_path / "x"), "-q"]) == 2


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        (["--peaks", "gata=MISSING.bed"], r"--peaks gata=MISSING\.bed: BED file not found"),
        (["--peaks", "gata=A.bed", "gata=B.bed"], r"task 'gata' given twice"),
        (["--peaks", "x=EMPTY"], r"empty\.bed: no peaks found"),
        (["--peaks", "x=OTHER"], r"other\.bed: none of its 1 peaks lies on a contig of the genome"),
        (["--test-chroms", "chrZ"], r"--test-chroms: contig 'chrZ' is not in genome\.fa"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_output(genome, tmp_path, caplog, extra, pattern):
    (tmp_path / "empty.bed").write_text("")
    (tmp_path / "other.bed").write_text("1\t10\t300\n")
    extra = [
        e.replace("EMPTY", str(tmp_path / "empty.bed")).replace("OTHER", str(tmp_path / "other.bed"))
        for e in extra
    ]
    peaks = [] if "--peaks" in extra else ["--peaks", *_peaks(genome)]
    out = tmp_path / "out"
    argv = ["dataset", "--genome", str(genome.fasta), *peaks, "--out", str(out), *extra]
    if "--test-chroms" not in extra:
        argv += ["--test-chroms", "chr7", "--valid-chroms", "chr8"]
    with caplog.at_level(logging.ERROR):
        assert main(argv) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0]
    assert re.search(pattern, errors[0]), errors[0]
    assert not out.exists()


def test_missing_required_flags(tmp_path):
    assert main(["dataset", "--out", str(tmp_path / "o"), "-q"]) == 2


def test_train_on_a_peak_dataset_with_weights_and_reverse_complements(data_dir, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"train": {"model": SMALL_MODEL, "lr": 0.01, "epochs": 12}}))
    out = tmp_path / "model"
    argv = ["train", "--data", str(data_dir), "--out", str(out), "--config", str(config), "--device", "cpu"]
    assert main([*argv, "--pos-weight", "balanced", "--reverse-complement", "-q"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["training"]["pos_weight"]) == {"gata", "tal1", "decoy"}
    assert metrics["training"]["reverse_complement"] is True
    assert metrics["held_out_contigs"] == {"test": ["chr7"], "valid": ["chr8"]}
    assert metrics["test"]["auroc"]["gata"] > 0.85 and metrics["test"]["auroc"]["tal1"] > 0.85
    model_json = json.loads((out / "model.json").read_text())
    assert model_json["training"]["pos_weight"] == "balanced"
    assert main([*argv, "--pos-weight", "1,2", "-q"]) == 2  # 2 weights for 3 tasks
    assert main([*argv, "--pos-weight", "heavy", "-q"]) == 2


def test_train_architecture_flag(data_dir, tmp_path):
    out = tmp_path / "model"
    spec = '{"conv": [[4, 5]], "pooling": "global_max", "dense": [3]}'
    argv = ["train", "--data", str(data_dir), "--out", str(out), "--epochs", "1", "--device", "cpu", "-q"]
    assert main([*argv, "--architecture", spec]) == 0
    model_json = json.loads((out / "model.json").read_text())
    assert [c["filters"] for c in model_json["spec"]["conv"]] == [4] and model_json["spec"]["dense"] == [3]
    assert model_json["spec"]["input_length"] == 200 and model_json["spec"]["n_tasks"] == 3
    assert main([*argv, "--architecture", "{conv: 1"]) == 2
    assert main([*argv, "--architecture", '{"pooling": "median"}']) == 2


PAGE = Path(__file__).resolve().parents[1] / "docs" / "peaks.md"


def page_commands() -> list[str]:
    """The first shell block of the docs' peaks page."""
    section = PAGE.read_text()
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.slow
def test_docs_page_commands_run_as_written(tmp_path, monkeypatch):
    genome = make_genome(tmp_path / "made", n_contigs=10, contig_length=60_000, per_contig=(10, 10, 3, 4))
    names = {"genome.fa": "hg38.fa", "gata.bed": "gata1.narrowPeak", "tal1.bed": "tal1.narrowPeak"}
    names["blacklist.bed"] = "hg38-blacklist.v2.bed"
    for made, named in names.items():
        shutil.copy(genome.fasta.parent / made, tmp_path / named)
    monkeypatch.chdir(tmp_path)
    commands = page_commands()
    assert [shlex.split(c)[1] for c in commands] == ["dataset", "train", "score"]
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "deeplift-genomics", command
        assert main([*argv[1:], "-q"]) == 0, command
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["held_out_contigs"] == {"test": ["chr8", "chr9"], "valid": ["chr10"]}
    assert metrics["test"]["auroc"]["gata1"] > 0.9 and metrics["test"]["auroc"]["tal1"] > 0.9
    for task in ("gata1", "tal1"):
        lines = (tmp_path / "scores" / f"{task}.bedGraph").read_text().splitlines()
        assert {line.split("\t")[0] for line in lines if not line.startswith("track")} == {"chr8", "chr9"}
        assert (tmp_path / "scores" / f"{task}.bw").stat().st_size > 0
