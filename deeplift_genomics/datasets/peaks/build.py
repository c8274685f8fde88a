"""Build a training dataset from a genome FASTA and one peak BED file per task.

>>> ds = build_peak_dataset("hg38.fa", {"gata1": "gata1.bed", "tal1": "tal1.bed"},
...                         PeakDatasetConfig(test_chroms=("chr8",), valid_chroms=("chr10",)))  # doctest: +SKIP
>>> write_peak_dataset(ds, "data/")                                                          # doctest: +SKIP

1. **Peaks** (:mod:`.bed`): each peak gives a ``length``-bp window centred on its summit (BED column 10,
   else the centre). Windows off their contig's end, holding a letter other than A/C/G/T (N) or
   overlapping the ``blacklist`` are dropped and counted per task; a window several peaks give (the
   same summit in two BED files, or twice in one) is kept once.
2. **Labels**: a window is positive for task *t* when it contains the summit of a peak of task *t*,
   so a peak window of one task is also positive for every other task with a summit inside it.
3. **Splits** (:mod:`.splits`): by whole contig (``test_chroms``, ``valid_chroms``, the rest train).
4. **Negatives** (:mod:`.negatives`), labelled 0 for every task, in the split of their contig:
   ``"gc-matched"`` windows drawn from the split's contigs with the GC histogram of its positives,
   never overlapping a peak, a positive window, the blacklist or one another; ``"shuffled"``
   dinucleotide shuffles of each positive window (same split); or a BED file of windows (centred like
   the peaks, dropped and counted when they overlap a peak or positive window, fall off the contig,
   hold N or are blacklisted). ``negatives_per_positive`` applies to the first two.
5. **GC check**: the two-sample Kolmogorov-Smirnov statistic between the positives' and the
   negatives' GC fractions, overall and per split, goes into ``dataset.json``.

The result depends only on the inputs and ``seed``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import InputError
from ...core.progress import progress
from ...core.version import __version__
from ...io.config_file import dataclass_from_mapping
from ...io.fasta import FastaFile
from ...io.output_dirs import check_output_path
from .bed import (
    IntervalIndex,
    Peak,
    contains_point,
    parse_task_specs,
    read_intervals,
    read_peaks,
    summit_window,
    summits_by_contig,
    warn_shared_files,
)
from .negatives import gc_fraction, gc_matched_negatives, shuffled_negatives
from .splits import SPLIT_NAMES, assign_splits, parse_chroms
from .writer import write_peak_dataset

log = logging.getLogger(__name__)

NEGATIVE_MODES = ("gc-matched", "shuffled")
# Per-task counts in dataset.json: peaks read, then why peaks or windows were dropped, then windows kept.
PEAK_COUNTS = (
    "peaks",
    "unknown_contig",
    "peak_past_contig_end",
    "off_contig_end",
    "contains_n",
    "blacklisted",
    "duplicate",
    "windows",
)
_ACGT = frozenset("ACGT")


@dataclasses.dataclass(frozen=True)
class PeakDatasetConfig:
    """Settings of :func:`build_peak_dataset` (the flags of ``deeplift-genomics dataset``).

    Parameters
    ----------
    length
        Window length in bp, centred on each summit.
    negatives
        ``"gc-matched"``, ``"shuffled"`` or the path of a BED file of negative regions.
    negatives_per_positive
        Negatives per positive window (gc-matched and shuffled; 0 = none).
    test_chroms, valid_chroms
        Held-out contigs; ``None`` picks whole contigs holding about 10% of the peak windows each.
    blacklist
        BED file of regions no window may overlap.
    seed
        Seeds the negatives and any automatic split.
    gc_bins
        Equal-width GC bins on [0, 1] for matching.
    """

    length: int = 200
    negatives: str = "gc-matched"
    negatives_per_positive: int = 1
    test_chroms: tuple[str, ...] | None = None
    valid_chroms: tuple[str, ...] | None = None
    blacklist: str | None = None
    seed: int = 0
    gc_bins: int = 50

    def __post_init__(self) -> None:
        for key, low in (("length", 1), ("negatives_per_positive", 0), ("seed", 0), ("gc_bins", 1)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InputError(f"dataset option '{key}' must be an integer >= {low}, got {value!r}")
        if not isinstance(self.negatives, str) or not self.negatives:
            raise InputError(
                f"dataset option 'negatives' must be gc-matched, shuffled or a BED file, got {self.negatives!r}"
            )
        for key in ("test_chroms", "valid_chroms"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, tuple(parse_chroms(value) or ()))

    @property
    def negatives_bed(self) -> Path | None:
        """The negatives BED file, or ``None`` for a generated kind."""
        return None if self.negatives in NEGATIVE_MODES else Path(self.negatives)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("test_chroms", "valid_chroms"):
            out[key] = None if out[key] is None else list(out[key])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str = "dataset options") -> PeakDatasetConfig:
        """Build from option names; unknown names raise :class:`InputError`."""
        return dataclass_from_mapping(cls, dict(data or {}), source, "dataset option(s)")


@dataclasses.dataclass
class PeakDataset:
    """Windows with sequences, labels and splits (what ``labels.tsv`` + ``sequences.fa`` hold).

    Attributes
    ----------
    ids, sequences
        ``chrom:start-end`` names (``...:shufK`` for shuffles) and upper-case sequences.
    labels
        ``(N, T)`` float32, 0/1.
    task_names
        ``T`` task names, in the order given.
    split
        ``(N,)`` ``"train" | "valid" | "test"``.
    chroms, starts, ends
        Genomic windows (a shuffle carries the window it shuffles).
    kind
        ``"peak"``, ``"negative"`` (from the genome or the negatives BED) or ``"shuffled"``.
    gc
        ``(N,)`` GC fractions.
    report
        What ``dataset.json`` holds: settings, counts, splits, GC check.
    """

    ids: list[str]
    sequences: list[str]
    labels: np.ndarray
    task_names: list[str]
    split: np.ndarray
    chroms: list[str]
    starts: np.ndarray
    ends: np.ndarray
    kind: np.ndarray
    gc: np.ndarray
    report: dict[str, Any]

    def __len__(self) -> int:
        return len(self.ids)


@dataclasses.dataclass
class _Windows:
    """Growing columns of windows (before assembly)."""

    chroms: list[str] = dataclasses.field(default_factory=list)
    starts: list[int] = dataclasses.field(default_factory=list)
    sequences: list[str] = dataclasses.field(default_factory=list)

    def add(self, chrom: str, start: int, seq: str) -> None:
        self.chroms.append(chrom)
        self.starts.append(start)
        self.sequences.append(seq)


def _check_inputs(genome: Path, beds: Mapping[str, Path], config: PeakDatasetConfig) -> None:
    for task, path in beds.items():
        if not path.exists():
            raise InputError(f"--peaks {task}={path}: BED file not found")
    if config.blacklist is not None and not Path(config.blacklist).exists():
        raise InputError(f"--blacklist {config.blacklist}: BED file not found")
    neg = config.negatives_bed
    if neg is not None and not neg.exists():
        raise InputError(f"--negatives {config.negatives}: not gc-matched, shuffled or an existing BED file")


def _peak_windows(
    genome: FastaFile,
    lengths: Mapping[str, int],
    peaks: Mapping[str, list[Peak]],
    blacklist: IntervalIndex,
    length: int,
    counts: dict[str, Counter],
    verbose: bool | None,
) -> tuple[_Windows, dict[tuple[str, int], list[str]]]:
    """Unique kept peak windows (genome order) and the tasks whose peaks gave each."""
    sources: dict[tuple[str, int], list[str]] = {}
    for task, plist in peaks.items():
        seen: set[tuple[str, int]] = set()
        for p in plist:
            start, end = summit_window(p.summit, length)
            if start < 0 or end > lengths[p.chrom]:
                counts[task]["off_contig_end"] += 1
                continue
            if blacklist.overlaps(p.chrom, np.asarray([start]), np.asarray([end]))[0]:
                counts[task]["blacklisted"] += 1
                continue
            key = (p.chrom, start)
            if key in seen:
                counts[task]["duplicate"] += 1
                continue
            seen.add(key)
            sources.setdefault(key, []).append(task)
    order = {c: i for i, c in enumerate(lengths)}
    keys = sorted(sources, key=lambda k: (order[k[0]], k[1]))
    windows = _Windows()
    kept: dict[tuple[str, int], list[str]] = {}
    for chrom, start in progress(keys, total=len(keys), desc="peak windows", unit="win", verbose=verbose):
        seq = genome.fetch(chrom, start, start + length).upper()
        if not set(seq) <= _ACGT:
            for task in sources[(chrom, start)]:
                counts[task]["contains_n"] += 1
            continue
        windows.add(chrom, start, seq)
        kept[(chrom, start)] = sources[(chrom, start)]
    for task in peaks:
        counts[task]["windows"] = sum(task in tasks for tasks in kept.values())
    return windows, kept


def _bed_negatives(
    genome: FastaFile,
    lengths: Mapping[str, int],
    path: Path,
    exclude: IntervalIndex,
    length: int,
    verbose: bool | None,
) -> tuple[_Windows, dict[str, int]]:
    regions, skipped = read_peaks(path, lengths, what="negatives BED")
    counts = Counter({"regions": len(regions) + sum(skipped.values()), **skipped})
    seen: set[tuple[str, int]] = set()
    windows = _Windows()
    order = {c: i for i, c in enumerate(lengths)}
    regions = sorted(regions, key=lambda p: (order[p.chrom], p.summit))
    for p in progress(regions, total=len(regions), desc="negative windows", unit="win", verbose=verbose):
        start, end = summit_window(p.summit, length)
        if start < 0 or end > lengths[p.chrom]:
            counts["off_contig_end"] += 1
        elif exclude.overlaps(p.chrom, np.asarray([start]), np.asarray([end]))[0]:
            counts["overlaps_peak_or_blacklist"] += 1
        elif (p.chrom, start) in seen:
            counts["duplicate"] += 1
        else:
            seq = genome.fetch(p.chrom, start, end).upper()
            if not set(seq) <= _ACGT:
                counts["contains_n"] += 1
                continue
            seen.add((p.chrom, start))
            windows.add(p.chrom, start, seq)
    counts["kept"] = len(windows.starts)
    if not windows.starts:
        raise InputError(
            f"--negatives {path}: none of its {counts['regions']} regions gives a usable window "
            f"({', '.join(f'{k} {v}' for k, v in counts.items() if k not in {'regions', 'kept'} and v)})"
        )
    return windows, dict(counts)


def _ks(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Two-sample KS statistic and p-value (None when a side is empty)."""
    from scipy.stats import ks_2samp

    if len(a) == 0 or len(b) == 0:
        return {"n_positive": int(len(a)), "n_negative": int(len(b)), "ks_statistic": None, "ks_pvalue": None}
    res = ks_2samp(a, b)
    return {
        "n_positive": int(len(a)),
        "n_negative": int(len(b)),
        "positive_gc_mean": round(float(np.mean(a)), 6),
        "negative_gc_mean": round(float(np.mean(b)), 6),
        "ks_statistic": round(float(res.statistic), 6),
        "ks_pvalue": float(res.pvalue),
    }


