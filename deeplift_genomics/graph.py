"""Trace a model with torch.fx and sort every op into what the DeepLIFT interpreter can do with it.

Everything is decided here, before any attribution is computed: an op the engine has no exact rule for
raises :class:`~deeplift_genomics.errors.UnsupportedModelError` naming the op and where it sits in the
model. Kinds of op (``Op.kind``):

``input``, ``meta`` (a non-tensor value such as ``x.size(0)``), ``const`` (a tensor that does not depend
on the input's values), ``weighted`` (Conv/Linear: the positive and negative parts of the output
difference are re-split by the sign of each term ``w_i dx_i``), ``bn`` (BatchNorm in eval: a per-channel
scale), ``unary`` (a linear op with non-negative weights applied to one tensor: pooling, views, slicing,
mean, dropout), ``pad``, ``add``/``shift``/``neg``/``scale``/``cat`` (sums, constant shifts and scales,
concatenation), ``user_linear``, ``nonlinear`` (elementwise), ``maxpool``, ``select`` (``torch.where``
with a condition that does not depend on the input: linear), ``product`` (a product of two input-dependent
tensors, Shapley split) and ``maximum``/``minimum`` (of two input-dependent tensors, as
``a + relu(b - a)``).

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

import builtins
import contextlib
import inspect
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from .bpnet_lite import known_rules
from .errors import InputError, UnsupportedModelError
from .rules import NONLINEAR_FUNCTIONS, NONLINEAR_METHODS, NONLINEAR_MODULES, USER_RULES, Elementwise

_UNARY_MODULES = (
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
    nn.Identity, nn.Flatten, nn.Unflatten,
    nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReplicationPad1d, nn.ReplicationPad2d,
)
_PAD_MODULES = (nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d, nn.ZeroPad2d)
_BN_MODULES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_WEIGHTED_MODULES = {nn.Conv1d: "conv", nn.Conv2d: "conv", nn.Conv3d: "conv", nn.Linear: "linear"}
_MAXPOOL_MODULES = (nn.MaxPool1d, nn.MaxPool2d)
_SOFTMAX_MODULES = (nn.Softmax, nn.LogSoftmax)

_UNARY_FUNCTIONS = {
    torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.squeeze, torch.unsqueeze,
    torch.mean, torch.sum, torch.narrow, torch.movedim, torch.swapaxes, torch.chunk, torch.split,
    torch.unbind, torch.clone, torch.flip, torch.roll,
    F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, torch.avg_pool1d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, torch.adaptive_avg_pool1d,
    operator.getitem, F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout,
}
_UNARY_METHODS = {
    "view", "reshape", "flatten", "unflatten", "permute", "transpose", "squeeze", "unsqueeze",
    "contiguous", "mean", "sum", "narrow", "chunk", "split", "unbind", "movedim", "swapaxes", "clone",
    "t", "expand", "repeat", "expand_as", "view_as", "reshape_as", "float", "double", "half", "to",
    "type_as", "flip", "roll",
}
_ADD = {operator.add, operator.iadd, torch.add, "add", "__add__", "__radd__"}
_SUB = {operator.sub, operator.isub, torch.sub, torch.subtract, "sub", "__sub__"}
_MUL = {operator.mul, operator.imul, torch.mul, torch.multiply, "mul", "__mul__", "__rmul__"}
DIVISION_TARGETS = {operator.truediv, operator.itruediv, torch.div, torch.true_divide, "div", "__truediv__"}
_NEG = {operator.neg, torch.neg, torch.negative, "neg", "__neg__"}
_CAT = {torch.cat, torch.concat, torch.concatenate, torch.stack}
_MAXPOOL_FUNCTIONS = {F.max_pool1d, F.max_pool2d, torch.max_pool1d, torch.max_pool2d}
_SOFTMAX = {F.softmax, torch.softmax, F.log_softmax, torch.log_softmax, "softmax", "log_softmax"}
_SIGMOID_NAMES = {"sigmoid"}
# Tensors whose values depend only on the shape (dtype, device) of their tensor argument: constants.
_SHAPE_ONLY_FUNCTIONS = {torch.zeros_like, torch.ones_like, torch.full_like, torch.empty_like}
_SHAPE_ONLY_METHODS = {"new_zeros", "new_ones", "new_full", "new_empty", "size", "dim"}
# Factories fx cannot trace when given a size from a Proxy (their argument parser rejects it before
# __torch_function__); patched during tracing to record a call_function node.
_FACTORIES = ("zeros", "ones", "full", "empty", "arange", "linspace", "eye", "tensor", "as_tensor")
_WHERE = {torch.where, "where"}
_MAXIMUM = {torch.maximum, torch.fmax, "maximum", "fmax"}
_MINIMUM = {torch.minimum, torch.fmin, "minimum", "fmin"}
_MAX_MIN = {torch.max: "maximum", "max": "maximum", torch.min: "minimum", "min": "minimum"}
_LOGSUMEXP = {torch.logsumexp, "logsumexp"}
_COMPARE = {operator.gt, operator.lt, operator.ge, operator.le, operator.eq, operator.ne, torch.gt, torch.lt,
            torch.ge, torch.le, torch.eq, torch.ne, torch.greater, torch.less, torch.isnan, torch.isinf,
            torch.signbit, torch.logical_and, torch.logical_or, torch.logical_not, operator.and_, operator.or_,
            operator.invert, "gt", "lt", "ge", "le", "eq", "ne", "__gt__", "__lt__", "__ge__", "__le__",
            "__eq__", "__ne__", "logical_and", "logical_or", "logical_not", "bool"}
# In-place binary operators run out of place: the engine reuses every intermediate value.
OUT_OF_PLACE = {operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
                operator.itruediv: operator.truediv}


@dataclass
class Op:
    """One fx node and what the engine does with it."""

    node: fx.Node
    kind: str
    where: str
    elem: Elementwise | None = None
    module: nn.Module | None = None
    family: str = ""  # weighted: "conv" | "linear"
    fed_by: str = "other"  # nonlinear: kind of the weighted layer feeding it
    dep_args: list[fx.Node] = field(default_factory=list)  # input-dependent tensor arguments


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
        with _traceable_factories():
            graph = tracer.trace(model)
    except Exception as exc:  # fx raises many types (TraceError, TypeError, NotImplementedError...)
        raise UnsupportedModelError(
            f"model {type(model).__name__}: torch.fx cannot trace it ({type(exc).__name__}: {exc}); the engine "
            "needs a model without control flow on the input's values or shape"
        ) from exc
    return fx.GraphModule(tracer.root, graph, type(model).__name__)


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


def _is_tensorish(v) -> bool:
    if isinstance(v, torch.Tensor):
        return True
    return isinstance(v, (tuple, list)) and len(v) > 0 and all(isinstance(t, torch.Tensor) for t in v)


def _op_key(node: fx.Node, modules: dict[str, nn.Module]):
    if node.op == "call_module":
        return type(modules[str(node.target)])
    return node.target


def _lookup_class(table: dict, cls: type):
    for base in cls.__mro__:
        if base in table:
            return table[base]
    return None


def is_softmax(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules[str(node.target)], _SOFTMAX_MODULES)
    return node.op in ("call_function", "call_method") and node.target in _SOFTMAX


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


def build_plan(model: nn.Module, example: torch.Tensor) -> Plan:
    """Trace ``model`` (in eval mode), run it once on ``example`` and classify every op.

    Parameters
    ----------
    model
        The network; its output is ``(N, K)`` (or ``(N,)``, or a final sigmoid/softmax of such).
    example
        A small input batch ``(n, ...)`` used to learn which nodes hold tensors.

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

    rec = _Recorder(gm)
    try:
        with torch.no_grad():
            rec.run(example)
    except Exception as exc:
        raise InputError(
            f"x: model {type(model).__name__} does not run on input of shape {tuple(example.shape[1:])} "
            f"per example ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    values = rec.values
    target_value = values[target_node]
    if not isinstance(target_value, torch.Tensor) or target_value.ndim < 1 or target_value.shape[0] != example.shape[0]:
        raise UnsupportedModelError(
            f"model {type(model).__name__}: the output must be a tensor (N, K) with one row per input"
        )
    if head == "softmax" and target_value.ndim != 2:
        raise UnsupportedModelError(
            f"model {type(model).__name__}: a softmax head needs (N, K) logits, got shape {tuple(target_value.shape)}"
        )
    n_outputs = int(target_value[0].numel())

    ancestors: set[fx.Node] = set()
    stack = [target_node]
    while stack:
        n = stack.pop()
        if n in ancestors:
            continue
        ancestors.add(n)
        stack.extend(n.all_input_nodes)

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
                op = _classify(node, modules, dep_args, values, rules)
                op.dep_args = dep_args
        ops.append(op)
        by_node[node] = op

    for op in ops:
        if op.kind == "nonlinear":
            op.fed_by = _fed_by(resolve_main(op.node), by_node)
    return Plan(gm, ops, input_node, target_node, head, n_outputs, by_node)


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
        if op.kind == "weighted":
            return op.family
        if op.kind in ("bn", "unary", "pad", "shift", "scale", "neg") and len(op.dep_args) == 1:
            node = op.dep_args[0]
            continue
        return "other"


def _unsupported(node: fx.Node, modules, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"unsupported op: {describe(node, modules)}: {why}. Register a rule with "
        "deeplift_genomics.register_rule(op, 'nonlinearity' | 'linear') if it is elementwise or linear"
    )


def _classify(node: fx.Node, modules, dep_args: list[fx.Node], values, rules: dict | None = None) -> Op:
    where = describe(node, modules)
    key = _op_key(node, modules)
    first = node.args[0] if node.args else None
    main_only = len(dep_args) == 1 and first is dep_args[0]
    rules = USER_RULES if rules is None else rules

    user = rules.get(key)
    if user is None and node.op == "call_module":
        user = _lookup_class({k: v for k, v in rules.items() if isinstance(k, type)}, key)
    if user is not None:
        if not main_only:
            raise _unsupported(node, modules, "a registered op must take the input-dependent tensor first and only")
        kind, elem = user
        return Op(node, "nonlinear" if kind == "nonlinearity" else "user_linear", where, elem=elem)

    if node.op == "call_module":
        mod = modules[node.target]
        fam = _lookup_class(_WEIGHTED_MODULES, type(mod))
        if fam is not None:
            return Op(node, "weighted", where, module=mod, family=fam)
        if isinstance(mod, _BN_MODULES):
            if mod.training or mod.running_var is None:
                raise _unsupported(node, modules, "BatchNorm without running statistics depends on the batch")
            return Op(node, "bn", where, module=mod)
        if isinstance(mod, _UNARY_MODULES):
            return Op(node, "unary", where, module=mod)
        if isinstance(mod, _PAD_MODULES):
            return Op(node, "pad", where, module=mod)
        if isinstance(mod, _MAXPOOL_MODULES):
            if mod.return_indices:
                raise _unsupported(node, modules, "max pooling that returns indices")
            return Op(node, "maxpool", where, module=mod)
        elem = _lookup_class(NONLINEAR_MODULES, type(mod))
        if elem is not None:
            return Op(node, "nonlinear", where, elem=elem, module=mod)
        if isinstance(mod, _SOFTMAX_MODULES):
            raise _unsupported(node, modules, "softmax is supported only as the model's last op")
        raise _unsupported(node, modules, "no DeepLIFT rule for this module")

    target = node.target
    if node.op == "call_function" and target is builtins.getattr:
        raise _unsupported(node, modules, "attribute access on a tensor")
    if target_in(target, NONLINEAR_FUNCTIONS) or (node.op == "call_method" and target in NONLINEAR_METHODS):
        if not main_only:
            raise _unsupported(node, modules, "a nonlinearity of more than one input-dependent tensor")
        elem = NONLINEAR_METHODS[target] if isinstance(target, str) else NONLINEAR_FUNCTIONS[target]
        return Op(node, "nonlinear", where, elem=elem)
    if target_in(target, _COMPARE):
        if node.users and all(target_in(u.target, _WHERE) and u.args and u.args[0] is node for u in node.users):
            return Op(node, "mask", where)  # refused with the where that uses it
        raise _unsupported(node, modules, "a comparison of an input-dependent tensor is a step function; "
                                          "DeepLIFT has no rule for what depends on it")
    if target_in(target, _WHERE):
        cond = node.args[0] if node.args else node.kwargs.get("condition")
        if isinstance(cond, fx.Node) and cond in dep_args:
            raise _unsupported(node, modules, "torch.where with a condition that depends on the input has no "
                                              "exact DeepLIFT rule (it is a discontinuous switch)")
        if len(node.args) != 3:
            raise _unsupported(node, modules, "torch.where needs a condition and two values")
        return Op(node, "select", where)  # linear: a fixed mask picks each element from one of two tensors
    pair_kind = _MAX_MIN.get(target) if isinstance(target, str) or _hashable(target) else None
    if target_in(target, _MAXIMUM) or target_in(target, _MINIMUM) or (
            pair_kind is not None and len(node.args) == 2 and not node.kwargs
            and isinstance(values.get(node.args[1]) if isinstance(node.args[1], fx.Node) else None, torch.Tensor)):
        if len(node.args) != 2 or node.kwargs:
            raise _unsupported(node, modules, "maximum/minimum of two tensors takes exactly two arguments")
        kind = "maximum" if target_in(target, _MAXIMUM) or pair_kind == "maximum" else "minimum"
        return Op(node, kind, where)
    if pair_kind is not None:
        raise _unsupported(node, modules, "max/min over a dimension has no exact DeepLIFT rule here; use max "
                                          "pooling, or torch.maximum of two tensors")
    if target_in(target, _LOGSUMEXP):
        if not main_only:
            raise _unsupported(node, modules, "logsumexp of an input-dependent dimension")
        return Op(node, "logsumexp", where)
    if target_in(target, _MAXPOOL_FUNCTIONS):
        if node.kwargs.get("return_indices") or (len(node.args) > 6 and node.args[6]):
            raise _unsupported(node, modules, "max pooling that returns indices")
        return Op(node, "maxpool", where)
    if target_in(target, _SOFTMAX):
        raise _unsupported(node, modules, "softmax is supported only as the model's last op")
    if target in (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout):
        training = node.kwargs.get("training", node.args[2] if len(node.args) > 2 else True)
        if training:
            raise _unsupported(node, modules, "dropout with training=True is random")
    if target is F.pad:
        if not main_only:
            raise _unsupported(node, modules, "padding by an input-dependent amount")
        return Op(node, "pad", where)
    if target_in(target, _UNARY_FUNCTIONS) or (node.op == "call_method" and target in _UNARY_METHODS):
        if not main_only:
            raise _unsupported(node, modules, "a linear op whose extra arguments depend on the input")
        return Op(node, "unary", where)
    if target_in(target, _CAT):
        return Op(node, "cat", where)
    if target_in(target, _ADD) or target_in(target, _SUB):
        if "alpha" in node.kwargs:
            raise _unsupported(node, modules, "add/sub with alpha")
        if len(dep_args) == 2 or (len(node.args) == 2 and node.args[0] is node.args[1]):
            return Op(node, "add", where)
        return Op(node, "shift", where)  # input-dependent tensor plus or minus a constant
    if target_in(target, _NEG):
        return Op(node, "neg", where)
    if target_in(target, _MUL) and len(node.args) == 2 and not node.kwargs and (
            len(dep_args) == 2 or node.args[0] is node.args[1]):
        return Op(node, "product", where)  # Shapley split of a product of two input-dependent tensors
    if target_in(target, _MUL) or target_in(target, DIVISION_TARGETS):
        other = [a for a in node.args if a is not dep_args[0]]
        if target_in(target, DIVISION_TARGETS) and (len(dep_args) != 1 or node.args[0] is not dep_args[0]):
            raise _unsupported(node, modules, "division by an input-dependent tensor has no DeepLIFT rule")
        if len(dep_args) != 1 or len(node.args) != 2 or node.args[0] is node.args[1]:
            raise _unsupported(node, modules, "a product of input-dependent tensors with extra arguments")
        if other and isinstance(other[0], fx.Node) and not isinstance(values.get(other[0]), torch.Tensor | int | float):
            raise _unsupported(node, modules, "scaling by a non-numeric value")
        return Op(node, "scale", where)
    raise _unsupported(node, modules, "no DeepLIFT rule for this op")


def _hashable(v) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


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
