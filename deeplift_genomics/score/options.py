"""What a ``score`` run is asked to do: :class:`ScoreOptions` (the ``--shard K/N`` arithmetic is :mod:`deeplift_genomics.jobs.shards`).

Everything here ends up in the resume manifest, so a changed option restarts the run instead of mixing
results.
"""

from __future__ import annotations

import dataclasses
import math

from ..core.errors import InputError

UNKNOWN_CHOICES = ("zeros", "uniform")
SHARD_FORMAT = "deeplift-genomics-score-shard"
SHARD_FORMAT_VERSION = 1

@dataclasses.dataclass(frozen=True)
class ScoreOptions:
    """Parameters of a scoring run (all end up in the resume manifest).

    Attributes
    ----------
    method, rule, references, n_references, n_steps
        Passed to :func:`deeplift_genomics.attribute`.
    long
        ``"tile"`` or ``"crop"`` for records longer than the model's input.
    stride
        Step of tiled windows (default: half the input length).
    short
        ``"pad"`` or ``"skip"`` for records shorter than the model's input.
    pad_value
        Value of all four channels in padded columns.
    unknown
        N/IUPAC columns as ``"zeros"`` or ``"uniform"`` (0.25).
    batch_size
        Windows per ``attribute`` call.
    chunk_size
        Records per resumable chunk.
    device, seed
        Where to run; base seed of the reference shuffles.
    precision
        ``fp32`` (default), or on CUDA ``tf32`` / ``bf16`` (see :func:`deeplift_genomics.attribute`).
    float64_check
        Windows of each chunk (the first ones of its first batch) recomputed in float64; float32's (or
        tf32's, bf16's) largest error against them is stated in ``summary.json`` per task. 0: none.
    tasks
        Task names to keep (default: all).
    """

    method: str = "deeplift"
    rule: str = "genomics_default"
    references: str = "shuffle"
    n_references: int = 20
    n_steps: int = 10
    long: str = "tile"
    stride: int | None = None
    short: str = "pad"
    pad_value: float = 0.0
    unknown: str = "zeros"
    batch_size: int = 128
    chunk_size: int = 1000
    device: str = "auto"
    seed: int = 0
    precision: str = "fp32"
    float64_check: int = 2
    tasks: tuple[str, ...] | None = None

    def check(self, input_length: int) -> None:
        """Raise :class:`InputError` for values that cannot work."""
        if self.long not in ("tile", "crop"):
            raise InputError(f"--long {self.long!r}: expected tile or crop")
        if self.short not in ("pad", "skip"):
            raise InputError(f"--short {self.short!r}: expected pad or skip")
        if self.unknown not in UNKNOWN_CHOICES:
            raise InputError(f"--unknown {self.unknown!r}: expected zeros or uniform")
        if self.stride is not None and not 1 <= self.stride <= input_length:
            raise InputError(
                f"--stride {self.stride}: must be between 1 and the model's input length {input_length}"
            )
        for name in ("batch_size", "chunk_size", "n_references"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1")
        if self.float64_check < 0:
            raise InputError(f"--float64-check {self.float64_check}: must be 0 or more")
        if not math.isfinite(self.pad_value):
            raise InputError(f"--pad-value {self.pad_value}: must be a finite number")
