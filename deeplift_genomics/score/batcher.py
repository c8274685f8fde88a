"""Score one chunk of regions: cut them into model-length windows, attribute them in batches, stitch back.

:class:`ChunkScorer` holds the model and the options, never the data; :meth:`ChunkScorer.score_chunk`
returns the chunk's arrays (per record and per window) that :mod:`.runner` saves and :mod:`.outputs`
assembles.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..attribute import REFERENCE_BLOCK
from ..io.fasta import FastaFile, Region, reverse_complement
from ..references.kinds import references_keeping_columns
from .options import ScoreOptions
from .windows import WindowPlan, known_mask, plan_windows, stitch, strict_one_hot, window_inputs

log = logging.getLogger(__name__)


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float().numpy()
    return np.asarray(value, dtype=np.float32)


def _numpy_or_none(value: Any) -> np.ndarray | None:
    return None if value is None else _numpy(value)



def _one_hot_windows(x: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: windows whose every column is one-hot or all zero (what string references need)."""
    binary = np.all((x == 0) | (x == 1), axis=(1, 2))
    sums = x.sum(axis=1)
    return binary & np.all((sums == 0) | (sums == 1), axis=1)




def _references_keeping_columns(kind: str) -> Callable[[Any, int, int], torch.Tensor]:
    """A references callable for the engine: ``kind`` at one-hot columns, the input itself elsewhere."""

    def make(xb: Any, n: int, seed: int) -> torch.Tensor:
        return references_keeping_columns(xb, kind, n, seed)

    return make


