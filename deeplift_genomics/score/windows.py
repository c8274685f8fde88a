"""Fit sequences of any length to a model's fixed input length, and stitch window scores back.

Every record gets a :class:`WindowPlan`: the offsets (in record coordinates) of the model-length windows
to score and the interval of the record that receives scores.

- equal length: one window, scored as it is (``as_is``);
- longer: windows every ``stride`` bases, the last one flush with the record's end, and per-base scores
  averaged over the windows that cover the base (``tiled``); or the centre window only (``cropped``);
- shorter: one window with the record centred and the rest filled with ``pad_value`` in every channel
  (``padded``), or no window at all (``skipped_short``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..io.onehot import one_hot, sequence_indices

LONG_CHOICES = ("tile", "crop")
SHORT_CHOICES = ("pad", "skip")


@dataclass(frozen=True)
class WindowPlan:
    """How one record of length ``length`` is cut into model-length windows.

    Attributes
    ----------
    action
        ``as_is``, ``tiled``, ``cropped``, ``padded`` or ``skipped_short``.
    offsets
        ``(W,)`` int64 record coordinate of each window's first column (negative when padded).
    scored_start, scored_end
        The record interval ``[scored_start, scored_end)`` that receives scores.
    """

    action: str
    offsets: np.ndarray
    scored_start: int
    scored_end: int

    @property
    def n_windows(self) -> int:
        return len(self.offsets)


def tile_offsets(length: int, window: int, stride: int) -> np.ndarray:
    """Window starts ``0, stride, 2*stride, ...`` plus one flush with the end, so every base is covered.

    Parameters
    ----------
    length
        Record length (``>= window``).
    window, stride
        Window length and step (``1 <= stride``).

    Returns
    -------
    numpy.ndarray
        ``(W,)`` int64 sorted, unique window starts.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, not {stride}")
    last = length - window
    starts = np.arange(0, last + 1, stride, dtype=np.int64)
    if starts[-1] != last:
        starts = np.append(starts, last)
    return starts


def plan_windows(
    length: int, window: int, long: str = "tile", stride: int | None = None, short: str = "pad"
) -> WindowPlan:
    """Plan the windows of a record of ``length`` bases for a model of input length ``window``.

    Parameters
    ----------
    length
        Record length.
    window
        Model input length.
    long
        ``"tile"`` (default) or ``"crop"`` for records longer than ``window``.
    stride
        Step between tiled windows; default ``window // 2``.
    short
        ``"pad"`` (default) or ``"skip"`` for records shorter than ``window``.
    """
    if long not in LONG_CHOICES:
        raise ValueError(f"long must be one of {LONG_CHOICES}, not {long!r}")
    if short not in SHORT_CHOICES:
        raise ValueError(f"short must be one of {SHORT_CHOICES}, not {short!r}")
    if length == window:
        return WindowPlan("as_is", np.zeros(1, dtype=np.int64), 0, length)
    if length > window:
        if long == "crop":
            start = (length - window) // 2
            return WindowPlan("cropped", np.array([start], dtype=np.int64), start, start + window)
        step = max(1, window // 2) if stride is None else stride
        return WindowPlan("tiled", tile_offsets(length, window, step), 0, length)
    if short == "skip":
        return WindowPlan("skipped_short", np.zeros(0, dtype=np.int64), 0, 0)
    left = (window - length) // 2
    return WindowPlan("padded", np.array([-left], dtype=np.int64), 0, length)


def window_inputs(
    seq: str, plan: WindowPlan, window: int, pad_value: float = 0.0, unknown: str = "zeros"
) -> np.ndarray:
    """The ``(W, 4, window)`` float32 inputs of a plan; columns outside the record hold ``pad_value``.

    Parameters
    ----------
    seq
        The whole record's sequence.
    plan
        From :func:`plan_windows` for ``len(seq)``.
    window
        Model input length.
    pad_value
        Value of all four channels in padded columns (0 gives all-zero columns, 0.25 uniform ones).
    unknown
        Encoding of N/IUPAC letters: ``"zeros"`` or ``"uniform"`` (see :func:`onehot.one_hot`).
    """
    out = np.full((plan.n_windows, 4, window), pad_value, dtype=np.float32)
    for w, offset in enumerate(plan.offsets):
        lo, hi = max(0, int(offset)), min(len(seq), int(offset) + window)
        out[w, :, lo - offset : hi - offset] = one_hot(seq[lo:hi], unknown=unknown)[0]
    return out


def stitch(values: np.ndarray, plan: WindowPlan) -> np.ndarray:
    """Average per-window scores onto the record's scored interval.

    Parameters
    ----------
    values
        ``(W, ..., window)`` scores of the plan's windows (last axis = window column).
    plan
        The plan the windows came from.

    Returns
    -------
    numpy.ndarray
        ``(..., scored_end - scored_start)`` float32: for each base, the mean over the windows that
        cover it.
    """
    values = np.asarray(values, dtype=np.float32)
    window = values.shape[-1]
    n = plan.scored_end - plan.scored_start
    if plan.n_windows == 1 and plan.offsets[0] <= plan.scored_start and plan.scored_end <= plan.offsets[0] + window:
        # one window covers every scored base (as_is, cropped, padded records): the mean over one window
        # is its value, without the float64 sum (a float32 value round-trips through float64 exactly)
        lo = plan.scored_start - int(plan.offsets[0])
        return values[0][..., lo : lo + n].copy()
    total = np.zeros(values.shape[1:-1] + (n,), dtype=np.float64)
    count = np.zeros(n, dtype=np.int64)
    for w, offset in enumerate(plan.offsets):
        lo = max(plan.scored_start, int(offset))
        hi = min(plan.scored_end, int(offset) + window)
        if hi <= lo:
            continue
        total[..., lo - plan.scored_start : hi - plan.scored_start] += values[w][
            ..., lo - offset : hi - offset
        ]
        count[lo - plan.scored_start : hi - plan.scored_start] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).astype(np.float32)


def known_mask(seq: str) -> np.ndarray:
    """``(L,)`` bool: True where the letter is A, C, G or T (either case)."""
    return sequence_indices(seq) >= 0


def strict_one_hot(seq_or_inputs: np.ndarray) -> np.ndarray:
    """Keep only exact one-hot columns of ``(N, 4, L)`` inputs; padded and unknown columns become zero."""
    x = np.asarray(seq_or_inputs)
    hot = np.all((x == 0) | (x == 1), axis=1) & (x.sum(axis=1) == 1)
    return (x * hot[:, None, :]).astype(np.float32)
