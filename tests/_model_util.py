"""Small planted-motif datasets and a user-defined module for the model/trainer tests."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from deeplift_genomics.io.onehot import one_hot

MOTIFS = ("GATAAG", "CAGCTG")


@dataclasses.dataclass
class PlantedDataset:
    """Duck-typed stand-in for ``deeplift_genomics.datasets.load.Dataset``: the fields training reads."""

    sequences: list[str]
    onehot: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    task_names: list[str]
    checksum: str = "synthetic"


def planted_dataset(n: int = 600, length: int = 60, seed: int = 0, motifs=MOTIFS) -> PlantedDataset:
    """Random ACGT sequences; task ``t`` is 1 exactly when motif ``t`` was planted (independently, p=0.5).

    Splits: 70 % train, 15 % valid, 15 % test, in order.
    """
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACGT"))
    labels = (rng.random((n, len(motifs))) < 0.5).astype(np.float32)
    sequences = []
    for i in range(n):
        seq = letters[rng.integers(0, 4, size=length)]
        # Non-overlapping slots so two planted motifs never overwrite each other.
        slots = rng.permutation(length // 10)[: len(motifs)] * 10
        for t, motif in enumerate(motifs):
            if labels[i, t]:
                seq[slots[t] : slots[t] + len(motif)] = list(motif)
        sequences.append("".join(seq))
    split = np.array(["train"] * int(0.7 * n) + ["valid"] * int(0.15 * n), dtype=object)
    split = np.concatenate([split, np.array(["test"] * (n - split.size), dtype=object)]).astype(str)
    onehot = one_hot(sequences, dtype=np.float32)
    return PlantedDataset(sequences, onehot, labels, split, [f"has_{m}" for m in motifs])


class TinyUserNet(nn.Module):
    """A user's own architecture (not built from a ModelSpec), for the import-path loader."""

    def __init__(self, channels: int = 8, n_tasks: int = 2, width: int = 5) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, channels, width)
        self.head = nn.Linear(channels, n_tasks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).amax(dim=-1))
