"""The front door (deeplift_genomics.engine.tracing): models with Python control flow on the input's shape
trace for the shape at hand, keep the batch size symbolic, and are cached per shape; control flow on the
input's values or on the batch size is refused, naming the line.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _engine_util import init_, onehot, random_refs
from torch import nn

from deeplift_genomics import attribute
from deeplift_genomics.core.errors import UnsupportedModelError
from deeplift_genomics.engine import interpreter
from deeplift_genomics.engine.graph import build_plan

einops = pytest.importorskip("einops")

TARGET = 3  # positions kept by ShapeBranches' crop


class ShapeBranches(nn.Module):
    """Python control flow on the input's shape only, in the ways Enformer and lab models write it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 3, padding=1)
        self.to_logits = nn.Conv1d(4, 4, 1)
        self.dense = nn.Linear(4 * TARGET + 1, 2)

    def forward(self, x):
        if x.ndim == 2:  # one unbatched sequence
            x = x.unsqueeze(0)
        h = torch.relu(self.conv(x))
        b, _, n = h.shape
        if n % 2:  # odd length: pad to pool pairs, as Enformer's attention pooling does
            h = F.pad(h, (0, 1))
        h = einops.rearrange(h, "b c (n p) -> b c n p", p=2).sum(-1)
        trim = (h.shape[-1] - TARGET) // 2
        if trim > 0:  # crop to the centre, as Enformer's TargetLengthCrop does
            h = h[..., trim:trim + TARGET]
        h = torch.relu(self.to_logits(h)) * 0.5
        parts = [p for p in h.chunk(2, dim=1)]  # iterating over a traced value with a known length
        ones = torch.ones(b, 1, dtype=x.dtype, device=x.device)  # the batch size stays symbolic
        flat = torch.cat(parts, dim=1).reshape(x.shape[0], -1)
        return self.dense(torch.cat([flat, ones], dim=1))


def _model() -> nn.Module:
    return init_(ShapeBranches().double().eval(), seed=3)


@pytest.mark.parametrize("length", [12, 15])
@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel", "genomics_default"])
def test_shape_branches_trace_at_each_length_and_sum_to_delta(length, rule):
    model = _model()
    x = onehot(4, length, seed=length)
    refs = random_refs(x, 3, seed=1)
    res = attribute(model, x, references=refs, rule=rule, dtype=torch.float64)
    with torch.no_grad():
        fx_ = model(x)
        fr = model(refs.reshape(-1, 4, length)).reshape(4, 3, -1)
    scale = float((fx_[:, None] - fr).abs().max())
    assert scale > 0
    assert float(res.deltas.abs().max()) <= 1e-10 * scale
    torch.testing.assert_close(res.outputs, fx_, rtol=1e-12, atol=1e-12)


def test_the_batch_size_is_not_baked_in():
    # chunks of 1, 3 and 8 pairs run the plan traced on one example; the scores do not depend on it
    model = _model()
    x = onehot(5, 13, seed=0)
    refs = random_refs(x, 4, seed=2)
    one = attribute(model, x, references=refs, batch_size=1, dtype=torch.float64)
    many = attribute(model, x, references=refs, batch_size=8, dtype=torch.float64)
    torch.testing.assert_close(one.contributions, many.contributions, rtol=1e-10, atol=1e-12)
    plan = build_plan(model, x[:1])
    torch.testing.assert_close(interpreter.forward(plan, x), model(x).detach(), rtol=1e-12, atol=1e-12)


def test_traces_are_cached_per_shape_and_redone_when_the_model_changes():
    model = _model()
    a = build_plan(model, onehot(1, 12, seed=0))
    # the same object: the cached trace was reused for the same per-example shape
    assert build_plan(model, onehot(2, 12, seed=1)).gm is a.gm
    b = build_plan(model, onehot(1, 15, seed=0))
    assert b.gm is not a.gm
    # a Python attribute the trace read changes: the cached trace no longer reproduces the model
    global TARGET
    old, TARGET = TARGET, 2
    try:
        model.dense = nn.Linear(4 * TARGET + 1, 2).double()
        x = onehot(3, 12, seed=2)
        c = build_plan(model, x[:1])
        assert c.gm is not a.gm
        torch.testing.assert_close(interpreter.forward(c, x), model(x).detach(), rtol=1e-12, atol=1e-12)
    finally:
        TARGET = old


class BranchOnValues(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        h = self.conv(x)
        if h.sum() > 0:
            return h.mean(-1)
        return -h.mean(-1)


class IntOfValues(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        h = self.conv(x)
        k = int(h.abs().sum().floor()) % 3 + 1
        return h[..., :k].mean(-1)


class BranchOnBatch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        h = self.conv(x).mean(-1)
        if x.shape[0] > 1:
            h = h - h.mean(0)
        return h


class BatchAsNumber(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        h = self.conv(x)
        return h.reshape(int(x.shape[0]), -1)


@pytest.mark.parametrize("net,match", [
    (BranchOnValues, r"cannot trace it: a Python branch .* at test_engine_tracing.py:\d+ `if h.sum\(\) > 0:` "
                     r"depends on the input's values"),
    (IntOfValues, r"cannot trace it: int\(\) at test_engine_tracing.py:\d+ .* depends on the input's values"),
    (BranchOnBatch, r"cannot trace it: a Python branch .*`if x.shape\[0\] > 1:` depends on the batch size"),
    (BatchAsNumber, r"cannot trace it: int\(\) .* depends on the batch size"),
])
def test_control_flow_on_values_or_batch_size_is_refused_naming_the_line(net, match):
    with pytest.raises(UnsupportedModelError, match=match):
        attribute(net().eval(), onehot(2, 10, seed=0, dtype=torch.float32), references="zeros")


class BranchOnTensorType(nn.Module):
    """Takes another branch while traced: its input is not a torch.Tensor then."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)

    def forward(self, x):
        h = self.conv(x).mean(-1)
        return h if isinstance(x, torch.Tensor) else 2 * h


def test_a_trace_that_does_not_reproduce_the_model_is_refused():
    with pytest.raises(UnsupportedModelError, match="traced graph does not give the model's own output"):
        build_plan(BranchOnTensorType().eval(), onehot(1, 10, seed=0, dtype=torch.float32))
