"""Joint hit calling: all patterns of a task fitted to its contribution track at once, competing for bases.

The window caller (:mod:`.instances`) tests each pattern's windows on their own, and its contribution test
(the window's summed score against the permutation null of *all* windows) misses instances that carry
little of a task's score (on the default simulation's task ``both``, recall 0.44). Fi-NeMo fits all CWMs
jointly and finds those, but calls hundreds of hits in records without any motif. This caller keeps what
makes each right:

1. **Eligible windows.** For every pattern, strand and window ``[i, i + W)`` of a record: the cosine
   similarity of the window's contributions (sign-adjusted, observed bases) with the CWM is at least
   ``min_similarity`` and the window's sequence has a PFM log-odds p-value of at most ``max_pvalue``
   (as in :mod:`.instances`), or, for a pattern so short that its best sequence's own p-value ``p_best``
   comes near that cut, of at most ``pvalue_headroom * p_best``: a cut at the pattern's best p-value
   would admit its consensus alone (on a held-out simulation a 6 bp GATA pattern has ``p_best`` 2.8e-4
   against the 4e-4 cut, and its recall fell to 0.81 where the window caller's is 0.89).
2. **A threshold conditional on eligibility.** The projection of an eligible window's contributions on
   the unit CWM must reach ``tau``, the smallest value at which the estimated false-discovery rate,

       FDR(tau) = (eligible null windows with projection >= tau / all null windows)
                  / (eligible windows with projection >= tau / all windows),

   is at most ``fdr`` (and for every higher value). The null is the same records with their positions
   (sequence and contributions together) permuted within each record: the test asks whether shape,
   sequence *and* contribution come together more often than chance placement gives, so a weak but
   well-formed instance passes while noise that happens to match the sequence does not.
3. **Competitive fit (matching pursuit).** Per record, repeatedly: the eligible (pattern, strand,
   position) with the largest projection of the *residual* track on its unit CWM is a hit if that
   projection reaches ``tau``; its fitted CWM is subtracted from the residual (so overlapping patterns
   compete for the same bases, as in Fi-NeMo's joint fit) and windows overlapping it by more than half
   their width are closed. A record stops when no eligible window reaches ``tau`` or after
   ``max_hits`` hits.

The hit's ``score`` is its fitted coefficient (the residual's projection when it was picked, in the
units of the contributions).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .inputs import ScoreTracks
from .instances import INSTANCE_COLUMNS, base_composition, logodds_matrix, logodds_pvalues
from .patterns import Pattern, revcomp
from .seqlets import window_starts_valid, window_sums

HIT_COLUMNS = [*INSTANCE_COLUMNS, "score"]


@dataclasses.dataclass(frozen=True)
class JointSettings:
    """Thresholds of the joint caller (see the module docstring)."""

    fdr: float = 0.05
    min_similarity: float = 0.8
    max_pvalue: float = 4e-4
    pvalue_headroom: float = 2.0
    pseudocount: float = 0.01
    max_hits: int = 50
    null_rounds: int = 2


@dataclasses.dataclass
class _Atom:
    pattern: Pattern
    minus: bool
    unit: np.ndarray  # (4, W) sign-adjusted CWM of unit norm, on this strand
    logodds: np.ndarray  # (4, W) PFM log-odds on this strand
    p_best: float  # the p-value of the best-scoring sequence (:func:`best_pvalue`)

    @property
    def width(self) -> int:
        return int(self.unit.shape[1])


def _correlate(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``out[i] = sum_{c,w} x[c, i + w] kernel[c, w]`` (0 where the window runs past the end).

    ``x`` here is one-hot or masked by it (one nonzero channel per column), so each 4-term product is
    exact in any summation order and ``out[i]`` depends only on its own columns: chunks give the values
    of the whole axis bit for bit."""
    n, k = x.shape[1], kernel.shape[1]
    out = np.zeros(n)
    if n >= k:
        for w in range(k):
            out[: n - k + 1] += kernel[:, w] @ x[:, w:n - k + 1 + w]
    return out


