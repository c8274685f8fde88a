"""Attention models as they are written: exact DeepLIFT through products, softmax, norms and torch.nn's attention.

Checked against facts, not against the code's own output: summation-to-delta on every sequence-reference pair,
the same scores for a model built from torch.nn modules and its hand-written twin (implementation invariance),
the product rule against two-player Shapley values computed by brute force, the softmax rule against another
stabilising constant, Rescale of a chain against Rescale of the composed function, batch independence.
"""

from __future__ import annotations

import pytest
import torch
from _attention_util import (
    AttentionVariantNet,
    ConvTransformer,
    EnformerStyleNet,
    HandWrittenTwin,
    MaskedAttentionNet,
    SdpaRmsNet,
    init_attention_,
)
from _engine_util import onehot
from torch import nn

from deeplift_genomics import attribute
from deeplift_genomics.engine import composite, interpreter
from deeplift_genomics.engine.graph import build_plan

F64 = torch.float64
LENGTH = 16
RULES = ["rescale", "reveal_cancel", "genomics_default"]


def _build(kind: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    if kind == "post_norm":
        model: nn.Module = ConvTransformer(norm_first=False, activation="gelu")
    elif kind == "pre_norm":
        model = ConvTransformer(norm_first=True, activation="relu")
    elif kind == "seq_first":
        model = ConvTransformer(norm_first=True, activation="gelu", batch_first=False)
    elif kind == "twin":
        model = HandWrittenTwin(init_attention_(ConvTransformer(norm_first=False).double(), seed))
    elif kind == "sdpa_rmsnorm":
        model = SdpaRmsNet()
    elif kind == "functional_rmsnorm":
        model = SdpaRmsNet(functional_norm=True)
    elif kind == "enformer_style":
        model = EnformerStyleNet(LENGTH)
    else:
        model = MaskedAttentionNet(LENGTH)
    return init_attention_(model.double(), seed)


def _pair_errors(model: nn.Module, res, x: torch.Tensor) -> tuple[float, float]:
    """Each pair's |sum of contributions - (f(x) - f(r))|: largest relative to its own |f(x) - f(r)|, and
    largest relative to the largest |f(x) - f(r)| of the batch (the output differences' scale)."""
    n, R = res.references.shape[:2]
    with torch.no_grad():
        fx = model(x)[:, res.targets]
        fr = model(res.references.flatten(0, 1)).reshape(n, R, -1)[..., res.targets]
    delta = (fx[:, None] - fr).abs()  # (n, R, T), from the model's own forward
    err = res.deltas.abs()  # (n, R, T): each pair's own sum minus its difference
    return float((err / delta.clamp_min(1e-300)).max()), float(err.max() / delta.max())


MODELS = ["post_norm", "pre_norm", "seq_first", "twin", "sdpa_rmsnorm", "functional_rmsnorm", "masked_mha",
          "enformer_style"]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("kind", MODELS)
def test_every_pair_sums_to_its_output_difference(kind, rule, seed):
    model = _build(kind, seed)
    x = onehot(3, LENGTH, seed)
    res = attribute(model, x, rule=rule, references="shuffle", n_references=3, dtype=F64, device="cpu", seed=seed,
                    return_references=True, hypothetical=False)
    own, scale = _pair_errors(model, res, x)
    print(f"{kind} {rule} seed {seed}: pair error {own:.1e} of its own difference, {scale:.1e} of the largest")
    # float64: each pair's contributions add up to its own f(x) - f(r) to rounding. Rescale's rounding is
    # relative to the differences themselves; RevealCancel's four evaluations of f round relative to f's values
    # (as the original's do), so its bound is relative to the output differences' scale
    if rule == "reveal_cancel":
        assert scale <= 1e-10, (kind, rule, own, scale)
    else:
        assert own <= 1e-10, (kind, rule, own, scale)


@pytest.mark.parametrize("kind", MODELS)
def test_the_traced_model_computes_what_the_module_does(kind):
    # the written-out modules (engine/expand.py) against torch.nn's own forward (its fused path included)
    model = _build(kind, 3)
    x = onehot(4, LENGTH, 3)
    res = attribute(model, x, references="zeros", dtype=F64, device="cpu")
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(res.outputs, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options", [
    {"batch_first": True}, {"batch_first": False, "add_bias_kv": True}, {"batch_first": True, "add_zero_attn": True},
    {"batch_first": True, "kdim": 10, "vdim": 10}, {"batch_first": False, "bias": False},
])
@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel"])
def test_multihead_attention_options(options, rule):
    torch.manual_seed(0)
    model = init_attention_(AttentionVariantNet(**options).double(), seed=6)
    x = onehot(3, LENGTH, 6)
    res = attribute(model, x, rule=rule, references="shuffle", n_references=3, dtype=F64, device="cpu", seed=6,
                    return_references=True, hypothetical=False)
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(res.outputs, expected, rtol=1e-12, atol=1e-12)
    _, scale = _pair_errors(model, res, x)
    assert scale <= 1e-10


