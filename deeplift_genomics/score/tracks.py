"""Genome-browser tracks of per-base contributions: bedGraph always, bigWig through pyBigWig (optional).

One file per task, ``<task>.bedGraph`` / ``<task>.bw``, from the ``projected`` scores of a ``scores.h5``
(see :mod:`score_outputs`), for the records whose genomic position is known (``chrom:start-end`` record
names or BED input). Entries are sorted by chromosome and position; N/IUPAC bases (NaN) are left out; where
two records overlap, the bases already written win (a warning says so), since neither format allows
overlapping entries.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py
import numpy as np

from ..core.errors import InputError
from ..io.atomic import atomic_path
from .outputs import safe_name

log = logging.getLogger(__name__)


def track_entries(h5: h5py.File) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Per placed record, in genome order: ``(chrom, positions (L,), values (T, L))`` without NaN bases.

    Overlapping bases of a later record are dropped.
    """
    rec = h5["records"]
    chrom = rec["chrom"].asstr()[:]
    start = rec["chrom_start"][:]
    end = rec["chrom_end"][:]
    strand = rec["strand"].asstr()[:]
    offset = rec["offset"][:]
    placed = np.flatnonzero((chrom != "") & (end > start))
    order = placed[np.lexsort((start[placed], chrom[placed]))]
    last_end: dict[str, int] = {}
    warned = False
    for i in order:
        values = h5["projected"][:, offset[i] : offset[i + 1]]
        if strand[i] == "-":
            values = values[:, ::-1]
        pos = np.arange(start[i], end[i], dtype=np.int64)
        keep = pos >= last_end.get(chrom[i], 0)
        if not keep.all() and not warned:
            log.warning(
                "tracks: overlapping records (first at %s:%d); the earlier record's bases are kept",
                chrom[i],
                start[i],
            )
            warned = True
        keep &= np.isfinite(values).all(axis=0)
        last_end[chrom[i]] = max(last_end.get(chrom[i], 0), int(end[i]))
        if keep.any():
            yield str(chrom[i]), pos[keep], values[:, keep]


def chrom_sizes(h5: h5py.File) -> list[tuple[str, int]]:
    """``(chrom, size)`` for each chromosome with placed records, sorted by name; size = largest end seen."""
    chrom = h5["records/chrom"].asstr()[:]
    end = h5["records/chrom_end"][:]
    sizes: dict[str, int] = {}
    for c, e in zip(chrom, end):
        if c:
            sizes[c] = max(sizes.get(c, 0), int(e))
    return sorted(sizes.items())


def write_tracks(
    scores_h5: str | Path,
    out_dir: str | Path,
    tasks: Sequence[str],
    *,
    bedgraph: bool = True,
    bigwig: bool = False,
) -> list[Path]:
    """Write ``<task>.bedGraph`` and/or ``<task>.bw`` for every task; nothing when no record is placed.

    Parameters
    ----------
    scores_h5
        The ``scores.h5`` written by :func:`score.score_fasta`.
    out_dir
        Where the track files go.
    tasks
        Task names, in the order of the file's task axis.
    bedgraph, bigwig
        Formats to write; ``bigwig`` needs pyBigWig.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    out_dir = Path(out_dir)
    with h5py.File(scores_h5, "r", rdcc_nbytes=64 << 20) as h5:
        sizes = chrom_sizes(h5)
        if not sizes:
            log.info(
                "no record carries genomic coordinates (chrom:start-end names or --bed); no tracks written"
            )
            return []
        if bigwig:
            require_pybigwig()
            import pyBigWig
        files: list[Path] = []
        with contextlib.ExitStack() as stack:
            graphs, wigs = [], []
            for task in tasks:
                if bedgraph:
                    path = out_dir / f"{safe_name(task)}.bedGraph"
                    tmp = stack.enter_context(atomic_path(path))
                    handle = stack.enter_context(open(tmp, "w", encoding="ascii"))
                    handle.write(
                        f'track type=bedGraph name="{task}" description="DeepLIFT contributions, {task}"\n'
                    )
                    graphs.append(handle)
                    files.append(path)
                if bigwig:
                    path = out_dir / f"{safe_name(task)}.bw"
                    tmp = stack.enter_context(atomic_path(path))
                    bw = pyBigWig.open(str(tmp), "w")
                    stack.callback(bw.close)
                    bw.addHeader(sizes)
                    wigs.append(bw)
                    files.append(path)
            for chrom, pos, values in track_entries(h5):
                for t in range(len(tasks)):
                    vals = values[t].astype(np.float64)
                    if graphs:
                        graphs[t].write(
                            "".join(
                                f"{chrom}\t{p}\t{p + 1}\t{v:.6g}\n"
                                for p, v in zip(pos.tolist(), vals.tolist())
                            )
                        )
                    if wigs:
                        wigs[t].addEntries(chrom, pos.tolist(), values=vals.tolist(), span=1)
    return files


def require_pybigwig() -> None:
    try:
        import pyBigWig  # noqa: F401
    except ImportError:
        raise InputError("--bigwig needs pyBigWig (pip install pyBigWig); use --bedgraph instead") from None


def write_score_tracks(out_dir: Path, tasks: Sequence[str], *, bedgraph: bool, bigwig: bool) -> list[Path]:
    if not (bedgraph or bigwig):
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return write_tracks(out_dir / "scores.h5", out_dir, tasks, bedgraph=bedgraph, bigwig=bigwig)
