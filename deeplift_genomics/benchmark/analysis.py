"""Pure analysis of the simulated GATA1/TAL1 benchmark (paper Section 4.2, Fig. 5).

Every function here takes arrays and DataFrames and returns DataFrames; nothing reads files, trains or
attributes. :mod:`.run` wires them to the dataset, the model and the engine.

Conventions
-----------
- ``projected``: per-base scores ``(N, T, L)``, the attribution summed over the four channels.
- A *hit* is a motif window ``[start, end)`` in sequence ``seq_index``: either a scanned hit (the top
  ``top_n`` log-odds matches per sequence, as the paper's evaluation did) or a ground-truth embedded
  instance. Its importance for task ``t`` is ``projected[seq_index, t, start:end].sum()``.
- Task relevance (the simulation's design): task 0 ("both present") depends on GATA1 and TAL1, task 1
  on GATA1 only, task 2 on TAL1 only. For the per-base auROC the positives of task 0 are the positions
  of both motifs; the *irrelevant* motif of task 1 is TAL1 and of task 2 is GATA1 (task 0 has none).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .methods import DEEPLIFT_BACKGROUND, display_name

GATA = "GATA_disc1"
TAL1 = "TAL1_known1"
MOTIF_LABELS = {GATA: "GATA1", TAL1: "TAL1"}

#: task index -> motifs whose presence the task's label depends on.
DEFAULT_RELEVANT: dict[int, tuple[str, ...]] = {0: (GATA, TAL1), 1: (GATA,), 2: (TAL1,)}
#: task index -> the motif that should get no importance for that task.
DEFAULT_IRRELEVANT: dict[int, str] = {1: TAL1, 2: GATA}

CLASSES = ("both", "gata", "tal1", "neither")
CLASS_LABELS = {"both": "both", "gata": "GATA1 only", "tal1": "TAL1 only", "neither": "neither"}

#: The authors' notebook output for Fig. 5b (TAL1, task 0, hits with log-odds >= 7 in "both" sequences).
PAPER_FIG5B_TAL1: dict[str, float] = {
    "gradient_x_input": 0.116,
    "integrated_gradients": 0.080,
    "deeplift_rescale": 0.070,
    "deeplift_reveal_cancel": 0.0,
    "deeplift_genomics_default": 0.0,
    "guided_backprop_x_input": 0.0,
}

HIT_COLUMNS = ["source", "seq_index", "id", "class", "motif", "start", "end", "strand", "log_odds"]


# --------------------------------------------------------------------------------------------- subsets
def stratified_subset(classes: Sequence[str] | np.ndarray, n: int | None, seed: int = 0) -> np.ndarray:
    """Indices of a deterministic, class-stratified subset of ``n`` items, in ascending order.

    Each class gets its share of ``n`` (largest remainders break ties, in class order of first
    appearance); within a class the items are a seeded random choice. ``n=None`` or ``n >= len`` keeps all.

    Parameters
    ----------
    classes
        ``(N,)`` class of every item.
    n
        Subset size.
    seed
        Seed of the choice within classes.

    Returns
    -------
    numpy.ndarray
        ``(min(n, N),)`` int64 indices, sorted.
    """
    classes = np.asarray(classes)
    total = len(classes)
    if n is None or n >= total:
        return np.arange(total, dtype=np.int64)
    if n < 0:
        raise ValueError(f"subset size must be >= 0, not {n}")
    names = list(dict.fromkeys(classes.tolist()))
    counts = np.array([(classes == c).sum() for c in names], dtype=float)
    exact = counts * n / total
    take = np.floor(exact).astype(int)
    order = np.argsort(-(exact - take), kind="stable")
    for k in order[: n - take.sum()]:
        take[k] += 1
    rng = np.random.default_rng(seed)
    chosen = []
    for name, k in zip(names, take):
        members = np.flatnonzero(classes == name)
        chosen.append(rng.permutation(members)[:k])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


# --------------------------------------------------------------------------------------------- hits
def scanned_hits(
    scans: Mapping[str, pd.DataFrame], ids: Sequence[str] | np.ndarray, classes: Sequence[str] | np.ndarray
) -> pd.DataFrame:
    """Annotate motif-scan results (``data_sim.scan.scan_motif`` output per motif) as one hit table.

    Parameters
    ----------
    scans
        motif name -> DataFrame with ``seq_index, start, end, strand, log_odds``.
    ids, classes
        ``(N,)`` sequence ids and classes, indexed by ``seq_index``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HIT_COLUMNS` with ``source == "scan"``, sorted by motif, sequence and start.
    """
    id_arr = np.asarray(ids)
    class_arr = np.asarray(classes)
    frames = []
    for motif, frame in scans.items():
        f = frame.loc[:, ["seq_index", "start", "end", "strand", "log_odds"]].copy()
        f["seq_index"] = f["seq_index"].astype(np.int64)
        f["motif"] = motif
        frames.append(f)
    hits = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=HIT_COLUMNS)
    hits["source"] = "scan"
    hits["id"] = id_arr[hits["seq_index"].to_numpy(dtype=np.int64)]
    hits["class"] = class_arr[hits["seq_index"].to_numpy(dtype=np.int64)]
    hits = hits.sort_values(["motif", "seq_index", "start"], kind="stable").reset_index(drop=True)
    return hits[HIT_COLUMNS]


def embedded_hits(
    embeddings: pd.DataFrame, ids: Sequence[str] | np.ndarray, classes: Sequence[str] | np.ndarray
) -> pd.DataFrame:
    """Ground-truth embedded motif instances of the sequences ``ids`` as a hit table.

    Parameters
    ----------
    embeddings
        Dataset ground truth: ``id, motif, start, end, strand, log_odds`` (start 0-based, end exclusive).
        Rows of other sequences are dropped.
    ids, classes
        ``(N,)`` sequence ids and classes in the order of the attribution arrays.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HIT_COLUMNS` with ``source == "embedded"``.
    """
    index = {sid: k for k, sid in enumerate(ids)}
    class_arr = np.asarray(classes)
    emb = embeddings[embeddings["id"].isin(index)].copy()
    emb["seq_index"] = emb["id"].map(index).astype(np.int64)
    emb["class"] = class_arr[emb["seq_index"].to_numpy(dtype=np.int64)]
    emb["source"] = "embedded"
    if "strand" not in emb:
        emb["strand"] = "+"
    if "log_odds" not in emb:
        emb["log_odds"] = np.nan
    emb = emb.sort_values(["motif", "seq_index", "start"], kind="stable").reset_index(drop=True)
    return emb[HIT_COLUMNS]


def mark_embedded(hits: pd.DataFrame, embeddings_hits: pd.DataFrame) -> np.ndarray:
    """Whether each hit overlaps a ground-truth instance of the same motif in the same sequence."""
    out = np.zeros(len(hits), dtype=bool)
    if len(hits) == 0 or len(embeddings_hits) == 0:
        return out
    truth = embeddings_hits.groupby(["seq_index", "motif"])
    spans = {key: g[["start", "end"]].to_numpy() for key, g in truth}
    for k, (s, m, a, b) in enumerate(hits[["seq_index", "motif", "start", "end"]].itertuples(index=False)):
        windows = spans.get((s, m))
        if windows is not None:
            out[k] = bool(np.any((windows[:, 0] < b) & (windows[:, 1] > a)))
    return out


def window_sums(projected: np.ndarray, seq_index: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Sum of per-base scores over windows, for every task.

    Parameters
    ----------
    projected
        ``(N, T, L)`` per-base scores.
    seq_index, start, end
        ``(H,)`` window of each hit, ``[start, end)`` clipped to ``[0, L]``.

    Returns
    -------
    numpy.ndarray
        ``(H, T)`` float64 sums.
    """
    projected = np.asarray(projected, dtype=np.float64)
    n, t, length = projected.shape
    cum = np.zeros((n, t, length + 1))
    np.cumsum(projected, axis=2, out=cum[:, :, 1:])
    seq_index = np.asarray(seq_index, dtype=np.int64)
    a = np.clip(np.asarray(start, dtype=np.int64), 0, length)
    b = np.clip(np.asarray(end, dtype=np.int64), 0, length)
    return cum[seq_index, :, b] - cum[seq_index, :, a]


