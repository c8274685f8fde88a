"""Screen the alleles of a VCF, explain the strongest: chunks, resume, shards and gather, as ``score`` does.

VCF -> alleles (:mod:`vcf`) -> both windows from the FASTA (:mod:`alleles`) -> effects of every allele
and its matched null SNVs from forward passes (:mod:`screen`) -> the selected alleles explained with
DeepLIFT against shared references (:mod:`effects`) and their motif context (:mod:`motif_context`) ->
p- and q-values and files (:mod:`outputs`, :mod:`stats`).

Every ALT of every record is one *entry*, in file order (scorable or skipped). Work is done in chunks of
``chunk_size`` entries, each saved to ``OUT_DIR/.variants_work/chunks`` when done; a rerun with the same
inputs and options (checked against ``manifest.json``) skips finished chunks. ``shard=(K, N)`` takes the
K-th of N contiguous, balanced blocks of chunks (:func:`deeplift_genomics.score.shard_range`) and adds
``shard.json``; :func:`gather_shards` concatenates the shard directories into what one unsharded run
writes.

The alleles to explain are chosen over the whole run (:func:`.stats.select_explained`). A sharded run
whose choice depends on other shards' alleles (``--explain-top``, ``--explain-share``) runs in three
steps: each shard screens (``screen_only``: keeps its screen and writes ``screen.npz``),
:func:`select_screens` chooses over all shards' screens (``selection.json``), then each shard explains
the chosen alleles of its block (``explain_ids``), taking its screen up again (``screened``) instead of
recomputing it. All input errors (bad VCF line, ``strict`` skips, bad options) are raised before OUT_DIR is
touched.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.errors import InputError
from ..core.progress import progress_bar
from ..core.targets import task_indices
from ..io.atomic import atomic_write_text
from ..io.fasta import FastaFile, file_checksum
from ..io.output_dirs import check_output_path, open_output_dir
from ..io.vcf import Skip, VcfAllele, read_vcf, skip_counts
from ..jobs.shards import check_shards, first_difference, parse_shard, shard_range, write_shard_info
from ..jobs.work import ChunkedWork, finish_output_dir, save_npz
from ..models.bpnet_lite import both_heads
from ..models.files import model_fingerprint
from .alleles import EDGE_CHOICES, SKIP_MISSING_CONTIG, AlleleWindows, build_windows, contig_hint
from .effects import METHODS, REFERENCE_KINDS, contribution_changes, model_head, score_alleles
from .motif_context import DEFAULT_THRESHOLD, MotifBank, assign_motifs, load_bank, motif_file_in
from .outputs import SUMS, VariantTable, no_motif, no_sums, read_explained, read_h5, read_skipped, write_all
from .screen import (
    PROFILE_HEADS,
    ForwardScorer,
    NullExclusion,
    canonical_flip,
    chunk_rng,
    load_exclusion,
    screen_alleles,
)
from .stats import NULL_KINDS, TIE_RULES, select_explained

#: ``--explain`` choices: screen then explain the selected alleles, explain every allele, or none.
EXPLAIN_CHOICES = ("screen", "all", "none")

log = logging.getLogger(__name__)

WORK_DIR = ".variants_work"
MANIFEST_VERSION = 1
SHARD_FORMAT = "deeplift-genomics-variants-shard"
SCREEN_FORMAT = "deeplift-genomics-variants-screen"
SELECTION_FORMAT = "deeplift-genomics-variants-selection"
#: What ``screen_only`` writes beside ``shard.json`` (each scored allele's VCF line, ALT and strength).
SCREEN_FILE = "screen.npz"
#: What :func:`select_screens` writes: the chosen alleles of the whole run and the run's settings.
SELECTION_FILE = "selection.json"
#: What an earlier run left at the top of a ``variants`` OUT_DIR that goes: everything but hidden entries
#: (a variants directory holds only its own outputs; ``score``'s keeps what it does not recognise).
VARIANT_OUTPUTS = ("*",)
BACKGROUND = (0.3, 0.2, 0.2, 0.3)


@dataclasses.dataclass(frozen=True)
class VariantOptions:
    """Settings of a ``variants`` run (all recorded in the resume manifest).

    Attributes
    ----------
    method, rule, references, n_references, n_steps
        As :func:`deeplift_genomics.attribute`; references are made from one window of each allele (the
        alphabetically first, so that a swap of REF and ALT changes nothing but signs) and shared.
    batch_size
        Alleles per attribution call (each call runs ``2 x batch_size`` windows).
    screen_batch_size
        Alleles per screening forward pass (``2 x`` that many windows).
    chunk_size
        VCF entries per resumable chunk.
    device, seed
        Where to run; seed of the reference shuffles and of the null draws.
    tasks
        Task names to keep (default all).
    edge
        ``shift`` (keep windows inside the record) or ``skip`` (skip variants whose centred window
        does not fit).
    strict
        Errors instead of counted skips for REF mismatches, missing records, record ends, long indels.
    flank
        Bases each side of the variant counted as "around" it.
    motif_threshold
        P-value a motif match needs on REF or ALT (default 1e-4).
    report_top
        Variants shown in the HTML report.
    explain
        ``screen`` (explain the alleles of the whole run that pass ``explain_top``/``explain_min_effect``,
        or by default the strongest ``explain_share`` of the run's scored alleles), ``all`` or ``none``.
    explain_top, explain_min_effect, explain_share
        See :func:`deeplift_genomics.variants.stats.select_explained`.
    null
        ``shuffled`` (each drawn allele's REF and ALT bases at its position in a dinucleotide shuffle of
        its window), ``matched`` (an SNV with the same bases elsewhere in its own window) or ``vcf`` (the
        run's own alleles).
    null_per_variant
        Null SNVs drawn per allele (``ceil(rate * n)`` per chunk of ``n`` alleles).
    null_exclude, null_exclude_margin
        A BED file of intervals (motif hits, known sites) whose bases, and ``null_exclude_margin`` bases
        each side, the ``matched`` null never draws.
    pvalue_ties
        ``randomized`` or ``conservative`` (:data:`.stats.TIE_RULES`): how null draws tied with an
        effect count; the random share is seeded by ``seed``.
    """

    method: str = "deeplift"
    rule: str = "genomics_default"
    references: str = "shuffle"
    n_references: int = 20
    n_steps: int = 10
    batch_size: int = 64
    screen_batch_size: int = 256
    chunk_size: int = 500
    device: str = "auto"
    seed: int = 0
    tasks: tuple[str, ...] | None = None
    edge: str = "shift"
    strict: bool = False
    flank: int = 10
    motif_threshold: float = DEFAULT_THRESHOLD
    report_top: int = 20
    explain: str = "screen"
    explain_top: int | None = None
    explain_min_effect: float | None = None
    explain_share: float = 0.01
    null: str = "shuffled"
    null_per_variant: float = 0.25
    null_exclude: str | None = None
    null_exclude_margin: int = 5
    pvalue_ties: str = "randomized"

    def check(self) -> None:
        """Raise :class:`InputError` for values that cannot work."""
        if self.method not in METHODS:
            raise InputError(
                f"--method {self.method!r}: expected one of {', '.join(METHODS)} (the effect column already is "
                "the ISM score of an SNV)"
            )
        if self.references not in REFERENCE_KINDS:
            raise InputError(f"--references {self.references!r}: expected one of {', '.join(REFERENCE_KINDS)}")
        if self.edge not in EDGE_CHOICES:
            raise InputError(f"--edge {self.edge!r}: expected one of {', '.join(EDGE_CHOICES)}")
        if self.explain not in EXPLAIN_CHOICES:
            raise InputError(f"--explain {self.explain!r}: expected one of {', '.join(EXPLAIN_CHOICES)}")
        if self.null not in NULL_KINDS:
            raise InputError(f"--null {self.null!r}: expected one of {', '.join(NULL_KINDS)}")
        for name in ("batch_size", "screen_batch_size", "chunk_size", "n_references", "n_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        if self.flank < 0 or self.report_top < 0 or self.null_per_variant < 0:
            raise InputError("--flank, --report-top and --null-per-variant must be at least 0")
        if self.pvalue_ties not in TIE_RULES:
            raise InputError(f"--pvalue-ties {self.pvalue_ties!r}: expected one of {', '.join(TIE_RULES)}")
        if self.null_exclude is not None and self.null != "matched":
            raise InputError(f"--null-exclude applies to --null-model matched only (this run: {self.null})")
        if self.null_exclude_margin < 0:
            raise InputError(f"--null-exclude-margin {self.null_exclude_margin}: must be at least 0")
        if self.null != "vcf" and self.null_per_variant <= 0:
            raise InputError(f"--null {self.null} needs --null-per-variant above 0 (or use --null vcf)")
        if self.explain_top is not None and self.explain_top < 0:
            raise InputError(f"--explain-top {self.explain_top}: must be at least 0")
        if not 0 <= self.explain_share <= 1:
            raise InputError(f"--explain-share {self.explain_share}: expected a share in [0, 1]")
        if not 0 < self.motif_threshold <= 1:
            raise InputError(f"--motif-threshold {self.motif_threshold}: expected a p-value in (0, 1]")


@dataclasses.dataclass
class VariantSummary:
    """What a run did."""

    n_entries: int
    n_scored: int
    skip_counts: dict[str, int]
    seconds: float
    files: list[Path]
    n_explained: int = 0
    seconds_screen: float = 0.0
    seconds_explain: float = 0.0

    @property
    def alleles_per_second(self) -> float:
        return self.n_scored / self.seconds if self.seconds > 0 else float("nan")


def _metadata(windows: Sequence[AlleleWindows]) -> dict[str, np.ndarray]:
    a = [w.allele for w in windows]
    return {
        "name": obj(x.name for x in a),
        "vcf_id": obj(x.vcf_id for x in a),
        "chrom": obj(x.chrom for x in a),
        "ref": obj(x.ref for x in a),
        "alt": obj(x.alt for x in a),
        "kind": obj(x.kind for x in a),
        "info": obj(x.info for x in a),
        "note": obj(w.note for w in windows),
        "line": np.array([x.line for x in a], dtype=np.int64),
        "pos": np.array([x.pos for x in a], dtype=np.int64),
        "window_start": np.array([w.start for w in windows], dtype=np.int64),
        "offset": np.array([w.offset for w in windows], dtype=np.int64),
    }


def _screen_table(windows: Sequence[AlleleWindows], scorer: ForwardScorer, opt: VariantOptions,
                  chunk_index: int, exclude: NullExclusion | None = None) -> VariantTable:  # fmt: skip
    """One chunk's screening: outputs of both windows of every allele, and its matched null SNVs."""
    n_t = len(PROFILE_HEADS) if scorer.profile else len(scorer.task_idx)
    if not windows:
        return VariantTable.empty(n_t)
    rate = opt.null_per_variant if opt.null != "vcf" else 0.0
    s = screen_alleles(scorer, windows, batch_size=opt.screen_batch_size, null_rate=rate,
                       rng=chunk_rng(opt.seed, chunk_index), null_kind=opt.null, seed=opt.seed,
                       exclude=exclude)  # fmt: skip
    n = len(windows)
    arrays = {"logits_ref": s.out_ref, "logits_alt": s.out_alt, "probs_ref": s.probs_ref, "probs_alt": s.probs_alt}
    return VariantTable(_metadata(windows), arrays, s.jsd, np.zeros(n, dtype=bool), no_sums(n, n_t), no_motif(n),
                        s.null_effect.reshape(-1, n_t), s.null_jsd)  # fmt: skip


def _explain(
    windows: Sequence[AlleleWindows],
    models: Sequence[tuple[nn.Module, list[int], str]],
    effect: np.ndarray,
    opt: VariantOptions,
    bank: _Bank,
) -> dict[str, np.ndarray]:
    """Contributions, their sums and the motif context of the explained ``windows`` of one chunk.

    ``models``: ``(model, targets, head)`` per group of columns (bpnet-lite: its counts and profile
    wrappers). Both windows run in canonical order (:func:`screen.canonical_flip`): references come from
    the alphabetically first window and the pair is the same batch whichever allele the VCF calls REF.
    """
    flip = canonical_flip(windows)
    first = [w.alt_seq if f else w.ref_seq for w, f in zip(windows, flip)]
    second = [w.ref_seq if f else w.alt_seq for w, f in zip(windows, flip)]
    c1, c2 = [], []
    for lo in range(0, len(windows), opt.batch_size):
        hi = lo + opt.batch_size
        per_model = [
            score_alleles(model, first[lo:hi], second[lo:hi], target=targets, head=head, method=opt.method,
                          rule=opt.rule, references=opt.references, n_references=opt.n_references,
                          n_steps=opt.n_steps, background=BACKGROUND, batch_size=max(256, 2 * (hi - lo)),
                          device=opt.device, seed=opt.seed)
            for model, targets, head in models
        ]  # fmt: skip
        c1.append(np.concatenate([s.contrib_ref for s in per_model], axis=1))
        c2.append(np.concatenate([s.contrib_alt for s in per_model], axis=1))
    f = flip[:, None, None]
    a1, a2 = np.concatenate(c1), np.concatenate(c2)
    contrib_ref, contrib_alt = np.where(f, a2, a1), np.where(f, a1, a2)
    a = [w.allele for w in windows]
    ref_len = [len(x.ref) for x in a]
    alt_len = [len(x.alt) for x in a]
    offsets = [w.offset for w in windows]
    ch = contribution_changes(contrib_ref, contrib_alt, offsets, ref_len, alt_len, effect, opt.flank)
    hits = assign_motifs(bank.get(), [w.ref_seq for w in windows], [w.alt_seq for w in windows], offsets, ref_len,
                         alt_len, opt.motif_threshold)  # fmt: skip
    return {
        "contrib_ref": contrib_ref.astype(np.float32),
        "contrib_alt": contrib_alt.astype(np.float32),
        "ref_sequence": _letters([w.ref_seq for w in windows]),
        "alt_sequence": _letters([w.alt_seq for w in windows]),
        "sums/site_ref": ch["site_ref"], "sums/site_alt": ch["site_alt"],
        "sums/around_diff": ch["around_diff"], "sums/total_diff": ch["total_diff"],
        "motif/name": np.asarray(hits.motif, dtype=str), "motif/strand": np.asarray(hits.strand, dtype=str),
        "motif/change": np.asarray(hits.change, dtype=str), "motif/start_ref": hits.start_ref.astype(np.float64),
        "motif/score_ref": hits.score_ref, "motif/score_alt": hits.score_alt,
        "motif/pvalue_ref": hits.pvalue_ref, "motif/pvalue_alt": hits.pvalue_alt,
    }  # fmt: skip


def obj(values: Any) -> np.ndarray:
    """A 1-D object array of the values (strings of any length)."""
    return np.asarray(list(values), dtype=object)


def _letters(seqs: Sequence[str]) -> np.ndarray:
    if not seqs:
        return np.zeros((0, 0), dtype=np.uint8)
    return np.stack([np.frombuffer(q.encode("ascii"), dtype=np.uint8) for q in seqs])


def _save_chunk(path: Path, table: VariantTable, skipped: Sequence[Skip]) -> None:
    data = table.to_npz_dict()
    data["skipped"] = np.asarray([json.dumps(dataclasses.asdict(s)) for s in skipped], dtype=str)
    save_npz(path, data)


def _load_chunk(path: Path) -> tuple[VariantTable, list[Skip]] | None:
    """A saved chunk, or ``None`` when it is truncated or corrupt (it is then computed again)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        skipped = [Skip(**json.loads(s)) for s in data.pop("skipped")]
        return VariantTable.from_mapping(data), skipped
    except Exception:  # noqa: BLE001 - BadZipFile, ValueError, OSError, KeyError, EOFError: all mean "redo"
        return None


def _load_npz(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception:  # noqa: BLE001 - any unreadable chunk is computed again
        return None


def score_variants(
    model: nn.Module,
    input_length: int,
    task_names: Sequence[str],
    fasta: str | Path,
    vcf: str | Path,
    out_dir: str | Path,
    *,
    options: VariantOptions | None = None,
    motifs: str | Path | None = None,
    shard: tuple[int, int] | str | None = None,
    keep_work: bool = False,
    index_dir: str | Path | None = None,
    model_name: str = "",
    after_chunk: Callable[[int], None] | None = None,
    output: str = "logit",
    screen_only: bool = False,
    explain_ids: str | Path | None = None,
    screened: str | Path | None = None,
) -> VariantSummary:
    """Screen every allele of ``vcf`` against ``fasta`` with ``model``, explain the strongest, write OUT_DIR.

    Two passes over the chunks, both resumable: the screen (forward passes of both windows of every
    allele and of its matched null SNVs, :mod:`.screen`), then the explanation of the selected alleles
    (DeepLIFT with shared references and the motif context, :func:`.stats.select_explained`). The
    outputs are then written from the chunks with the scalars of every allele in memory and the
    contributions streamed (:mod:`.outputs`).

    Parameters
    ----------
    model
        Maps ``(N, 4, input_length)`` one-hot A,C,G,T to ``(N, T)``.
    input_length, task_names
        The model's input length and one name per output.
    fasta, vcf
        Genome (plain or bgzip FASTA) and variants (plain or bgzip VCF, no index needed).
    out_dir
        Gets ``variants.tsv``, ``scores.h5``, ``skipped.tsv``, ``summary.json``, ``report.html``
        (and ``shard.json`` for a shard).
    options
        :class:`VariantOptions`.
    motifs
        MEME (or ENCODE/JASPAR) file or ``motifs`` output directory; default the shipped ENCODE set.
    shard
        ``(K, N)`` or ``"K/N"``.
    keep_work
        Keep the resumable chunks after success.
    index_dir
        Where to build the FASTA index when its directory is read-only.
    model_name
        Recorded in the outputs.
    after_chunk
        Called with the chunk index after each screening chunk is saved (tests simulate a crash with it).
    output
        What the model outputs (:func:`deeplift_genomics.models.files.output_kind`): ``logit`` gives
        probabilities and log-odds; ``log_counts`` and ``profile`` (bpnet-lite models) score both heads
        (``counts``, ``profile``) with the counts log2 fold change, the profile Jensen-Shannon distance and
        the active-allele quantile, and give NaN for probabilities.
    screen_only
        Screen every allele and stop: OUT_DIR keeps the screen (its work directory), ``screen.npz`` and
        ``shard.json`` (shard 1/1 when unsharded), for :func:`select_screens`.
    explain_ids
        A ``selection.json`` of :func:`select_screens`: explain exactly its alleles (of this block),
        instead of choosing here. Needed by a sharded run whose choice depends on other shards.
    screened
        A ``screen_only`` output directory of this same run and shard whose screen is taken up instead of
        computed again (default: OUT_DIR's own, when it is one).

    Returns
    -------
    VariantSummary

    Raises
    ------
    InputError
        Bad VCF line, strict-mode skips, unknown tasks, bad options, an OUT_DIR that holds an input;
        all before OUT_DIR is created.
    """
    started = time.perf_counter()
    opt = options or VariantOptions()
    opt.check()
    shard = parse_shard(shard)
    _check_steps(opt, shard, screen_only, explain_ids, screened)
    heads = both_heads(model) if output != "logit" else None
    names = list(PROFILE_HEADS) if heads is not None else list(task_names)
    if heads is not None and opt.tasks is not None and list(opt.tasks) != names:
        raise InputError(f"--tasks {','.join(opt.tasks)}: a bpnet-lite model is scored on both its heads "
                         f"({', '.join(PROFILE_HEADS)}); leave --tasks out")  # fmt: skip
    task_idx = task_indices(names, opt.tasks)
    kept = [names[i] for i in task_idx]
    fasta, vcf, out_dir = Path(fasta), Path(vcf), Path(out_dir)
    motif_path = motif_file_in(motifs) if motifs is not None else None
    exclude_path = Path(opt.null_exclude) if opt.null_exclude is not None else None
    selection_path = Path(explain_ids) if explain_ids is not None else None
    screened_dir = Path(screened) if screened is not None else None
    check_output_path(out_dir, [fasta, vcf, motif_path, exclude_path, selection_path, screened_dir])
    exclude = load_exclusion(exclude_path, opt.null_exclude_margin) if exclude_path is not None else None
    contents = read_vcf(vcf)
    entries = contents.entries
    first, end = shard_range(len(entries), shard, opt.chunk_size)
    mine = entries[first:end]
    # a user's motif file is read now (its errors come before OUT_DIR is touched); the shipped set, which
    # cannot fail, only when some allele is explained
    bank = _Bank(load_bank(motif_path, BACKGROUND) if motif_path is not None else None)
    plans = _plan_chunks(fasta, vcf, mine, input_length, opt, index_dir)
    _check_something_scored(plans, fasta, vcf, len(mine), sharded=shard is not None, index_dir=index_dir)
    head = output if output != "logit" else model_head(model, torch.zeros((1, 4, input_length)))
    manifest = _manifest(model, fasta, vcf, motif_path, input_length, kept, len(entries), shard, opt)
    manifest["null_exclude_sha256"] = file_checksum(exclude_path) if exclude_path is not None else None
    settings = {k: v for k, v in manifest.items() if k != "shard"}
    chosen_ids = _read_selection(selection_path, settings) if selection_path is not None else None
    if screened_dir is not None:
        _check_screened(screened_dir, manifest)
    job: ChunkedWork[Any] = ChunkedWork(out_dir, "variants", WORK_DIR, manifest, VARIANT_OUTPUTS)
    was_training = model.training
    model.eval()
    try:
        scorer = ForwardScorer(model, input_length, task_idx, output, opt.device)
        if heads is not None:
            explainers = [(heads[1], [0], "log_counts"), (heads[2], [0], "profile")]
        else:
            explainers = [(model, task_idx, head)]
        with FastaFile(fasta, index_dir=index_dir) as fa:
            windows_of = functools.partial(_chunk_windows, fa, vcf, mine, input_length, opt)
            tables, skips = _run_screen(job, plans, windows_of, scorer, opt, first // opt.chunk_size, after_chunk,
                                        exclude, screened_dir)  # fmt: skip
            screened_at = time.perf_counter()
            table = VariantTable.concat(tables, len(kept))
            strength = allele_strength(table)
            if screen_only:
                files = [_write_screen(out_dir, table, strength)]
                files.append(write_shard_info(out_dir, SCREEN_FORMAT, shard or (1, 1), "entry", (first, end),
                                              len(entries), {"settings": settings}))  # fmt: skip
                job.finish(files, keep_work=True)
                seconds = time.perf_counter() - started
                return VariantSummary(len(mine), len(table), skip_counts(skips), seconds, files, 0,
                                      screened_at - started)  # fmt: skip
            if chosen_ids is not None:
                chosen = _mask_of(table, chosen_ids)
            else:
                chosen = select_explained(strength, mode=opt.explain, top=opt.explain_top,
                                          min_effect=opt.explain_min_effect, share=opt.explain_share)  # fmt: skip
            _run_explain(job, tables, chosen, windows_of, explainers, opt, bank)
    finally:
        model.train(was_training)
    explained_at = time.perf_counter()
    table = VariantTable.concat(tables, len(kept))
    attrs = _output_attrs(kept, opt, input_length, head, fasta, vcf, model_name, bank.source, manifest["options"])
    counts = skip_counts(skips)
    summary = {
        "n_records": contents.n_records if shard is None else None,
        "n_entries": len(mine),
        "n_scored": len(table),
        "n_skipped": len(skips),
        "skip_counts": counts,
    }
    files = write_all(out_dir, table, lambda: _explained_parts(job, len(tables)), skips, attrs, summary,
                      opt.report_top)  # fmt: skip
    shard_info = {
        "n_records": contents.n_records,
        "settings": {k: v for k, v in manifest.items() if k != "shard"},
        "attrs": attrs,
        "report_top": opt.report_top,
    }
    if shard is not None:
        # written last: its presence says the shard's other files are complete
        files.append(write_shard_info(out_dir, SHARD_FORMAT, shard, "entry", (first, end), len(entries), shard_info))
    job.finish(files, keep_work)
    seconds = time.perf_counter() - started
    _log_rate(len(table), seconds, len(skips), counts)
    return VariantSummary(len(mine), len(table), counts, seconds, files, int(table.explained.sum()),
                          screened_at - started, explained_at - screened_at)  # fmt: skip


def allele_strength(table: VariantTable) -> np.ndarray:
    """``(A,)`` each allele's largest |logit change| over the tasks (NaN as ``-inf``): what the choice of the
    alleles to explain ranks."""
    if not len(table):
        return np.zeros(0)
    change = np.abs(table.arrays["logits_alt"] - table.arrays["logits_ref"])
    return np.asarray(np.nan_to_num(change, nan=-np.inf).max(axis=1), dtype=np.float64)


def _check_steps(
    opt: VariantOptions, shard: tuple[int, int] | None, screen_only: bool, explain_ids: str | Path | None,
    screened: str | Path | None,
) -> None:  # fmt: skip
    """Refuse step combinations that cannot give what an unsharded run gives (before OUT_DIR is touched)."""
    if screen_only and (explain_ids is not None or screened is not None):
        raise InputError("variants: --screen-only screens and stops; give --explain-ids/--screened to the next run")
    per_allele = opt.explain != "screen" or (opt.explain_top is None and opt.explain_min_effect is not None)
    if shard is not None and not screen_only and explain_ids is None and not per_allele:
        raise InputError(
            "variants: --shard with --explain-top or --explain-share chooses over the whole run: screen each "
            "shard (--screen-only), choose (--select SCREEN_DIR ...), then explain (--explain-ids "
            "selection.json); or use --explain-min-effect alone, --explain all or --explain none"
        )


def _write_screen(out_dir: Path, table: VariantTable, strength: np.ndarray) -> Path:
    """``screen.npz``: each scored allele's VCF line, ALT and strength, in VCF order."""
    path = out_dir / SCREEN_FILE
    save_npz(path, {"line": np.asarray(table.alleles["line"], dtype=np.int64),
                    "alt": np.asarray(table.alleles["alt"], dtype=str), "strength": strength})  # fmt: skip
    return path


def _check_screened(screened: Path, manifest: dict) -> None:
    """``screened`` must be a ``--screen-only`` output of the same inputs, settings and shard."""
    path = screened / WORK_DIR / "manifest.json"
    if not (screened / SCREEN_FILE).is_file() or not path.is_file():
        raise InputError(f"variants --screened: {screened}: not a --screen-only output (no {SCREEN_FILE})")
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"variants --screened: {path}: unreadable ({exc})") from None
    diff = first_difference(old, json.loads(json.dumps(manifest)))
    if diff:
        raise InputError(f"variants --screened: {screened} was screened by another run: it differs in {diff}")


def _read_selection(path: Path, settings: dict) -> set[tuple[int, str]]:
    """The (VCF line, ALT) of each allele a ``selection.json`` chose, after checking it is this run's."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"variants --explain-ids: {path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"variants --explain-ids: {path}: unreadable ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != SELECTION_FORMAT or "alleles" not in info:
        raise InputError(f"variants --explain-ids: {path}: not a {SELECTION_FORMAT} file (made by variants --select)")
    diff = first_difference(info.get("settings"), json.loads(json.dumps(settings)), "settings")
    if diff:
        raise InputError(f"variants --explain-ids: {path} was chosen for another run: it differs in {diff}")
    try:
        return {(int(line), str(alt)) for line, alt in info["alleles"]}
    except (TypeError, ValueError):
        raise InputError(f"variants --explain-ids: {path}: alleles: expected [line, ALT] pairs") from None


def _mask_of(table: VariantTable, ids: set[tuple[int, str]]) -> np.ndarray:
    """Which alleles of ``table`` are among ``ids`` (VCF line, ALT)."""
    pairs = zip(table.alleles["line"].tolist(), table.alleles["alt"].tolist())
    return np.fromiter(((int(line), str(alt)) in ids for line, alt in pairs), dtype=bool, count=len(table))


def select_screens(screen_dirs: Sequence[str | Path], out_dir: str | Path) -> list[Path]:
    """Choose the alleles to explain over all shards' screens of one run; writes ``OUT_DIR/selection.json``.

    The shards' strengths are concatenated in shard order, which is VCF order, and ranked by
    :func:`.stats.select_explained` with the run's own options: the same choice an unsharded run makes.

    Raises
    ------
    InputError
        A directory that is not a finished ``--screen-only`` output, screens of different runs, missing or
        repeated shards (:func:`deeplift_genomics.jobs.shards.check_shards`).
    """
    shards = check_shards("variants", screen_dirs, SCREEN_FORMAT, "entry", (SCREEN_FILE,), ("settings",),
                          flag="--select")  # fmt: skip
    lines, alts, strength = [], [], []
    for shard_dir, _ in shards:
        try:
            with np.load(shard_dir / SCREEN_FILE, allow_pickle=False) as z:
                lines.append(z["line"])
                alts.append(z["alt"])
                strength.append(z["strength"])
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"variants --select: {shard_dir / SCREEN_FILE}: unreadable ({exc})") from None
    settings = shards[0][1]["settings"]
    opt = _options_of(settings["options"])
    s = np.concatenate(strength) if strength else np.zeros(0)
    keep = select_explained(s, mode=opt.explain, top=opt.explain_top, min_effect=opt.explain_min_effect,
                            share=opt.explain_share)  # fmt: skip
    line, alt = np.concatenate(lines), np.concatenate(alts)
    chosen = [[int(line[i]), str(alt[i])] for i in np.flatnonzero(keep)]
    info = {"format": SELECTION_FORMAT, "explain": _explain_text(opt), "n_scored": len(s), "n_chosen": len(chosen),
            "settings": settings, "alleles": chosen}  # fmt: skip
    out = Path(out_dir)
    open_output_dir(out, "variants")
    path = out / SELECTION_FILE
    atomic_write_text(path, json.dumps(info, indent=1, sort_keys=True) + "\n")
    finish_output_dir(out, "variants", [path], VARIANT_OUTPUTS)
    log.info("chose %d of %d allele(s) to explain (%s)", len(chosen), len(s), info["explain"])
    return [path]


def _options_of(options: dict) -> VariantOptions:
    """The :class:`VariantOptions` a manifest's ``options`` records."""
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return VariantOptions(**values)


EXPLAIN_SERIES = "explain"
SHIPPED_MOTIFS = "ENCODE motifs (Kheradpour & Kellis 2014), shipped"


class _Bank:
    """The motif bank, loaded on first use (the shipped set takes seconds to prepare)."""

    def __init__(self, bank: MotifBank | None) -> None:
        self.bank = bank

    def get(self) -> MotifBank:
        if self.bank is None:
            self.bank = load_bank(None, BACKGROUND)
        return self.bank

    @property
    def source(self) -> str:
        return self.bank.source if self.bank is not None else SHIPPED_MOTIFS


def _chunk_windows(
    fa: FastaFile, vcf: Path, entries: Sequence[VcfAllele | Skip], input_length: int, opt: VariantOptions, k: int
) -> list[AlleleWindows]:
    """Chunk ``k``'s windows, read again from the FASTA (only one chunk's windows are ever in memory)."""
    part = entries[k * opt.chunk_size : (k + 1) * opt.chunk_size]
    alleles = [e for e in part if isinstance(e, VcfAllele)]
    wins, _ = build_windows(fa, alleles, input_length, edge=opt.edge, strict=opt.strict, vcf_name=str(vcf),
                            warn=False)  # fmt: skip
    return wins


def _run_screen(
    job: ChunkedWork[Any],
    plans: Sequence[Plan],
    windows_of: Callable[[int], list[AlleleWindows]],
    scorer: ForwardScorer,
    opt: VariantOptions,
    first_chunk: int,
    after_chunk: Callable[[int], None] | None,
    exclude: NullExclusion | None = None,
    screened: Path | None = None,
) -> tuple[list[VariantTable], list[Skip]]:
    """Screen every chunk not already saved (resume), after copying ``screened``'s saved chunks (a checked
    ``--screen-only`` output of this run); OUT_DIR is created (or taken over) here."""
    chunks = job.open()
    if screened is not None:
        for path in sorted((screened / WORK_DIR / "chunks").glob("chunk_*.npz")):
            # a copy cut short by a crash is unreadable, and so screened again by resume
            if not (chunks / path.name).exists():
                shutil.copyfile(path, chunks / path.name)
    bar = progress_bar(total=sum(n for n, _ in plans), desc="variants screen", unit="allele")

    def resume(k: int, path: Path) -> tuple[VariantTable, list[Skip]] | None:
        done = _load_chunk(path)
        if done is not None:
            bar.update(len(done[0]))
        return done

    def compute(k: int, path: Path) -> tuple[VariantTable, list[Skip]]:
        table = _screen_table(windows_of(k), scorer, opt, first_chunk + k, exclude)
        skipped = plans[k][1]
        _save_chunk(path, table, skipped)
        bar.update(len(table))
        return table, list(skipped)

    try:
        done = job.run(len(plans), compute, resume, after_chunk)
    finally:
        bar.close()
    return [table for table, _ in done], [skip for _, skipped in done for skip in skipped]


def _run_explain(
    job: ChunkedWork[Any],
    tables: list[VariantTable],
    chosen: np.ndarray,
    windows_of: Callable[[int], list[AlleleWindows]],
    explainers: Sequence[tuple[nn.Module, list[int], str]],
    opt: VariantOptions,
    bank: _Bank,
) -> None:
    """Explain the ``chosen`` alleles chunk by chunk (resumable), filling each table's sums and motif
    context in place; the contributions stay in the chunk files until the outputs are written."""
    bounds = np.cumsum([0] + [len(t) for t in tables])
    bar = progress_bar(total=int(chosen.sum()), desc="variants explain", unit="allele")

    def fill(k: int, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        t = tables[k]
        rows = np.flatnonzero(chosen[bounds[k] : bounds[k + 1]])
        t.explained[:] = False
        t.explained[rows] = True
        for key in SUMS:
            t.sums[key][rows] = data[f"sums/{key}"]
        for key in t.motif:
            t.motif[key][rows] = data[f"motif/{key}"]
        bar.update(len(rows))
        return {}

    def resume(k: int, path: Path) -> dict[str, np.ndarray] | None:
        data = _load_npz(path)
        rows = np.flatnonzero(chosen[bounds[k] : bounds[k + 1]])
        if data is None or "rows" not in data or not np.array_equal(data["rows"], rows):
            return None
        return fill(k, data)

    def compute(k: int, path: Path) -> dict[str, np.ndarray]:
        t = tables[k]
        rows = np.flatnonzero(chosen[bounds[k] : bounds[k + 1]])
        if len(rows):
            wins = windows_of(k)
            effect = t.arrays["logits_alt"][rows] - t.arrays["logits_ref"][rows]
            data = _explain([wins[i] for i in rows], explainers, effect, opt, bank)
        else:
            data = _empty_explained(t.n_tasks)
        data["rows"] = rows
        save_npz(path, data)
        return fill(k, data)

    try:
        job.run(len(tables), compute, resume, series=EXPLAIN_SERIES)
    finally:
        bar.close()


def _empty_explained(n_tasks: int) -> dict[str, np.ndarray]:
    data: dict[str, np.ndarray] = {"contrib_ref": np.zeros((0, n_tasks, 0), np.float32),
                                   "contrib_alt": np.zeros((0, n_tasks, 0), np.float32),
                                   "ref_sequence": np.zeros((0, 0), np.uint8), "alt_sequence": np.zeros((0, 0), np.uint8)}  # fmt: skip
    data.update({f"sums/{k}": np.zeros((0, n_tasks)) for k in SUMS})
    data.update({f"motif/{k}": np.zeros(0, dtype=str) for k in ("name", "strand", "change")})
    data.update({f"motif/{k}": np.zeros(0) for k in ("start_ref", "score_ref", "score_alt", "pvalue_ref", "pvalue_alt")})
    return data


def _explained_parts(job: ChunkedWork[Any], n_chunks: int) -> Iterator[dict[str, np.ndarray]]:
    """The explained contributions of every chunk, one chunk at a time, from the work directory."""
    for k in range(n_chunks):
        with np.load(job.chunk_path(k, EXPLAIN_SERIES), allow_pickle=False) as z:
            yield {key: z[key] for key in ("contrib_ref", "contrib_alt", "ref_sequence", "alt_sequence")}


def _manifest(
    model: nn.Module,
    fasta: Path,
    vcf: Path,
    motif_path: Path | None,
    input_length: int,
    kept: list[str],
    n_entries: int,
    shard: tuple[int, int] | None,
    opt: VariantOptions,
) -> dict:
    """The settings a resumed run must share with the chunks it finds (checksums, tasks, shard, options)."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "fasta_sha256": file_checksum(fasta),
        "vcf_sha256": file_checksum(vcf),
        "motifs_sha256": file_checksum(motif_path) if motif_path else "shipped-encode",
        "model_sha256": model_fingerprint(model),
        "input_length": int(input_length),
        "task_names": kept,
        "n_entries": n_entries,
        "shard": list(shard) if shard else None,
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(opt).items()},
    }


def _output_attrs(
    kept: list[str],
    opt: VariantOptions,
    input_length: int,
    head: str,
    fasta: Path,
    vcf: Path,
    model_name: str,
    motifs_source: str,
    options: dict,
) -> dict:
    """The attributes recorded with the scores: tasks, method, inputs and options."""
    return {
        "task_names": kept,
        "method": opt.method,
        "rule": opt.rule,
        "references": opt.references,
        "n_references": opt.n_references,
        "input_length": int(input_length),
        "head": head,
        "fasta": str(fasta),
        "vcf": str(vcf),
        "model": model_name,
        "motifs": motifs_source,
        "null": opt.null,
        "null_per_variant": opt.null_per_variant if opt.null != "vcf" else 0,
        "null_exclude": "" if opt.null_exclude is None else f"{opt.null_exclude} (margin {opt.null_exclude_margin})",
        "pvalue_ties": opt.pvalue_ties,
        "seed": opt.seed,
        "explain": _explain_text(opt),
        "flank": opt.flank,
        "options": json.dumps(options, sort_keys=True),
    }


def _explain_text(opt: VariantOptions) -> str:
    """How the explained alleles were chosen, in words (the outputs' ``explain`` attribute)."""
    if opt.explain != "screen":
        return opt.explain
    parts = []
    if opt.explain_top is not None:
        parts.append(f"top {opt.explain_top}")
    if opt.explain_min_effect is not None:
        parts.append(f"|effect| >= {opt.explain_min_effect:g}")
    return " or ".join(parts) or f"top {opt.explain_share:g} of the run's scored alleles"


def _log_rate(n_scored: int, seconds: float, n_skipped: int, counts: dict) -> None:
    """Log how many alleles were scored, how fast, and how many were skipped and why."""
    log.info(
        "scored %d allele(s) in %.1f s (%.1f alleles/s); skipped %d %s",
        n_scored,
        seconds,
        n_scored / seconds if seconds else float("nan"),
        n_skipped,
        counts or "",
    )


Plan = tuple[int, list[Skip]]
"""One chunk's number of scorable windows and its skipped entries (in file order)."""


def _check_something_scored(
    plans: Sequence[Plan], fasta: Path, vcf: Path, n_entries: int, *, sharded: bool, index_dir: str | Path | None
) -> None:
    """Say when records are missing from the FASTA (with the 'chr' prefix hint when it applies), and refuse
    a run that can score nothing at all (a shard may hold only skips: it warns)."""
    skipped = [k for _, ks in plans for k in ks]
    missing = sorted({k.chrom for k in skipped if k.reason == SKIP_MISSING_CONTIG})
    hint = ""
    if missing:
        with FastaFile(fasta, index_dir=index_dir) as fa:
            hint = contig_hint(missing, fa.names)
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        log.warning("%s: %d record name(s) are not in %s (%s)%s", vcf, len(missing), fasta, shown, hint)
    if any(n for n, _ in plans) or n_entries == 0 and sharded:
        return
    counts = skip_counts(skipped)
    what = ", ".join(f"{n} {reason}" for reason, n in counts.items()) or "no alleles in it"
    message = f"{vcf}: nothing could be scored ({what}){hint}"
    if sharded:
        log.warning("%s (in this shard)", message)
        return
    raise InputError(message)


def _plan_chunks(
    fasta: Path, vcf: Path, entries: Sequence[VcfAllele | Skip], input_length: int, opt: VariantOptions,
    index_dir: str | Path | None,
) -> list[Plan]:  # fmt: skip
    """Cut ``entries`` into chunks of ``opt.chunk_size``, count each chunk's scorable windows, list its skips.

    Input errors (``strict`` skips) are raised here, before OUT_DIR is touched. The windows themselves are
    not kept: each pass reads a chunk's windows again (memory bounded by one chunk).
    """
    n_chunks = max(1, -(-len(entries) // opt.chunk_size))
    plans = []
    with FastaFile(fasta, index_dir=index_dir) as fa:
        for k in range(n_chunks):
            part = entries[k * opt.chunk_size : (k + 1) * opt.chunk_size]
            alleles = [e for e in part if isinstance(e, VcfAllele)]
            wins, win_skips = build_windows(fa, alleles, input_length, edge=opt.edge, strict=opt.strict,
                                            vcf_name=str(vcf))  # fmt: skip
            # skips in file order: the VCF's own and the genome's, keyed by (line, ALT), unique per record
            by_allele = {(k.line, k.alt): k for k in win_skips}
            skipped = [e if isinstance(e, Skip) else by_allele[e.line, e.alt]
                       for e in part if isinstance(e, Skip) or (e.line, e.alt) in by_allele]  # fmt: skip
            plans.append((len(wins), skipped))
    return plans


def gather_shards(shard_dirs: Sequence[str | Path], out_dir: str | Path) -> list[Path]:
    """Merge the N shard directories of one sharded run into what an unsharded run writes.

    Raises
    ------
    InputError
        A directory without ``shard.json`` (an unfinished shard), shards of different runs, missing or
        repeated shard numbers, a block that does not match its number
        (:func:`deeplift_genomics.jobs.shards.check_shards`).
    """
    shards = check_shards("variants", shard_dirs, SHARD_FORMAT, "entry", ("scores.h5", "skipped.tsv"),
                          ("settings",))  # fmt: skip
    tables, skips = [], []
    for shard_dir, _ in shards:
        table, _ = read_h5(shard_dir / "scores.h5")
        tables.append(table)
        skips.extend(read_skipped(shard_dir / "skipped.tsv"))
    first = shards[0][1]
    attrs = first["attrs"]
    table = VariantTable.concat(tables, len(attrs["task_names"]))
    summary = {
        "n_records": first["n_records"],
        "n_entries": first["n_entries"],
        "n_scored": len(table),
        "n_skipped": len(skips),
        "skip_counts": skip_counts(skips),
    }
    out = Path(out_dir)
    open_output_dir(out, "variants")
    dirs = [shard_dir for shard_dir, _ in shards]

    def parts() -> Iterator[dict[str, np.ndarray]]:
        for shard_dir in dirs:
            yield from read_explained(shard_dir / "scores.h5")

    files = write_all(out, table, parts, skips, attrs, summary, int(first["report_top"]))
    finish_output_dir(out, "variants", files, VARIANT_OUTPUTS)
    return files
