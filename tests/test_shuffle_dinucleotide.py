"""Dinucleotide shuffles: exact counts, ends kept, determinism, uniformity, one-order warning.

The shuffle (:mod:`deeplift_genomics.references.shuffle`) walks in compiled code on the CPU and in batched torch
operations elsewhere; both walks, and the numpy shuffle they replaced
(:mod:`deeplift_genomics.references.shuffle_legacy`), must keep every guarantee, so the tests of the facts they
share run on all three (the torch walk here on the CPU, as a GPU runs it).
"""

from __future__ import annotations

import itertools
import logging
import subprocess
import sys
from collections import Counter
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from deeplift_genomics.core.errors import InputError
from deeplift_genomics.io.onehot import decode, is_one_hot, one_hot
from deeplift_genomics.references import shuffle as torch_shuffle
from deeplift_genomics.references.shuffle import dinucleotide_shuffle, n_orders, sequence_keys, shuffle_tokens
from deeplift_genomics.references.shuffle_legacy import dinucleotide_shuffle_legacy


def compiled_walk_shuffle(x, n, seed):
    """:func:`dinucleotide_shuffle` with the compiled CPU walk, however small the call."""
    with mock.patch.object(torch_shuffle, "_COMPILED_MIN_STEPS", 0):
        return dinucleotide_shuffle(x, n, seed)


def torch_walk_shuffle(x, n, seed):
    """:func:`dinucleotide_shuffle` with the batched torch walk that devices other than the CPU run."""
    with mock.patch.object(torch_shuffle, "_COMPILED_CPU_WALK", False):
        return dinucleotide_shuffle(x, n, seed)


BOTH = pytest.mark.parametrize(
    "shuffle",
    [compiled_walk_shuffle, torch_walk_shuffle, dinucleotide_shuffle_legacy],
    ids=["compiled walk", "torch walk", "numpy"],
)


def dinucleotides(seq: str) -> Counter:
    return Counter(seq[i : i + 2] for i in range(len(seq) - 1))


def brute_force_orders(seq: str) -> set[str]:
    """Every arrangement of the letters of ``seq`` with its ends and dinucleotide counts."""
    want = dinucleotides(seq)
    return {
        "".join(p)
        for p in set(itertools.permutations(seq))
        if p[0] == seq[0] and p[-1] == seq[-1] and dinucleotides("".join(p)) == want
    }


def random_sequences(rng: np.random.Generator, n: int, length: int) -> list[str]:
    return ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]


@BOTH
@settings(max_examples=60, deadline=None)
@given(
    seqs=st.lists(st.text(alphabet="ACGT", min_size=1, max_size=40), min_size=1, max_size=4),
    n=st.integers(1, 5),
    seed=st.integers(0, 2**31),
)
def test_counts_and_ends_are_kept(shuffle, seqs, n, seed):
    length = len(seqs[0])
    seqs = [(s * length)[:length] for s in seqs]
    out = shuffle(one_hot(seqs), n, seed)
    assert out.shape == (len(seqs), n, 4, length)
    for i, seq in enumerate(seqs):
        assert is_one_hot(out[i], allow_empty_columns=False)
        for shuffled in decode(out[i]):
            assert dinucleotides(shuffled) == dinucleotides(seq)
            assert shuffled[0] == seq[0] and shuffled[-1] == seq[-1]


@BOTH
@settings(max_examples=40, deadline=None)
@given(seq=st.text(alphabet="ACGTN", min_size=1, max_size=40), seed=st.integers(0, 1000))
def test_unknown_letters_stay_in_place(shuffle, seq, seed):
    out = shuffle(one_hot([seq]), 3, seed)
    for shuffled in decode(out[0]):
        assert [i for i, c in enumerate(shuffled) if c == "N"] == [i for i, c in enumerate(seq) if c == "N"]
        assert dinucleotides(shuffled) == dinucleotides(seq)


def test_counts_match_brute_force_enumeration():
    rng = np.random.default_rng(5)
    for _ in range(40):
        seq = "".join(rng.choice(list("ACGT"), size=int(rng.integers(1, 9))))
        assert n_orders(seq) == len(brute_force_orders(seq)), seq


