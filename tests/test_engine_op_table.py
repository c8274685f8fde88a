"""The op table (deeplift_genomics.engine.ops): one entry per kind, read by the planner and the interpreter.

Adding an op is one entry: the test below adds ``torch.cumsum`` (linear, non-negative weights) the way
docs/development.md shows, and checks that a model using it goes from refused to exact.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from _engine_util import onehot, random_refs
from torch import nn

from deeplift_genomics import attribute
from deeplift_genomics.core.errors import UnsupportedModelError
from deeplift_genomics.engine import ops
from deeplift_genomics.engine.graph import build_plan

LENGTH = 12


class CumsumNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 3)
        self.dense = nn.Linear(3 * (LENGTH - 2), 2)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h = torch.cumsum(h, dim=-1)
        return self.dense(torch.relu(h).flatten(1))


def _model() -> nn.Module:
    torch.manual_seed(0)
    return CumsumNet().double().eval()


def test_every_kind_the_planner_assigns_has_one_entry():
    names = [kind.name for kind in ops.OP_KINDS]
    assert len(names) == len(set(names))
    assert set(ops.KINDS) == set(names)
    for kind in ops.OP_KINDS:
        assert set(kind.methods) <= set(ops.METHODS), kind.name


def test_an_op_without_an_entry_is_refused_naming_it():
    with pytest.raises(UnsupportedModelError, match="cumsum"):
        build_plan(_model(), onehot(1, LENGTH, 0))


@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel"])
def test_one_entry_makes_a_new_op_exact(monkeypatch, rule):
    entry = ops.OpKind("cumsum", "linear with non-negative weights: running sums",
                       matches=lambda site: ops.target_in(site.callee, {torch.cumsum, "cumsum"}),
                       carries_mass=True, abs_mass=lambda step: step.run((step.s_of(step.op.dep_args[0]),
                                                                          *step.args[1:])))
    monkeypatch.setattr(ops, "OP_KINDS", (*ops.OP_KINDS, entry))
    monkeypatch.setitem(ops.KINDS, "cumsum", entry)
    model = _model()
    x = onehot(3, LENGTH, 1)
    refs = random_refs(x, 4, 2)
    res = attribute(model, x, rule=rule, references=refs, hypothetical=False, dtype=torch.float64)
    # independent: f(x) - f(r) from the model's own forward, averaged over the references
    with torch.no_grad():
        delta = (model(x)[:, None] - model(refs.flatten(0, 1)).reshape(3, 4, -1)).mean(1)
    total = res.contributions.sum(dim=(2, 3))
    # float64: summation-to-delta holds to rounding (~1e-15 relative); 1e-10 of the scale leaves room for sums
    assert torch.allclose(total, delta, rtol=0, atol=1e-10 * float(delta.abs().max()))


def test_a_kind_that_does_not_support_a_method_is_refused_for_it(monkeypatch):
    conv = ops.KINDS["weighted"]
    limited = dataclasses.replace(conv, methods=("deeplift",))
    monkeypatch.setattr(ops, "OP_KINDS", tuple(limited if k is conv else k for k in ops.OP_KINDS))
    monkeypatch.setitem(ops.KINDS, "weighted", limited)
    model = nn.Sequential(nn.Conv1d(4, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * (LENGTH - 2), 1)).double()
    x = onehot(2, LENGTH, 0)
    attribute(model, x, references="zeros")
    with pytest.raises(UnsupportedModelError, match="gradient_x_input"):
        attribute(model, x, method="gradient_x_input")
