"""Say so when there is nothing to find: a task without seqlets, or scores from a model that learned little.

A task whose scores have no window beating the permutation null gets one line naming the null threshold
(the FDR, and the best observed window against the best permuted one), the model's held-out auROC when the
model directory of the scores has a ``metrics.json`` (``train`` writes it, with the k-mer baseline's), and
what to check. ``motifs`` logs the line at WARNING and its report shows it; ``score`` warns with
:func:`deeplift_genomics.models.quality.model_quality_line` when the model it scores did not learn.

>>> explain_no_seqlets("t", {"fdr": 0.05, "width": 15, "n_null_windows": 1000, "max_pos": 0.1,
...                          "null_max_pos": 0.2}, None)[:60]
"task 't': no seqlet: no 15-bp window's summed score passed t"
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..models.quality import NEAR_CHANCE, held_out_auroc, kmer_test_auroc, learned_little, read_model_metrics

log = logging.getLogger(__name__)



def model_metrics(scores_dir: str | Path) -> tuple[dict[str, Any] | None, Path | None]:
    """``metrics.json`` of the model that made a ``score`` directory (``scores.h5``'s ``model`` attribute)."""
    import h5py  # read only here, as every reader of scores.h5 does

    h5_path = Path(scores_dir) / "scores.h5"
    try:
        with h5py.File(h5_path, "r") as h5:
            model = str(h5.attrs.get("model", ""))
    except OSError:
        return None, None
    return read_model_metrics(model) if model else (None, None)


def explain_no_seqlets(task: str, null: dict[str, Any], metrics: dict[str, Any] | None,
                       metrics_path: Path | None = None) -> str:
    """One line for a task without seqlets: the null threshold, the model's held-out auROC, what to check."""
    best, null_best = null.get("max_pos"), null.get("null_max_pos")
    against = ("" if best is None or null_best is None
               else f"; the best window sums to {best:.4g} against {null_best:.4g} for the best permuted one")
    auroc = held_out_auroc(metrics, task)
    kmer = kmer_test_auroc(metrics).get(task)
    if auroc is None:
        model = "the model's held-out auROC is unknown (no metrics.json beside it)"
    else:
        model = f"the model's held-out auROC is {auroc:.3f} ({metrics_path})"
        if kmer is not None:
            model += f", the k-mer baseline's {kmer:.3f}"
    if auroc is not None and learned_little(auroc, kmer):
        check = ("the model learned little: retrain it (train's defaults for peaks, more epochs) before "
                 "looking for motifs")
    else:
        check = ("check that the scored windows hold the task's positives (e.g. test_windows.bed, not random "
                 "regions), that enough windows were scored, and the references")
    return (f"task '{task}': no seqlet: no {null.get('width')}-bp window's summed score passed the permutation "
            f"null at FDR {null.get('fdr')} ({null.get('n_null_windows')} permuted windows){against}; "
            f"{model}; {check}")


def weak_model_line(task: str, n_seqlets: int, metrics: dict[str, Any] | None,
                    metrics_path: Path | None = None) -> str | None:
    """One line for a task with seqlets whose model is near chance on held-out data (else ``None``)."""
    auroc = held_out_auroc(metrics, task)
    if auroc is None or auroc >= NEAR_CHANCE:
        return None
    return (f"task '{task}': the model's held-out auROC is {auroc:.3f} ({metrics_path}), near chance: its "
            f"{n_seqlets} seqlet(s) and their patterns likely reflect noise, not a learned motif; retrain the "
            "model (train's defaults for peaks, more epochs) and check the labels before reading them")
