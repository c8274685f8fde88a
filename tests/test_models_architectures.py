"""Architectures users bring (tests/_toy_models.py) and how users write them (wrappers, optional args).

Each architecture either attributes with contributions that sum to the output difference, or is refused
by name before any computation.
"""

from __future__ import annotations

import pytest
import torch
from _engine_util import conv_net, onehot
from _toy_models import LENGTH, toy_model
from torch import nn

from deeplift_genomics import attribute
from deeplift_genomics.core.errors import UnsupportedModelError

F64 = torch.float64


def _rel_delta(res) -> float:
    return float(res.deltas.abs().max()) / max(1.0, float(res.outputs.abs().max()))


@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel", "genomics_default"])
@pytest.mark.parametrize("name", ["basset", "deepsea", "residual_dilated_gelu"])
def test_architecture_attributes_exactly(name, rule):
    model = toy_model(name, seed=1)
    x = onehot(3, LENGTH, 1)
    res = attribute(model, x, rule=rule, references="shuffle", n_references=3, dtype=F64, device="cpu",
                    maxpool="exact")
    assert res.contributions.shape == (3, 2, 4, LENGTH)
    assert _rel_delta(res) < 1e-9


def test_where_on_the_input_is_refused_by_name_before_computing():
    model = toy_model("where_on_input")
    calls = []
    model.conv.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    with pytest.raises(UnsupportedModelError, match=r"where\(\).*condition that depends on the input"):
        attribute(model, onehot(20, LENGTH, 0), references="shuffle", dtype=F64, device="cpu", batch_size=1)
    assert sum(calls) <= 1


class Wrapper(nn.Module):
    """How bpnet-lite-style wrappers look: an optional control, **kwargs, a branch on None."""

    def __init__(self, model, n_control: int = 0):
        super().__init__()
        self.model, self.n_control = model, n_control

    def forward(self, X, X_ctl=None, *args, scale=1.0, **kwargs):
        if X_ctl != None:  # noqa: E711 (as bpnet-lite writes it)
            return self.model(X + X_ctl, **kwargs) * scale
        if self.n_control == 0:
            return self.model(X, **kwargs) * scale
        X_ctl = torch.zeros(X.shape[0], 4, X.shape[-1], dtype=X.dtype, device=X.device)
        return self.model(X + X_ctl, **kwargs) * scale


class ShapeConstants(nn.Module):
    """Adds tensors that depend only on the input's shape: zeros_like, new_zeros, ones*0, full, arange."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        z = torch.zeros_like(x) + x.new_zeros(x.shape) + torch.full_like(x, 0.0)
        z = z + torch.ones(x.shape[0], 4, x.size(2), dtype=x.dtype) * 0.0 + torch.empty_like(x).zero_()
        pos = torch.arange(x.shape[-1], dtype=x.dtype) * 0.0
        y = self.model(x + z + pos)
        return y + torch.full((x.shape[0], 1), 0.5, dtype=x.dtype) - torch.ones_like(y) * 0.5


@pytest.mark.parametrize("wrap", [
    lambda m: Wrapper(m), lambda m: Wrapper(m, n_control=4), lambda m: Wrapper(Wrapper(m)), ShapeConstants,
])
def test_wrappers_and_shape_constants_give_the_plain_models_numbers(wrap):
    model = conv_net(20, seed=2)
    x = onehot(3, 20, 2)
    kw = dict(references="shuffle", n_references=3, dtype=F64, device="cpu")
    base = attribute(model, x, **kw)
    res = attribute(wrap(model), x, **kw)
    # float64, the wrapped model sums the same terms through another graph: 1e-12 is ~4,500 units of 2^-53 on
    # O(1) scores
    torch.testing.assert_close(res.contributions, base.contributions, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.outputs, base.outputs, rtol=0, atol=1e-12)


def test_a_second_required_input_is_refused_with_its_name():
    class TwoInputs(nn.Module):
        def forward(self, x, bias):
            return x.sum(-1) + bias

    with pytest.raises(UnsupportedModelError, match=r"2 tensor inputs.*x, bias"):
        attribute(TwoInputs(), onehot(2, 10, 0), references="zeros", dtype=F64, device="cpu")
