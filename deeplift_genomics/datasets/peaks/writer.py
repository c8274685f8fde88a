"""Write a peak dataset in the layout ``simulate`` writes, so :func:`~deeplift_genomics.datasets.load.load_dataset` reads it.

Files (fixed names) in the output directory, written all at once (:func:`~deeplift_genomics.io.atomic.atomic_directory`):

- ``sequences.fa``: one record per window, named ``chrom:start-end`` (0-based, end exclusive, as
  ``bedtools getfasta`` names them), so ``score`` maps their scores back onto the genome; a shuffled
  negative is named ``chrom:start-end:shufK`` after the window it shuffles (no genomic position).
- ``labels.tsv``: ``id, split`` and one 0/1 column per task.
- ``windows.bed``: the genomic windows as BED6+2 (``chrom, start, end, id, 0, ., split, kind``; kind
  ``peak`` or ``negative``), e.g. for a genome browser; ``test_windows.bed`` the same for the test split only, so
  ``score --fasta GENOME --bed test_windows.bed`` scores the held-out windows with tracks on the genome.
- ``dataset.json``: the settings, the counts (kept and dropped, per task and split) and the GC check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from data_sim.fasta_io import format_fasta

from ...io.atomic import atomic_directory
from ..load import FASTA_NAME, LABELS_NAME

if TYPE_CHECKING:
    from .build import PeakDataset

WINDOWS_NAME = "windows.bed"
TEST_WINDOWS_NAME = "test_windows.bed"
META_NAME = "dataset.json"


def labels_tsv(ds: PeakDataset) -> str:
    """``labels.tsv`` text."""
    lines = ["\t".join(["id", "split", *ds.task_names])]
    for name, split, row in zip(ds.ids, ds.split, ds.labels):
        lines.append("\t".join([name, str(split), *(str(int(v)) for v in row)]))
    return "\n".join(lines) + "\n"


def windows_bed(ds: PeakDataset, split: str | None = None) -> str:
    """``windows.bed`` text (genomic windows only: shuffled negatives have no position), of one split or all."""
    lines = []
    for name, chrom, start, end, where, kind in zip(ds.ids, ds.chroms, ds.starts, ds.ends, ds.split, ds.kind):
        if kind != "shuffled" and (split is None or where == split):
            lines.append(f"{chrom}\t{start}\t{end}\t{name}\t0\t.\t{where}\t{kind}")
    return "\n".join(lines) + ("\n" if lines else "")


def write_peak_dataset(ds: PeakDataset, out: str | Path, line_width: int = 60) -> Path:
    """Write ``ds`` into ``out`` (replaced as a whole, only once everything is written).

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out = Path(out)
    with atomic_directory(out, "dataset") as tmp:
        (tmp / FASTA_NAME).write_text(format_fasta(ds.ids, ds.sequences, line_width), encoding="utf-8")
        (tmp / LABELS_NAME).write_text(labels_tsv(ds), encoding="utf-8")
        (tmp / WINDOWS_NAME).write_text(windows_bed(ds), encoding="utf-8")
        (tmp / TEST_WINDOWS_NAME).write_text(windows_bed(ds, "test"), encoding="utf-8")
        meta = dict(ds.report)
        meta["files"] = sorted([FASTA_NAME, LABELS_NAME, WINDOWS_NAME, TEST_WINDOWS_NAME, META_NAME])
        (tmp / META_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out
