"""Motifs over records read in chunks: peak memory set by the chunk size and the seqlet cap, not by the
number of records.

:func:`find_motifs_streamed` runs the pipeline of :func:`~deeplift_genomics.motifs.run.find_motifs` over a
:class:`~deeplift_genomics.motifs.inputs.ScoreSource`, one task at a time, in passes over blocks of records
of at most ``chunk_bases`` bases:

1. **Seqlet threshold.** Window sums and their permutation null, block by block. Only the tail that can
   set the FDR threshold is kept (:class:`TailCounter`); the threshold is the one of
   :func:`~deeplift_genomics.motifs.seqlets.fdr_threshold` over all windows whenever that tail holds more
   than ``fdr x`` (null windows) null values, which it reports (``threshold_exact_<sign>``).
2. **Seqlets.** The significant windows picked greedily in each block (a pick blocks only windows of its
   own record, so blocks pick what the whole axis would). Every seqlet goes to the table; at most
   ``seqlet_cap`` per sign are *kept* for clustering, a seeded sample (the ``seqlet_cap`` smallest of a
   hash of seed, task, sign and position, so the sample does not depend on the blocks). A kept seqlet's
   window of core +- ``margin`` bases is copied out: everything pattern discovery reads of a seqlet lies
   in it (:func:`seqlet_margin`).
3. **Patterns** from the kept seqlets' windows alone
   (:func:`~deeplift_genomics.motifs.patterns.discover_patterns` on tracks made of those windows).
4. **Hits.** The joint caller's eligible windows and null, block by block
   (:class:`~deeplift_genomics.motifs.hits.JointCaller`), then one threshold and the fit. The workflow
   runs this step per shard of records (:func:`scan_hits`) and fits at the merge (:func:`fit_hits`).

Why the results are those of reading every record at once (while no seqlet cap applies and the tail is
exact): every number is computed from its own record's values in a fixed order (window sums add their
own bases, the correlations have one nonzero channel per base, the nulls draw from the random stream at
the record's place on the whole axis: :func:`~deeplift_genomics.motifs.hits.uniforms_at`), and the
thresholds from counts and sorted values, which do not depend on the order records came in.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from .hits import JointCaller, finish_hits, record_blocks, uniforms_at
from .inputs import ScoreSource, ScoreTracks
from .instances import call_instances
from .patterns import Pattern, PatternSettings, discover_patterns
from .run import MotifSettings
from .seqlets import SEQLET_COLUMNS, SeqletSettings, greedy_windows, window_starts_valid, window_sums

log = logging.getLogger(__name__)

DEFAULT_CHUNK_BASES = 1_000_000
TAIL_CAPACITY = 2_000_000
SIGNS = (("pos", 1.0), ("neg", -1.0))


def blocks(offsets: np.ndarray, chunk_bases: int | None, lo: int = 0, hi: int | None = None,
           ) -> Iterator[tuple[int, int]]:
    """``[first, last)`` record ranges of ``[lo, hi)`` of at most ``chunk_bases`` bases each (``None``: one)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    hi = len(offsets) - 1 if hi is None else hi
    if hi <= lo:
        return
    if chunk_bases is None:
        yield lo, hi
        return
    for a, b in record_blocks(offsets[lo:hi + 1] - offsets[lo], chunk_bases):
        yield lo + a, lo + b


