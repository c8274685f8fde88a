"""Peak BED files: task names, summits, fixed-length windows and interval overlap queries.

A peak file is BED with 3 or more columns (``#``, ``track`` and ``browser`` lines skipped, plain or
gzip). The summit is column 10 when present (narrowPeak: offset from the start, ``-1`` = unknown),
else the centre ``start + (end - start) // 2``. Coordinates are 0-based, end exclusive.

What is refused (:class:`~deeplift_genomics.core.errors.InputError`, naming the file and line): a line with
fewer than 3 columns, non-integer coordinates, a negative start, an empty interval, a summit outside
its peak, a file without peaks, a file none of whose peaks lies on a contig of the genome (the usual
``chr1`` vs ``1`` naming mismatch). What is skipped and counted: a peak on a contig the genome lacks
(``unknown_contig``) and a peak reaching past its contig's end (``peak_past_contig_end``: usually
a peak called on another assembly).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...core.errors import InputError
from ...core.targets import TASK_NAME  # one rule for every command's task names
from ...io.fasta import bed_interval, bed_lines

log = logging.getLogger(__name__)

# Task names become labels.tsv columns and file names (shap_<task>.npz, <task>.bedGraph).
RESERVED_COLUMNS = frozenset({"id", "split"})


@dataclass(frozen=True)
class Peak:
    """One peak of a BED file.

    Attributes
    ----------
    chrom, start, end
        Interval, 0-based, end exclusive.
    summit
        Absolute 0-based summit position (``start <= summit < end``).
    line
        Line number in its file (for messages).
    """

    chrom: str
    start: int
    end: int
    summit: int
    line: int = 0


def parse_task_specs(specs: Sequence[str] | Mapping[str, str | Path]) -> dict[str, Path]:
    """Task name -> BED path from ``["task1=a.bed", ...]`` (or a mapping), in the given order.

    Raises
    ------
    InputError
        A spec without ``=``, a bad or reserved task name, a task given twice (also when the names
        differ only in case, since they name files), no task at all.
    """
    pairs: list[tuple[str, str]] = []
    if isinstance(specs, Mapping):
        pairs = [(str(k), str(v)) for k, v in specs.items()]
    else:
        for spec in specs:
            name, sep, path = str(spec).partition("=")
            if not sep or not name or not path:
                raise InputError(f"--peaks {spec!r}: expected TASK=FILE.bed, e.g. gata1=gata1_peaks.bed")
            pairs.append((name, path))
    if not pairs:
        raise InputError("--peaks: give at least one TASK=FILE.bed")
    out: dict[str, Path] = {}
    folded: dict[str, str] = {}
    for name, path in pairs:
        if not TASK_NAME.match(name):
            raise InputError(
                f"--peaks {name}={path}: task name {name!r} must be letters, digits, '_', '.' or '-' "
                "(it becomes a column and file name)"
            )
        if name.lower() in RESERVED_COLUMNS:
            raise InputError(f"--peaks {name}={path}: task name {name!r} is reserved (a labels.tsv column)")
        if name.lower() in folded:
            first = folded[name.lower()]
            raise InputError(
                f"--peaks {name}={path}: task {name!r} given twice (first as {first}={out[first]}); "
                "give each task once"
            )
        folded[name.lower()] = name
        out[name] = Path(path)
    return out


def warn_shared_files(beds: Mapping[str, Path]) -> None:
    """Log a warning for every BED file that several tasks read (their labels will be identical)."""
    by_file: dict[Path, list[str]] = {}
    for name, bed in beds.items():
        by_file.setdefault(bed.resolve() if bed.exists() else bed, []).append(name)
    for bed, names in by_file.items():
        if len(names) > 1:
            log.warning("tasks %s all read %s: their labels will be identical", ", ".join(names), bed)


def _summit(cols: list[str], start: int, end: int, where: str) -> int:
    if len(cols) >= 10 and cols[9] not in {"", ".", "-1"}:
        try:
            offset = int(cols[9])
        except ValueError:
            raise InputError(
                f"{where}: column 10 (summit offset) must be an integer, got {cols[9]!r}"
            ) from None
        if not 0 <= offset < end - start:
            raise InputError(
                f"{where}: column 10 (summit offset) {offset} is outside the peak {start}-{end} "
                f"(0..{end - start - 1})"
            )
        return start + offset
    return start + (end - start) // 2


def read_peaks(
    path: str | Path, contig_lengths: Mapping[str, int], what: str = "peak file"
) -> tuple[list[Peak], Counter]:
    """Peaks of a BED file on the genome's contigs, and the counts of those skipped.

    Parameters
    ----------
    path
        BED file (plain or gzip).
    contig_lengths
        Contig name -> length of the genome.
    what
        What the file is, for messages (``"peak file"``, ``"--negatives"``).

    Returns
    -------
    peaks : list of Peak
        In file order.
    skipped : collections.Counter
        ``unknown_contig`` and ``peak_past_contig_end`` counts.

    Raises
    ------
    InputError
        See the module docstring.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a BED {what}")
    peaks: list[Peak] = []
    skipped: Counter = Counter()
    unknown: Counter = Counter()
    n_lines = 0
    for lineno, cols in bed_lines(path):
        n_lines += 1
        where = f"{path}: line {lineno}"
        chrom, start, end = bed_interval(cols, where, "contig")
        if start < 0 or start >= end:
            raise InputError(f"{where}: contig '{chrom}': bad interval {start}-{end} (need 0 <= start < end)")
        summit = _summit(cols, start, end, where)
        length = contig_lengths.get(chrom)
        if length is None:
            skipped["unknown_contig"] += 1
            unknown[chrom] += 1
            continue
        if end > length:
            skipped["peak_past_contig_end"] += 1
            log.warning(
                "%s: peak %s:%d-%d reaches past the contig's end (%d); skipped",
                where,
                chrom,
                start,
                end,
                length,
            )
            continue
        peaks.append(Peak(chrom, start, end, summit, lineno))
    if n_lines == 0:
        raise InputError(f"{path}: no peaks found (empty BED {what})")
    if unknown:
        shown = ", ".join(f"'{c}' ({n})" for c, n in unknown.most_common(5))
        if not peaks:
            known = ", ".join(f"'{c}'" for c in list(contig_lengths)[:5])
            raise InputError(
                f"{path}: none of its {n_lines} peaks lies on a contig of the genome: {shown} not in the "
                f"genome, whose contigs are {known}{', ...' if len(contig_lengths) > 5 else ''} "
                "(a different assembly or naming, e.g. 'chr1' vs '1'?)"
            )
        log.warning(
            "%s: %d peak(s) on contigs the genome lacks, skipped: %s", path, sum(unknown.values()), shown
        )
    if not peaks:
        raise InputError(
            f"{path}: no peak lies within its contig ({skipped['peak_past_contig_end']} reach past the end)"
        )
    return peaks, skipped


