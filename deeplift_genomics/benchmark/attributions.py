"""Attributions of a dataset's sequences for the benchmark and the ``attribute`` command.

The file they are written to is :mod:`deeplift_genomics.io.attributions`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..attribute import attribute
from ..core.errors import InputError
from ..core.version import __version__
from ..datasets.load import Dataset
from ..io.attributions import Attributions
from ..models.files import LoadedModel, check_compatible
from .analysis import stratified_subset
from .methods import MethodSpec

log = logging.getLogger(__name__)


def compute_attributions(model: nn.Module, onehot: np.ndarray, ids: Sequence[str] | np.ndarray, *, method: str,
                         rule: str = "genomics_default", references: str = "background", n_references: int = 1,
                         n_steps: int = 10, batch_size: int = 128, device: str = "auto", seed: int = 0,
                         settings: Mapping[str, Any] | None = None, precision: str = "fp32",
                         float64_check: int = 0) -> Attributions:
    """Run the engine on ``onehot`` (N, 4, L) for all tasks and pack the result as :class:`Attributions`.

    ``settings`` (checksums, split, ...) is merged into the recorded settings. ``float64_check``: the first
    sequences recomputed in float64 (not for ISM); float32's measured error against them is recorded as
    ``float32_vs_float64`` (per task: ``max_abs_error``, ``max_abs_score_float64``, ``relative_error``).
    """
    spec = MethodSpec(method, rule, references, n_references, n_steps)
    kwargs: dict[str, Any] = {**spec.engine_kwargs(), "batch_size": batch_size, "device": device, "seed": seed}
    if precision != "fp32":
        kwargs["precision"] = precision
    if float64_check and method != "ism":
        kwargs["float64_check"] = int(float64_check)
    x = torch.as_tensor(np.asarray(onehot, dtype=np.float32))
    res = attribute(model, x, **kwargs)
    projected = _numpy(res.projected)
    hyp = getattr(res, "hypothetical", None)
    hyp = (np.zeros((*projected.shape[:2], 4, 0), dtype=np.float16) if hyp is None
           else _numpy(hyp).astype(np.float16))
    deltas = getattr(res, "deltas", None)
    if deltas is None:
        deltas_max = np.zeros(len(projected), dtype=np.float32)
    else:
        d = np.abs(_numpy(deltas))
        deltas_max = d.reshape(len(d), -1).max(axis=1) if d.size else np.zeros(len(d), dtype=np.float32)
    recorded = {
        "method": method, "rule": rule if method == "deeplift" else None,
        "references": references if method != "ism" else None,
        "n_references": kwargs.get("n_references"), "n_steps": n_steps if method == "integrated_gradients" else None,
        "seed": seed, "label": spec.label,
        "precision": precision,
        "version": __version__,
    }
    report = getattr(res, "precision_check", None) or {}
    if "max_abs_diff_vs_fp64_per_target" in report:
        recorded["float32_vs_float64"] = {
            "sequences": int(report["float64_sequences"]),
            "per_task": [{"max_abs_error": d, "max_abs_score_float64": m, "relative_error": d / m if m > 0 else 0.0}
                         for d, m in zip(report["max_abs_diff_vs_fp64_per_target"],
                                         report["max_abs_contribution_fp64_per_target"], strict=True)],
        }
    recorded.update(settings or {})
    return Attributions(np.asarray(ids, dtype=str), projected.astype(np.float32), hyp,
                        _numpy(res.outputs).astype(np.float32), deltas_max.astype(np.float32), recorded)


def _numpy(t) -> np.ndarray:
    if hasattr(t, "detach"):
        t = t.detach().cpu().float().numpy()
    return np.asarray(t)


def select_sequences(ds: Dataset, split: str, max_sequences: int | None, seed: int) -> Dataset:
    """The dataset rows the benchmark and ``attribute`` use: ``split`` then a stratified subset."""
    if split != "all":
        if not np.any(np.asarray(ds.split) == split):
            raise InputError(f"dataset has no sequences in split '{split}' (splits: "
                             f"{', '.join(sorted(set(np.asarray(ds.split).tolist())))})")
        ds = ds.subset(split)
    if max_sequences is not None and max_sequences < len(ds.ids):
        keep = np.zeros(len(ds.ids), dtype=bool)
        keep[stratified_subset(ds.classes, int(max_sequences), seed=seed)] = True
        ds = ds.subset(keep)
    return ds


def check_model_fits(lm: LoadedModel, ds: Dataset, data: str | Path) -> None:
    """Refuse a model whose input length or alphabet does not fit the dataset."""
    check_compatible(lm, ds.onehot.shape[2], source=str(data))
