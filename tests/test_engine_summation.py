"""Summation-to-delta: contributions add up to f(x) - f(r) for every rule, reference kind and op."""

from __future__ import annotations

import pytest
import torch
from _engine_util import ResidualCatNet, conv_net, init_, onehot, random_refs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deeplift_genomics import attribute

RULES = ["rescale", "reveal_cancel", "genomics_default"]
LENGTH = 24


def max_rel_error(res) -> float:
    """|sum of contributions - delta| relative to max(1, |delta|), per (sequence, reference, task)."""
    # deltas = sum - (f(x) - f(r)); the scale is that of the outputs' differences
    scale = max(1.0, float(res.outputs.abs().max()))
    return float(res.deltas.abs().max()) / scale


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    nonlin=st.sampled_from(["relu", "sigmoid", "tanh", "softplus", "elu", "leaky_relu"]),
    rule=st.sampled_from(RULES),
    refs=st.sampled_from(["zeros", "background", "shuffle", "random"]),
    pool=st.sampled_from([None, "avg", "max"]),
    batchnorm=st.booleans(),
)
def test_contributions_sum_to_delta_float64(seed, nonlin, rule, refs, pool, batchnorm):
    model = conv_net(LENGTH, nonlin, pool=pool, batchnorm=batchnorm, seed=seed)
    x = onehot(3, LENGTH, seed)
    references = random_refs(x, 2, seed) if refs == "random" else refs
    res = attribute(model, x, rule=rule, references=references, n_references=3, dtype=torch.float64,
                    device="cpu", seed=seed, maxpool="exact")
    assert max_rel_error(res) < 1e-9


@pytest.mark.parametrize("rule", RULES)
def test_contributions_sum_to_delta_float32(rule):
    model = conv_net(LENGTH, "relu", pool="max", batchnorm=True, seed=3, dtype=torch.float32)
    x = onehot(4, LENGTH, 3, torch.float32)
    res = attribute(model, x, rule=rule, references="shuffle", n_references=4, device="cpu", maxpool="exact")
    assert res.deltas.dtype == torch.float32
    assert max_rel_error(res) < 1e-4


@pytest.mark.parametrize("rule", RULES)
def test_residual_add_and_concatenation_keep_summation(rule):
    model = init_(ResidualCatNet().double(), seed=5, scale=2.0)
    x = onehot(3, LENGTH, 5)
    res = attribute(model, x, rule=rule, references="shuffle", n_references=3, dtype=torch.float64, device="cpu")
    assert max_rel_error(res) < 1e-9


def test_gradient_maxpool_routing_breaks_summation_with_shuffles_but_exact_mode_keeps_it():
    # The original routes the max pool's multiplier to the input's argmax; with a shuffled reference the
    # reference's max sits elsewhere, and the sum no longer matches the output difference.
    model = conv_net(LENGTH, "relu", pool="max", seed=11)
    x = onehot(4, LENGTH, 11)
    kw = dict(rule="rescale", references="shuffle", n_references=4, dtype=torch.float64, device="cpu")
    routed = attribute(model, x, maxpool="gradient", **kw)
    exact = attribute(model, x, maxpool="exact", **kw)
    assert float(routed.deltas.abs().max()) > 1e-3
    assert float(exact.deltas.abs().max()) < 1e-9
    # with zeros references the reference activations are the same at every position: routing is exact
    zeros = attribute(model, x, maxpool="gradient", **{**kw, "references": "zeros"})
    assert float(zeros.deltas.abs().max()) < 1e-9


@pytest.mark.parametrize("refs", ["zeros", "background", "shuffle"])
def test_every_reference_kind_sums_to_delta(refs):
    model = conv_net(LENGTH, "relu", seed=2)
    x = onehot(3, LENGTH, 2)
    res = attribute(model, x, references=refs, n_references=3, dtype=torch.float64, device="cpu")
    assert res.deltas.shape == (3, 3 if refs == "shuffle" else 1, 3)
    assert max_rel_error(res) < 1e-9


class OddConvNet(torch.nn.Module):
    """'same' and strided/grouped/dilated convolutions, BatchNorm, dropout, scaling, a Linear on (N, L, C)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.c1, self.bn, self.drop = nn.Conv1d(4, 6, 5, padding="same"), nn.BatchNorm1d(6), nn.Dropout(0.3)
        self.c2 = nn.Conv1d(6, 6, 3, stride=2, groups=2, dilation=2, padding=1)
        self.c3, self.fc = nn.Conv1d(6, 4, 3), nn.Linear(4, 2)

    def forward(self, x):
        h = self.drop(torch.nn.functional.elu(self.bn(self.c1(x))))
        h = torch.sigmoid(self.c2(h)) * 2.0 - 1.0
        h = torch.nn.functional.softplus(self.c3(h)).permute(0, 2, 1)
        return self.fc(h).mean(1)


@pytest.mark.parametrize("rule", RULES)
def test_unusual_convolutions_and_layouts_keep_summation(rule):
    model = init_(OddConvNet().double(), seed=3, scale=2.0)
    x = onehot(3, 30, 1)
    res = attribute(model, x, rule=rule, references="shuffle", n_references=3, dtype=torch.float64, device="cpu")
    assert max_rel_error(res) < 1e-9