def build_peak_dataset(
    genome: str | Path,
    peaks: Mapping[str, str | Path] | Sequence[str],
    config: PeakDatasetConfig | None = None,
    index_dir: str | Path | None = None,
    verbose: bool | None = None,
) -> PeakDataset:
    """Windows, labels, splits and negatives from a genome and one peak BED file per task.

    Parameters
    ----------
    genome
        Genome FASTA (plain or bgzip; indexed beside it, or in ``index_dir`` when its folder is
        read-only). Read window by window, never whole.
    peaks
        Task name -> BED file, or ``["task=file.bed", ...]``.
    config
        Settings (:class:`PeakDatasetConfig`).
    index_dir
        Where to build the FASTA index when the genome's folder is read-only.
    verbose
        Progress bars on/off (``None``: when stderr is a terminal).

    Returns
    -------
    PeakDataset

    Raises
    ------
    InputError
        Bad input (see :mod:`.bed` and :mod:`.splits`), with one line naming the file and field.
    """
    config = config or PeakDatasetConfig()
    beds = parse_task_specs(peaks)
    warn_shared_files(beds)
    genome = Path(genome)
    _check_inputs(genome, beds, config)
    length = config.length
    with FastaFile(genome, index_dir=index_dir) as fasta:
        lengths = {name: fasta.length(name) for name in fasta.names}
        counts: dict[str, Counter] = {}
        task_peaks: dict[str, list[Peak]] = {}
        for task, path in beds.items():
            plist, skipped = read_peaks(path, lengths)
            task_peaks[task] = plist
            counts[task] = Counter(dict.fromkeys(PEAK_COUNTS, 0))
            counts[task].update({"peaks": len(plist) + sum(skipped.values()), **skipped})
        blacklist = (
            IntervalIndex(read_intervals(config.blacklist, lengths, "--blacklist"))
            if config.blacklist is not None
            else IntervalIndex()
        )
        pos_windows, _ = _peak_windows(fasta, lengths, task_peaks, blacklist, length, counts, verbose)
        task_names = list(beds)
        if not pos_windows.starts:
            raise InputError(
                "no peak window is left: every window falls off its contig, holds N or is blacklisted "
                f"({'; '.join(f'{t}: ' + _count_text(c) for t, c in counts.items())})"
            )
        split_of = assign_splits(
            lengths,
            Counter(pos_windows.chroms),
            config.test_chroms,
            config.valid_chroms,
            config.seed,
            genome=genome.name,
        )
        pos = _Positives(
            windows=pos_windows,
            labels=_labels(pos_windows, length, task_peaks, task_names),
            split=np.asarray([split_of[c] for c in pos_windows.chroms], dtype="<U5"),
            gc=gc_fraction(pos_windows.sequences),
        )
        exclude = _exclusions(task_peaks, pos_windows, length, blacklist)
        if config.negatives_per_positive == 0 and config.negatives_bed is None:
            neg = _Negatives(
                report={"kind": config.negatives, "per_positive": 0, "requested": 0, "chosen": 0}
            )
        elif config.negatives == "gc-matched":
            neg = _gc_matched(fasta, lengths, split_of, exclude, pos, config, verbose)
        elif config.negatives == "shuffled":
            neg = _shuffled(pos, config)
        else:
            neg = _from_bed(fasta, lengths, split_of, exclude, config, verbose)
    if not len(neg.split):
        _warn_one_class(pos.labels, task_names)
    return _assemble(pos, neg, task_names, split_of, lengths, counts, config, genome, beds)