def _atoms(patterns: Sequence[Pattern], sign: float, background: np.ndarray, pseudocount: float) -> list[_Atom]:
    out = []
    for p in patterns:
        cwm = np.asarray(p.cwm, dtype=np.float64) * sign
        unit = cwm / max(float(np.linalg.norm(cwm)), 1e-12)
        lo = logodds_matrix(p.pfm, background, pseudocount)
        rc = revcomp(lo).copy()
        # per strand: under a background whose A != T or C != G the two strands' best p-values differ
        out.append(_Atom(p, False, unit, lo, best_pvalue(lo, background)))
        out.append(_Atom(p, True, revcomp(unit).copy(), rc, best_pvalue(rc, background)))
    return out


def best_pvalue(logodds: np.ndarray, background: np.ndarray) -> float:
    """The PFM log-odds p-value of the best-scoring sequence of ``logodds`` ``(4, W)``."""
    best = float(np.asarray(logodds, dtype=np.float64).max(axis=0).sum())
    return float(logodds_pvalues(logodds, background, np.array([best]))[0])


def pvalue_cut(p_best: float, max_pvalue: float, headroom: float) -> float:
    """The PFM p-value cut of one pattern: ``max(max_pvalue, headroom * p_best)`` (step 1 of the module
    docstring), ``p_best`` from :func:`best_pvalue`."""
    return max(float(max_pvalue), float(headroom) * float(p_best))


def eligible_windows(contrib: np.ndarray, onehot: np.ndarray, offsets: np.ndarray, atoms: Sequence[_Atom],
                     background: np.ndarray, min_similarity: float, max_pvalue: float,
                     pvalue_headroom: float = 0.0) -> tuple[dict[str, np.ndarray], int]:
    """The eligible windows of step 1 (sparse) and the number of windows tested.

    ``pvalue_headroom`` raises a short pattern's cut to ``pvalue_headroom * p_best`` (:func:`pvalue_cut`;
    0 keeps ``max_pvalue`` for every pattern).

    Returns
    -------
    windows : dict
        ``atom``, ``pos`` (window start on the axis of ``contrib``), ``projection`` (on the atom's unit
        CWM), ``similarity``, ``log_odds`` and ``p_value``, one entry per eligible window.
    n_windows : int
        Windows tested (inside one record), over all atoms.
    """
    sq = (contrib ** 2).sum(axis=0)
    norms: dict[int, np.ndarray] = {}
    valid: dict[int, np.ndarray] = {}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("atom", "pos", "projection", "similarity", "log_odds",
                                                           "p_value")}
    n_windows = 0
    for a, atom in enumerate(atoms):
        k = atom.width
        if k not in norms:
            norms[k] = np.sqrt(np.maximum(window_sums(sq, k), 1e-24))
            valid[k] = window_starts_valid(offsets, k)
        n_windows += int(valid[k].sum())
        proj = _correlate(contrib, atom.unit)
        sim = proj / norms[k]
        idx = np.flatnonzero(valid[k] & (proj > 0) & (sim >= min_similarity))
        if len(idx) == 0:
            continue
        lo = _correlate(onehot, atom.logodds)[idx]
        pv = logodds_pvalues(atom.logodds, background, lo)
        keep = pv <= pvalue_cut(atom.p_best, max_pvalue, pvalue_headroom)
        idx = idx[keep]
        for key, val in (("atom", np.full(len(idx), a)), ("pos", idx), ("projection", proj[idx]),
                         ("similarity", sim[idx]), ("log_odds", lo[keep]), ("p_value", pv[keep])):
            parts[key].append(val)
    out = {k: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64 if k in ("atom", "pos") else np.float64))
           for k, v in parts.items()}
    return out, n_windows


def conditional_threshold(observed: np.ndarray, n_observed: int, null: np.ndarray, n_null: int,
                          fdr: float) -> float:
    """Smallest ``tau`` whose FDR (step 2 of the module docstring), and that of every higher value, is at
    most ``fdr``; ``inf`` when none.

    Parameters
    ----------
    observed, null
        Projections of the eligible windows of the data and of the null.
    n_observed, n_null
        Number of all windows tested in each (eligible or not).
    """
    obs = np.sort(np.asarray(observed, dtype=np.float64))[::-1]
    nul = np.sort(np.asarray(null, dtype=np.float64))
    if len(obs) == 0 or n_null == 0 or n_observed == 0:
        return math.inf
    n_null_ge = len(nul) - np.searchsorted(nul, obs, side="left")
    est = (n_null_ge / n_null) / (np.arange(1, len(obs) + 1) / n_observed)
    q = np.minimum.accumulate(est[::-1])[::-1]
    ok = np.flatnonzero((q <= fdr) & (obs > 0))
    return float(obs[ok[-1]]) if len(ok) else math.inf


