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

from ..attribute import PRECISIONS
from ..benchmark.run import METHOD_CHOICES, REFERENCE_CHOICES, RULE_CHOICES
from ..devices import DEVICE_CHOICES
from ..errors import InputError
from ..motifs.nothing_found import model_quality_line
from ..onehot import ALPHABET
from ..score.options import UNKNOWN_CHOICES
from .settings import Setting, none_defaults, resolve_settings, task_list

log = logging.getLogger(__name__)

SETTINGS: dict[str, Setting] = {
    "model": Setting(kind=str),
    "fasta": Setting(kind=str),
    "bed": Setting(kind=str),
    "out": Setting(kind=str),
    "method": Setting("deeplift", str, METHOD_CHOICES),
    "rule": Setting("genomics_default", str, RULE_CHOICES),
    "references": Setting("shuffle", str, REFERENCE_CHOICES),
    "n_references": Setting(20, int),
    "n_steps": Setting(10, int),
    "long": Setting("tile", str, ("tile", "crop")),
    "stride": Setting(None, int),
    "short": Setting("pad", str, ("pad", "skip")),
    "pad_value": Setting(0.0, float),
    "unknown": Setting("zeros", str, UNKNOWN_CHOICES),
    "batch_size": Setting(128, int),
    "chunk_size": Setting(1000, int),
    "device": Setting("auto", str, DEVICE_CHOICES),
    "precision": Setting("fp32", str, PRECISIONS),
    "seed": Setting(0, int),
    "tasks": Setting(None, list),
    "bedgraph": Setting(True, bool),
    "bigwig": Setting(False, bool),
    "modisco": Setting(False, bool),
    "modisco_max_seqlets": Setting(2000, int),
    "modisco_window": Setting(None, int),
    "keep_work": Setting(False, bool),
    "shard": Setting(None, str),
    "gather": Setting(None, list),
}
REQUIRED = ("model", "fasta", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``score``; every default is None here so that config keys can fill what was not given."""
    io = parser.add_argument_group("input and output")
    io.add_argument("--model", metavar="MODEL_DIR", help="trained model directory (model.json + weights)")
    io.add_argument("--fasta", metavar="FILE", help="FASTA file, plain or bgzip-compressed")
    io.add_argument(
        "--bed", metavar="FILE", help="score these regions (BED, 3+ columns) instead of whole records"
    )
    io.add_argument("--out", metavar="OUT_DIR", help="output directory")
    io.add_argument(
        "--shard",
        metavar="K/N",
        help="score only the K-th of N contiguous, balanced blocks of the records, cut between chunks of "
        "--chunk-size records (K counts from 1); the OUT_DIR is complete for them and carries shard.json "
        "for --gather",
    )
    io.add_argument(
        "--gather",
        nargs="+",
        metavar="SHARD_DIR",
        help="instead of scoring, merge the OUT_DIRs of --shard 1/N..N/N into --out (no --model/--fasta)",
    )
    io.add_argument(
        "--config", metavar="FILE", help="YAML config: flag names with underscores, optionally under 'score:'"
    )
    att = parser.add_argument_group("attribution")
    att.add_argument("--method", choices=METHOD_CHOICES, help="attribution method (default deeplift)")
    att.add_argument("--rule", choices=RULE_CHOICES, help="DeepLIFT rule (default genomics_default)")
    att.add_argument(
        "--references", choices=REFERENCE_CHOICES, help="references (default shuffle)"
    )
    att.add_argument("--n-references", type=int, help="references per sequence (default 20)")
    att.add_argument("--n-steps", type=int, help="integrated-gradients steps (default 10)")
    att.add_argument("--tasks", help="comma-separated task names to keep (default: all)")
    fit = parser.add_argument_group("sequence lengths and letters")
    fit.add_argument(
        "--long", choices=("tile", "crop"), help="records longer than the model: tile (default) or crop"
    )
    fit.add_argument("--stride", type=int, help="step between tiled windows (default: half the input length)")
    fit.add_argument(
        "--short", choices=("pad", "skip"), help="records shorter than the model: pad (default) or skip"
    )
    fit.add_argument("--pad-value", type=float, help="value of every channel in padded columns (default 0)")
    fit.add_argument(
        "--unknown", choices=("zeros", "uniform"), help="N/IUPAC columns: zeros (default) or uniform"
    )
    run = parser.add_argument_group("running")
    run.add_argument("--batch-size", type=int, help="windows per attribution batch (default 128)")
    run.add_argument("--chunk-size", type=int, help="records per resumable chunk (default 1000)")
    run.add_argument("--device", choices=DEVICE_CHOICES, help="auto (default), cpu or cuda")
    run.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="fp32 (default); on CUDA, opt-in tf32 or bf16 (their error against fp32 is logged)",
    )
    run.add_argument("--seed", type=int, help="seed of the reference shuffles (default 0)")
    run.add_argument("--keep-work", action=argparse.BooleanOptionalAction, help="keep the resumable chunks")
    out = parser.add_argument_group("extra outputs")
    out.add_argument("--bedgraph", action=argparse.BooleanOptionalAction, help="bedGraph tracks (default on)")
    out.add_argument("--bigwig", action=argparse.BooleanOptionalAction, help="bigWig tracks (needs pyBigWig)")
    out.add_argument(
        "--modisco", action=argparse.BooleanOptionalAction, help="run modisco-lite on the scores"
    )
    out.add_argument("--modisco-max-seqlets", type=int, help="modisco-lite -n (default 2000)")
    out.add_argument("--modisco-window", type=int, help="modisco-lite -w (default: min(400, input length))")
    none_defaults(parser, SETTINGS)


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
    from ..model_io import load_model

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
    from ..outputs_guard import guarded_output

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
    from ..jobs.shards import parse_shard
    from ..score.modisco import run_modisco
    from ..score.options import ScoreOptions
    from ..score.runner import score_fasta

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
    from ..score.gather import gather_shards
    from ..score.modisco import run_modisco
    from ..score.tracks import require_pybigwig

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
