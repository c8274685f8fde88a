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
from ..outputs_guard import guarded_output
from .attribute import SPLIT_CHOICES, check_max_sequences
from .settings import Setting, none_defaults, resolve_settings

SETTINGS: dict[str, Setting] = {
    "data": Setting(kind=str),
    "test_ids": Setting(kind=str),
    "model": Setting(kind=list),
    "out": Setting(kind=str),
    "attributions": Setting([], list),
    "max_sequences": Setting(None, int),
    "device": Setting("auto", str),
    "seed": Setting(0, int),
    "split": Setting("test", str, SPLIT_CHOICES),
    "batch_size": Setting(128, int),
    "methods": Setting(None, list),
    "top_n": Setting(5, int),
    "min_log_odds": Setting(7.0, float),
    "logo_hits": Setting(50, int),
    "figures": Setting(True, bool),
    "motif_recovery": Setting(True, bool),
}
REQUIRED = ("data", "model", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``deeplift-genomics benchmark`` ."""
    parser.add_argument("--data", help="simulate output directory or .simdata(.gz) file")
    parser.add_argument("--test-ids", help="file with one test-set id per line (for .simdata input)")
    parser.add_argument("--model", nargs="+", help="model directory; several give mean and spread over models")
    parser.add_argument("--out", help="output directory (replaced as a whole)")
    parser.add_argument("--attributions", nargs="+", metavar="FILE.npz",
                        help="attribution files from `attribute` to use instead of computing those methods")
    parser.add_argument("--split", choices=SPLIT_CHOICES, help="which sequences (default test)")
    parser.add_argument("--max-sequences", type=int, help="at most N sequences, class-stratified (seeded)")
    parser.add_argument("--batch-size", type=int, help="engine batch size (default 128)")
    parser.add_argument("--device", help="auto | cpu | cuda (default auto)")
    parser.add_argument("--seed", type=int, help="seed of shuffled references and the subset (default 0)")
    parser.add_argument("--motif-recovery", action=argparse.BooleanOptionalAction,
                        help="find motifs in each method's scores and score them against the embedded instances "
                             "(default on)")
    parser.add_argument("--config", help="YAML config; key 'methods' lists the methods to compare")
    none_defaults(parser, SETTINGS)


def run(args: argparse.Namespace) -> int:
    """Resolve settings and run :func:`run_benchmark`."""
    s = resolve_settings(args, "benchmark", SETTINGS, REQUIRED)
    s["config"] = getattr(args, "config", None)
    check_max_sequences(s["max_sequences"])
    inputs = [s["data"], s["test_ids"], s["config"], *(s["model"] or []), *(s["attributions"] or [])]
    with guarded_output(s["out"], "benchmark", inputs):
        run_benchmark(s)
    return 0
