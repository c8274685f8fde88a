"""bpnet-lite's profile scaling ``z * softmax(z)`` on the difference stream, against independent answers.

- its stable output difference (``differences._profile_scaling_difference``) equals the subtraction
  ``f(r + d) - f(r)`` in float64, over a grid of seeds and sizes of ``d`` (both of its branches);
- in float32 it keeps the digits of a small difference, which the subtraction of two float32 values of
  ``f`` loses;
- on bpnet-lite's BPNet profile head the float64 contributions sum to the output difference, and float32's
  error against float64 stays within a small factor of what half an ulp of float32 in the weights moves
  the float64 scores by: the rule's ratio ``Δy_i / Δz_i`` makes those scores ill-conditioned
  (docs/precision.md), and float32 adds no more than that conditioning implies.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from _engine_util import onehot, random_refs

from deeplift_genomics import attribute
from deeplift_genomics.engine.differences import _profile_scaling_difference


def _f(z: torch.Tensor) -> torch.Tensor:
    return z * torch.softmax(z, dim=-1)


def _inputs(seed: int, size: float, dtype=torch.float64, n: int = 6, k: int = 50):
    g = torch.Generator().manual_seed(seed)
    r = (2 * torch.randn(n, k, generator=g, dtype=torch.float64)).to(dtype)
    d = (size * torch.randn(n, k, generator=g, dtype=torch.float64)).to(dtype)
    return r, d


@pytest.mark.parametrize("size", [1e-6, 1e-3, 0.1, 1.0, 4.0])
@pytest.mark.parametrize("seed", range(4))
def test_stable_difference_equals_the_subtraction_in_float64(seed, size):
    r, d = _inputs(seed, size)
    got = _profile_scaling_difference(r, d)
    want = _f(r + d) - _f(r)
    # the subtraction rounds relative to |f| (eps 2.2e-16 times a few), the closed form relative to its terms
    scale = float(_f(r).abs().max())
    assert float((got - want).abs().max()) <= 1e-13 * scale


@pytest.mark.parametrize("seed", range(4))
def test_float32_stable_difference_keeps_the_digits_of_a_small_difference(seed):
    r32, d32 = _inputs(seed, 1e-4, torch.float32)
    truth = _profile_scaling_difference(r32.double(), d32.double())  # float64 on the same float32 inputs
    stable = _profile_scaling_difference(r32, d32).double()
    naive = (_f(r32 + d32) - _f(r32)).double()
    err_stable = float((stable - truth).abs().max())
    err_naive = float((naive - truth).abs().max())
    # the closed form errs by a few float32 eps (1.2e-7) of the difference's size, the subtraction by a few
    # eps of f itself; with |d| ~ 1e-4 that is a factor of ~1e3 to 1e4 apart
    assert err_stable <= 64 * torch.finfo(torch.float32).eps * float(truth.abs().max())
    assert err_stable * 20 < err_naive


def _profile_net(seed: int):
    bpnet = pytest.importorskip("bpnetlite.bpnet")
    torch.manual_seed(seed)  # PyTorch's default (small) initial weights, as bench/precision.py
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = bpnet.BPNet(n_filters=16, n_layers=4, n_control_tracks=2, verbose=False)
    return bpnet.ProfileWrapper(bpnet.ControlWrapper(net)).eval()


def _scores(model, x, refs, dtype):
    res = attribute(copy.deepcopy(model).to(dtype), x.to(dtype), rule="rescale", references=refs.to(dtype),
                    dtype=dtype, device="cpu")
    return res


@pytest.mark.parametrize("seed", range(4))
def test_bpnet_profile_float64_sums_to_delta_and_float32_error_is_the_conditioning(seed):
    model = _profile_net(seed)
    x = onehot(2, 300, seed, torch.float32)
    refs = random_refs(x, 3, seed).float()
    r64 = _scores(model, x, refs, torch.float64)
    assert float(r64.deltas.abs().max()) <= 1e-9 * max(1.0, float(r64.outputs.abs().max()))
    scale = float(r64.contributions.abs().max())
    err32 = float((_scores(model, x, refs, torch.float32).contributions.double() - r64.contributions).abs().max())
    # the float64 scores of the same net with its weights moved by half a float32 ulp (random signs)
    eps32 = torch.finfo(torch.float32).eps
    moved = 0.0
    for k in range(2):
        m = copy.deepcopy(model).double()
        g = torch.Generator().manual_seed(100 + k)
        with torch.no_grad():
            for p in m.parameters():
                p.mul_(1 + 0.5 * eps32 * (2 * torch.randint(0, 2, p.shape, generator=g).double() - 1))
        moved = max(moved, float((_scores(m, x, refs, torch.float64).contributions - r64.contributions).abs().max()))
    # float32 is backward stable here: its error is of the order of the weights' own rounding's effect
    # (measured ratio 0.4 to 2 on the 700 bp nets of bench/profile_conditioning.py)
    assert err32 <= 10 * moved + 1e-5 * scale
