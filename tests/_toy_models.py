"""Small seeded versions of architectures users bring, for the model-coverage tests.

Each builder returns a float64 model in eval mode on ``(N, 4, LENGTH)`` one-hot input with 2 outputs.
"""

from __future__ import annotations

import torch
from _engine_util import init_
from torch import nn

LENGTH = 60


class Basset(nn.Module):
    """Basset-style: three conv blocks (Conv, BatchNorm, ReLU, MaxPool), two dense blocks with dropout."""

    def __init__(self, tasks: int = 2):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(4, 8, 7, padding=3), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(3),
            nn.Conv1d(8, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(8, 6, 3, padding=1), nn.BatchNorm1d(6), nn.ReLU(), nn.MaxPool1d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(6 * 5, 10), nn.BatchNorm1d(10), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(10, 10), nn.BatchNorm1d(10), nn.ReLU(), nn.Dropout(0.3), nn.Linear(10, tasks),
        )

    def forward(self, x):
        return self.head(self.body(x))


class DeepSEA(nn.Module):
    """DeepSEA-style: Conv-ReLU-MaxPool-Dropout blocks, a dense layer, a sigmoid head."""

    def __init__(self, tasks: int = 2):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(4, 8, 8), nn.ReLU(), nn.MaxPool1d(4), nn.Dropout(0.2),
            nn.Conv1d(8, 8, 4), nn.ReLU(), nn.MaxPool1d(2), nn.Dropout(0.2),
            nn.Conv1d(8, 6, 3), nn.ReLU(), nn.Dropout(0.5),
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(6 * 3, 8), nn.ReLU(), nn.Linear(8, tasks), nn.Sigmoid())

    def forward(self, x):
        return self.fc(self.conv(x))


class ResidualDilatedGelu(nn.Module):
    """A stem convolution, dilated residual blocks with GELU and BatchNorm, global average pooling."""

    def __init__(self, channels: int = 8, blocks: int = 3, tasks: int = 2):
        super().__init__()
        self.stem = nn.Conv1d(4, channels, 9, padding=4)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.BatchNorm1d(channels), nn.GELU(),
                          nn.Conv1d(channels, channels, 3, padding=2 ** i, dilation=2 ** i))
            for i in range(1, blocks + 1)
        )
        self.head = nn.Linear(channels, tasks)

    def forward(self, x):
        h = self.stem(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(nn.functional.gelu(h).mean(-1))


class WhereOnInput(nn.Module):
    """A learned gate written with torch.where on an input-dependent condition (no exact rule exists)."""

    def __init__(self, tasks: int = 2):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 7)
        self.head = nn.Linear(6, tasks)

    def forward(self, x):
        h = self.conv(x)
        h = torch.where(h > 0, h, 0.1 * h)
        return self.head(h.mean(-1))


TOY_MODELS = {
    "basset": Basset,
    "deepsea": DeepSEA,
    "residual_dilated_gelu": ResidualDilatedGelu,
    "where_on_input": WhereOnInput,
}


def toy_model(name: str, seed: int = 0) -> nn.Module:
    """One of :data:`TOY_MODELS`, with seeded weights and BatchNorm statistics, float64, eval mode."""
    return init_(TOY_MODELS[name]().double(), seed=seed, scale=2.0)