def _warn_one_class(labels: np.ndarray, task_names: Sequence[str]) -> None:
    """Warn for each task whose windows are all positive: no model can be judged on it (auROC undefined)."""
    for t, name in enumerate(task_names):
        if labels.shape[0] and bool(np.all(labels[:, t] == 1)):
            log.warning(
                "task '%s': every window is positive (no negatives were made: --negatives-per-positive 0); "
                "`train` can learn nothing and report no auROC on it; give --negatives-per-positive 1 or more",
                name,
            )


@dataclasses.dataclass
class _Positives:
    windows: _Windows
    labels: np.ndarray  # (N, T)
    split: np.ndarray  # (N,)
    gc: np.ndarray  # (N,)


@dataclasses.dataclass
class _Negatives:
    windows: _Windows = dataclasses.field(default_factory=_Windows)
    split: list[str] = dataclasses.field(default_factory=list)
    kind: str = "negative"
    source: list[int] = dataclasses.field(default_factory=list)  # shuffles: the positive each shuffles
    report: dict[str, Any] = dataclasses.field(default_factory=dict)


def _exclusions(
    task_peaks: Mapping[str, list[Peak]], pos: _Windows, length: int, blacklist: IntervalIndex
) -> IntervalIndex:
    """What no negative may overlap: a peak of any task, a positive window, the blacklist."""
    peak_iv: dict[str, list[tuple[int, int]]] = {}
    for plist in task_peaks.values():
        for p in plist:
            peak_iv.setdefault(p.chrom, []).append((p.start, p.end))
    win_iv: dict[str, list[tuple[int, int]]] = {}
    for c, s in zip(pos.chroms, pos.starts):
        win_iv.setdefault(c, []).append((s, s + length))
    return IntervalIndex.union(IntervalIndex(peak_iv), IntervalIndex(win_iv), blacklist)


