"""From per-base scores to motifs: seqlets, patterns, known-motif matches, instances, exports, report.

One module per stage, pure functions over numpy arrays where possible:

- :mod:`.inputs`: scores on one concatenated base axis (:class:`ScoreTracks`), read from a ``score``
  output directory or an ``attribute`` file.
- :mod:`.seqlets`: significant windows against a permutation null, with an FDR.
- :mod:`.patterns`: seqlets clustered, aligned, aggregated (CWM, hypothetical CWM, PFM) and trimmed.
- :mod:`.matches`: TOMTOM (memelite) against the packaged ENCODE motifs or the user's MEME/JASPAR files.
- :mod:`.hits`: the joint fit of all patterns of a task (the default hit caller).
- :mod:`.instances`: every pattern's instances in every record, each pattern alone (the window caller).
- :mod:`.recovery`: precision and recall of seqlets and instances against known motif positions.
- :mod:`.export`: tables, BED, MEME, an npz of every matrix and the modisco-lite HDF5.
- :mod:`.report`: self-contained HTML pages.
- :mod:`.run`: the whole pipeline in memory, written atomically.
- :mod:`.stream`: the stages over records read in blocks (bounded memory).
- :mod:`.pipeline`: the pipeline on a ``score`` output in blocks, whole or in the workflow's three sharded
  steps; ``motifs``' entry point.
"""

from __future__ import annotations

from .inputs import ScoreTracks, from_arrays, read_attributions, read_score_dir

__all__ = ["ScoreTracks", "from_arrays", "read_attributions", "read_score_dir"]
