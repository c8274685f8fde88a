"""``train``: fit the benchmark conv net (or a spec from ``--config``) on a ``simulate`` or ``dataset`` directory.

``MODEL_DIR`` is written all at once (nothing is left behind if training fails) and holds
``model.json`` + ``model.safetensors`` (see :mod:`deeplift_genomics.models.files`), ``metrics.json`` and
``metrics.tsv`` (test and valid auROC/auPRC per task) and ``history.tsv`` (one row per epoch).
``--pos-weight balanced`` weighs each task's positives by its negatives/positives ratio on the train split
(the weights used go into ``metrics.json``); ``--reverse-complement`` augments with reverse complements.
On a ``dataset`` directory the test split is its held-out contigs, named in ``metrics.json``, and the
peak defaults apply (``--defaults auto``; see :mod:`deeplift_genomics.models.train_schedule`): reverse
complements, balanced weights, early stopping on the validation auPRC with a reduce-on-plateau learning
rate, a minimum number of epochs and a patience scaled to the data, and a net sized for the window. Any
flag or config key given wins over them; ``--defaults benchmark`` gives the authors' settings.

Beside the net, a k-mer baseline (logistic regression on 6-mer counts, same splits) is trained and, for a
simulation (its known motifs) or with ``--motifs FILE``, the test windows are scanned with the PWMs; their
held-out auROC/auPRC go into ``metrics.json`` (``baselines``) and the log, and one WARNING line says when
the net is near chance or worse than the k-mer model, and what to try.

``--config FILE`` is YAML whose keys are the long flag names with underscores (``batch_size: 100``),
at the top level or under ``train:`` (which wins); flags win over both. ``num_threads`` (config only)
sets the CPU threads used for training (default 1; 0 keeps torch's setting). A ``model:`` mapping there
(under ``train:`` or at the top level) is a :class:`~deeplift_genomics.models.spec.ModelSpec` dict, e.g.::

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

import numpy as np

from data_sim.motifs import Motif, builtin_motifs, load_motifs

from ..core.errors import InputError
from ..datasets.load import load_dataset
from ..io.atomic import atomic_directory, atomic_write_text
from ..io.output_dirs import guarded_output
from ..models.baselines import NEAR_CHANCE, kmer_baseline, kmer_test_auroc, learned_little, pwm_scan_metrics
from ..models.files import save_model
from ..models.metrics import metrics_table
from ..models.spec import ARCHITECTURES, ModelSpec, named_architecture
from ..models.train import LR_SCHEDULES, MONITORS, TrainConfig, train_model
from ..models.train_schedule import DEFAULTS_CHOICES, peak_architecture, peak_train_options, resolve_defaults
from .settings import BY_RULE, Setting, add_setting_flags, resolve_settings

log = logging.getLogger(__name__)

_TRAIN_DEFAULTS = TrainConfig()
SETTINGS: dict[str, Setting] = {
    "data": Setting(kind=str, metavar="DATA", workflow=BY_RULE,
                    help="a `simulate` or `dataset` output directory, or a .simdata(.gz) file"),
    "test_ids": Setting(kind=str, metavar="FILE", workflow=BY_RULE,
                        help="file with one sequence id per line: the test split"),
    "out": Setting(kind=str, metavar="MODEL_DIR", workflow=BY_RULE,
                   help="model directory to write (replaced as a whole)"),
    "seed": Setting(0, int, metavar="N", workflow=BY_RULE, help="seed of weights, shuffling and dropout"),
    "device": Setting("auto", str, metavar="D", workflow="device",
                      help="auto, cpu, cuda or cuda:N; cpu is bit-for-bit reproducible"),
    "defaults": Setting("auto", str, DEFAULTS_CHOICES, workflow="model.train.defaults",
                        help="auto: the peak defaults for a `dataset` directory (reverse complements, balanced "
                        "weights, auPRC early stopping, reduce-on-plateau, epochs scaled to the data, a net for "
                        "the window), the benchmark's for a simulation; flags and config keys win over either"),
    "epochs": Setting(None, int, metavar="N", low=1, workflow="model.train.epochs",
                      shown_default=f"benchmark {_TRAIN_DEFAULTS.epochs}; peaks: scaled to the data",
                      help="maximum epochs"),
    "min_epochs": Setting(None, int, metavar="N", low=1, workflow="model.train.min_epochs",
                          shown_default="benchmark 1; peaks: scaled to the data",
                          help="never stop early before N epochs"),
    "monitor": Setting(None, str, MONITORS, workflow="model.train.monitor",
                       shown_default="benchmark loss; peaks auprc",
                       help="what early stopping watches on the valid split"),
    "lr_schedule": Setting(None, str, tuple(c for c in LR_SCHEDULES if c) + ("none",),
                           workflow="model.train.lr_schedule", shown_default="benchmark none; peaks plateau",
                           help="plateau: halve the learning rate after 2 epochs without improvement"),
    "motifs": Setting(None, str, metavar="FILE", workflow="model.train.motifs",
                      help="PWMs (MEME, JASPAR, PFM or ENCODE format) whose scan of the test windows is "
                      "reported beside the net"),
    "kmer_baseline": Setting(True, bool, workflow="model.train.kmer_baseline",
                             help="train the 6-mer logistic-regression baseline on the same splits"),
    "batch_size": Setting(_TRAIN_DEFAULTS.batch_size, int, metavar="N", low=1, workflow="model.train.batch_size",
                          help="batch size"),
    "patience": Setting(None, int, metavar="N", low=1, workflow="model.train.patience",
                        shown_default=f"benchmark {_TRAIN_DEFAULTS.patience}; peaks: scaled to the data",
                        help="early-stopping patience in epochs"),
    "lr": Setting(None, float, metavar="X", workflow="model.train.lr",
                  shown_default=f"{_TRAIN_DEFAULTS.lr:g}", help="Adam learning rate"),
    "pos_weight": Setting(None, metavar="W", workflow="model.train.pos_weight", shown_default="unweighted; peaks balanced",
                          help="weight of positive examples in the loss: balanced (negatives/positives per task, on "
                          "the train split), a number, or one number per task (w1,w2,...)"),
    "architecture": Setting(None, None, metavar="NAME|JSON", workflow="model.train.architecture",
                            shown_default="the config's model:, else the benchmark net; peaks: a net for the window",
                            help='a named architecture (benchmark, conv_attention) or a model spec as JSON, e.g. '
                            '\'{"conv": [[32, 15]], "pooling": "max", "pool_size": 10, "dense": [32]}\''),
    "reverse_complement": Setting(None, bool, workflow="model.train.reverse_complement",
                                  shown_default="benchmark off; peaks on",
                                  help="augment training with reverse complements (each sequence flipped with "
                                  "probability 1/2)"),
    "num_threads": Setting(_TRAIN_DEFAULTS.num_threads, int, config_only=True,
                           workflow="none: torch's intra-op threads follow the rule's threads"),
    "model": Setting(None, dict, config_only=True, workflow="none: the workflow gives the net as architecture"),
}
# Settings whose default depends on --defaults (benchmark: TrainConfig's; peaks: train_schedule's).
PRESET_KEYS = ("epochs", "patience", "min_epochs", "lr", "lr_schedule", "monitor", "pos_weight", "reverse_complement")
REQUIRED = ("data", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``deeplift-genomics train``."""
    add_setting_flags(parser, SETTINGS, "train")


