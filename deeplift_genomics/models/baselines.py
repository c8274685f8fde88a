"""Baselines beside a trained net: a k-mer logistic regression and a scan with known PWMs.

A net that ranks held-out windows worse than these has not learned what the data holds. The k-mer model
is scikit-learn's L2 logistic regression (liblinear) on counts of reverse-complement-collapsed k-mers
(2,080 features for k = 6), one model per task, fitted on the train split with balanced class weights;
its regularisation strength is chosen on the validation split's auPRC. The PWM scan scores a window by
its best log-odds over both strands (:func:`data_sim.scan.motif_scores`) and needs no training.

>>> import numpy as np
>>> x = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (6, 30))].transpose(0, 2, 1)
>>> kmer_counts(x, k=3).shape
(6, 32)
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

from data_sim.motifs import Motif
from data_sim.scan import motif_scores

from .metrics import task_auroc_auprc
from .quality import BASELINE_MARGIN, NEAR_CHANCE, kmer_test_auroc, learned_little

log = logging.getLogger(__name__)

__all__ = ["BASELINE_MARGIN", "NEAR_CHANCE", "kmer_test_auroc", "learned_little"]  # the rule lives in .quality

KMER_K = 6
KMER_CS = (0.003, 0.03, 0.3)


def canonical_kmer_columns(k: int) -> tuple[np.ndarray, int]:
    """``(4**k,)`` column of each k-mer id (A=0 ... T=3, first base most significant) once a k-mer and its
    reverse complement are counted together, and the number of columns."""
    ids = np.arange(4**k, dtype=np.int64)
    digits = (ids[:, None] // (4 ** np.arange(k - 1, -1, -1))) % 4
    rc = ((3 - digits[:, ::-1]) * (4 ** np.arange(k - 1, -1, -1))).sum(axis=1)
    _, column = np.unique(np.minimum(ids, rc), return_inverse=True)
    return column.astype(np.int64), int(column.max()) + 1


def kmer_counts(onehot: np.ndarray, k: int = KMER_K) -> sparse.csr_matrix:
    """``(N, C)`` sparse counts of the reverse-complement-collapsed k-mers of ``(N, 4, L)`` one-hot windows.

    k-mers holding an unknown base (an all-zero column) are not counted.
    """
    x = np.asarray(onehot)
    n, _, length = x.shape
    column, n_columns = canonical_kmer_columns(k)
    if length < k or n == 0:
        return sparse.csr_matrix((n, n_columns), dtype=np.float32)
    base = x.argmax(axis=1).astype(np.int64)  # (N, L)
    known = x.sum(axis=1) > 0.5
    n_starts = length - k + 1
    ids = np.zeros((n, n_starts), dtype=np.int64)
    ok = np.ones((n, n_starts), dtype=bool)
    for j in range(k):
        ids = ids * 4 + base[:, j : j + n_starts]
        ok &= known[:, j : j + n_starts]
    rows = np.broadcast_to(np.arange(n)[:, None], ids.shape)[ok]
    data = np.ones(rows.size, dtype=np.float32)
    return sparse.csr_matrix((data, (rows, column[ids[ok]])), shape=(n, n_columns), dtype=np.float32)


def kmer_baseline(
    onehot: np.ndarray,
    labels: np.ndarray,
    split: np.ndarray,
    task_names: Sequence[str],
    k: int = KMER_K,
    cs: Sequence[float] = KMER_CS,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit the k-mer logistic regression per task on ``train``, pick C on ``valid``, score ``test``.

    Parameters
    ----------
    onehot
        ``(N, 4, L)`` windows.
    labels
        ``(N, T)`` labels (>= 0.5 positive).
    split
        ``(N,)`` ``"train" | "valid" | "test"``.
    task_names
        ``T`` names.
    k, cs
        k-mer length and the inverse regularisation strengths tried.
    seed
        Seed of liblinear's coordinate order.

    Returns
    -------
    dict
        ``{"model", "k", "C": {task: C}, "test": {"auroc": {task}, "auprc": {task}}, "valid": {...},
        "seconds"}``; areas are ``None`` where a split lacks a class.
    """
    started = time.perf_counter()
    counts = kmer_counts(onehot, k)
    # log(1 + count): a site that repeats a k-mer counts less than k-mers spread over the window
    counts.data = np.log1p(counts.data)
    split = np.asarray(split).astype(str)
    parts = {name: np.flatnonzero(split == name) for name in ("train", "valid", "test")}
    out: dict[str, Any] = {
        "model": f"logistic regression on reverse-complement-collapsed {k}-mer counts (scikit-learn)",
        "k": k,
        "C": {},
        "test": {"auroc": {}, "auprc": {}},
        "valid": {"auroc": {}, "auprc": {}},
    }
    y = np.asarray(labels) >= 0.5
    for t, task in enumerate(task_names):
        best: tuple[float, float, Any] | None = None
        y_train = y[parts["train"], t]
        if y_train.all() or not y_train.any():
            for name in ("test", "valid"):
                out[name]["auroc"][task] = out[name]["auprc"][task] = None
            out["C"][task] = None
            continue
        for c in cs:
            fit = _fit(counts[parts["train"]], y_train, c, seed)
            _, auprc = task_auroc_auprc(y[parts["valid"], t], fit.decision_function(counts[parts["valid"]]))
            score = -math.inf if math.isnan(auprc) else auprc
            if best is None or score > best[0]:
                best = (score, c, fit)
        assert best is not None
        out["C"][task] = best[1]
        for name in ("test", "valid"):
            idx = parts[name]
            auroc, auprc = task_auroc_auprc(y[idx, t], best[2].decision_function(counts[idx]))
            out[name]["auroc"][task] = None if math.isnan(auroc) else auroc
            out[name]["auprc"][task] = None if math.isnan(auprc) else auprc
    out["seconds"] = round(time.perf_counter() - started, 2)
    return out


