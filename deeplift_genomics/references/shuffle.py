"""Exact dinucleotide shuffles of one-hot DNA, batched in torch on the device of the input.

A sequence ``s`` is a walk through the graph whose vertices are the letters and whose edges are its
``L - 1`` dinucleotides. Every Eulerian path of that graph from ``s[0]`` to ``s[-1]`` spells a sequence
with exactly the same dinucleotide counts (and the same first and last letter), and every such sequence
is one of those paths. Altschul & Erickson (1985) draw one uniformly:

1. for each letter other than the last one, pick its *last exit* so that the last exits form a tree
   pointing at the last letter (a random spanning arborescence, each tree weighted by the product of
   the edge multiplicities it uses);
2. put the remaining exits of each letter in a uniformly random order, the last exit after them;
3. walk from the first letter, always taking the next unused exit.

With four letters there are only 16 arborescences per root, so step 1 enumerates them and draws one
with probability proportional to its weight: exact, with no rejection loop. Step 2 is drawn lazily
during the walk: at each visit of a letter, its next exit is drawn uniformly from its unused exits
other than the last one (sampling without replacement spells a uniformly random order), and the last
exit is taken when those are used up. All ``N * n`` walks advance together, one position per step,
each step a handful of batched tensor operations (no Python loop over sequences).

On the CPU, where those operations cost more to dispatch than to compute, large calls walk in compiled
code instead (:mod:`deeplift_genomics.references.shuffle_compiled`, numba): the same state, the same random
numbers, the same letters, bit for bit. Everything before the walk (keys, runs, trees, state) is the same
torch code on every device.

Threads (CPU). A call uses as many threads as torch has intra-op threads (``torch.get_num_threads()``),
and only for the compiled walk and the writing of its letters: every other tensor operation of the call
runs on one thread (:func:`deeplift_genomics.core.threads.one_torch_thread`), because torch's parallel
regions split an operation into one fixed part per thread and wait for the last, which on a machine with
other work on it is a thread that the kernel has descheduled (measured 45x slower per operation with 2
threads beside a busy process on a 2-core machine). The walks of a chunk are cut into pieces of about
``_PIECE_STEPS`` walk steps (whole sequences, about 1 ms of work each); the calling thread and
``threads - 1`` helper threads take pieces from a shared counter until none is left
(:class:`deeplift_genomics.core.threads.Pieces`), so a descheduled thread holds the call for at most the
piece it took, and a chunk with fewer than two pieces runs on the calling thread alone. Called inside
another such block (``attribute`` on the CPU), a call gets the threads that block found.
Each piece walks its own rows of the state with its own random streams, so the letters are the same
for every thread count and piece size, bit for bit.

The state of a walk is, per letter, the cumulative counts of its unused exits to each letter, packed
into one int64 (four 16-bit fields) with the letter's last exit, so that the draw, the comparison with
the cumulative counts and the update are a few integer operations on whole rows (SWAR). Letters with
8,192 or more exits (runs longer than about 30 kb) take a path that keeps the counts unpacked and makes
the same draws.

Unknown letters (all-zero columns, "N") stay where they are: each maximal run of A/C/G/T between them
is shuffled on its own. That keeps every dinucleotide count, including those with N (runs keep their
first and last letters), and a reference is zero exactly where the input is, so the unknown positions
get no contribution.

Random numbers are counter-based per sequence: a 64-bit key from the seed and the sequence's own
letters (a hash computed with wrapping int64 tensor arithmetic), a key per shuffle derived from it,
a 64-bit linear congruential stream per shuffle indexed by position, and a hash per run for the tree.
A sequence therefore gets the same shuffles whatever batch, chunk, shard, position or order it arrives
in, the first ``k`` of ``n`` shuffles do not depend on ``n``, and every device computes the same
integers (only the tree draw uses float64, IEEE-exact on CPU and CUDA).
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
from collections.abc import Callable
from typing import overload

import numpy as np
import torch

from ..core.errors import InputError
from ..core.threads import Pieces, one_torch_thread
from ..io.onehot import sequence_indices

log = logging.getLogger(__name__)

_N_LETTERS = 4
_UNKNOWN = 4
# Walks (sequence x shuffle) advanced together: large batches amortise the per-step dispatch cost.
_MAX_ROWS = 1 << 16
_MAX_CELLS = 1 << 24  # rows x positions of one chunk (the int8 letters it holds)
_MAX_STATE_BYTES = 1 << 28  # packed or unpacked walk state of one chunk
_RNG_BLOCK = 8  # steps whose random numbers a GPU draws in one batched operation
_CPU_RNG_BLOCK = 8  # and the torch walk on the CPU (1: one step at a time; the same numbers either way)
# Walk steps (walks x positions) of one piece of a chunk that a CPU thread takes at a time (whole
# sequences): about 1 ms of compiled walk, so a descheduled thread delays the call by at most that much
# work, and a call of 1,000 x 200 bp x 20 shuffles has 16 pieces. Chunks with fewer than two pieces
# walk on the calling thread alone.
_PIECE_STEPS = 1 << 18
# The CPU runs the compiled walk (tests switch it off to run the torch walk that other devices run) for
# calls of at least this many steps (walks x positions), or once numba is loaded: importing numba and
# loading the cached kernels takes about 1 s once per process, which a call of 2M steps (about 25 ms of
# torch walk on one core) would not repay, so processes that only shuffle small blocks never load it.
_COMPILED_CPU_WALK = True
_COMPILED_MIN_STEPS = 1 << 21

_NUMPY_DTYPES = {
    torch.float16: np.float16,
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.int8: np.int8,
    torch.int16: np.int16,
    torch.int32: np.int32,
    torch.int64: np.int64,
    torch.uint8: np.uint8,
    torch.bool: np.bool_,
}


def _empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An uninitialised tensor; large CPU ones come from numpy, which asks Linux for huge pages.

    A fresh 64 MB output takes 16,384 page faults with 4 kB pages, which cost more than filling it.
    """
    if device.type == "cpu" and dtype in _NUMPY_DTYPES:
        return torch.from_numpy(np.empty(shape, dtype=_NUMPY_DTYPES[dtype]))
    return torch.empty(shape, dtype=dtype, device=device)


