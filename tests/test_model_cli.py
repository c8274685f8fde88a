"""``deeplift-genomics train`` through ``main([...])``: flags, config, outputs, errors."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from deeplift_genomics.cli import main
from deeplift_genomics.models.files import check_compatible, load_model
from tests._model_util import planted_dataset

SMALL_MODEL = {"conv": [{"filters": 10, "width": 7}], "pooling": "global_max", "dense": [8], "dropout": 0.1}


@pytest.fixture
def fake_data(monkeypatch):
    """``load_dataset`` answering with a planted-motif set, so these tests don't depend on ``simulate``."""
    calls = []
    dataset = planted_dataset(n=300, length=40, seed=1)

    def load_dataset(path, test_ids=None):
        calls.append((path, test_ids))
        return dataset

    # the command looks the loader up in its own module
    monkeypatch.setattr(importlib.import_module("deeplift_genomics.cli.train"), "load_dataset", load_dataset)
    return dataset, calls


def _write_yaml(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data))
    return path


def test_train_writes_a_loadable_model_dir_with_metrics(tmp_path, fake_data):
    dataset, calls = fake_data
    config = _write_yaml(
        tmp_path / "cfg.yaml",
        {
            "seed": 9,
            "train": {"epochs": 2, "batch_size": 16, "lr": "1e-2", "num_threads": 0, "model": SMALL_MODEL},
        },
    )
    out = tmp_path / "model"
    status = main(["train", "--data", "sim_dir", "--test-ids", "ids.txt", "--out", str(out),
                   "--config", str(config), "--epochs", "3", "--device", "cpu"])  # fmt: skip
    assert status == 0
    assert calls == [("sim_dir", "ids.txt")]
    names = sorted(p.name for p in out.iterdir() if p.name != ".deeplift-genomics.json")
    assert names == ["history.tsv", "metrics.json", "metrics.tsv", "model.json", "model.safetensors"]
    lm = load_model(out)
    assert lm.model.conv1.weight.shape == (10, 4, 7)  # the config's model spec
    assert lm.task_names == dataset.task_names and lm.input_length == 40
    training = lm.metadata["training"]
    # Flags override the config (epochs 3, not 2); the config's other keys are used.
    assert training["epochs"] == 3 and training["batch_size"] == 16 and training["lr"] == 1e-2
    assert training["seed"] == 9 and lm.metadata["data_checksum"] == dataset.checksum
    assert training["num_threads"] is None  # 0 in the config: torch's own thread count
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]["auroc"]) == set(dataset.task_names)
    table = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert list(table.columns) == ["split", "task", "n_sequences", "n_positive", "auroc", "auprc"]
    assert set(table["split"]) == {"test", "valid"}
    history = pd.read_csv(out / "history.tsv", sep="\t")
    assert len(history) == metrics["training"]["epochs_run"] <= 3
    assert {"train_loss", "valid_loss"} <= set(history.columns)


def test_same_seed_twice_gives_identical_weights(tmp_path, fake_data):
    config = _write_yaml(tmp_path / "cfg.yaml", {"train": {"epochs": 1, "model": SMALL_MODEL}})
    weights = []
    for name in ("a", "b"):
        assert main(["train", "--data", "d", "--out", str(tmp_path / name), "--config", str(config)]) == 0
        weights.append(load_model(tmp_path / name).model.state_dict())
    # exact on any CPU: the same training (one thread, same seed, same batch shapes) in one process, so the same
    # kernels and the same sums
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    # Every file but metrics.json (which holds timings) is byte-identical, so checksums of the directory agree.
    for name in ("model.json", "model.safetensors", "history.tsv", "metrics.tsv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_bad_config_exits_2_and_writes_nothing(tmp_path, fake_data, caplog):
    out = tmp_path / "model"
    bad_key = _write_yaml(tmp_path / "bad.yaml", {"train": {"epochz": 3}})
    assert main(["train", "--data", "d", "--out", str(out), "--config", str(bad_key)]) == 2
    assert "epochz" in caplog.text
    bad_spec = _write_yaml(tmp_path / "spec.yaml", {"train": {"epochs": 1, "model": {"conv": [[4, 50]]}}})
    assert main(["train", "--data", "d", "--out", str(out), "--config", str(bad_spec)]) == 2
    assert "too short" in caplog.text
    assert main(["train", "--data", "d", "--out", str(out), "--lr", "-1"]) == 2
    assert not out.exists()
    assert not list(tmp_path.glob(".model*"))  # no half-written temporary directory either


def test_missing_required_flags_exit_2(tmp_path, caplog):
    assert main(["train", "--out", str(tmp_path / "m")]) == 2
    assert "--data" in caplog.text


def test_train_on_a_real_small_simulation(tmp_path):
    from deeplift_genomics.datasets import load as dataset_module

    sim = tmp_path / "sim"
    assert main(["simulate", "--out", str(sim), "--n-per-class", "40", "--length", "120", "--seed", "1"]) == 0
    config = _write_yaml(tmp_path / "cfg.yaml", {"train": {"epochs": 2, "model": SMALL_MODEL}})
    out = tmp_path / "model"
    assert (
        main(["train", "--data", str(sim), "--out", str(out), "--config", str(config), "--device", "cpu"])
        == 0
    )
    dataset = dataset_module.load_dataset(sim)
    lm = load_model(out)
    check_compatible(lm, dataset.onehot.shape[-1], "ACGT", source=str(sim))
    assert lm.task_names == list(dataset.task_names)
    assert lm.metadata["data_checksum"] == dataset.checksum
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n_sequences"] == int((dataset.split == "test").sum()) > 0
