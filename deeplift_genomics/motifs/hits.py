"""Joint hit calling: all patterns of a task fitted to its contribution track at once, competing for bases.

The window caller (:mod:`.instances`) tests each pattern's windows on their own, and its contribution test
(the window's summed score against the permutation null of *all* windows) misses instances that carry
little of a task's score (on the default simulation's task ``both``, recall 0.44). Fi-NeMo fits all CWMs
jointly and finds those, but calls hundreds of hits in records without any motif. This caller keeps what
makes each right:

1. **Eligible windows.** For every pattern, strand and window ``[i, i + W)`` of a record: the cosine
   similarity of the window's contributions (sign-adjusted, observed bases) with the CWM is at least
   ``min_similarity`` and the window's sequence has a PFM log-odds p-value of at most ``max_pvalue``
   (as in :mod:`.instances`).
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
    pseudocount: float = 0.01
    max_hits: int = 50
    null_rounds: int = 2


@dataclasses.dataclass
class _Atom:
    pattern: Pattern
    minus: bool
    unit: np.ndarray  # (4, W) sign-adjusted CWM of unit norm, on this strand
    logodds: np.ndarray  # (4, W) PFM log-odds on this strand

    @property
    def width(self) -> int:
        return int(self.unit.shape[1])


def _correlate(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``out[i] = sum_{c,w} x[c, i + w] kernel[c, w]`` (0 where the window runs past the end)."""
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
        out.append(_Atom(p, False, unit, lo))
        out.append(_Atom(p, True, revcomp(unit).copy(), revcomp(lo).copy()))
    return out


