"""make_references: every kind gives (N, R, ...) with the documented content; bad shapes are refused."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from deeplift_genomics.core.errors import InputError
from deeplift_genomics.io.onehot import decode, one_hot
from deeplift_genomics.references.kinds import make_references

SEQS = ["ACGTTGCAAGGATCCA", "TTTTGGGGCCCCAAAA", "GATTACAGATTACAGA"]


@pytest.fixture
def x() -> torch.Tensor:
    return torch.tensor(one_hot(SEQS))


def test_shuffle_references_are_dinucleotide_shuffles(x):
    refs = make_references(x, "shuffle", n=5, seed=1)
    assert refs.shape == (3, 5, 4, 16) and refs.dtype == torch.float32
    for i, seq in enumerate(SEQS):
        for ref in decode(refs[i].numpy()):
            assert Counter(zip(ref, ref[1:])) == Counter(zip(seq, seq[1:]))
    # exact: shuffled references are one-hot (0/1)
    torch.testing.assert_close(refs, make_references(x.numpy(), "shuffle", n=5, seed=1), rtol=0, atol=0)


def test_background_and_zeros(x):
    bg = make_references(x.double(), "background", n=20, background=(0.1, 0.2, 0.3, 0.4))
    assert bg.shape == (3, 1, 4, 16) and bg.dtype == torch.float64
    assert torch.all(bg[:, 0, :, 7] == torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64))
    z = make_references(x, "zeros")
    assert z.shape == (3, 1, 4, 16) and not z.any()


def test_zeros_work_for_any_input_shape():
    z = make_references(torch.ones(5, 2), "zeros")
    assert z.shape == (5, 1, 2)


def test_tensor_references_per_sequence_or_shared(x):
    per_seq = torch.rand(3, 2, 4, 16)
    torch.testing.assert_close(make_references(x, per_seq), per_seq)
    shared = torch.rand(2, 4, 16, dtype=torch.float64)
    out = make_references(x, shared)
    assert out.shape == (3, 2, 4, 16) and out.dtype == torch.float32
    torch.testing.assert_close(out[2], shared.float())


def test_callable_references(x):
    def flip(xx, n, seed):
        return torch.stack([xx.flip(-1)] * n, dim=1)

    out = make_references(x, flip, n=3, seed=0)
    assert out.shape == (3, 3, 4, 16)
    torch.testing.assert_close(out[1, 2], x[1].flip(-1))


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (torch.zeros(4, 2, 4, 16), "4 sequences but x has 3"),
        (torch.zeros(3, 2, 4, 15), "does not fit x"),
        (torch.zeros(3, 0, 4, 16), "R = 0"),
        (torch.full((1, 4, 16), float("nan")), "NaN"),
        ("uniform", "unknown kind 'uniform'"),
        (lambda xx, n, seed: torch.zeros(3, 2, 5), "references callable"),
    ],
)
def test_bad_references_are_refused(x, kind, message):
    with pytest.raises(InputError, match=message):
        make_references(x, kind, n=2)


def test_bad_background_and_shapes_are_refused(x):
    with pytest.raises(InputError, match="sum to 1"):
        make_references(x, "background", background=(0.3, 0.3, 0.3, 0.3))
    with pytest.raises(InputError, match="4 non-negative"):
        make_references(x, "background", background=(0.5, 0.5))
    with pytest.raises(InputError, match=r"\(N, 4, L\)"):
        make_references(torch.zeros(3, 16, 4), "shuffle")
    with pytest.raises(InputError, match="n >= 1"):
        make_references(x, "shuffle", n=0)


def test_numpy_input_gives_a_tensor():
    out = make_references(np.asarray(one_hot(SEQS)), "zeros")
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
