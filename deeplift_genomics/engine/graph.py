"""Trace a model with torch.fx and sort every op into what the DeepLIFT interpreter can do with it.

Everything is decided here, before any attribution is computed: an op the engine has no exact rule for
raises :class:`~deeplift_genomics.core.errors.UnsupportedModelError` naming the op and where it sits in the
model. What each kind of op is, how it is recognised and how it propagates is the op table,
:data:`~deeplift_genomics.engine.ops.OP_KINDS`; this module traces the model and walks its nodes through it.

Front end
---------
Models are traced with torch.fx, taking them as users have them: only the first argument of
``forward`` is symbolic; every other argument keeps its default (``X_ctl=None``), ``*args`` is empty and
``**kwargs`` is ``{}``, so wrappers with ``**kwargs`` and Python branches on those values
(``if X_ctl != None``) trace. Tensor constructors whose values depend on nothing but the input's shape
(``torch.zeros(x.shape[0], ...)``, ``zeros_like``, ``new_zeros``, ``ones``, ``full``, ``arange``, ...)
are recorded as constants. torch.export (an ATen graph) was measured as the alternative: it traces the
same wrappers but takes 0.4-3.5 s per model against 0.01 s, needs a symbolic batch dimension, and
inlines every module into ATen ops, losing the module boundaries the interpreter uses (channels-last
convolutions, user- and bpnet-lite-registered leaf modules such as ``_ProfileLogitScaling``).
"""

from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from ..core.errors import InputError, UnsupportedModelError
from .expand import module_expansion, traced_functions
from .nodes import Op, describe, resolve_main, target_in
from .ops import KINDS, SOFTMAX_MODULES, SOFTMAX_TARGETS, Site, classify
from .rules import USER_RULES
from .third_party_rules import known_rules

# Tensors whose values depend only on the shape (dtype, device) of their tensor argument: constants.
_SHAPE_ONLY_FUNCTIONS = {torch.zeros_like, torch.ones_like, torch.full_like, torch.empty_like}
_SHAPE_ONLY_METHODS = {"new_zeros", "new_ones", "new_full", "new_empty", "size", "dim"}
# Factories fx cannot trace when given a size from a Proxy (their argument parser rejects it before
# __torch_function__); patched during tracing to record a call_function node.
_FACTORIES = ("zeros", "ones", "full", "empty", "arange", "linspace", "eye", "tensor", "as_tensor")
_SIGMOID_NAMES = {"sigmoid"}


@dataclass
class Plan:
    """A traced model ready for the interpreter."""

    gm: fx.GraphModule
    ops: list[Op]
    input_node: fx.Node
    target_node: fx.Node
    head: str  # "none" | "sigmoid" | "softmax"
    n_outputs: int
    by_node: dict[fx.Node, Op]

    def modules(self) -> dict[str, nn.Module]:
        return dict(self.gm.named_modules())


