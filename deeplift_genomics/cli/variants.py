"""``deeplift-genomics variants``: effects of a VCF's alleles on the model, explained base by base.

For every ALT allele of ``--vcf`` (plain or bgzip, no index needed): the model's window centred on the
variant from ``--fasta`` for REF and ALT, the prediction change per task (logits, probabilities, log-odds)
from plain forward passes, with an empirical p-value against a null (``--null``) and a Benjamini-Hochberg
q-value; then, for the alleles ``--explain`` selects, DeepLIFT of both windows against the same
references and the known motif (shipped ENCODE set, or ``--motifs`` MEME file / ``motifs`` output
directory) the variant breaks or creates. Writes ``variants.tsv``, ``scores.h5``, ``skipped.tsv``, ``summary.json`` and ``report.html``
into ``--out`` (see :mod:`deeplift_genomics.variants`). ``--shard K/N`` scores one block of the VCF's
entries; ``--gather SHARD_DIR ... --out OUT_DIR`` merges the N shard directories. The alleles to explain
are chosen over the whole run: a sharded run that ranks them (``--explain-top``, ``--explain-share``)
screens each shard (``--shard K/N --screen-only``), chooses (``--select SCREEN_DIR ... --out SEL_DIR``),
then explains each shard's chosen alleles (``--shard K/N --explain-ids SEL_DIR/selection.json``, taking
its screen up again from ``--screened SCREEN_DIR`` or ``--out``). Flags override
``--config`` keys (YAML, flag names with underscores, top level or under ``variants:``), which override
the defaults in :data:`SETTINGS`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..core.devices import DEVICE_CHOICES
from ..core.errors import InputError
from ..io.onehot import ALPHABET
from ..io.output_dirs import guarded_output
from ..models.files import load_model, output_kind
from ..variants import VariantOptions, gather_shards, score_variants, select_screens
from ..variants.alleles import EDGE_CHOICES
from ..variants.effects import METHODS, REFERENCE_KINDS
from ..variants.run import EXPLAIN_CHOICES
from ..variants.stats import NULL_KINDS, TIE_RULES
from .settings import BY_RULE, Setting, add_setting_flags, resolve_settings, task_list

log = logging.getLogger(__name__)

SETTINGS: dict[str, Setting] = {
    "model": Setting(kind=str, metavar="MODEL_DIR", group='input and output',
                help='trained model directory (model.json + weights)', workflow=BY_RULE),
    "fasta": Setting(kind=str, metavar="FILE", group='input and output',
                help='genome FASTA, plain or bgzip-compressed', workflow=BY_RULE),
    "vcf": Setting(kind=str, metavar="FILE", group='input and output',
                help='variants, VCF plain or bgzip (no index needed)', workflow=BY_RULE),
    "out": Setting(kind=str, metavar="OUT_DIR", group='input and output', help='output directory', workflow=BY_RULE),
    "motifs": Setting(kind=str, metavar="FILE_OR_DIR", group='input and output', shown_default='the shipped ENCODE collection',
                help='MEME (or ENCODE/JASPAR) motif file, or a motifs output directory with one *.meme', workflow="variants.motifs"),
    "shard": Setting(None, str, metavar="K/N", group='input and output',
                help="score only the K-th of N blocks of the VCF's entries", workflow=BY_RULE),
    "gather": Setting(None, list, metavar="SHARD_DIR", nargs="+", group='input and output',
                help='merge --shard 1/N..N/N outputs into --out', workflow=BY_RULE),
    "screen_only": Setting(False, bool, group='input and output',
                help='screen every allele and stop, keeping the screen in --out for --select and --explain-ids',
                workflow=BY_RULE),
    "select": Setting(None, list, metavar="SCREEN_DIR", nargs="+", group='input and output',
                help='choose the alleles to explain over these --screen-only outputs (all shards of one run); '
                     'writes --out/selection.json', workflow=BY_RULE),
    "explain_ids": Setting(None, str, metavar="FILE", group='input and output', shown_default='none',
                help='explain exactly the alleles of this --select selection.json (of this shard)', workflow=BY_RULE),
    "screened": Setting(None, str, metavar="SCREEN_DIR", group='input and output', shown_default='--out',
                help="take this run's screen up from this --screen-only output instead of recomputing it",
                workflow=BY_RULE),
    "method": Setting("deeplift", str, METHODS, group='attribution', help='attribution method', workflow="variants.method"),
    "rule": Setting("genomics_default", str, ("rescale", "reveal_cancel", "genomics_default"), group='attribution',
                help='DeepLIFT rule', workflow="variants.rule"),
    "references": Setting("shuffle", str, REFERENCE_KINDS, group='attribution',
                help='references made from the REF window and shared by both alleles', workflow="variants.references"),
    "n_references": Setting(20, int, group='attribution', help='references per variant', workflow="variants.n_references"),
    "n_steps": Setting(10, int, group='attribution', help='integrated-gradients steps', workflow="variants.n_steps"),
    "tasks": Setting(None, list, group='attribution', shown_default='all',
                help='comma-separated task names to keep', workflow="variants.tasks"),
    "edge": Setting("shift", str, EDGE_CHOICES, group='variants',
                help='variants whose centred window leaves the record: shift the window inside, or skip them', workflow="variants.edge"),
    "strict": Setting(False, bool, group='variants',
                help='stop at a REF mismatch, missing record, record end or long indel instead of skipping it', workflow="variants.strict"),
    "flank": Setting(10, int, group='variants', help='bases each side counted as around the variant', workflow="variants.flank"),
    "motif_threshold": Setting(1e-4, float, group='variants', help='motif match p-value', workflow="variants.motif_threshold"),
    "report_top": Setting(20, int, group='variants', help='variants shown in report.html', workflow="variants.report_top"),
    "explain": Setting("screen", str, EXPLAIN_CHOICES, group='screening',
                help='screen: every allele by its effect, then explain (DeepLIFT, motif context) only the top K or '
                     'those above X (neither given: the top share of the run); all: explain every allele; none: '
                     'screen only', workflow="variants.explain"),
    "explain_top": Setting(None, int, low=0, metavar="K", group='screening', shown_default='none',
                help='explain the K alleles of the run with the largest |effect| (ties: the earlier in the VCF)', workflow="variants.explain_top"),
    "explain_min_effect": Setting(None, float, low=0, metavar="X", group='screening', shown_default='none',
                help='explain every allele with |effect| >= X on some task', workflow="variants.explain_min_effect"),
    "explain_share": Setting(0.01, float, low=0, high=1, group='screening',
                help="share of the run's scored alleles explained (the strongest) when neither K nor X is given",
                workflow="variants.explain_share"),
    "null_model": Setting("shuffled", str, NULL_KINDS, group='screening',
                help="null of the p-values: shuffled (the allele's bases at its position in a dinucleotide shuffle of "
                     "its window, seeded), matched (the same SNV elsewhere in its own window), or vcf (the other "
                     "alleles of the run)", workflow="variants.null_model"),
    "null_per_variant": Setting(0.25, float, low=0, group='screening',
                help='null SNVs drawn per allele (shuffled, matched)', workflow="variants.null_per_variant"),
    "null_exclude": Setting(None, str, metavar="BED", group='screening', shown_default='none',
                help='matched null: never draw within --null-exclude-margin bases of these intervals (motif hits, '
                     'known sites)', workflow="variants.null_exclude"),
    "null_exclude_margin": Setting(5, int, low=0, group='screening',
                help='bases each side of a --null-exclude interval also excluded', workflow="variants.null_exclude_margin"),
    "pvalue_ties": Setting("randomized", str, TIE_RULES, group='screening',
                help='null draws tied with an effect: randomized (a seeded uniform share, exactly uniform '
                     'p-values under the null) or conservative (every tie counts)', workflow="variants.pvalue_ties"),
    "screen_batch_size": Setting(256, int, low=1, group='running', help='alleles per screening forward pass',
                workflow="variants.screen_batch_size"),
    "batch_size": Setting(64, int, group='running', help='alleles per attribution call', workflow="variants.batch_size"),
    "chunk_size": Setting(500, int, group='running', help='VCF entries per resumable chunk', workflow="variants.chunk_size"),
    "device": Setting("auto", str, DEVICE_CHOICES, group='running', help='auto, cpu or cuda', workflow="device"),
    "seed": Setting(0, int, group='running', help='seed of the reference shuffles', workflow="variants.seed"),
    "keep_work": Setting(False, bool, group='running', help='keep the resumable chunks', workflow="none: shard directories are temporary; an unfinished shard is rerun whole"),
}
REQUIRED = ("model", "fasta", "vcf", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``variants``; every default is None here so that config keys can fill what was not given."""
    add_setting_flags(parser, SETTINGS, "variants")


