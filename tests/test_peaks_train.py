"""Training on peak datasets: positive weights, reverse-complement augmentation, held-out auROC."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deeplift_genomics.core.errors import InputError
from deeplift_genomics.datasets.load import load_dataset
from deeplift_genomics.datasets.peaks import PeakDatasetConfig, make_peak_dataset
from deeplift_genomics.models.metrics import bce_with_logits, task_auroc_auprc
from deeplift_genomics.models.spec import ModelSpec
from deeplift_genomics.models.train import TrainConfig, predict_logits, resolve_pos_weight, train_model
from tests._model_util import planted_dataset
from tests._peaks_util import make_genome

SMALL = {"conv": [[16, 11]], "pooling": "global_max", "dense": [16], "dropout": 0.1}


def test_weighted_cross_entropy_is_torchs():
    rng = np.random.default_rng(0)
    labels = (rng.random((50, 3)) < 0.3).astype(np.float64)
    logits = rng.normal(0, 3, size=(50, 3))
    weight = np.array([0.5, 2.0, 7.0])
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(weight))(
        torch.tensor(logits), torch.tensor(labels)
    )
    assert bce_with_logits(labels, logits, pos_weight=weight) == pytest.approx(float(expected), rel=1e-12)
    assert bce_with_logits(labels, logits, pos_weight=np.ones(3)) == pytest.approx(
        bce_with_logits(labels, logits), rel=1e-12
    )


def test_balanced_weights_are_negatives_over_positives():
    labels = np.array([[1, 0], [0, 0], [0, 1], [0, 1], [1, 1], [0, 0]], dtype=np.float32)
    assert resolve_pos_weight("balanced", labels, ["a", "b"]).tolist() == [4 / 2, 3 / 3]
    assert resolve_pos_weight(2.5, labels, ["a", "b"]).tolist() == [2.5, 2.5]
    assert resolve_pos_weight(None, labels, ["a", "b"]) is None
    with pytest.raises(InputError, match="task 'b' has 0 positive"):
        resolve_pos_weight("balanced", labels * [1, 0], ["a", "b"])
    with pytest.raises(InputError, match="3 weight\\(s\\) given for 2 task"):
        resolve_pos_weight([1.0, 2.0, 3.0], labels, ["a", "b"])
    for bad in ("heavy", -1, 0, [1.0, "x"], True):
        with pytest.raises(InputError, match="'pos_weight' must be"):
            TrainConfig(pos_weight=bad)
    with pytest.raises(InputError, match="'reverse_complement' must be true or false"):
        TrainConfig(reverse_complement="yes")


def _reverse_complement(x: np.ndarray) -> np.ndarray:
    # Independent of the trainer's flip: complement by the A<->T, C<->G letter map, then reverse.
    return x[:, [3, 2, 1, 0], ::-1].copy()


def test_reverse_complement_augmentation_teaches_both_strands():
    # Motifs planted on the forward strand only: without augmentation the reverse complements of the
    # test positives look like background, with it they score as positives.
    # Neither motif is its own reverse complement (CAGCTG would be).
    data = planted_dataset(n=800, length=50, seed=1, motifs=("GATAAG", "TTGACA"))
    spec = ModelSpec.from_dict({**SMALL, "conv": [[16, 7]], "input_length": 50, "n_tasks": 2})
    test = data.split == "test"
    x_rc = _reverse_complement(data.onehot[test])
    aurocs = {}
    for rc in (False, True):
        config = TrainConfig(lr=1e-2, batch_size=32, epochs=10, patience=3, reverse_complement=rc)
        model, _, metrics = train_model(data, spec, config, seed=0)
        assert metrics["training"]["reverse_complement"] is rc
        logits = predict_logits(model, x_rc)
        aurocs[rc] = [task_auroc_auprc(data.labels[test, t], logits[:, t])[0] for t in range(2)]
    assert min(aurocs[True]) > 0.85
    assert max(aurocs[False]) < 0.75


def test_reverse_complement_needs_acgt():
    data = planted_dataset(n=60, length=50, seed=1)
    spec = ModelSpec.from_dict({**SMALL, "input_length": 50, "n_tasks": 2, "alphabet": "TGCA"})
    with pytest.raises(InputError, match="needs the ACGT alphabet"):
        train_model(data, spec, TrainConfig(epochs=1, reverse_complement=True))


@pytest.fixture(scope="module")
def peak_data(tmp_path_factory):
    genome = make_genome(tmp_path_factory.mktemp("genome"))
    out = tmp_path_factory.mktemp("ds") / "data"
    make_peak_dataset(
        genome.fasta,
        genome.beds,
        out,
        PeakDatasetConfig(test_chroms=("chr7",), valid_chroms=("chr8",), negatives_per_positive=2, seed=0),
    )
    return out


def test_model_trained_on_peaks_predicts_held_out_chromosomes(peak_data):
    ds = load_dataset(peak_data)
    spec = ModelSpec.from_dict({**SMALL, "input_length": 200, "n_tasks": 3})
    config = TrainConfig(
        lr=1e-2, batch_size=32, epochs=12, patience=3, pos_weight="balanced", reverse_complement=True
    )
    model, history, metrics = train_model(ds, spec, config, seed=0)
    # The weights stated are negatives / positives among the training windows, counted here from the file.
    rows = [line.split("\t") for line in (peak_data / "labels.tsv").read_text().splitlines()[1:]]
    train = [r for r in rows if r[1] == "train"]
    for t, task in enumerate(ds.task_names):
        positives = sum(r[2 + t] == "1" for r in train)
        assert metrics["training"]["pos_weight"][task] == pytest.approx((len(train) - positives) / positives)
    # Held out: chr7 only.
    assert metrics["test"]["n_sequences"] == sum(r[1] == "test" for r in rows)
    assert {r[0].split(":")[0] for r in rows if r[1] == "test"} == {"chr7"}
    assert metrics["test"]["auroc"]["gata"] > 0.9 and metrics["test"]["auroc"]["tal1"] > 0.9
    for task in ("gata", "tal1"):
        assert metrics["test"]["auprc"][task] > 0.6
    # Early stopping watched the weighted validation loss: recompute it from the returned model.
    valid = ds.split == "valid"
    weight = torch.tensor([metrics["training"]["pos_weight"][t] for t in ds.task_names])
    loss = torch.nn.BCEWithLogitsLoss(pos_weight=weight)(
        model(torch.from_numpy(ds.onehot[valid])), torch.from_numpy(ds.labels[valid])
    ).item()
    assert loss == pytest.approx(min(row["valid_loss"] for row in history), rel=1e-5)
