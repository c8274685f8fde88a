"""One-hot encoding of DNA: ``(batch, 4, length)`` in A,C,G,T order.

Unknown letters (N and the other IUPAC ambiguity codes) become all-zero columns, or uniform 0.25
columns with ``unknown="uniform"``; lowercase (soft-masked) letters encode like uppercase.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.errors import InputError

ALPHABET = "ACGT"
IUPAC = set("ACGTRYSWKMBDHVN")

_LOOKUP = np.full(256, -1, dtype=np.int8)
for _i, _base in enumerate(ALPHABET):
    _LOOKUP[ord(_base)] = _i
    _LOOKUP[ord(_base.lower())] = _i


def sequence_indices(seq: str) -> np.ndarray:
    """Base indices (0..3) of ``seq``; -1 for anything that is not A, C, G or T."""
    raw = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
    return _LOOKUP[raw]


def one_hot(
    seqs: str | Sequence[str], dtype: type = np.float32, unknown: str = "zeros"
) -> np.ndarray:
    """Encode sequences of equal length as ``(N, 4, L)``.

    Parameters
    ----------
    seqs
        One sequence or a list of sequences, all of the same length.
    dtype
        Output dtype.
    unknown
        ``"zeros"`` (default) or ``"uniform"`` (0.25 in each channel) for non-ACGT letters.

    Returns
    -------
    numpy.ndarray
        ``(N, 4, L)`` array.
    """
    if isinstance(seqs, str):
        seqs = [seqs]
    if len(seqs) == 0:
        return np.zeros((0, 4, 0), dtype=dtype)
    length = len(seqs[0])
    for k, s in enumerate(seqs):
        if len(s) != length:
            raise InputError(f"sequence {k}: length {len(s)} differs from the first sequence's {length}")
    idx = np.stack([sequence_indices(s) for s in seqs])  # (N, L)
    out: np.ndarray = np.zeros((len(seqs), 4, length), dtype=dtype)
    known = idx >= 0
    n_i, l_i = np.nonzero(known)
    out[n_i, idx[known], l_i] = 1
    if unknown == "uniform":
        n_u, l_u = np.nonzero(~known)
        out[n_u, :, l_u] = 0.25
    elif unknown != "zeros":
        raise ValueError(f"unknown must be 'zeros' or 'uniform', not {unknown!r}")
    return out


def decode(x: np.ndarray, unknown: str = "N") -> list[str]:
    """Turn ``(N, 4, L)`` one-hot back into strings; columns that are not one-hot become ``unknown``."""
    arr = np.asarray(x)
    if arr.ndim == 2:
        arr = arr[None]
    letters = np.array(list(ALPHABET + unknown))
    idx = arr.argmax(axis=1)
    is_hot = (arr.max(axis=1) == 1) & (arr.sum(axis=1) == 1)
    idx = np.where(is_hot, idx, 4)
    return ["".join(row) for row in letters[idx]]


def is_one_hot(x: np.ndarray, allow_empty_columns: bool = True) -> bool:
    """Whether every column of ``(N, 4, L)`` holds one 1 and three 0 (or all 0 when allowed)."""
    arr = np.asarray(x)
    if arr.ndim != 3 or arr.shape[1] != 4:
        return False
    binary = np.all((arr == 0) | (arr == 1))
    sums = arr.sum(axis=1)
    ok_sums = (sums == 1) | (allow_empty_columns & (sums == 0))
    return bool(binary and np.all(ok_sums))