def _gc_matched(
    fasta: FastaFile,
    lengths: Mapping[str, int],
    split_of: Mapping[str, str],
    exclude: IntervalIndex,
    pos: _Positives,
    config: PeakDatasetConfig,
    verbose: bool | None,
) -> _Negatives:
    """Per split, windows of its contigs with the GC histogram of its positives."""
    neg = _Negatives(report={"kind": config.negatives, "per_positive": config.negatives_per_positive})
    per_split = {}
    for i, split in enumerate(SPLIT_NAMES):
        contigs = [c for c in lengths if split_of[c] == split]
        draw = gc_matched_negatives(
            fasta,
            lengths,
            contigs,
            exclude,
            pos.gc[pos.split == split],
            config.negatives_per_positive,
            config.length,
            np.random.default_rng([config.seed, i]),
            n_bins=config.gc_bins,
            label=split,
            verbose=verbose,
        )
        for c, s, q in zip(draw.chroms, draw.starts, draw.sequences):
            neg.windows.add(c, s, q)
            neg.split.append(split)
        per_split[split] = draw.stats
        if draw.stats["short"]:
            log.warning(
                "%s split: the contigs %s hold only %d of the %d negatives asked for",
                split,
                ", ".join(contigs[:5]) + (", ..." if len(contigs) > 5 else ""),
                draw.stats["chosen"],
                draw.stats["requested"],
            )
    neg.report["by_split"] = per_split
    for key in ("requested", "chosen", "gc_fallback", "short"):
        neg.report[key] = sum(s[key] for s in per_split.values())
    return neg


