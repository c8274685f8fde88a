"""The training defaults of peak datasets (``dataset`` output), scaled to the data; the benchmark keeps its own.

A ``simulate`` dataset trains with the authors' settings (:class:`~deeplift_genomics.models.train.TrainConfig`'s
defaults and the authors' net), so the benchmark's numbers do not move. A dataset made by ``dataset`` from a
lab's peaks (its directory holds ``dataset.json``) gets, unless a flag or the config says otherwise:

- reverse-complement augmentation and balanced positive weights (peaks are strand-symmetric, and a task
  may have few positives among many negatives);
- early stopping on the mean validation auPRC (what the model is for), not on the loss: with weighted
  classes the loss rises from over-confidence while the ranking still improves;
- Adam at 1e-3, halved when the validation auPRC has not risen for 2 epochs (reduce-on-plateau);
- a minimum number of epochs and a patience scaled to the data: at least :data:`MIN_STEPS` gradient steps
  before stopping, patience :data:`PATIENCE_STEPS` steps (both in epochs, bounded), so a few hundred peaks
  train for dozens of epochs and 50,000 for a few;
- a net sized for the window (:func:`peak_architecture`): one wide convolution that holds a motif of up to
  20 bp, max pooling to about 8 positions (so a 1,000 bp window pools as coarsely as a 200 bp one does
  relative to its length) and a small dense layer.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

DEFAULTS_CHOICES = ("auto", "peaks", "benchmark")
MIN_STEPS = 1500
PATIENCE_STEPS = 600
MAX_STEPS = 8000
CONV_WIDTH = 21  # a motif of up to 20 bp fits one filter
CONV_FILTERS = 64
POOLED_POSITIONS = 8


def is_peak_dataset(data: str | Path) -> bool:
    """Whether ``data`` is a ``dataset`` output directory (it holds a readable ``dataset.json``)."""
    meta = Path(str(data)) / "dataset.json"
    if not meta.is_file():
        return False
    try:
        return isinstance(json.loads(meta.read_text(encoding="utf-8")), dict)
    except (OSError, ValueError):
        return False


def resolve_defaults(choice: str, data: str | Path) -> str:
    """``"peaks"`` or ``"benchmark"``: ``auto`` picks peaks for a ``dataset`` directory."""
    if choice == "auto":
        return "peaks" if is_peak_dataset(data) else "benchmark"
    return choice


def peak_architecture(length: int) -> dict[str, Any]:
    """A :class:`~deeplift_genomics.models.spec.ModelSpec` dict for peak windows of ``length`` bp.

    ``Conv1d(4, 64, 21) ReLU, MaxPool(size = stride = (L - 20) // 8), Linear(64 * 8, 32) ReLU Dropout(0.2)``;
    windows shorter than 21 bp get a convolution as wide as the window.

    >>> peak_architecture(200)["pool_size"], peak_architecture(1000)["pool_size"]
    (22, 122)
    """
    width = min(CONV_WIDTH, length)
    remaining = length - width + 1
    # floor, so the pools cover all but under 8 bp of the window (a ceiling would leave up to a pool out)
    pool = max(1, remaining // POOLED_POSITIONS)
    return {
        "conv": [{"filters": CONV_FILTERS, "width": width}],
        "pooling": "max",
        "pool_size": pool,
        "dense": [32],
        "dropout": 0.2,
    }


def peak_train_options(n_train: int, batch_size: int) -> dict[str, Any]:
    """:class:`~deeplift_genomics.models.train.TrainConfig` options for ``n_train`` training windows.

    >>> o = peak_train_options(1000, 32)
    >>> o["min_epochs"], o["patience"], o["epochs"]
    (47, 19, 100)
    >>> o = peak_train_options(100_000, 32)
    >>> o["min_epochs"], o["patience"], o["epochs"]
    (3, 3, 12)
    """
    steps = max(1, math.ceil(n_train / batch_size))
    min_epochs = min(60, max(3, math.ceil(MIN_STEPS / steps)))
    patience = min(20, max(3, math.ceil(PATIENCE_STEPS / steps)))
    epochs = min(100, max(min_epochs + patience, math.ceil(MAX_STEPS / steps), 12))
    return {
        "lr": 1e-3,
        "epochs": epochs,
        "min_epochs": min_epochs,
        "patience": patience,
        "lr_schedule": "plateau",
        "monitor": "auprc",
        "pos_weight": "balanced",
        "reverse_complement": True,
    }
