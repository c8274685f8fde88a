"""From peaks on a genome to a training dataset: summit windows, labels, negatives, chromosome splits.

One module per concern: :mod:`.bed` (peak files, summits, intervals), :mod:`.negatives` (GC-matched
draws, dinucleotide shuffles), :mod:`.splits` (by whole contig), :mod:`.writer` (the ``simulate``
layout plus ``dataset.json``) and :mod:`.build` (the steps in order).
"""

from __future__ import annotations

from .build import PeakDataset, PeakDatasetConfig, build_peak_dataset, make_peak_dataset
from .writer import write_peak_dataset

__all__ = [
    "PeakDataset",
    "PeakDatasetConfig",
    "build_peak_dataset",
    "make_peak_dataset",
    "write_peak_dataset",
]
