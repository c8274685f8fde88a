"""Seqlets: stretches of significantly high (or low) contribution, called per task and sign.

The statistic of a window ``[i, i + width)`` is the sum of its per-base scores (``projected``). The null
hypothesis is that a record's per-base scores carry no positional clustering: the same scores, permuted
at random within each record (:func:`null_window_sums`). A window is significant when its sum exceeds a
threshold chosen so that the estimated false-discovery rate among windows at or above it,

    FDR(tau) = P_null(S >= tau) / P_observed(S >= tau),

is at most ``fdr`` for ``tau`` and every higher threshold (Benjamini-Hochberg with an empirical null,
:func:`fdr_threshold`). Negative seqlets use the same rule on ``-S``. Significant windows become seqlets
greedily, highest first, each suppressing the windows that overlap its core (:func:`greedy_windows`);
the seqlet is the core plus ``flank`` bases each side, clipped to its record.

Everything works on the concatenated base axis of :class:`~deeplift_genomics.motifs.inputs.ScoreTracks`,
where a window never crosses a record boundary.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

SEQLET_COLUMNS = ["seqlet", "record_index", "record", "start", "end", "core_start", "core_end", "task",
                  "sign", "score"]


@dataclasses.dataclass(frozen=True)
class SeqletSettings:
    """How seqlets are called.

    Attributes
    ----------
    width
        Core window width (bases) whose summed score is tested.
    flank
        Bases added each side of a core to make the seqlet.
    fdr
        Target false-discovery rate of windows against the permutation null.
    min_null_windows
        The null is drawn from enough permutations to give at least this many windows (at most 20).
    """

    width: int = 15
    flank: int = 5
    fdr: float = 0.05
    min_null_windows: int = 200_000


def window_starts_valid(offsets: np.ndarray, width: int) -> np.ndarray:
    """``(B,)`` bool: whether the window ``[i, i + width)`` starting at base ``i`` lies in one record."""
    offsets = np.asarray(offsets, dtype=np.int64)
    ends = np.repeat(offsets[1:], np.diff(offsets))
    return np.arange(int(offsets[-1]), dtype=np.int64) + width <= ends


def window_sums(track: np.ndarray, width: int) -> np.ndarray:
    """``(B,)`` float64 sums of ``track[i:i + width]`` (0 where the window runs past the end).

    Each sum adds its own ``width`` values left to right, so it is the same bit for bit whatever else the
    array holds: records read in chunks give the sums of records read at once (a running prefix sum would
    not, and loses precision over a genome-long axis).
    """
    track = np.asarray(track, dtype=np.float64)
    n = len(track)
    out = np.zeros(n)
    if n >= width:
        head = out[: n - width + 1]
        for k in range(width):
            head += track[k: n - width + 1 + k]
    return out


def permute_within_records(track: np.ndarray, offsets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``track`` with its values permuted uniformly at random inside each record."""
    offsets = np.asarray(offsets, dtype=np.int64)
    rec = np.repeat(np.arange(len(offsets) - 1, dtype=np.float64), np.diff(offsets))
    order = np.argsort(rec + rng.random(len(rec)), kind="stable")  # the fraction shuffles within a record
    return np.asarray(track)[order]


def null_window_sums(track: np.ndarray, offsets: np.ndarray, width: int, valid: np.ndarray,
                     rng: np.random.Generator, min_windows: int = 200_000, max_rounds: int = 20) -> np.ndarray:
    """Window sums of ``track`` permuted within records, over enough rounds to give ``min_windows``."""
    n_valid = int(valid.sum())
    if n_valid == 0:
        return np.zeros(0)
    rounds = int(min(max_rounds, max(1, math.ceil(min_windows / n_valid))))
    return np.concatenate([window_sums(permute_within_records(track, offsets, rng), width)[valid]
                           for _ in range(rounds)])


def fdr_threshold(observed: np.ndarray, null: np.ndarray, fdr: float) -> float:
    """Smallest positive threshold whose empirical-null FDR (and that of every higher one) is <= ``fdr``.

    Parameters
    ----------
    observed
        Window statistics of the data (high = interesting).
    null
        Window statistics under the null.
    fdr
        Target false-discovery rate.

    Returns
    -------
    float
        The threshold; ``inf`` when no window qualifies.
    """
    obs = np.sort(np.asarray(observed, dtype=np.float64))[::-1]
    nul = np.sort(np.asarray(null, dtype=np.float64))
    if len(obs) == 0 or len(nul) == 0:
        return math.inf
    n_null_ge = len(nul) - np.searchsorted(nul, obs, side="left")
    est = (n_null_ge / len(nul)) / (np.arange(1, len(obs) + 1) / len(obs))
    q = np.minimum.accumulate(est[::-1])[::-1]
    ok = np.flatnonzero((q <= fdr) & (obs > 0))
    return float(obs[ok[-1]]) if len(ok) else math.inf


