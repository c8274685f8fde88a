"""The trainer learns, stops early on the best-validation weights, is reproducible, and its metrics are right."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu

from deeplift_genomics.core.errors import InputError
from deeplift_genomics.models.metrics import bce_with_logits, split_metrics, task_auroc_auprc
from deeplift_genomics.models.spec import ModelSpec
from deeplift_genomics.models.train import TrainConfig, predict_logits, train_model
from tests._model_util import planted_dataset

# A small net that finds a 6-mer quickly; global max pooling makes the planted motif's signal undiluted.
SMALL = {"conv": [[12, 7]], "pooling": "global_max", "dense": [12], "dropout": 0.1}
FAST = TrainConfig(lr=1e-2, batch_size=32, epochs=8, patience=3)


@pytest.fixture(scope="module")
def data():
    return planted_dataset(n=500, length=50, seed=0)


@pytest.fixture(scope="module")
def trained(data):
    spec = ModelSpec.from_dict({**SMALL, "input_length": 50, "n_tasks": 2})
    return spec, train_model(data, spec, FAST, seed=0)


def test_training_learns_the_planted_motifs(data, trained):
    _, (model, history, metrics) = trained
    valid_losses = [row["valid_loss"] for row in history]
    assert min(valid_losses) < valid_losses[0] - 0.1
    for task in data.task_names:
        assert metrics["test"]["auroc"][task] > 0.85  # chance is 0.5
        assert history[-1][f"valid_auroc_{task}"] > 0.8
    assert metrics["test"]["n_sequences"] == int((data.split == "test").sum())
    assert not model.training


def test_returned_weights_are_the_best_validation_epoch(data, trained):
    _, (model, history, metrics) = trained
    valid = data.split == "valid"
    # Recomputed here from the returned model, independently of the trainer's bookkeeping.
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        model(torch.from_numpy(data.onehot[valid])), torch.from_numpy(data.labels[valid])
    ).item()
    best = min(row["valid_loss"] for row in history)
    assert loss == pytest.approx(best, rel=1e-5)
    assert metrics["training"]["best_epoch"] == 1 + int(np.argmin([row["valid_loss"] for row in history]))


def test_early_stopping_honours_patience(data):
    spec = ModelSpec.from_dict({**SMALL, "input_length": 50, "n_tasks": 2})
    # A learning rate far too large: the validation loss stops improving almost at once.
    config = TrainConfig(lr=5.0, batch_size=64, epochs=20, patience=2)
    _, history, metrics = train_model(data, spec, config, seed=0)
    best = metrics["training"]["best_epoch"]
    assert metrics["training"]["stopped_early"]
    assert len(history) == best + 2
    assert all(row["valid_loss"] >= history[best - 1]["valid_loss"] for row in history[best:])


def test_same_seed_same_weights_on_cpu_and_caller_rng_untouched(data, trained):
    spec, (model, history, _) = trained
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    threads = torch.get_num_threads()
    again, history_again, _ = train_model(data, spec, FAST, seed=0)
    # exact: the RNG state is integers
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.get_num_threads() == threads
    for name, tensor in model.state_dict().items():
        # exact on any CPU: the same training (same seed, threads and batch shapes) in one process, same kernels
        # and sums
        assert torch.equal(tensor, again.state_dict()[name]), name
    assert history_again[-1]["valid_loss"] == history[-1]["valid_loss"]
    other, _, _ = train_model(data, spec, TrainConfig(lr=1e-2, batch_size=32, epochs=1), seed=1)
    assert not torch.equal(other.state_dict()["conv1.weight"], model.state_dict()["conv1.weight"])


def test_default_spec_is_sized_from_the_data(data):
    model, history, _ = train_model(data, None, TrainConfig(epochs=1, batch_size=100), seed=0)
    assert model.conv1.weight.shape == (50, 4, 11) and model.output.weight.shape == (2, 50)
    assert len(history) == 1


def test_spec_or_data_mismatch_is_input_error(data):
    with pytest.raises(InputError, match="input_length 60"):
        train_model(data, ModelSpec(input_length=60, n_tasks=2), FAST)
    with pytest.raises(InputError, match="n_tasks 3"):
        train_model(data, ModelSpec(input_length=50, n_tasks=3), FAST)
    no_valid = planted_dataset(n=40, length=50)
    no_valid.split = np.where(no_valid.split == "valid", "train", no_valid.split)
    with pytest.raises(InputError, match="0 valid"):
        train_model(no_valid, None, FAST)
    with pytest.raises(InputError, match="batch_size"):
        TrainConfig.from_dict({"batch_size": 0})
    with pytest.raises(InputError, match="num_threads"):
        TrainConfig.from_dict({"num_threads": 0})
    with pytest.raises(InputError, match="unknown training option"):
        TrainConfig.from_dict({"epochz": 3})


def test_auroc_matches_the_mann_whitney_statistic():
    rng = np.random.default_rng(5)
    labels = (rng.random(300) < 0.3).astype(float)
    scores = rng.normal(size=300) + labels  # informative, with ties-free continuous scores
    auroc, auprc = task_auroc_auprc(labels, scores)
    u = mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    assert auroc == pytest.approx(u / ((labels == 1).sum() * (labels == 0).sum()))
    # Average precision by its definition: mean precision at the rank of each positive.
    order = np.argsort(-scores)
    hits = labels[order] == 1
    precision_at_hits = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)
    assert auprc == pytest.approx(precision_at_hits.mean())
    assert all(math.isnan(v) for v in task_auroc_auprc(np.ones(5), np.arange(5.0)))


def test_bce_and_split_metrics_agree_with_torch():
    rng = np.random.default_rng(6)
    labels = (rng.random((50, 2)) < 0.5).astype(np.float32)
    logits = rng.normal(scale=30, size=(50, 2)).astype(np.float32)  # large |z| tests the stable form
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(logits).double(), torch.from_numpy(labels).double()
    ).item()
    assert bce_with_logits(labels, logits) == pytest.approx(expected, rel=1e-9)
    labels[:, 1] = 0
    out = split_metrics(labels, logits, ["a", "b"])
    assert out["auroc"]["b"] is None and out["n_positive"]["b"] == 0
    assert out["n_positive"]["a"] == int(labels[:, 0].sum())


def test_predict_logits_batches_agree_with_one_pass(trained, data):
    _, (model, _, _) = trained
    x = data.onehot[:37]
    whole = model(torch.from_numpy(x)).detach().numpy()
    assert np.allclose(predict_logits(model, x, batch_size=8), whole, atol=1e-6)
    assert predict_logits(model, x[:0]).shape == (0, 2)