def _permutation(offsets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rec = np.repeat(np.arange(len(offsets) - 1, dtype=np.float64), np.diff(offsets))
    return np.argsort(rec + rng.random(len(rec)), kind="stable")


def uniforms_at(seed: int, position: int) -> np.random.Generator:
    """``numpy.random.default_rng(seed)`` advanced past ``position`` draws.

    A permutation null drawn for round ``r`` of records starting at base ``a`` of a ``B``-base axis from
    ``uniforms_at(seed, r * B + a)`` uses the very numbers that one draw over the whole axis would: records
    read in chunks, or in shards, get the null of records read at once (one float64 takes one 64-bit step).
    """
    bits = np.random.PCG64(seed)
    bits.advance(int(position))
    return np.random.Generator(bits)


def _gram(a: _Atom, b: _Atom) -> np.ndarray:
    """``g[d + W_b - 1] = <atom a placed at 0, atom b placed at d>`` for ``d`` in ``(-W_b, W_a)``."""
    wa, wb = a.width, b.width
    out = np.zeros(wa + wb - 1)
    for d in range(-(wb - 1), wa):
        lo, hi = max(0, d), min(wa, d + wb)
        if hi > lo:
            out[d + wb - 1] = float((a.unit[:, lo:hi] * b.unit[:, lo - d:hi - d]).sum())
    return out


def pursue(atom: np.ndarray, pos: np.ndarray, projection: np.ndarray, record: np.ndarray,
           atoms: Sequence[_Atom], tau: float, max_hits: int) -> tuple[np.ndarray, np.ndarray]:
    """Matching pursuit over the eligible windows (step 3), record by record.

    Parameters
    ----------
    atom, pos, projection, record
        The eligible windows (:func:`eligible_windows`) and each one's record.

    Returns
    -------
    chosen : numpy.ndarray
        Indices (into the windows) of the hits.
    coefficient : numpy.ndarray
        Each hit's fitted coefficient (the residual's projection when it was picked).
    """
    if not math.isfinite(tau) or len(pos) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    n_atoms = len(atoms)
    widths = np.array([a.width for a in atoms])
    gram = [[_gram(atoms[a], atoms[b]) for b in range(n_atoms)] for a in range(n_atoms)]
    order = np.lexsort((pos, record))
    bounds = np.flatnonzero(np.diff(record[order])) + 1
    chosen: list[int] = []
    coefs: list[float] = []
    for idx in np.split(order, bounds):
        resid = projection[idx].astype(np.float64, copy=True)
        a_r, p_r = atom[idx], pos[idx]
        w_r = widths[a_r]
        open_ = resid >= tau
        for _ in range(max_hits):
            if not open_.any():
                break
            k = int(np.flatnonzero(open_)[np.argmax(resid[open_])])
            c = float(resid[k])
            chosen.append(int(idx[k]))
            coefs.append(c)
            a, i, wa = int(a_r[k]), int(p_r[k]), int(w_r[k])
            d = p_r - i
            near = (d > -w_r) & (d < wa)
            for j in np.flatnonzero(near):
                resid[j] -= c * gram[a][int(a_r[j])][int(d[j]) + int(w_r[j]) - 1]
            # a window overlapping the hit by more than half its own width is closed
            overlap = np.minimum(p_r + w_r, i + wa) - np.maximum(p_r, i)
            open_ &= (2 * overlap <= w_r) & (resid >= tau)
    return np.asarray(chosen, dtype=np.int64), np.asarray(coefs)


class JointCaller:
    """The joint fit of one task's patterns of one sign over records given in blocks (so that no whole
    score array need be in memory): :meth:`add` each block, then :meth:`finish`.

    The null of records starting at base ``a`` of the whole ``B``-base axis, round ``r``, draws from
    :func:`uniforms_at` ``(seed, r * B + a)``, so blocks, chunks and shards give the same windows, null and
    hits as one block of all records. :meth:`state` and :meth:`merged` carry what a shard found to the
    step that fits all shards' records (the threshold is one over all records).

    Parameters
    ----------
    patterns
        The task's patterns of ``sign``.
    sign
        ``pos`` or ``neg``.
    background
        A, C, G, T frequencies (of all records) for the PFM log-odds.
    settings
        Thresholds.
    seed
        Seed of the null permutations.
    """

    def __init__(self, patterns: Sequence[Pattern], sign: str, background: np.ndarray,
                 settings: JointSettings = JointSettings(), seed: int = 0) -> None:
        self.sign = sign
        self.s = 1.0 if sign == "pos" else -1.0
        self.settings = settings
        self.background = np.asarray(background, dtype=np.float64)
        self.atoms = _atoms([p for p in patterns if p.sign == sign], 1.0, self.background, settings.pseudocount)
        self.seed = seed
        self.windows: list[dict[str, np.ndarray]] = []
        self.null: list[np.ndarray] = []
        self.n_windows = 0
        self.n_null = 0

    def add(self, tracks: ScoreTracks, task: int, first_record: int = 0, first_base: int = 0,
            total_bases: int | None = None) -> None:
        """The eligible windows of one block of records and their null.

        ``first_record`` and ``first_base`` place the block among all records (its first record's index,
        its first base on the axis of all ``total_bases`` bases; default: the block is all records)."""
        if not self.atoms or tracks.n_records == 0:
            return
        onehot = np.asarray(tracks.onehot, dtype=np.float64)
        contrib = np.asarray(tracks.hypothetical[task], dtype=np.float64) * onehot * self.s
        win, n = eligible_windows(contrib, onehot, tracks.offsets, self.atoms, self.background,
                                  self.settings.min_similarity, self.settings.max_pvalue,
                                  self.settings.pvalue_headroom)
        self.n_windows += n
        rec = tracks.record_of(win["pos"])
        win["record"] = rec + first_record
        win["start"] = win["pos"] - tracks.offsets[rec]
        proj_track = np.asarray(tracks.projected[task], dtype=np.float64)
        widths = np.array([a.width for a in self.atoms])[win["atom"]]
        win["contribution"] = np.zeros(len(widths))
        for k in np.unique(widths).tolist():
            sel = widths == k
            win["contribution"][sel] = window_sums(proj_track, k)[win["pos"][sel]]
        # positions on this block's axis mean nothing beyond it: pursue within records by start
        win["pos"] = win["start"]
        self.windows.append(win)
        total = tracks.n_bases if total_bases is None else int(total_bases)
        for r in range(self.settings.null_rounds):
            order = _permutation(tracks.offsets, uniforms_at(self.seed, r * total + first_base))
            w0, n0 = eligible_windows(contrib[:, order], onehot[:, order], tracks.offsets, self.atoms,
                                      self.background, self.settings.min_similarity, self.settings.max_pvalue,
                                      self.settings.pvalue_headroom)
            self.null.append(w0["projection"])
            self.n_null += n0

    def state(self) -> dict[str, np.ndarray]:
        """What :meth:`add` gathered, as flat arrays (``w_<field>`` per eligible window, ``null``,
        ``counts`` = windows and null windows tested), for :meth:`merged`."""
        keys = ("atom", "pos", "projection", "similarity", "log_odds", "p_value", "record", "start", "contribution")
        out = {f"w_{k}": (np.concatenate([w[k] for w in self.windows]) if self.windows else np.zeros(0))
               for k in keys}
        for k in ("atom", "pos", "record", "start"):
            out[f"w_{k}"] = out[f"w_{k}"].astype(np.int64)
        out["null"] = np.concatenate(self.null) if self.null else np.zeros(0)
        out["counts"] = np.array([self.n_windows, self.n_null], dtype=np.int64)
        return out

    def merged(self, states: Sequence[dict[str, np.ndarray]]) -> None:
        """Take the :meth:`state` of each shard (in record order) as if :meth:`add` had seen their records."""
        for st in states:
            if len(st["w_pos"]):
                self.windows.append({k[2:]: np.asarray(v) for k, v in st.items() if k.startswith("w_")})
            self.null.append(np.asarray(st["null"], dtype=np.float64))
            self.n_windows += int(st["counts"][0])
            self.n_null += int(st["counts"][1])

    def threshold(self) -> float:
        """``tau`` of step 2 over every block added."""
        obs = np.concatenate([w["projection"] for w in self.windows]) if self.windows else np.zeros(0)
        null = np.concatenate(self.null) if self.null else np.zeros(0)
        return conditional_threshold(obs, self.n_windows, null, self.n_null, self.settings.fdr)

    def finish(self, task_name: str, names: np.ndarray) -> pd.DataFrame:
        """The hits (columns :data:`HIT_COLUMNS` but ``instance``), ``names`` being all records' names."""
        if not self.windows:
            return pd.DataFrame(columns=HIT_COLUMNS[1:])
        win = {k: np.concatenate([w[k] for w in self.windows]) for k in self.windows[0]}
        tau = self.threshold()
        chosen, coef = pursue(win["atom"], win["pos"], win["projection"], win["record"], self.atoms, tau,
                              self.settings.max_hits)
        a_idx = win["atom"][chosen]
        widths = np.array([a.width for a in self.atoms], dtype=np.int64)[a_idx]
        start = win["start"][chosen]
        return pd.DataFrame({
            "task": task_name, "sign": self.sign, "pattern": [self.atoms[a].pattern.name for a in a_idx],
            "record_index": win["record"][chosen], "record": np.asarray(names)[win["record"][chosen]],
            "start": start, "end": start + widths, "strand": ["-" if self.atoms[a].minus else "+" for a in a_idx],
            "contribution": win["contribution"][chosen], "similarity": win["similarity"][chosen],
            "log_odds": win["log_odds"][chosen], "p_value": win["p_value"][chosen], "score": self.s * coef})


def finish_hits(frames: Sequence[pd.DataFrame], task_name: str) -> pd.DataFrame:
    """One task's hits of both signs, sorted by record and start, numbered ``<task>.<k>``."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in HIT_COLUMNS})
    out = pd.concat(frames, ignore_index=True).sort_values(["record_index", "start", "pattern"], kind="stable")
    out.insert(0, "instance", [f"{task_name}.{k}" for k in range(len(out))])
    return out[HIT_COLUMNS].reset_index(drop=True)


def record_blocks(offsets: np.ndarray, max_bases: int) -> list[tuple[int, int]]:
    """Contiguous ``[first, last)`` record ranges of at most ``max_bases`` bases each (a longer record
    alone)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    out, lo = [], 0
    while lo < n:
        hi = int(np.searchsorted(offsets, offsets[lo] + max_bases, side="right")) - 1
        hi = max(hi, lo + 1)
        out.append((lo, min(hi, n)))
        lo = min(hi, n)
    return out


def call_hits(tracks: ScoreTracks, task: int, patterns: Sequence[Pattern],
              settings: JointSettings = JointSettings(), seed: int = 0, block_bases: int = 2_000_000,
              ) -> pd.DataFrame:
    """Hits of one task's patterns in every record by the joint fit (module docstring), the records taken
    in blocks of at most ``block_bases`` bases (the float64 work arrays are per block).

    Returns
    -------
    pandas.DataFrame
        :data:`HIT_COLUMNS`: as :func:`~deeplift_genomics.motifs.instances.call_instances` plus ``score``
        (the fitted coefficient); sorted by record and start.
    """
    bg = base_composition(tracks.onehot)
    frames = []
    for k, sign in enumerate(("pos", "neg")):
        caller = JointCaller(patterns, sign, bg, settings, seed=seed + 1000 * k)
        if not caller.atoms:
            continue
        for lo, hi in record_blocks(tracks.offsets, block_bases):
            caller.add(subset_records(tracks, lo, hi), task, lo, int(tracks.offsets[lo]), tracks.n_bases)
        frames.append(caller.finish(tracks.task_names[task], tracks.names))
    return finish_hits(frames, tracks.task_names[task])


def subset_records(tracks: ScoreTracks, lo: int, hi: int) -> ScoreTracks:
    """Records ``[lo, hi)`` of ``tracks`` (views, no copy)."""
    a, b = int(tracks.offsets[lo]), int(tracks.offsets[hi])
    return dataclasses.replace(
        tracks, names=tracks.names[lo:hi], offsets=tracks.offsets[lo:hi + 1] - a, onehot=tracks.onehot[:, a:b],
        hypothetical=tracks.hypothetical[:, :, a:b], projected=tracks.projected[:, a:b],
        chrom=None if tracks.chrom is None else tracks.chrom[lo:hi],
        chrom_start=None if tracks.chrom_start is None else tracks.chrom_start[lo:hi],
        strand=None if tracks.strand is None else tracks.strand[lo:hi])
