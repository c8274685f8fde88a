"""``deeplift-genomics score``: per-base contributions for every record of a FASTA (or BED regions of it).

Loads the model, then streams the sequences through :func:`score.score_fasta`; optionally runs
modisco-lite on the hypothetical contributions. ``--shard K/N`` scores only the K-th (1-based) of N
contiguous, balanced blocks of the records (whole chunks of ``--chunk-size`` records);
``--gather SHARD_DIR ... --out OUT_DIR`` merges the N shard directories into exactly what one unsharded
run writes (:mod:`score_gather`). Flags override ``--config`` keys (YAML, flag names with underscores,
top level or under ``score:``), which override the defaults below.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
from pathlib import Path
from typing import Any

# choices from the modules that define them: benchmark.run would import pandas and scikit-learn
from ..attribute import PRECISIONS
from ..attribute import RULES as RULE_CHOICES
from ..core.devices import DEVICE_CHOICES
from ..core.errors import InputError
from ..engine.ops import METHODS as METHOD_CHOICES
from ..io.onehot import ALPHABET
from ..io.output_dirs import guarded_output
from ..jobs.shards import parse_shard
from ..models.files import load_model
from ..models.quality import model_quality_line
from ..references.kinds import REFERENCE_KINDS as REFERENCE_CHOICES
from ..score.gather import gather_shards
from ..score.modisco import run_modisco
from ..score.options import UNKNOWN_CHOICES, ScoreOptions
from ..score.runner import score_fasta
from ..score.tracks import require_pybigwig
from .settings import BY_RULE, Setting, add_setting_flags, resolve_settings, task_list

log = logging.getLogger(__name__)

SETTINGS: dict[str, Setting] = {
    "model": Setting(kind=str, metavar="MODEL_DIR", group='input and output',
                help='trained model directory (model.json + weights)', workflow=BY_RULE),
    "fasta": Setting(kind=str, metavar="FILE", group='input and output',
                help='FASTA file, plain or bgzip-compressed', workflow=BY_RULE),
    "bed": Setting(kind=str, metavar="FILE", group='input and output',
                help='score these regions (BED, 3+ columns) instead of whole records', workflow=BY_RULE),
    "out": Setting(kind=str, metavar="OUT_DIR", group='input and output',
                help='output directory', workflow=BY_RULE),
    "shard": Setting(None, str, metavar="K/N", group='input and output',
                help='score only the K-th of N contiguous, balanced blocks of the records, cut between chunks of --chunk-size records (K counts from 1); the OUT_DIR is complete for them and carries shard.json for --gather', workflow=BY_RULE),
    "gather": Setting(None, list, metavar="SHARD_DIR", nargs="+", group='input and output',
                help='instead of scoring, merge the OUT_DIRs of --shard 1/N..N/N into --out (no --model/--fasta)', workflow=BY_RULE),
    "method": Setting("deeplift", str, METHOD_CHOICES, group='attribution',
                help='attribution method', workflow="score.method.method"),
    "rule": Setting("genomics_default", str, RULE_CHOICES, group='attribution',
                help='DeepLIFT rule', workflow="score.method.rule"),
    "references": Setting("shuffle", str, REFERENCE_CHOICES, group='attribution',
                help='references', workflow="score.method.references"),
    "n_references": Setting(20, int, group='attribution',
                help='references per sequence', workflow="score.method.n_references"),
    "n_steps": Setting(10, int, group='attribution',
                help='integrated-gradients steps', workflow="score.method.n_steps"),
    "tasks": Setting(None, list, group='attribution', shown_default='all',
                help='comma-separated task names to keep', workflow="score.tasks"),
    "long": Setting("tile", str, ("tile", "crop"), group='sequence lengths and letters',
                help='records longer than the model: tile or crop', workflow="score.long"),
    "stride": Setting(None, int, group='sequence lengths and letters', shown_default='half the input length',
                help='step between tiled windows', workflow="score.stride"),
    "short": Setting("pad", str, ("pad", "skip"), group='sequence lengths and letters',
                help='records shorter than the model: pad or skip', workflow="score.short"),
    "pad_value": Setting(0.0, float, group='sequence lengths and letters',
                help='value of every channel in padded columns', workflow="score.pad_value"),
    "unknown": Setting("zeros", str, UNKNOWN_CHOICES, group='sequence lengths and letters',
                help='N/IUPAC columns: zeros or uniform', workflow="score.unknown"),
    "batch_size": Setting(128, int, group='running',
                help='windows per attribution batch', workflow="score.batch_size"),
    "chunk_size": Setting(1000, int, group='running',
                help='records per resumable chunk', workflow="score.chunk_size"),
    "device": Setting("auto", str, DEVICE_CHOICES, group='running', help='auto, cpu or cuda', workflow="device"),
    "precision": Setting("fp32", str, PRECISIONS, group='running',
                help="fp32; on CUDA, opt-in tf32 or bf16 (their error against fp32 is logged); fp64: float64 throughout (about 5x slower on a CPU)", workflow="score.precision"),
    "float64_check": Setting(2, int, low=0, group='running',
                help="windows of each chunk recomputed in float64; float32's largest error against them, per task, goes into summary.json (0: none)", workflow="score.float64_check"),
    "seed": Setting(0, int, group='running', help='seed of the reference shuffles', workflow="score.seed"),
    "keep_work": Setting(False, bool, group='running',
                help='keep the resumable chunks', workflow="none: shard directories are temporary; an unfinished shard is rerun whole"),
    "bedgraph": Setting(True, bool, group='extra outputs', help='bedGraph tracks', workflow=BY_RULE),
    "bigwig": Setting(False, bool, group='extra outputs', help='bigWig tracks (needs pyBigWig)', workflow=BY_RULE),
    "modisco": Setting(False, bool, group='extra outputs',
                help='run modisco-lite on the scores', workflow="none: the workflow finds motifs with its motifs rules"),
    "modisco_max_seqlets": Setting(2000, int, group='extra outputs',
                help='modisco-lite -n', workflow="none: the workflow finds motifs with its motifs rules"),
    "modisco_window": Setting(None, int, group='extra outputs', shown_default='min(400, input length)',
                help='modisco-lite -w', workflow="none: the workflow finds motifs with its motifs rules"),
}
REQUIRED = ("model", "fasta", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``score``; every default is None here so that config keys can fill what was not given."""
    add_setting_flags(parser, SETTINGS, "score")