@BOTH
def test_shuffles_are_uniform_over_all_orders(shuffle):
    seq = "ACAGTACGA"
    orders = sorted(brute_force_orders(seq))
    assert len(orders) >= 6  # a test of uniformity needs several possible outcomes
    draws = decode(shuffle(one_hot([seq]), 6000, seed=11)[0])
    assert set(draws) <= set(orders)
    counts = Counter(draws)
    observed = np.array([counts[o] for o in orders])
    assert chisquare(observed).pvalue > 1e-3, dict(zip(orders, observed))


def test_deterministic_given_seed_and_independent_of_batch():
    rng = np.random.default_rng(0)
    x = one_hot(random_sequences(rng, 6, 120))
    a = dinucleotide_shuffle(x, 5, seed=3)
    # exact throughout this file: shuffles are one-hot (0/1) data, a permutation of the input's columns
    np.testing.assert_array_equal(a, dinucleotide_shuffle(x, 5, seed=3))
    np.testing.assert_array_equal(a[2:4], dinucleotide_shuffle(x[2:4], 5, seed=3))
    np.testing.assert_array_equal(a[:, :2], dinucleotide_shuffle(x, 2, seed=3))
    assert not np.array_equal(a, dinucleotide_shuffle(x, 5, seed=4))


def test_shuffles_are_distinct_and_differ_from_the_input():
    rng = np.random.default_rng(1)
    seq = random_sequences(rng, 1, 200)[0]
    shuffled = decode(dinucleotide_shuffle(one_hot([seq]), 20, seed=0)[0])
    assert len(set(shuffled)) == 20
    assert seq not in shuffled


def test_one_order_sequence_warns_and_returns_copies(caplog):
    seqs = ["ACGTTGCA", "AAAACCCC", "GATTACAG"]
    assert [len(brute_force_orders(s)) for s in seqs] == [1, 1, 2]
    x = one_hot(seqs)
    with caplog.at_level(logging.WARNING, logger="deeplift_genomics.references.shuffle"):
        out = dinucleotide_shuffle(x, 4, seed=0)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "sequence index 0, 1" in messages
    np.testing.assert_array_equal(out[1], np.repeat(x[1][None], 4, axis=0))


def test_torch_in_torch_out():
    rng = np.random.default_rng(2)
    x = one_hot(random_sequences(rng, 3, 50))
    xt = torch.tensor(x, dtype=torch.float64)
    out = dinucleotide_shuffle(xt, 4, seed=9)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.shape == (3, 4, 4, 50)
    np.testing.assert_array_equal(out.numpy(), dinucleotide_shuffle(x, 4, seed=9))


def test_bad_input_is_refused():
    with pytest.raises(InputError, match=r"\(N, 4, L\)"):
        dinucleotide_shuffle(np.zeros((2, 50)), 3)
    x = one_hot(["ACGTACGT"])
    x[0, :, 3] = 0.25
    with pytest.raises(InputError, match=r"x\[0, :, 3\]"):
        dinucleotide_shuffle(x, 3)
    with pytest.raises(InputError, match="non-negative"):
        dinucleotide_shuffle(one_hot(["ACGT"]), -1)


def chi_square_pvalue(draws: list[str], orders: list[str]) -> float:
    assert set(draws) <= set(orders), set(draws) - set(orders)
    counts = Counter(draws)
    return chisquare(np.array([counts[o] for o in orders])).pvalue


def test_every_sequence_of_a_batch_is_shuffled_uniformly():
    # different first/last letters, self-loops, a letter with many exits: each drawn in one batch
    seqs = ["ACAGTACGA", "GGATCCAGG", "TTAACATTA", "CACGTGACT"]
    n = 3000
    out = dinucleotide_shuffle(one_hot(seqs), n, seed=5)
    for i, seq in enumerate(seqs):
        orders = sorted(brute_force_orders(seq))
        assert len(orders) >= 3, seq
        assert chi_square_pvalue(decode(out[i]), orders) > 1e-3, seq


def test_runs_between_unknown_letters_are_shuffled_independently_and_uniformly():
    seq = "ACAGTACGA" + "NN" + "GATTACAG"
    first, second = seq[:9], seq[11:]
    orders = sorted(a + "NN" + b for a in brute_force_orders(first) for b in brute_force_orders(second))
    assert len(orders) >= 12
    draws = decode(dinucleotide_shuffle(one_hot([seq]), 6000, seed=2)[0])
    assert chi_square_pvalue(draws, orders) > 1e-3


