"""Stream a FASTA (or BED regions of it) through a model and its attributions, chunk by chunk.

records -> model-length windows (:mod:`windows`) -> batches -> ``attribute(...)`` -> per-record stitching.
Work is done in chunks of ``chunk_size`` records, each saved to ``OUT_DIR/.score_work/chunks`` as it
completes; a rerun with the same inputs and parameters (checked against ``manifest.json``: checksums of
the FASTA, BED and model weights, and every parameter) skips the chunks already there, so an interrupted
run resumes. Memory is bounded by one chunk (plus one batch of attributions), not by the file. The final
files (see :mod:`score_outputs`) are assembled from the chunks, each written to a temporary name and
renamed.

Sharding: ``shard=(K, N)`` scores only the K-th (1-based) of N contiguous, balanced blocks of the chunks
(``chunk_size`` records or BED regions each, counted from the first record) and writes a complete
OUT_DIR for them plus ``shard.json``; :mod:`score_gather` merges the N shard directories into what one
unsharded run writes, to the last bit. Two things make that exact: every attribution call gets the same
seed, and the engine's shuffles depend only on that seed and a window's own letters; and shards cut
the records only where an unsharded run starts a new chunk, so every batch of windows is the same
(kernels such as convolutions may round differently for a different batch).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import json
import logging
import math
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .atomic import atomic_path, atomic_write_text
from .errors import InputError
from .fasta import FastaFile, Region, file_checksum, read_bed, record_regions
from .progress import progress_bar
from .score_outputs import NpzStreamWriter, closing_all, create_scores_h5
from .windows import WindowPlan, known_mask, plan_windows, stitch, strict_one_hot, window_inputs

log = logging.getLogger(__name__)

WORK_DIR = ".score_work"
# 2: one seed for every batch (shuffles depend on the seed and a window's letters only), shards.
MANIFEST_VERSION = 2
UNKNOWN_CHOICES = ("zeros", "uniform")
SHARD_FILE = "shard.json"
SHARD_FORMAT = "deeplift-genomics-score-shard"
SHARD_FORMAT_VERSION = 1
# The engine seeds blocks after the first of one call with a seed derived from the block index; calls of
# at most this many windows keep every window on the run's own seed.
_REFERENCE_BLOCK_FALLBACK = 256


@dataclasses.dataclass(frozen=True)
class ScoreOptions:
    """Parameters of a scoring run (all end up in the resume manifest).

    Attributes
    ----------
    method, rule, references, n_references, n_steps
        Passed to :func:`deeplift_genomics.attribute`.
    long
        ``"tile"`` or ``"crop"`` for records longer than the model's input.
    stride
        Step of tiled windows (default: half the input length).
    short
        ``"pad"`` or ``"skip"`` for records shorter than the model's input.
    pad_value
        Value of all four channels in padded columns.
    unknown
        N/IUPAC columns as ``"zeros"`` or ``"uniform"`` (0.25).
    batch_size
        Windows per ``attribute`` call.
    chunk_size
        Records per resumable chunk.
    device, seed
        Where to run; base seed of the reference shuffles.
    tasks
        Task names to keep (default: all).
    """

    method: str = "deeplift"
    rule: str = "genomics_default"
    references: str = "shuffle"
    n_references: int = 20
    n_steps: int = 10
    long: str = "tile"
    stride: int | None = None
    short: str = "pad"
    pad_value: float = 0.0
    unknown: str = "zeros"
    batch_size: int = 128
    chunk_size: int = 1000
    device: str = "auto"
    seed: int = 0
    tasks: tuple[str, ...] | None = None

    def check(self, input_length: int) -> None:
        """Raise :class:`InputError` for values that cannot work."""
        if self.long not in ("tile", "crop"):
            raise InputError(f"--long {self.long!r}: expected tile or crop")
        if self.short not in ("pad", "skip"):
            raise InputError(f"--short {self.short!r}: expected pad or skip")
        if self.unknown not in UNKNOWN_CHOICES:
            raise InputError(f"--unknown {self.unknown!r}: expected zeros or uniform")
        if self.stride is not None and not 1 <= self.stride <= input_length:
            raise InputError(
                f"--stride {self.stride}: must be between 1 and the model's input length {input_length}"
            )
        for name in ("batch_size", "chunk_size", "n_references"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        if not math.isfinite(self.pad_value):
            raise InputError(f"--pad-value {self.pad_value}: must be a finite number")


def parse_shard(text: str | Sequence[int] | None) -> tuple[int, int] | None:
    """``"K/N"`` (1-based K, 1 <= K <= N) as ``(K, N)``; None stays None.

    Raises
    ------
    InputError
        Anything else, with the expected form in the message.
    """
    if text is None:
        return None
    if isinstance(text, (tuple, list)) and len(text) == 2:
        parts = [str(v) for v in text]
    else:
        parts = str(text).strip().split("/")
    what = "/".join(parts)
    try:
        if len(parts) != 2:
            raise ValueError
        k, n = int(parts[0]), int(parts[1])
    except ValueError:
        raise InputError(
            f"--shard {what}: expected K/N with whole numbers, e.g. 1/4 (K counts from 1)"
        ) from None
    if n < 1 or not 1 <= k <= n:
        raise InputError(f"--shard {what}: expected 1 <= K <= N (K counts from 1), e.g. 1/{max(n, 1)}")
    return k, n


def shard_range(n_items: int, shard: tuple[int, int] | None, chunk_size: int = 1) -> tuple[int, int]:
    """``[start, end)`` of the items of 1-based shard ``(K, N)``.

    The items are cut into chunks of ``chunk_size`` (the last may be shorter); shard K gets the K-th of N
    contiguous blocks of chunks whose sizes differ by at most one chunk. Blocks are empty when N exceeds
    the number of chunks.
    """
    if shard is None:
        return 0, n_items
    k, n = shard
    n_chunks = -(-n_items // chunk_size)
    first, end = (k - 1) * n_chunks // n, k * n_chunks // n
    return min(n_items, first * chunk_size), min(n_items, end * chunk_size)


@dataclasses.dataclass
class ScoreSummary:
    """What a run did: counts, timing and the files written."""

    n_records: int
    n_scored: int
    n_windows: int
    seconds: float
    files: list[Path]

    @property
    def windows_per_second(self) -> float:
        return self.n_windows / self.seconds if self.seconds > 0 else float("nan")


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 over the names, shapes and bytes of ``model.state_dict()``."""
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(key.encode())
        digest.update(str(tuple(t.shape)).encode())
        digest.update(str(t.dtype).encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _default_attribute() -> Callable[..., Any]:
    from .attribute import attribute

    return attribute


def _numpy(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float().numpy()
    return np.asarray(value, dtype=np.float32)


def _task_indices(task_names: Sequence[str], wanted: Sequence[str] | None) -> list[int]:
    if not wanted:
        return list(range(len(task_names)))
    missing = [t for t in wanted if t not in task_names]
    if missing:
        raise InputError(
            f"--tasks: unknown task(s) {', '.join(missing)}; the model has {', '.join(task_names)}"
        )
    return [list(task_names).index(t) for t in wanted]


def _genomic_interval(region: Region, scored_start: int, scored_end: int) -> tuple[str, int, int]:
    if region.chrom is None or region.chrom_start is None or scored_end <= scored_start:
        return "", -1, -1
    if region.strand == "-":
        top = region.chrom_start + region.length
        return region.chrom, top - scored_end, top - scored_start
    return region.chrom, region.chrom_start + scored_start, region.chrom_start + scored_end


_BACKGROUND = (0.3, 0.2, 0.2, 0.3)  # the engine's default A, C, G, T frequencies


def _one_hot_windows(x: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: windows whose every column is one-hot or all zero (what string references need)."""
    binary = np.all((x == 0) | (x == 1), axis=(1, 2))
    sums = x.sum(axis=1)
    return binary & np.all((sums == 0) | (sums == 1), axis=1)


def _references_fixing_columns(kind: str) -> Callable[[Any, int, int], torch.Tensor]:
    """References of ``kind`` for the one-hot columns of x, equal to x at its other columns."""

    def make(xb: Any, n: int, seed: int) -> torch.Tensor:
        x = torch.as_tensor(xb, dtype=torch.float32).cpu()
        hot = torch.from_numpy(strict_one_hot(x.numpy()))
        if kind == "shuffle":
            from .shuffle import dinucleotide_shuffle

            refs = torch.as_tensor(dinucleotide_shuffle(hot, n, seed), dtype=torch.float32)
        elif kind == "background":
            refs = (
                torch.tensor(_BACKGROUND, dtype=torch.float32)
                .reshape(1, 1, 4, 1)
                .expand(len(x), n, 4, x.shape[2])
            )
        else:
            refs = torch.zeros((len(x), n, 4, x.shape[2]))
        other = (hot.sum(dim=1) == 0)[:, None, None, :]
        return torch.where(other, x[:, None], refs).contiguous()

    return make


def _reference_block() -> int:
    try:
        from .attribute import REFERENCE_BLOCK
    except ImportError:
        return _REFERENCE_BLOCK_FALLBACK
    return int(REFERENCE_BLOCK)


class _Scorer:
    """Score chunks of regions; holds the model and the parameters, not the data."""

    def __init__(
        self,
        model: nn.Module,
        input_length: int,
        task_idx: list[int],
        options: ScoreOptions,
        attribute_fn: Callable[..., Any],
        n_model_tasks: int,
    ):
        self.model = model
        self.length = input_length
        self.task_idx = task_idx
        self.opt = options
        self.attribute = attribute_fn
        self.n_model_tasks = n_model_tasks
        self._warned_hyp = False

    def plan(self, length: int) -> WindowPlan:
        return plan_windows(length, self.length, self.opt.long, self.opt.stride, self.opt.short)

    def score_chunk(self, fasta: FastaFile, regions: Sequence[Region], bar: Any) -> dict[str, np.ndarray]:
        opt, n_t = self.opt, len(self.task_idx)
        actions, plans, seqs, n_unknown = [], [], [], []
        inputs, win_region, win_offset = [], [], []
        for i, region in enumerate(regions):
            seq = fasta.fetch(region.record, region.start, region.end)
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
        block = _reference_block()
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
        return self._stitch(
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
        references: Any = opt.references if plain else _references_fixing_columns(opt.references)
        extra = {} if plain else {"hypothetical": None}
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
        proj = tasks(_numpy(res.projected), 1)
        hyp_raw = _numpy(getattr(res, "hypothetical", None))
        hyp = (
            tasks(hyp_raw, 1)
            if hyp_raw is not None
            else np.full((n, len(self.task_idx), 4, self.length), np.nan)
        )
        pred = tasks(_numpy(res.outputs), 1)
        deltas = _numpy(getattr(res, "deltas", None))
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
            total[i] = np.nansum(proj, axis=1)
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
            "win_shap": shap.astype(np.float32),
        }


def _manifest(
    fasta: Path,
    bed: Path | None,
    model_id: str,
    input_length: int,
    task_names: Sequence[str],
    options: ScoreOptions,
    n_regions: int,
    shard: tuple[int, int] | None,
) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "fasta": str(fasta),
        "fasta_sha256": file_checksum(fasta),
        "bed_sha256": file_checksum(bed) if bed is not None else None,
        "model_sha256": model_id,
        "input_length": int(input_length),
        "task_names": list(task_names),
        "n_regions": n_regions,
        "shard": list(shard) if shard is not None else None,
        "options": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(options).items()
        },
    }


def _prepare_work(work: Path, manifest: dict[str, Any]) -> Path:
    chunks = work / "chunks"
    path = work / "manifest.json"
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
        if old == manifest:
            done = len(list(chunks.glob("chunk_*.npz"))) if chunks.exists() else 0
            if done:
                log.info("resuming: %d completed chunk(s) found in %s", done, chunks)
        else:
            log.warning("%s: inputs or parameters changed since the interrupted run; starting over", work)
            shutil.rmtree(work)
    chunks.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        atomic_write_text(path, json.dumps(manifest, indent=1, sort_keys=True))
    return chunks


def score_fasta(
    model: nn.Module,
    input_length: int,
    task_names: Sequence[str],
    fasta: str | Path,
    out_dir: str | Path,
    *,
    bed: str | Path | None = None,
    options: ScoreOptions | None = None,
    attribute_fn: Callable[..., Any] | None = None,
    bedgraph: bool = True,
    bigwig: bool = False,
    keep_work: bool = False,
    index_dir: str | Path | None = None,
    model_name: str = "",
    after_chunk: Callable[[int], None] | None = None,
    shard: tuple[int, int] | str | None = None,
) -> ScoreSummary:
    """Score every record of ``fasta`` (or every region of ``bed``) and write OUT_DIR's files.

    Parameters
    ----------
    model
        Maps ``(N, 4, input_length)`` one-hot (A,C,G,T) to ``(N, T)`` logits.
    input_length
        The model's input length.
    task_names
        One name per model output.
    fasta, bed
        Input files (see :mod:`fasta`).
    out_dir
        Output directory: ``scores.h5``, ``ohe.npz``, ``shap.npz`` (+ ``shap_<task>.npz``),
        ``records.tsv`` and, when regions carry coordinates, ``<task>.bedGraph`` / ``<task>.bw``.
    options
        :class:`ScoreOptions` (defaults when ``None``).
    attribute_fn
        The attribution function (default :func:`deeplift_genomics.attribute`), called per batch.
    bedgraph, bigwig
        Which track files to write.
    keep_work
        Keep ``OUT_DIR/.score_work`` (the resumable chunks) after success.
    index_dir
        Where to build a FASTA index when the FASTA's directory is read-only.
    model_name
        Model path or name, recorded in ``scores.h5``.
    after_chunk
        Called with the chunk index after each chunk is saved (tests use it to simulate a crash).
    shard
        ``(K, N)`` or ``"K/N"``: score only the K-th (1-based) of N contiguous, balanced blocks of the
        chunks of records (or BED regions), see :func:`shard_range`, and add ``shard.json``, which
        :func:`score_gather.gather_shards` reads.

    Returns
    -------
    ScoreSummary

    Raises
    ------
    InputError
        Bad FASTA/BED, unknown task names, impossible options; raised before OUT_DIR is created
        except for bad letters found while reading sequences.
    """
    options = options or ScoreOptions()
    options.check(input_length)
    shard = parse_shard(shard)
    task_idx = _task_indices(task_names, options.tasks)
    kept_tasks = [task_names[i] for i in task_idx]
    fasta, bed = Path(fasta), (Path(bed) if bed is not None else None)
    if bigwig:
        _require_pybigwig()
    attribute_fn = attribute_fn or _default_attribute()
    started = time.perf_counter()
    with FastaFile(fasta, index_dir=index_dir) as fa:
        all_regions = read_bed(bed, fa) if bed is not None else record_regions(fa)
        n_total = len(all_regions)
        first, end = shard_range(n_total, shard, options.chunk_size)
        if shard is not None and first == end:
            log.warning(
                "shard %d/%d: no records (%d record(s) in %d chunk(s) of --chunk-size %d); "
                "writing empty outputs",
                *shard,
                n_total,
                -(-n_total // options.chunk_size),
                options.chunk_size,
            )
        regions = all_regions[first:end]
        del all_regions
        out_dir = Path(out_dir)
        manifest = _manifest(
            fasta, bed, model_fingerprint(model), input_length, kept_tasks, options, n_total, shard
        )
        work = out_dir / WORK_DIR
        out_existed = out_dir.exists()
        chunks_dir = _prepare_work(work, manifest)
        scorer = _Scorer(model, input_length, task_idx, options, attribute_fn, len(task_names))
        n_chunks = max(1, math.ceil(len(regions) / options.chunk_size))
        planned = sum(scorer.plan(r.length).n_windows for r in regions)
        was_training = model.training
        model.eval()
        bar = progress_bar(total=planned, desc="scoring", unit="seq")
        scored_windows = 0
        try:
            for k in range(n_chunks):
                path = chunks_dir / f"chunk_{k:06d}.npz"
                part = regions[k * options.chunk_size : (k + 1) * options.chunk_size]
                if path.exists():
                    with np.load(path) as done:
                        bar.update(int(done["n_windows"].sum()))
                    continue
                arrays = scorer.score_chunk(fa, part, bar)
                scored_windows += int(arrays["n_windows"].sum())
                skipped = sum(scorer.plan(r.length).n_windows for r in part) - int(arrays["n_windows"].sum())
                bar.update(max(0, skipped))
                with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                    np.savez(handle, **arrays)
                if after_chunk is not None:
                    after_chunk(k)
        except InputError:
            # bad input met before any chunk was done (a bad letter, a model the engine refuses): leave nothing
            if not any(chunks_dir.glob("chunk_*.npz")):
                shutil.rmtree(work, ignore_errors=True)
                if not out_existed:
                    with contextlib.suppress(OSError):
                        out_dir.rmdir()
            raise
        finally:
            bar.close()
            model.train(was_training)
        seconds = time.perf_counter() - started
        log.info(
            "scored %d window(s) of %d record(s) in %.1f s (%.1f seq/s)",
            scored_windows,
            len(regions),
            seconds,
            scored_windows / seconds if seconds else float("nan"),
        )
        attrs = {
            "task_names": kept_tasks,
            "method": options.method,
            "rule": options.rule,
            "references": options.references,
            "n_references": options.n_references,
            "input_length": int(input_length),
            "fasta": str(fasta),
            "bed": str(bed) if bed is not None else "",
            "model": model_name,
            "options": json.dumps(manifest["options"]),
        }
        files, n_scored, n_windows = _assemble(
            out_dir, chunks_dir, n_chunks, regions, kept_tasks, input_length, attrs
        )
    files += _write_tracks(out_dir, kept_tasks, bedgraph=bedgraph, bigwig=bigwig)
    shard_path = out_dir / SHARD_FILE
    if shard is not None:
        # written last: its presence says the shard's other files are complete
        info = {
            "format": SHARD_FORMAT,
            "format_version": SHARD_FORMAT_VERSION,
            "shard": shard[0],
            "n_shards": shard[1],
            "first_region": first,
            "end_region": end,
            "n_regions": n_total,
            "settings": {k: v for k, v in manifest.items() if k != "shard"},
            "attrs": {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in attrs.items()},
        }
        atomic_write_text(shard_path, json.dumps(info, indent=1, sort_keys=True) + "\n")
        files.append(shard_path)
    elif shard_path.exists():
        shard_path.unlink()  # a stale marker from an earlier sharded run into this directory
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return ScoreSummary(len(regions), n_scored, n_windows, time.perf_counter() - started, files)


def _chunk_paths(chunks_dir: Path, n_chunks: int) -> list[Path]:
    return [chunks_dir / f"chunk_{k:06d}.npz" for k in range(n_chunks)]


def _assemble(
    out_dir: Path,
    chunks_dir: Path,
    n_chunks: int,
    regions: Sequence[Region],
    tasks: Sequence[str],
    input_length: int,
    attrs: dict[str, Any],
) -> tuple[list[Path], int, int]:
    import h5py

    paths = _chunk_paths(chunks_dir, n_chunks)
    n_bases = n_windows = 0
    for path in paths:
        with np.load(path) as part:
            n_bases += int(part["offset"][-1])
            n_windows += len(part["win_region"])
    n_t = len(tasks)
    files = [out_dir / "scores.h5", out_dir / "ohe.npz", out_dir / "shap.npz", out_dir / "records.tsv"]
    task_files = [out_dir / f"shap_{_safe(t)}.npz" for t in tasks] if n_t > 1 else []
    n_scored = 0
    with (
        atomic_path(files[0]) as h5_tmp,
        atomic_path(files[1]) as ohe_tmp,
        atomic_path(files[2]) as shap_tmp,
        atomic_path(files[3]) as tsv_tmp,
        contextlib.ExitStack() as stack,
    ):
        task_tmps = [stack.enter_context(atomic_path(p)) for p in task_files]
        shape = (n_windows, 4, input_length)
        ohe_w = NpzStreamWriter(ohe_tmp, shape, np.uint8)  # modisco-lite casts to float32 itself
        shap_w = NpzStreamWriter(shap_tmp, shape, np.float32)
        task_w = [NpzStreamWriter(p, shape, np.float32) for p in task_tmps]
        with (
            closing_all([ohe_w, shap_w, *task_w]),
            h5py.File(h5_tmp, "w") as h5,
            open(tsv_tmp, "w", newline="", encoding="utf-8") as tsv,
        ):
            create_scores_h5(
                h5, n_records=len(regions), n_bases=n_bases, n_windows=n_windows, n_tasks=n_t, attrs=attrs
            )
            writer = csv.writer(tsv, delimiter="\t", lineterminator="\n")
            writer.writerow(
                [
                    "name",
                    "record",
                    "length",
                    "action",
                    "scored_start",
                    "scored_end",
                    "n_windows",
                    "n_unknown",
                    "chrom",
                    "chrom_start",
                    "chrom_end",
                ]
                + [f"prediction_{t}" for t in tasks]
                + [f"total_contribution_{t}" for t in tasks]
                + ["max_delta_error"]
            )
            r0 = b0 = w0 = 0
            for path in paths:
                with np.load(path) as stored:
                    part = {key: stored[key] for key in stored.files}  # one read per member, not per row
                    n = len(part["action"])
                    nb = int(part["offset"][-1])
                    nw = len(part["win_region"])
                    rec = h5["records"]
                    chunk_regions = regions[r0 : r0 + n]
                    genomic = [
                        _genomic_interval(reg, int(s), int(e))
                        for reg, s, e in zip(chunk_regions, part["scored_start"], part["scored_end"])
                    ]
                    rec["name"][r0 : r0 + n] = [reg.name for reg in chunk_regions]
                    rec["record"][r0 : r0 + n] = [reg.record for reg in chunk_regions]
                    rec["length"][r0 : r0 + n] = [reg.length for reg in chunk_regions]
                    rec["action"][r0 : r0 + n] = list(part["action"])
                    rec["strand"][r0 : r0 + n] = [reg.strand for reg in chunk_regions]
                    rec["chrom"][r0 : r0 + n] = [g[0] for g in genomic]
                    rec["chrom_start"][r0 : r0 + n] = [g[1] for g in genomic]
                    rec["chrom_end"][r0 : r0 + n] = [g[2] for g in genomic]
                    for key in ("scored_start", "scored_end", "n_windows", "n_unknown"):
                        rec[key][r0 : r0 + n] = part[key]
                    rec["offset"][r0 : r0 + n + 1] = part["offset"] + b0
                    h5["predictions"][r0 : r0 + n] = part["predictions"]
                    h5["total_contribution"][r0 : r0 + n] = part["total"]
                    h5["max_delta_error"][r0 : r0 + n] = part["max_delta"]
                    if nb:
                        h5["sequence"][b0 : b0 + nb] = part["sequence"]
                        h5["projected"][:, b0 : b0 + nb] = part["projected"]
                        h5["hypothetical"][:, :, b0 : b0 + nb] = part["hypothetical"]
                    if nw:
                        h5["windows/record"][w0 : w0 + nw] = part["win_region"] + r0
                        h5["windows/offset"][w0 : w0 + nw] = part["win_offset"]
                        h5["windows/predictions"][w0 : w0 + nw] = part["win_pred"]
                        ohe_w.write(part["win_ohe"])
                        shap = part["win_shap"]
                        shap_w.write(shap[:, 0])
                        for t, tw in enumerate(task_w):
                            tw.write(shap[:, t])
                    for j, reg in enumerate(chunk_regions):
                        writer.writerow(
                            [
                                reg.name,
                                reg.record,
                                reg.length,
                                part["action"][j],
                                int(part["scored_start"][j]),
                                int(part["scored_end"][j]),
                                int(part["n_windows"][j]),
                                int(part["n_unknown"][j]),
                                genomic[j][0],
                                genomic[j][1],
                                genomic[j][2],
                            ]
                            + [_fmt(v) for v in part["predictions"][j]]
                            + [_fmt(v) for v in part["total"][j]]
                            + [_fmt(part["max_delta"][j])]
                        )
                    n_scored += int((part["n_windows"] > 0).sum())
                    r0, b0, w0 = r0 + n, b0 + nb, w0 + nw
    return files + task_files, n_scored, n_windows


def _fmt(value: float) -> str:
    return "NA" if not np.isfinite(value) else f"{float(value):.6g}"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _require_pybigwig() -> None:
    try:
        import pyBigWig  # noqa: F401
    except ImportError:
        raise InputError("--bigwig needs pyBigWig (pip install pyBigWig); use --bedgraph instead") from None


def _write_tracks(out_dir: Path, tasks: Sequence[str], *, bedgraph: bool, bigwig: bool) -> list[Path]:
    from .tracks import write_tracks

    if not (bedgraph or bigwig):
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return write_tracks(out_dir / "scores.h5", out_dir, tasks, bedgraph=bedgraph, bigwig=bigwig)
