"""Gradient baselines, hypothetical scores, references and ISM dispatch, against independent computations."""

from __future__ import annotations

import pytest
import torch
from _engine_util import conv_net, init_, onehot, random_refs
from torch import nn

from deeplift_genomics import attribute

F64 = torch.float64
LENGTH = 18


def autograd_grad(model, x, task):
    xi = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xi)[:, task].sum(), xi)
    return g


def test_gradient_x_input_is_the_gradient_at_x_times_x_minus_reference():
    model = conv_net(LENGTH, "softplus", seed=1)
    x = onehot(3, LENGTH, 1)
    refs = random_refs(x, 2, 1)
    res = attribute(model, x, method="gradient_x_input", references=refs, dtype=F64, device="cpu")
    for t in range(3):
        g = autograd_grad(model, x, t)
        expected = (g[:, None] * (x[:, None] - refs)).mean(1)
        torch.testing.assert_close(res.contributions[:, t], expected)
        with torch.no_grad():
            delta = model(x)[:, t, None] - model(refs.flatten(0, 1)).reshape(3, 2, 3)[:, :, t]
        torch.testing.assert_close(res.deltas[:, :, t], expected.new_tensor(
            [[float((g[i] * (x[i] - refs[i, k])).sum()) for k in range(2)] for i in range(3)]) - delta)


def test_integrated_gradients_is_exact_on_a_linear_model_and_converges_on_a_nonlinear_one():
    lin = init_(nn.Sequential(nn.Conv1d(4, 3, 3), nn.Flatten(), nn.Linear(3 * (LENGTH - 2), 2)).double(), 2)
    x = onehot(2, LENGTH, 2)
    refs = random_refs(x, 2, 2)
    res = attribute(lin, x, method="integrated_gradients", references=refs, n_steps=1, dtype=F64, device="cpu")
    assert float(res.deltas.abs().max()) < 1e-12
    model = conv_net(LENGTH, "tanh", seed=2)
    coarse = attribute(model, x, method="integrated_gradients", references=refs, n_steps=2, dtype=F64, device="cpu")
    fine = attribute(model, x, method="integrated_gradients", references=refs, n_steps=64, dtype=F64, device="cpu")
    assert float(fine.deltas.abs().max()) < 1e-3 < float(coarse.deltas.abs().max())


def test_integrated_gradients_uses_the_midpoint_rule():
    # f(x) = x^3 on one input, reference 0: the midpoint rule with 2 steps evaluates f' = 3 a^2 x^2 at
    # a = 1/4, 3/4, mean 3 * (1/16 + 9/16) / 2 = 15/16, times x for x = 1.
    class Cube(nn.Module):
        def forward(self, x):
            return torch.pow(x, 3)

    from deeplift_genomics import register_rule, unregister_rule

    register_rule(Cube, "nonlinearity")
    try:
        res = attribute(nn.Sequential(Cube()).eval(), torch.ones(1, 1, dtype=F64), method="integrated_gradients",
                        references=torch.zeros(1, 1, 1, dtype=F64), n_steps=2, dtype=F64, device="cpu")
    finally:
        unregister_rule(Cube)
    torch.testing.assert_close(res.contributions[0, 0, 0], torch.tensor(15 / 16, dtype=F64))


def test_guided_backprop_masks_negative_multipliers_by_hand():
    # y = relu(h1) - relu(h2), h1 = i1 + i2, h2 = i1 - i2, at i = (2, 1): both units active.
    # gradient: dy/di1 = 1 - 1 = 0, dy/di2 = 1 + 1 = 2. Guided backprop drops the negative multiplier
    # (-1) arriving at relu(h2): dy/di1 = 1, dy/di2 = 1.
    fc1 = nn.Linear(2, 2, bias=False).double()
    fc2 = nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        fc1.weight.copy_(torch.tensor([[1.0, 1.0], [1.0, -1.0]]))
        fc2.weight.copy_(torch.tensor([[1.0, -1.0]]))
    model = nn.Sequential(fc1, nn.ReLU(), fc2).eval()
    x = torch.tensor([[2.0, 1.0]], dtype=F64)
    zero = torch.zeros(1, 1, 2, dtype=F64)
    gb = attribute(model, x, method="guided_backprop_x_input", references=zero, dtype=F64, device="cpu")
    gi = attribute(model, x, method="gradient_x_input", references=zero, dtype=F64, device="cpu")
    torch.testing.assert_close(gb.contributions[0, 0], torch.tensor([2.0, 1.0], dtype=F64))
    torch.testing.assert_close(gi.contributions[0, 0], torch.tensor([0.0, 2.0], dtype=F64))


