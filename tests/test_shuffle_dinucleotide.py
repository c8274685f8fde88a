"""Dinucleotide shuffles: exact counts, ends kept, determinism, uniformity, one-order warning."""

from __future__ import annotations

import itertools
import logging
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from deeplift_genomics.errors import InputError
from deeplift_genomics.onehot import decode, is_one_hot, one_hot
from deeplift_genomics.shuffle import dinucleotide_shuffle, n_orders


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


@settings(max_examples=60, deadline=None)
@given(
    seqs=st.lists(st.text(alphabet="ACGT", min_size=1, max_size=40), min_size=1, max_size=4),
    n=st.integers(1, 5),
    seed=st.integers(0, 2**31),
)
def test_counts_and_ends_are_kept(seqs, n, seed):
    length = len(seqs[0])
    seqs = [(s * length)[:length] for s in seqs]
    out = dinucleotide_shuffle(one_hot(seqs), n, seed)
    assert out.shape == (len(seqs), n, 4, length)
    for i, seq in enumerate(seqs):
        assert is_one_hot(out[i], allow_empty_columns=False)
        for shuffled in decode(out[i]):
            assert dinucleotides(shuffled) == dinucleotides(seq)
            assert shuffled[0] == seq[0] and shuffled[-1] == seq[-1]


@settings(max_examples=40, deadline=None)
@given(seq=st.text(alphabet="ACGTN", min_size=1, max_size=40), seed=st.integers(0, 1000))
def test_unknown_letters_stay_in_place(seq, seed):
    out = dinucleotide_shuffle(one_hot([seq]), 3, seed)
    for shuffled in decode(out[0]):
        assert [i for i, c in enumerate(shuffled) if c == "N"] == [i for i, c in enumerate(seq) if c == "N"]
        assert dinucleotides(shuffled) == dinucleotides(seq)


def test_counts_match_brute_force_enumeration():
    rng = np.random.default_rng(5)
    for _ in range(40):
        seq = "".join(rng.choice(list("ACGT"), size=int(rng.integers(1, 9))))
        assert n_orders(seq) == len(brute_force_orders(seq)), seq


def test_shuffles_are_uniform_over_all_orders():
    seq = "ACAGTACGA"
    orders = sorted(brute_force_orders(seq))
    assert len(orders) >= 6  # a test of uniformity needs several possible outcomes
    draws = decode(dinucleotide_shuffle(one_hot([seq]), 6000, seed=11)[0])
    assert set(draws) <= set(orders)
    counts = Counter(draws)
    observed = np.array([counts[o] for o in orders])
    assert chisquare(observed).pvalue > 1e-3, dict(zip(orders, observed))


def test_deterministic_given_seed_and_independent_of_batch():
    rng = np.random.default_rng(0)
    x = one_hot(random_sequences(rng, 6, 120))
    a = dinucleotide_shuffle(x, 5, seed=3)
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
    with caplog.at_level(logging.WARNING, logger="deeplift_genomics.shuffle"):
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
