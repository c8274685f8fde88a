"""Whether a trained net learned: one rule for ``train``, ``score`` and ``motifs``, read from ``metrics.json``.

A net whose held-out auROC is below :data:`NEAR_CHANCE`, or more than :data:`BASELINE_MARGIN` below its
k-mer baseline's, learned little. This module needs only the standard library, so that ``score`` can
warn about a weak model without importing the baselines' scikit-learn, SciPy and pandas (about 0.5 s of
its start).

>>> learned_little(0.55, None), learned_little(0.80, 0.90), learned_little(0.80, 0.81)
(True, True, False)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: A net whose held-out auROC is below NEAR_CHANCE, or more than BASELINE_MARGIN below the k-mer model's,
#: learned little: train warns, score warns, motifs says so (one rule for all three).
NEAR_CHANCE = 0.6
BASELINE_MARGIN = 0.02


def kmer_test_auroc(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """Task -> the k-mer baseline's held-out auROC, from a model's ``metrics.json`` (empty when absent)."""
    return dict((metrics or {}).get("baselines", {}).get("kmer", {}).get("test", {}).get("auroc", {}) or {})


def learned_little(auroc: float, kmer_auroc: float | None) -> bool:
    """Whether a net's held-out auROC is near chance or below its k-mer baseline's by more than the margin."""
    return auroc < NEAR_CHANCE or (kmer_auroc is not None and auroc < kmer_auroc - BASELINE_MARGIN)


def read_model_metrics(model_dir: str | Path) -> tuple[dict[str, Any] | None, Path | None]:
    """A model directory's ``metrics.json`` (``None`` when it has none or it cannot be read)."""
    path = Path(model_dir) / "metrics.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    return (data, path) if isinstance(data, dict) else (None, None)


def held_out_auroc(metrics: dict[str, Any] | None, task: str) -> float | None:
    """The task's test auROC in ``metrics`` (``None`` when absent)."""
    if not metrics:
        return None
    value = metrics.get("test", {}).get("auroc", {}).get(task)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def model_quality_line(model_dir: str | Path) -> str | None:
    """A warning for ``score`` when the model's ``metrics.json`` says it is near chance or below its k-mer
    baseline on some task, else ``None``."""
    metrics, path = read_model_metrics(model_dir)
    if not metrics:
        return None
    kmer = kmer_test_auroc(metrics)
    weak = []
    for task in metrics.get("test", {}).get("auroc", {}):
        auroc = held_out_auroc(metrics, task)
        base = kmer.get(task)
        if auroc is not None and learned_little(auroc, base):
            weak.append(f"{task} {auroc:.3f}" + (f" (k-mer baseline {base:.3f})" if base is not None else ""))
    if not weak:
        return None
    return (f"the model scored learned little: held-out auROC {', '.join(weak)} ({path}); its scores may hold "
            "no motif: retrain before reading them")
