"""Score a FASTA (or BED regions of it) with a model, chunk by chunk, resumable and shardable.

The stages, one module each:

- :mod:`.options`: what a run is asked to do (:class:`ScoreOptions`) and the ``--shard K/N`` arithmetic;
- :mod:`.windows`: records to model-length windows and back (tile, crop, pad, stitch);
- :mod:`.batcher`: one chunk of records through the model and ``attribute``, in batches;
- :mod:`.runner`: the chunk loop with its resume manifest (:func:`score_fasta`);
- :mod:`.outputs`: the files of OUT_DIR (``scores.h5``, ``ohe.npz``/``shap.npz``, ``records.tsv``), written
  and read (:func:`read_record`);
- :mod:`.tracks`: bedGraph and bigWig tracks; :mod:`.gather`: shard directories merged into one;
  :mod:`.modisco`: modisco-lite on the outputs.
"""

from __future__ import annotations

from ..jobs.shards import SHARD_FILE, parse_shard, shard_range
from .gather import gather_shards
from .options import ScoreOptions
from .outputs import read_record
from .runner import WORK_DIR, ScoreSummary, score_fasta

__all__ = [
    "SHARD_FILE",
    "WORK_DIR",
    "ScoreOptions",
    "ScoreSummary",
    "gather_shards",
    "parse_shard",
    "read_record",
    "score_fasta",
    "shard_range",
]