def _fit(x: sparse.csr_matrix, y: np.ndarray, c: float, seed: int) -> LogisticRegression:
    from sklearn.exceptions import ConvergenceWarning  # heavy: scikit-learn (about 1 s of CPU to import)
    from sklearn.linear_model import LogisticRegression  # heavy: only when a baseline is fitted

    model = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=500, random_state=seed)
    with warnings.catch_warnings():
        # the smallest C may stop short of convergence; validation picks the C that works
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def pwm_scan_scores(onehot: np.ndarray, motif: Motif) -> np.ndarray:
    """``(N,)`` best log-odds of ``motif`` over every start and both strands of each window."""
    x = np.asarray(onehot)
    if x.shape[0] == 0 or motif.width > x.shape[-1]:
        return np.full(x.shape[0], -np.inf)
    fwd = motif_scores(x, motif, background=(0.25, 0.25, 0.25, 0.25), strand="+").max(axis=1)
    rev = motif_scores(x, motif, background=(0.25, 0.25, 0.25, 0.25), strand="-").max(axis=1)
    return np.maximum(fwd, rev)


def pwm_scan_metrics(
    onehot: np.ndarray, labels: np.ndarray, task_names: Sequence[str], motifs: Mapping[str, Sequence[Motif]]
) -> dict[str, Any]:
    """auROC/auPRC of the PWM scan per task on the given windows (give the test split's).

    ``motifs`` maps a task to the motifs tried for it (tasks without any are left out). Each motif's scan is
    scored on its own; a task's areas are those of its best motif by auROC, named in ``"motif"``. With
    several motifs that choice is made on these same windows, so the areas are a ceiling, not a model.

    Returns
    -------
    dict
        ``{"auroc": {task}, "auprc": {task}, "motif": {task: name}, "per_motif": {task: {motif: auroc}}}``.
    """
    y = np.asarray(labels) >= 0.5
    out: dict[str, Any] = {"auroc": {}, "auprc": {}, "motif": {}, "per_motif": {}}
    for t, task in enumerate(task_names):
        areas = {m.name: task_auroc_auprc(y[:, t], pwm_scan_scores(onehot, m)) for m in motifs.get(task, ())}
        areas = {name: a for name, a in areas.items() if not math.isnan(a[0])}
        if not areas:
            continue
        name = max(areas, key=lambda n: areas[n][0])
        out["auroc"][task], out["auprc"][task] = areas[name]
        out["motif"][task] = name
        out["per_motif"][task] = {n: a[0] for n, a in areas.items()}
    return out
