"""Every elementwise function, products, max/min of two tensors and logsumexp keep summation-to-delta.

Rescale and RevealCancel hold for any elementwise function; each form (module, torch.*, F.*, method,
in-place) is checked in float64. Module forms are also checked against tangermeme and captum, which
implement Rescale independently.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from _engine_util import init_, onehot, random_refs
from torch import nn

from deeplift_genomics import attribute
from deeplift_genomics.core.errors import UnsupportedModelError

F64 = torch.float64


def _pos(h):
    return F.softplus(h) + 0.1


# name -> (function of the hidden layer, needs positive input)
FUNCTIONS = {
    "exp": (torch.exp, False),
    "exp_method": (lambda h: h.exp(), False),
    "expm1": (torch.expm1, False),
    "log": (torch.log, True),
    "log_method": (lambda h: h.log(), True),
    "log1p": (torch.log1p, True),
    "log2": (torch.log2, True),
    "sqrt": (torch.sqrt, True),
    "rsqrt": (torch.rsqrt, True),
    "reciprocal": (torch.reciprocal, True),
    "pow_half": (lambda h: h ** 0.5, True),
    "square": (torch.square, False),
    "pow2_operator": (lambda h: h ** 2, False),
    "pow3_method": (lambda h: h.pow(3), False),
    "abs": (torch.abs, False),
    "abs_builtin": (lambda h: abs(h), False),
    "softplus": (F.softplus, False),
    "softplus_beta": (lambda h: F.softplus(h, beta=2.0), False),
    "sigmoid_special": (torch.special.expit, False),
    "sigmoid_inplace": (lambda h: h.sigmoid_(), False),
    "tanh_method": (lambda h: h.tanh(), False),
    "gelu": (F.gelu, False),
    "gelu_tanh": (lambda h: F.gelu(h, approximate="tanh"), False),
    "silu": (F.silu, False),
    "elu": (lambda h: F.elu(h, 0.7), False),
    "selu": (torch.selu, False),
    "celu": (F.celu, False),
    "mish": (F.mish, False),
    "leaky_relu": (lambda h: F.leaky_relu(h, 0.2), False),
    "softsign": (F.softsign, False),
    "logsigmoid": (F.logsigmoid, False),
    "hardtanh": (F.hardtanh, False),
    "relu6": (F.relu6, False),
    "clamp": (lambda h: h.clamp(-0.5, 0.7), False),
    "clamp_min": (lambda h: torch.clamp_min(h, 0.1), False),
    "sin": (torch.sin, False),
    "erf": (torch.erf, False),
    "relu_inplace": (lambda h: torch.relu_(h), False),
}
MODULES = {
    "GELU": nn.GELU, "SiLU": nn.SiLU, "Mish": nn.Mish, "ELU": nn.ELU, "SELU": nn.SELU, "CELU": nn.CELU,
    "LeakyReLU": nn.LeakyReLU, "Softplus": nn.Softplus, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh,
    "Softsign": nn.Softsign, "ReLU6": nn.ReLU6, "LogSigmoid": nn.LogSigmoid, "Hardswish": nn.Hardswish,
    "Tanhshrink": nn.Tanhshrink, "Softshrink": nn.Softshrink,
}


class Mlp(nn.Module):
    """Linear -> [softplus + 0.1] -> f -> Linear -> f -> Linear: f fed by Linear layers and by f."""

    def __init__(self, fn, positive: bool):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(6, 5), nn.Linear(5, 4), nn.Linear(4, 2)
        self.fn, self.positive = fn, positive

    def forward(self, x):
        h = self.fc1(x)
        if self.positive:
            h = _pos(h)
        h = self.fn(h)
        h = self.fc2(h)
        if self.positive:
            h = _pos(h)
        return self.fc3(self.fn(h))


def _mlp(fn, positive, seed):
    return init_(Mlp(fn, positive).double(), seed=seed, scale=1.5)


def _rel_delta(res) -> float:
    return float(res.deltas.abs().max()) / max(1.0, float(res.outputs.abs().max()))


@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_sums_to_delta(name, rule):
    fn, positive = FUNCTIONS[name]
    model = _mlp(fn, positive, seed=len(name))
    g = torch.Generator().manual_seed(len(name))
    x = torch.randn(4, 6, generator=g, dtype=F64)
    refs = torch.randn(4, 3, 6, generator=g, dtype=F64)
    res = attribute(model, x, rule=rule, references=refs, dtype=F64, device="cpu")
    assert torch.isfinite(res.contributions).all()
    assert _rel_delta(res) < 1e-9


@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel"])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_sums_to_delta(name, rule):
    model = _mlp(MODULES[name](), False, seed=len(name))
    g = torch.Generator().manual_seed(len(name))
    x = torch.randn(4, 6, generator=g, dtype=F64)
    res = attribute(model, x, rule=rule, references=torch.randn(4, 3, 6, generator=g, dtype=F64), dtype=F64,
                    device="cpu")
    assert _rel_delta(res) < 1e-9


@pytest.mark.parametrize("name", ["log", "sqrt", "reciprocal", "exp", "gelu"])
def test_reference_equal_to_input_uses_the_gradient_and_gives_zero(name):
    # |x - r| = 0 everywhere: the multiplier is the derivative at the reference (no 0/0), contributions 0
    fn, positive = FUNCTIONS[name]
    model = _mlp(fn, positive, seed=3)
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(3), dtype=F64)
    for rule in ("rescale", "reveal_cancel"):
        res = attribute(model, x, rule=rule, references=x.clone(), dtype=F64, device="cpu")
        assert torch.isfinite(res.contributions).all()
        assert float(res.contributions.abs().max()) == 0.0


class TwoBranch(nn.Module):
    """Two input-dependent tensors combined: product, max/min, logsumexp, where with a fixed mask."""

    def __init__(self, how: str):
        super().__init__()
        self.a, self.b, self.head = nn.Linear(6, 5), nn.Linear(6, 5), nn.Linear(5, 2)
        self.register_buffer("mask", torch.tensor([True, False, True, True, False]))
        self.how = how

    def forward(self, x):
        a, b = torch.tanh(self.a(x)), self.b(x)
        if self.how == "product":
            h = a * b
        elif self.how == "square_product":
            h = b * b * a
        elif self.how == "maximum":
            h = torch.maximum(a, b)
        elif self.how == "max_two":
            h = torch.max(a, b) - b.min(a)
        elif self.how == "minimum":
            h = torch.minimum(a, torch.zeros_like(b))
        elif self.how == "logsumexp":
            h = torch.logsumexp(torch.stack([a, b], dim=-1), dim=-1) + b.logsumexp(-1, keepdim=True)
        else:  # where
            h = torch.where(self.mask, a, b)
        return self.head(h)


@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel", "genomics_default"])
@pytest.mark.parametrize("how", ["product", "square_product", "maximum", "max_two", "minimum", "logsumexp",
                                 "where"])
def test_two_input_dependent_tensors_sum_to_delta(how, rule):
    model = init_(TwoBranch(how).double(), seed=7, scale=2.0)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(5, 6, generator=g, dtype=F64)
    res = attribute(model, x, rule=rule, references=torch.randn(5, 4, 6, generator=g, dtype=F64), dtype=F64,
                    device="cpu")
    assert _rel_delta(res) < 1e-9


def test_product_is_the_shapley_split():
    # f(x) = x0 * x1: Shapley gives x0 the share (x0 - r0)(x1 + r1)/2, for any reference
    class P(nn.Module):
        def forward(self, x):
            return (x[:, 0] * x[:, 1]).unsqueeze(1)

    x = torch.tensor([[2.0, 3.0], [-1.0, 0.5]], dtype=F64)
    r = torch.tensor([[1.0, -2.0], [0.5, 4.0]], dtype=F64)
    res = attribute(P(), x, references=r, dtype=F64, device="cpu")
    expected = torch.stack([(x[:, 0] - r[:, 0]) * (x[:, 1] + r[:, 1]) / 2,
                            (x[:, 1] - r[:, 1]) * (x[:, 0] + r[:, 0]) / 2], dim=1)
    # float64 rounding of a few products of O(1) values: 1e-14 is ~45 units of 2^-53
    torch.testing.assert_close(res.contributions[:, 0], expected, rtol=0, atol=1e-14)


class Refused(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.fc, self.how = nn.Linear(6, 4), how

    def forward(self, x):
        h = self.fc(x)
        if self.how == "where":
            return torch.where(h > 0, h, torch.exp(h) - 1)
        if self.how == "max_dim":
            return h.max(dim=1, keepdim=True).values
        if self.how == "floor_divide":
            return torch.div(h, h.abs() + 1, rounding_mode="floor")
        return h * (h > 0).to(h.dtype)


@pytest.mark.parametrize("how,match", [
    ("where", r"where\(\).*condition that depends on the input"),
    ("max_dim", r"max\(\).*over a dimension"),
    ("floor_divide", r"div\(\).*rounding_mode"),
    ("mask", r"gt\(\).*comparison"),
])
def test_ops_without_an_exact_rule_are_refused_by_name(how, match):
    with pytest.raises(UnsupportedModelError, match=match):
        attribute(Refused(how).double(), torch.randn(2, 6, dtype=F64), references=torch.zeros(2, 6, dtype=F64),
                  dtype=F64, device="cpu")


def _conv_net(act: nn.Module, seed: int) -> nn.Module:
    net = nn.Sequential(nn.Conv1d(4, 5, 5), act, nn.Conv1d(5, 3, 3), act.__class__(), nn.Flatten(),
                        nn.Linear(3 * 14, 2))
    return init_(net.double(), seed=seed, scale=2.0)


TANGERMEME_MODULES = ["GELU", "SiLU", "Mish", "ELU", "SELU", "CELU", "LeakyReLU", "Softplus", "Sigmoid", "Tanh",
                      "ReLU6", "LogSigmoid", "Softshrink"]


@pytest.mark.parametrize("name", TANGERMEME_MODULES)
def test_rescale_equals_tangermeme(name):
    tdls = pytest.importorskip("tangermeme.deep_lift_shap", reason="tangermeme (bench extra) not installed")
    model = _conv_net(MODULES[name](), seed=len(name))
    x = onehot(3, 20, len(name))
    refs = torch.stack([onehot(3, 20, 100 + k) for k in range(2)], dim=1)
    ours = attribute(model, x, rule="rescale", references=refs, dtype=F64, device="cpu", target=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = tdls.deep_lift_shap(model, x, target=1, references=refs, device="cpu", warning_threshold=1e9)
    mine = ours.hypothetical[:, 0] * x
    # tangermeme sums the same float64 terms in another order: 1e-7 of the largest score leaves room for its
    # float32 steps
    torch.testing.assert_close(mine, theirs.to(F64), rtol=0, atol=1e-7 * float(theirs.abs().max()))


@pytest.mark.parametrize("name", ["ELU", "LeakyReLU", "Softplus", "Sigmoid", "Tanh"])
def test_rescale_equals_captum(name):
    captum_attr = pytest.importorskip("captum.attr", reason="captum (test extra) not installed")
    model = _conv_net(MODULES[name](), seed=len(name))
    x = onehot(3, 20, 2)
    refs = random_refs(x, 2, 2)
    ours = attribute(model, x, rule="rescale", references=refs, dtype=F64, device="cpu")
    theirs = torch.zeros_like(ours.contributions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = captum_attr.DeepLift(model)
        for t in range(2):
            for k in range(2):
                theirs[:, t] += explainer.attribute(x, baselines=refs[:, k], target=t).detach() / 2
    torch.testing.assert_close(ours.contributions, theirs, rtol=1e-7, atol=1e-9)