class TailCounter:
    """The upper tail of observed and null window statistics, for an FDR threshold in bounded memory.

    Keeps the positive values at or above a cut, raised to the ``capacity``-th largest kept value whenever
    more than twice ``capacity`` are kept, with the counts of all values. The threshold of
    :func:`~deeplift_genomics.motifs.seqlets.fdr_threshold` is the smallest observed ``t > 0`` whose
    ``FDR(t) = (null >= t) / n_null / ((observed >= t) / n_obs)`` is at most ``fdr``. A value ``t`` with
    ``m = floor(fdr n_null) + 1`` or more null values at or above it has ``FDR(t) > fdr``, so when the
    kept null values number at least ``m``, no ``t`` below the cut qualifies and every ``t`` above it is
    counted exactly: the threshold is the whole-array one (``exact``). Otherwise it is the smallest
    qualifying kept value, never below the whole-array one.
    """

    def __init__(self, capacity: int = TAIL_CAPACITY) -> None:
        self.capacity = int(capacity)
        self.cut = 0.0
        self.raised = False
        self.obs: list[np.ndarray] = []
        self.null: list[np.ndarray] = []
        self.n_kept = 0
        self.n_obs = 0
        self.n_null = 0

    def _keep(self, values: np.ndarray) -> np.ndarray:
        return values[values >= self.cut] if self.raised else values[values > 0]

    def add(self, observed: np.ndarray, null: np.ndarray) -> None:
        """Count a block's observed and null statistics, keeping their tail."""
        self.n_obs += len(observed)
        self.n_null += len(null)
        o, n = self._keep(np.asarray(observed, dtype=np.float64)), self._keep(np.asarray(null, dtype=np.float64))
        self.obs.append(o)
        self.null.append(n)
        self.n_kept += len(o) + len(n)
        if self.n_kept > 2 * self.capacity:
            o, n = np.concatenate(self.obs), np.concatenate(self.null)
            both = np.concatenate([o, n])
            k = len(both) - self.capacity
            self.cut = float(np.partition(both, k)[k])
            self.raised = True
            del both
            self.obs, self.null = [o[o >= self.cut]], [n[n >= self.cut]]
            self.n_kept = len(self.obs[0]) + len(self.null[0])

    def threshold(self, fdr: float) -> tuple[float, bool]:
        """The threshold (``inf`` if none) and whether it is provably the whole-array one."""
        obs = np.sort(np.concatenate(self.obs))[::-1] if self.obs else np.zeros(0)
        nul = np.sort(np.concatenate(self.null)) if self.null else np.zeros(0)
        exact = len(nul) >= math.floor(fdr * self.n_null) + 1 or (not self.raised and len(obs) == 0)
        if len(obs) == 0 or self.n_null == 0 or self.n_obs == 0:
            return math.inf, exact
        n_null_ge = len(nul) - np.searchsorted(nul, obs, side="left")
        est = (n_null_ge / self.n_null) / (np.arange(1, len(obs) + 1) / self.n_obs)
        ok = np.flatnonzero(est <= fdr)
        return (float(obs[ok[-1]]) if len(ok) else math.inf), exact


def seqlet_margin(settings: SeqletSettings, pad: int) -> int:
    """Bases each side of a seqlet's core that pattern discovery may read.

    With core width ``w``, flank ``f`` and pad ``p``: the pairwise similarity reads core +- ``f``; a draft
    pattern aggregates windows shifted by at most ``f`` and widened by ``p`` each side, so a pattern is at
    most ``K = w + 2p`` wide; the scan of a pattern over a seqlet places it within core +- ``f`` and
    ``K``, and the rebuild widens those placements by ``p``: ``f + K + p`` covers all.
    """
    return int(settings.flank) + int(settings.width) + 3 * int(pad)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64: a fixed pseudo-random 64-bit key of each 64-bit value."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@dataclasses.dataclass
class _Kept:
    """The kept (sampled) seqlets of one sign, with their windows: at most ``2 x cap`` between compactions."""

    cap: int
    keys: list[np.ndarray] = dataclasses.field(default_factory=list)
    gpos: list[np.ndarray] = dataclasses.field(default_factory=list)
    windows: list[tuple[int, int, int, np.ndarray, np.ndarray]] = dataclasses.field(default_factory=list)
    n: int = 0
    limit: np.uint64 | None = None  # keys at or above it cannot be kept

    def add(self, keys: np.ndarray, gpos: np.ndarray, windows: list) -> None:
        self.keys.append(keys)
        self.gpos.append(gpos)
        self.windows += windows
        self.n += len(keys)
        if self.n > 2 * self.cap:
            self.compact()

    def compact(self) -> None:
        keys = np.concatenate(self.keys) if self.keys else np.zeros(0, dtype=np.uint64)
        if len(keys) > self.cap:
            order = np.argsort(keys, kind="stable")[: self.cap]
            self.limit = keys[order[-1]]
            order = np.sort(order)
            self.keys = [keys[order]]
            self.gpos = [np.concatenate(self.gpos)[order]]
            self.windows = [self.windows[i] for i in order.tolist()]
            self.n = len(order)

    def accepts(self, keys: np.ndarray) -> np.ndarray:
        return np.ones(len(keys), dtype=bool) if self.limit is None else keys < self.limit


def _seqlet_frame(task: str, sign: str, parts: list[pd.DataFrame], names: np.ndarray) -> pd.DataFrame:
    """One sign's seqlets in the order of the whole-axis greedy pick: score descending, then position."""
    if not parts:
        return pd.DataFrame()
    df = pd.concat(parts, ignore_index=True)
    s = 1.0 if sign == "pos" else -1.0
    order = np.lexsort((df["gpos"].to_numpy(), -(s * df["score"].to_numpy())))
    df = df.iloc[order].reset_index(drop=True)
    df["record"] = np.asarray(names)[df["record_index"].to_numpy()]
    df["task"] = task
    df["sign"] = sign
    return df


