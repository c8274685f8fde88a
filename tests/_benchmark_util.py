"""A small simulated benchmark and a quickly trained model for the benchmark tests.

Training the authors' net from random weights needs thousands of sequences and many epochs before it
leaves its plateau (minutes on 2 cores). The tests need a model that has learned the grammar in seconds,
so the first conv layer starts from the two motifs' log-odds matrices (one filter each, the others
random) and the whole net is then trained with Adam on the simulated labels. The attribution claims
are about explaining a model that has learned the grammar, not about how it got there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from deeplift_genomics.cli import main

MOTIF_IDS = ("GATA_disc1", "TAL1_known1")
QUICK_METHODS = [
    "gradient_x_input",
    "guided_backprop_x_input",
    {"method": "deeplift", "rule": "rescale"},
    {"method": "deeplift", "rule": "reveal_cancel"},
    {"method": "deeplift", "rule": "genomics_default"},
]


def simulate(out: Path, n_per_class: int, seed: int) -> Path:
    """Run ``simulate`` into ``out``; returns ``out``."""
    assert main(["simulate", "--out", str(out), "--seed", str(seed), "--n-per-class", str(n_per_class), "-q"]) == 0
    return out


def motif_seeded_model(ds, seed: int = 0, epochs: int = 15, filters: int = 16, dense: int = 16,
                       lr: float = 3e-3, batch_size: int = 32):
    """Build the benchmark-style net (conv-ReLU-conv-ReLU-avgpool-dense-ReLU-dense) and train it.

    Returns ``(model, spec)``; the model is in eval mode.
    """
    from data_sim.motifs import builtin_motifs, log_odds_matrix
    from deeplift_genomics.model import ModelSpec, build_model

    length = ds.onehot.shape[2]
    spec = ModelSpec.from_dict({"conv": [[filters, 16], [filters, 5]], "dense": [dense], "dropout": 0.0,
                                "input_length": length, "n_tasks": ds.labels.shape[1]})
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = build_model(spec)
        conv1 = model[0]
        motifs = builtin_motifs(list(MOTIF_IDS))
        with torch.no_grad():
            for k, name in enumerate(MOTIF_IDS):
                lo = np.asarray(log_odds_matrix(motifs[name])).T  # (4, W)
                w = np.zeros((4, 16), dtype=np.float32)
                w[:, : lo.shape[1]] = lo
                conv1.weight[k] = torch.from_numpy(w / 4)
                conv1.bias[k] = -0.6 * float(lo.max(axis=0).sum()) / 4
        x = torch.from_numpy(np.asarray(ds.onehot, dtype=np.float32))
        y = torch.from_numpy(np.asarray(ds.labels, dtype=np.float32))
        train = np.flatnonzero(np.asarray(ds.split) == "train")
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        order = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            perm = train[torch.randperm(len(train), generator=order).numpy()]
            for b in range(0, len(perm), batch_size):
                idx = perm[b : b + batch_size]
                loss = nn.functional.binary_cross_entropy_with_logits(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        torch.random.set_rng_state(gen_state)
    return model.eval(), spec


def heldout_auroc(model, ds) -> list[float]:
    """auROC per task on the non-training sequences."""
    from sklearn.metrics import roc_auc_score

    held = np.flatnonzero(np.asarray(ds.split) != "train")
    with torch.no_grad():
        out = model(torch.from_numpy(np.asarray(ds.onehot[held], dtype=np.float32))).numpy()
    return [float(roc_auc_score(ds.labels[held, t], out[:, t])) for t in range(out.shape[1])]


def save(model, spec, ds, out: Path) -> Path:
    """Save ``model`` as a model directory."""
    from deeplift_genomics.model_io import save_model

    save_model(model, out, spec=spec, task_names=list(ds.task_names), input_length=ds.onehot.shape[2],
               data_checksum=ds.checksum)
    return out


def write_config(path: Path, methods=QUICK_METHODS, **keys) -> Path:
    """A benchmark YAML config with ``methods`` and other keys."""
    import yaml

    path.write_text(yaml.safe_dump({"benchmark": {"methods": methods, **keys}}), encoding="utf-8")
    return path
