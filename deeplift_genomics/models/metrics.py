"""Per-task classification metrics (auROC, auPRC) of multi-task binary logits."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


def task_auroc_auprc(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Area under the ROC and precision-recall curves for one binary task.

    Parameters
    ----------
    labels
        ``(N,)`` 0/1 labels (values >= 0.5 count as positive).
    scores
        ``(N,)`` scores; any monotone transform (logits or probabilities) gives the same areas.

    Returns
    -------
    (float, float)
        auROC and auPRC (average precision); both NaN when only one class is present.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    positive = np.asarray(labels) >= 0.5
    scores = np.asarray(scores, dtype=np.float64)
    if positive.size == 0 or positive.all() or not positive.any():
        return math.nan, math.nan
    return float(roc_auc_score(positive, scores)), float(average_precision_score(positive, scores))


def split_metrics(labels: np.ndarray, logits: np.ndarray, task_names: Sequence[str]) -> dict[str, Any]:
    """Loss, auROC, auPRC and positive counts per task for one split.

    Parameters
    ----------
    labels
        ``(N, T)`` targets in [0, 1].
    logits
        ``(N, T)`` pre-sigmoid outputs.
    task_names
        ``T`` names, the keys of the per-task dicts.

    Returns
    -------
    dict
        ``{"n_sequences", "loss" (mean binary cross-entropy), "auroc": {task: float},
        "auprc": {task: float}, "n_positive": {task: int}}``; undefined values are ``None``.
    """
    labels = np.asarray(labels, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)
    out: dict[str, Any] = {
        "n_sequences": int(labels.shape[0]),
        "loss": _none_if_nan(bce_with_logits(labels, logits)) if labels.size else None,
        "auroc": {},
        "auprc": {},
        "n_positive": {},
    }
    for t, name in enumerate(task_names):
        auroc, auprc = task_auroc_auprc(labels[:, t], logits[:, t])
        out["auroc"][name] = _none_if_nan(auroc)
        out["auprc"][name] = _none_if_nan(auprc)
        out["n_positive"][name] = int((labels[:, t] >= 0.5).sum())
    return out


def bce_with_logits(labels: np.ndarray, logits: np.ndarray, pos_weight: np.ndarray | None = None) -> float:
    """Mean binary cross-entropy of sigmoid(``logits``) against ``labels``, computed stably.

    ``pos_weight`` ``(T,)`` weighs each task's positive term as torch's ``BCEWithLogitsLoss`` does:
    ``-(w y log s(z) + (1 - y) log(1 - s(z)))``.
    """
    labels = np.asarray(labels, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)
    # Non-finite logits (a diverged model) give a non-finite loss, which the trainer reports in its own
    # words; numpy's RuntimeWarnings about them would only repeat it less clearly.
    with np.errstate(invalid="ignore", over="ignore"):
        if pos_weight is None:
            # log(1 + exp(z)) - y z, with logaddexp so large |z| neither overflows nor loses precision.
            return float(np.mean(np.logaddexp(0.0, logits) - labels * logits))
        weight = np.asarray(pos_weight, dtype=np.float64)
        # -log s(z) = log(1 + exp(-z)); -log(1 - s(z)) = log(1 + exp(z)).
        positive = weight * labels * np.logaddexp(0.0, -logits)
        return float(np.mean(positive + (1 - labels) * np.logaddexp(0.0, logits)))


def metrics_table(metrics: Mapping[str, Any], splits: Sequence[str] = ("test", "valid")) -> pd.DataFrame:
    """Flatten :func:`split_metrics` results into rows ``split, task, n_sequences, n_positive, auroc, auprc``."""
    rows = []
    for split in splits:
        part = metrics.get(split)
        if not part:
            continue
        for task in part["auroc"]:
            rows.append(
                {
                    "split": split,
                    "task": task,
                    "n_sequences": part["n_sequences"],
                    "n_positive": part["n_positive"][task],
                    "auroc": part["auroc"][task],
                    "auprc": part["auprc"][task],
                }
            )
    return pd.DataFrame(rows, columns=["split", "task", "n_sequences", "n_positive", "auroc", "auprc"])


def _none_if_nan(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