def stream_seqlets(source: ScoreSource, task: int, settings: SeqletSettings, cap: int, pad: int,
                   seed: int = 0, chunk_bases: int | None = DEFAULT_CHUNK_BASES,
                   ) -> tuple[pd.DataFrame, dict, dict[str, ScoreTracks], dict[str, np.ndarray], dict]:
    """Seqlets of one task (steps 1 and 2 of the module docstring), in two passes over ``source``.

    Returns
    -------
    seqlets : pandas.DataFrame
        :data:`~deeplift_genomics.motifs.seqlets.SEQLET_COLUMNS` plus ``kept`` and ``gpos`` (core start on
        the axis of all records), as :func:`~deeplift_genomics.motifs.seqlets.call_seqlets` orders them.
    null : dict
        As :func:`~deeplift_genomics.motifs.seqlets.call_seqlets`'s, plus ``threshold_exact_<sign>``.
    windows : dict
        Per sign, tracks whose records are the kept seqlets' windows, in table order.
    window_start : dict
        Per sign, each window's first base in its record's coordinates.
    totals : dict
        ``pos`` / ``neg``: per record, the sum of ``max(+-projected, 0)`` (for contribution shares), and
        ``counts``: A, C, G, T counts of all records.
    """
    meta = source.meta
    w, flank = int(settings.width), int(settings.flank)
    offsets = meta.offsets
    n_bases = meta.n_bases
    valid_all = np.diff(offsets) >= w
    n_valid = int(np.maximum(np.diff(offsets) - w + 1, 0)[valid_all].sum())
    rounds = int(min(20, max(1, math.ceil(settings.min_null_windows / n_valid)))) if n_valid else 0
    tails = {sign: TailCounter() for sign, _ in SIGNS}
    maxima: dict[str, float | None] = {f"{p}{sign}": None for p in ("max_", "null_max_") for sign, _ in SIGNS}
    rec_totals = {sign: np.zeros(meta.n_records) for sign, _ in SIGNS}
    counts = np.zeros(4)

    def upd(key: str, values: np.ndarray) -> None:
        if len(values):
            v = float(values.max())
            maxima[key] = v if maxima[key] is None else max(maxima[key], v)  # type: ignore[type-var]

    for lo, hi in blocks(offsets, chunk_bases):
        c = source.read(lo, hi, task)
        a = int(offsets[lo])
        track = np.nan_to_num(np.asarray(c.projected[0], dtype=np.float64))
        valid = window_starts_valid(c.offsets, w)
        obs = window_sums(track, w)[valid]
        null = [window_sums(track[_perm(c.offsets, uniforms_at(seed, r * n_bases + a))], w)[valid]
                for r in range(rounds)] if n_valid else []
        nul = np.concatenate(null) if null else np.zeros(0)
        for sign, s in SIGNS:
            tails[sign].add(s * obs, s * nul)
            upd(f"max_{sign}", s * obs)
            upd(f"null_max_{sign}", s * nul)
            if len(track):
                rec_totals[sign][lo:hi] = np.add.reduceat(np.clip(s * track, 0, None), c.offsets[:-1]) \
                    * (np.diff(c.offsets) > 0)
        counts += np.asarray(c.onehot).sum(axis=1, dtype=np.float64)
        del c, track, obs, null, nul
    info: dict = {"n_windows": n_valid, "n_null_windows": n_valid * rounds, "fdr": settings.fdr, "width": w,
                  "flank": flank, **maxima}
    thresholds = {}
    for sign, _ in SIGNS:
        thr, exact = tails[sign].threshold(settings.fdr)
        thresholds[sign] = thr
        info[f"threshold_{sign}"] = thr
        info[f"threshold_exact_{sign}"] = bool(exact)
        if not exact:
            log.warning("task %s, %s seqlets: the FDR threshold %.4g is from the top %d window sums only "
                        "(more than %d windows); it may be higher than the whole-array one",
                        meta.task_names[task], sign, thr, TAIL_CAPACITY, int(TAIL_CAPACITY / settings.fdr))
    del tails

    margin = seqlet_margin(settings, pad)
    task_name = meta.task_names[task]
    kept = {sign: _Kept(cap) for sign, _ in SIGNS}
    parts: dict[str, list[pd.DataFrame]] = {sign: [] for sign, _ in SIGNS}
    salt = {sign: np.uint64((int(seed) * 1_000_003 + task * 2 + k) % 2**63) for k, (sign, _) in enumerate(SIGNS)}
    if any(math.isfinite(t) for t in thresholds.values()):
        for lo, hi in blocks(offsets, chunk_bases):
            c = source.read(lo, hi, task)
            a = int(offsets[lo])
            track = np.nan_to_num(np.asarray(c.projected[0], dtype=np.float64))
            valid = window_starts_valid(c.offsets, w)
            sums = window_sums(track, w)
            for sign, s in SIGNS:
                thr = thresholds[sign]
                if not math.isfinite(thr):
                    continue
                starts = greedy_windows(s * sums, np.flatnonzero(valid & (s * sums >= thr)), w)
                if len(starts) == 0:
                    continue
                rec = np.searchsorted(c.offsets, starts, side="right") - 1
                r_lo, r_hi = c.offsets[rec], c.offsets[rec + 1]
                core = starts - r_lo
                gpos = starts + a
                parts[sign].append(pd.DataFrame({
                    "record_index": rec + lo, "start": np.maximum(starts - flank, r_lo) - r_lo,
                    "end": np.minimum(starts + w + flank, r_hi) - r_lo, "core_start": core,
                    "core_end": core + w, "score": sums[starts], "gpos": gpos}))
                keys = _mix(gpos.astype(np.uint64) ^ salt[sign])
                take = np.flatnonzero(kept[sign].accepts(keys))
                wins = []
                for j in take.tolist():
                    length = int(r_hi[j] - r_lo[j])
                    p0, p1 = max(int(core[j]) - margin, 0), min(int(core[j]) + w + margin, length)
                    g0, g1 = int(r_lo[j]) + p0, int(r_lo[j]) + p1
                    wins.append((int(rec[j]) + lo, p0, int(core[j]), c.onehot[:, g0:g1].astype(np.uint8),
                                 np.array(c.hypothetical[0][:, g0:g1], dtype=np.float32)))
                kept[sign].add(keys[take], gpos[take], wins)
            del c, track, sums

    frames, window_tracks, window_start = [], {}, {}
    for sign, _ in SIGNS:
        df = _seqlet_frame(task_name, sign, parts[sign], meta.names)
        k = kept[sign]
        k.compact()
        if len(df):
            gk = np.concatenate(k.gpos) if k.gpos else np.zeros(0, dtype=np.int64)
            df["kept"] = np.isin(df["gpos"].to_numpy(), gk)
            # windows in table order
            where = {int(g): i for i, g in enumerate(gk.tolist())}
            order = [where[int(g)] for g in df.loc[df["kept"], "gpos"].tolist()]
            wins = [k.windows[i] for i in order]
            window_tracks[sign], window_start[sign] = _window_tracks(wins, task_name)
            frames.append(df)
        log.info("%s: %d %s seqlets, %d kept for patterns", task_name, len(df), sign, int(df["kept"].sum())
                 if len(df) else 0)
    if frames:
        table = pd.concat(frames, ignore_index=True)
        rank = table.groupby("sign", sort=False).cumcount().to_numpy()
        table.insert(0, "seqlet", [f"{task_name}.{sg}.{r}" for sg, r in zip(table["sign"], rank)])
    else:
        table = pd.DataFrame({c: pd.Series(dtype=object) for c in [*SEQLET_COLUMNS, "kept", "gpos"]})
    for col in ("record_index", "start", "end", "core_start", "core_end", "gpos"):
        table[col] = table[col].astype(np.int64)
    table["score"] = table["score"].astype(np.float64)
    table["kept"] = table["kept"].astype(bool)
    table = table[[*SEQLET_COLUMNS, "kept", "gpos"]]
    return table, info, window_tracks, window_start, {**rec_totals, "counts": counts}


