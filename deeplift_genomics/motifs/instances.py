"""Instances: where each pattern occurs in every scored record.

A pattern of width ``W`` is scanned over every window ``[i, i + W)`` of every record, on both strands, as
hit callers such as Fi-NeMo do, with three tests that must all pass:

1. **Contribution**: the window's summed per-base score (sign-adjusted for negative patterns) reaches
   the threshold of the seqlet null at width ``W`` (permutation within records, FDR ``fdr``; see
   :mod:`.seqlets`), so an instance carries significantly more contribution than chance placement.
2. **Shape**: the cosine similarity of the window's contributions ``(4, W)`` with the pattern's CWM is at
   least ``min_similarity``.
3. **Sequence**: the window's log-odds under the pattern's PFM (pseudocount ``pseudocount``, against the
   scored sequences' base composition) has an exact p-value (:func:`logodds_pvalues`, the score's
   distribution under independent background bases) of at most ``max_pvalue``.

Overlapping calls are resolved greedily within a task and sign: the call with the largest projection of
its contributions on the unit CWM first; a later call overlapping an accepted one by more than half its
width is dropped.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .inputs import ScoreTracks
from .patterns import Pattern, revcomp
from .seqlets import fdr_threshold, null_window_sums, window_starts_valid, window_sums

INSTANCE_COLUMNS = ["instance", "task", "sign", "pattern", "record_index", "record", "start", "end", "strand",
                    "contribution", "similarity", "log_odds", "p_value"]


@dataclasses.dataclass(frozen=True)
class InstanceSettings:
    """Thresholds of instance calls (see the module docstring)."""

    fdr: float = 0.05
    min_similarity: float = 0.6
    max_pvalue: float = 0.01
    pseudocount: float = 0.01
    min_null_windows: int = 200_000


def base_composition(onehot: np.ndarray) -> np.ndarray:
    """A, C, G, T frequencies of ``(4, B)`` one-hot columns (uniform if there are none)."""
    counts = np.asarray(onehot).sum(axis=1, dtype=np.float64)  # no float64 copy of the whole one-hot
    return counts / counts.sum() if counts.sum() > 0 else np.full(4, 0.25)


def logodds_matrix(pfm: np.ndarray, background: np.ndarray, pseudocount: float) -> np.ndarray:
    """``(4, W)`` ``ln p'(b, w) - ln q(b)`` with ``p' = p (1 - pc) + pc / 4``."""
    p = np.asarray(pfm, dtype=np.float64) * (1 - pseudocount) + pseudocount / 4
    return np.log(p) - np.log(np.asarray(background, dtype=np.float64))[:, None]


def logodds_pvalues(matrix: np.ndarray, background: np.ndarray, scores: np.ndarray,
                    resolution: float = 1e-3) -> np.ndarray:
    """P(S >= score) for the log-odds sum ``S`` of a random sequence with independent background bases.

    The distribution is exact up to rounding each matrix entry to ``resolution`` (dynamic programming
    over positions, as FIMO does); scores within the rounding error of a threshold count as reaching it.

    Parameters
    ----------
    matrix
        ``(4, W)`` log-odds.
    background
        A, C, G, T probabilities.
    scores
        Observed scores.
    """
    ints = np.round(np.asarray(matrix, dtype=np.float64) / resolution).astype(np.int64)
    lo = ints.min(axis=0)
    dist = np.ones(1)
    for w in range(ints.shape[1]):
        col = ints[:, w] - lo[w]
        new = np.zeros(len(dist) + int(col.max()))
        for b in range(4):
            new[col[b]:col[b] + len(dist)] += background[b] * dist
        dist = new
    tail = np.cumsum(dist[::-1])[::-1]
    # Each entry is rounded by at most half a unit, so a score may sit W/2 units off its rounded sum:
    # count those too (the p-value errs on the large side, never the small one).
    slack = 0.5 * ints.shape[1]
    idx = np.ceil(np.asarray(scores, dtype=np.float64) / resolution - slack).astype(np.int64) - int(lo.sum())
    out = np.ones(len(idx))
    inside = idx >= 0
    out[inside] = np.where(idx[inside] < len(tail), tail[np.minimum(idx[inside], len(tail) - 1)], 0.0)
    return np.clip(out, 0.0, 1.0)


def _correlate(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``out[i] = sum_{c,w} x[c, i + w] kernel[c, w]`` for every ``i`` (0 past the end). ``x``: (4, B)."""
    n = x.shape[1]
    k = kernel.shape[1]
    out = np.zeros(n)
    if n < k:
        return out
    for w in range(k):
        out[: n - k + 1] += kernel[:, w] @ x[:, w:n - k + 1 + w]
    return out