@pytest.mark.parametrize("method", ["deeplift", "gradient_x_input", "integrated_gradients"])
def test_hypothetical_scores_at_the_observed_base_are_the_projected_contributions(method):
    # contributions[b] = m[b] (x - r)[b]; with one-hot x (base h) their sum over b is
    # m[h] - sum_c r[c] m[c] = hypothetical[h]. Independently: hypothetical[b] from the multipliers.
    model = conv_net(LENGTH, seed=3)
    x = onehot(3, LENGTH, 3)
    res = attribute(model, x, method=method, references="shuffle", n_references=3, n_steps=3, dtype=F64,
                    device="cpu", return_references=True)
    torch.testing.assert_close(res.projected, (x[:, None] * res.hypothetical).sum(2))
    torch.testing.assert_close(res.projected, res.contributions.sum(2))
    assert res.references.shape == (3, 3, 4, LENGTH)


def test_hypothetical_formula_on_one_reference():
    # gradient_x_input with one reference: m is the gradient at x, so hyp[b] = m[b] - sum_c r[c] m[c].
    model = conv_net(LENGTH, seed=4)
    x = onehot(2, LENGTH, 4)
    res = attribute(model, x, method="gradient_x_input", references="background", dtype=F64, device="cpu")
    g = autograd_grad(model, x, 1)
    r = torch.tensor([0.3, 0.2, 0.2, 0.3], dtype=F64)[None, :, None]
    torch.testing.assert_close(res.hypothetical[:, 1], g - (r * g).sum(1, keepdim=True))


def test_callable_references_and_their_seed():
    model = conv_net(LENGTH, seed=5)
    x = onehot(2, LENGTH, 5)
    calls = []

    def refs(xb, n, seed):
        calls.append((xb.shape[0], n, seed))
        return torch.zeros(xb.shape[0], n, *xb.shape[1:], dtype=xb.dtype)

    a = attribute(model, x, references=refs, n_references=2, seed=7, dtype=F64, device="cpu")
    b = attribute(model, x, references="zeros", dtype=F64, device="cpu")
    assert calls == [(2, 2, 7)]
    torch.testing.assert_close(a.contributions, b.contributions)


def test_shuffled_references_are_reproducible_by_seed():
    model = conv_net(LENGTH, seed=6)
    x = onehot(2, LENGTH, 6)
    a = attribute(model, x, references="shuffle", n_references=2, seed=1, dtype=F64, return_references=True)
    b = attribute(model, x, references="shuffle", n_references=2, seed=1, dtype=F64, return_references=True)
    c = attribute(model, x, references="shuffle", n_references=2, seed=2, dtype=F64, return_references=True)
    # exact on any CPU: the same computation on the same shapes in one process (same kernels, same blocking);
    # references one-hot
    assert torch.equal(a.references, b.references) and torch.equal(a.contributions, b.contributions)
    assert not torch.equal(a.references, c.references)
    # shuffles keep the base composition of each sequence
    torch.testing.assert_close(a.references.sum(-1), x.sum(-1)[:, None].expand(2, 2, 4))


def test_ism_dispatch_scores_the_logits():
    model = conv_net(LENGTH, seed=7)
    x = onehot(2, LENGTH, 7)
    res = attribute(nn.Sequential(model, nn.Sigmoid()), x, method="ism", target=[1], dtype=F64, device="cpu")
    assert res.hypothetical.shape == (2, 1, 4, LENGTH) and res.targets == [1]
    # one substitution by hand, on the logits
    mutant = x[:1].clone()
    mutant[0, :, 5] = torch.tensor([1.0, 0, 0, 0]) if x[0, 0, 5] == 0 else torch.tensor([0, 1.0, 0, 0])
    b = int(mutant[0, :, 5].argmax())
    with torch.no_grad():
        expected = model(mutant)[0, 1] - model(x[:1])[0, 1]
    torch.testing.assert_close(res.hypothetical[0, 0, b, 5], expected)
    torch.testing.assert_close(res.outputs[:, 0], model(x)[:, 1].detach())
