"""The walk of :mod:`deeplift_genomics.references.shuffle`, compiled for the CPU: the same draws in one loop.

On the CPU the batched torch walk spends most of its time dispatching the dozen small tensor
operations of each position, not computing them. These numba kernels advance the same walks over the
same state (built by ``shuffle._Walks``) with the same random numbers, one compiled loop per block of
walks, and write the same letters; tests compare them bit for bit with the torch walk, which stays the
path of every other device. A sequence therefore gets the same shuffles on the CPU and on a GPU.

A block of :data:`BLOCK` walks advances one position at a time, walk after walk: the steps of one walk
form a chain of dependent loads and multiplications, and interleaving independent walks lets the CPU
overlap those chains (measured 2.5x faster than walking each walk to its end in turn, 1,000 x 200 bp
x 20 shuffles on one core).

The kernels release the GIL, so the caller may run disjoint ranges of walks in several threads. They
compile on first use and are cached on disk (numba's ``cache=True``), so later processes load them.
"""

from __future__ import annotations

import numba
import numpy as np

BLOCK = 256  # walks interleaved in one loop (64 to 256 measured within a few percent)


@numba.njit(nogil=True, cache=True)
def walk_packed(state, start, lcg, n_vertices, n, plain, fixed, vertex, out, lo, hi, const):  # pragma: no cover
    """Advance walks ``lo..hi-1`` on the packed state; numba compiles it, so coverage cannot trace it.

    Parameters
    ----------
    state : (rows * n_vertices,) uint64, packed state of every letter of every walk (updated in place)
    start : (rows,) int64, the first letter's vertex of each walk
    lcg : (rows,) uint64, each walk's random stream before its first step
    n_vertices : int, letters per walk (the stride of ``state``)
    n : int, walks per sequence (walk ``r`` belongs to sequence ``r // n``)
    plain : bool, every letter known (one run per sequence; ``fixed`` and ``vertex`` are not read)
    fixed : (n_seq, L) bool, positions whose letter is fixed (run starts, unknown letters)
    vertex : (n_seq, L) int64, the vertex a fixed position sends its walk to
    out : (rows, L) int8, receives each position's letter (arbitrary at fixed positions)
    lo, hi : the range of walks to advance
    const : (7,) uint64, the packed layout's total mask, field unit, flags, flags with the last exit and
        letter multiplier, then the random stream's multiplier and increment (``shuffle._PACKED_CONSTANTS``)

    The arithmetic on the state is unsigned: numba turns a mix of int64 and uint64 into float64.
    """
    total, field, flags, flags_last, letter_mul = const[0], const[1], const[2], const[3], const[4]
    lcg_a, lcg_c = const[5], const[6]
    u2, u3, u14, u32, u62 = np.uint64(2), np.uint64(3), np.uint64(14), np.uint64(32), np.uint64(62)
    not3 = ~u3
    length = out.shape[1]
    fvs = np.empty(BLOCK, np.uint64)  # unsigned indices: numba then skips the negative-index check
    xs = np.empty(BLOCK, np.uint64)
    seqs = np.empty(BLOCK, np.int64)
    for b0 in range(lo, hi, BLOCK):
        nb = min(hi, b0 + BLOCK) - b0
        for k in range(nb):
            fvs[k] = np.uint64(start[b0 + k])
            out[b0 + k, 0] = (start[b0 + k] + 2) & 3
            xs[k] = lcg[b0 + k]
            seqs[k] = (b0 + k) // n
        for j in range(1, length):
            for k in range(nb):
                x = xs[k] * lcg_a + lcg_c
                xs[k] = x
                fv = fvs[k]
                c = state[fv]
                # t uniform over the unused non-last exits; a field's flag is set where C_k > t
                t = ((c & total) * (x >> u32)) >> u32
                c = c - t * field
                state[fv] = state[fv] - ((c & flags) >> u14)
                letter = ((c & flags_last) * letter_mul) >> u62
                out[b0 + k, j] = letter
                fv = (fv & not3) + ((letter + u2) & u3)
                if not plain and fixed[seqs[k], j]:
                    fv = np.uint64((b0 + k) * n_vertices + vertex[seqs[k], j])
                fvs[k] = fv


@numba.njit(nogil=True, cache=True)
def walk_wide(state, last, start, lcg, n_vertices, n, plain, fixed, vertex, out, lo, hi, const):  # pragma: no cover
    """:func:`walk_packed` on the unpacked state of letters with more exits than a packed field holds.

    ``state`` is ``(rows * n_vertices, 4)`` int64 (cumulative unused non-last exits to the letters of
    fields 0..2, then the total) and ``last`` ``(rows * n_vertices,)`` int64 each letter's last exit;
    the other parameters are those of :func:`walk_packed` (``const``: only its last two are read). The
    arithmetic on the state is signed, as in torch.
    """
    lcg_a, lcg_c, u32 = const[5], const[6], np.uint64(32)
    length = out.shape[1]
    fvs = np.empty(BLOCK, np.int64)
    xs = np.empty(BLOCK, np.uint64)
    seqs = np.empty(BLOCK, np.int64)
    for b0 in range(lo, hi, BLOCK):
        nb = min(hi, b0 + BLOCK) - b0
        for k in range(nb):
            fvs[k] = start[b0 + k]
            out[b0 + k, 0] = (fvs[k] + 2) & 3
            xs[k] = lcg[b0 + k]
            seqs[k] = (b0 + k) // n
        for j in range(1, length):
            for k in range(nb):
                x = xs[k] * lcg_a + lcg_c
                xs[k] = x
                fv = fvs[k]
                t = (np.int64(x >> u32) * state[fv, 3]) >> 32
                above = 0
                for f in range(3):
                    if state[fv, f] > t:
                        state[fv, f] -= 1
                        above += 1
                state[fv, 3] -= 1
                letter = (last[fv] + above) & 3
                out[b0 + k, j] = letter
                fv = (fv & ~3) + ((letter + 2) & 3)
                if not plain and fixed[seqs[k], j]:
                    fv = (b0 + k) * n_vertices + vertex[seqs[k], j]
                fvs[k] = fv