def test_packed_and_unpacked_walks_make_the_same_draws():
    rng = np.random.default_rng(7)
    tokens = torch.from_numpy(rng.integers(0, 4, size=(12, 150)))
    tokens[torch.from_numpy(rng.random((12, 150)) < 0.08)] = 4  # unknown letters, runs of all lengths
    tokens[0] = torch.from_numpy(rng.integers(0, 4, size=150))  # and a sequence without any
    packed, one_a = shuffle_tokens(tokens, 6, seed=3)
    wide, one_b = shuffle_tokens(tokens, 6, seed=3, _wide=True)
    assert torch.equal(packed, wide) and torch.equal(one_a, one_b)


def test_letters_with_more_exits_than_the_packed_state_holds():
    rng = np.random.default_rng(8)
    seq = "A" * 8300 + "".join(rng.choice(list("ACGT"), size=60))
    out = decode(dinucleotide_shuffle(one_hot([seq]), 2, seed=1)[0])
    for shuffled in out:
        assert dinucleotides(shuffled) == dinucleotides(seq)
        assert shuffled[0] == seq[0] and shuffled[-1] == seq[-1]


def test_shuffles_do_not_depend_on_chunking_threads_or_batch_mates(monkeypatch):
    rng = np.random.default_rng(4)
    seqs = random_sequences(rng, 9, 60)
    seqs[3] = seqs[3][:20] + "NNN" + seqs[3][23:]
    x = one_hot(seqs)
    whole = dinucleotide_shuffle(x, 4, seed=21)
    monkeypatch.setattr(torch_shuffle, "_PIECE_STEPS", 1)  # one sequence per piece, pieces over threads
    monkeypatch.setattr(torch_shuffle, "_COMPILED_MIN_STEPS", 0)  # and walk compiled
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        np.testing.assert_array_equal(whole, dinucleotide_shuffle(x, 4, seed=21))
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(torch_shuffle, "_MAX_ROWS", 4)  # one sequence per chunk
    monkeypatch.setattr(torch_shuffle, "_CPU_RNG_BLOCK", 1)  # the torch walk draws one step at a time
    np.testing.assert_array_equal(whole, dinucleotide_shuffle(x, 4, seed=21))
    np.testing.assert_array_equal(whole, torch_walk_shuffle(x, 4, seed=21))
    np.testing.assert_array_equal(whole, compiled_walk_shuffle(x, 4, seed=21))
    for i in range(len(seqs)):
        np.testing.assert_array_equal(whole[i], dinucleotide_shuffle(x[i : i + 1], 4, seed=21)[0])


