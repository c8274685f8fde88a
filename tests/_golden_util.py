"""Load the original DeepLIFT's golden outputs (../shared/golden) and map them onto our conventions.

The golden files are channels-last ``(N, L, 4)`` and task-first ``(T, N, ...)``; ``attribute`` works
in ``(N, 4, L)`` and returns ``(N, T, 4, L)``. The ``torch/*`` keys hold PyTorch-layout weights (the
flatten order of a Linear after Flatten already converted), so the models are rebuilt from them and
the sidecar's ``layers`` list.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

GOLDEN_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "golden"
ARCHS = ("conv_conv_avgpool", "mlp")
REFS = ("zeros", "bgfreq", "dinuc")
# golden mode -> attribute() keyword arguments
MODES: dict[str, dict[str, str]] = {
    "Rescale": {"method": "deeplift", "rule": "rescale"},
    "RevealCancel": {"method": "deeplift", "rule": "reveal_cancel"},
    "DeepLIFT_GenomicsDefault": {"method": "deeplift", "rule": "genomics_default"},
    "Gradient": {"method": "gradient_x_input"},
    "GuidedBackprop": {"method": "guided_backprop_x_input"},
}


# (arch, mode, ref) whose multipliers the sidecar reports unstable (numpy_crosscheck n_mult_diff_gt_1e-5 > 0)
# without a stored mask: hypothetical scores are compared with the documented bound of the original's
# float32 error (~1e-2), and most entries must still agree exactly.
UNMASKED_UNSTABLE = {("conv_conv_avgpool", "RevealCancel", "dinuc")}


def golden_available() -> bool:
    return all((GOLDEN_DIR / f"golden_{arch}.npz").is_file() for arch in ARCHS)


def skip_without_golden() -> None:
    if not golden_available():
        pytest.skip(
            f"golden outputs of the original DeepLIFT not found at {GOLDEN_DIR.resolve()} (../shared absent)"
        )


@functools.cache
def load(arch: str) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays of ``golden_<arch>.npz`` and its json sidecar."""
    with np.load(GOLDEN_DIR / f"golden_{arch}.npz") as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads((GOLDEN_DIR / f"golden_{arch}.json").read_text())
    return arrays, meta


def build_model(arch: str) -> nn.Module:
    """The golden network in PyTorch, float32, eval mode, from the sidecar's layer list and torch/* weights."""
    arrays, meta = load(arch)
    layers: list[nn.Module] = []
    for spec in meta["layers"]:
        kind = spec["type"]
        if kind == "conv":
            layer = nn.Conv1d(spec["cin"], spec["cout"], spec["width"], stride=spec["stride"])
        elif kind == "dense":
            layer = nn.Linear(spec["din"], spec["dout"])
        elif kind == "relu":
            layers.append(nn.ReLU())
            continue
        elif kind == "avgpool":
            layers.append(nn.AvgPool1d(spec["pool"], spec["stride"]))
            continue
        elif kind == "maxpool":
            layers.append(nn.MaxPool1d(spec["pool"], spec["stride"]))
            continue
        elif kind == "flatten":
            layers.append(nn.Flatten())
            continue
        else:
            raise ValueError(f"golden_{arch}.json: unknown layer type {kind!r}")
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(arrays[f"torch/{spec['name']}.weight"]))
            layer.bias.copy_(torch.from_numpy(arrays[f"torch/{spec['name']}.bias"]))
        layers.append(layer)
    return nn.Sequential(*layers).eval()


def channels_first(a: np.ndarray) -> np.ndarray:
    """``(..., L, 4)`` -> ``(..., 4, L)``."""
    return np.ascontiguousarray(np.swapaxes(a, -1, -2))


def inputs(arch: str) -> np.ndarray:
    """``(N, 4, L)`` float32 one-hot inputs."""
    return channels_first(load(arch)[0]["x"])


def references(arch: str, ref: str) -> np.ndarray:
    """``(N, R, 4, L)`` references as the original used them (R = 1 for zeros/bgfreq, 5 for dinuc)."""
    arr = load(arch)[0][f"ref/{ref}"]
    if ref != "dinuc":
        arr = arr[:, None]
    return channels_first(arr)


def task_first_to_ours(a: np.ndarray) -> np.ndarray:
    """Golden ``(T, N, L, 4)`` -> ``(N, T, 4, L)``; ``(T, N, R, L, 4)`` -> ``(N, R, T, 4, L)``."""
    a = channels_first(a)
    if a.ndim == 4:
        return np.ascontiguousarray(a.transpose(1, 0, 2, 3))
    return np.ascontiguousarray(a.transpose(1, 2, 0, 3, 4))


def expected(arch: str, mode: str, ref: str) -> dict[str, np.ndarray]:
    """What ``attribute`` with all references of ``ref`` at once should return, in our layout.

    Keys: ``contributions``, ``hypothetical`` ``(N, T, 4, L)``; ``hyp_exact`` (bool, same shape:
    False where the original's float32 multipliers are unstable, see the sidecar); ``deltas``
    ``(N, R, T)``; ``outputs`` ``(N, T)``.
    """
    arrays, _ = load(arch)
    mean = "_mean" if ref == "dinuc" else ""
    contrib = task_first_to_ours(arrays[f"contrib{mean}/{mode}/{ref}"])
    hyp = task_first_to_ours(arrays[f"hyp{mean}/{mode}/{ref}"])
    deltas = arrays[f"sum_minus_delta/{mode}/{ref}"]  # (T, N) or (T, N, R)
    deltas = deltas.T[:, None, :] if deltas.ndim == 2 else deltas.transpose(1, 2, 0)
    return {
        "contributions": contrib,
        "hypothetical": hyp,
        "hyp_exact": ~unstable_positions(arch, mode, ref),
        "deltas": deltas,
        "outputs": arrays["logits/x"],
    }


def unstable_positions(arch: str, mode: str, ref: str) -> np.ndarray:
    """``(N, T, 4, L)`` bool: positions whose hypothetical score involves an unstable multiplier.

    A hypothetical score at position l mixes the multipliers of all 4 channels there, so a whole
    position is masked when any is unstable. The npz holds the mask for ``zeros`` references only;
    the sidecar lists ``mult_fp32_unstable/RevealCancel/dinuc`` (conv arch) but the array is not
    stored (nor are the per-reference ``contrib``/``mult`` for dinuc), so :data:`UNMASKED_UNSTABLE`
    names the cases compared with the sidecar's loose tolerance instead.
    """
    arrays, _ = load(arch)
    key = f"mult_fp32_unstable/{mode}/{ref}"
    n, length = arrays["x"].shape[:2]
    n_tasks = arrays["logits/x"].shape[1]
    if key not in arrays:
        return np.zeros((n, n_tasks, 4, length), dtype=bool)
    mask = task_first_to_ours(arrays[key])  # (N, T, 4, L) or (N, R, T, 4, L)
    if mask.ndim == 5:
        mask = mask.any(axis=1)
    return np.broadcast_to(mask.any(axis=2, keepdims=True), mask.shape).copy()


def max_abs_error(
    ours: torch.Tensor | np.ndarray, theirs: np.ndarray, where: np.ndarray | None = None
) -> float:
    a = ours.detach().cpu().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours)
    diff = np.abs(a.astype(np.float64) - theirs.astype(np.float64))
    if where is not None:
        diff = diff[where]
    return float(diff.max()) if diff.size else 0.0
