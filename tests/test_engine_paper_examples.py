"""The worked examples of the DeepLIFT paper (Shrikumar et al. 2017, Figs. 1-3), numbers derived by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deeplift_genomics import attribute

F64 = torch.float64


def run(model, x, refs, **kw):
    x = torch.tensor(x, dtype=F64)
    refs = torch.tensor(refs, dtype=F64)
    return attribute(model, x, references=refs, dtype=F64, device="cpu", **kw)


class Saturating(nn.Module):
    """Fig. 1: y = 1 - ReLU(1 - h), h = i1 + i2."""

    def forward(self, x):
        h = x.sum(1, keepdim=True)
        return 1 - F.relu(1 - h)


@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel", "genomics_default"])
def test_fig1_saturation_gives_contributions_proportional_to_inputs(rule):
    # x = (1, 2), reference (0, 0): h goes 0 -> 3, y goes 0 -> 1 while the gradient at x is 0.
    # ReLU input z = 1 - h goes 1 -> -2 (dz = -3), its output 1 -> 0 (-1): slope 1/3, so dy/dh = 1/3
    # and i1, i2 get 1/3 and 2/3. RevealCancel: both terms of z are negative (p = 0, n = -3), so
    # m- = dy-/n = (-1)/(-3) = 1/3 again.
    res = run(Saturating(), [[1.0, 2.0]], [[[0.0, 0.0]]], rule=rule)
    torch.testing.assert_close(res.contributions[0, 0], torch.tensor([1 / 3, 2 / 3], dtype=F64))
    assert abs(float(res.deltas.abs().max())) < 1e-12


def test_fig1_gradient_times_input_sees_nothing_in_saturation():
    res = run(Saturating(), [[1.0, 2.0]], [[[0.0, 0.0]]], method="gradient_x_input")
    # exact on any CPU: the gradient in the ReLU's flat region is exactly 0, a zero times anything is 0
    assert torch.equal(res.contributions[0, 0], torch.zeros(2, dtype=F64))
    torch.testing.assert_close(res.deltas[0, 0, 0], torch.tensor(-1.0, dtype=F64))  # 0 - (1 - 0)


def thresholded_relu() -> nn.Module:
    """Fig. 2: y = ReLU(x - 10), a ReLU with bias -10."""
    lin = nn.Linear(1, 1).to(F64)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.bias.fill_(-10.0)
    return nn.Sequential(lin, nn.ReLU()).eval()


@pytest.mark.parametrize("eps", [1e-3, 0.5])
def test_fig2_deeplift_is_continuous_where_gradient_times_input_jumps(eps):
    model = thresholded_relu()
    x = [[10.0 - eps], [10.0 + eps]]
    refs = [[[0.0]], [[0.0]]]
    dl = run(model, x, refs, rule="rescale")
    gi = run(model, x, refs, method="gradient_x_input")
    # DeepLIFT with reference 0 gives y(x) - y(0): 0 below the threshold, eps above it.
    torch.testing.assert_close(dl.contributions[:, 0, 0], torch.tensor([0.0, eps], dtype=F64))
    # gradient x input jumps from 0 to 10 + eps across x = 10.
    torch.testing.assert_close(gi.contributions[:, 0, 0], torch.tensor([0.0, 10.0 + eps], dtype=F64))


class MinOfTwo(nn.Module):
    """Fig. 3: o = min(i1, i2) written as i1 - ReLU(i1 - i2)."""

    def forward(self, x):
        i1, i2 = x[:, 0:1], x[:, 1:2]
        return i1 - torch.relu(i1 - i2)


class MinOfTwoLinear(nn.Module):
    """Fig. 3 with the difference i1 - i2 computed by a Linear layer (genomics default: RevealCancel)."""

    def __init__(self):
        super().__init__()
        self.diff = nn.Linear(2, 1, bias=False).to(F64)
        with torch.no_grad():
            self.diff.weight.copy_(torch.tensor([[1.0, -1.0]]))
        self.act = nn.ReLU()

    def forward(self, x):
        return x[:, 0:1] - self.act(self.diff(x))


def test_fig3_rescale_gives_everything_to_one_input():
    # i = (3, 1), reference (0, 0): h = i1 - i2 = 2 stays on the linear side of the ReLU (slope 1), so
    # o's multipliers are 1 - 1 = 0 for i1 and 0 + 1 = 1 for i2: all of min = 1 goes to i2.
    res = run(MinOfTwo(), [[3.0, 1.0]], [[[0.0, 0.0]]], rule="rescale")
    torch.testing.assert_close(res.contributions[0, 0], torch.tensor([0.0, 1.0], dtype=F64))


@pytest.mark.parametrize("model,rule", [(MinOfTwo(), "reveal_cancel"), (MinOfTwoLinear(), "genomics_default"),
                                        (MinOfTwoLinear(), "reveal_cancel")])
def test_fig3_reveal_cancel_splits_the_minimum_in_half(model, rule):
    # h's terms: +3 (from i1) and -1 (from i2). dy+ = 1/2[(relu(3)-relu(0)) + (relu(2)-relu(-1))] = 5/2,
    # m+ = 5/6; dy- = 1/2[(relu(-1)-relu(0)) + (relu(2)-relu(3))] = -1/2, m- = 1/2.
    # i1: 1 - 5/6 = 1/6, times 3 = 1/2. i2: -(1/2)(-1) = 1/2, times 1 = 1/2. Each gets min/2.
    res = run(model, [[3.0, 1.0], [2.0, 4.0]], [[[0.0, 0.0]], [[0.0, 0.0]]], rule=rule)
    torch.testing.assert_close(res.contributions[0, 0], torch.tensor([0.5, 0.5], dtype=F64))
    # i = (2, 4): h terms +2, -4; dy+ = 1/2[(2 - 0) + (0 - 0)] = 1, m+ = 1/2;
    # dy- = 1/2[(0 - 0) + (0 - 2)] = -1, m- = 1/4. i1: (1 - 1/2) * 2 = 1; i2: (1/4) * 4 = 1.
    torch.testing.assert_close(res.contributions[1, 0], torch.tensor([1.0, 1.0], dtype=F64))


def test_fig3_genomics_default_uses_rescale_when_no_linear_layer_feeds_the_relu():
    res = run(MinOfTwo(), [[3.0, 1.0]], [[[0.0, 0.0]]], rule="genomics_default")
    torch.testing.assert_close(res.contributions[0, 0], torch.tensor([0.0, 1.0], dtype=F64))


@pytest.mark.parametrize("rule,expected", [("reveal_cancel", [0.8, 0.65, 0.65, 0.65]), ("rescale", [0.8] * 4)])
def test_zero_difference_inputs_take_half_of_each_multiplier(rule, expected):
    # One position, x = A, reference all zeros: h = sum of the 4 channels - 0.2 goes -0.2 -> 0.8.
    # Rescale: slope (0.8 - 0)/1 = 0.8 for every input. RevealCancel: p = 1 (from A), n = 0; m+ =
    # (relu(0.8) - relu(-0.2))/1 = 0.8, m- = 1/2[relu'(-0.2 from the left) + relu'(0.8 from the left)]
    # = 1/2; A (dx > 0) takes m+, C/G/T (dx = 0) take (m+ + m-)/2 = 0.65. With a zeros reference the
    # hypothetical scores are the multipliers.
    lin = nn.Linear(4, 1).to(F64)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.bias.fill_(-0.2)
    model = nn.Sequential(nn.Flatten(), lin, nn.ReLU()).eval()
    x = torch.tensor([[[1.0], [0.0], [0.0], [0.0]]], dtype=F64)
    res = attribute(model, x, rule=rule, references="zeros", dtype=F64, device="cpu")
    torch.testing.assert_close(res.hypothetical[0, 0, :, 0], torch.tensor(expected, dtype=F64))
    torch.testing.assert_close(res.contributions[0, 0, :, 0], torch.tensor([0.8, 0, 0, 0], dtype=F64))