@pytest.mark.parametrize("wide", [False, True], ids=["packed", "wide"])
def test_compiled_and_torch_walks_draw_the_same_shuffles(monkeypatch, wide):
    """The CPU's compiled walk and the torch walk of other devices make the same draws, bit for bit."""
    rng = np.random.default_rng(9)
    tokens = torch.from_numpy(rng.integers(0, 4, size=(40, 90)))
    tokens[torch.from_numpy(rng.random((40, 90)) < 0.06)] = 4  # unknown letters, runs of all lengths
    tokens[3, 10:40] = 4
    tokens[4, :] = 4
    tokens[5, 1:] = 4  # a run of one letter
    tokens[6] = torch.tensor([0, 1] * 45)  # a sequence with only one order
    tokens[:20] = torch.from_numpy(rng.integers(0, 4, size=(20, 90)))  # and plain sequences
    monkeypatch.setattr(torch_shuffle, "_COMPILED_MIN_STEPS", 0)
    compiled = shuffle_tokens(tokens, 7, seed=12, _wide=wide)
    with mock.patch.object(torch_shuffle, "_COMPILED_CPU_WALK", False):
        batched = shuffle_tokens(tokens, 7, seed=12, _wide=wide)
    assert torch.equal(compiled[0], batched[0]) and torch.equal(compiled[1], batched[1])
    monkeypatch.setattr(torch_shuffle, "_PIECE_STEPS", 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        threaded = shuffle_tokens(tokens, 7, seed=12, _wide=wide)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(compiled[0], threaded[0]) and torch.equal(compiled[1], threaded[1])


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
@pytest.mark.parametrize("piece_steps", [1, 700, 1 << 18])
def test_shuffles_are_the_same_for_every_thread_count_and_piece_size(monkeypatch, threads, piece_steps):
    """The compiled walk's pieces, taken by any number of threads in any order, write the same letters.

    Equality holds exactly: each walk's letters come from integer arithmetic on its own row of the state
    and its own random stream, and a piece only selects which thread computes which rows.
    """
    rng = np.random.default_rng(15)
    seqs = random_sequences(rng, 30, 70)
    seqs[4] = seqs[4][:10] + "NN" + seqs[4][12:40] + "N" + seqs[4][41:]  # runs between unknown letters
    seqs[9] = "N" * 70
    x = one_hot(seqs)
    monkeypatch.setattr(torch_shuffle, "_COMPILED_MIN_STEPS", 0)
    one_thread = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        whole = dinucleotide_shuffle(x, 6, seed=5)
        monkeypatch.setattr(torch_shuffle, "_PIECE_STEPS", piece_steps)
        torch.set_num_threads(threads)
        split = dinucleotide_shuffle(x, 6, seed=5)
        assert torch.get_num_threads() == threads  # the call restores torch's thread count
    finally:
        torch.set_num_threads(one_thread)
    # integer walks per row (see the docstring): equal bit for bit whoever computed each row
    np.testing.assert_array_equal(whole, split)


def test_sequence_keys_wrap_like_64_bit_integers():
    """The tensor hash equals the same arithmetic on Python integers modulo 2**64."""
    mask = (1 << 64) - 1

    def mix(v):
        v &= mask
        v = ((v ^ (v >> 30)) * 0xBF58476D1CE4E5B9) & mask
        v = ((v ^ (v >> 27)) * 0x94D049BB133111EB) & mask
        return v ^ (v >> 31)

    def signed(v):
        return v - (1 << 64) if v >> 63 else v

    rng = np.random.default_rng(3)
    tokens = rng.integers(0, 5, size=(5, 17))
    seed = 2**40 + 7
    salt = 0x243F6A8885A308D3
    got = sequence_keys(torch.from_numpy(tokens), seed).tolist()
    for row, key in zip(tokens, got):
        content = sum(mix(int(c) + 8 * j + salt) for j, c in enumerate(row)) & mask
        scalar = mix(mix(seed) + 17 * 0x9E3779B97F4A7C15)
        assert key == signed(mix(content ^ scalar))


def test_dtypes_are_kept():
    x = torch.from_numpy(one_hot(["ACGTTGCAAC", "GATTACAGGA"]))
    for dtype in (torch.float16, torch.float64, torch.int64, torch.bool):
        out = dinucleotide_shuffle(x.to(dtype), 3, seed=1)
        assert out.dtype == dtype
        torch.testing.assert_close(out.float(), dinucleotide_shuffle(x, 3, seed=1))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_draws_the_same_shuffles_as_the_cpu():
    rng = np.random.default_rng(6)
    seqs = random_sequences(rng, 50, 200)
    seqs[7] = seqs[7][:50] + "N" * 10 + seqs[7][60:]
    x = torch.from_numpy(one_hot(seqs))
    on_gpu = dinucleotide_shuffle(x.cuda(), 20, seed=4)
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), dinucleotide_shuffle(x, 20, seed=4), rtol=0, atol=0)


def test_only_large_calls_load_numba():
    """Small CPU calls keep the torch walk, so a process that only shuffles small blocks never pays for
    numba's import and kernel load; a call of _COMPILED_MIN_STEPS steps or more walks compiled."""
    code = (
        "import sys, numpy as np\n"
        "from deeplift_genomics.references import shuffle\n"
        "x = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (64, 200))].transpose(0, 2, 1)\n"
        "shuffle.dinucleotide_shuffle(x, 20)\n"
        "small = 'numba' in sys.modules\n"
        "big = np.repeat(x, -(-shuffle._COMPILED_MIN_STEPS // (20 * 200 * 64)), axis=0)\n"
        "shuffle.dinucleotide_shuffle(big, 20)\n"
        "print(small, 'deeplift_genomics.references.shuffle_compiled' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"], done.stderr