def _shuffled(pos: _Positives, config: PeakDatasetConfig) -> _Negatives:
    """``negatives_per_positive`` dinucleotide shuffles of each peak window, in its split."""
    neg = _Negatives(
        kind="shuffled", report={"kind": config.negatives, "per_positive": config.negatives_per_positive}
    )
    sequences = pos.windows.sequences
    identical = 0
    for i, per in enumerate(shuffled_negatives(sequences, config.negatives_per_positive, config.seed)):
        for seq in per:
            if seq == sequences[i]:
                identical += 1  # a window with no other order: its "shuffle" would contradict its label
                continue
            neg.windows.add(pos.windows.chroms[i], pos.windows.starts[i], seq)
            neg.split.append(str(pos.split[i]))
            neg.source.append(i)
    neg.report["requested"] = len(sequences) * config.negatives_per_positive
    neg.report["identical_to_source"] = identical
    neg.report["chosen"] = len(neg.windows.starts)
    return neg


def _from_bed(
    fasta: FastaFile,
    lengths: Mapping[str, int],
    split_of: Mapping[str, str],
    exclude: IntervalIndex,
    config: PeakDatasetConfig,
    verbose: bool | None,
) -> _Negatives:
    """The negatives BED file's regions, centred like peaks, in the split of their contig."""
    path = config.negatives_bed
    assert path is not None  # neither generated kind
    windows, counts = _bed_negatives(fasta, lengths, path, exclude, config.length, verbose)
    report: dict[str, Any] = {"kind": config.negatives, "per_positive": None, **counts}
    report["chosen"] = len(windows.starts)
    return _Negatives(windows=windows, split=[split_of[c] for c in windows.chroms], report=report)


