"""What the planner and the interpreter both need of one fx node: its :class:`Op`, its description, and
how to run it.

This module sits below the op table (:mod:`.ops`), the planner (:mod:`.graph`) and the interpreter
(:mod:`.interpreter`), so that each of them can use it without importing the others.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from .rules import Elementwise

# In-place binary operators run out of place: the engine reuses every intermediate value.
OUT_OF_PLACE = {operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
                operator.itruediv: operator.truediv}


@dataclass
class Op:
    """One fx node and what the engine does with it (``kind`` names its entry in :data:`.ops.OP_KINDS`)."""

    node: fx.Node
    kind: str
    where: str
    elem: Elementwise | None = None
    module: nn.Module | None = None
    family: str = ""  # weighted: "conv" | "linear"
    fed_by: str = "other"  # nonlinear: kind of the weighted layer feeding it
    dep_args: list[fx.Node] = field(default_factory=list)  # input-dependent tensor arguments


def describe(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    """Where an op sits, for messages: module path and class, or function and fx node name."""
    if node.op == "call_module":
        return f"module '{node.target}' ({type(modules[str(node.target)]).__name__})"
    if node.op == "call_function":
        name = getattr(node.target, "__name__", str(node.target))
        return f"function {name}() at fx node '{node.name}'"
    if node.op == "call_method":
        return f"method .{node.target}() at fx node '{node.name}'"
    return f"fx node '{node.name}' ({node.op})"


def target_in(target: object, table: Any) -> bool:
    """Whether an fx node's target is in ``table`` (False for unhashable targets)."""
    try:
        return target in table
    except TypeError:  # unhashable targets
        return False


def resolve_main(node: fx.Node) -> fx.Node:
    """The main (first) tensor argument of an op (of one whose first argument is a graph node)."""
    main = node.args[0]
    assert isinstance(main, fx.Node), f"fx node '{node.name}': its first argument is not a node"
    return main


def call(node: fx.Node, modules: dict[str, nn.Module], args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """Run one fx node on already-resolved arguments (in-place binary operators run out of place)."""
    target = node.target
    if node.op == "call_module":
        return modules[str(target)](*args, **kwargs)
    if node.op == "call_function" and callable(target):
        fn = OUT_OF_PLACE.get(target, target)
        return fn(*args, **kwargs)
    if node.op == "call_method":
        self_obj, *rest = args
        return getattr(self_obj, str(target))(*rest, **kwargs)
    if node.op == "get_attr":
        obj = modules[""]
        for part in str(target).split("."):
            obj = getattr(obj, part)
        return obj
    raise RuntimeError(f"cannot call fx node {node.op}")


def elementwise_fn(
    op: Op, modules: dict[str, nn.Module], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The nonlinearity as a function of its first tensor argument, never in place."""
    node = op.node
    inplace = bool(kwargs.get("inplace")) or any(a is True for a in args[1:]) or bool(
        getattr(op.module, "inplace", False)
    ) or (node.op != "call_module" and getattr(node.target, "__name__", str(node.target)).endswith("_")
          and not str(node.target).startswith("__"))
    rest = args[1:]

    def f(t: torch.Tensor) -> torch.Tensor:
        if inplace:
            t = t.clone()
        return call(node, modules, (t, *rest), kwargs)

    return f
