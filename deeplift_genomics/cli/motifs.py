"""``motifs``: seqlets, patterns, known-motif matches, instances and an HTML report from per-base scores.

Input is a ``score`` output directory (``--scores``, read ``--chunk-bases`` bases at a time: memory does not
grow with the number of records) or, for the benchmark, an ``attribute`` file with its dataset
(``--attributions`` + ``--data``, in memory). Outputs and their layout: :mod:`deeplift_genomics.motifs.run`.

The workflow runs it in three steps (:mod:`deeplift_genomics.motifs.pipeline`), each one command:

    motifs --scores S --discover-only --out P                      # patterns, once over all records
    motifs --scores S --patterns P --shard K/N --out H_K            # hits of the K-th block of records
    motifs --scores S --patterns P --gather H_1 ... H_N --out OUT   # one fit over all, every output
Flags override ``--config`` keys (:mod:`.settings`), which override the defaults in :data:`SETTINGS`.
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any

from ..core.errors import InputError
from ..io.output_dirs import guarded_output
from ..jobs.shards import parse_shard
from ..motifs.hits import JointSettings
from ..motifs.instances import InstanceSettings
from ..motifs.patterns import PatternSettings
from ..motifs.pipeline import run_gather, run_hits_shard, run_motifs
from ..motifs.run import HIT_CALLERS, MotifResults, MotifSettings
from ..motifs.seqlets import SeqletSettings
from .settings import BY_RULE, Setting, add_setting_flags, resolve_settings, task_list

if TYPE_CHECKING:
    from ..motifs.run import MotifSettings

log = logging.getLogger(__name__)

SETTINGS: dict[str, Setting] = {
    "scores": Setting(kind=str, metavar="DIR", group='input and output',
                help='output directory of `deeplift-genomics score`', workflow=BY_RULE),
    "attributions": Setting(kind=str, metavar="NPZ", group='input and output',
                help='instead: an `attribute` file (needs --data)', workflow=BY_RULE),
    "data": Setting(kind=str, group='input and output',
                help='the dataset of --attributions (simulate directory or .simdata)', workflow=BY_RULE),
    "test_ids": Setting(kind=str, group='input and output',
                help='test-set ids of a .simdata --data (as for `attribute`)', workflow=BY_RULE),
    "out": Setting(kind=str, metavar="OUT_DIR", group='input and output',
                help='output directory (replaced as a whole)', workflow=BY_RULE),
    "tasks": Setting(kind=None, group='input and output', shown_default='all', help='comma-separated task names', workflow="motifs.tasks"),
    "motif_db": Setting(kind=list, metavar="FILE", nargs="+", group='input and output', shown_default='the packaged ENCODE motifs',
                help='MEME, JASPAR, ENCODE or PFM motif files to match', workflow="motifs.motif_db"),
    "discover_only": Setting(False, bool, group='input and output',
                help='write only the patterns (a discovery directory for --patterns)', workflow=BY_RULE),
    "patterns": Setting(kind=str, metavar="DIR", group='input and output',
                help='the --discover-only directory whose patterns --shard/--gather call hits of', workflow=BY_RULE),
    "shard": Setting(None, str, metavar="K/N", group='input and output',
                help='scan for hits only the K-th of N contiguous blocks of the records (with --patterns); '
                     'OUT_DIR carries shard.json for --gather', workflow=BY_RULE),
    "gather": Setting(None, list, metavar="SHARD_DIR", nargs="+", group='input and output',
                help='fit the hits of the --shard OUT_DIRs 1/N..N/N (with --patterns) and write every output',
                workflow=BY_RULE),
    "chunk_bases": Setting(1_000_000, int, low=1,
                help='bases of scores read at a time (sets the memory; the results do not depend on it)',
                workflow="motifs.chunk_bases"),
    "seqlet_cap": Setting(20_000, int, low=1,
                help='seqlets kept per task and sign for clustering, a seeded sample (the rest are listed, '
                     'not assigned)', workflow="motifs.seqlet_cap"),
    "report": Setting(True, bool, negative='--no-report', group='input and output', help='skip the HTML pages', workflow="none: the workflow always writes the report pages"),
    "max_seqlets": Setting(2000, int, low=1, help='seqlets clustered per task and sign', workflow="motifs.max_seqlets"),
    "seed": Setting(0, int, help='seed of the null permutations and the seqlet sample', workflow="motifs.seed"),
    "window": Setting(15, int, low=1, help='seqlet core width in bp', workflow="motifs.window"),
    "flank": Setting(5, int, low=0, help='bp added each side of a seqlet core', workflow="motifs.flank"),
    "fdr": Setting(0.05, float, low=0.0, high=1.0, help='false-discovery rate of seqlet and instance windows', workflow="motifs.fdr"),
    "min_seqlets": Setting(20, int, low=1, help='smallest pattern, in seqlets', workflow="motifs.min_seqlets"),
    "max_q": Setting(0.05, float, low=0.0, high=1.0, help='q-value below which a known match counts', workflow="motifs.max_q"),
    "instance_pvalue": Setting(0.01, float, low=0.0, high=1.0, help='PFM p-value an instance needs', workflow="motifs.instance_pvalue"),
    "instance_similarity": Setting(0.6, float, low=-1.0, high=1.0,
                help='cosine similarity to the CWM an instance needs', workflow="motifs.instance_similarity"),
    "hit_caller": Setting("joint", str, choices=HIT_CALLERS,
                help='instances by the joint fit of all patterns (joint) or by each pattern\'s windows alone (window, '
                     'with --instance-pvalue/--instance-similarity)', workflow="motifs.hit_caller"),
    "hit_pvalue": Setting(4e-4, float, low=0.0, high=1.0,
                help='PFM p-value a joint-fit hit needs', workflow="motifs.hit_pvalue"),
    "hit_similarity": Setting(0.8, float, low=-1.0, high=1.0,
                help='cosine similarity to the CWM a joint-fit hit needs', workflow="motifs.hit_similarity"),
}
REQUIRED = ("out",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``deeplift-genomics motifs``."""
    add_setting_flags(parser, SETTINGS, "motifs")


