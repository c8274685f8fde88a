"""Patterns: seqlets of one task and sign clustered into motifs, aligned, aggregated and trimmed.

The stages (all pure functions over arrays):

1. :func:`pairwise_similarity`: for a (seeded, at most ``max_seqlets``) sample of seqlets, the cosine
   similarity of seqlet ``i``'s core contributions (``4 x width``) with every ``width``-long stretch of
   seqlet ``j``'s extended window, on both strands, maximised over the shift (up to ``flank`` bases).
2. :func:`cluster_seqlets`: average-linkage hierarchical clustering of ``1 - similarity`` cut at
   ``1 - cluster_similarity``; clusters smaller than ``min_seqlets`` are dropped. The cut is on the
   strict side on purpose: a motif split in two is merged back in step 4, two motifs in one cluster
   would not be separated again.
3. Each cluster is aligned on its medoid (the member most similar to the others), aggregated
   (:func:`aggregate`: mean contributions = CWM, mean hypothetical contributions = hypothetical CWM, base
   frequencies = PFM) and trimmed to its informative core (:func:`trim_bounds`: positions whose summed
   |CWM| reaches ``trim_fraction`` of the maximum).
4. Patterns that are the same motif (similarity of their CWMs, :func:`pattern_similarity`, at least
   ``merge_similarity`` at some offset and strand) are merged, keeping the one with more seqlets.
5. Every seqlet of the task and sign (not only the sample) is assigned to the pattern whose CWM matches
   its contributions best (:func:`scan_cosine`), if that cosine similarity reaches ``assign_similarity``;
   the final matrices aggregate all assigned seqlets, aligned by that scan, and are trimmed again.
   Merging and assignment compare the trimmed core widened by ``pad`` bases each side, so that short
   cores that share a few letters (GATA's ``AGATAA``, TAL1's ``CAGATG``) are not confused.

Why our own clustering and not modisco-lite 3.0.0's (``modiscolite.tfmodisco.TFMoDISco``): on the scores of
the 8,000 sequences of the default simulation (``tests/data/benchmark_default_model``, 20 shuffles), with
the settings that do not crash (``-w 200`` crashes with NaN; ``-w 100 -n 2000``, so it sees only the central
100 bp), modisco-lite finds one pattern per task where this module finds what the simulation planted:
task ``both``: modisco-lite one pattern of 38 seqlets (TAL1_known1, TOMTOM q 3e-4), no GATA pattern; here
TAL1_known1 (4,108 seqlets, q 4e-5) and GATA_disc1 (857 seqlets, q 1e-4). Task ``gata``: modisco-lite
136 seqlets, GATA_disc1 q 8e-4; here 6,079 seqlets, q 9e-6. Time (``bench/motifs_speed.py``, one run, 2
shared cores, task ``gata``): modisco-lite CLI 49 s, the whole ``motifs`` command 31 s (seqlets, patterns,
TOMTOM and instances on the full 200 bp).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .inputs import ScoreTracks


@dataclasses.dataclass(frozen=True)
class PatternSettings:
    """How seqlets become patterns (see the module docstring)."""

    max_seqlets: int = 2000
    cluster_similarity: float = 0.7
    min_seqlets: int = 20
    trim_fraction: float = 0.3
    merge_similarity: float = 0.8
    assign_similarity: float = 0.6
    pad: int = 5


@dataclasses.dataclass
class Pattern:
    """One motif found in one task's seqlets of one sign.

    Attributes
    ----------
    name
        ``pos_0``, ``pos_1``, ... / ``neg_0`` ..., numbered by seqlet count (most first).
    task, sign
        Task name and ``pos`` / ``neg``.
    cwm
        ``(4, W)`` mean contribution of each base (contribution-weight matrix), trimmed.
    hcwm
        ``(4, W)`` mean hypothetical contribution, trimmed.
    pfm
        ``(4, W)`` base frequencies of the aligned seqlets (rows A, C, G, T; columns sum to 1).
    n_seqlets
        Seqlets assigned to the pattern.
    """

    name: str
    task: str
    sign: str
    cwm: np.ndarray
    hcwm: np.ndarray
    pfm: np.ndarray
    n_seqlets: int

    @property
    def width(self) -> int:
        """Number of positions ``W``."""
        return int(self.cwm.shape[1])

    @property
    def key(self) -> str:
        """``task/name``, unique across tasks."""
        return f"{self.task}/{self.name}"


def revcomp(x: np.ndarray) -> np.ndarray:
    """Reverse complement of ``(..., 4, L)`` matrices in A, C, G, T order."""
    return np.asarray(x)[..., ::-1, ::-1]


def gather(track: np.ndarray, starts: np.ndarray, length: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Windows ``track[:, s:s + length]`` for each start, zero outside ``[lo, hi)`` (the record).

    Parameters
    ----------
    track
        ``(C, B)`` per-base values on the concatenated axis.
    starts, lo, hi
        ``(n,)`` global window starts and the bounds of each window's record.
    length
        Window length.

    Returns
    -------
    numpy.ndarray
        ``(n, C, length)`` float32.
    """
    starts = np.asarray(starts, dtype=np.int64)
    idx = starts[:, None] + np.arange(length)[None, :]
    inside = (idx >= np.asarray(lo)[:, None]) & (idx < np.asarray(hi)[:, None])
    safe = np.clip(idx, 0, max(track.shape[-1] - 1, 0))
    out = np.asarray(track)[:, safe].transpose(1, 0, 2).astype(np.float32, copy=True)
    out *= inside[:, None, :]
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(len(x), -1).astype(np.float64)
    norm = np.linalg.norm(flat, axis=1, keepdims=True)
    return flat / np.maximum(norm, 1e-12)


