"""``dataset``: windows at peak summits on a genome -> ``sequences.fa`` + ``labels.tsv`` for ``train``.

``deeplift-genomics dataset --genome G.fa --peaks task1=a.bed task2=b.bed --out DIR [--length 200]
[--negatives gc-matched|shuffled|FILE.bed] [--negatives-per-positive K] [--test-chroms chr8,chr9]
[--valid-chroms chr10] [--blacklist FILE.bed] [--seed N] [--config FILE]``

See :mod:`deeplift_genomics.datasets.peaks.build` for what is done, and :mod:`deeplift_genomics.datasets.peaks.writer`
for the files. ``--config FILE`` is YAML with the long flag names with underscores, at the top level or under
``dataset:`` (which wins); ``peaks:`` there is a mapping of task name to BED file (its order is the task
order) or a list of ``task=file.bed``; flags win over both (see :mod:`deeplift_genomics.cli.settings`).
"""

from __future__ import annotations

import argparse
import logging

from ..core.errors import InputError
from ..datasets.peaks import PeakDatasetConfig, make_peak_dataset
from ..datasets.peaks.bed import parse_task_specs
from ..datasets.peaks.build import peak_dataset_inputs
from ..io.output_dirs import guarded_output
from .settings import BY_RULE, Setting, add_setting_flags, comma_list, resolve_settings

log = logging.getLogger(__name__)

_DEFAULTS = PeakDatasetConfig()
SETTINGS: dict[str, Setting] = {
    "genome": Setting(kind=str, metavar="G.fa", help='genome FASTA (plain or bgzip; indexed if needed)', workflow=BY_RULE),
    "peaks": Setting(metavar="TASK=FILE.bed", nargs="+",
                help='one peak BED file per task (narrowPeak column 10 gives the summit, else the centre)', workflow=BY_RULE),
    "out": Setting(kind=str, metavar="DIR", help='output directory (replaced as a whole)', workflow=BY_RULE),
    "length": Setting(_DEFAULTS.length, int, help='window length centred on each summit', metavar="L", workflow="data.peaks.length"),
    "negatives": Setting(_DEFAULTS.negatives, str, metavar="KIND",
                help="gc-matched (genome windows with the positives' GC), shuffled (dinucleotide shuffles of the positives) or a BED file of negative regions", workflow="data.peaks.negatives"),
    "negatives_per_positive": Setting(_DEFAULTS.negatives_per_positive, int,
                help='negatives per peak window, gc-matched or shuffled', metavar="K", workflow="data.peaks.negatives_per_positive"),
    "test_chroms": Setting(None, list, metavar="C1,C2", shown_default='picked, ~10%% of peaks',
                help='contigs held out for testing', workflow="data.peaks.test_chroms"),
    "valid_chroms": Setting(None, list, metavar="C1,C2", shown_default='picked',
                help='contigs held out for validation', workflow="data.peaks.valid_chroms"),
    "blacklist": Setting(None, str, metavar="FILE.bed", help='regions no window may overlap', workflow="data.peaks.blacklist"),
    "seed": Setting(_DEFAULTS.seed, int, metavar="N", help='seed of the negatives and any automatic split', workflow="data.peaks.seed"),
}
REQUIRED = ("genome", "peaks", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``deeplift-genomics dataset``."""
    add_setting_flags(parser, SETTINGS, "dataset")


def run(args: argparse.Namespace) -> int:
    """Build the dataset and write it atomically into ``--out``."""
    settings = resolve_settings(args, "dataset", SETTINGS, REQUIRED)
    source = str(args.config) if args.config else "dataset options"
    peaks = settings["peaks"]
    if not isinstance(peaks, (dict, list)):
        raise InputError(f"{source}: 'peaks' must be a mapping of task name to BED file, got {peaks!r}")
    config = PeakDatasetConfig.from_dict(
        {
            "length": settings["length"],
            "negatives": settings["negatives"],
            "negatives_per_positive": settings["negatives_per_positive"],
            "test_chroms": comma_list(settings["test_chroms"]),
            "valid_chroms": comma_list(settings["valid_chroms"]),
            "blacklist": settings["blacklist"],
            "seed": settings["seed"],
        },
        source=source,
    )
    inputs = [*peak_dataset_inputs(settings["genome"], parse_task_specs(peaks), config), args.config]
    with guarded_output(settings["out"], "dataset", inputs):
        ds = make_peak_dataset(settings["genome"], peaks, settings["out"], config)
    meta = ds.report
    ks = meta["gc"]["overall"]["ks_statistic"]
    log.info(
        "%s: %d windows (%d peak windows, %d negatives; %s); positives per task: %s; GC KS statistic %s",
        settings["out"],
        meta["n_windows"],
        meta["n_peak_windows"],
        meta["n_negatives"],
        ", ".join(f"{s} {meta['splits'][s]['windows']}" for s in ("train", "valid", "test")),
        ", ".join(f"{t} {n}" for t, n in meta["positives_per_task"].items()),
        "n/a" if ks is None else f"{ks:.3f}",
    )
    return 0
