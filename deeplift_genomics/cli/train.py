"""``train``: fit the benchmark conv net (or a spec from ``--config``) on a ``simulate`` or ``dataset`` directory.

``MODEL_DIR`` is written all at once (nothing is left behind if training fails) and holds
``model.json`` + ``model.safetensors`` (see :mod:`deeplift_genomics.model_io`), ``metrics.json`` and
``metrics.tsv`` (test and valid auROC/auPRC per task) and ``history.tsv`` (one row per epoch).
``--pos-weight balanced`` weighs each task's positives by its negatives/positives ratio on the train split
(the weights used go into ``metrics.json``); ``--reverse-complement`` augments with reverse complements.
On a ``dataset`` directory the test split is its held-out contigs, named in ``metrics.json``.

``--config FILE`` is YAML whose keys are the long flag names with underscores (``batch_size: 100``),
at the top level or under ``train:`` (which wins); flags win over both. ``num_threads`` (config only)
sets the CPU threads used for training (default 1; 0 keeps torch's setting). A ``model:`` mapping there
(under ``train:`` or at the top level) is a :class:`~deeplift_genomics.model.ModelSpec` dict, e.g.::

    train:
      epochs: 20
      model:
        conv: [{filters: 32, width: 15}]
        dense: [32]
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..train import TrainConfig
from .settings import Setting, none_defaults, resolve_settings

log = logging.getLogger(__name__)

_TRAIN_DEFAULTS = TrainConfig()
SETTINGS: dict[str, Setting] = {
    "data": Setting(kind=str),
    "test_ids": Setting(kind=str),
    "out": Setting(kind=str),
    "seed": Setting(0, int),
    "device": Setting("auto", str),
    "epochs": Setting(_TRAIN_DEFAULTS.epochs, int),
    "batch_size": Setting(_TRAIN_DEFAULTS.batch_size, int),
    "patience": Setting(_TRAIN_DEFAULTS.patience, int),
    "lr": Setting(_TRAIN_DEFAULTS.lr, float),
    "num_threads": Setting(_TRAIN_DEFAULTS.num_threads, int),
    # balanced, a number, or a list of numbers (a flag gives w or w1,w2,...)
    "pos_weight": Setting(_TRAIN_DEFAULTS.pos_weight),
    "reverse_complement": Setting(_TRAIN_DEFAULTS.reverse_complement, bool),
    # the model spec (:class:`deeplift_genomics.model.ModelSpec` keys); no flag, config only
    "model": Setting(None, dict),
}
REQUIRED = ("data", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``deeplift-genomics train``."""
    defaults = _TRAIN_DEFAULTS
    parser.add_argument(
        "--data", metavar="DATA", help="a `simulate` or `dataset` output directory, or a .simdata(.gz) file"
    )
    parser.add_argument(
        "--test-ids", metavar="FILE", help="file with one sequence id per line: the test split"
    )
    parser.add_argument("--out", metavar="MODEL_DIR", help="model directory to write (replaced as a whole)")
    parser.add_argument(
        "--seed", type=int, metavar="N", help="seed of weights, shuffling and dropout (default 0)"
    )
    parser.add_argument(
        "--device",
        metavar="D",
        help="auto, cpu, cuda or cuda:N (default auto; cpu is bit-for-bit reproducible)",
    )
    parser.add_argument("--epochs", type=int, metavar="N", help=f"maximum epochs (default {defaults.epochs})")
    parser.add_argument(
        "--batch-size", type=int, metavar="N", help=f"batch size (default {defaults.batch_size})"
    )
    parser.add_argument(
        "--patience",
        type=int,
        metavar="N",
        help=f"early-stopping patience in epochs (default {defaults.patience})",
    )
    parser.add_argument("--lr", type=float, metavar="X", help=f"Adam learning rate (default {defaults.lr:g})")
    parser.add_argument(
        "--pos-weight",
        metavar="W",
        help="weight of positive examples in the loss: balanced (negatives/positives per task, on the "
        "train split), a number, or one number per task (w1,w2,...); default unweighted",
    )
    parser.add_argument(
        "--architecture",
        metavar="JSON",
        help='model spec as JSON, e.g. \'{"conv": [[32, 15]], "pooling": "max", "pool_size": 10, "dense": [32]}\' '
        "(default: the config's model:, else the benchmark net)",
    )
    parser.add_argument(
        "--reverse-complement",
        action=argparse.BooleanOptionalAction,
        help="augment training with reverse complements (each sequence flipped with probability 1/2)",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML with these options (and a model: spec)")
    none_defaults(parser, SETTINGS)


def run(args: argparse.Namespace) -> int:
    """Load the data, train, and write MODEL_DIR atomically."""
    from ..outputs_guard import guarded_output

    settings = resolve_settings(args, "train", SETTINGS, REQUIRED)
    inputs = (settings["data"], settings["test_ids"], getattr(args, "config", None))
    with guarded_output(settings["out"], "train", inputs):
        return _run(args, settings)


def _run(args: argparse.Namespace, settings: dict) -> int:
    import pandas as pd

    from ..atomic import atomic_directory, atomic_write_text
    from ..metrics import metrics_table
    from ..model import ModelSpec
    from ..model_io import save_model
    from ..train import train_model

    source = str(args.config) if args.config else "train options"
    options = {key: settings[key] for key in ("epochs", "batch_size", "patience", "lr", "num_threads")}
    if options["num_threads"] == 0:
        options["num_threads"] = None  # 0: keep torch's own thread count
    options["pos_weight"] = _pos_weight(settings["pos_weight"], source)
    options["reverse_complement"] = settings["reverse_complement"]
    config = TrainConfig.from_dict(options, source=source)
    seed = int(settings["seed"])
    device = str(settings["device"])
    spec_dict = settings["model"]
    spec_source = f"{args.config}: model" if args.config else "model spec"
    if getattr(args, "architecture", None):
        spec_source = "--architecture"
        try:
            spec_dict = json.loads(args.architecture)
        except ValueError as exc:
            raise InputError(f"--architecture: not valid JSON ({exc})") from None
        if not isinstance(spec_dict, dict):
            raise InputError("--architecture: must be a JSON object of model spec keys")

    from ..dataset import load_dataset

    dataset = load_dataset(settings["data"], settings["test_ids"])
    spec_dict = dict(spec_dict or {})
    spec_dict.setdefault("input_length", int(dataset.onehot.shape[-1]))
    spec_dict.setdefault("n_tasks", len(dataset.task_names))
    spec = ModelSpec.from_dict(spec_dict, source=spec_source)

    model, history, metrics = train_model(dataset, spec, config, seed=seed, device=device)

    training = {
        **config.to_dict(),
        "seed": seed,
        "device": metrics["training"]["device"],
        "data": str(settings["data"]),
        "test_ids": None if settings["test_ids"] is None else str(settings["test_ids"]),
        **{f"n_{name}": int((dataset.split == name).sum()) for name in ("train", "valid", "test")},
        "best_epoch": metrics["training"]["best_epoch"],
        "epochs_run": metrics["training"]["epochs_run"],
    }
    out = Path(settings["out"])
    with atomic_directory(out, "train") as tmp:
        save_model(
            model,
            tmp,
            spec=spec,
            task_names=dataset.task_names,
            training=training,
            data_checksum=getattr(dataset, "checksum", None),
        )
        metrics["training"]["epoch_seconds"] = [row.get("seconds") for row in history]
        held_out = _held_out_contigs(settings["data"])
        if held_out is not None:
            metrics["held_out_contigs"] = held_out
        atomic_write_text(tmp / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        metrics_table(metrics).to_csv(tmp / "metrics.tsv", sep="\t", index=False, float_format="%.6f")
        # Timings go to metrics.json only, so history.tsv (like model.json) is identical for identical runs.
        rows = pd.DataFrame(history).drop(columns=["seconds"], errors="ignore")
        rows.to_csv(tmp / "history.tsv", sep="\t", index=False, float_format="%.6f")
    log.info("wrote %s (test auROC %s)", out, _summary(metrics["test"]["auroc"]))
    return 0


def _pos_weight(value: Any, source: str) -> Any:
    """``balanced``, a number or a list of numbers, from a flag string (``1,2.5``) or a YAML value."""
    if value is None or value == "balanced":
        return value
    items = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value
    values = []
    for item in items if isinstance(items, list) else [items]:
        try:
            if isinstance(item, bool):
                raise ValueError
            values.append(float(item))
        except (TypeError, ValueError):
            raise InputError(
                f"{source}: 'pos_weight' must be balanced, a number or numbers w1,w2,..., got {value!r}"
            ) from None
    return values[0] if len(values) == 1 and not isinstance(value, list) else values


def _held_out_contigs(data: Any) -> dict[str, list[str]] | None:
    """Test and validation contigs of a ``dataset`` directory (its ``dataset.json``), else ``None``."""
    meta_path = Path(str(data)) / "dataset.json"
    if not meta_path.is_file():
        return None
    try:
        splits = json.loads(meta_path.read_text(encoding="utf-8")).get("splits", {})
        return {s: list(splits[s]["contigs"]) for s in ("test", "valid")}
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("%s: unreadable; metrics.json will not name the held-out contigs", meta_path)
        return None


def _summary(values: Mapping[str, float | None]) -> str:
    return ", ".join(f"{k} {'n/a' if v is None else f'{v:.4f}'}" for k, v in values.items())