def pairwise_similarity(windows: np.ndarray, width: int, flank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best cosine similarity of each seqlet's core with every other seqlet's shifted windows.

    Parameters
    ----------
    windows
        ``(n, 4, width + 2 * flank)`` contributions of the seqlets (core in the middle).
    width, flank
        Core width and flank.

    Returns
    -------
    sim : numpy.ndarray
        ``(n, n)`` best similarity of core ``i`` with a ``width``-long stretch of ``j`` (either strand).
    shift : numpy.ndarray
        ``(n, n)`` int shift ``s`` in ``[-flank, flank]`` of that stretch.
    minus : numpy.ndarray
        ``(n, n)`` bool, the stretch is on the reverse strand. A stretch of ``j`` on the plus strand
        starts at ``core_start_j + s``; on the minus strand it covers ``[core_start_j - s, ... + width)``.
    """
    n = len(windows)
    cores = _unit(windows[:, :, flank:flank + width]).astype(np.float32)
    sim = np.full((n, n), -np.inf, dtype=np.float32)
    shift = np.zeros((n, n), dtype=np.int8)
    minus = np.zeros((n, n), dtype=bool)
    better = np.empty((n, n), dtype=bool)
    for is_minus, wins in ((False, windows), (True, revcomp(windows))):
        for s in range(-flank, flank + 1):
            stretch = _unit(np.ascontiguousarray(wins[:, :, flank + s:flank + s + width])).astype(np.float32)
            cand = cores @ stretch.T
            np.greater(cand, sim, out=better)
            np.copyto(sim, cand, where=better)
            np.copyto(shift, np.int8(s), where=better)
            np.copyto(minus, is_minus, where=better)
    return sim, shift, minus


def cluster_seqlets(sim: np.ndarray, min_similarity: float) -> np.ndarray:
    """Average-linkage clusters of the distance ``1 - max(sim, sim.T)``, cut at ``1 - min_similarity``.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` int labels, 0 for the largest cluster, 1 for the next, ...
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    n = len(sim)
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    dist = np.clip(1.0 - np.maximum(sim, sim.T), 0.0, 2.0).astype(np.float64)
    np.fill_diagonal(dist, 0.0)
    raw = fcluster(linkage(squareform(dist, checks=False), method="average"), t=1.0 - min_similarity,
                   criterion="distance")
    labels, counts = np.unique(raw, return_counts=True)
    order = labels[np.lexsort((labels, -counts))]
    remap = np.zeros(int(raw.max()) + 1, dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[raw]


def trim_bounds(cwm: np.ndarray, fraction: float) -> tuple[int, int]:
    """``[a, b)``: from the first to the last position whose summed |CWM| is >= ``fraction`` x the max."""
    score = np.abs(np.asarray(cwm)).sum(axis=0)
    if score.size == 0 or score.max() <= 0:
        return 0, score.size
    keep = np.flatnonzero(score >= fraction * score.max())
    return int(keep[0]), int(keep[-1]) + 1


def aggregate(tracks: ScoreTracks, task: int, starts: np.ndarray, minus: np.ndarray, length: int,
              records: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean contribution, hypothetical contribution and base frequency of aligned windows.

    Parameters
    ----------
    tracks
        The scores.
    task
        Task index.
    starts
        ``(n,)`` global starts of the windows (the plus-strand left end).
    minus
        ``(n,)`` bool: read the window on the reverse strand (reverse-complemented before averaging).
    length
        Window length.
    records
        ``(n,)`` the record of each window (default: the record holding its centre). A window that
        sticks out of its seqlet's record counts only that record's bases.

    Returns
    -------
    cwm, hcwm, pfm : numpy.ndarray
        ``(4, length)`` each; positions outside a record do not count. PFM columns sum to 1 (uniform
        where no window has a known base).
    """
    starts = np.asarray(starts, dtype=np.int64)
    minus = np.asarray(minus, dtype=bool)
    rec = (tracks.record_of(np.clip(starts + length // 2, 0, max(tracks.n_bases - 1, 0))) if records is None
           else np.asarray(records, dtype=np.int64))
    lo, hi = tracks.offsets[rec], tracks.offsets[rec + 1]
    oh = gather(tracks.onehot, starts, length, lo, hi)
    hyp = gather(tracks.hypothetical[task], starts, length, lo, hi)
    idx = starts[:, None] + np.arange(length)[None, :]
    inside = ((idx >= lo[:, None]) & (idx < hi[:, None])).astype(np.float32)[:, None, :]  # (n, 1, length)
    for arr in (oh, hyp, inside):
        arr[minus] = revcomp(arr[minus])
    cover = np.maximum(inside[:, 0].sum(axis=0), 1.0)
    contrib = hyp * oh
    cwm = contrib.sum(axis=0) / cover
    hcwm = hyp.sum(axis=0) / cover
    counts = oh.sum(axis=0)
    tot = counts.sum(axis=0, keepdims=True)
    pfm = np.where(tot > 0, counts / np.maximum(tot, 1e-12), 0.25)
    return cwm.astype(np.float64), hcwm.astype(np.float64), pfm.astype(np.float64)


def scan_cosine(windows: np.ndarray, pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best cosine similarity of ``pattern`` with any stretch of each window, on either strand.

    Parameters
    ----------
    windows
        ``(n, 4, M)`` contributions, ``M >= W``.
    pattern
        ``(4, W)`` CWM.

    Returns
    -------
    best : numpy.ndarray
        ``(n,)`` best similarity.
    position : numpy.ndarray
        ``(n,)`` start of the best stretch within the window.
    minus : numpy.ndarray
        ``(n,)`` whether the pattern matched on the reverse strand (the stretch reverse-complemented
        looks like the pattern).
    """
    width = pattern.shape[1]
    from numpy.lib.stride_tricks import sliding_window_view

    views = sliding_window_view(windows.astype(np.float64), width, axis=2)  # (n, 4, P, W)
    norms = np.sqrt(np.maximum((views ** 2).sum(axis=(1, 3)), 1e-24))  # (n, P)
    unit = np.asarray(pattern, dtype=np.float64) / max(float(np.linalg.norm(pattern)), 1e-12)
    plus = np.einsum("ncpw,cw->np", views, unit) / norms
    rc = np.einsum("ncpw,cw->np", views, revcomp(unit)) / norms
    use_rc = rc > plus
    both = np.where(use_rc, rc, plus)
    pos = both.argmax(axis=1)
    rows = np.arange(len(windows))
    return both[rows, pos], pos, use_rc[rows, pos]


def pattern_similarity(a: np.ndarray, b: np.ndarray, min_overlap: float = 0.5) -> float:
    """Best ``<a, b>`` over the overlap / (|a| |b|), over offsets with >= ``min_overlap`` of the shorter
    width overlapping and both strands of ``b``."""
    a = np.asarray(a, dtype=np.float64)
    na = np.linalg.norm(a)
    nb = np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 0.0
    wa, wb = a.shape[1], b.shape[1]
    need = max(1, int(np.ceil(min_overlap * min(wa, wb))))
    best = -1.0
    for bb in (np.asarray(b, dtype=np.float64), revcomp(np.asarray(b, dtype=np.float64))):
        for off in range(-(wb - need), wa - need + 1):
            a0, a1 = max(off, 0), min(wa, off + wb)
            if a1 - a0 < need:
                continue
            v = float((a[:, a0:a1] * bb[:, a0 - off:a1 - off]).sum()) / (na * nb)
            best = max(best, v)
    return best


def _scan_seqlets(tracks: ScoreTracks, task: int, sign: float, core_global: np.ndarray, width: int,
                  flank: int, pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scan ``pattern`` over each seqlet's neighbourhood: placements whose centre lies in core +- flank.

    Returns best similarity, the pattern's global start and whether it sits on the minus strand.
    """
    k = pattern.shape[1]
    region = core_global - flank - k // 2
    n_place = width + 2 * flank
    rec = tracks.record_of(core_global)
    lo, hi = tracks.offsets[rec], tracks.offsets[rec + 1]
    oh = gather(tracks.onehot, region, n_place + k - 1, lo, hi)
    contrib = gather(tracks.hypothetical[task], region, n_place + k - 1, lo, hi) * oh * sign
    best, pos, minus = scan_cosine(contrib, pattern * sign)
    return best, region + pos, minus


def _build(tracks, task, starts, minus, length, fraction, pad, records):
    """Aggregate windows widened by ``pad`` each side and trim them.

    Returns the wide ``(cwm, hcwm, pfm)``, the trim bounds ``(a, b)`` within the wide window and the
    "match" bounds ``(max(a - pad, 0), min(b + pad, wide))`` used to compare and scan.
    """
    starts = np.asarray(starts, dtype=np.int64)
    full = length + 2 * pad
    cwm, hcwm, pfm = aggregate(tracks, task, starts - pad, minus, full, records)
    a, b = trim_bounds(cwm, fraction)
    return (cwm, hcwm, pfm), (a, b), (max(a - pad, 0), min(b + pad, full))


def discover_patterns(tracks: ScoreTracks, task: int, seqlets: pd.DataFrame, sign: str,
                      width: int, flank: int, settings: PatternSettings = PatternSettings(),
                      seed: int = 0) -> tuple[list[Pattern], pd.DataFrame]:
    """Patterns of one task's seqlets of one sign.

    Parameters
    ----------
    tracks
        The scores.
    task
        Task index in ``tracks``.
    seqlets
        :func:`~deeplift_genomics.motifs.seqlets.call_seqlets` rows of this task and ``sign``.
    sign
        ``pos`` or ``neg``.
    width, flank
        Core width and flank the seqlets were called with.
    settings
        Clustering settings.
    seed
        Seed of the seqlet sample.

    Returns
    -------
    patterns : list[Pattern]
        Most seqlets first.
    assignment : pandas.DataFrame
        One row per seqlet (same order as ``seqlets``): ``seqlet, pattern`` (name or ``""``),
        ``similarity``, ``strand`` (``+``/``-``/``.``), ``pattern_start`` (record coordinates of the
        trimmed pattern's first base on the plus strand, -1 if unassigned).
    """
    s = 1.0 if sign == "pos" else -1.0
    task_name = tracks.task_names[task]
    n_all = len(seqlets)
    empty = pd.DataFrame({"seqlet": seqlets["seqlet"].to_numpy(), "pattern": "", "similarity": np.nan,
                          "strand": ".", "pattern_start": -1})
    if n_all < settings.min_seqlets:
        return [], empty
    rec_all = seqlets["record_index"].to_numpy(dtype=np.int64)
    core_all = tracks.offsets[rec_all] + seqlets["core_start"].to_numpy(dtype=np.int64)

    core, sim, shift, minus = _sample_similarity(tracks, task, s, rec_all, core_all, width, flank,
                                                 settings.max_seqlets, seed)  # fmt: skip
    labels = cluster_seqlets(sim, settings.cluster_similarity)
    drafts = _draft_cwms(tracks, task, core, labels, sim, shift, minus, width, settings)
    del sim, shift, minus
    kept = _merge_drafts(drafts, settings.merge_similarity)

    # Assign every seqlet to its best pattern and rebuild each pattern from all its seqlets; patterns
    # left with too few seqlets are dropped and the assignment redone.
    # a scan depends only on its own CWM, so a drop keeps the survivors' scans
    scans = [_scan_seqlets(tracks, task, s, core_all, width, flank, cwm) for cwm in kept]
    while kept:
        sims = np.stack([b for b, _, _ in scans])  # (P, n)
        best = sims.argmax(axis=0)
        best_sim = sims[best, np.arange(n_all)]
        assigned = best_sim >= settings.assign_similarity
        counts = np.bincount(best[assigned], minlength=len(kept))
        ok = counts >= settings.min_seqlets
        if not ok.all():
            kept = [c for c, good in zip(kept, ok) if good]
            scans = [sc for sc, good in zip(scans, ok) if good]
            continue
        built = _rebuild_patterns(tracks, task, kept, scans, assigned, best, best_sim, settings, rec_all)
        return _named_patterns(built, sign, task_name, tracks.offsets, rec_all, seqlets["seqlet"].to_numpy())
    return [], empty


def _sample_similarity(
    tracks: ScoreTracks,
    task: int,
    s: float,
    rec_all: np.ndarray,
    core_all: np.ndarray,
    width: int,
    flank: int,
    max_seqlets: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cores of a seeded sample of at most ``max_seqlets`` seqlets and their pairwise similarity, shift and strand."""
    n_all = len(core_all)
    rng = np.random.default_rng(seed)
    sample = (np.sort(rng.choice(n_all, max_seqlets, replace=False))
              if n_all > max_seqlets else np.arange(n_all))
    core = core_all[sample]
    rec = rec_all[sample]
    lo, hi = tracks.offsets[rec], tracks.offsets[rec + 1]
    ext = width + 2 * flank
    oh = gather(tracks.onehot, core - flank, ext, lo, hi)
    contrib = gather(tracks.hypothetical[task], core - flank, ext, lo, hi) * oh * s
    sim, shift, minus = pairwise_similarity(contrib, width, flank)
    return core, sim, shift, minus


def _draft_cwms(
    tracks: ScoreTracks,
    task: int,
    core: np.ndarray,
    labels: np.ndarray,
    sim: np.ndarray,
    shift: np.ndarray,
    minus: np.ndarray,
    width: int,
    settings: PatternSettings,
) -> list[np.ndarray]:
    """One draft CWM per large enough cluster, aligned on its medoid: the trimmed core +- pad."""
    drafts: list[np.ndarray] = []
    for lab in range(int(labels.max()) + 1 if len(labels) else 0):
        members = np.flatnonzero(labels == lab)
        if len(members) < settings.min_seqlets:
            break  # labels are ordered by size
        sub = sim[np.ix_(members, members)]
        medoid = members[int(np.maximum(sub, sub.T).sum(axis=1).argmax())]
        sh = shift[medoid, members].astype(np.int64)
        mi = minus[medoid, members]
        starts = np.where(mi, core[members] - sh, core[members] + sh)
        (cwm, _, _), _, (m0, m1) = _build(tracks, task, starts, mi, width, settings.trim_fraction, settings.pad,
                                          tracks.record_of(core[members]))
        if m1 > m0 and np.abs(cwm).sum() > 0:
            drafts.append(cwm[:, m0:m1])
    return drafts


def _merge_drafts(drafts: list[np.ndarray], merge_similarity: float) -> list[np.ndarray]:
    """Drafts that are the same motif merged: the larger cluster's kept (drafts come largest first)."""
    kept: list[np.ndarray] = []
    for cwm in drafts:
        if all(pattern_similarity(k, cwm) < merge_similarity for k in kept):
            kept.append(cwm)
    return kept


def _rebuild_patterns(
    tracks: ScoreTracks,
    task: int,
    kept: list[np.ndarray],
    scans: list,
    assigned: np.ndarray,
    best: np.ndarray,
    best_sim: np.ndarray,
    settings: PatternSettings,
    records: np.ndarray,
) -> list[tuple]:
    """Each pattern rebuilt from all the seqlets assigned to it, with their rows, trimmed starts and strands."""
    built = []
    for p, cwm in enumerate(kept):
        rows = np.flatnonzero(assigned & (best == p))
        starts, mi = scans[p][1][rows], scans[p][2][rows]
        (c, h, f), (a, b), _ = _build(tracks, task, starts, mi, cwm.shape[1], settings.trim_fraction,
                                      settings.pad, records[rows])
        # plus-strand start of the trimmed window [a, b) of the widened window starting at start - pad
        full = cwm.shape[1] + 2 * settings.pad
        tstart = np.where(mi, starts - settings.pad + full - b, starts - settings.pad + a)
        built.append((c[:, a:b], h[:, a:b], f[:, a:b], rows, tstart, mi, best_sim[rows]))
    return built


def _named_patterns(
    built: list[tuple],
    sign: str,
    task_name: str,
    offsets: np.ndarray,
    rec_all: np.ndarray,
    seqlet_ids: np.ndarray,
) -> tuple[list[Pattern], pd.DataFrame]:
    """The patterns named ``<sign>_<rank>``, most seqlets first, and every seqlet's assignment."""
    patterns: list[Pattern] = []
    n_all = len(seqlet_ids)
    order = sorted(range(len(built)), key=lambda p: (-len(built[p][3]), p))
    names = np.full(n_all, "", dtype=object)
    strand = np.full(n_all, ".", dtype=object)
    pstart = np.full(n_all, -1, dtype=np.int64)
    simv = np.full(n_all, np.nan)
    for rank, p in enumerate(order):
        c, h, f, rows, tstart, mi, bs = built[p]
        name = f"{sign}_{rank}"
        patterns.append(Pattern(name, task_name, sign, c, h, f, len(rows)))
        names[rows] = name
        strand[rows] = np.where(mi, "-", "+")
        pstart[rows] = tstart - offsets[rec_all[rows]]
        simv[rows] = bs
    return patterns, pd.DataFrame({"seqlet": seqlet_ids, "pattern": names, "similarity": simv, "strand": strand,
                                   "pattern_start": pstart})
