"""What a ``score`` run is asked to do: :class:`ScoreOptions` and the ``--shard K/N`` arithmetic.

Everything here ends up in the resume manifest, so a changed option restarts the run instead of mixing
results.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from ..errors import InputError

UNKNOWN_CHOICES = ("zeros", "uniform")
SHARD_FILE = "shard.json"
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
        if not math.isfinite(self.pad_value):
            raise InputError(f"--pad-value {self.pad_value}: must be a finite number")


def parse_shard(text: str | Sequence[int] | None) -> tuple[int, int] | None:
    """``"K/N"`` (1-based K, 1 <= K <= N) as ``(K, N)``; None stays None.

    Raises
    ------
    InputError
        Anything else, with the expected form in the message.
    """
    if text is None:
        return None
    if isinstance(text, (tuple, list)) and len(text) == 2:
        parts = [str(v) for v in text]
    else:
        parts = str(text).strip().split("/")
    what = "/".join(parts)
    try:
        if len(parts) != 2:
            raise ValueError
        k, n = int(parts[0]), int(parts[1])
    except ValueError:
        raise InputError(
            f"--shard {what}: expected K/N with whole numbers, e.g. 1/4 (K counts from 1)"
        ) from None
    if n < 1 or not 1 <= k <= n:
        raise InputError(f"--shard {what}: expected 1 <= K <= N (K counts from 1), e.g. 1/{max(n, 1)}")
    return k, n


def shard_range(n_items: int, shard: tuple[int, int] | None, chunk_size: int = 1) -> tuple[int, int]:
    """``[start, end)`` of the items of 1-based shard ``(K, N)``.

    The items are cut into chunks of ``chunk_size`` (the last may be shorter); shard K gets the K-th of N
    contiguous blocks of chunks whose sizes differ by at most one chunk. Blocks are empty when N exceeds
    the number of chunks.
    """
    if shard is None:
        return 0, n_items
    k, n = shard
    n_chunks = -(-n_items // chunk_size)
    first, end = (k - 1) * n_chunks // n, k * n_chunks // n
    return min(n_items, first * chunk_size), min(n_items, end * chunk_size)
