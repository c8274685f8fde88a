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

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..attribute import attribute
from ..core.errors import InputError
from ..core.progress import progress_bar
from ..core.targets import task_indices
from ..io.fasta import FastaFile, Region, file_checksum, read_bed, record_regions
from ..io.output_dirs import writing
from ..jobs.shards import parse_shard, shard_range, write_shard_info
from ..jobs.work import ChunkedWork, save_npz
from ..models.files import model_fingerprint
from .batcher import ChunkScorer
from .options import SHARD_FORMAT, SHARD_FORMAT_VERSION, ScoreOptions
from .outputs import assemble_outputs
from .summary import SUMMARY_JSON, float64_check_of_chunks, write_score_summary
from .tracks import require_pybigwig, write_score_tracks

log = logging.getLogger(__name__)

WORK_DIR = ".score_work"
# 2: one seed for every batch (shuffles depend on the seed and a window's letters only), shards.
# 3: shuffles drawn by the batched torch walk (another random stream, on the attribution's device),
#    and --precision; chunks of a version-2 run are not resumed into a version-3 one.
MANIFEST_VERSION = 3
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


def _read_chunk_windows(path: Path, n_regions: int) -> int | None:
    """Windows of a finished chunk file, or ``None`` when it is truncated, corrupt or of other regions."""
    try:
        with np.load(path) as done:
            if len(done["action"]) != n_regions:
                return None
            for key in done.files:  # reads (and CRC-checks) every member
                done[key]
            return int(done["n_windows"].sum())
    except Exception:  # noqa: BLE001 - BadZipFile, ValueError, OSError, KeyError, EOFError: all mean "redo"
        return None


#: Names of files a ``score`` run may leave at the top of OUT_DIR (besides this run's own).
SCORE_OUTPUT_PATTERNS = ("scores.h5", "ohe.npz", "shap.npz", "shap_*.npz", "records.tsv", "*.bedGraph",
                         "*.bw", "shard.json", SUMMARY_JSON, "modisco")


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
        ``records.tsv``, ``summary.json`` (float32's error against float64, :mod:`.summary`) and, when regions carry coordinates, ``<task>.bedGraph`` / ``<task>.bw``.
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
    task_idx = task_indices(task_names, options.tasks)
    kept_tasks = [task_names[i] for i in task_idx]
    fasta, bed = Path(fasta), (Path(bed) if bed is not None else None)
    if bigwig:
        require_pybigwig()
    attribute_fn = attribute_fn or attribute
    started = time.perf_counter()
    out_dir = Path(out_dir)
    with FastaFile(fasta, index_dir=index_dir) as fa:
        regions, first, end, n_total = _select_regions(fa, fasta, bed, shard, options.chunk_size)
        manifest = _manifest(
            fasta, bed, model_fingerprint(model), input_length, kept_tasks, options, n_total, shard
        )
        job: ChunkedWork[int] = ChunkedWork(out_dir, "score", WORK_DIR, manifest, SCORE_OUTPUT_PATTERNS)
        chunks_dir = job.open()
        scorer = ChunkScorer(model, input_length, task_idx, options, attribute_fn, len(task_names))
        n_chunks = max(1, math.ceil(len(regions) / options.chunk_size))
        was_training = model.training
        model.eval()
        bar = progress_bar(total=sum(scorer.plan(r.length).n_windows for r in regions), desc="scoring", unit="seq")
        try:
            scored_windows = _run_chunks(job, scorer, fa, regions, options.chunk_size, bar, after_chunk)
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
        attrs = _scores_attrs(kept_tasks, options, input_length, fasta, bed, model_name, manifest)
        check = float64_check_of_chunks([chunks_dir / f"chunk_{k:06d}.npz" for k in range(n_chunks)])
        files, n_scored, n_windows = assemble_outputs(
            out_dir, chunks_dir, n_chunks, regions, kept_tasks, input_length, attrs
        )
    with writing(out_dir):
        files += write_score_tracks(out_dir, kept_tasks, bedgraph=bedgraph, bigwig=bigwig)
        files.append(write_score_summary(out_dir, kept_tasks, options.precision, options.float64_check, check))
    if shard is not None:
        # written last: its presence says the shard's other files are complete
        files.append(write_shard_info(out_dir, SHARD_FORMAT, shard, "region", (first, end), n_total, {
            "format_version": SHARD_FORMAT_VERSION,
            "settings": {k: v for k, v in manifest.items() if k != "shard"},
            "attrs": {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in attrs.items()},
        }))  # fmt: skip
    # The directory holds exactly this run's outputs: files of an earlier run into it (other tasks'
    # shap_<task>.npz and tracks, a shard.json, modisco-lite results) go.
    job.finish(files, keep_work)
    return ScoreSummary(len(regions), n_scored, n_windows, time.perf_counter() - started, files)


def _select_regions(
    fa: FastaFile, fasta: Path, bed: Path | None, shard: tuple[int, int] | None, chunk_size: int
) -> tuple[list[Region], int, int, int]:
    """This run's regions (its shard of them), their first and end index, and the input's total."""
    all_regions = read_bed(bed, fa) if bed is not None else record_regions(fa)
    n_total = len(all_regions)
    # The whole input is read once before any work: a bad letter in the last record is found now,
    # not after hours of scoring, and an input with nothing to score is refused.
    if fa.check_regions(all_regions) == 0:
        what = "region of the BED file" if bed is not None else "record"
        raise InputError(
            f"{bed if bed is not None else fasta}: nothing to score: every {what} is empty or all N "
            "(no A, C, G or T)"
        )
    first, end = shard_range(n_total, shard, chunk_size)
    if shard is not None and first == end:
        log.warning(
            "shard %d/%d: no records (%d record(s) in %d chunk(s) of --chunk-size %d); writing empty outputs",
            *shard,
            n_total,
            -(-n_total // chunk_size),
            chunk_size,
        )
    return list(all_regions[first:end]), first, end, n_total


def _run_chunks(
    job: ChunkedWork[int],
    scorer: ChunkScorer,
    fa: FastaFile,
    regions: Sequence[Region],
    chunk_size: int,
    bar: Any,
    after_chunk: Callable[[int], None] | None,
) -> int:
    """Score every chunk not already saved by an interrupted run; returns the windows scored now."""
    n_chunks = max(1, math.ceil(len(regions) / chunk_size))

    def part(k: int) -> Sequence[Region]:
        return regions[k * chunk_size : (k + 1) * chunk_size]

    def resume(k: int, path: Path) -> int | None:
        done_windows = _read_chunk_windows(path, len(part(k)))
        if done_windows is not None:
            bar.update(done_windows)
            return 0
        return None

    def compute(k: int, path: Path) -> int:
        arrays = scorer.score_chunk(fa, part(k), bar)
        n_windows = int(arrays["n_windows"].sum())
        bar.update(max(0, sum(scorer.plan(r.length).n_windows for r in part(k)) - n_windows))
        save_npz(path, arrays)
        return n_windows

    return sum(job.run(n_chunks, compute, resume, after_chunk))


def _scores_attrs(
    tasks: Sequence[str],
    options: ScoreOptions,
    input_length: int,
    fasta: Path,
    bed: Path | None,
    model_name: str,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """The root attributes of ``scores.h5``."""
    return {
        "task_names": list(tasks),
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

