"""``benchmark``: compare attribution methods on the simulated GATA1/TAL1 benchmark (paper Fig. 5).

``benchmark --data DATA --model MODEL_DIR [MODEL_DIR ...] --out DIR [--attributions FILE.npz ...]``

Uses the given attribution files (matched to a model by the model checksum recorded in them) and computes
every missing method of the comparison itself. DIR (written as a whole, atomically) gets:

- ``hits.tsv``: every scanned and embedded motif hit with its importance per task and method
  (``importance_t<k>``), plus ``model`` and ``embedded`` (overlaps a ground-truth instance) columns.
- ``metrics.tsv``: per model, method and task: per-base auROC and auPRC, mean score on the relevant and
  irrelevant motifs, ``leakage`` (their ratio) and Spearman rho of hit importance with log-odds.
  ``metrics_summary.tsv``: mean and sd over models. ``spearman.tsv``: rho per motif.
- ``fig5b.tsv``: ``method, motif, n_hits, false_negative_rate`` (first model; ``fig5b_models.tsv`` all).
- ``claims.tsv``: the paper's claims checked on this run.
- ``figures/`` and ``logos/``: PNG and SVG; ``summary.json``: everything the ``report`` command reads.

The method list comes from ``--config`` (key ``methods``: a list of ``{method, rule, references,
n_references, n_steps}``), default :data:`deeplift_genomics.benchmark.methods.DEFAULT_METHODS`.
"""

from __future__ import annotations

import argparse

from ..benchmark.run import run_benchmark
from ..io.output_dirs import guarded_output
from .attribute import SPLIT_CHOICES, check_max_sequences
from .settings import BY_RULE, Setting, add_setting_flags, resolve_settings

SETTINGS: dict[str, Setting] = {
    "data": Setting(kind=str, help='simulate output directory or .simdata(.gz) file', workflow=BY_RULE),
    "test_ids": Setting(kind=str, help='file with one test-set id per line (for .simdata input)', workflow=BY_RULE),
    "model": Setting(kind=list, nargs="+", help='model directory; several give mean and spread over models', workflow=BY_RULE),
    "out": Setting(kind=str, help='output directory (replaced as a whole)', workflow=BY_RULE),
    "attributions": Setting([], list, metavar="FILE.npz", nargs="+",
                help='attribution files from `attribute` to use instead of computing those methods', workflow=BY_RULE),
    "split": Setting("test", str, SPLIT_CHOICES, help='which sequences', workflow="attribute.split"),
    "max_sequences": Setting(None, int, help='at most N sequences, class-stratified (seeded)', workflow="attribute.max_sequences"),
    "batch_size": Setting(128, int, help='engine batch size', workflow="attribute.batch_size"),
    "device": Setting("auto", str, help='auto | cpu | cuda', workflow="device"),
    "seed": Setting(0, int, help='seed of shuffled references and the subset', workflow="attribute.seed"),
    "motif_recovery": Setting(True, bool,
                help="find motifs in each method's scores and score them against the embedded instances", workflow="none: always on in the workflow (the report shows it)"),
    "methods": Setting(None, list, config_only=True, workflow="none: the workflow attributes attribute.methods with `attribute` and passes the files"),
    "top_n": Setting(5, int, config_only=True, workflow="none: the paper's values"),
    "min_log_odds": Setting(7.0, float, config_only=True, workflow="none: the paper's values"),
    "logo_hits": Setting(50, int, config_only=True, workflow="none: the paper's values"),
    "figures": Setting(True, bool, config_only=True, workflow="none: the report needs them"),
}
REQUIRED = ("data", "model", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``deeplift-genomics benchmark`` ."""
    add_setting_flags(parser, SETTINGS, "benchmark")


def run(args: argparse.Namespace) -> int:
    """Resolve settings and run :func:`run_benchmark`."""
    s = resolve_settings(args, "benchmark", SETTINGS, REQUIRED)
    s["config"] = getattr(args, "config", None)
    check_max_sequences(s["max_sequences"])
    inputs = [s["data"], s["test_ids"], s["config"], *(s["model"] or []), *(s["attributions"] or [])]
    with guarded_output(s["out"], "benchmark", inputs):
        run_benchmark(s)
    return 0