def _labels(
    windows: _Windows, length: int, task_peaks: Mapping[str, list[Peak]], task_names: list[str]
) -> np.ndarray:
    """``(N, T)``: 1 where the window holds a summit of the task's peaks."""
    starts = np.asarray(windows.starts, dtype=np.int64)
    labels = np.zeros((len(windows.chroms), len(task_names)), dtype=np.float32)
    chrom_arr = np.asarray(windows.chroms)
    for t, task in enumerate(task_names):
        summits = summits_by_contig(task_peaks[task])
        for c in np.unique(chrom_arr):
            sel = np.flatnonzero(chrom_arr == c)
            labels[sel, t] = contains_point(summits.get(str(c)), starts[sel], starts[sel] + length)
    return labels


def _count_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"


def _assemble(
    pos: _Positives,
    neg: _Negatives,
    task_names: list[str],
    split_of: Mapping[str, str],
    lengths: Mapping[str, int],
    counts: Mapping[str, Counter],
    config: PeakDatasetConfig,
    genome: Path,
    beds: Mapping[str, Path],
) -> PeakDataset:
    """Positives and negatives in genome order, with the report of ``dataset.json``."""
    length = config.length
    p, q = pos.windows, neg.windows
    n_pos, n_neg = len(p.starts), len(q.starts)
    chroms = p.chroms + q.chroms
    starts = np.asarray(p.starts + q.starts, dtype=np.int64)
    sequences = p.sequences + q.sequences
    labels = np.concatenate([pos.labels, np.zeros((n_neg, len(task_names)), dtype=np.float32)])
    split = np.concatenate([pos.split, np.asarray(neg.split, dtype="<U5")]) if n_neg else pos.split
    kind = np.asarray(["peak"] * n_pos + [neg.kind] * n_neg)
    gc = np.concatenate([pos.gc, gc_fraction(q.sequences)])
    ids = _window_ids(p, q, neg, length)
    order = _genome_order(lengths, chroms, starts, kind, ids)
    idx = np.asarray(order, dtype=np.int64)
    chroms = [chroms[i] for i in order]
    ids = [ids[i] for i in order]
    sequences = [sequences[i] for i in order]
    labels, split, kind, gc, starts = labels[idx], split[idx], kind[idx], gc[idx], starts[idx]

    is_pos = kind == "peak"
    by_split = _split_report(lengths, split_of, set(chroms), split, is_pos, labels, task_names)
    gc_report = _gc_report(gc, is_pos, split)
    report = {
        "tool": "deeplift-genomics dataset",
        "version": __version__,
        "settings": {
            **config.to_dict(),
            "genome": str(genome),
            "peaks": {t: str(p) for t, p in beds.items()},
        },
        "task_names": list(task_names),
        "n_windows": len(ids),
        "n_peak_windows": int(is_pos.sum()),
        "n_negatives": int((~is_pos).sum()),
        "peaks": {t: {k: int(counts[t][k]) for k in PEAK_COUNTS} for t in task_names},
        "positives_per_task": {t: int(labels[:, j].sum()) for j, t in enumerate(task_names)},
        "splits": by_split,
        "negatives": neg.report,
        "gc": gc_report,
        "labels": "a window is positive for a task when it contains the summit of one of the task's peaks",
    }
    _log_dataset(len(ids), is_pos, by_split, gc_report["overall"]["ks_statistic"])
    return PeakDataset(
        ids=ids,
        sequences=sequences,
        labels=labels,
        task_names=list(task_names),
        split=split,
        chroms=chroms,
        starts=starts,
        ends=starts + length,
        kind=kind,
        gc=gc,
        report=report,
    )


def _window_ids(p: _Windows, q: _Windows, neg: _Negatives, length: int) -> list[str]:
    """Ids of the positive windows then the negatives (``chrom:start-end``, or a shuffle's ``<id>:shufK``)."""
    ids = [f"{c}:{s}-{s + length}" for c, s in zip(p.chroms, p.starts)]
    if neg.kind == "shuffled":
        k_of: Counter = Counter()
        for i in neg.source:
            k_of[i] += 1
            ids.append(f"{ids[i]}:shuf{k_of[i]}")
    else:
        ids.extend(f"{c}:{s}-{s + length}" for c, s in zip(q.chroms, q.starts))
    return ids