def hit_importance(hits: pd.DataFrame, projected: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Importance of every hit for every task under every method.

    Parameters
    ----------
    hits
        Hit table (:data:`HIT_COLUMNS`).
    projected
        method label -> ``(N, T, L)`` per-base scores (same sequence order as ``hits.seq_index``).

    Returns
    -------
    pandas.DataFrame
        ``hits`` repeated once per method with a ``method`` column and ``importance_t<k>`` for each task k.
    """
    frames = []
    for label, scores in projected.items():
        sums = window_sums(scores, hits["seq_index"].to_numpy(), hits["start"].to_numpy(), hits["end"].to_numpy())
        frame = hits.copy()
        frame.insert(0, "method", label)
        for k in range(sums.shape[1]):
            frame[f"importance_t{k}"] = sums[:, k]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def importance_columns(table: pd.DataFrame) -> list[str]:
    """The ``importance_t<k>`` columns of a hit-importance table, in task order."""
    cols = [c for c in table.columns if c.startswith("importance_t")]
    return sorted(cols, key=lambda c: int(c[len("importance_t"):]))


# --------------------------------------------------------------------------------------------- Fig. 5b
def false_negative_rates(
    importance: pd.DataFrame, task: int = 0, min_log_odds: float = 7.0, seq_class: str = "both",
    source: str = "scan",
) -> pd.DataFrame:
    """Fig. 5b: the share of strong hits that a method scores as unimportant for ``task``.

    Among hits of ``source`` with ``log_odds >= min_log_odds`` in sequences of class ``seq_class``, the
    fraction whose importance for ``task`` is ``<= 0``, per method and motif.

    Returns
    -------
    pandas.DataFrame
        ``method, motif, n_hits, false_negative_rate`` (NaN rate where there are no hits), in the order
        methods and motifs first appear.
    """
    col = f"importance_t{task}"
    sel = importance[(importance["source"] == source) & (importance["class"] == seq_class)
                     & (importance["log_odds"] >= min_log_odds)]
    rows = []
    for method in dict.fromkeys(importance["method"]):
        for motif in dict.fromkeys(importance["motif"]):
            v = sel.loc[(sel["method"] == method) & (sel["motif"] == motif), col].to_numpy()
            rate = float(np.mean(v <= 0)) if len(v) else math.nan
            rows.append({"method": method, "motif": motif, "n_hits": len(v), "false_negative_rate": rate})
    return pd.DataFrame(rows, columns=["method", "motif", "n_hits", "false_negative_rate"])


# --------------------------------------------------------------------------------------------- per-base truth
def motif_masks(embeddings_hits: pd.DataFrame, n: int, length: int) -> dict[str, np.ndarray]:
    """Boolean ``(N, L)`` masks of the ground-truth positions of each motif."""
    masks: dict[str, np.ndarray] = {}
    for motif, group in embeddings_hits.groupby("motif", sort=False):
        mask = np.zeros((n, length), dtype=bool)
        for s, a, b in group[["seq_index", "start", "end"]].itertuples(index=False):
            mask[s, max(a, 0):min(b, length)] = True
        masks[str(motif)] = mask
    return masks


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); NaN if one class is empty."""
    from scipy.stats import rankdata

    scores = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(positive, dtype=bool).ravel()
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (scikit-learn's step rule)."""
    from sklearn.metrics import average_precision_score

    positive = np.asarray(positive, dtype=bool).ravel()
    if positive.sum() == 0:
        return math.nan
    return float(average_precision_score(positive, np.asarray(scores, dtype=np.float64).ravel()))


def per_base_metrics(
    projected: Mapping[str, np.ndarray],
    masks: Mapping[str, np.ndarray],
    relevant: Mapping[int, Sequence[str]] | None = None,
    irrelevant: Mapping[int, str] | None = None,
) -> pd.DataFrame:
    """Ground-truth metrics of per-base scores, per method and task.

    For task ``t`` the positives are the positions of its relevant motifs (in every sequence), the
    negatives every other position, including those of the irrelevant motif.

    Parameters
    ----------
    projected
        method label -> ``(N, T, L)`` per-base scores.
    masks
        motif -> ``(N, L)`` ground-truth positions (:func:`motif_masks`).
    relevant, irrelevant
        Task relevance; default :data:`DEFAULT_RELEVANT` and :data:`DEFAULT_IRRELEVANT`.

    Returns
    -------
    pandas.DataFrame
        ``method, task, auroc, auprc, relevant_mean, irrelevant_motif, irrelevant_mean, leakage`` where
        ``relevant_mean`` / ``irrelevant_mean`` are mean per-base scores on the relevant / irrelevant
        motif positions and ``leakage = irrelevant_mean / relevant_mean`` (scale-free, so methods with
        different score scales compare; NaN for a task without an irrelevant motif).
    """
    relevant = DEFAULT_RELEVANT if relevant is None else relevant
    irrelevant = DEFAULT_IRRELEVANT if irrelevant is None else irrelevant
    rows = []
    for label, scores in projected.items():
        scores = np.asarray(scores, dtype=np.float64)
        shape = (scores.shape[0], scores.shape[2])
        for t in range(scores.shape[1]):
            motifs = [m for m in relevant.get(t, ()) if m in masks]
            pos = np.zeros(shape, dtype=bool)
            for m in motifs:
                pos |= masks[m]
            s = scores[:, t, :]
            rel_mean = float(s[pos].mean()) if pos.any() else math.nan
            other = irrelevant.get(t)
            if other is not None and other in masks and masks[other].any():
                irr_mean = float(s[masks[other]].mean())
                leak = irr_mean / rel_mean if rel_mean not in (0.0,) and not math.isnan(rel_mean) else math.nan
            else:
                irr_mean, leak = math.nan, math.nan
            rows.append({
                "method": label, "task": t,
                "auroc": roc_auc(s, pos), "auprc": average_precision(s, pos),
                "relevant_mean": rel_mean, "irrelevant_motif": other or "",
                "irrelevant_mean": irr_mean, "leakage": leak,
            })
    return pd.DataFrame(rows)


def spearman_table(
    importance: pd.DataFrame, relevant: Mapping[int, Sequence[str]] | None = None, source: str = "scan"
) -> pd.DataFrame:
    """Spearman correlation of hit importance with hit log-odds, per method, task and motif.

    Returns
    -------
    pandas.DataFrame
        ``method, task, motif, relevant, n_hits, spearman`` (over every hit of ``source``).
    """
    from scipy.stats import spearmanr

    relevant = DEFAULT_RELEVANT if relevant is None else relevant
    sel = importance[importance["source"] == source]
    rows = []
    for (method, motif), group in sel.groupby(["method", "motif"], sort=False):
        x = group["log_odds"].to_numpy(dtype=np.float64)
        for col in importance_columns(importance):
            t = int(col[len("importance_t"):])
            y = group[col].to_numpy(dtype=np.float64)
            rho = float(spearmanr(x, y).statistic) if len(x) > 2 and np.ptp(y) > 0 and np.ptp(x) > 0 else math.nan
            rows.append({"method": method, "task": t, "motif": motif, "relevant": motif in relevant.get(t, ()),
                         "n_hits": len(x), "spearman": rho})
    return pd.DataFrame(rows, columns=["method", "task", "motif", "relevant", "n_hits", "spearman"])


def metrics_table(per_base: pd.DataFrame, spearman: pd.DataFrame) -> pd.DataFrame:
    """Per-base metrics joined with the mean Spearman rho over each task's relevant motifs."""
    rel = spearman[spearman["relevant"]].groupby(["method", "task"], sort=False)["spearman"].mean()
    out = per_base.merge(rel.rename("spearman").reset_index(), on=["method", "task"], how="left")
    return out


def summarise_models(metrics: Sequence[pd.DataFrame], keys: Sequence[str] = ("method", "task")) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1) and count of every numeric metric over several models.

    Returns
    -------
    pandas.DataFrame
        ``keys`` then ``<metric>_mean``, ``<metric>_sd`` per numeric column and ``n_models``.
    """
    stacked = pd.concat(list(metrics), ignore_index=True)
    numeric = [c for c in stacked.columns if c not in keys and pd.api.types.is_numeric_dtype(stacked[c])]
    grouped = stacked.groupby(list(keys), sort=False)[numeric]
    mean = grouped.mean().add_suffix("_mean")
    sd = grouped.std(ddof=1).add_suffix("_sd")
    out = pd.concat([mean, sd], axis=1)
    out = out[[c for m in numeric for c in (f"{m}_mean", f"{m}_sd")]]
    out["n_models"] = stacked.groupby(list(keys), sort=False).size()
    return out.reset_index()


def recovery_ranking(recovery: pd.DataFrame) -> pd.DataFrame:
    """Methods ranked by how well their scores recover the embedded motifs (a motif recovery table in).

    Returns
    -------
    pandas.DataFrame
        ``method, instance_f1, instance_recall, instance_precision, seqlet_f1, rank``: each the mean over
        tasks (a task without calls counts as F1 0: nothing recovered); rank 1 has the highest instance F1,
        ties broken by seqlet F1.
    """
    rows = []
    for method, table in recovery.groupby("method", sort=False):
        row: dict[str, Any] = {"method": method}
        for kind, prefix in (("instances", "instance"), ("seqlets", "seqlet")):
            part = table[table["kind"] == kind]
            row[f"{prefix}_f1"] = float(part["f1"].fillna(0.0).mean()) if len(part) else math.nan
            if kind == "instances":
                row["instance_recall"] = float(part["recall"].fillna(0.0).mean()) if len(part) else math.nan
                row["instance_precision"] = float(part["precision"].mean()) if len(part) else math.nan
        rows.append(row)
    out = pd.DataFrame(rows, columns=["method", "instance_f1", "instance_recall", "instance_precision", "seqlet_f1"])
    out = out.sort_values(["instance_f1", "seqlet_f1"], ascending=False, kind="stable").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out


# --------------------------------------------------------------------------------------------- claims
def _rate(fig5b: pd.DataFrame, method: str, motif: str) -> float:
    v = fig5b.loc[(fig5b["method"] == method) & (fig5b["motif"] == motif), "false_negative_rate"]
    return float(v.iloc[0]) if len(v) else math.nan


def _abs_leak(metrics: pd.DataFrame, method: str) -> float:
    v = metrics.loc[(metrics["method"] == method) & metrics["leakage"].notna(), "leakage"]
    return float(np.abs(v).mean()) if len(v) else math.nan


def _auroc(metrics: pd.DataFrame, method: str) -> float:
    v = metrics.loc[metrics["method"] == method, "auroc"]
    return float(v.mean()) if len(v) else math.nan


def evaluate_claims(fig5b: pd.DataFrame, metrics: pd.DataFrame, motif: str = TAL1) -> pd.DataFrame:
    """Check the paper's claims on this run's numbers.

    Claims whose methods are missing from the run are left out. ``holds`` is a strict comparison
    (``a < b``), so equal numbers (e.g. 0% vs 0%) do not hold.

    Parameters
    ----------
    fig5b
        :func:`false_negative_rates` output.
    metrics
        :func:`per_base_metrics` (or :func:`metrics_table`) output.
    motif
        Motif of the false-negative claims (the paper printed TAL1).

    Returns
    -------
    pandas.DataFrame
        ``claim, expected, measured, holds``.
    """
    name = MOTIF_LABELS.get(motif, motif)
    in_fig5b, in_metrics = set(fig5b["method"]), set(metrics["method"])
    rows = []

    def fmt(v: float) -> str:
        return "n/a" if math.isnan(v) else f"{100 * v:.1f}%"

    for better in ("deeplift_reveal_cancel", "deeplift_genomics_default"):
        for worse in ("deeplift_rescale", "gradient_x_input"):
            if better in in_fig5b and worse in in_fig5b:
                a, b = _rate(fig5b, better, motif), _rate(fig5b, worse, motif)
                rows.append({
                    "claim": f"{display_name(better)} misses fewer {name} hits on task 0 than {display_name(worse)}",
                    "expected": f"{fmt(PAPER_FIG5B_TAL1.get(better, math.nan))} < "
                                f"{fmt(PAPER_FIG5B_TAL1.get(worse, math.nan))} (paper, TAL1)",
                    "measured": f"{fmt(a)} vs {fmt(b)}",
                    "holds": bool(a < b),
                })
    if "guided_backprop_x_input" in in_metrics:
        gb = _abs_leak(metrics, "guided_backprop_x_input")
        for dl in DEEPLIFT_BACKGROUND:
            if dl in in_metrics:
                v = _abs_leak(metrics, dl)
                rows.append({
                    "claim": f"{display_name(dl)} leaks less onto the irrelevant motif (tasks 1-2) than "
                             "guided backprop × input",
                    "expected": "smaller |irrelevant / relevant mean score|",
                    "measured": f"{v:.3f} vs {gb:.3f}",
                    "holds": bool(v < gb),
                })
    if {"deeplift_genomics_default", "gradient_x_input"} <= in_metrics:
        a, b = _auroc(metrics, "deeplift_genomics_default"), _auroc(metrics, "gradient_x_input")
        rows.append({
            "claim": "DeepLIFT genomics default finds the relevant motifs' bases at least as well as grad × input",
            "expected": "mean per-base auROC over tasks >= grad × input's",
            "measured": f"{a:.3f} vs {b:.3f}",
            "holds": bool(a >= b),
        })
    return pd.DataFrame(rows, columns=["claim", "expected", "measured", "holds"])