@pytest.mark.parametrize("rule", ["rescale", "genomics_default"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("seed", [0, 5])
def test_modules_and_their_hand_written_twin_get_the_same_scores(rule, norm_first, seed):
    torch.manual_seed(seed)
    module_model = init_attention_(ConvTransformer(norm_first=norm_first).double(), seed)
    twin = HandWrittenTwin(module_model).eval()
    x = onehot(3, LENGTH, seed)
    kw = dict(rule=rule, references="shuffle", n_references=3, dtype=F64, device="cpu", seed=seed)
    a = attribute(module_model, x, **kw).contributions
    b = attribute(twin, x, **kw).contributions
    scale = float(a.abs().max())
    print(f"implementation invariance, {rule}, norm_first={norm_first}, seed {seed}: "
          f"{float((a - b).abs().max()) / scale:.1e} of the largest score")
    # LayerNorm's rsqrt against the twin's division by sqrt, nn.Linear against x @ W.T + b: the same
    # multipliers in exact arithmetic (docs/attention.md), float64 rounding apart
    assert float((a - b).abs().max()) <= 1e-8 * scale


def test_genomics_default_takes_reveal_cancel_only_after_a_dense_layer():
    model = _build("post_norm", 0)
    plan = build_plan(model, onehot(1, LENGTH, 0))
    rules = interpreter.choose_rules(plan, "genomics_default")
    chosen = {plan.by_node[n].where: r for n, r in rules.items()}
    reveal = [w for w, r in chosen.items() if r == "reveal_cancel"]
    # the ReLU after `dense` (on the pooled (N, 8) features) only; the FFN's GELU after a position-wise
    # Linear, softmax, rsqrt and the stem's ReLU take Rescale
    assert len(reveal) == 1 and "relu" in reveal[0], chosen
    assert any("softmax" in w for w in chosen) and any("rsqrt" in w for w in chosen)


class TwoPlayers(nn.Module):
    """``f(u, v) = g(A u, B v)`` for a bilinear ``g``: the input's first half is one player, the second the other."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.A = nn.Linear(6, 12, bias=True)
        self.B = nn.Linear(6, 12, bias=True)

    def forward(self, x):
        a, b = self.A(x[:, :6]), self.B(x[:, 6:])
        if self.how == "matmul":
            y = a.reshape(-1, 3, 4) @ b.reshape(-1, 4, 3)
        elif self.how == "bmm":
            y = torch.bmm(a.reshape(-1, 3, 4), b.reshape(-1, 3, 4).transpose(1, 2))
        elif self.how == "einsum":
            y = torch.einsum("nij,njk->nik", a.reshape(-1, 3, 4), b.reshape(-1, 4, 3))
        else:  # mul
            y = a * b
        return y.flatten(1)


@pytest.mark.parametrize("how", ["matmul", "bmm", "einsum", "mul"])
@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel"])
def test_product_rules_give_each_operand_its_two_player_shapley_value(how, rule):
    model = TwoPlayers(how).double().eval()
    g = torch.Generator().manual_seed(11)
    x = torch.randn(4, 12, generator=g, dtype=F64)
    r = torch.randn(4, 12, generator=g, dtype=F64)
    res = attribute(model, x, rule=rule, references=r, dtype=F64, device="cpu")
    # brute force: each half's mean marginal effect over the two orders of joining
    mixed_u = torch.cat([x[:, :6], r[:, 6:]], dim=1)
    mixed_v = torch.cat([r[:, :6], x[:, 6:]], dim=1)
    with torch.no_grad():
        fx, fr, fu, fv = model(x), model(r), model(mixed_u), model(mixed_v)
    phi_u = 0.5 * ((fu - fr) + (fx - fv))
    phi_v = 0.5 * ((fv - fr) + (fx - fu))
    c = res.contributions  # (N, K, 12)
    scale = float(fx.abs().max())
    torch.testing.assert_close(c[..., :6].sum(-1), phi_u, rtol=0, atol=1e-12 * scale)
    torch.testing.assert_close(c[..., 6:].sum(-1), phi_v, rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel"])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_contributions_do_not_depend_on_the_stabilising_constant(rule, log):
    g = torch.Generator().manual_seed(3)
    xz = torch.randn(2, 3, 5, generator=g, dtype=F64) * 3
    rz0 = torch.randn(2 * 4, 3, 5, generator=g, dtype=F64) * 3
    w = torch.randn(2 * 4, 3, 5, generator=g, dtype=F64)

    def multipliers(shift: float) -> torch.Tensor:
        rz = rz0.clone().requires_grad_(True)
        with torch.no_grad():
            base = torch.maximum(xz.repeat_interleave(4, 0).amax(-1, keepdim=True), rz0.amax(-1, keepdim=True))
        out = composite.softmax_rule(rz, xz, -1, rule, log=log, c=base + shift)
        (grad,) = torch.autograd.grad((out * w).sum(), rz)
        return grad

    default = multipliers(0.0)
    for shift in (-4.0, 2.5):
        # exact arithmetic: the constant cancels (docs/attention.md); float64 rounding of exp(+-4) scale factors
        torch.testing.assert_close(multipliers(shift), default, rtol=1e-11, atol=1e-12)


class Chain(nn.Module):
    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.fc = nn.Linear(5, 4)

    def forward(self, x):
        v = self.fc(x) ** 2 + 0.5
        if self.how == "rsqrt":
            return torch.rsqrt(v)
        if self.how == "sqrt_then_divide":
            return 1.0 / torch.sqrt(v)
        return torch.sqrt(v).reciprocal()


def test_rescale_on_a_chain_of_elementwise_functions_is_rescale_on_their_composition():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(6, 5, generator=g, dtype=F64)
    refs = torch.randn(6, 3, 5, generator=g, dtype=F64)
    torch.manual_seed(4)
    composed = Chain("rsqrt").double().eval()
    kw = dict(rule="rescale", references=refs, dtype=F64, device="cpu")
    expected = attribute(composed, x, **kw).contributions
    for how in ("sqrt_then_divide", "sqrt_then_reciprocal"):
        chained = Chain(how).double().eval()
        chained.load_state_dict(composed.state_dict())
        got = attribute(chained, x, **kw).contributions
        # the Rescale multipliers telescope: (Δs/Δv)(Δq/Δs) = Δq/Δv; float64 rounding apart
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-10 * float(expected.abs().max()))


@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel"])
def test_a_records_scores_do_not_depend_on_its_batch(rule):
    model = _build("pre_norm", 2)
    x = onehot(5, LENGTH, 2)
    refs = torch.stack([onehot(5, LENGTH, 20 + k) for k in range(3)], dim=1)
    kw = dict(rule=rule, dtype=F64, device="cpu", hypothetical=False)
    together = attribute(model, x, references=refs, **kw).contributions
    for i in (0, 3):
        alone = attribute(model, x[i:i + 1], references=refs[i:i + 1], **kw).contributions
        # another batch changes the blocking of float64 matmuls only: rounding-level differences
        torch.testing.assert_close(alone[0], together[i], rtol=0, atol=1e-12 * float(together.abs().max()))


@pytest.mark.parametrize("rule", ["rescale", "genomics_default"])
def test_float32_scores_stay_close_to_float64(rule):
    model64 = _build("post_norm", 1)
    model32 = _build("post_norm", 1).float()
    x = onehot(4, LENGTH, 1)
    kw = dict(rule=rule, references="shuffle", n_references=4, device="cpu", seed=1)
    c64 = attribute(model64, x, dtype=F64, **kw).contributions
    c32 = attribute(model32, x.float(), dtype=torch.float32, **kw).contributions
    err = float((c32.double() - c64).abs().max() / c64.abs().max())
    print(f"float32 vs float64, {rule}: {err:.2e} of the largest score")
    assert err < 1e-3


class Standardise(nn.Module):
    """Standardise over channels with torch's var/std or written out by hand, then ReLU and a dense head."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.stem = nn.Conv1d(4, 8, 3, padding=1)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        h = torch.tanh(self.stem(x)).transpose(1, 2)
        m = h.mean(-1, keepdim=True)
        if self.how == "var":
            y = (h - m) / torch.sqrt(h.var(-1, unbiased=False, keepdim=True) + 1e-5)
        elif self.how == "std":
            y = (h - m) / (torch.std(h, dim=-1, keepdim=True, correction=0) + 1e-5)
        else:
            y = (h - m) / (((h - m) ** 2).mean(-1, keepdim=True).sqrt() + 1e-5)
        return self.out(torch.relu(y).mean(1))


@pytest.mark.parametrize("how", ["var", "std"])
@pytest.mark.parametrize("rule", RULES)
def test_var_and_std_are_exact_and_match_them_written_out(how, rule):
    torch.manual_seed(8)
    model = init_attention_(Standardise(how).double(), seed=8)
    twin = Standardise("hand").double().eval()
    twin.load_state_dict(model.state_dict())
    x = onehot(3, LENGTH, 8)
    kw = dict(rule=rule, references="shuffle", n_references=3, dtype=F64, device="cpu", seed=8,
              return_references=True, hypothetical=False)
    res = attribute(model, x, **kw)
    own, scale = _pair_errors(model, res, x)
    assert (scale if rule == "reveal_cancel" else own) <= 1e-10
    if how == "std" and rule != "reveal_cancel":
        # std is sqrt of the same written-out variance: the same pieces, float64 rounding apart
        other = attribute(twin, x, **kw).contributions
        assert float((res.contributions - other).abs().max()) <= 1e-8 * float(other.abs().max())
