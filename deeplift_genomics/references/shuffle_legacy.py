"""The numpy dinucleotide shuffle of deeplift-genomics 0.1 (one sequence at a time, on the CPU).

Kept to reproduce references drawn before the batched torch shuffle of :mod:`deeplift_genomics.references.shuffle`
replaced it (same method and guarantees, another random stream), and as the baseline of
``bench/shuffle_speed.py``. Call :func:`dinucleotide_shuffle_legacy`.

A sequence ``s`` is a walk through the graph whose vertices are the letters and whose edges are its
``L - 1`` dinucleotides. Every Eulerian path of that graph from ``s[0]`` to ``s[-1]`` spells a sequence
with exactly the same dinucleotide counts (and the same first and last letter), and every such sequence
is one of those paths. Altschul & Erickson (1985) draw one uniformly:

1. for each letter other than the last one, pick its *last exit* so that the last exits form a tree
   pointing at the last letter (a uniformly random spanning arborescence, each tree weighted by the
   product of the edge multiplicities it uses);
2. put the remaining exits of each letter in a uniformly random order, the last exit after them;
3. walk from the first letter, always taking the next unused exit.

With four letters there are only 16 arborescences per root, so step 1 enumerates them all and draws
one with probability proportional to its weight: exact, and the same vectorised code for every
sequence, with no rejection loop. Steps 2 and 3 run for all ``N * n`` shuffles at once.

Unknown letters (all-zero columns, "N") stay where they are: each maximal run of A/C/G/T between them
is shuffled on its own. That keeps every dinucleotide count, including those with N (runs keep their
first and last letters), and a reference is zero exactly where the input is, so the unknown positions
get no contribution.

The random numbers for a sequence come from a generator seeded by ``seed`` and the sequence's own
letters, so a sequence gets the same shuffles whatever batch, position or order it arrives in, and
the first ``k`` of ``n`` shuffles do not depend on ``n``.
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import overload

import numpy as np
import torch

from ..core.errors import InputError
from .shuffle import enumerate_arborescences

log = logging.getLogger(__name__)

_N_LETTERS = 4
_UNKNOWN = _N_LETTERS
# Rows (sequence x shuffle) processed at once: bounds memory to a few tens of MB per chunk.
_MAX_CELLS = 4_000_000


_TREES = enumerate_arborescences()  # (4, 16, 4): Cayley's 4^(4-2) = 16 trees per root


def _tree_weights(tokens: np.ndarray) -> np.ndarray:
    """Weight of every arborescence for each sequence of ``tokens``.

    Parameters
    ----------
    tokens
        ``(S, M)`` letters 0..3, ``M >= 2``.

    Returns
    -------
    numpy.ndarray
        ``(S, 16)`` float: product over non-root letters ``v`` of the number of ``v -> parent(v)``
        dinucleotides; letters absent from the sequence hang off the root with weight 1.
    """
    s_count, _ = tokens.shape
    src, dst = tokens[:, :-1], tokens[:, 1:]
    counts = np.zeros((s_count, _N_LETTERS, _N_LETTERS), dtype=np.float64)
    rows = np.broadcast_to(np.arange(s_count)[:, None], src.shape)
    np.add.at(counts, (rows, src, dst), 1.0)
    root = tokens[:, -1]
    active = np.zeros((s_count, _N_LETTERS), dtype=bool)
    active[rows, src] = True
    weights = counts.copy()
    diag = np.arange(_N_LETTERS)
    weights[:, diag, diag] = 0.0  # a self-loop can never be a last exit
    inactive = ~active
    inactive[np.arange(s_count), root] = False
    si, vi = np.nonzero(inactive)
    weights[si, vi, :] = 0.0
    weights[si, vi, root[si]] = 1.0
    weights[np.arange(s_count), root, :] = 0.0
    weights[np.arange(s_count), root, root] = 1.0
    parents = _TREES[root]  # (S, 16, 4)
    per_letter = np.take_along_axis(weights[:, None, :, :], parents[..., None], axis=3)[..., 0]
    return per_letter.prod(axis=2)


def _log_n_orders(tokens: np.ndarray) -> np.ndarray:
    """Natural log of the number of distinct sequences with the dinucleotide counts of each row.

    BEST theorem for paths: ``t * d_last! * prod_{v != last} (d_v - 1)! / prod_{u,v} m_uv!`` with ``t``
    the weighted number of arborescences, ``d_v`` the out-degree and ``m_uv`` the dinucleotide counts.

    Parameters
    ----------
    tokens
        ``(S, M)`` letters 0..3.

    Returns
    -------
    numpy.ndarray
        ``(S,)``; 0 for a sequence that admits one order only.
    """
    s_count, m = tokens.shape
    if m < 3:
        return np.zeros(s_count)
    trees = _tree_weights(tokens).sum(axis=1)
    out = np.log(trees)
    src, dst = tokens[:, :-1], tokens[:, 1:]
    for i in range(s_count):
        pair_counts = np.bincount(src[i] * _N_LETTERS + dst[i], minlength=_N_LETTERS**2)
        degree = np.bincount(src[i], minlength=_N_LETTERS)
        last = tokens[i, -1]
        total = 0.0
        for v in range(_N_LETTERS):
            if v == last:
                total += math.lgamma(degree[v] + 1)
            elif degree[v] > 0:
                total += math.lgamma(degree[v])
        total -= sum(math.lgamma(c + 1) for c in pair_counts)
        out[i] += total
    return out


def _shuffle_core(tokens: np.ndarray, rand: np.ndarray) -> np.ndarray:
    """Shuffle equal-length ACGT token rows with the given uniform random numbers.

    Parameters
    ----------
    tokens
        ``(S, M)`` int64 letters 0..3, ``M >= 3``.
    rand
        ``(S, n, M)`` uniform [0, 1): column 0 draws the arborescence, columns 1.. order the exits.

    Returns
    -------
    numpy.ndarray
        ``(S, n, M)`` int64 shuffled letters.
    """
    s_count, m = tokens.shape
    n = rand.shape[1]
    src, dst = tokens[:, :-1], tokens[:, 1:]  # (S, E)
    e_count = m - 1

    weights = _tree_weights(tokens)  # (S, 16)
    cum = np.cumsum(weights, axis=1)
    target = rand[:, :, 0] * cum[:, -1:]  # (S, n)
    tree = (cum[:, None, :] <= target[:, :, None]).sum(axis=2)  # first tree whose cum > target
    tree = np.minimum(tree, _TREES.shape[1] - 1)
    root = tokens[:, -1]
    parent = _TREES[root[:, None], tree]  # (S, n, 4)

    # The first occurrence of each dinucleotide type carries the last-exit mark: which copy of a
    # type goes last does not change the spelled sequence, and choosing it by position (not by the
    # random keys) leaves the other exits' keys i.i.d., so their order stays uniform.
    code = src * _N_LETTERS + dst
    first = np.zeros((s_count, e_count), dtype=bool)
    for c in np.unique(code):
        hit = code == c
        idx = hit.argmax(axis=1)
        has = hit[np.arange(s_count), idx]
        first[np.arange(s_count)[has], idx[has]] = True
    is_last = (
        first[:, None, :]
        & (dst[:, None, :] == np.take_along_axis(parent, src[:, None, :].repeat(n, axis=1), axis=2))
        & (src[:, None, :] != root[:, None, None])
    )  # (S, n, E)

    key = src[:, None, :] * 4.0 + rand[:, :, 1:] + 2.0 * is_last
    order = np.argsort(key, axis=2)
    exits = np.take_along_axis(np.broadcast_to(dst[:, None, :], key.shape), order, axis=2)
    exits = exits.reshape(s_count * n, e_count)

    degree = np.zeros((s_count, _N_LETTERS), dtype=np.int64)
    np.add.at(degree, (np.broadcast_to(np.arange(s_count)[:, None], src.shape), src), 1)
    start = np.concatenate(
        [np.zeros((s_count, 1), dtype=np.int64), np.cumsum(degree, axis=1)[:, :-1]], axis=1
    )
    rows = s_count * n
    # Flat pointer into ``exits``: row offset + next unused exit of the current letter.
    pointer = (np.repeat(start, n, axis=0) + (np.arange(rows) * e_count)[:, None]).ravel()
    flat_exits = exits.ravel()
    row_base = np.arange(rows) * _N_LETTERS
    out = np.empty((rows, m), dtype=np.int64)
    cur = np.repeat(tokens[:, 0], n)
    out[:, 0] = cur
    for j in range(1, m):
        slot = row_base + cur
        nxt = flat_exits[pointer[slot]]
        pointer[slot] += 1
        out[:, j] = nxt
        cur = nxt
    return out.reshape(s_count, n, m)


def _sequence_rng(seed: int, tokens: np.ndarray) -> np.random.Generator:
    """A generator determined by ``seed`` and the letters of one sequence (not its batch position)."""
    digest = hashlib.blake2b(np.ascontiguousarray(tokens, dtype=np.int8).tobytes(), digest_size=16).digest()
    words = np.frombuffer(digest, dtype=np.uint32).tolist()
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *words, len(tokens)]))


def _to_tokens(arr: np.ndarray) -> np.ndarray:
    """``(N, 4, L)`` one-hot (all-zero columns allowed) to ``(N, L)`` letters, 4 for unknown."""
    if arr.ndim != 3 or arr.shape[1] != _N_LETTERS:
        raise InputError(f"dinucleotide_shuffle: x must be one-hot (N, 4, L), got shape {tuple(arr.shape)}")
    binary = (arr == 0) | (arr == 1)
    sums = arr.sum(axis=1)
    bad = ~binary.all(axis=1) | (sums > 1)
    if bad.any():
        n_i, l_i = np.argwhere(bad)[0]
        raise InputError(
            f"dinucleotide_shuffle: x[{n_i}, :, {l_i}] = {arr[n_i, :, l_i].tolist()} is not one-hot "
            "(each column must hold one 1 and three 0, or four 0 for an unknown base)"
        )
    return np.where(sums == 1, arr.argmax(axis=1), _UNKNOWN).astype(np.int64)


def _runs(tokens: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of each maximal run of known letters in one token row."""
    known = np.concatenate([[False], tokens != _UNKNOWN, [False]])
    edges = np.flatnonzero(np.diff(known.astype(np.int8)))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def shuffle_tokens(tokens: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Dinucleotide-shuffle letter-index rows; unknown letters (4) keep their places.

    Parameters
    ----------
    tokens
        ``(N, L)`` integers, 0..3 for A, C, G, T and 4 for an unknown letter.
    n
        Shuffles per sequence.
    seed
        Seed; with the letters of each sequence it fixes that sequence's shuffles.

    Returns
    -------
    shuffled : numpy.ndarray
        ``(N, n, L)`` int8.
    one_order : numpy.ndarray
        ``(N,)`` bool: sequences that admit no order but their own (their rows are copies).
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    n_seq, length = tokens.shape
    out = np.empty((n_seq, n, length), dtype=np.int8)
    one_order = np.zeros(n_seq, dtype=bool)
    if n_seq == 0 or n == 0:
        return out, one_order

    plain = np.flatnonzero((tokens != _UNKNOWN).all(axis=1))
    if length < 3:
        out[plain] = tokens[plain, None, :]
        one_order[plain] = True
    else:
        chunk = max(1, _MAX_CELLS // (n * length))
        for lo in range(0, plain.size, chunk):
            sel = plain[lo : lo + chunk]
            rand = np.stack([_sequence_rng(seed, tokens[i]).random((n, length)) for i in sel])
            out[sel] = _shuffle_core(tokens[sel], rand)
            one_order[sel] = _log_n_orders(tokens[sel]) < 0.5

    for i in np.flatnonzero((tokens == _UNKNOWN).any(axis=1)):
        rand = _sequence_rng(seed, tokens[i]).random((1, n, length))
        out[i] = tokens[i]
        single = True
        for lo, hi in _runs(tokens[i]):
            if hi - lo < 3:
                continue
            seg = tokens[i, lo:hi][None]
            out[i, :, lo:hi] = _shuffle_core(seg, rand[:, :, lo:hi])[0]
            single &= bool(_log_n_orders(seg)[0] < 0.5)
        one_order[i] = single
    return out, one_order


@overload
def dinucleotide_shuffle_legacy(x: np.ndarray, n: int = 20, seed: int = 0) -> np.ndarray: ...


@overload
def dinucleotide_shuffle_legacy(x: torch.Tensor, n: int = 20, seed: int = 0) -> torch.Tensor: ...


def dinucleotide_shuffle_legacy(
    x: np.ndarray | torch.Tensor, n: int = 20, seed: int = 0
) -> np.ndarray | torch.Tensor:
    """Exact dinucleotide-preserving shuffles of one-hot DNA sequences.

    Each shuffle keeps every dinucleotide count and the first and last letter of the sequence, and
    is drawn uniformly from all sequences that do (Altschul & Erickson's Eulerian-path method; see
    the module docstring). Unknown (all-zero) columns keep their positions; the A/C/G/T runs between
    them are shuffled separately.

    Parameters
    ----------
    x
        ``(N, 4, L)`` one-hot, A,C,G,T; numpy array or torch tensor (any device, float dtype).
    n
        Number of shuffles per sequence (default 20).
    seed
        Seed. A sequence's shuffles depend only on the seed and its own letters.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``(N, n, 4, L)``, the same kind, dtype and device as ``x``.

    Raises
    ------
    InputError
        When ``x`` is not ``(N, 4, L)`` one-hot or ``n`` is negative.

    Notes
    -----
    A sequence that admits no other order (e.g. ``ACGT``, or one shorter than 3) gets ``n`` copies of
    itself and a logged warning that names its index.
    """
    if int(n) != n or n < 0:
        raise InputError(f"dinucleotide_shuffle: n must be a non-negative integer, got {n!r}")
    n = int(n)
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    tokens = _to_tokens(arr)
    shuffled, one_order = shuffle_tokens(tokens, n, seed)
    if n > 0 and one_order.any():
        idx = np.flatnonzero(one_order)
        shown = ", ".join(str(i) for i in idx[:10]) + (", ..." if idx.size > 10 else "")
        log.warning(
            "dinucleotide_shuffle: %d sequence(s) admit only one order with their dinucleotide counts "
            "(sequence index %s); their %d 'shuffles' are copies of the sequence",
            idx.size,
            shown,
            n,
        )
    onehot = np.zeros((*shuffled.shape[:2], _N_LETTERS, shuffled.shape[2]), dtype=arr.dtype)
    for c in range(_N_LETTERS):
        onehot[:, :, c, :] = shuffled == c
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(onehot).to(device=x.device, dtype=x.dtype)
    return onehot