def settings_from(s: dict[str, Any]) -> MotifSettings:
    """:class:`~deeplift_genomics.motifs.run.MotifSettings` from resolved command settings."""
    for key in ("max_seqlets", "window", "min_seqlets", "seqlet_cap", "chunk_bases"):
        if s[key] < 1:
            raise InputError(f"motifs: --{key.replace('_', '-')} must be >= 1, got {s[key]}")
    if s["flank"] < 0:
        raise InputError(f"motifs: --flank must be >= 0, got {s['flank']}")
    for key in ("fdr", "max_q", "instance_pvalue", "hit_pvalue"):
        if not 0 < s[key] <= 1:
            raise InputError(f"motifs: --{key.replace('_', '-')} must be in (0, 1], got {s[key]}")
    return MotifSettings(
        seqlets=SeqletSettings(width=s["window"], flank=s["flank"], fdr=s["fdr"]),
        patterns=PatternSettings(max_seqlets=s["max_seqlets"], min_seqlets=s["min_seqlets"]),
        instances=InstanceSettings(fdr=s["fdr"], min_similarity=s["instance_similarity"],
                                   max_pvalue=s["instance_pvalue"]),
        joint=JointSettings(fdr=s["fdr"], min_similarity=s["hit_similarity"], max_pvalue=s["hit_pvalue"]),
        hit_caller=s["hit_caller"], max_q=s["max_q"], seed=s["seed"], seqlet_cap=s["seqlet_cap"])


def run(args: argparse.Namespace) -> int:
    """Find motifs and write OUT_DIR."""
    s = resolve_settings(args, "motifs", SETTINGS, REQUIRED)
    settings = settings_from(s)
    if s["shard"] or s["gather"]:
        return run_step(s, settings, getattr(args, "config", None))
    if s["patterns"]:
        raise InputError("motifs: --patterns goes with --shard K/N or --gather")
    inputs = (s["scores"], s["attributions"], s["data"], s["test_ids"], *(s["motif_db"] or []),
              getattr(args, "config", None))
    with guarded_output(s["out"], "motifs", inputs):
        results = run_motifs(s["out"], scores=s["scores"], attributions=s["attributions"], data=s["data"],
                             test_ids=s["test_ids"],
                             tasks=task_list(s["tasks"]), motif_db=s["motif_db"] or None, settings=settings,
                             report=bool(s["report"]), chunk_bases=s["chunk_bases"],
                             discover_only=bool(s["discover_only"]))
    if s["discover_only"]:
        return 0
    assert isinstance(results, MotifResults)  # not --discover-only
    for row in results.pattern_table.itertuples(index=False):
        log.info("%s/%s: %d seqlets, %d instances, best match %s", row.task, row.pattern, row.n_seqlets,
                 row.n_instances, row.best_match)
    return 0


def run_step(s: dict[str, Any], settings: MotifSettings, config: Any) -> int:
    """``--shard`` (scan a block of records for hits) or ``--gather`` (fit them and write every output)."""
    if s["shard"] and s["gather"]:
        raise InputError("motifs: --gather merges shards and --shard makes one; give only one of them")
    if not s["scores"] or not s["patterns"]:
        raise InputError("motifs: --shard and --gather need --scores and --patterns (a --discover-only directory)")
    if s["hit_caller"] != "joint":
        raise InputError("motifs: --shard/--gather call hits with the joint caller only (--hit-caller joint)")
    if s["shard"]:
        shard = parse_shard(s["shard"])
        assert shard is not None  # given, checked above
        with guarded_output(s["out"], "motifs --shard", (s["scores"], s["patterns"], config)):
            run_hits_shard(s["out"], scores=s["scores"], patterns=s["patterns"], shard=shard, settings=settings,
                           chunk_bases=s["chunk_bases"], tasks=task_list(s["tasks"]))
        return 0
    gather = [s["gather"]] if isinstance(s["gather"], str) else list(s["gather"])
    with guarded_output(s["out"], "motifs --gather", (s["scores"], s["patterns"], *gather, config)):
        results = run_gather(s["out"], scores=s["scores"], patterns=s["patterns"], shard_dirs=gather,
                             settings=settings, report=bool(s["report"]))
    log.info("%d hits of %d patterns", len(results.instances), len(results.patterns))
    return 0