def greedy_windows(sums: np.ndarray, candidates: np.ndarray, width: int) -> np.ndarray:
    """Pick windows highest first; each one blocks every window whose core overlaps its own.

    Parameters
    ----------
    sums
        ``(B,)`` window statistics.
    candidates
        Indices of the windows that may be picked (significant ones, valid ones).
    width
        Core width.

    Returns
    -------
    numpy.ndarray
        Picked window starts, highest statistic first.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    order = candidates[np.argsort(-sums[candidates], kind="stable")]
    blocked = np.zeros(len(sums) + width, dtype=bool)
    picked = []
    for i in order.tolist():
        if not blocked[i]:
            picked.append(i)
            blocked[max(i - width + 1, 0): i + width] = True
    return np.asarray(picked, dtype=np.int64)


def call_seqlets(projected: np.ndarray, offsets: np.ndarray, names: np.ndarray, task: str,
                 settings: SeqletSettings = SeqletSettings(), seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Positive and negative seqlets of one task.

    Parameters
    ----------
    projected
        ``(B,)`` per-base scores of the task on the concatenated axis.
    offsets
        ``(N + 1,)`` record offsets.
    names
        ``(N,)`` record names.
    task
        Task name (recorded in the table).
    settings
        Window, flank and FDR.
    seed
        Seed of the permutation null.

    Returns
    -------
    seqlets : pandas.DataFrame
        :data:`SEQLET_COLUMNS`; ``start/end`` (seqlet) and ``core_start/core_end`` are 0-based, end
        exclusive, in record coordinates; ``sign`` is ``pos`` or ``neg``; ``score`` the core's summed
        per-base score (negative for ``neg``). Sorted by sign, then by |score| descending.
    null : dict
        ``threshold_pos``, ``threshold_neg`` (of the core sum; ``inf`` if none), ``n_windows``,
        ``n_null_windows``, ``fdr``, ``width``, ``flank``, and ``max_pos``/``max_neg``,
        ``null_max_pos``/``null_max_neg``: the largest observed and permuted window sums of each sign.
    """
    w, flank = int(settings.width), int(settings.flank)
    offsets = np.asarray(offsets, dtype=np.int64)
    track = np.nan_to_num(np.asarray(projected, dtype=np.float64))
    valid = window_starts_valid(offsets, w)
    sums = window_sums(track, w)
    rng = np.random.default_rng(seed)
    null = null_window_sums(track, offsets, w, valid, rng, settings.min_null_windows)
    obs = sums[valid]
    info: dict = {"n_windows": int(valid.sum()), "n_null_windows": int(len(null)), "fdr": settings.fdr,
                  "width": w, "flank": flank}
    # the best observed and permuted windows, which say how far from the threshold a task without seqlets is
    for sign, s in (("pos", 1.0), ("neg", -1.0)):
        info[f"max_{sign}"] = float((s * obs).max()) if len(obs) else None
        info[f"null_max_{sign}"] = float((s * null).max()) if len(null) else None
    frames = []
    for sign, s in (("pos", 1.0), ("neg", -1.0)):
        thr = fdr_threshold(s * obs, s * null, settings.fdr)
        info[f"threshold_{sign}"] = thr
        if not math.isfinite(thr):
            continue
        cand = np.flatnonzero(valid & (s * sums >= thr))
        starts = greedy_windows(s * sums, cand, w)
        rec = np.searchsorted(offsets, starts, side="right") - 1
        lo = offsets[rec]
        hi = offsets[rec + 1]
        frames.append(pd.DataFrame({
            "record_index": rec, "record": np.asarray(names)[rec],
            "start": np.maximum(starts - flank, lo) - lo, "end": np.minimum(starts + w + flank, hi) - lo,
            "core_start": starts - lo, "core_end": starts + w - lo, "task": task, "sign": sign,
            "score": sums[starts],
        }))
    table = (pd.concat(frames, ignore_index=True) if frames
             else pd.DataFrame({c: pd.Series(dtype=object) for c in SEQLET_COLUMNS if c != "seqlet"}))
    rank = table.groupby("sign", sort=False).cumcount().to_numpy() if len(table) else np.zeros(0, dtype=int)
    table.insert(0, "seqlet", [f"{task}.{sg}.{k}" for sg, k in zip(table["sign"], rank)])
    for col in ("record_index", "start", "end", "core_start", "core_end"):
        table[col] = table[col].astype(np.int64)
    table["score"] = table["score"].astype(np.float64)
    return table[SEQLET_COLUMNS], info