def run(args: argparse.Namespace) -> int:
    """Load the data, train, and write MODEL_DIR atomically."""
    settings = resolve_settings(args, "train", SETTINGS, REQUIRED)
    inputs = (settings["data"], settings["test_ids"], settings["motifs"], getattr(args, "config", None))
    with guarded_output(settings["out"], "train", inputs):
        return _run(args, settings)


def _run(args: argparse.Namespace, settings: dict) -> int:
    import pandas as pd

    source = str(args.config) if args.config else "train options"
    spec_dict, spec_source = _spec_dict(args, settings)
    motifs = _read_motifs(settings["motifs"])
    dataset = load_dataset(settings["data"], settings["test_ids"])
    defaults = resolve_defaults(str(settings["defaults"]), settings["data"])
    preset = _preset(defaults, int((dataset.split == "train").sum()), int(settings["batch_size"]))
    options = {key: settings[key] for key in ("batch_size", "num_threads")}
    if options["num_threads"] == 0:
        options["num_threads"] = None  # 0: keep torch's own thread count
    given = [key for key in PRESET_KEYS if settings[key] is not None]
    for key in PRESET_KEYS:
        options[key] = settings[key] if settings[key] is not None else preset[key]
    options["pos_weight"] = _pos_weight(options["pos_weight"], source)
    if options["lr_schedule"] == "none":
        options["lr_schedule"] = None
    config = TrainConfig.from_dict(options, source=source)
    seed = int(settings["seed"])
    device = str(settings["device"])
    architecture_from = "given" if spec_dict is not None else defaults
    if spec_dict is None and defaults == "peaks":
        spec_dict = peak_architecture(int(dataset.onehot.shape[-1]))
    spec_dict = dict(spec_dict or {})
    spec_dict.setdefault("input_length", int(dataset.onehot.shape[-1]))
    spec_dict.setdefault("n_tasks", len(dataset.task_names))
    spec = ModelSpec.from_dict(spec_dict, source=spec_source)
    log.info(
        "training with the %s defaults%s; architecture: %s",
        defaults,
        f" (given: {', '.join(given)})" if given else "",
        architecture_from,
    )

    model, history, metrics = train_model(dataset, spec, config, seed=seed, device=device)
    metrics["training"]["defaults"] = {"applied": defaults, "given": given, "architecture": architecture_from}
    metrics["training"].update({k: getattr(config, k) for k in ("min_epochs", "monitor", "lr_schedule", "lr")})
    metrics["baselines"] = _baselines(dataset, motifs, settings, seed)
    check_against_baselines(metrics, defaults)

    training = {
        **config.to_dict(),
        "defaults": defaults,
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


def _spec_dict(args: argparse.Namespace, settings: dict) -> tuple[dict | None, str]:
    """The model spec given by ``--architecture`` or the config's ``model:`` (``None``: not given)."""
    spec_dict = settings["model"]
    spec_source = f"{args.config}: model" if args.config else "model spec"
    if isinstance(settings["architecture"], dict):  # a --config file's architecture: a mapping
        return settings["architecture"], f"{args.config}: architecture"
    if isinstance(settings["architecture"], str) and settings["architecture"].strip() in ARCHITECTURES:
        name = settings["architecture"].strip()
        return named_architecture(name), f"architecture {name}"
    if settings["architecture"]:
        spec_source = "--architecture"
        try:
            spec_dict = json.loads(settings["architecture"])
        except ValueError as exc:
            raise InputError(
                f"--architecture: neither a named architecture ({', '.join(sorted(ARCHITECTURES))}) nor valid "
                f"JSON ({exc})"
            ) from None
        if not isinstance(spec_dict, dict):
            raise InputError("--architecture: must be a JSON object of model spec keys")
    return spec_dict, spec_source


def _preset(defaults: str, n_train: int, batch_size: int) -> dict[str, Any]:
    """The values of :data:`PRESET_KEYS` under ``defaults`` (``peaks`` or ``benchmark``)."""
    if defaults == "peaks":
        return peak_train_options(n_train, batch_size)
    return {key: getattr(_TRAIN_DEFAULTS, key) for key in PRESET_KEYS}


def _read_motifs(path: Any) -> list[Motif] | None:
    """The PWMs of ``--motifs`` (read before training, so a bad file fails at once)."""
    if path is None:
        return None
    try:
        return list(load_motifs(path).values())
    except ValueError as exc:
        raise InputError(f"--motifs {path}: {exc}") from None


def _baselines(dataset: Any, motifs: list[Motif] | None, settings: dict, seed: int) -> dict[str, Any]:
    """The k-mer baseline and the PWM scan of the test split (see :mod:`deeplift_genomics.models.baselines`)."""
    # scikit-learn is imported here, not at the top: every command's start would pay for it

    out: dict[str, Any] = {}
    names = list(dataset.task_names)
    if settings["kmer_baseline"]:
        out["kmer"] = kmer_baseline(dataset.onehot, dataset.labels, dataset.split, names, seed=seed)
        log.info("k-mer baseline: test auROC %s  auPRC %s", _summary(out["kmer"]["test"]["auroc"]),
                 _summary(out["kmer"]["test"]["auprc"]))
    task_motifs: dict[str, list[Motif]] = {}
    if motifs:
        task_motifs = {task: motifs for task in names}
        source = str(settings["motifs"])
    elif getattr(dataset, "task_motifs", None):
        known = builtin_motifs()
        task_motifs = {t: [known[m] for m in ids if m in known] for t, ids in dataset.task_motifs.items()}
        source = "the simulation's motifs"
    test = np.asarray(dataset.split) == "test"
    if task_motifs and test.any():
        scan = pwm_scan_metrics(dataset.onehot[test], dataset.labels[test], names, task_motifs)
        out["pwm_scan"] = {"source": source, **scan}
        log.info("PWM scan (%s): test auROC %s", source, _summary(scan["auroc"]))
    return out


def check_against_baselines(metrics: Mapping[str, Any], defaults: str = "") -> list[str]:
    """Warn (one line per task) when the net's held-out auROC is near chance or below the k-mer baseline's.

    The rule is :func:`deeplift_genomics.models.baselines.learned_little`'s. Returns the tasks warned about.
    """
    kmer = kmer_test_auroc(metrics)
    warned = []
    for task, auroc in metrics.get("test", {}).get("auroc", {}).items():
        if auroc is None:
            continue
        base = kmer.get(task)
        if auroc < NEAR_CHANCE and base is not None and base < NEAR_CHANCE:
            log.warning(
                "task '%s': held-out auROC %.3f, near chance, and the k-mer baseline's %.3f too: the windows' "
                "sequences may not tell the classes apart; %s",
                task,
                auroc,
                base,
                _HINT_NO_SIGNAL,
            )
            warned.append(task)
        elif learned_little(auroc, base):
            versus = f"; the k-mer baseline reaches {base:.3f}" if base is not None else ""
            hint = _HINT_BENCHMARK if defaults == "benchmark" else _HINT_PEAKS
            log.warning(
                "task '%s': the net did not learn what the data holds (held-out auROC %.3f%s%s); %s",
                task,
                auroc,
                " (near chance)" if auroc < NEAR_CHANCE else "",
                versus,
                hint,
            )
            warned.append(task)
    return warned


_HINT_PEAKS = (
    "try more epochs (--min-epochs, --patience), another --lr or a wider net (--architecture), and check "
    "that the peaks carry a sequence signal (labels, summits, the GC check in dataset.json)"
)
_HINT_NO_SIGNAL = (
    "check the labels (the right peak file per task), the summits and the GC check in dataset.json, then try "
    "more epochs (--min-epochs, --patience) or a wider net (--architecture)"
)
_HINT_BENCHMARK = (
    "try --defaults peaks (a schedule and stopping that wait longer), more --patience or --epochs, another "
    "--lr, --pos-weight balanced and --reverse-complement"
)


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
