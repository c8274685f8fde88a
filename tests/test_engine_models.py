"""Any traceable model: functional ops, reused modules, residuals, heads, user rules; captum as an oracle."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch
from _engine_util import FunctionalNet, ResidualCatNet, ReusedReluNet, conv_net, init_, onehot, random_refs
from torch import nn

from deeplift_genomics import attribute, register_rule, unregister_rule

F64 = torch.float64
LENGTH = 20


def dl(model, x, refs, **kw):
    kw.setdefault("rule", "rescale")
    return attribute(model, x, references=refs, dtype=F64, device="cpu", **kw)


@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel", "genomics_default"])
def test_functional_and_reused_nonlinearities_give_the_same_numbers_as_modules(rule):
    seq = conv_net(LENGTH, seed=1)
    x = onehot(3, LENGTH, 1)
    refs = random_refs(x, 2, 1)
    base = dl(seq, x, refs, rule=rule)
    for other in (FunctionalNet(seq), ReusedReluNet(seq)):
        res = dl(other, x, refs, rule=rule)
        # float64: the two graphs sum the same terms in another order; 1e-12 is ~4,500 units of 2^-53 on O(1)
        # scores
        torch.testing.assert_close(res.contributions, base.contributions, rtol=0, atol=1e-12)
        torch.testing.assert_close(res.hypothetical, base.hypothetical, rtol=0, atol=1e-12)


def _captum_deeplift(model, x, refs, targets):
    from captum.attr import DeepLift

    n, r = refs.shape[:2]
    out = torch.zeros((n, len(targets), *x.shape[1:]), dtype=x.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = DeepLift(model)
        for ti, t in enumerate(targets):
            for k in range(r):
                out[:, ti] += explainer.attribute(x, baselines=refs[:, k], target=t).detach() / r
    return out


@pytest.mark.parametrize("which", ["conv", "residual_cat"])
def test_rescale_equals_captum_deeplift(which):
    pytest.importorskip("captum")
    if which == "conv":
        model = conv_net(LENGTH, seed=4, pool="avg", batchnorm=True)
    else:
        model = init_(ResidualCatNet().double(), seed=4, scale=2.0)
    x = onehot(3, LENGTH, 4)
    refs = random_refs(x, 2, 4)
    ours = dl(model, x, refs)
    theirs = _captum_deeplift(model, x, refs, ours.targets)
    torch.testing.assert_close(ours.contributions, theirs, rtol=1e-7, atol=1e-9)


def test_float32_agrees_with_float64():
    model = conv_net(LENGTH, seed=6)
    x = onehot(4, LENGTH, 6)
    for rule in ("rescale", "reveal_cancel"):
        r64 = attribute(model, x, rule=rule, references="shuffle", n_references=3, dtype=F64, device="cpu")
        r32 = attribute(model.float(), x.float(), rule=rule, references="shuffle", n_references=3, device="cpu")
        model.double()
        assert r32.contributions.dtype == torch.float32
        scale = float(r64.contributions.abs().max())
        # float32 against float64: 2^-24 per rounding over reductions of hundreds of terms, 1e-4 of the
        # largest score (3e-6 measured on the benchmark net, docs/development.md)
        torch.testing.assert_close(r32.contributions.double(), r64.contributions, rtol=0, atol=1e-4 * scale)


def test_final_sigmoid_is_stripped_and_softmax_is_mean_normalised():
    logits = conv_net(LENGTH, seed=7)
    x = onehot(3, LENGTH, 7)
    refs = random_refs(x, 2, 7)
    base = dl(logits, x, refs)
    sig = dl(nn.Sequential(logits, nn.Sigmoid()), x, refs)
    # float64, another graph for the same function: 1e-12 is ~4,500 units of 2^-53 on O(1) scores
    torch.testing.assert_close(sig.contributions, base.contributions, rtol=0, atol=1e-12)
    torch.testing.assert_close(sig.outputs, base.outputs)
    soft = dl(nn.Sequential(logits, nn.Softmax(dim=1)), x, refs)
    expected = base.contributions - base.contributions.mean(1, keepdim=True)
    # float64, softmax's mean-centring sums in another order: 1e-12 is ~4,500 units of 2^-53 on O(1) scores
    torch.testing.assert_close(soft.contributions, expected, rtol=0, atol=1e-12)
    assert float(soft.contributions.sum(1).abs().max()) < 1e-12  # normalised over the classes
    assert float(soft.deltas.abs().max()) < 1e-9  # against the mean-normalised logits


def test_targets_select_outputs_in_order():
    model = conv_net(LENGTH, seed=8)
    x = onehot(2, LENGTH, 8)
    full = dl(model, x, "zeros")
    some = dl(model, x, "zeros", target=[2, 0])
    one = dl(model, x, "zeros", target=1)
    assert some.targets == [2, 0] and one.targets == [1]
    torch.testing.assert_close(some.contributions, full.contributions[:, [2, 0]])
    torch.testing.assert_close(one.contributions, full.contributions[:, [1]])
    torch.testing.assert_close(some.outputs, full.outputs[:, [2, 0]])


def test_results_do_not_depend_on_batch_size():
    model = conv_net(LENGTH, seed=9)
    x = onehot(5, LENGTH, 9)
    refs = random_refs(x, 3, 9)
    a = dl(model, x, refs, rule="genomics_default", batch_size=1)
    b = dl(model, x, refs, rule="genomics_default", batch_size=7)
    c = dl(model, x, refs, rule="genomics_default", batch_size=1000)
    for other in (b, c):
        torch.testing.assert_close(other.contributions, a.contributions, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(other.hypothetical, a.hypothetical, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(other.deltas, a.deltas, rtol=1e-9, atol=1e-12)


def test_training_mode_is_switched_to_eval_with_a_warning_and_restored(caplog):
    model = conv_net(LENGTH, seed=10, batchnorm=True)
    x = onehot(2, LENGTH, 10)
    expected = dl(model, x, "zeros")
    model.train()
    with caplog.at_level(logging.WARNING):
        res = dl(model, x, "zeros")
    assert "training mode" in caplog.text
    assert model.training and all(m.training for m in model.modules())
    torch.testing.assert_close(res.contributions, expected.contributions)


class Cube(nn.Module):
    """A leaky cube written with torch.where on its input, which the engine refuses unless registered."""

    def forward(self, x):
        return torch.where(x > 0, x * x * x, 0.5 * x)


class CubeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.cube = Cube()
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(self.cube(self.fc1(x)))


def test_user_registered_nonlinearity_is_used_and_sums_to_delta():
    model = init_(CubeNet().double(), seed=12)
    x = torch.randn(3, 3, dtype=F64)
    refs = torch.zeros(3, 1, 3, dtype=F64)
    from deeplift_genomics.core.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError, match="where"):
        dl(model, x, refs)
    register_rule(Cube, "nonlinearity", derivative=lambda t: torch.where(t > 0, 3 * t * t, 0.5))
    try:
        for rule in ("rescale", "reveal_cancel", "genomics_default"):
            res = dl(model, x, refs, rule=rule)
            assert float(res.deltas.abs().max()) < 1e-9
            assert res.hypothetical is None and res.projected is None
    finally:
        unregister_rule(Cube)


def test_non_dna_inputs_with_tensor_references():
    model = init_(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double(), seed=13)
    x = torch.tensor([[0.5, -1.0], [2.0, 1.0]], dtype=F64)
    res = dl(model, x, torch.zeros_like(x), rule="reveal_cancel")
    assert res.contributions.shape == (2, 1, 2)
    assert res.deltas.shape == (2, 1, 1)
    assert float(res.deltas.abs().max()) < 1e-12
