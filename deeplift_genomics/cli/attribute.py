"""``attribute``: attribution scores of a dataset's sequences, written to one ``.npz`` file.

The file format is :mod:`deeplift_genomics.benchmark.attributions`. Flags override ``--config`` keys
(:mod:`.settings`), which override the defaults in :data:`SETTINGS`.
"""

from __future__ import annotations

import argparse
import logging

from ..attribute import PRECISIONS
from ..benchmark.attributions import check_model_fits, compute_attributions, select_sequences
from ..benchmark.run import METHOD_CHOICES, REFERENCE_CHOICES, RULE_CHOICES
from ..core.errors import InputError
from ..datasets.load import load_dataset
from ..io.attributions import model_checksum, save_attributions
from ..io.output_dirs import guarded_output
from ..models.files import load_model
from .settings import BY_RULE, Setting, add_setting_flags, resolve_settings

log = logging.getLogger(__name__)

SPLIT_CHOICES = ("test", "valid", "train", "all")

SETTINGS: dict[str, Setting] = {
    "data": Setting(kind=str, help='simulate output directory or .simdata(.gz) file', workflow=BY_RULE),
    "test_ids": Setting(kind=str, help='file with one test-set id per line (for .simdata input)', workflow=BY_RULE),
    "model": Setting(kind=str, help='model directory (model.json + model.safetensors)', workflow=BY_RULE),
    "out": Setting(kind=str, help='output .npz file', workflow=BY_RULE),
    "method": Setting(kind=str, choices=METHOD_CHOICES, help='attribution method', workflow=BY_RULE),
    "rule": Setting("genomics_default", str, RULE_CHOICES, help='DeepLIFT rule', workflow=BY_RULE),
    "references": Setting("shuffle", str, REFERENCE_CHOICES, help='reference kind', workflow=BY_RULE),
    "n_references": Setting(20, int, help='shuffled references per sequence', workflow=BY_RULE),
    "n_steps": Setting(10, int, help='integrated-gradients steps', workflow=BY_RULE),
    "split": Setting("test", str, SPLIT_CHOICES, help='which sequences', workflow="attribute.split"),
    "max_sequences": Setting(None, int,
                help='at most N sequences, a deterministic class-stratified subset (seeded by --seed)', workflow="attribute.max_sequences"),
    "batch_size": Setting(128, int, help='sequence-reference pairs per batch', workflow="attribute.batch_size"),
    "device": Setting("auto", str, help='auto | cpu | cuda', workflow="device"),
    "precision": Setting("fp32", str, PRECISIONS,
                help='fp32; on CUDA, opt-in tf32 or bf16, whose error against fp32 on the first sequences is logged; fp64: float64 throughout (about 5x slower on a CPU)', workflow="attribute.precision"),
    "float64_check": Setting(2, int, low=0,
                help="sequences recomputed in float64; float32's largest error against them, per task, is recorded in the file's settings (0: none)", workflow="attribute.float64_check"),
    "seed": Setting(0, int, help='seed of shuffles and the subset', workflow="attribute.seed"),
}
REQUIRED = ("data", "model", "out", "method")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``deeplift-genomics attribute``."""
    add_setting_flags(parser, SETTINGS, "attribute")


def run(args: argparse.Namespace) -> int:
    """Load data and model, attribute, write the .npz."""
    s = resolve_settings(args, "attribute", SETTINGS, REQUIRED)
    check_max_sequences(s["max_sequences"])
    inputs = (s["data"], s["test_ids"], s["model"], getattr(args, "config", None))
    with guarded_output(s["out"], "attribute", inputs, kind="file"):
        return _run(s)


def check_max_sequences(value: int | None, flag: str = "--max-sequences") -> None:
    """Refuse ``--max-sequences`` below 1 (``None`` means all sequences)."""
    if value is not None and int(value) < 1:
        raise InputError(
            f"{flag} {value}: must be at least 1 (leave it out to use every sequence of the split)"
        )


def _run(s: dict) -> int:
    full = load_dataset(s["data"], test_ids=s["test_ids"])
    ds = select_sequences(full, s["split"], s["max_sequences"], s["seed"])
    lm = load_model(s["model"], device="cpu")
    check_model_fits(lm, ds, s["data"])
    log.info("attributing %d sequences with %s", len(ds.ids), s["method"])
    att = compute_attributions(
        lm.model, ds.onehot, ds.ids, method=s["method"], rule=s["rule"], references=s["references"],
        n_references=s["n_references"], n_steps=s["n_steps"], batch_size=s["batch_size"], device=s["device"],
        seed=s["seed"], precision=s["precision"], float64_check=int(s["float64_check"]),
        settings={"split": s["split"], "max_sequences": s["max_sequences"],
                  "model_checksum": model_checksum(s["model"]), "data_checksum": full.checksum,
                  "task_names": list(lm.task_names)},
    )
    save_attributions(s["out"], att)
    log.info("wrote %s (%d sequences, %s)", s["out"], len(att.ids), att.label)
    return 0
