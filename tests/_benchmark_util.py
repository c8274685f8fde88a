"""Helpers of the benchmark tests: small simulations, saving a model, benchmark configs."""

from __future__ import annotations

from pathlib import Path

from deeplift_genomics.cli import main

QUICK_METHODS = [
    "gradient_x_input",
    "guided_backprop_x_input",
    {"method": "deeplift", "rule": "rescale"},
    {"method": "deeplift", "rule": "reveal_cancel"},
    {"method": "deeplift", "rule": "genomics_default"},
]


def simulate(out: Path, n_per_class: int, seed: int) -> Path:
    """Run ``simulate`` into ``out``; returns ``out``."""
    assert main(["simulate", "--out", str(out), "--seed", str(seed), "--n-per-class", str(n_per_class), "-q"]) == 0
    return out


def save(model, spec, ds, out: Path) -> Path:
    """Save ``model`` as a model directory."""
    from deeplift_genomics.models.files import save_model

    save_model(model, out, spec=spec, task_names=list(ds.task_names), input_length=ds.onehot.shape[2],
               data_checksum=ds.checksum)
    return out


def write_config(path: Path, methods=QUICK_METHODS, **keys) -> Path:
    """A benchmark YAML config with ``methods`` and other keys."""
    import yaml

    path.write_text(yaml.safe_dump({"benchmark": {"methods": methods, **keys}}), encoding="utf-8")
    return path
