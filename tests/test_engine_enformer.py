"""Enformer (enformer-pytorch, small sizes, random weights) as it is: exact DeepLIFT through its crops,
attention pooling, relative-position attention, LayerNorm and heads.

The model is used unmodified behind a head that takes ``(N, 4, L)`` and returns ``(N, T)``; the facts
checked are summation-to-delta on every sequence-reference pair, batch independence, and float32
against float64.
"""

from __future__ import annotations

import pytest
import torch
from _engine_util import onehot, random_refs
from torch import nn

from deeplift_genomics import attribute
from deeplift_genomics.engine import interpreter
from deeplift_genomics.engine.graph import build_plan

enformer_pytorch = pytest.importorskip("enformer_pytorch")

TASKS = 3
# (dim, depth, heads, input length, target length): the second size's length, 60, is odd after two
# poolings, so its last attention pooling pads (Enformer's remainder branch) before it pools.
SIZES = {
    "d48-depth1-heads2": (48, 1, 2, 64, 4),
    "d24-depth2-heads2": (24, 2, 2, 60, 6),
}


class EnformerHead(nn.Module):
    """Enformer on ``(N, 4, L)``: the human tracks averaged over the kept positions, ``(N, T)``."""

    def __init__(self, enformer: nn.Module) -> None:
        super().__init__()
        self.enformer = enformer

    def forward(self, x):
        return self.enformer(x.transpose(1, 2))["human"].mean(1)


def enformer(size: str, seed: int = 0, dtype=torch.float64) -> nn.Module:
    """A small Enformer with seeded random weights, in eval mode.

    enformer-pytorch starts each attention's output projection at zero; it gets random weights here, and
    BatchNorm random running statistics, so that every part of the model moves the output.
    """
    dim, depth, heads, _, target = SIZES[size]
    torch.manual_seed(seed)
    model = enformer_pytorch.Enformer.from_hparams(
        dim=dim, depth=depth, heads=heads, output_heads=dict(human=TASKS), target_length=target,
        num_downsamples=3, dim_divisible_by=8, use_tf_gamma=False)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, enformer_pytorch.modeling_enformer.Attention):
                mod.to_out.weight.copy_(torch.randn(mod.to_out.weight.shape, generator=g) * 0.3)
            if isinstance(mod, nn.BatchNorm1d):
                assert mod.running_mean is not None and mod.running_var is not None
                mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
    return EnformerHead(model).to(dtype).eval()


def _output_differences(model: nn.Module, x: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
    """``f(x) - f(r)`` for every pair: ``(N, R, T)``."""
    n, r = refs.shape[:2]
    with torch.no_grad():
        return model(x)[:, None] - model(refs.reshape(n * r, *x.shape[1:])).reshape(n, r, -1)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel", "genomics_default"])
def test_enformer_sums_to_delta_on_every_pair(size, rule):
    model = enformer(size)
    length = SIZES[size][3]
    x = onehot(3, length, seed=1)
    refs = random_refs(x, 2, seed=2)
    res = attribute(model, x, references=refs, rule=rule, dtype=torch.float64)
    diff = _output_differences(model, x, refs)
    scale = float(diff.abs().max())
    assert scale > 1e-3  # the model's output moves with its input
    torch.testing.assert_close(res.outputs, model(x).detach(), rtol=1e-12, atol=1e-12)
    # every pair: the contributions add up to f(x) - f(r) within 1e-10 of the output difference
    assert res.deltas.shape == (3, 2, TASKS)
    assert float(res.deltas.abs().max()) <= 1e-10 * scale, float(res.deltas.abs().max()) / scale


def test_enformer_scores_do_not_depend_on_the_batch():
    model = enformer("d48-depth1-heads2")
    x = onehot(4, 64, seed=3)
    refs = random_refs(x, 3, seed=4)
    one = attribute(model, x, references=refs, batch_size=1, dtype=torch.float64)
    all_ = attribute(model, x, references=refs, batch_size=64, dtype=torch.float64)
    scale = float(all_.contributions.abs().max())
    # float64: other batch sizes may pick other kernels, whose rounding stays ~1e-15 of the scale on any CPU
    torch.testing.assert_close(one.contributions, all_.contributions, rtol=0, atol=1e-12 * scale)


def test_one_enformer_traces_for_each_input_length():
    model = enformer("d48-depth1-heads2")
    plans = {}
    for length in (64, 72):
        x = onehot(3, length, seed=length)
        plans[length] = build_plan(model, x[:1])
        # the plan, traced on one sequence, runs any batch of that length as the model does
        torch.testing.assert_close(interpreter.forward(plans[length], x), model(x).detach(), rtol=1e-12,
                                   atol=1e-12)
    assert plans[64].gm is not plans[72].gm


def test_enformer_float32_against_float64():
    model64 = enformer("d48-depth1-heads2")
    model32 = enformer("d48-depth1-heads2", dtype=torch.float32)
    x = onehot(4, 64, seed=5)
    refs = random_refs(x, 3, seed=6)
    r64 = attribute(model64, x, references=refs, dtype=torch.float64)
    r32 = attribute(model32, x.float(), references=refs.float(), dtype=torch.float32)
    scale = float(r64.contributions.abs().max())
    out_scale = float(_output_differences(model64, x, refs).abs().max())
    err = float((r32.contributions.double() - r64.contributions).abs().max()) / scale
    sum_err = float(r32.deltas.abs().max()) / out_scale
    print(f"Enformer float32 vs float64: contributions {err:.1e} of the largest, summation {sum_err:.1e} "
          "of the largest output difference")
    # float32 rounding through a few hundred ops, not a rule that differs between precisions
    assert err <= 1e-3 and sum_err <= 1e-3


def test_enformer_traces_again_after_set_target_length():
    model = enformer("d48-depth1-heads2")
    x = onehot(2, 64, seed=7)
    before = build_plan(model, x[:1])
    model.enformer.set_target_length(2)  # a Python attribute the crop reads: the cached trace is stale
    after = build_plan(model, x[:1])
    assert after.gm is not before.gm
    torch.testing.assert_close(interpreter.forward(after, x), model(x).detach(), rtol=1e-12, atol=1e-12)
