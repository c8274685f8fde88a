"""Recovery of known motif positions (a simulation's embedded instances) by seqlets and instance calls.

A call (a seqlet core or an instance) *finds* a true instance when they lie in the same record and the
overlap covers at least ``min_overlap`` of the shorter of the two (a 7 bp pattern core inside a 16 bp
motif finds it). Precision is the share of calls that
find a true instance of a motif relevant to the call's task; recall the share of relevant true instances
found by at least one call of that task. With ``match_motif`` a call counts only for the true motif it was
matched to (its ``motif`` column, e.g. the pattern's best known match).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .patterns import discover_patterns
from .run import MotifSettings, call_task_hits
from .seqlets import call_seqlets

if TYPE_CHECKING:
    from .inputs import ScoreTracks
    from .run import MotifSettings

RECOVERY_COLUMNS = ["task", "kind", "n_calls", "n_true", "true_positive_calls", "found_true", "precision",
                    "recall", "f1"]


def overlap_matrix(calls: pd.DataFrame, truth: pd.DataFrame, min_overlap: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Which calls find which true instances.

    Parameters
    ----------
    calls
        Rows with ``record, start, end`` (and ``motif`` when matching motifs).
    truth
        Rows with ``record, start, end, motif``.
    min_overlap
        Share of the shorter of call and true instance that the overlap must cover.

    Returns
    -------
    call_hits : numpy.ndarray
        ``(len(calls),)`` bool: the call finds some true instance.
    truth_found : numpy.ndarray
        ``(len(truth),)`` bool: some call finds the instance.
    """
    call_hits = np.zeros(len(calls), dtype=bool)
    truth_found = np.zeros(len(truth), dtype=bool)
    if len(calls) == 0 or len(truth) == 0:
        return call_hits, truth_found
    match = "motif" in calls.columns
    t_groups = {r: g for r, g in truth.reset_index(drop=True).groupby("record", sort=False)}
    calls = calls.reset_index(drop=True)
    for rec, cg in calls.groupby("record", sort=False):
        tg = t_groups.get(rec)
        if tg is None:
            continue
        ca, cb = cg["start"].to_numpy()[:, None], cg["end"].to_numpy()[:, None]
        ta, tb = tg["start"].to_numpy()[None, :], tg["end"].to_numpy()[None, :]
        cover = np.clip(np.minimum(cb, tb) - np.maximum(ca, ta), 0, None)
        ok = cover >= min_overlap * np.minimum(cb - ca, tb - ta)
        if match:
            ok &= cg["motif"].to_numpy()[:, None] == tg["motif"].to_numpy()[None, :]
        call_hits[cg.index.to_numpy()] = ok.any(axis=1)
        truth_found[tg.index.to_numpy()] |= ok.any(axis=0)
    return call_hits, truth_found


def _prf(call_hits: np.ndarray, truth_found: np.ndarray) -> dict:
    n_calls, n_true = len(call_hits), len(truth_found)
    p = float(call_hits.mean()) if n_calls else math.nan
    r = float(truth_found.mean()) if n_true else math.nan
    f1 = 2 * p * r / (p + r) if n_calls and n_true and (p + r) > 0 else math.nan
    return {"n_calls": n_calls, "n_true": n_true, "true_positive_calls": int(call_hits.sum()),
            "found_true": int(truth_found.sum()), "precision": p, "recall": r, "f1": f1}


def recovery_table(truth: pd.DataFrame, relevant: Mapping[str, Sequence[str]],
                   seqlets: pd.DataFrame | None = None, instances: pd.DataFrame | None = None,
                   min_overlap: float = 0.5, match_motif: bool = False) -> pd.DataFrame:
    """Precision and recall of positive seqlets and instances per task.

    Parameters
    ----------
    truth
        True instances: ``record, start, end, motif`` (e.g. a simulation's ``embeddings.tsv`` with
        ``id`` renamed ``record``).
    relevant
        Task name -> the motifs the task depends on; tasks not listed are skipped.
    seqlets
        :func:`~deeplift_genomics.motifs.seqlets.call_seqlets` rows (their cores are the calls).
    instances
        :func:`~deeplift_genomics.motifs.instances.call_instances` rows; with ``match_motif`` they need a
        ``motif`` column.
    min_overlap
        Share of a true instance a call must cover.
    match_motif
        Count an instance only for the true motif named in its ``motif`` column.

    Returns
    -------
    pandas.DataFrame
        :data:`RECOVERY_COLUMNS`, one row per task and kind (``seqlets``, ``instances``).
    """
    rows = []
    for task, motifs in relevant.items():
        t = truth[truth["motif"].isin(list(motifs))]
        for kind, table in (("seqlets", seqlets), ("instances", instances)):
            if table is None:
                continue
            c = table[(table["task"] == task) & (table["sign"] == "pos")]
            if kind == "seqlets":
                c = c.assign(start=c["core_start"], end=c["core_end"])
            cols = ["record", "start", "end"] + (["motif"] if match_motif and kind == "instances" else [])
            hits, found = overlap_matrix(c[cols], t, min_overlap)
            rows.append({"task": task, "kind": kind, **_prf(hits, found)})
    return pd.DataFrame(rows, columns=RECOVERY_COLUMNS)


def truth_from_embeddings(embeddings: pd.DataFrame) -> pd.DataFrame:
    """A simulation's ``embeddings.tsv`` rows as true instances (``record, start, end, motif``)."""
    return embeddings.rename(columns={"id": "record"})[["record", "start", "end", "motif"]].reset_index(drop=True)


def method_recovery(tracks: ScoreTracks, truth: pd.DataFrame, relevant: Mapping[str, Sequence[str]],
                    settings: MotifSettings | None = None,
                    min_overlap: float = 0.5) -> pd.DataFrame:
    """Seqlets, patterns and instances of ``tracks`` (no known-motif matching) scored against ``truth``.

    The benchmark's "motif recovery per attribution method": run it on each method's scores of the same
    sequences and compare the rows.

    Parameters
    ----------
    tracks
        :class:`~deeplift_genomics.motifs.inputs.ScoreTracks` of one method.
    truth, relevant, min_overlap
        As :func:`recovery_table`.
    settings
        :class:`~deeplift_genomics.motifs.run.MotifSettings` (default settings if ``None``).

    Returns
    -------
    pandas.DataFrame
        :func:`recovery_table` rows plus ``n_patterns`` (positive patterns of the task).
    """
    settings = settings or MotifSettings()
    frames, inst_frames, n_patterns = [], [], {}
    for t, task in enumerate(tracks.task_names):
        if task not in relevant:
            continue
        seqlets, _ = call_seqlets(tracks.projected[t], tracks.offsets, tracks.names, task, settings.seqlets,
                                  seed=settings.seed + t)
        pats, _ = discover_patterns(tracks, t, seqlets[seqlets["sign"] == "pos"], "pos", settings.seqlets.width,
                                    settings.seqlets.flank, settings.patterns, seed=settings.seed)
        n_patterns[task] = len(pats)
        frames.append(seqlets)
        inst_frames.append(call_task_hits(tracks, t, pats, settings))
    table = recovery_table(truth, relevant, min_overlap=min_overlap,
                           seqlets=pd.concat(frames, ignore_index=True) if frames else None,
                           instances=pd.concat(inst_frames, ignore_index=True) if inst_frames else None)
    table["n_patterns"] = table["task"].map(n_patterns).fillna(0).astype(int)
    return table
