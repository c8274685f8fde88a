"""Shared helpers of the score tests: a tiny model, an independent gradient attribution, FASTA writers."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

LENGTH = 20


class TinyNet(nn.Module):
    """Linear in the input (conv then mean pool), so gradient x input sums exactly to f(x) - f(0)."""

    def __init__(self, n_tasks: int = 2, length: int = LENGTH, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv1d(4, n_tasks, kernel_size=5, padding=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen))
            self.conv.bias.copy_(torch.randn(self.conv.bias.shape, generator=gen))
        self.length = length

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=2)


def gradient_attribute(model, x, *, target=None, references="zeros", n_references=1, seed=0, **_ignored):
    """Gradient x input against an all-zero reference, computed directly with autograd (no engine code)."""
    x = torch.as_tensor(x, dtype=torch.float32).detach().requires_grad_(True)
    keep = slice(None) if target is None else ([target] if isinstance(target, int) else list(target))
    out = model(x)[:, keep]
    grads = []
    for t in range(out.shape[1]):
        (g,) = torch.autograd.grad(out[:, t].sum(), x, retain_graph=True)
        grads.append(g)
    hyp = torch.stack(grads, dim=1).detach()  # (N, T, 4, L)
    contrib = hyp * x.detach()[:, None]
    zero_out = model(torch.zeros_like(x)).detach()[:, keep]
    deltas = (out.detach() - zero_out - contrib.sum(dim=(2, 3)))[:, None, :]
    return SimpleNamespace(
        contributions=contrib,
        hypothetical=hyp,
        projected=contrib.sum(dim=2),
        deltas=deltas,
        outputs=out.detach(),
        references=None,
    )


def random_seqs(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]


def write_fasta(path: Path, records: dict[str, str], width: int = 60, newline: str = "\n") -> Path:
    lines = []
    for name, seq in records.items():
        lines.append(f">{name}")
        lines.extend(seq[i : i + width] for i in range(0, len(seq), width))
    path.write_bytes((newline.join(lines) + newline).encode())
    return path


def write_bgzf(path: Path, data: bytes, block: int = 100) -> Path:
    """BGZF as in the SAM spec (section 4.1): gzip members carrying a 'BC' extra subfield, then an EOF block."""
    out = bytearray()

    def member(payload: bytes) -> bytes:
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        cdata = comp.compress(payload) + comp.flush()
        bsize = 12 + 6 + len(cdata) + 8 - 1 + 1  # whole member length minus 1, header is 18 bytes
        head = (
            struct.pack("<BBBBIBBH", 31, 139, 8, 4, 0, 0, 255, 6) + b"BC" + struct.pack("<HH", 2, bsize - 1)
        )
        return head + cdata + struct.pack("<II", zlib.crc32(payload), len(payload))

    for i in range(0, len(data), block):
        out += member(data[i : i + block])
    out += member(b"")
    path.write_bytes(bytes(out))
    return path


def write_gzip(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data))
    return path