def resolve_variants_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Flags over ``--config`` over defaults (:mod:`.settings`), plus the checks that tie settings together."""
    s = resolve_settings(args, "variants", SETTINGS, ("out",))
    if s["gather"] and s["shard"]:
        raise InputError("variants: --gather merges shards and --shard makes one; give only one of them")
    if s["select"]:
        given = [f"--{k.replace('_', '-')}" for k in ("gather", "shard", "screen_only", "explain_ids", "screened")
                 if s[k]]  # fmt: skip
        if given:
            raise InputError(f"variants: --select chooses over finished screens; it takes no {', '.join(given)}")
    elif not s["gather"]:
        missing = [f"--{k}" for k in REQUIRED if not s[k]]
        if missing:
            raise InputError(f"variants: missing {', '.join(missing)} (give the flag or set it in --config)")
    s["tasks"] = task_list(s["tasks"])
    return s


def run(args: argparse.Namespace) -> int:
    """Score the VCF (or gather shards); returns 0."""
    s = resolve_variants_settings(args)
    config = getattr(args, "config", None)
    # A foreign non-empty directory is refused; an interrupted run's directory carries our marker (written
    # before any chunk), so its resumable chunks are taken up again.
    for key in ("gather", "select"):
        if s[key]:
            dirs = [s[key]] if isinstance(s[key], str) else list(s[key])
            with guarded_output(s["out"], f"variants --{key}", [*dirs, config]):
                return _run(s)
    with guarded_output(s["out"], "variants", [s["model"], s["fasta"], s["vcf"], s["motifs"], s["null_exclude"],
                                              s["explain_ids"], s["screened"], config]):  # fmt: skip
        return _run(s)


def _run(s: dict[str, Any]) -> int:
    if s["gather"]:
        dirs = [s["gather"]] if isinstance(s["gather"], str) else list(s["gather"])
        files = gather_shards(dirs, s["out"])
        log.info("gathered %d shard(s) into %s (%d files)", len(dirs), s["out"], len(files))
        return 0
    if s["select"]:
        select_screens([s["select"]] if isinstance(s["select"], str) else list(s["select"]), s["out"])
        return 0
    for key in ("fasta", "vcf"):
        if not Path(s[key]).exists():
            raise InputError(f"{s[key]}: {key.upper()} file not found")
    lm = load_model(s["model"], device=s["device"])
    if str(getattr(lm, "alphabet", ALPHABET)) != ALPHABET:
        raise InputError(f"{s['model']}: model alphabet {lm.alphabet!r} is not the DNA one-hot order {ALPHABET!r}")
    options = VariantOptions(
        method=s["method"], rule=s["rule"], references=s["references"], n_references=int(s["n_references"]),
        n_steps=int(s["n_steps"]), batch_size=int(s["batch_size"]), chunk_size=int(s["chunk_size"]),
        device=s["device"], seed=int(s["seed"]), tasks=tuple(s["tasks"]) if s["tasks"] else None,
        edge=s["edge"], strict=bool(s["strict"]), flank=int(s["flank"]),
        motif_threshold=float(s["motif_threshold"]), report_top=int(s["report_top"]), explain=s["explain"],
        explain_top=None if s["explain_top"] is None else int(s["explain_top"]),
        explain_min_effect=None if s["explain_min_effect"] is None else float(s["explain_min_effect"]),
        explain_share=float(s["explain_share"]), null=s["null_model"], null_per_variant=float(s["null_per_variant"]),
        screen_batch_size=int(s["screen_batch_size"]), null_exclude=s["null_exclude"],
        null_exclude_margin=int(s["null_exclude_margin"]), pvalue_ties=s["pvalue_ties"],
    )  # fmt: skip
    summary = score_variants(
        lm.model, lm.input_length, list(lm.task_names), s["fasta"], s["vcf"], s["out"], options=options,
        motifs=s["motifs"], shard=s["shard"], keep_work=bool(s["keep_work"]), model_name=str(s["model"]),
        output=output_kind(lm.metadata), screen_only=bool(s["screen_only"]), explain_ids=s["explain_ids"],
        screened=s["screened"],
    )  # fmt: skip
    log.info(
        "%d allele(s) scored (%.1f/s), %d skipped %s; outputs in %s",
        summary.n_scored, summary.alleles_per_second, sum(summary.skip_counts.values()),
        summary.skip_counts or "", s["out"],
    )  # fmt: skip
    return 0
