"""Compare attributions computed on two devices: the core of the CUDA tests, also run CPU against CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from deeplift_genomics import attribute
from deeplift_genomics.io.onehot import one_hot
from deeplift_genomics.models.files import load_model

PAPER_MODEL = Path(__file__).resolve().parent / "data" / "benchmark_default_model"

# every method, and every DeepLIFT rule
CASES = [
    ("deeplift", "rescale"),
    ("deeplift", "reveal_cancel"),
    ("deeplift", "genomics_default"),
    ("gradient_x_input", "genomics_default"),
    ("guided_backprop_x_input", "genomics_default"),
    ("integrated_gradients", "genomics_default"),
    ("ism", "genomics_default"),
]


def paper_model() -> torch.nn.Module:
    """The paper's net (the default ModelSpec: 2 convolutions, 3 tasks) with the stored trained weights."""
    return load_model(PAPER_MODEL).model


def sequences(n: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGT"), size=200)) for _ in range(n)]
    seqs[0] = seqs[0][:90] + "NNNN" + seqs[0][94:]  # an unknown run, shuffled around
    return torch.from_numpy(one_hot(seqs))


def device_differences(model, x, method: str, rule: str, device_a: str, device_b: str,
                       n_references: int = 5) -> dict[str, float]:
    """Largest absolute difference of every output of ``attribute`` between two devices.

    Both runs draw their own shuffled references (the shuffles are the same integers on every device),
    in float32 with TF32 off. Returns the differences and the scale of the contributions.
    """
    results = [
        attribute(model, x, method=method, rule=rule, n_references=n_references, device=dev, seed=3,
                  verbose=False)
        for dev in (device_a, device_b)
    ]
    out = {"scale": float(results[0].contributions.abs().max())}
    for field in ("contributions", "hypothetical", "outputs", "deltas"):
        a, b = (getattr(r, field) for r in results)
        if a is not None:
            out[field] = float((a - b).abs().max())
    return out
