"""The difference stream: Δ = x - r carried through the model, checked against independent answers.

- the carried output difference is ``model(x) - model(r)`` run by torch itself, and the contributions sum
  to it, over a grid of random nets and seeds, with inputs equal to their reference at some positions
  and differing by tiny amounts at others;
- its multipliers agree with the references' own pass (main's method) in float64;
- RevealCancel equals a from-scratch float64 recomputation of the paper's rule on a dense net;
- the compiled ReLU kernels equal the torch forms the other devices run;
- float32 stays within 1e-4 (of the largest score) of float64 on deep nets with small weights.
"""

from __future__ import annotations

import pytest
import torch
from _engine_util import NONLINEARITIES, ResidualCatNet, conv_net, init_, onehot, random_refs
from _toy_models import TOY_MODELS, toy_model
from torch import nn

from deeplift_genomics import attribute
from deeplift_genomics.engine import differences
from deeplift_genomics.engine import interpreter as engine
from deeplift_genomics.engine.graph import build_plan
from deeplift_genomics.engine.rules import pair

LENGTH = 24
RULES = ["rescale", "reveal_cancel", "genomics_default"]


def _refs_with_equal_and_tiny(x: torch.Tensor, r: int, seed: int, tiny: float) -> torch.Tensor:
    """Random references; at some positions equal to the input, at others within ``tiny`` of it."""
    refs = random_refs(x, r, seed)
    L = x.shape[-1]
    refs[..., : L // 4] = x[:, None, :, : L // 4]
    g = torch.Generator().manual_seed(seed + 1)
    noise = torch.randn(refs[..., L // 4: L // 2].shape, generator=g, dtype=x.dtype)
    refs[..., L // 4: L // 2] = x[:, None, :, L // 4: L // 2] + tiny * noise
    return refs


def _multipliers(model, x, refs, rule, stream, maxpool="exact"):
    plan = build_plan(model, x[:1])
    rules = engine.choose_rules(plan, rule)
    need_s = engine.nodes_needing_s(plan, rules)
    E = torch.eye(plan.n_outputs, dtype=x.dtype)
    return engine.deeplift_multipliers(plan, x, refs, E, rules, need_s, maxpool, stream)


def _target_values(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's outputs before a final sigmoid module (the engine attributes the logits), run by torch."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: seen.append((inp[0], out)))
             for m in model.modules() if isinstance(m, nn.Sigmoid)]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
    if seen and seen[-1][1] is out:
        out = seen[-1][0]
    return out.reshape(x.shape[0], -1)


def _check_against_torch(model, x, refs, rule, maxpool="exact"):
    mult, f_x, f_r = _multipliers(model, x, refs, rule, "difference", maxpool)
    n, R = refs.shape[:2]
    want = _target_values(model, x).reshape(n, 1, -1) - _target_values(
        model, refs.reshape(n * R, *x.shape[1:])).reshape(n, R, -1)
    carried = (f_x[:, None, :] - f_r).to(x.dtype)
    scale = max(1.0, float(want.abs().max()))
    # the carried output difference is the model's own, run by torch
    assert float((carried - want).abs().max()) / scale < 1e-9
    # and the contributions sum to it
    total = (mult * (x[:, None] - refs).unsqueeze(0)).reshape(mult.shape[0], n, R, -1).sum(-1)
    assert float((total.permute(1, 2, 0) - want).abs().max()) / scale < 1e-9
    return mult


@pytest.mark.parametrize("nonlin", sorted(NONLINEARITIES))
@pytest.mark.parametrize("rule", RULES)
def test_carried_difference_is_the_models_and_contributions_sum_to_it(nonlin, rule):
    # every nonlinearity and every rule meets each of the three pooling / BatchNorm / tiny-difference settings
    i = (sorted(NONLINEARITIES).index(nonlin) + RULES.index(rule)) % 3
    pool, bn, tiny = [(None, False, 1e-3), ("max", True, 1e-9), ("avg", False, 1e-6)][i]
    for seed in (0, 1):
        model = conv_net(LENGTH, nonlin, pool=pool, batchnorm=bn, seed=seed)
        x = onehot(2, LENGTH, seed)
        refs = _refs_with_equal_and_tiny(x, 3, seed, tiny)
        mult = _check_against_torch(model, x, refs, rule)
        ref_mult, _, _ = _multipliers(model, x, refs, rule, "reference")
        # the references' own pass (main's method) gives the same multipliers in float64
        scale = float(ref_mult.abs().max())
        assert float((mult - ref_mult).abs().max()) <= 1e-7 * scale


@pytest.mark.parametrize("name", sorted(set(TOY_MODELS) - {"where_on_input"}))  # that one is refused
@pytest.mark.parametrize("rule", RULES)
def test_every_toy_model_carries_its_own_difference(name, rule):
    model = toy_model(name, seed=3)
    from _toy_models import LENGTH as TOY_LENGTH

    x = onehot(2, TOY_LENGTH, 3)
    refs = _refs_with_equal_and_tiny(x, 2, 3, 1e-6)
    _check_against_torch(model, x, refs, rule)


@pytest.mark.parametrize("rule", RULES)
def test_residual_sums_and_concatenation_carry_differences(rule):
    model = init_(ResidualCatNet().double(), seed=5, scale=2.0)
    x = onehot(2, LENGTH, 5)
    _check_against_torch(model, x, _refs_with_equal_and_tiny(x, 3, 5, 1e-7), rule)


def test_gradient_routed_maxpool_carries_the_models_difference():
    model = conv_net(LENGTH, "relu", pool="max", seed=11)
    x = onehot(2, LENGTH, 11)
    refs = random_refs(x, 3, 11)
    _, f_x, f_r = _multipliers(model, x, refs, "rescale", "difference", maxpool="gradient")
    want = _target_values(model, x)[:, None] - _target_values(model, refs.reshape(-1, *x.shape[1:])).reshape(2, 3, -1)
    assert float(((f_x[:, None] - f_r) - want).abs().max()) < 1e-12 * max(1.0, float(want.abs().max()))


# --- RevealCancel against a from-scratch recomputation -------------------------------------------------
def _reveal_cancel_by_hand(layers: list[nn.Linear], x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Multipliers of the last (linear) output wrt the input, RevealCancel on every ReLU, one pair at a time.

    Written from the paper (Shrikumar et al. 2017, 3.5.3): the ReLU's input difference splits into its
    positive and negative terms ``p = sum max(w dx, 0)``, ``n = sum min(w dx, 0)``;
    ``dy+ = 1/2 [(f(r + p) - f(r)) + (f(r + n + p) - f(r + n))]``, ``m+ = dy+ / p`` (likewise ``m-``);
    a term ``w dx`` takes the multiplier of its part. Dense layers, a pair at a time, float64.
    """
    acts_x, acts_r = [x], [r]
    for layer in layers[:-1]:
        acts_x.append(torch.relu(layer(acts_x[-1])))
        acts_r.append(torch.relu(layer(acts_r[-1])))
    # backward: m_out is the multiplier of the final output wrt the current layer's output
    m = layers[-1].weight[0].clone()
    for k in range(len(layers) - 2, -1, -1):
        w = layers[k].weight
        dx = acts_x[k] - acts_r[k]
        terms = w * dx[None, :]  # (out, in)
        p = terms.clamp(min=0).sum(1)
        n = terms.clamp(max=0).sum(1)
        z_r = layers[k](acts_r[k])
        f = torch.relu
        pc_p, pc_n = p.clamp(min=1e-7), n.clamp(max=-1e-7)  # a part of 0 is evaluated at 1e-7
        m_pos = 0.5 * ((f(z_r + pc_p) - f(z_r)) + (f(z_r + n + pc_p) - f(z_r + n))) / pc_p
        m_neg = 0.5 * ((f(z_r + pc_n) - f(z_r)) + (f(z_r + p + pc_n) - f(z_r + p))) / pc_n
        # a term w_ij dx_j > 0 belongs to the positive part of unit i, < 0 to the negative part; a zero
        # term contributes nothing, and takes the mean of the two (the engine's convention)
        mean = 0.5 * (m_pos + m_neg)
        mult_terms = torch.where(terms > 0, m_pos[:, None], torch.where(terms < 0, m_neg[:, None], mean[:, None])) * w
        m = (m[:, None] * mult_terms).sum(0)
    return m


def test_reveal_cancel_equals_the_papers_rule_recomputed_in_float64():
    torch.manual_seed(0)
    layers = [nn.Linear(12, 9), nn.Linear(9, 7), nn.Linear(7, 1)]
    model = init_(nn.Sequential(layers[0], nn.ReLU(), layers[1], nn.ReLU(), layers[2]).double(), seed=4,
                  scale=2.0)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 12, generator=g, dtype=torch.float64)
    refs = torch.randn(3, 2, 12, generator=g, dtype=torch.float64)
    refs[:, 0, :4] = x[:, :4]  # some inputs equal to their reference
    for stream in ("difference", "reference"):
        mult, _, _ = _multipliers(model, x, refs, "reveal_cancel", stream)
        for i in range(3):
            for j in range(2):
                want = _reveal_cancel_by_hand(layers, x[i], refs[i, j])
                # the by-hand form divides f(r + 1e-7) - f(r) by 1e-7 where a part is 0: 1e-9 of float64 rounding
                torch.testing.assert_close(mult[0, i, j], want.detach(), rtol=1e-8, atol=1e-8)


# --- the compiled ReLU kernels against the torch forms ---------------------------------------------------
# 7 positions run the kernels' scalar loop only; 37 x 5 = 185 elements their vectorised body and remainder
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed,length", [(0, 7), (1, 37)])
def test_compiled_relu_kernels_equal_the_torch_forms(dtype, seed, length, monkeypatch):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 5, length, generator=g, dtype=dtype)
    d = torch.randn(12, 5, length, generator=g, dtype=dtype)
    d[::3] = 0  # inputs equal to their reference
    d[1, :, :3] = x[0, :, :3] * 0.5  # x and r on the same side
    d[5, :, ::2] = x[1, :, ::2]  # references at exactly 0
    d[2, :, 3:] = 1e-9 * torch.randn(d[2, :, 3:].shape, generator=g, dtype=dtype)  # tiny differences
    x[0, 0, 0] = 0.0
    s = d.abs() + torch.rand(d.shape, generator=g, dtype=dtype)
    s[4] = d[4].abs()  # all terms of one sign
    xp, dp = pair(x, d)
    sp = s.reshape(dp.shape)
    got = {}
    for compiled in (True, False):
        monkeypatch.setattr(differences, "COMPILED_CPU_RELU", compiled)
        monkeypatch.setattr(differences, "_COMPILED_MIN_ELEMENTS", 0)
        got[compiled] = (*differences._relu_rescale(xp, dp), *differences.relu_reveal_cancel_delta(xp, dp, sp))
    eps = torch.finfo(dtype).eps
    for a, b in zip(got[True], got[False]):
        torch.testing.assert_close(a, b, rtol=8 * eps, atol=8 * eps)


# --- float32 against float64 on deep nets with small weights --------------------------------------------
class DilatedResidual(nn.Module):
    """BPNet's body (a wide convolution, dilated residual ReLU convolutions) with a counts head."""

    def __init__(self, filters: int = 16, layers: int = 5):
        super().__init__()
        self.iconv = nn.Conv1d(4, filters, 21, padding=10)
        self.rconvs = nn.ModuleList([nn.Conv1d(filters, filters, 3, padding=2 ** i, dilation=2 ** i)
                                     for i in range(1, layers + 1)])
        self.linear = nn.Linear(filters, 2)

    def forward(self, x):
        h = torch.relu(self.iconv(x))
        for conv in self.rconvs:
            h = h + torch.relu(conv(h))
        return self.linear(h.mean(-1))


def _float32_error(model: nn.Module, x: torch.Tensor, refs: torch.Tensor, rule: str) -> float:
    res64 = attribute(model.double(), x.double(), rule=rule, references=refs.double(), dtype=torch.float64,
                      device="cpu")
    res32 = attribute(model.float(), x.float(), rule=rule, references=refs.float(), device="cpu")
    scale = float(res64.contributions.abs().max())
    return float((res32.contributions.double() - res64.contributions).abs().max()) / scale


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("seed", [0, 1])
def test_float32_within_1e4_of_float64_on_a_deep_small_weight_net(seed, rule):
    torch.manual_seed(seed)  # PyTorch's default (small) initial weights
    model = DilatedResidual().eval()
    x = onehot(3, 300, seed, torch.float32)
    refs = random_refs(x, 3, seed).float()
    assert _float32_error(model, x, refs, rule) <= 1e-4


def test_float32_within_1e4_of_float64_on_bpnet_lite_counts_heads():
    bpnet = pytest.importorskip("bpnetlite.bpnet")
    chrom = pytest.importorskip("bpnetlite.chrombpnet")
    import warnings

    def net(n_control, seed):
        torch.manual_seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bpnet.BPNet(n_filters=16, n_layers=4, n_control_tracks=n_control, verbose=False)

    x = onehot(2, 300, 0, torch.float32)
    refs = random_refs(x, 3, 0).float()
    for model in (bpnet.CountWrapper(bpnet.ControlWrapper(net(2, 0))),
                  bpnet.CountWrapper(chrom.ChromBPNet(net(0, 1), net(0, 2)))):
        assert _float32_error(model.eval(), x, refs, "rescale") <= 1e-4