def _perm(offsets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rec = np.repeat(np.arange(len(offsets) - 1, dtype=np.float64), np.diff(offsets))
    return np.argsort(rec + rng.random(len(rec)), kind="stable")  # the fraction shuffles within a record


def _window_tracks(wins: list, task_name: str) -> tuple[ScoreTracks, np.ndarray]:
    """Tracks whose records are the given seqlet windows, and each window's start in its record."""
    lengths = np.array([w[3].shape[1] for w in wins], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    onehot = np.concatenate([w[3] for w in wins], axis=1).astype(np.float32) if wins \
        else np.zeros((4, 0), dtype=np.float32)
    hyp = np.concatenate([w[4] for w in wins], axis=1)[None] if wins else np.zeros((1, 4, 0), dtype=np.float32)
    proj = (hyp * onehot[None]).sum(axis=1)
    names = np.array([str(i) for i in range(len(wins))], dtype=str)
    tracks = ScoreTracks(names=names, offsets=offsets, onehot=onehot, hypothetical=hyp, projected=proj,
                         task_names=[task_name], source="seqlet windows")
    return tracks, np.array([w[1] for w in wins], dtype=np.int64)


def stream_patterns(seqlets: pd.DataFrame, windows: dict[str, ScoreTracks], window_start: dict[str, np.ndarray],
                    settings: SeqletSettings, pattern_settings: PatternSettings, seed: int) -> tuple[list[Pattern], pd.DataFrame]:
    """Patterns of one task from its kept seqlets' windows (step 3), and the seqlet table with each
    seqlet's ``pattern, similarity, strand, pattern_start`` (empty for seqlets not kept)."""
    patterns: list[Pattern] = []
    assignments = []
    for sign, _ in SIGNS:
        rows = seqlets[(seqlets["sign"] == sign) & seqlets["kept"].astype(bool)] if len(seqlets) else seqlets
        if sign not in windows or len(rows) == 0:
            continue
        local = rows.assign(record_index=np.arange(len(rows), dtype=np.int64),
                            core_start=rows["core_start"].to_numpy() - window_start[sign])
        pats, assignment = discover_patterns(windows[sign], 0, local, sign, settings.width, settings.flank,
                                             pattern_settings, seed=seed)
        ps = assignment["pattern_start"].to_numpy()
        assignment["pattern_start"] = np.where(ps >= 0, ps + window_start[sign], ps)
        patterns += pats
        assignments.append(assignment)
    if len(seqlets) == 0:
        return patterns, seqlets.assign(pattern="", similarity=np.nan, strand=".", pattern_start=-1)
    empty = pd.DataFrame({"seqlet": seqlets["seqlet"].to_numpy(), "pattern": "", "similarity": np.nan,
                          "strand": ".", "pattern_start": -1})
    assigned = pd.concat(assignments, ignore_index=True) if assignments else empty.iloc[:0]
    rest = empty[~empty["seqlet"].isin(assigned["seqlet"])]
    merged = seqlets.merge(pd.concat([assigned, rest], ignore_index=True), on="seqlet", how="left")
    merged["pattern_start"] = merged["pattern_start"].astype(np.int64)
    return patterns, merged


def hit_callers(patterns: Sequence[Pattern], background: np.ndarray, settings: MotifSettings, task: int) -> list[JointCaller]:
    """The joint callers of one task's patterns, one per sign with patterns (seeds as
    :func:`~deeplift_genomics.motifs.run.call_task_hits` gives them)."""
    out = []
    for k, (sign, _) in enumerate(SIGNS):
        caller = JointCaller(patterns, sign, background, settings.joint, seed=settings.seed + task + 1000 * k)
        if caller.atoms:
            out.append(caller)
    return out


def scan_hits(source: ScoreSource, task: int, callers: Sequence[JointCaller], lo: int = 0, hi: int | None = None,
              chunk_bases: int | None = DEFAULT_CHUNK_BASES) -> None:
    """Feed records ``[lo, hi)`` of ``source`` to ``callers`` block by block (step 4)."""
    meta = source.meta
    if not callers:
        return
    for a, b in blocks(meta.offsets, chunk_bases, lo, hi):
        c = source.read(a, b, task)
        for caller in callers:
            caller.add(c, 0, a, int(meta.offsets[a]), meta.n_bases)
        del c


def fit_hits(callers: Sequence[JointCaller], task_name: str, names: np.ndarray) -> pd.DataFrame:
    """The hits of one task once every record was scanned (threshold and joint fit)."""
    return finish_hits([caller.finish(task_name, names) for caller in callers], task_name)


def window_caller_hits(source: ScoreSource, task: int, patterns: Sequence[Pattern], settings: MotifSettings,
                       ) -> pd.DataFrame:
    """``--hit-caller window``: its null is over all windows at once, so it reads the task's records whole."""
    tracks = source.read(0, source.meta.n_records, task)
    out = call_instances(tracks, 0, patterns, settings.instances, seed=settings.seed + task)
    return out.assign(score=out["contribution"])