def _genome_order(
    lengths: Mapping[str, int], chroms: list[str], starts: np.ndarray, kind: np.ndarray, ids: list[str]
) -> list[int]:
    """Indices of the windows in genome order (FASTA contig order, then start); a shuffle right after its window."""
    contig_rank = {c: i for i, c in enumerate(lengths)}
    return sorted(
        range(len(ids)), key=lambda i: (contig_rank[chroms[i]], int(starts[i]), kind[i] != "peak", ids[i])
    )


def _split_report(
    lengths: Mapping[str, int],
    split_of: Mapping[str, str],
    with_windows: set[str],
    split: np.ndarray,
    is_pos: np.ndarray,
    labels: np.ndarray,
    task_names: list[str],
) -> dict[str, dict]:
    """Per split: its contigs, and its windows, peak windows, negatives and positives per task."""
    by_split = {}
    for s in SPLIT_NAMES:
        sel = split == s
        by_split[s] = {
            # held-out contigs as named; train contigs only where they hold windows (not every scaffold)
            "contigs": [c for c in lengths if split_of[c] == s and (s != "train" or c in with_windows)],
            "windows": int(sel.sum()),
            "peak_windows": int((sel & is_pos).sum()),
            "negatives": int((sel & ~is_pos).sum()),
            "positives_per_task": {t: int(labels[sel, j].sum()) for j, t in enumerate(task_names)},
        }
    return by_split


def _gc_report(gc: np.ndarray, is_pos: np.ndarray, split: np.ndarray) -> dict[str, dict[str, Any]]:
    """KS comparison of the GC of positives and negatives, overall and per split."""
    gc_report = {"overall": _ks(gc[is_pos], gc[~is_pos])}
    gc_report.update({s: _ks(gc[is_pos & (split == s)], gc[~is_pos & (split == s)]) for s in SPLIT_NAMES})
    return gc_report


def _log_dataset(n_windows: int, is_pos: np.ndarray, by_split: dict[str, dict], ks: float | None) -> None:
    """Log the window counts, per split, and the GC KS statistic of positives vs negatives."""
    log.info(
        "%d windows: %d peak windows, %d negatives (%s); GC KS statistic positives vs negatives %s",
        n_windows,
        int(is_pos.sum()),
        int((~is_pos).sum()),
        ", ".join(f"{s} {by_split[s]['windows']}" for s in SPLIT_NAMES),
        "n/a" if ks is None else f"{ks:.3f}",
    )


def peak_dataset_inputs(
    genome: str | Path, beds: Mapping[str, Path], config: PeakDatasetConfig
) -> list[Path]:
    """Every input file of a build (the output must not hold any of them)."""
    inputs = [Path(genome), *beds.values()]
    inputs += [Path(config.blacklist)] if config.blacklist else []
    inputs += [config.negatives_bed] if config.negatives_bed is not None else []
    return inputs


def make_peak_dataset(
    genome: str | Path,
    peaks: Mapping[str, str | Path] | Sequence[str],
    out: str | Path,
    config: PeakDatasetConfig | None = None,
    index_dir: str | Path | None = None,
    verbose: bool | None = None,
) -> PeakDataset:
    """:func:`build_peak_dataset`, then write it into ``out`` all at once (nothing is left on failure).

    Raises
    ------
    InputError
        Also when ``out`` would destroy an input (it is replaced as a whole), is a file, or is not ours
        (see :mod:`deeplift_genomics.io.output_dirs`).
    """
    config = config or PeakDatasetConfig()
    beds = parse_task_specs(peaks)
    check_output_path(out, peak_dataset_inputs(genome, beds, config))
    ds = build_peak_dataset(genome, beds, config, index_dir=index_dir, verbose=verbose)
    write_peak_dataset(ds, out)
    log.info("wrote %s", out)
    return ds