# --- 64-bit arithmetic on int64 tensors (two's complement, wrapping; the same on every device) -------

_M64 = (1 << 64) - 1


def _i64(value: int) -> int:
    """A Python integer reduced to the int64 with the same low 64 bits."""
    value &= _M64
    return value - (1 << 64) if value >> 63 else value


_GOLDEN = _i64(0x9E3779B97F4A7C15)
_MIX1 = _i64(0xBF58476D1CE4E5B9)
_MIX2 = _i64(0x94D049BB133111EB)
_SALT_CONTENT = _i64(0x243F6A8885A308D3)
_SALT_TREE = _i64(0x13198A2E03707344)
_SALT_WALK = _i64(0xA4093822299F31D0)
_LCG_A = 6364136223846793005  # Knuth's MMIX multiplier
_LCG_C = 1442695040888963407
_M32 = (1 << 32) - 1


def _shr(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 values (``>>`` on int64 tensors is arithmetic)."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def _mix64(x: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser, elementwise: a bijection of 64-bit values that mixes every bit."""
    x = (x ^ _shr(x, 30)) * _MIX1
    x = (x ^ _shr(x, 27)) * _MIX2
    return x ^ _shr(x, 31)


def _mix64_int(x: int) -> int:
    """:func:`_mix64` of one Python integer (the reference the tensor version is tested against)."""
    x &= _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return _i64(x ^ (x >> 31))


def sequence_keys(tokens: torch.Tensor, seed: int) -> torch.Tensor:
    """64-bit key of each sequence: a hash of the seed, its length and its letters.

    Parameters
    ----------
    tokens
        ``(N, L)`` int64 letters, 0..3 for A, C, G, T and 4 for unknown.
    seed
        Any integer (reduced modulo 2**64).

    Returns
    -------
    torch.Tensor
        ``(N,)`` int64 on the device of ``tokens``. Position ``j`` holding letter ``c`` contributes
        ``mix64(c + 8 j + salt)`` to a wrapping sum (a random linear hash: two different sequences
        collide with probability about 2**-64), which is then mixed with the seed and the length.
    """
    n_seq, length = tokens.shape
    dev = tokens.device
    # table[j * 5 + c] = mix64(c + 8 j + salt); a sequence's content hash sums its letters' entries
    table = _mix64(torch.arange(length * 5, device=dev, dtype=torch.int64).view(length, 5)
                   + (torch.arange(length, device=dev, dtype=torch.int64) * 3)[:, None] + _SALT_CONTENT)
    pos5 = torch.arange(0, length * 5, 5, device=dev, dtype=torch.int64)
    content = table.view(-1)[tokens.to(torch.int64) + pos5].sum(dim=1)
    scalar = _mix64_int(_mix64_int(int(seed)) + length * 0x9E3779B97F4A7C15)
    return _mix64(content ^ scalar)


def _shuffle_keys(seq_keys: torch.Tensor, n: int) -> torch.Tensor:
    """``(N, n)`` key of each shuffle ``k``: it depends on the sequence's key and ``k`` only."""
    k = torch.arange(1, n + 1, device=seq_keys.device, dtype=torch.int64)
    return _mix64(seq_keys[:, None] + k * _GOLDEN)


def _lcg_jumps(k: int) -> tuple[list[int], list[int]]:
    """``a_i, c_i`` with ``x_{j+i} = a_i x_j + c_i`` for ``i = 1..k`` (mod 2**64), as int64 values."""
    a, c, out_a, out_c = 1, 0, [], []
    for _ in range(k):
        a, c = (a * _LCG_A) & _M64, (c * _LCG_A + _LCG_C) & _M64
        out_a.append(_i64(a))
        out_c.append(_i64(c))
    return out_a, out_c


# --- the 16 last-exit trees per root -------------------------------------------------------------


def enumerate_arborescences() -> np.ndarray:
    """All spanning arborescences of the complete graph on 4 letters, per root.

    Returns
    -------
    numpy.ndarray
        ``(4, 16, 4)`` int array ``P``: ``P[r, t, v]`` is the parent (last exit) of letter ``v`` in
        tree ``t`` pointing at root ``r``; ``P[r, t, r] = r``.
    """
    out = []
    for root in range(_N_LETTERS):
        others = [v for v in range(_N_LETTERS) if v != root]
        trees = []
        for parents in itertools.product(range(_N_LETTERS), repeat=len(others)):
            par = dict(zip(others, parents))
            if any(par[v] == v for v in others):
                continue
            ok = True
            for v in others:
                seen, u = set(), v
                while u != root:
                    if u in seen:
                        ok = False
                        break
                    seen.add(u)
                    u = par[u]
                if not ok:
                    break
            if ok:
                trees.append([root if v == root else par[v] for v in range(_N_LETTERS)])
        out.append(trees)
    return np.asarray(out, dtype=np.int64)


_TREES = torch.from_numpy(enumerate_arborescences())  # (4, 16, 4): Cayley's 4^(4-2) = 16 per root


def _tree_weights(counts: torch.Tensor, root: torch.Tensor) -> torch.Tensor:
    """Weight of every arborescence of every run.

    Parameters
    ----------
    counts
        ``(..., 4, 4)`` int64 dinucleotide counts of each run (``counts[u, v]``: ``uv`` pairs).
    root
        ``(...)`` int64 last letter of each run.

    Returns
    -------
    torch.Tensor
        ``(..., 16)`` float64: product over non-root letters ``v`` of the number of ``v -> parent(v)``
        dinucleotides (self-loops never count); letters with no exit hang off the root with weight 1.
        Exact integers below 2**53.
    """
    dev = counts.device
    letters = torch.arange(_N_LETTERS, device=dev)
    weights = counts.to(torch.float64) * (1.0 - torch.eye(_N_LETTERS, dtype=torch.float64, device=dev))
    is_root = letters == root[..., None]
    hang = (~is_root & (counts.sum(-1) == 0)) | is_root  # (..., 4)
    to_root = (letters == root[..., None]).to(torch.float64)  # (..., 4) one-hot of the root
    weights = torch.where(hang[..., None], to_root[..., None, :], weights)
    parents = _TREES.to(dev)[root]  # (..., 16, 4)
    flat = weights.flatten(-2)  # (..., 16): [v * 4 + parent]
    per_letter = torch.gather(
        flat[..., None, :].expand(*parents.shape[:-1], 16), -1, parents + letters * _N_LETTERS
    )
    return per_letter.prod(-1)


def _log_n_orders(counts: torch.Tensor, root: torch.Tensor, tree_total: torch.Tensor) -> torch.Tensor:
    """Natural log of the number of sequences with each run's dinucleotide counts and ends.

    BEST theorem for paths: ``t * d_last! * prod_{v != last, d_v > 0} (d_v - 1)! / prod_{u,v} m_uv!``
    with ``t`` the weighted number of arborescences, ``d_v`` the out-degree and ``m_uv`` the counts.
    """
    m = counts.to(torch.float64)
    degree = m.sum(-1)
    is_root = torch.arange(_N_LETTERS, device=counts.device) == root[..., None]
    own = torch.where(is_root, torch.lgamma(degree + 1), torch.where(degree > 0, torch.lgamma(degree.clamp_min(1)), 0.0))
    return torch.log(tree_total) + own.sum(-1) - torch.lgamma(m + 1).sum((-2, -1))


# --- runs between unknown letters ------------------------------------------------------------------


class _Runs:
    """The A/C/G/T runs of ``(N, L)`` token rows, up to ``S`` per row (``S`` = the most in any row).

    Attributes
    ----------
    counts : (N, S, 4, 4) int64 dinucleotide counts per run (zeros for absent runs)
    root : (N, S) int64 last letter of each run (0 for absent runs)
    start : (N, S) int64 first position of each run (0 for absent runs)
    first : (N, L) bool, positions that start a run (None when every letter is known)
    run : (N, L) int64 run index of each known position (None when every letter is known)
    n_runs : S
    plain : every letter of every row is known (one run per row)
    """

    counts: torch.Tensor
    root: torch.Tensor
    start: torch.Tensor
    first: torch.Tensor | None
    run: torch.Tensor | None
    n_runs: int
    plain: bool

    def __init__(self, tokens: torch.Tensor, plain: bool | None = None):
        n_seq, length = tokens.shape
        dev = tokens.device
        known = tokens != _UNKNOWN
        self.plain = bool(known.all()) if plain is None else plain
        if self.plain:
            self.n_runs = 1 if length else 0
            self.first = self.run = None
            self.root = tokens[:, -1:].clone() if length else torch.zeros((n_seq, 1), dtype=torch.int64, device=dev)
            self.start = torch.zeros((n_seq, 1), dtype=torch.int64, device=dev)
            code = tokens[:, :-1] * 4 + tokens[:, 1:] + torch.arange(n_seq, device=dev)[:, None] * 16
            counts = torch.zeros(n_seq * 16, dtype=torch.int64, device=dev)
            counts.index_add_(0, code.reshape(-1), torch.ones(code.numel(), dtype=torch.int64, device=dev))
            self.counts = counts.view(n_seq, 1, _N_LETTERS, _N_LETTERS)
            return
        prev = torch.zeros_like(known)
        prev[:, 1:] = known[:, :-1]
        nxt = torch.zeros_like(known)
        nxt[:, :-1] = known[:, 1:]
        self.first = known & ~prev
        last = known & ~nxt
        self.run = torch.where(known, torch.cumsum(self.first, dim=1) - 1, -1)
        self.n_runs = int(self.first.sum(dim=1).max()) if n_seq else 0
        s = max(self.n_runs, 1)
        rows = torch.arange(n_seq, device=dev)[:, None].expand(n_seq, length)
        safe_run = self.run.clamp_min(0)
        self.root = torch.zeros((n_seq, s), dtype=torch.int64, device=dev)
        self.root[rows[last], safe_run[last]] = tokens[last]
        self.start = torch.zeros((n_seq, s), dtype=torch.int64, device=dev)
        pos = torch.arange(length, device=dev)[None, :].expand(n_seq, length)
        self.start[rows[self.first], safe_run[self.first]] = pos[self.first]
        counts = torch.zeros((n_seq * s * 16,), dtype=torch.int64, device=dev)
        if length > 1:
            edge = known[:, :-1] & known[:, 1:]
            code = (rows[:, :-1] * s + safe_run[:, :-1]) * 16 + tokens[:, :-1].clamp_max(3) * 4 + tokens[:, 1:].clamp_max(3)
            counts.index_add_(0, code[edge], torch.ones_like(code[edge]))
        self.counts = counts.view(n_seq, s, _N_LETTERS, _N_LETTERS)


# --- the walk --------------------------------------------------------------------------------------

# Packed state of one letter of one walk, an int64 (SWAR: one integer operation acts on every field):
#   bits 0-12   the number of its unused exits other than the last one (the total, at most 8,191)
#   bit 14      always 1, so that the mask of comparison flags below also takes one off the total
#   bits 15+15k C_k + 16383 (15 bits), C_k the cumulative count of unused non-last exits to the letters of
#               fields 0..k (k = 0, 1, 2); field k holds exits to letter (last + 3 - k) & 3, so field 3
#               (the total minus C_2) holds the non-last exits to the last exit's own letter
#   bits 62-63  the letter's last exit
# A walk's 4 letters sit in 4 slots, letter c in slot (c + 2) & 3 (see _step_packed).
_TOTAL = (1 << 13) - 1
_KEEP = 1 << 14
_FIELD = (1 << 15) | (1 << 30) | (1 << 45)
_OFFSET = (1 << 14) - 1
_FLAGS = (1 << 14) | (1 << 29) | (1 << 44) | (1 << 59)
_FLAGS_LAST = _i64(_FLAGS | (3 << 62))
# Moves the flags of fields 0, 1, 2 onto bit 62 (adding them to the last exit there), keeps the rest
# below bit 62: (F * _LETTER) >> 62 is (last + number of flags) mod 4 as a signed 2-bit number.
_LETTER = (1 << 33) | (1 << 18) | (1 << 3) | 1
_SLOTS = (2, 3, 0, 1)  # the letter in each slot
_PACKED_MAX = _TOTAL  # most unused exits one letter may hold for the packed state
# What the compiled walk needs of the layout and of the random stream (see shuffle_compiled.walk_packed).
_PACKED_CONSTANTS = np.array(
    [v & _M64 for v in (_TOTAL, _FIELD, _FLAGS, _FLAGS_LAST, _LETTER, _LCG_A, _LCG_C)], dtype=np.uint64
)


def _state_table(counts: torch.Tensor, root: torch.Tensor) -> torch.Tensor:
    """Cumulative exit counts of every letter of every run, for each possible last exit.

    Parameters
    ----------
    counts : (Nc, S, 4, 4) int64
    root : (Nc, S) int64

    Returns
    -------
    torch.Tensor
        ``(Nc, S, 4, 4, 4)`` int64: ``[..., v, last, k]`` = unused non-last exits of letter ``v`` to
        the letters of fields ``0..k`` when its last exit goes to ``last`` (field ``k``: letter
        ``(last + 3 - k) & 3``; ``k = 3``: the total). The root has no last exit: all its exits count.
    """
    letters = torch.arange(_N_LETTERS, device=counts.device)
    field_letter = (letters[:, None] + 3 - letters) & 3  # (last, k)
    per_field = counts[..., field_letter]  # (Nc, S, v, last, k)
    is_root = letters == root[..., None]  # (Nc, S, v)
    reserved = ~is_root & (counts.sum(-1) > 0)  # letters whose last exit is set aside
    per_field[..., 3] -= reserved[..., None].to(torch.int64)
    return per_field.cumsum(-1)


class _Walks:
    """All walks of a chunk: state, start and the per-position constraints of runs."""

    last: torch.Tensor | None  # (rows * n_vertices,) last exit of each letter, wide state only
    fixed: torch.Tensor | None  # (Nc, L) bool, positions whose letter is fixed; None for plain walks

    def __init__(self, tokens: torch.Tensor, runs: _Runs, keys: torch.Tensor, n: int, wide: bool):
        n_seq, length = tokens.shape
        dev = tokens.device
        s = max(runs.n_runs, 1)
        self.n_seq, self.n, self.length = n_seq, n, length
        self.rows = n_seq * n
        self.plain = runs.plain
        # Letters per walk: 4 per run, plus 4 scratch letters that unknown positions point at.
        self.n_vertices = 4 * s + (0 if self.plain else 4)

        weights = _tree_weights(runs.counts, runs.root)  # (Nc, S, 16)
        cum = weights.cumsum(-1)
        total = cum[..., -1]
        draw = _mix64(keys[..., None] ^ _mix64(runs.start + _SALT_TREE)[:, None, :])  # (Nc, n, S)
        u = _shr(draw, 11).to(torch.float64) * 2.0**-53
        target = torch.minimum(torch.floor(u * total[:, None]), total[:, None] - 1)
        tree = (cum[:, None] <= target[..., None]).sum(-1).clamp_max(15)
        # (Nc, n, S, 4): parent of each letter in the drawn tree (one flat index: faster than two)
        parent = _TREES.to(dev).view(-1, _N_LETTERS)[runs.root[:, None, :] * _TREES.shape[1] + tree]
        self.log_orders = _log_n_orders(runs.counts, runs.root, total).sum(-1)  # (Nc,)

        table = _state_table(runs.counts, runs.root)  # (Nc, S, 4, 4 last, 4)
        slots = torch.tensor(_SLOTS, device=dev)
        table = table[:, :, slots]  # letters in slot order
        is_root = (slots == runs.root[..., None])[:, None]  # (Nc, 1, S, 4)
        last = torch.where(is_root, 0, parent[..., slots])  # (Nc, n, S, 4)
        self.wide = wide or bool(table.numel() and table[..., 3].max() > _PACKED_MAX)
        extra = self.n_vertices - 4 * s
        if self.wide:
            state = table[:, None].expand(-1, n, -1, -1, -1, -1)
            state = torch.gather(state, 4, last[..., None, None].expand(*last.shape, 1, 4))[..., 0, :]
            state = state.reshape(self.rows, 4 * s, 4)
            self.state = torch.cat([state, state.new_zeros(self.rows, extra, 4)], 1).reshape(-1, 4)
            self.last = torch.cat([last.reshape(self.rows, 4 * s), last.new_zeros(self.rows, extra)], 1).reshape(-1)
        else:
            packed = table[..., 3] | _KEEP | (torch.arange(_N_LETTERS, device=dev) << 62)
            for k in range(3):
                packed |= (table[..., k] + _OFFSET) << (15 + 15 * k)  # (Nc, S, 4, 4 last)
            packed = torch.gather(packed[:, None].expand(-1, n, -1, -1, -1), 4, last[..., None])[..., 0]
            packed = packed.reshape(self.rows, 4 * s)
            if extra:
                scratch = packed.new_full((self.rows, extra), _KEEP + _OFFSET * _FIELD)
                packed = torch.cat([packed, scratch], 1)
            self.state = packed.reshape(-1)
            self.last = None

        self.rowbase = torch.arange(self.rows, device=dev, dtype=torch.int64) * self.n_vertices
        self.lcg = _mix64(keys.reshape(-1) ^ _SALT_WALK)
        if self.plain:
            self.vertex = (tokens[:, :1] + 2) & 3
            self.fixed = None
        else:
            # run starts and unknown positions have fixed letters; unknown ones point at scratch letters
            assert runs.run is not None and runs.first is not None  # runs of a non-plain chunk
            slot = (tokens.clamp_max(3) + 2) & 3
            self.vertex = torch.where(tokens != _UNKNOWN, runs.run.clamp_min(0) * 4 + slot, 4 * s)
            self.fixed = runs.first | (tokens == _UNKNOWN)  # (Nc, L)
        self.start = (self.rowbase.view(n_seq, n) + self.vertex[:, :1]).reshape(-1)


def _walk(w: _Walks, out: torch.Tensor, compiled: bool, lo: int = 0, hi: int | None = None) -> None:
    """Advance walks ``lo..hi-1`` of ``w`` through their sequence, writing their letters into ``out``.

    ``out`` is ``(rows, L)`` int8 on the device of ``w`` (all walks; rows ``lo..hi-1`` are written);
    positions whose letter is fixed (run starts, unknown letters) receive arbitrary values, set by the
    caller. ``compiled`` (CPU only) runs the compiled walk (:mod:`deeplift_genomics.references.shuffle_compiled`),
    which may take part of the walks (disjoint ranges may run in parallel threads); otherwise all walks
    advance together in batched torch operations. Both make the same draws.
    """
    hi = w.rows if hi is None else hi
    if hi <= lo or w.length == 0:
        return
    if compiled:
        _walk_compiled(w, out, lo, hi)
    else:
        assert (lo, hi) == (0, w.rows)  # the torch walk advances all walks at once
        out.copy_(_walk_torch(w).T).bitwise_and_(3)


def _compiled_walk(device: torch.device, steps: int) -> bool:
    """Whether ``steps`` walk steps on ``device`` run compiled (see ``_COMPILED_MIN_STEPS``)."""
    if device.type != "cpu" or not _COMPILED_CPU_WALK:
        return False
    return steps >= _COMPILED_MIN_STEPS or f"{__package__}.shuffle_compiled" in sys.modules


def _walk_compiled(w: _Walks, out: torch.Tensor, lo: int, hi: int) -> None:
    """:func:`_walk` on the CPU, in a numba kernel (it releases the GIL)."""
    from . import shuffle_compiled  # heavy: numba (0.35-0.5 s to import), only for long CPU calls

    if w.plain:  # not read by the kernels; typed as they are for runs so that one compilation serves
        fixed, vertex = np.zeros((0, 0), dtype=np.bool_), np.zeros((0, 0), dtype=np.int64)
    else:
        assert w.fixed is not None  # non-plain walks always have fixed positions (run starts)
        fixed, vertex = w.fixed.numpy(), np.ascontiguousarray(w.vertex.numpy())
    start, lcg = w.start.numpy(), w.lcg.numpy().view(np.uint64)
    tail = (start, lcg, w.n_vertices, w.n, w.plain, fixed, vertex, out.numpy(), lo, hi, _PACKED_CONSTANTS)
    if w.wide:
        assert w.last is not None  # the wide state keeps each letter's last exit
        shuffle_compiled.walk_wide(w.state.numpy(), w.last.numpy(), *tail)
    else:
        shuffle_compiled.walk_packed(w.state.numpy().view(np.uint64), *tail)


def _walk_torch(w: _Walks) -> torch.Tensor:
    """:func:`_walk` in batched tensor operations; returns ``(L, rows)`` int8 letters (mod 4)."""
    letters = _empty((w.length, w.rows), torch.int8, w.state.device)
    letters[0] = (w.start + 2) & 3
    if w.length > 1:
        _walk_steps(w, letters)
    return letters


def _walk_steps(w: _Walks, letters: torch.Tensor) -> None:
    """Advance every walk of ``w`` in tensor operations, one position per step, writing ``letters[1:]``."""
    rows, length, dev = w.rows, w.length, w.state.device
    fv = w.start.clone()
    # the random numbers of k_block steps are drawn at once (fewer, larger operations)
    k_block = _RNG_BLOCK if dev.type != "cpu" else _CPU_RNG_BLOCK
    jumps_a, jumps_c = _lcg_jumps(k_block)
    jump_a = torch.tensor(jumps_a, device=dev)[:, None]
    jump_c = torch.tensor(jumps_c, device=dev)[:, None]
    x = w.lcg.clone()
    block = torch.empty((k_block, rows), dtype=torch.int64, device=dev)
    step = _step_wide if w.wide else _step_packed
    bufs = [torch.empty(rows, dtype=torch.int64, device=dev) for _ in range(3)]
    base = w.rowbase + 2
    fixed_any: list[bool] = []  # per position: does any walk have its letter fixed (never read if plain)
    if not w.plain:
        assert w.fixed is not None  # non-plain walks always have fixed positions (run starts)
        fixed_any = w.fixed.any(dim=0).tolist()
    for j in range(1, length):
        i = (j - 1) % k_block
        if k_block == 1:
            torch.add(jump_c[0], x, alpha=_LCG_A, out=x)  # x_{j} = A x_{j-1} + C (mod 2**64)
            torch.bitwise_right_shift(x, 32, out=block[0]).bitwise_and_(_M32)
        elif i == 0:
            # x_{j+i} = a_i x_j + c_i for the next k_block steps at once; keep the top 32 bits.
            torch.mul(jump_a, x, out=block).add_(jump_c)
            x.copy_(block[-1])
            block.bitwise_right_shift_(32).bitwise_and_(_M32)
        # the new letter c as (c + 2) % 4 - 2, its slot minus 2 (int8 row, and int64)
        v = step(w, fv, block[i], bufs, letters[j])
        if w.plain:
            torch.add(base, v, out=fv)
        else:
            fv.bitwise_and_(~3).add_(v).add_(2)
            if fixed_any[j]:
                assert w.fixed is not None  # see fixed_any
                forced = (w.rowbase.view(w.n_seq, w.n) + w.vertex[:, j : j + 1]).reshape(-1)
                torch.where(w.fixed[:, j : j + 1].expand(w.n_seq, w.n).reshape(-1), forced, fv, out=fv)


def _step_packed(w, fv, r, bufs, v):
    """One step of every walk on the packed state, writing the new letters' slot offsets into ``v``."""
    c, t, dec = bufs
    torch.index_select(w.state, 0, fv, out=c)
    # t = floor(r * total / 2**32): uniform over the unused non-last exits
    torch.bitwise_and(c, _TOTAL, out=t).mul_(r).bitwise_right_shift_(32)
    # field k of c: C_k + 16383 - t, whose bit 14 (a flag) is set exactly when C_k > t
    c.sub_(t, alpha=_FIELD)
    # the flagged fields and the total lose one exit (bit 14 is always set: one off the total)
    torch.bitwise_and(c, _FLAGS, out=dec).bitwise_right_shift_(14)
    w.state.index_add_(0, fv, dec, alpha=-1)
    # s flags among fields 0..2: the exit goes to letter (last + s) & 3 (field 3 - s)
    v.copy_(c.bitwise_and_(_FLAGS_LAST).mul_(_LETTER).bitwise_right_shift_(62))
    return c


def _step_wide(w, fv, r, bufs, v):
    """One step of every walk on the unpacked state: the same draws as :func:`_step_packed`."""
    cum = w.state.index_select(0, fv)  # (rows, 4): C_0, C_1, C_2, total
    t = (r * cum[:, 3]) >> 32
    above = cum > t[:, None]
    dec = above.to(torch.int64)
    dec[:, 3] = 1
    w.state.index_add_(0, fv, dec, alpha=-1)
    letter = (w.last.index_select(0, fv) + above[:, :3].sum(1)) & 3
    v.copy_(((letter + 2) & 3) - 2)
    return bufs[0].copy_(v)


# --- public functions ------------------------------------------------------------------------------


def _chunk_bounds(n_runs: list[int], length: int, n: int, device: torch.device) -> list[tuple[int, int]]:
    """Split sequences (sorted by their number of runs) into chunks of bounded walks and state."""
    max_rows = _MAX_ROWS if device.type == "cpu" else 16 * _MAX_ROWS
    max_rows = max(n, min(max_rows, _MAX_CELLS // max(1, length)))
    if len(set(n_runs)) <= 1:  # the same state size for all: equal chunks
        vertices = 4 * max(n_runs[0] if n_runs else 1, 1) + 4
        step = max(1, min(max_rows, _MAX_STATE_BYTES // (32 * vertices)) // n)
        return [(lo, min(len(n_runs), lo + step)) for lo in range(0, len(n_runs), step)]
    bounds, lo = [], 0
    while lo < len(n_runs):
        hi = lo + 1
        while hi < len(n_runs):
            rows = (hi + 1 - lo) * n
            if rows > max_rows or rows * (4 * max(n_runs[hi], 1) + 4) * 32 > _MAX_STATE_BYTES:
                break
            hi += 1
        bounds.append((lo, hi))
        lo = hi
    return bounds


Chunk = tuple[slice | torch.Tensor, torch.Tensor, torch.Tensor]
"""``(rows, letters, one_order)`` of some sequences: see :func:`_shuffle_chunks`."""


def _shuffle_chunks(
    tokens: torch.Tensor, n: int, seed: int, consume: Callable[[Chunk], None], wide: bool = False,
    threads: int = 1,
) -> None:
    """Shuffle ``tokens`` chunk by chunk, handing the shuffles to ``consume``.

    ``consume`` gets ``(rows, letters, one_order)``: ``rows`` selects sequences of ``tokens`` (a slice,
    or an index tensor for sequences with unknown letters), ``letters`` is their ``(Nc, n, L)`` int8
    shuffles (4 at unknown positions) and ``one_order`` ``(Nc,)``. When the walks run compiled (CPU),
    those of a chunk are cut into pieces of about ``_PIECE_STEPS`` steps that up to ``threads`` threads
    take in turn (:class:`~deeplift_genomics.core.threads.Pieces`), and each thread hands its own piece's
    sequences to ``consume``, which must only write those. Call it inside
    :func:`~deeplift_genomics.core.threads.one_torch_thread` (see the module docstring).
    """
    n_seq, length = tokens.shape
    dev = tokens.device
    keys = sequence_keys(tokens, seed)
    has_unknown = (tokens == _UNKNOWN).any(dim=1)
    groups: list[tuple[torch.Tensor | None, list[int], bool]]  # (rows or None for all, runs per row, plain)
    if not bool(has_unknown.any()):
        groups = [(None, [1] * n_seq, True)]
    else:
        plain = torch.nonzero(~has_unknown).flatten()
        other = torch.nonzero(has_unknown).flatten()
        first = _Runs(tokens[other], plain=False).first
        assert first is not None  # non-plain runs always have their starts
        n_runs = first.sum(1)
        order = torch.argsort(n_runs, stable=True)  # chunks of similar numbers of runs
        groups = [(plain, [1] * plain.numel(), True), (other[order], n_runs[order].tolist(), False)]
    compiled = _compiled_walk(dev, n_seq * n * length)
    threads = threads if compiled else 1

    def finish(rows: slice | torch.Tensor, part: torch.Tensor, walks: _Walks, letters: torch.Tensor, a: int, b: int) -> None:
        """Walk sequences ``a..b-1`` of the chunk and hand them to ``consume``."""
        _walk(walks, letters.view(-1, length), compiled, a * n, b * n)
        mine = letters[a:b]
        if not walks.plain:
            # run starts keep their letter, unknown positions stay unknown
            assert walks.fixed is not None  # non-plain walks always have fixed positions
            mine = torch.where(walks.fixed[a:b, None, :], part[a:b, None, :].to(torch.int8), mine)
        sub = slice(rows.start + a, rows.start + b) if isinstance(rows, slice) else rows[a:b]
        consume((sub, mine, walks.log_orders[a:b] < 0.5))

    per_piece = max(1, _PIECE_STEPS // max(1, n * length))  # sequences per piece
    with Pieces(threads) as pieces:
        for group, runs_per_seq, is_plain in groups:
            for lo, hi in _chunk_bounds(runs_per_seq, length, n, dev):
                rows: slice | torch.Tensor = slice(lo, hi) if group is None else group[lo:hi]
                part = tokens[rows]
                walks = _Walks(part, _Runs(part, plain=is_plain), _shuffle_keys(keys[rows], n), n, wide)
                letters = _empty((hi - lo, n, length), torch.int8, dev)
                if not compiled:  # the torch walk advances all walks at once (CUDA streams are per thread)
                    finish(rows, part, walks, letters, 0, hi - lo)
                    continue
                cuts = list(range(0, hi - lo, per_piece)) + [hi - lo]

                def piece(i: int, rows=rows, part=part, walks=walks, letters=letters, cuts=cuts) -> None:
                    finish(rows, part, walks, letters, cuts[i], cuts[i + 1])

                pieces.run(len(cuts) - 1, piece)


def shuffle_tokens(
    tokens: torch.Tensor, n: int, seed: int = 0, *, _wide: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dinucleotide-shuffle letter-index rows on their device; unknown letters (4) keep their places.

    Parameters
    ----------
    tokens
        ``(N, L)`` integer tensor, 0..3 for A, C, G, T and 4 for an unknown letter.
    n
        Shuffles per sequence.
    seed
        Seed; with the letters of each sequence it fixes that sequence's shuffles.

    Returns
    -------
    shuffled : torch.Tensor
        ``(N, n, L)`` int8 on the device of ``tokens``.
    one_order : torch.Tensor
        ``(N,)`` bool: sequences that admit no order but their own (their rows are copies).
    """
    tokens = tokens.to(torch.int64)
    n_seq, length = tokens.shape
    out = _empty((n_seq, n, length), torch.int8, tokens.device)
    one_order = torch.zeros(n_seq, dtype=torch.bool, device=tokens.device)
    if n_seq and n:

        def consume(chunk: Chunk) -> None:
            rows, letters, single = chunk
            out[rows] = letters
            one_order[rows] = single

        with one_torch_thread(tokens.device) as threads:
            _shuffle_chunks(tokens, n, seed, consume, _wide, threads)
    return out, one_order


def n_orders(sequence: str) -> int:
    """Number of distinct sequences with the same dinucleotide counts, first and last letter.

    Parameters
    ----------
    sequence
        A string of A, C, G, T (no other letters).

    Returns
    -------
    int
        The count (BEST theorem), e.g. 1 for ``"ACGT"`` and 2 for ``"ACAGA"`` (``ACAGA``, ``AGACA``).
    """
    idx = sequence_indices(sequence)
    if np.any(idx < 0):
        raise InputError(f"n_orders: sequence {sequence!r} holds letters other than A, C, G, T")
    runs = _Runs(torch.from_numpy(idx.astype(np.int64))[None])
    total = _tree_weights(runs.counts, runs.root).sum(-1)
    return int(round(math.exp(float(_log_n_orders(runs.counts, runs.root, total).sum()))))


def _to_tokens(x: torch.Tensor) -> torch.Tensor:
    """``(N, 4, L)`` one-hot (all-zero columns allowed) to ``(N, L)`` int64 letters, 4 for unknown."""
    if x.ndim != 3 or x.shape[1] != _N_LETTERS:
        raise InputError(f"dinucleotide_shuffle: x must be one-hot (N, 4, L), got shape {tuple(x.shape)}")
    if not (x.is_floating_point() or x.dtype == torch.int64):
        x = x.to(torch.int64)
    sums = x.sum(dim=1)
    bad = ~(x * x == x).all(dim=1) | (sums > 1)  # values in {0, 1}, at most one 1 per column
    if bool(bad.any()):
        n_i, l_i = torch.nonzero(bad)[0].tolist()
        raise InputError(
            f"dinucleotide_shuffle: x[{n_i}, :, {l_i}] = {x[n_i, :, l_i].tolist()} is not one-hot "
            "(each column must hold one 1 and three 0, or four 0 for an unknown base)"
        )
    index = x[:, 1] + 2 * x[:, 2] + 3 * x[:, 3] + _UNKNOWN * (1 - sums)
    return index.to(torch.int64)


@overload
def dinucleotide_shuffle(x: np.ndarray, n: int = 20, seed: int = 0) -> np.ndarray: ...


@overload
def dinucleotide_shuffle(x: torch.Tensor, n: int = 20, seed: int = 0) -> torch.Tensor: ...


def dinucleotide_shuffle(x: np.ndarray | torch.Tensor, n: int = 20, seed: int = 0) -> np.ndarray | torch.Tensor:
    """Exact dinucleotide-preserving shuffles of one-hot DNA sequences, on the device of ``x``.

    Each shuffle keeps every dinucleotide count and the first and last letter of the sequence, and
    is drawn uniformly from all sequences that do (Altschul & Erickson's Eulerian-path method; see
    the module docstring). Unknown (all-zero) columns keep their positions; the A/C/G/T runs between
    them are shuffled separately.

    Parameters
    ----------
    x
        ``(N, 4, L)`` one-hot, A,C,G,T; numpy array (shuffled on the CPU) or torch tensor (shuffled
        on its device, any dtype).
    n
        Number of shuffles per sequence (default 20).
    seed
        Seed. A sequence's shuffles depend only on the seed and its own letters: not on the batch,
        its position in it, or ``n`` (the first ``k`` shuffles are the same for every ``n >= k``).

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
    itself and a logged warning that names its index. The random stream differs from
    deeplift-genomics 0.1's numpy shuffle (:mod:`deeplift_genomics.references.shuffle_legacy`).
    """
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise InputError(f"dinucleotide_shuffle: n must be a non-negative integer, got {n!r}")
    n = int(n)
    is_numpy = not isinstance(x, torch.Tensor)
    xt = x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    with one_torch_thread(xt.device) as threads:
        return _dinucleotide_shuffle(xt, n, seed, is_numpy, threads)


def _dinucleotide_shuffle(xt: torch.Tensor, n: int, seed: int, is_numpy: bool, threads: int) -> np.ndarray | torch.Tensor:
    """:func:`dinucleotide_shuffle` of the tensor ``xt`` with up to ``threads`` CPU threads for the walk."""
    tokens = _to_tokens(xt)
    n_seq, length = tokens.shape
    out = _empty((n_seq, n, _N_LETTERS, length), xt.dtype, xt.device)
    letters_abc = torch.arange(_N_LETTERS, dtype=torch.int8, device=xt.device)[:, None]
    single: list[torch.Tensor] = []

    def consume(chunk: Chunk) -> None:
        rows, letters, one_order = chunk
        if isinstance(rows, slice):
            torch.eq(letters[:, :, None, :], letters_abc, out=out[rows])  # one-hot, in place
        else:
            out[rows] = torch.eq(letters[:, :, None, :], letters_abc).to(xt.dtype)
        single.append(torch.nonzero(one_order).flatten() + rows.start if isinstance(rows, slice) else rows[one_order])

    if n_seq and n:
        _shuffle_chunks(tokens, n, seed, consume, threads=threads)
    idx = sorted(torch.cat(single).tolist()) if single else []
    if idx:
        shown = ", ".join(str(i) for i in idx[:10]) + (", ..." if len(idx) > 10 else "")
        log.warning(
            "dinucleotide_shuffle: %d sequence(s) admit only one order with their dinucleotide counts "
            "(sequence index %s); their %d 'shuffles' are copies of the sequence",
            len(idx),
            shown,
            n,
        )
    return out.numpy() if is_numpy else out