def eligible_projections(contrib: np.ndarray, onehot: np.ndarray, offsets: np.ndarray, atoms: Sequence[_Atom],
                         background: np.ndarray, min_similarity: float, max_pvalue: float,
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Projection of every window on every atom and whether the window is eligible (step 1).

    Returns
    -------
    projection : numpy.ndarray
        ``(A, B)`` contributions of window ``[i, i + W_a)`` projected on atom ``a``'s unit CWM.
    eligible : numpy.ndarray
        ``(A, B)`` bool: inside one record, positive projection, similarity and PFM p-value pass.
    """
    n = contrib.shape[1]
    proj = np.zeros((len(atoms), n))
    ok = np.zeros((len(atoms), n), dtype=bool)
    sq = (contrib ** 2).sum(axis=0)
    norms: dict[int, np.ndarray] = {}
    valid: dict[int, np.ndarray] = {}
    for a, atom in enumerate(atoms):
        k = atom.width
        if k not in norms:
            norms[k] = np.sqrt(np.maximum(window_sums(sq, k), 1e-24))
            valid[k] = window_starts_valid(offsets, k)
        proj[a] = _correlate(contrib, atom.unit)
        cand = valid[k] & (proj[a] > 0) & (proj[a] >= min_similarity * norms[k])
        idx = np.flatnonzero(cand)
        if len(idx):
            lo = _correlate(onehot[:, :], atom.logodds)[idx]
            keep = logodds_pvalues(atom.logodds, background, lo) <= max_pvalue
            ok[a, idx[keep]] = True
    return proj, ok


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


def _gram(a: _Atom, b: _Atom) -> np.ndarray:
    """``g[d + W_b - 1] = <atom a placed at 0, atom b placed at d>`` for ``d`` in ``(-W_b, W_a)``."""
    wa, wb = a.width, b.width
    out = np.zeros(wa + wb - 1)
    for d in range(-(wb - 1), wa):
        lo, hi = max(0, d), min(wa, d + wb)
        if hi > lo:
            out[d + wb - 1] = float((a.unit[:, lo:hi] * b.unit[:, lo - d:hi - d]).sum())
    return out


def pursue(proj: np.ndarray, eligible: np.ndarray, offsets: np.ndarray, atoms: Sequence[_Atom], tau: float,
           max_hits: int) -> list[tuple[int, int, float]]:
    """Matching pursuit over eligible windows (step 3), every record at once.

    Returns
    -------
    list of tuple
        ``(atom, start, coefficient)`` of every hit, on the concatenated base axis.
    """
    if not math.isfinite(tau) or proj.shape[1] == 0:
        return []
    resid = np.where(eligible, proj, -np.inf)
    n_atoms, n = resid.shape
    gram = [[_gram(atoms[a], atoms[b]) for b in range(n_atoms)] for a in range(n_atoms)]
    widths = np.array([atom.width for atom in atoms])
    nonempty = np.flatnonzero(np.diff(offsets) > 0)
    starts = np.asarray(offsets[:-1], dtype=np.int64)[nonempty]
    active = np.ones(len(nonempty), dtype=bool)
    hits: list[tuple[int, int, float]] = []
    for _ in range(max_hits):
        arg_atom = resid.argmax(axis=0)
        best_over_atoms = resid[arg_atom, np.arange(n)]
        active &= np.maximum.reduceat(best_over_atoms, starts) >= tau
        if not active.any():
            break
        for r in nonempty[active]:
            lo, hi = int(offsets[r]), int(offsets[r + 1])
            i = lo + int(np.argmax(best_over_atoms[lo:hi]))
            a = int(arg_atom[i])
            c = float(resid[a, i])
            hits.append((a, i, c))
            wa = int(widths[a])
            for b in range(n_atoms):
                wb = int(widths[b])
                j0, j1 = max(lo, i - wb + 1), min(hi, i + wa)
                g = gram[a][b][j0 - i + wb - 1:j1 - i + wb - 1]
                resid[b, j0:j1] -= c * g
                # a window overlapping the hit by more than half its own width is closed
                c0 = max(lo, i - wb + (wb // 2) + 1)
                c1 = min(hi, i + wa - (wb // 2))
                if c1 > c0:
                    resid[b, c0:c1] = -np.inf
    return hits


def call_hits(tracks: ScoreTracks, task: int, patterns: Sequence[Pattern],
              settings: JointSettings = JointSettings(), seed: int = 0) -> pd.DataFrame:
    """Hits of one task's patterns in every record by the joint fit (module docstring).

    Returns
    -------
    pandas.DataFrame
        :data:`HIT_COLUMNS`: as :func:`~deeplift_genomics.motifs.instances.call_instances` plus ``score``
        (the fitted coefficient); sorted by record and start.
    """
    task_name = tracks.task_names[task]
    bg = base_composition(tracks.onehot)
    onehot = np.asarray(tracks.onehot, dtype=np.float64)
    frames = []
    rng = np.random.default_rng(seed)
    for sign, s in (("pos", 1.0), ("neg", -1.0)):
        pats = [p for p in patterns if p.sign == sign]
        if not pats:
            continue
        atoms = _atoms(pats, 1.0, bg, settings.pseudocount)
        contrib = np.asarray(tracks.hypothetical[task], dtype=np.float64) * onehot * s
        proj, ok = eligible_projections(contrib, onehot, tracks.offsets, atoms, bg, settings.min_similarity,
                                        settings.max_pvalue)
        n_windows = int(sum(window_starts_valid(tracks.offsets, a.width).sum() for a in atoms))
        null_vals = []
        for _ in range(settings.null_rounds):
            order = _permutation(tracks.offsets, rng)
            p0, ok0 = eligible_projections(contrib[:, order], onehot[:, order], tracks.offsets, atoms, bg,
                                           settings.min_similarity, settings.max_pvalue)
            null_vals.append(p0[ok0])
        tau = conditional_threshold(proj[ok], n_windows, np.concatenate(null_vals),
                                    n_windows * settings.null_rounds, settings.fdr)
        found = pursue(proj, ok, tracks.offsets, atoms, tau, settings.max_hits)
        if not found:
            continue
        a_idx = np.array([f[0] for f in found])
        pos = np.array([f[1] for f in found], dtype=np.int64)
        coef = np.array([f[2] for f in found])
        widths = np.array([atoms[a].width for a in a_idx])
        rec = tracks.record_of(pos)
        start = pos - tracks.offsets[rec]
        proj_track = np.asarray(tracks.projected[task], dtype=np.float64)
        csum = np.concatenate([[0.0], np.cumsum(proj_track)])
        contribution = csum[pos + widths] - csum[pos]
        sq = np.concatenate([[0.0], np.cumsum((contrib ** 2).sum(axis=0))])
        norm = np.sqrt(np.maximum(sq[pos + widths] - sq[pos], 1e-24))
        lo = np.array([float((atoms[a].logodds * onehot[:, i:i + atoms[a].width]).sum()) for a, i, _ in found])
        pvals = np.array([logodds_pvalues(atoms[a].logodds, bg, np.array([v]))[0] for a, v in zip(a_idx, lo)])
        frames.append(pd.DataFrame({
            "task": task_name, "sign": sign, "pattern": [atoms[a].pattern.name for a in a_idx],
            "record_index": rec, "record": tracks.names[rec], "start": start, "end": start + widths,
            "strand": ["-" if atoms[a].minus else "+" for a in a_idx], "contribution": contribution,
            "similarity": proj[a_idx, pos] / norm, "log_odds": lo, "p_value": pvals, "score": s * coef}))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in HIT_COLUMNS})
    out = pd.concat(frames, ignore_index=True).sort_values(["record_index", "start", "pattern"], kind="stable")
    out.insert(0, "instance", [f"{task_name}.{k}" for k in range(len(out))])
    return out[HIT_COLUMNS].reset_index(drop=True)
