"""Score the alleles of a VCF: chunks, resume, shards and gather, as ``score`` does for a FASTA.

VCF -> alleles (:mod:`vcf`) -> both windows from the FASTA (:mod:`alleles`) -> outputs and DeepLIFT with
shared references (:mod:`effects`) -> motif context (:mod:`motif_context`) -> files (:mod:`outputs`).

Every ALT of every record is one *entry*, in file order (scorable or skipped). Work is done in chunks of
``chunk_size`` entries, each saved to ``OUT_DIR/.variants_work/chunks`` when done; a rerun with the same
inputs and options (checked against ``manifest.json``) skips finished chunks. ``shard=(K, N)`` takes the
K-th of N contiguous, balanced blocks of chunks (:func:`deeplift_genomics.score.shard_range`) and adds
``shard.json``; :func:`gather_shards` concatenates the shard directories into what one unsharded run
writes. All input errors (bad VCF line, ``strict`` skips, bad options) are raised before OUT_DIR is
touched.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.errors import InputError
from ..core.progress import progress_bar
from ..core.targets import task_indices
from ..io.fasta import FastaFile, file_checksum
from ..io.output_dirs import check_output_path, open_output_dir
from ..io.vcf import Skip, VcfAllele, read_vcf, skip_counts
from ..jobs.shards import check_shards, parse_shard, shard_range, write_shard_info
from ..jobs.work import ChunkedWork, finish_output_dir, save_npz
from ..models.files import model_fingerprint
from .alleles import EDGE_CHOICES, SKIP_MISSING_CONTIG, AlleleWindows, build_windows, contig_hint
from .effects import METHODS, REFERENCE_KINDS, model_head, score_alleles
from .motif_context import DEFAULT_THRESHOLD, MotifBank, assign_motifs, load_bank, motif_file_in
from .outputs import VariantTable, read_h5, read_skipped, write_all

log = logging.getLogger(__name__)

WORK_DIR = ".variants_work"
MANIFEST_VERSION = 1
SHARD_FORMAT = "deeplift-genomics-variants-shard"
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
        As :func:`deeplift_genomics.attribute`; references are made from the REF window and shared.
    batch_size
        Alleles per attribution call (each call runs ``2 x batch_size`` windows).
    chunk_size
        VCF entries per resumable chunk.
    device, seed
        Where to run; seed of the reference shuffles.
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
    """

    method: str = "deeplift"
    rule: str = "genomics_default"
    references: str = "shuffle"
    n_references: int = 20
    n_steps: int = 10
    batch_size: int = 64
    chunk_size: int = 500
    device: str = "auto"
    seed: int = 0
    tasks: tuple[str, ...] | None = None
    edge: str = "shift"
    strict: bool = False
    flank: int = 10
    motif_threshold: float = DEFAULT_THRESHOLD
    report_top: int = 20

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
        for name in ("batch_size", "chunk_size", "n_references", "n_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        if self.flank < 0 or self.report_top < 0:
            raise InputError("--flank and --report-top must be at least 0")
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

    @property
    def alleles_per_second(self) -> float:
        return self.n_scored / self.seconds if self.seconds > 0 else float("nan")


def _chunk_table(
    model: nn.Module,
    windows: Sequence[AlleleWindows],
    task_idx: list[int],
    head: str,
    opt: VariantOptions,
    bank: MotifBank,
    n_tasks: int,
    length: int,
    bar: Any,
) -> VariantTable:
    if not windows:
        return VariantTable.empty(n_tasks, length)
    parts = []
    for lo in range(0, len(windows), opt.batch_size):
        batch = windows[lo : lo + opt.batch_size]
        s = score_alleles(
            model,
            [w.ref_seq for w in batch],
            [w.alt_seq for w in batch],
            target=task_idx,
            head=head,
            method=opt.method,
            rule=opt.rule,
            references=opt.references,
            n_references=opt.n_references,
            n_steps=opt.n_steps,
            background=BACKGROUND,
            batch_size=max(256, 2 * len(batch)),
            device=opt.device,
            seed=opt.seed,
        )
        parts.append(s)
        bar.update(len(batch))
    a = [w.allele for w in windows]
    hits = assign_motifs(
        bank,
        [w.ref_seq for w in windows],
        [w.alt_seq for w in windows],
        [w.offset for w in windows],
        [len(x.ref) for x in a],
        [len(x.alt) for x in a],
        opt.motif_threshold,
    )
    alleles = {
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
    arrays = {
        k: np.concatenate([getattr(p, k) for p in parts]).astype(np.float32 if k.startswith("contrib") else np.float64)
        for k in ("logits_ref", "logits_alt", "probs_ref", "probs_alt", "contrib_ref", "contrib_alt")
    }
    motif = {
        "name": obj(hits.motif),
        "strand": obj(hits.strand),
        "change": obj(hits.change),
        "start_ref": hits.start_ref.astype(np.float64),
        "score_ref": hits.score_ref,
        "score_alt": hits.score_alt,
        "pvalue_ref": hits.pvalue_ref,
        "pvalue_alt": hits.pvalue_alt,
    }
    return VariantTable(alleles, arrays, motif, _letters([w.ref_seq for w in windows]),
                        _letters([w.alt_seq for w in windows]))  # fmt: skip


def obj(values: Any) -> np.ndarray:
    """A 1-D object array of the values (strings of any length)."""
    return np.asarray(list(values), dtype=object)


def _letters(seqs: Sequence[str]) -> np.ndarray:
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
) -> VariantSummary:
    """Score every allele of ``vcf`` against ``fasta`` with ``model`` and write OUT_DIR.

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
        Called with the chunk index after each chunk is saved (tests simulate a crash with it).
    output
        What the model outputs (:func:`deeplift_genomics.models.files.output_kind`): ``logit`` gives
        probabilities and log-odds; ``log_counts`` and ``profile`` give NaN there.

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
    task_idx = task_indices(task_names, opt.tasks)
    kept = [task_names[i] for i in task_idx]
    fasta, vcf, out_dir = Path(fasta), Path(vcf), Path(out_dir)
    motif_path = motif_file_in(motifs) if motifs is not None else None
    check_output_path(out_dir, [fasta, vcf, motif_path])
    contents = read_vcf(vcf)
    entries = contents.entries
    first, end = shard_range(len(entries), shard, opt.chunk_size)
    mine = entries[first:end]
    bank = load_bank(motif_path, BACKGROUND)
    plans = _plan_chunks(fasta, vcf, mine, input_length, opt, index_dir)
    _check_something_scored(plans, fasta, vcf, len(mine), sharded=shard is not None, index_dir=index_dir)
    head = model_head(model, torch.zeros((1, 4, input_length))) if output == "logit" else output
    manifest = _manifest(model, fasta, vcf, motif_path, input_length, kept, len(entries), shard, opt)
    score = functools.partial(
        _chunk_table, model, task_idx=task_idx, head=head, opt=opt, bank=bank, n_tasks=len(kept),
        length=input_length,
    )  # fmt: skip
    job: ChunkedWork[tuple[VariantTable, list[Skip]]] = ChunkedWork(out_dir, "variants", WORK_DIR, manifest,
                                                                     VARIANT_OUTPUTS)  # fmt: skip
    tables, skips = _run_chunks(job, model, plans, score, after_chunk)
    table = VariantTable.concat(tables, len(kept), input_length)
    seconds = time.perf_counter() - started
    attrs = _output_attrs(kept, opt, input_length, head, fasta, vcf, model_name, bank.source, manifest["options"])
    counts = skip_counts(skips)
    summary = {
        "n_records": contents.n_records if shard is None else None,
        "n_entries": len(mine),
        "n_scored": len(table),
        "n_skipped": len(skips),
        "skip_counts": counts,
    }
    files = write_all(out_dir, table, skips, attrs, summary, opt.flank, opt.report_top)
    shard_info = {
        "n_records": contents.n_records,
        "settings": {k: v for k, v in manifest.items() if k != "shard"},
        "attrs": attrs,
        "flank": opt.flank,
        "report_top": opt.report_top,
    }
    if shard is not None:
        # written last: its presence says the shard's other files are complete
        files.append(write_shard_info(out_dir, SHARD_FORMAT, shard, "entry", (first, end), len(entries), shard_info))
    job.finish(files, keep_work)
    _log_rate(len(table), seconds, len(skips), counts)
    return VariantSummary(len(mine), len(table), counts, time.perf_counter() - started, files)


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
        "options": json.dumps(options, sort_keys=True),
    }


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


Plan = tuple[list[AlleleWindows], list[Skip]]
"""One chunk's scorable windows and its skipped entries (in file order)."""


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
    if any(wins for wins, _ in plans) or n_entries == 0 and sharded:
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
    """Cut ``entries`` into chunks of ``opt.chunk_size`` and build each chunk's REF/ALT windows.

    Input errors (``strict`` skips) are raised here, before OUT_DIR is touched.
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
            plans.append((wins, skipped))
    return plans


def _run_chunks(
    job: ChunkedWork[tuple[VariantTable, list[Skip]]],
    model: nn.Module,
    plans: Sequence[Plan],
    score: Callable[..., VariantTable],
    after_chunk: Callable[[int], None] | None,
) -> tuple[list[VariantTable], list[Skip]]:
    """Score every chunk not already saved in OUT_DIR's work directory (resume), saving each when done.

    ``score(windows, bar=...)`` makes a chunk's table. OUT_DIR is created (or taken over) here.
    """
    job.open()
    bar = progress_bar(total=sum(len(w) for w, _ in plans), desc="variants", unit="allele")

    def resume(k: int, path: Path) -> tuple[VariantTable, list[Skip]] | None:
        done = _load_chunk(path)
        if done is not None:
            bar.update(len(done[0]))
        return done

    def compute(k: int, path: Path) -> tuple[VariantTable, list[Skip]]:
        wins, skipped = plans[k]
        table = score(wins, bar=bar)
        _save_chunk(path, table, skipped)
        return table, list(skipped)

    was_training = model.training
    model.eval()
    try:
        done = job.run(len(plans), compute, resume, after_chunk)
    finally:
        bar.close()
        model.train(was_training)
    return [table for table, _ in done], [skip for _, skipped in done for skip in skipped]


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
    table = VariantTable.concat(tables, len(attrs["task_names"]), int(attrs["input_length"]))
    summary = {
        "n_records": first["n_records"],
        "n_entries": first["n_entries"],
        "n_scored": len(table),
        "n_skipped": len(skips),
        "skip_counts": skip_counts(skips),
    }
    out = Path(out_dir)
    open_output_dir(out, "variants")
    files = write_all(out, table, skips, attrs, summary, int(first["flank"]), int(first["report_top"]))
    finish_output_dir(out, "variants", files, VARIANT_OUTPUTS)
    return files