class _Tracer(fx.Tracer):
    """fx tracer for models as users write them.

    Only the first argument of the root's ``forward`` becomes a placeholder; the others keep their
    defaults, ``*args`` is empty and ``**kwargs`` is ``{}``. Module classes with a registered rule (by
    the user, or known third-party ones such as bpnet-lite's) stay leaves, like torch.nn's own modules.
    """

    def __init__(self, rules: dict):
        super().__init__()
        self.rule_classes = tuple(k for k in rules if isinstance(k, type))

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if self.rule_classes and isinstance(m, self.rule_classes):
            return True
        return super().is_leaf_module(m, qualname)

    def call_module(self, m: nn.Module, forward, args, kwargs):
        # norms and attention are recorded written out (engine/expand.py), unless the user gave a rule
        expand = module_expansion(m)
        if expand is not None and not (self.rule_classes and isinstance(m, self.rule_classes)):
            return expand(m, *args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def create_args_for_root(self, root_fn, is_module, concrete_args=None):
        fn = inspect.unwrap(root_fn)
        params = list(inspect.signature(fn).parameters.values())[1 if is_module else 0:]
        if not params or params[0].kind not in (inspect.Parameter.POSITIONAL_ONLY,
                                                inspect.Parameter.POSITIONAL_OR_KEYWORD):
            return super().create_args_for_root(root_fn, is_module, concrete_args)
        first = self.create_proxy("placeholder", params[0].name, (), {})

        def bound(*args):
            return root_fn(*args)

        return bound, ([self.root] if is_module else []) + [first]


def _forward_inputs(model: nn.Module) -> list[str]:
    """Names of the arguments of ``model.forward`` that have no default (tensor inputs)."""
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return ["x"]
    return [p.name for p in params if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]


@contextlib.contextmanager
def _traceable_factories():
    """Let ``torch.zeros(x.shape[0], ...)`` and friends record a node when a size comes from the input."""
    originals = {name: getattr(torch, name) for name in _FACTORIES}

    def wrap(orig):
        def factory(*args, **kwargs):
            found: list[fx.Proxy] = []
            fx.node.map_aggregate((args, kwargs), lambda a: found.append(a) if isinstance(a, fx.Proxy) else None)
            if not found:
                return orig(*args, **kwargs)
            return found[0].tracer.create_proxy("call_function", orig, args, kwargs)

        factory.__name__ = orig.__name__
        return factory

    try:
        for name, orig in originals.items():
            setattr(torch, name, wrap(orig))
        yield
    finally:
        for name, orig in originals.items():
            setattr(torch, name, orig)


def active_rules(model: nn.Module) -> dict:
    """Rules in force for ``model``: known third-party modules (bpnet-lite), overridden by the user's."""
    return {**known_rules(model), **USER_RULES}


def trace(model: nn.Module, rules: dict | None = None) -> fx.GraphModule:
    """Symbolically trace ``model``; a model fx cannot trace raises UnsupportedModelError."""
    inputs = _forward_inputs(model)
    if len(inputs) > 1:
        raise UnsupportedModelError(
            f"model {type(model).__name__}: forward() takes {len(inputs)} tensor inputs without defaults "
            f"({', '.join(inputs) or 'none'}); the engine attributes models with exactly one input"
        )
    tracer = _Tracer(active_rules(model) if rules is None else rules)
    try:
        with _traceable_factories(), traced_functions():
            graph = tracer.trace(model)
    except Exception as exc:  # fx raises many types (TraceError, TypeError, NotImplementedError...)
        raise UnsupportedModelError(
            f"model {type(model).__name__}: torch.fx cannot trace it ({type(exc).__name__}: {exc}); the engine "
            "needs a model without control flow on the input's values or shape"
        ) from exc
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


def _is_tensorish(v) -> bool:
    if isinstance(v, torch.Tensor):
        return True
    return isinstance(v, (tuple, list)) and len(v) > 0 and all(isinstance(t, torch.Tensor) for t in v)


def is_softmax(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules[str(node.target)], SOFTMAX_MODULES)
    return node.op in ("call_function", "call_method") and node.target in SOFTMAX_TARGETS


def is_sigmoid(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules[str(node.target)], nn.Sigmoid)
    if node.op == "call_function":
        return node.target in (torch.sigmoid, F.sigmoid)
    return node.op == "call_method" and node.target in _SIGMOID_NAMES


class _Recorder(fx.Interpreter):
    def __init__(self, gm):
        super().__init__(gm)
        self.values: dict[fx.Node, object] = {}

    def run_node(self, n):
        out = super().run_node(n)
        self.values[n] = out
        return out


def build_plan(model: nn.Module, example: torch.Tensor, method: str = "deeplift") -> Plan:
    """Trace ``model`` (in eval mode), run it once on ``example`` and classify every op.

    Parameters
    ----------
    model
        The network; its output is ``(N, K)`` (or ``(N,)``, or a final sigmoid/softmax of such).
    example
        A small input batch ``(n, ...)`` used to learn which nodes hold tensors.
    method
        The attribution method that will run the plan: every op's entry must support it.

    Raises
    ------
    UnsupportedModelError
        For an op without an exact rule, naming it and where it is.
    InputError
        When the model does not run on inputs of this shape.
    """
    rules = active_rules(model)
    gm = trace(model, rules)
    modules = dict(gm.named_modules())
    input_node, target_node, head = _input_and_head(gm, model, modules)
    values = _record_values(gm, model, example)
    n_outputs = _output_count(model, values[target_node], head, example)
    ops, by_node = _classify_ops(gm, _ancestors(target_node), values, modules, rules)
    for op in ops:
        if method not in KINDS[op.kind].methods:
            raise UnsupportedModelError(f"unsupported op: {op.where} ({KINDS[op.kind].rule}): method {method!r} has "
                                        "no rule for it")
        if KINDS[op.kind].chooses_rule:
            op.fed_by = _fed_by(op.dep_args[-1] if op.kind == "divide" else resolve_main(op.node), by_node)
    return Plan(gm, ops, input_node, target_node, head, n_outputs, by_node)


def _input_and_head(
    gm: fx.GraphModule, model: nn.Module, modules: dict[str, nn.Module]
) -> tuple[fx.Node, fx.Node, str]:
    """The graph's one input node, the node to attribute and the head (none, sigmoid or softmax) stripped off it."""
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise UnsupportedModelError(
            f"model {type(model).__name__}: forward() takes {len(placeholders)} tensor inputs; the engine "
            "attributes models with exactly one input"
        )
    input_node = placeholders[0]
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    result = out_node.args[0]
    if not isinstance(result, fx.Node):
        raise UnsupportedModelError(
            f"model {type(model).__name__}: forward() returns {type(result).__name__}; the engine needs one tensor"
        )
    head = "none"
    target_node = result
    if is_sigmoid(result, modules):
        head, target_node = "sigmoid", resolve_main(result)
    elif is_softmax(result, modules):
        head, target_node = "softmax", resolve_main(result)
    return input_node, target_node, head


def _record_values(gm: fx.GraphModule, model: nn.Module, example: torch.Tensor) -> dict:
    """Run ``gm`` once on ``example`` and return the value every node took."""
    rec = _Recorder(gm)
    try:
        with torch.no_grad():
            rec.run(example)
    except Exception as exc:
        raise InputError(
            f"x: model {type(model).__name__} does not run on input of shape {tuple(example.shape[1:])} "
            f"per example ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    return rec.values


def _output_count(model: nn.Module, target_value: object, head: str, example: torch.Tensor) -> int:
    """K, the number of outputs per input; raise unless the target is an (N, K) tensor with one row per input."""
    if not isinstance(target_value, torch.Tensor) or target_value.ndim < 1 or target_value.shape[0] != example.shape[0]:
        raise UnsupportedModelError(
            f"model {type(model).__name__}: the output must be a tensor (N, K) with one row per input"
        )
    if head == "softmax" and target_value.ndim != 2:
        raise UnsupportedModelError(
            f"model {type(model).__name__}: a softmax head needs (N, K) logits, got shape {tuple(target_value.shape)}"
        )
    return int(target_value[0].numel())


def _ancestors(target_node: fx.Node) -> set[fx.Node]:
    """The nodes ``target_node`` depends on, itself included."""
    ancestors: set[fx.Node] = set()
    stack = [target_node]
    while stack:
        n = stack.pop()
        if n in ancestors:
            continue
        ancestors.add(n)
        stack.extend(n.all_input_nodes)
    return ancestors


def _classify_ops(
    gm: fx.GraphModule, ancestors: set[fx.Node], values: dict, modules: dict[str, nn.Module], rules: dict
) -> tuple[list[Op], dict[fx.Node, Op]]:
    """Classify every node the target depends on, in graph order, noting which arguments depend on the input."""
    dep: dict[fx.Node, bool] = {}
    ops: list[Op] = []
    by_node: dict[fx.Node, Op] = {}
    for node in gm.graph.nodes:
        if node not in ancestors:
            continue
        value = values.get(node)
        if node.op == "placeholder":
            dep[node] = True
            op = Op(node, "input", "the model input")
        elif not _is_tensorish(value):
            dep[node] = False
            op = Op(node, "meta", describe(node, modules))
        else:
            dep_args = [a for a in node.all_input_nodes if dep.get(a, False)]
            if _shape_only(node):
                dep_args = []
            dep[node] = bool(dep_args)
            if not dep_args:
                op = Op(node, "const", describe(node, modules))
            else:
                op = classify(Site(node, modules, dep_args, values, rules))
                op.dep_args = dep_args
        ops.append(op)
        by_node[node] = op
    return ops, by_node


def _shape_only(node: fx.Node) -> bool:
    """A tensor whose values depend on nothing but the shape, dtype and device of its arguments."""
    if node.op == "call_function":
        return target_in(node.target, _SHAPE_ONLY_FUNCTIONS)
    return node.op == "call_method" and node.target in _SHAPE_ONLY_METHODS


def _fed_by(node: fx.Node, by_node: dict[fx.Node, Op]) -> str:
    """The family of the weighted layer feeding a nonlinearity, looking back through BN/dropout/views."""
    while True:
        op = by_node.get(node)
        if op is None:
            return "other"
        if op.kind in ("weighted", "matmul_const"):
            return op.family or "other"
        if KINDS[op.kind].transparent and len(op.dep_args) == 1:
            node = op.dep_args[0]
            continue
        return "other"