def scan_pattern(contrib: np.ndarray, onehot: np.ndarray, cwm: np.ndarray, logodds: np.ndarray,
                 ) -> dict[str, np.ndarray]:
    """Scores of every window of width ``W`` on both strands.

    Parameters
    ----------
    contrib
        ``(4, B)`` sign-adjusted contributions.
    onehot
        ``(4, B)`` one-hot sequence.
    cwm
        ``(4, W)`` sign-adjusted CWM.
    logodds
        ``(4, W)`` PFM log-odds.

    Returns
    -------
    dict
        ``similarity``, ``projection`` (contributions on the unit CWM), ``log_odds`` and ``minus``
        (bool), each ``(B,)``, for the better strand (by similarity) at each window start.
    """
    k = cwm.shape[1]
    unit = np.asarray(cwm, dtype=np.float64) / max(float(np.linalg.norm(cwm)), 1e-12)
    sq = window_sums((np.asarray(contrib, dtype=np.float64) ** 2).sum(axis=0), k)
    norm = np.sqrt(np.maximum(sq, 1e-24))
    x = np.asarray(contrib, dtype=np.float64)
    oh = np.asarray(onehot, dtype=np.float64)
    proj_p = _correlate(x, unit)
    proj_m = _correlate(x, revcomp(unit))
    lo_p = _correlate(oh, logodds)
    lo_m = _correlate(oh, revcomp(logodds))
    minus = proj_m > proj_p
    proj = np.where(minus, proj_m, proj_p)
    return {"similarity": proj / norm, "projection": proj, "log_odds": np.where(minus, lo_m, lo_p),
            "minus": minus}