class ChunkScorer:
    """Score chunks of regions; holds the model and the parameters, not the data."""

    def __init__(
        self,
        model: nn.Module,
        input_length: int,
        task_idx: list[int],
        options: ScoreOptions,
        attribute_fn: Callable[..., Any],
        n_model_tasks: int,
    ) -> None:
        self.model = model
        self.length = input_length
        self.task_idx = task_idx
        self.opt = options
        self.attribute = attribute_fn
        self.n_model_tasks = n_model_tasks
        self._warned_hyp = False
        self._check_pending = False
        self._check: dict[str, np.ndarray] = {}
        params = inspect.signature(attribute_fn).parameters
        # a caller's own attribution function (tests, other engines) need not take float64_check
        self._can_check = "float64_check" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def plan(self, length: int) -> WindowPlan:
        return plan_windows(length, self.length, self.opt.long, self.opt.stride, self.opt.short)

    def score_chunk(self, fasta: FastaFile, regions: Sequence[Region], bar: Any) -> dict[str, np.ndarray]:
        opt, n_t = self.opt, len(self.task_idx)
        actions, plans, seqs, n_unknown = [], [], [], []
        inputs: list[np.ndarray] = []
        win_region: list[int] = []
        win_offset: list[int] = []
        for i, region in enumerate(regions):
            seq = fasta.fetch(region.record, region.start, region.end)
            if region.reverse:
                seq = reverse_complement(seq)
            known = known_mask(seq)
            plan = self.plan(len(seq))
            action = plan.action
            if len(seq) == 0:
                action = "skipped_empty"
                log.warning("%s: record '%s' is empty; skipped", fasta.path, region.name)
            elif not known.any():
                action = "skipped_all_n"
                log.warning("%s: record '%s' is all N (no A/C/G/T); skipped", fasta.path, region.name)
            elif action == "skipped_short":
                log.warning(
                    "%s: record '%s' is shorter (%d) than the model's input (%d); skipped (--short skip)",
                    fasta.path,
                    region.name,
                    len(seq),
                    self.length,
                )
            if action.startswith("skipped"):
                plan = WindowPlan(action, np.zeros(0, dtype=np.int64), 0, 0)
            actions.append(action)
            plans.append(plan)
            seqs.append(seq)
            n_unknown.append(int((~known[plan.scored_start : plan.scored_end]).sum()))
            if plan.n_windows:
                inputs.append(window_inputs(seq, plan, self.length, opt.pad_value, opt.unknown))
                win_region.extend([i] * plan.n_windows)
                win_offset.extend(int(o) for o in plan.offsets)
        x = np.concatenate(inputs) if inputs else np.zeros((0, 4, self.length), dtype=np.float32)
        n_win = len(x)
        win_proj = np.zeros((n_win, n_t, self.length), dtype=np.float32)
        win_hyp = np.zeros((n_win, n_t, 4, self.length), dtype=np.float32)
        win_pred = np.zeros((n_win, n_t), dtype=np.float32)
        win_delta = np.full(n_win, np.nan, dtype=np.float32)
        block = REFERENCE_BLOCK
        # the first attribution call of the chunk recomputes its first windows in float64
        self._check_pending = opt.float64_check > 0 and self._can_check and opt.method != "ism"
        self._check = {}
        for lo in range(0, n_win, opt.batch_size):
            hi = min(n_win, lo + opt.batch_size)
            xb = x[lo:hi]
            hot = _one_hot_windows(xb)
            for group_all, plain in ((np.flatnonzero(hot), True), (np.flatnonzero(~hot), False)):
                for g0 in range(0, len(group_all), block):
                    group = group_all[g0 : g0 + block]
                    proj, hyp, pred, delta = self._attribute(xb[group], opt.seed + (0 if plain else 1), plain)
                    win_proj[lo + group] = proj
                    win_hyp[lo + group] = hyp
                    win_pred[lo + group] = pred
                    win_delta[lo + group] = delta
            bar.update(hi - lo)
        arrays = self._stitch(
            regions,
            actions,
            plans,
            seqs,
            n_unknown,
            x,
            win_region,
            win_offset,
            win_proj,
            win_hyp,
            win_pred,
            win_delta,
        )
        arrays.update(self._check)
        return arrays

    def _attribute(self, xb: np.ndarray, seed: int, plain: bool) -> tuple[np.ndarray, ...]:
        """Attributions of windows ``xb``: projected (n,T,L), hypothetical (n,T,4,L), logits (n,T), max |delta| (n,).

        ``plain`` windows are one-hot (all-zero columns allowed). The others hold uniform N columns or
        non-zero padding; the engine takes them only with explicit references and gives no hypothetical
        contributions for them, so those are NaN. Their references equal the input at those columns,
        which therefore contribute nothing.
        """
        opt = self.opt
        n_all = self.n_model_tasks
        subset = len(self.task_idx) < n_all
        references: Any = opt.references if plain else _references_keeping_columns(opt.references)
        extra: dict[str, Any] = {} if plain else {"hypothetical": None}
        if opt.precision != "fp32":
            extra["precision"] = opt.precision
        checking = self._check_pending
        if checking:
            extra["float64_check"] = opt.float64_check
            self._check_pending = False
        res = self.attribute(
            self.model,
            torch.from_numpy(np.ascontiguousarray(xb)),
            method=opt.method,
            rule=opt.rule,
            target=self.task_idx if subset else None,
            references=references,
            n_references=opt.n_references if plain or opt.references == "shuffle" else 1,
            n_steps=opt.n_steps,
            batch_size=opt.batch_size,
            device=opt.device,
            seed=seed,
            verbose=False,
            **extra,
        )

        def tasks(arr: np.ndarray, axis: int) -> np.ndarray:
            # engines that ignore ``target`` return every task
            return np.take(arr, self.task_idx, axis=axis) if subset and arr.shape[axis] == n_all else arr

        n = len(xb)
        report = getattr(res, "precision_check", None) or {}
        if checking and "max_abs_diff_vs_fp64_per_target" in report:
            self._check = {
                "f64_check_windows": np.asarray(report["float64_sequences"], dtype=np.int64),
                "f64_check_max_abs_diff": np.asarray(report["max_abs_diff_vs_fp64_per_target"], dtype=np.float64),
                "f64_check_max_abs_score": np.asarray(report["max_abs_contribution_fp64_per_target"],
                                                      dtype=np.float64),
            }
        proj = tasks(_numpy(res.projected), 1)
        hyp_raw = _numpy_or_none(getattr(res, "hypothetical", None))
        hyp = (
            tasks(hyp_raw, 1)
            if hyp_raw is not None
            else np.full((n, len(self.task_idx), 4, self.length), np.nan)
        )
        pred = tasks(_numpy(res.outputs), 1)
        deltas = _numpy_or_none(getattr(res, "deltas", None))
        delta = (
            np.abs(tasks(deltas, deltas.ndim - 1)).reshape(n, -1).max(axis=1)
            if deltas is not None
            else np.full(n, np.nan, dtype=np.float32)
        )
        return proj, hyp, pred, delta

    def _stitch(
        self,
        regions,
        actions,
        plans,
        seqs,
        n_unknown,
        x,
        win_region,
        win_offset,
        win_proj,
        win_hyp,
        win_pred,
        win_delta,
    ) -> dict[str, np.ndarray]:
        n, n_t = len(regions), len(self.task_idx)
        win_region_arr = np.asarray(win_region, dtype=np.int64)
        # windows are appended record by record, so record i owns one contiguous run of them
        win_bounds = np.searchsorted(win_region_arr, np.arange(n + 1))
        proj_parts, hyp_parts, seq_parts = [], [], []
        offsets = np.zeros(n + 1, dtype=np.int64)
        pred = np.full((n, n_t), np.nan, dtype=np.float32)
        total = np.full((n, n_t), np.nan, dtype=np.float32)
        max_delta = np.full(n, np.nan, dtype=np.float32)
        for i, plan in enumerate(plans):
            sel = slice(win_bounds[i], win_bounds[i + 1])
            span = plan.scored_end - plan.scored_start
            offsets[i + 1] = offsets[i] + span
            if win_bounds[i] == win_bounds[i + 1]:
                continue
            scored_seq = seqs[i][plan.scored_start : plan.scored_end]
            unknown = ~known_mask(scored_seq)
            proj = stitch(win_proj[sel], plan)
            hyp = stitch(win_hyp[sel], plan)
            proj[:, unknown] = np.nan
            hyp[:, :, unknown] = np.nan
            proj_parts.append(proj)
            hyp_parts.append(hyp)
            seq_parts.append(np.frombuffer(scored_seq.encode("ascii"), dtype=np.uint8))
            pred[i] = win_pred[sel].mean(axis=0)
            # Sum over the known bases only (N columns are NaN by design); a NaN score there stays NaN.
            total[i] = proj[:, ~unknown].sum(axis=1)
            if np.isfinite(win_delta[sel]).any():
                max_delta[i] = np.nanmax(win_delta[sel])
        ohe = strict_one_hot(x)
        zero = ohe.sum(axis=1) == 0  # padded or unknown columns: modisco-lite gets zeros there, not NaN
        shap = np.where(zero[:, None, None, :], np.float32(0), win_hyp)
        return {
            "action": np.asarray(actions, dtype="U16"),
            "n_windows": np.asarray([p.n_windows for p in plans], dtype=np.int64),
            "n_unknown": np.asarray(n_unknown, dtype=np.int64),
            "scored_start": np.asarray([p.scored_start for p in plans], dtype=np.int64),
            "scored_end": np.asarray([p.scored_end for p in plans], dtype=np.int64),
            "offset": offsets,
            "projected": np.concatenate(proj_parts, axis=1) if proj_parts else np.zeros((n_t, 0), np.float32),
            "hypothetical": np.concatenate(hyp_parts, axis=2)
            if hyp_parts
            else np.zeros((n_t, 4, 0), np.float32),
            "sequence": np.concatenate(seq_parts) if seq_parts else np.zeros(0, np.uint8),
            "predictions": pred,
            "total": total,
            "max_delta": max_delta,
            "win_region": win_region_arr,
            "win_offset": np.asarray(win_offset, dtype=np.int64),
            "win_pred": win_pred,
            "win_ohe": ohe.astype(np.uint8),
            "win_shap": shap.astype(np.float32, copy=False),
        }