def read_intervals(path: str | Path, contig_lengths: Mapping[str, int], what: str) -> dict[str, np.ndarray]:
    """Intervals of a BED file (e.g. a blacklist) as merged, sorted ``(n, 2)`` arrays per contig.

    Intervals on contigs the genome lacks are ignored (blacklists list every contig of an assembly);
    an empty file is allowed (nothing is excluded).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    per: dict[str, list[tuple[int, int]]] = {}
    for lineno, cols in bed_lines(path):
        where = f"{path}: line {lineno}"
        chrom, start, end = bed_interval(cols, where, "contig")
        if start < 0 or start >= end:
            raise InputError(
                f"{where}: contig '{chrom}': bad interval {start}-{end} (need 0 <= start < end)"
            )
        if chrom in contig_lengths:
            per.setdefault(chrom, []).append((start, end))
    return {c: merge_intervals(np.asarray(iv, dtype=np.int64)) for c, iv in per.items()}


def merge_intervals(intervals: np.ndarray) -> np.ndarray:
    """Union of ``(n, 2)`` half-open intervals as sorted, disjoint, non-touching ``(m, 2)`` intervals."""
    intervals = np.asarray(intervals, dtype=np.int64).reshape(-1, 2)
    if intervals.shape[0] == 0:
        return intervals
    intervals = intervals[np.argsort(intervals[:, 0], kind="stable")]
    # A new block starts where the start exceeds every end seen so far.
    running_end = np.maximum.accumulate(intervals[:, 1])
    new = np.ones(len(intervals), dtype=bool)
    new[1:] = intervals[1:, 0] > running_end[:-1]
    starts = intervals[new, 0]
    block = np.cumsum(new) - 1
    ends = np.zeros(len(starts), dtype=np.int64)
    np.maximum.at(ends, block, intervals[:, 1])
    return np.stack([starts, ends], axis=1)


class IntervalIndex:
    """Overlap queries against a fixed union of intervals per contig (half-open, 0-based)."""

    def __init__(self, intervals: Mapping[str, np.ndarray | Iterable[tuple[int, int]]] | None = None) -> None:
        self._merged: dict[str, np.ndarray] = {}
        for chrom, iv in (intervals or {}).items():
            arr = merge_intervals(np.asarray(list(iv) if not isinstance(iv, np.ndarray) else iv))
            if arr.size:
                self._merged[chrom] = arr

    @classmethod
    def union(cls, *indexes: IntervalIndex) -> IntervalIndex:
        """One index covering everything the given ones cover."""
        chroms = {c for ix in indexes for c in ix._merged}
        return cls({c: np.concatenate([ix._merged[c] for ix in indexes if c in ix._merged]) for c in chroms})

    def overlaps(self, chrom: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Boolean per query interval ``[starts[i], ends[i])``: does it overlap any interval?"""
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        merged = self._merged.get(chrom)
        if merged is None:
            return np.zeros(starts.shape, dtype=bool)
        # The last interval starting before the query's end is the only candidate (they are disjoint and
        # sorted, so ends are sorted too).
        idx = np.searchsorted(merged[:, 0], ends, side="left") - 1
        ok = idx >= 0
        out = np.zeros(starts.shape, dtype=bool)
        out[ok] = merged[idx[ok], 1] > starts[ok]
        return out


def summit_window(summit: int, length: int) -> tuple[int, int]:
    """The ``length``-bp window centred on ``summit``: ``[summit - length // 2, start + length)``."""
    start = int(summit) - length // 2
    return start, start + length


def summits_by_contig(peaks: Iterable[Peak]) -> dict[str, np.ndarray]:
    """Sorted summit positions per contig."""
    per: dict[str, list[int]] = {}
    for p in peaks:
        per.setdefault(p.chrom, []).append(p.summit)
    return {c: np.sort(np.asarray(v, dtype=np.int64)) for c, v in per.items()}


def contains_point(points: np.ndarray | None, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Boolean per window ``[starts[i], ends[i])``: does it contain one of the sorted ``points``?"""
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if points is None or points.size == 0:
        return np.zeros(starts.shape, dtype=bool)
    return np.searchsorted(points, ends, side="left") > np.searchsorted(points, starts, side="left")
