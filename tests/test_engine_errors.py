"""Bad input and unsupported models are refused with a clear message, before any computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _engine_util import conv_net, onehot
from torch import nn

from deeplift_genomics import attribute
from deeplift_genomics.core.errors import InputError, UnsupportedModelError

LENGTH = 16


@pytest.fixture(scope="module")
def model():
    return conv_net(LENGTH, seed=0, dtype=torch.float32)


@pytest.fixture(scope="module")
def x():
    return onehot(2, LENGTH, 0, torch.float32)


def test_channels_last_input_is_refused_with_its_shape(model, x):
    with pytest.raises(InputError, match=r"\(2, 16, 4\)"):
        attribute(model, x.transpose(1, 2), references="shuffle")


def test_wrong_alphabet_size_is_refused(model):
    with pytest.raises(InputError, match="4"):
        attribute(model, torch.zeros(2, 5, LENGTH), references="background")


def test_non_one_hot_input_is_refused_where_one_hot_is_needed(model, x):
    bad = x.clone()
    bad[1, :, 7] = 0.25
    with pytest.raises(InputError, match="sequence 1, position 7"):
        attribute(model, bad, references="shuffle")
    with pytest.raises(InputError, match="one-hot"):
        attribute(model, bad, references=torch.zeros(2, 1, 4, LENGTH), hypothetical=True)
    # with tensor references it is fine, without hypothetical scores
    res = attribute(model, bad, references=torch.zeros(2, 1, 4, LENGTH))
    assert res.hypothetical is None and res.contributions.shape == (2, 3, 4, LENGTH)


def test_target_out_of_range_is_refused(model, x):
    with pytest.raises(InputError, match="out of range.*3 outputs"):
        attribute(model, x, target=3, references="zeros")
    with pytest.raises(InputError, match="out of range"):
        attribute(model, x, target=[0, -1], references="zeros")


@pytest.mark.parametrize("kw,match", [
    ({"method": "shap"}, "method"),
    ({"rule": "rescal"}, "rule"),
    ({"references": "random"}, "references"),
    ({"batch_size": 0}, "batch_size"),
    ({"n_references": -2}, "n_references"),
    ({"maxpool": "max"}, "maxpool"),
    ({"references": torch.zeros(3, 1, 4, LENGTH)}, "references"),
])
def test_bad_options_are_refused(model, x, kw, match):
    with pytest.raises(InputError, match=match):
        attribute(model, x, **kw)


def test_nan_input_and_model_that_does_not_fit_the_input(model, x):
    bad = x.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        attribute(model, bad, references=torch.zeros(2, 1, 4, LENGTH))
    with pytest.raises(InputError, match="does not run"):
        attribute(model, onehot(2, LENGTH + 3, 0, torch.float32), references="zeros")


def test_numpy_input_is_accepted(model, x):
    res = attribute(model, x.numpy(), references="zeros")
    assert isinstance(res.contributions, torch.Tensor)
    np.testing.assert_allclose(res.projected.numpy(), res.contributions.sum(2).numpy())


class WithGroupNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 3)
        self.norm = nn.GroupNorm(1, 3)
        self.head = nn.Linear(3 * (LENGTH - 2), 2)

    def forward(self, x):
        return self.head(self.norm(self.conv(x)).flatten(1))


class WithFloorQuotient(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(4, 2, 3)
        self.b = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        return torch.div(self.a(x), self.b(x), rounding_mode="floor").mean(-1)


class WithWhereOnInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        h = self.conv(x)
        return torch.where(h > 0, h, 0.1 * h).mean(-1)


class WithDataDependentBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        h = self.conv(x)
        if h.sum() > 0:
            return h.mean(-1)
        return -h.mean(-1)


@pytest.mark.parametrize("net,match", [
    (WithGroupNorm, r"module 'norm' \(GroupNorm\)"),
    (WithFloorQuotient, r"div\(\).*fx node.*rounding_mode"),
    (WithWhereOnInput, r"where\(\).*condition that depends on the input"),
    (WithDataDependentBranch, "cannot trace"),
])
def test_unsupported_ops_are_named(x, net, match):
    with pytest.raises(UnsupportedModelError, match=match):
        attribute(net().eval(), x, references="zeros")


def test_unsupported_op_is_refused_before_attribution(x):
    # the model runs once, on one example, while the engine learns its graph; then it is refused
    model = WithGroupNorm().eval()
    seen = []
    model.conv.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[0]))
    with pytest.raises(UnsupportedModelError):
        attribute(model, x.repeat(50, 1, 1), references="zeros", batch_size=1)
    assert sum(seen) <= 1