def resolve_score_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Flags over config over defaults (:mod:`.settings`), plus the checks that tie settings together."""
    settings = resolve_settings(args, "score", SETTINGS, ("out",))
    if settings["gather"] and settings["shard"]:
        raise InputError("score: --gather merges shards and --shard makes one; give only one of them")
    if not settings["gather"]:
        missing = [f"--{k}" for k in REQUIRED if not settings[k]]
        if missing:
            raise InputError(f"score: missing {', '.join(missing)} (give the flag or set it in --config)")
    settings["tasks"] = task_list(settings["tasks"])
    return settings


def _load_model(model_dir: str, device: str):
    return load_model(model_dir, device=device)


def _check_alphabet(lm: Any, fasta: str) -> None:
    alphabet = str(getattr(lm, "alphabet", ALPHABET))
    if alphabet != ALPHABET:
        where = getattr(lm, "path", None) or "the model"
        raise InputError(
            f"{where}: model alphabet {alphabet!r} does not match the DNA one-hot order {ALPHABET!r} "
            f"that {fasta} is encoded in"
        )


def run(args: argparse.Namespace) -> int:
    """Score the FASTA; returns 0, or 1 when only the optional modisco-lite step failed."""
    s = resolve_score_settings(args)
    if s["modisco"] and importlib.util.find_spec("modiscolite") is None:
        raise InputError("--modisco needs modisco-lite (pip install modisco-lite); run without --modisco")
    config = getattr(args, "config", None)
    if s["gather"]:
        gather = [s["gather"]] if isinstance(s["gather"], str) else list(s["gather"])
        with guarded_output(s["out"], "score --gather", [*gather, config]):
            return run_gather(s)
    with guarded_output(s["out"], "score", [s["model"], s["fasta"], s["bed"], config]):
        return _run_score(s)


def _run_score(s: dict[str, Any]) -> int:
    shard = parse_shard(s["shard"])
    for key in ("fasta", "bed"):
        if s[key] is not None and not Path(s[key]).exists():
            raise InputError(f"{s[key]}: {key.upper()} file not found")
    lm = _load_model(s["model"], s["device"])
    _check_alphabet(lm, s["fasta"])
    options = ScoreOptions(
        method=s["method"],
        rule=s["rule"],
        references=s["references"],
        n_references=int(s["n_references"]),
        n_steps=int(s["n_steps"]),
        long=s["long"],
        stride=None if s["stride"] is None else int(s["stride"]),
        short=s["short"],
        pad_value=float(s["pad_value"]),
        unknown=s["unknown"],
        batch_size=int(s["batch_size"]),
        chunk_size=int(s["chunk_size"]),
        device=s["device"],
        precision=s["precision"],
        float64_check=int(s["float64_check"]),
        seed=int(s["seed"]),
        tasks=tuple(s["tasks"]) if s["tasks"] else None,
    )
    summary = score_fasta(
        lm.model,
        lm.input_length,
        list(lm.task_names),
        s["fasta"],
        s["out"],
        bed=s["bed"],
        options=options,
        bedgraph=bool(s["bedgraph"]),
        bigwig=bool(s["bigwig"]),
        keep_work=bool(s["keep_work"]),
        model_name=str(s["model"]),
        shard=shard,
    )
    log.info(
        "%d of %d record(s) scored (%d windows, %.1f seq/s); outputs in %s",
        summary.n_scored,
        summary.n_records,
        summary.n_windows,
        summary.windows_per_second,
        s["out"],
    )
    quality = model_quality_line(s["model"])
    if quality:
        log.warning("%s", quality)
    if s["modisco"]:
        tasks = list(options.tasks or lm.task_names)
        window = int(s["modisco_window"] or min(400, lm.input_length))
        return run_modisco(Path(s["out"]), tasks, int(s["modisco_max_seqlets"]), window)
    return 0


def run_gather(s: dict[str, Any]) -> int:
    """``--gather``: merge shard OUT_DIRs into ``--out``; tracks and modisco-lite as for a normal run."""
    gather = [s["gather"]] if isinstance(s["gather"], str) else list(s["gather"])
    ignored = [f"--{k}" for k in ("model", "fasta", "bed") if s[k]]
    if ignored:
        log.warning("--gather takes every setting from the shards; ignoring %s", ", ".join(ignored))
    if s["bigwig"]:
        require_pybigwig()
    files = gather_shards(gather, s["out"], bedgraph=bool(s["bedgraph"]), bigwig=bool(s["bigwig"]))
    log.info("gathered %d shard(s) into %s (%d files)", len(gather), s["out"], len(files))
    if s["modisco"]:
        import h5py

        with h5py.File(Path(s["out"]) / "scores.h5", "r") as h5:
            tasks = [str(t) for t in h5.attrs["task_names"]]
            input_length = int(h5.attrs["input_length"])
        window = int(s["modisco_window"] or min(400, input_length))
        return run_modisco(Path(s["out"]), tasks, int(s["modisco_max_seqlets"]), window)
    return 0