def call_instances(tracks: ScoreTracks, task: int, patterns: Sequence[Pattern],
                   settings: InstanceSettings = InstanceSettings(), seed: int = 0) -> pd.DataFrame:
    """Instances of one task's patterns (all of one sign or mixed) in every record.

    Returns
    -------
    pandas.DataFrame
        :data:`INSTANCE_COLUMNS`; ``start``/``end`` in record coordinates (0-based, end exclusive),
        ``contribution`` the window's summed per-base score (signed), ``similarity`` the cosine with the
        CWM, ``log_odds``/``p_value`` of the sequence under the PFM. Sorted by record and start.
    """
    task_name = tracks.task_names[task]
    bg = base_composition(tracks.onehot)
    proj_track = np.asarray(tracks.projected[task], dtype=np.float64)
    rng = np.random.default_rng(seed)
    frames = []
    for sign, s in (("pos", 1.0), ("neg", -1.0)):
        pats = [p for p in patterns if p.sign == sign]
        if not pats:
            continue
        contrib = tracks.hypothetical[task] * tracks.onehot * s
        per_width: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}  # valid starts, sums, threshold
        cands = []
        for p in pats:
            k = p.width
            if k not in per_width:
                valid = window_starts_valid(tracks.offsets, k)
                sums = s * window_sums(proj_track, k)
                null = s * null_window_sums(proj_track, tracks.offsets, k, valid, rng, settings.min_null_windows)
                per_width[k] = valid, sums, fdr_threshold(sums[valid], null, settings.fdr)
            valid, sums, thr = per_width[k]
            if not math.isfinite(thr):
                continue
            lo_matrix = logodds_matrix(p.pfm, bg, settings.pseudocount)
            sc = scan_pattern(contrib, tracks.onehot, p.cwm * s, lo_matrix)
            ok = valid & (sums >= thr) & (sc["similarity"] >= settings.min_similarity)
            idx = np.flatnonzero(ok)
            if len(idx) == 0:
                continue
            minus = sc["minus"][idx]
            lo_plus = sc["log_odds"][idx]
            pvals = np.empty(len(idx))
            for strand_minus, matrix in ((False, lo_matrix), (True, revcomp(lo_matrix))):
                sel = minus == strand_minus
                if sel.any():
                    pvals[sel] = logodds_pvalues(matrix, bg, lo_plus[sel])
            keep = pvals <= settings.max_pvalue
            idx = idx[keep]
            cands.append(pd.DataFrame({
                "pattern": p.name, "start_g": idx, "width": k, "strand": np.where(minus[keep], "-", "+"),
                "contribution": s * sums[idx], "similarity": sc["similarity"][idx],
                "log_odds": lo_plus[keep], "p_value": pvals[keep], "rank_key": sc["projection"][idx],
            }))
        if not cands:
            continue
        allc = pd.concat(cands, ignore_index=True)
        allc = allc.sort_values(["rank_key", "start_g"], ascending=[False, True], kind="stable")
        occupied = np.zeros(tracks.n_bases + 1, dtype=np.int32)
        keep_rows = []
        for row, a, k in zip(allc.index.to_numpy(), allc["start_g"].to_numpy(), allc["width"].to_numpy()):
            if 2 * int(occupied[a:a + k].sum()) <= k:
                keep_rows.append(row)
                occupied[a:a + k] = 1
        acc = allc.loc[keep_rows]
        rec = tracks.record_of(acc["start_g"].to_numpy())
        start = acc["start_g"].to_numpy() - tracks.offsets[rec]
        frames.append(pd.DataFrame({
            "task": task_name, "sign": sign, "pattern": acc["pattern"].to_numpy(), "record_index": rec,
            "record": tracks.names[rec], "start": start, "end": start + acc["width"].to_numpy(),
            "strand": acc["strand"].to_numpy(), "contribution": acc["contribution"].to_numpy(),
            "similarity": acc["similarity"].to_numpy(), "log_odds": acc["log_odds"].to_numpy(),
            "p_value": acc["p_value"].to_numpy()}))
    if not frames:
        out = pd.DataFrame({c: pd.Series(dtype=object) for c in INSTANCE_COLUMNS})
        return out
    out = pd.concat(frames, ignore_index=True).sort_values(["record_index", "start", "pattern"], kind="stable")
    out.insert(0, "instance", [f"{task_name}.{k}" for k in range(len(out))])
    return out[INSTANCE_COLUMNS].reset_index(drop=True)


def contribution_share(tracks: ScoreTracks, task: int, instances: pd.DataFrame) -> dict[str, float]:
    """Each pattern's share of the task's total contribution of its sign.

    The share of pattern ``p`` (sign ``s``) is ``sum over its instances of s x contribution`` divided by
    ``sum over all bases of max(s x projected, 0)``.
    """
    proj = np.asarray(tracks.projected[task], dtype=np.float64)
    totals = {"pos": float(np.clip(proj, 0, None).sum()), "neg": float(np.clip(-proj, 0, None).sum())}
    return shares_of(instances, totals)


def shares_of(instances: pd.DataFrame, totals: dict[str, float]) -> dict[str, float]:
    """Each pattern's share of its task's total contribution of its sign, given those totals
    (``{"pos": ..., "neg": ...}``; a streamed run adds them up block by block)."""
    out: dict[str, float] = {}
    for (pattern, sign), g in instances.groupby(["pattern", "sign"], sort=False):
        s = 1.0 if sign == "pos" else -1.0
        total = totals[str(sign)]
        out[str(pattern)] = float((s * g["contribution"]).sum() / total) if total > 0 else math.nan
    return out
