"""Toy models and inputs for the engine tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NONLINEARITIES = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}


def onehot(n: int, length: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 4, (n, length), generator=g)
    return F.one_hot(idx, 4).permute(0, 2, 1).to(dtype)


def random_refs(x: torch.Tensor, r: int, seed: int) -> torch.Tensor:
    """Random non-negative columns summing to 1 (not one-hot), ``(N, R, 4, L)``."""
    g = torch.Generator().manual_seed(seed)
    raw = torch.rand((x.shape[0], r, *x.shape[1:]), generator=g, dtype=x.dtype)
    return raw / raw.sum(2, keepdim=True)


def init_(model: nn.Module, seed: int, scale: float = 1.0) -> nn.Module:
    """Seeded weights large enough that units sit on both sides of their kinks."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale / max(1, p[0].numel()) ** 0.5)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def conv_net(
    length: int,
    nonlin: str = "relu",
    channels: int = 5,
    width: int = 5,
    pool: str | None = None,
    batchnorm: bool = False,
    hidden: int = 6,
    tasks: int = 3,
    seed: int = 0,
    dtype=torch.float64,
) -> nn.Module:
    """Conv -> act [-> BN] [-> pool] -> Conv -> act -> Flatten -> Linear -> act -> Linear."""
    act = NONLINEARITIES[nonlin]
    layers: list[nn.Module] = [nn.Conv1d(4, channels, width)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(channels))
    layers.append(act())
    out_len = length - width + 1
    if pool == "max":
        layers.append(nn.MaxPool1d(2))
        out_len //= 2
    elif pool == "avg":
        layers.append(nn.AvgPool1d(2))
        out_len //= 2
    layers += [nn.Conv1d(channels, channels, 3), act()]
    out_len -= 2
    layers += [nn.Flatten(), nn.Linear(channels * out_len, hidden), act(), nn.Linear(hidden, tasks)]
    return init_(nn.Sequential(*layers).to(dtype), seed, scale=2.0)


class FunctionalNet(nn.Module):
    """conv_net(pool=None, nonlin="relu") written with functional ReLUs."""

    def __init__(self, seq: nn.Sequential):
        super().__init__()
        self.c1, self.c2, self.fc1, self.fc2 = seq[0], seq[2], seq[5], seq[7]

    def forward(self, x):
        h = F.relu(self.c1(x))
        h = torch.relu(self.c2(h))
        h = self.fc1(h.flatten(1)).relu()
        return self.fc2(h)


class ReusedReluNet(nn.Module):
    """The same nn.ReLU instance applied at every layer."""

    def __init__(self, seq: nn.Sequential):
        super().__init__()
        self.c1, self.c2, self.fc1, self.fc2 = seq[0], seq[2], seq[5], seq[7]
        self.act = nn.ReLU()

    def forward(self, x):
        h = self.act(self.c1(x))
        h = self.act(self.c2(h))
        h = self.act(self.fc1(torch.flatten(h, 1)))
        return self.fc2(h)


class ResidualCatNet(nn.Module):
    """Residual add, concatenation along channels, padding and global average pooling."""

    def __init__(self, channels: int = 4, tasks: int = 2):
        super().__init__()
        self.c1 = nn.Conv1d(4, channels, 5, padding=2)
        self.c2 = nn.Conv1d(channels, channels, 3, padding=1)
        self.c3 = nn.Conv1d(2 * channels, channels, 3)
        self.a1, self.a2, self.a3, self.a4 = nn.ReLU(), nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.fc1 = nn.Linear(channels, 5)
        self.fc2 = nn.Linear(5, tasks)

    def forward(self, x):
        h = self.a1(self.c1(x))
        h2 = self.a2(self.c2(h) + h)
        h3 = self.a3(self.c3(torch.cat([h, h2], dim=1)))
        return self.fc2(self.a4(self.fc1(h3.mean(-1))))
