"""The op table: one entry per kind of op, read by both the planner and the interpreter.

Each :class:`OpKind` says

- how the planner **recognises** it (``matches``) and turns the node into an :class:`~.fx_nodes.Op`, or
  refuses it with a message naming the op (``accept``);
- how the interpreter **propagates** it: the sequences' forward pass (``plain``), the pass over the
  sequence-reference differences ``Δ = x - r`` with DeepLIFT's rules in its autograd graph (``difference``:
  ``W Δ`` without bias for a linear op, a carried output difference for a nonlinearity; see
  :mod:`.differences`), the references' own pass with the same rules (``reference``: the op on the
  reference values, main's method, and the fallback of a kind without a ``difference``), and
  RevealCancel's absolute mass ``s`` of its output difference (``abs_mass``; ``carries_mass`` when ``s``
  flows through it from its inputs);
- which attribution methods it supports (``methods``).

The planner tries the entries in :data:`OP_KINDS` order and takes the first that matches; a node no
entry matches is refused. Adding an op is one entry here plus its test (``docs/development.md`` shows
one). ``input``, ``meta`` and ``const`` are assigned by the planner from the data flow, not recognised.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from ..core.errors import UnsupportedModelError
from .composite import bilinear_rule, divide_rule, softmax_rule, variance_rule
from .differences import (
    MaxPoolRouteDeltaFn,
    RescaleDeltaFn,
    RevealCancelDeltaFn,
    WeightedDeltaFn,
    pairwise_extreme_delta,
    relu_delta,
    weighted_delta,
)
from .nodes import Op, call, describe, elementwise_fn, resolve_main, target_in
from .rules import (
    NONLINEAR_FUNCTIONS,
    NONLINEAR_METHODS,
    NONLINEAR_MODULES,
    GuidedFn,
    MaxPoolRouteFn,
    RescaleFn,
    RevealCancelFn,
    ShapleyProductFn,
    WeightedAbsMassFn,
    _relu_deriv,
    abs_mass_eligible,
    bilinear_abs_mass,
    conv1d_nhwc,
    nhwc_eligible,
    pair,
    repeat_for_refs,
    unpair,
)

METHODS = ("deeplift", "gradient_x_input", "guided_backprop_x_input", "integrated_gradients", "ism")

# --- what the planner recognises: module classes, functions and tensor-method names ---------------------
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
SOFTMAX_MODULES = (nn.Softmax, nn.LogSoftmax)

_DROPOUT_FUNCTIONS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout}
_UNARY_FUNCTIONS = {
    torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.squeeze, torch.unsqueeze,
    torch.mean, torch.sum, torch.narrow, torch.movedim, torch.swapaxes, torch.chunk, torch.split,
    torch.unbind, torch.clone, torch.flip, torch.roll,
    F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, torch.avg_pool1d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, torch.adaptive_avg_pool1d,
    operator.getitem, *_DROPOUT_FUNCTIONS,
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
SOFTMAX_TARGETS = {F.softmax, torch.softmax, F.log_softmax, torch.log_softmax, "softmax", "log_softmax"}
_LOG_SOFTMAX = {F.log_softmax, torch.log_softmax, "log_softmax"}
_MATMUL = {torch.matmul: torch.matmul, operator.matmul: torch.matmul, "matmul": torch.matmul,
           "__matmul__": torch.matmul, torch.bmm: torch.bmm, "bmm": torch.bmm, torch.mm: torch.mm, "mm": torch.mm}
_EINSUM = {torch.einsum}
_LINEAR_FN = {F.linear}
_VARIANCE = {torch.var: False, "var": False, torch.std: True, "std": True}
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


@dataclass
class Site:
    """What the planner knows of one input-dependent node when it looks for its entry."""

    node: fx.Node
    modules: dict[str, nn.Module]
    dep_args: list[fx.Node]
    values: dict[fx.Node, Any]  # every node's value on the planner's example batch
    rules: dict  # the rules in force: registered by the user, or for known third-party modules

    @property
    def where(self) -> str:
        return describe(self.node, self.modules)

    @property
    def module(self) -> nn.Module | None:
        return self.modules[str(self.node.target)] if self.node.op == "call_module" else None

    @property
    def callee(self) -> object:
        """The function or tensor-method name called (None for a module call)."""
        return self.node.target if self.node.op in ("call_function", "call_method") else None

    @property
    def main_only(self) -> bool:
        """The only input-dependent argument is the first one."""
        first = self.node.args[0] if self.node.args else None
        return len(self.dep_args) == 1 and first is self.dep_args[0]

    def op(self, kind: str, **fields: Any) -> Op:
        return Op(self.node, kind, self.where, **fields)

    def refuse(self, why: str) -> UnsupportedModelError:
        return UnsupportedModelError(
            f"unsupported op: {self.where}: {why}. Register a rule with "
            "deeplift_genomics.register_rule(op, 'nonlinearity' | 'linear') if it is elementwise or linear"
        )


@dataclass
class Step:
    """What the interpreter knows when it runs one op, in the sequences' or the references' pass."""

    op: Op
    modules: dict[str, nn.Module]
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    env: dict[fx.Node, Any]  # this pass's values so far
    xenv: dict[fx.Node, Any]  # the sequences' values (the plain pass: the same dict as env)
    senv: dict[fx.Node, torch.Tensor]  # absolute masses so far (references' pass)
    mode: str = "plain"  # plain pass: "plain" | "guided"
    rule: str = "rescale"  # references' pass, nonlinear ops: "rescale" | "reveal_cancel"
    maxpool: str = "exact"  # references' pass: "exact" | "route"
    need_s: bool = False  # references' pass: whether this op's absolute mass is needed
    delta: bool = False  # env holds differences Δ = x - r (the difference stream), not reference values

    @property
    def node(self) -> fx.Node:
        return self.op.node

    def run(self, args: Sequence[Any] | None = None) -> Any:
        """The op as written (on other arguments when given)."""
        return call(self.node, self.modules, self.args if args is None else args, self.kwargs)

    def s_of(self, n: fx.Node) -> torch.Tensor:
        """The absolute mass of node ``n``'s difference: carried, or ``|x - r|``."""
        if n in self.senv:
            return self.senv[n]
        return self.env[n].abs() if self.delta else abs_diff(self.xenv[n], self.env[n])


def abs_diff(x_val: torch.Tensor, r_val: torch.Tensor) -> torch.Tensor:
    """``|x - r|`` of a per-sequence value and its references' values ``(n*R, ...)``."""
    xp, rp = pair(x_val, r_val)
    return unpair((xp - rp).abs())


def _never(site: Site) -> bool:
    return False


def _run(step: Step) -> Any:
    return step.run()


def _own_abs_diff(step: Step) -> torch.Tensor:
    return step.s_of(step.node)


@dataclass(frozen=True)
class OpKind:
    """One kind of op: how it is recognised, which rule propagates it, which methods support it."""

    name: str
    rule: str  # for docs and messages: how DeepLIFT propagates it
    matches: Callable[[Site], bool] = _never
    accept: Callable[[Site], Op] | None = None  # None: Op(kind=name); may raise site.refuse(...)
    plain: Callable[[Step], Any] = _run
    reference: Callable[[Step], Any] = _run  # linear ops run as written: the gradient is the multiplier
    abs_mass: Callable[[Step], torch.Tensor] = _own_abs_diff
    carries_mass: bool = False  # s of the output follows from the inputs' s (RevealCancel needs them)
    # the difference stream's rule: the op's output Δ from its inputs' Δs (Step.delta); None: a model holding
    # this kind runs the reference stream (interpreter.stream_for), at the old precision
    difference: Callable[[Step], Any] | None = None
    transparent: bool = False  # genomics default looks through it for the weighted layer feeding a ReLU
    chooses_rule: bool = False  # has elementwise pieces that take Rescale or RevealCancel (interpreter.choose_rules)
    methods: tuple[str, ...] = METHODS

    def build(self, site: Site) -> Op:
        return self.accept(site) if self.accept is not None else site.op(self.name)


# --- weighted: Conv / Linear ----------------------------------------------------------------------------
def _lookup_class(table: Mapping, cls: type) -> Any:
    for base in cls.__mro__:
        if base in table:
            return table[base]
    return None


def _is_weighted(site: Site) -> bool:
    return site.module is not None and _lookup_class(_WEIGHTED_MODULES, type(site.module)) is not None


def _linear_family(site: Site, operand: object) -> str:
    """``linear`` for a dense layer on ``(N, features)``; ``positionwise`` for one applied at every position.

    A Linear layer on ``(N, L, features)`` (attention's projections, a transformer's feed-forward block)
    sees one position, like a kernel-1 convolution; the genomics default treats it as one.
    """
    value = site.values.get(operand) if isinstance(operand, fx.Node) else None
    return "positionwise" if isinstance(value, torch.Tensor) and value.ndim > 2 else "linear"


def _accept_weighted(site: Site) -> Op:
    assert site.module is not None
    family = _lookup_class(_WEIGHTED_MODULES, type(site.module))
    if family == "linear":
        family = _linear_family(site, site.dep_args[0])
    return site.op("weighted", module=site.module, family=family)


def _weighted_plain(step: Step) -> Any:
    # Conv1d runs as a channels-last 2-D convolution where it can (oneDNN is 1.7-3x faster on CPU)
    if nhwc_eligible(step.op.module) and len(step.args) == 1 and not step.kwargs:
        return conv1d_nhwc(step.op.module, step.args[0])
    return step.run()


def _weighted_reference(step: Step) -> Any:
    op = step.op
    if step.need_s and abs_mass_eligible(op.module) and len(step.args) == 1 and not step.kwargs:
        out, step.senv[step.node] = WeightedAbsMassFn.apply(step.args[0], step.xenv[resolve_main(step.node)],
                                                            op.module)
        return out
    return _weighted_plain(step)


def _weighted_abs_mass(step: Step) -> torch.Tensor:
    src = resolve_main(step.node)
    absd = step.env[src].abs() if step.delta else abs_diff(step.xenv[src], step.env[src])
    mod = step.op.module
    if step.op.family == "conv" and nhwc_eligible(mod):
        return conv1d_nhwc(mod, absd, mod.weight.abs(), bias=False)
    if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):  # op.family == "conv"
        return mod._conv_forward(absd, mod.weight.abs(), None)
    assert isinstance(mod, nn.Linear)  # _WEIGHTED_MODULES: the rest are Linear
    return F.linear(absd, mod.weight.abs())


# --- BatchNorm in eval mode: a per-channel scale --------------------------------------------------------
def _accept_bn(site: Site) -> Op:
    mod = site.module
    assert isinstance(mod, _BN_MODULES)
    if mod.training or mod.running_var is None:
        raise site.refuse("BatchNorm without running statistics depends on the batch")
    return site.op("bn", module=mod)


def _bn_abs_mass(step: Step) -> torch.Tensor:
    mod = step.op.module
    assert isinstance(mod, _BN_MODULES) and mod.running_var is not None  # _accept_bn
    scale = torch.rsqrt(mod.running_var + mod.eps)
    if mod.weight is not None:
        scale = scale * mod.weight
    s_in = step.s_of(resolve_main(step.node))
    return s_in * scale.abs().reshape(1, -1, *([1] * (s_in.ndim - 2)))


# --- registered by the user (or for bpnet-lite's modules) -----------------------------------------------
def _registered(site: Site) -> Any:
    key = type(site.module) if site.module is not None else site.node.target
    user = site.rules.get(key)
    if user is None and site.module is not None:
        user = _lookup_class({k: v for k, v in site.rules.items() if isinstance(k, type)}, type(site.module))
    return user


def _accept_registered(site: Site) -> Op:
    if not site.main_only:
        raise site.refuse("a registered op must take the input-dependent tensor first and only")
    kind, elem = _registered(site)
    return site.op("nonlinear" if kind == "nonlinearity" else "user_linear", elem=elem)


# --- elementwise nonlinearities: Rescale or RevealCancel ------------------------------------------------
def _nonlinearity(site: Site) -> Any:
    if site.module is not None:
        return _lookup_class(NONLINEAR_MODULES, type(site.module))
    callee = site.callee
    if site.node.op == "call_method":
        return NONLINEAR_METHODS.get(str(callee))
    return NONLINEAR_FUNCTIONS.get(callee) if target_in(callee, NONLINEAR_FUNCTIONS) else None  # type: ignore[call-overload]


def _accept_nonlinear(site: Site) -> Op:
    if site.module is None and not site.main_only:
        raise site.refuse("a nonlinearity of more than one input-dependent tensor")
    return site.op("nonlinear", elem=_nonlinearity(site), module=site.module)


def _nonlinear_plain(step: Step) -> Any:
    op = step.op
    assert op.elem is not None  # the planner gives every nonlinear op its rule
    f = elementwise_fn(op, step.modules, step.args, step.kwargs)
    if step.mode == "guided":
        return GuidedFn.apply(step.args[0], f, op.elem.deriv)
    return f(step.args[0])


def _nonlinear_reference(step: Step) -> Any:
    op = step.op
    src = resolve_main(step.node)
    assert op.elem is not None  # the planner gives every nonlinear op its rule
    f = elementwise_fn(op, step.modules, step.args, step.kwargs)
    if step.rule == "rescale" or not op.elem.elementwise:
        return RescaleFn.apply(step.args[0], step.xenv[src], step.xenv[step.node], f, op.elem.deriv)
    return RevealCancelFn.apply(step.args[0], step.s_of(src), step.xenv[src], f, op.elem.deriv)


# --- comparisons and torch.where -------------------------------------------------------------------------
def _accept_compare(site: Site) -> Op:
    node = site.node
    if node.users and all(target_in(u.target, _WHERE) and u.args and u.args[0] is node for u in node.users):
        return site.op("mask")  # refused with the where that uses it
    raise site.refuse("a comparison of an input-dependent tensor is a step function; "
                      "DeepLIFT has no rule for what depends on it")


def _accept_select(site: Site) -> Op:
    node = site.node
    cond = node.args[0] if node.args else node.kwargs.get("condition")
    if isinstance(cond, fx.Node) and cond in site.dep_args:
        raise site.refuse("torch.where with a condition that depends on the input has no "
                          "exact DeepLIFT rule (it is a discontinuous switch)")
    if len(node.args) != 3:
        raise site.refuse("torch.where needs a condition and two values")
    return site.op("select")  # linear: a fixed mask picks each element from one of two tensors


# --- maximum / minimum of two tensors: a + relu(b - a) ---------------------------------------------------
def _hashable(v: object) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def _pair_kind(site: Site) -> str | None:
    callee = site.callee
    return _MAX_MIN.get(callee) if isinstance(callee, str) or _hashable(callee) else None


def _is_pairwise(site: Site) -> bool:
    node, callee = site.node, site.callee
    if target_in(callee, _MAXIMUM) or target_in(callee, _MINIMUM):
        return True
    second = node.args[1] if len(node.args) == 2 else None
    return _pair_kind(site) is not None and len(node.args) == 2 and not node.kwargs and isinstance(
        site.values.get(second) if isinstance(second, fx.Node) else None, torch.Tensor)


def _accept_pairwise(site: Site) -> Op:
    if len(site.node.args) != 2 or site.node.kwargs:
        raise site.refuse("maximum/minimum of two tensors takes exactly two arguments")
    return site.op("maximum" if target_in(site.callee, _MAXIMUM) or _pair_kind(site) == "maximum" else "minimum")


def pairwise_extreme(
    kind: str, ra: torch.Tensor, rb: torch.Tensor, xa: torch.Tensor, xb: torch.Tensor
) -> torch.Tensor:
    """``maximum(a, b) = a + relu(b - a)``, ``minimum(a, b) = a - relu(a - b)``, Rescale on the ReLU.

    Exact: the contributions of ``a`` and ``b`` add up to the difference of the max (min) whatever the
    references.
    """
    if kind == "maximum":
        xd = xb - xa
        return ra + RescaleFn.apply(rb - ra, xd, torch.relu(xd), torch.relu, _relu_deriv)
    xd = xa - xb
    return ra - RescaleFn.apply(ra - rb, xd, torch.relu(xd), torch.relu, _relu_deriv)


def _pairwise_reference(step: Step) -> Any:
    a, b = step.node.args
    assert isinstance(a, fx.Node) and isinstance(b, fx.Node)  # _is_pairwise: two tensors
    return pairwise_extreme(step.op.kind, step.args[0], step.args[1], step.xenv[a], step.xenv[b])


# --- logsumexp: Rescale on exp and on log -----------------------------------------------------------------
def _as_ref(x_val: torch.Tensor, r_like: torch.Tensor) -> torch.Tensor:
    """A per-sequence tensor ``(n, ...)`` repeated for the references of each: ``(n*R, ...)``."""
    R = r_like.shape[0] // x_val.shape[0]
    return x_val.repeat_interleave(R, 0) if R > 1 else x_val


def _log_deriv(t: torch.Tensor) -> torch.Tensor:
    return 1.0 / t


def logsumexp_rule(
    rz: torch.Tensor, xz: torch.Tensor, dim: int | list[int] | tuple[int, ...], keepdim: bool
) -> torch.Tensor:
    """``logsumexp`` as ``c + log(sum(exp(z - c)))``: Rescale on ``exp`` and on ``log``, sum linear.

    ``c`` is the sequence's own max over ``dim``, shared with its references, so nothing overflows; the
    Rescale multipliers do not depend on ``c`` and summation-to-delta holds exactly.
    """
    c = xz.detach().amax(dim, keepdim=True)
    cr = _as_ref(c, rz)
    xe = torch.exp(xz - c)
    re = RescaleFn.apply(rz - cr, xz - c, xe, torch.exp, torch.exp)
    xs, rs = xe.sum(dim, keepdim=True), re.sum(dim, keepdim=True)
    out = RescaleFn.apply(rs, xs, torch.log(xs), torch.log, _log_deriv) + cr
    return out if keepdim else out.squeeze(dim)


def _accept_logsumexp(site: Site) -> Op:
    if not site.main_only:
        raise site.refuse("logsumexp of an input-dependent dimension")
    return site.op("logsumexp")


def _logsumexp_reference(step: Step) -> Any:
    args, kwargs = step.args, step.kwargs
    dim = args[1] if len(args) > 1 else kwargs["dim"]
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    return logsumexp_rule(args[0], step.xenv[resolve_main(step.node)], dim, keepdim)


# --- max pooling ------------------------------------------------------------------------------------------
_POOL_ARGS = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")


def _is_maxpool(site: Site) -> bool:
    return isinstance(site.module, _MAXPOOL_MODULES) or target_in(site.callee, _MAXPOOL_FUNCTIONS)


def _accept_maxpool(site: Site) -> Op:
    node, mod = site.node, site.module
    if mod is not None:
        assert isinstance(mod, _MAXPOOL_MODULES)
        if mod.return_indices:
            raise site.refuse("max pooling that returns indices")
        return site.op("maxpool", module=mod)
    if node.kwargs.get("return_indices") or (len(node.args) > 6 and node.args[6]):
        raise site.refuse("max pooling that returns indices")
    return site.op("maxpool")


def pool_params(op: Op, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """Dimensionality and parameters of a max pooling op."""
    if op.module is not None:
        m = op.module
        dims = 1 if isinstance(m, torch.nn.MaxPool1d) else 2
        p = {k: getattr(m, k) for k in _POOL_ARGS[:5]}
    else:
        dims = 1 if op.node.target in (F.max_pool1d, torch.max_pool1d) else 2
        p = dict(zip(_POOL_ARGS, args[1:]))
        p.update({k: v for k, v in kwargs.items() if k in _POOL_ARGS})
        p.setdefault("stride", None)
        p.setdefault("padding", 0)
        p.setdefault("dilation", 1)
        p.setdefault("ceil_mode", False)
    p.pop("return_indices", None)
    if p["stride"] is None or p["stride"] == []:
        p["stride"] = p["kernel_size"]
    return dims, p


def _pool_fn(dims: int, p: dict) -> Callable:
    fn = F.max_pool1d if dims == 1 else F.max_pool2d

    def pool(t, return_indices=False):
        return fn(t, p["kernel_size"], p["stride"], p["padding"], p["dilation"], p["ceil_mode"], return_indices)

    return pool


def _tuple(v, dims):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims


def _windows(t: torch.Tensor, dims: int, k, s) -> torch.Tensor:
    if dims == 1:
        return t.unfold(2, k[0], s[0])
    w = t.unfold(2, k[0], s[0]).unfold(3, k[1], s[1])
    return w.flatten(-2)


def exact_maxpool(
    r_in: torch.Tensor, x_in: torch.Tensor, dims: int, p: dict[str, Any], where: str, delta: bool = False
) -> torch.Tensor:
    """Max pooling as a tournament of ``max(a, b) = a + relu(b - a)`` with Rescale on every ReLU.

    Summation-to-delta then holds exactly whatever the references (the gradient routing of the original
    does not keep it when the reference's max sits elsewhere in the window). ``delta``: ``r_in`` holds the
    differences ``Δ = x - r`` of the difference stream, and the tournament runs on them.
    """
    k, s = _tuple(p["kernel_size"], dims), _tuple(p["stride"], dims)
    if any(v != 0 for v in _tuple(p["padding"], dims)) or any(v != 1 for v in _tuple(p["dilation"], dims)) \
            or p["ceil_mode"]:
        raise UnsupportedModelError(f"{where}: maxpool='exact' needs padding 0, dilation 1 and ceil_mode False")
    rw, xw = _windows(r_in, dims, k, s), _windows(x_in, dims, k, s)
    while rw.shape[-1] > 1:
        m = rw.shape[-1] // 2
        xa, xb = xw[..., 0:2 * m:2], xw[..., 1:2 * m:2]
        ra, rb = rw[..., 0:2 * m:2], rw[..., 1:2 * m:2]
        r_new = ra + relu_delta(xb - xa, rb - ra) if delta else pairwise_extreme("maximum", ra, rb, xa, xb)
        x_new = xa + torch.relu(xb - xa)
        if rw.shape[-1] % 2:
            r_new = torch.cat([r_new, rw[..., -1:]], dim=-1)
            x_new = torch.cat([x_new, xw[..., -1:]], dim=-1)
        rw, xw = r_new, x_new
    return rw[..., 0]


def _maxpool_reference(step: Step) -> Any:
    dims, p = pool_params(step.op, step.args, step.kwargs)
    src = resolve_main(step.node)
    if step.maxpool == "exact":
        return exact_maxpool(step.args[0], step.xenv[src], dims, p, step.op.where)
    return MaxPoolRouteFn.apply(step.args[0], step.xenv[src], _pool_fn(dims, p))


# --- linear ops of one tensor: views, pooling, padding, sums ------------------------------------------------
def _is_unary(site: Site) -> bool:
    if site.module is not None:
        return isinstance(site.module, _UNARY_MODULES)
    return target_in(site.callee, _UNARY_FUNCTIONS) or (site.node.op == "call_method"
                                                         and site.callee in _UNARY_METHODS)


def _accept_unary(site: Site) -> Op:
    node = site.node
    if site.module is not None:
        return site.op("unary", module=site.module)
    if target_in(site.callee, _DROPOUT_FUNCTIONS):
        training = node.kwargs.get("training", node.args[2] if len(node.args) > 2 else True)
        if training:
            raise site.refuse("dropout with training=True is random")
    if not site.main_only:
        raise site.refuse("a linear op whose extra arguments depend on the input")
    return site.op("unary")


def _unary_abs_mass(step: Step) -> torch.Tensor:
    return step.run((step.s_of(resolve_main(step.node)), *step.args[1:]))


def _is_pad(site: Site) -> bool:
    return isinstance(site.module, _PAD_MODULES) or (site.node.op == "call_function" and site.callee is F.pad)


def _accept_pad(site: Site) -> Op:
    if site.module is not None:
        return site.op("pad", module=site.module)
    if not site.main_only:
        raise site.refuse("padding by an input-dependent amount")
    return site.op("pad")


def _pad_abs_mass(step: Step) -> torch.Tensor:
    return _pad_with_zeros(step, step.s_of(resolve_main(step.node)))


def _pad_with_zeros(step: Step, s_in: torch.Tensor) -> torch.Tensor:
    """The op's padding of ``s_in``, with zeros where it pads a constant (an absolute mass or a Δ)."""
    if step.op.module is not None:
        assert isinstance(step.op.module, _PAD_MODULES)  # ZeroPad2d too
        return F.pad(s_in, step.op.module.padding, value=0.0)
    kw = dict(step.kwargs)
    rest = list(step.args[1:])
    if len(rest) >= 3:
        rest[2] = 0.0
    elif kw.get("mode", rest[1] if len(rest) > 1 else "constant") == "constant":
        kw["value"] = 0.0
    return F.pad(s_in, *rest, **kw)


# --- sums, shifts, scales, concatenation --------------------------------------------------------------------
def _accept_add(site: Site) -> Op:
    node = site.node
    if "alpha" in node.kwargs:
        raise site.refuse("add/sub with alpha")
    if len(site.dep_args) == 2 or (len(node.args) == 2 and node.args[0] is node.args[1]):
        return site.op("add")
    return site.op("shift")  # input-dependent tensor plus or minus a constant


def _add_abs_mass(step: Step) -> torch.Tensor:
    parts = [step.s_of(a) for a in step.node.args if isinstance(a, fx.Node) and a in step.op.dep_args]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _first_dep_abs_mass(step: Step) -> torch.Tensor:
    return step.s_of(step.op.dep_args[0])


def _is_product(site: Site) -> bool:
    node = site.node
    return target_in(site.callee, _MUL) and len(node.args) == 2 and not node.kwargs and (
        len(site.dep_args) == 2 or node.args[0] is node.args[1])


def _product_reference(step: Step) -> Any:
    a, b = step.node.args
    assert isinstance(a, fx.Node) and isinstance(b, fx.Node)  # _is_product: two tensors
    ra, rb = step.args[0], step.args[1]
    out = ShapleyProductFn.apply(ra, rb, step.xenv[a], step.xenv[b])
    if step.need_s:
        a_bar = 0.5 * (repeat_for_refs(step.xenv[a], ra) + ra)
        b_bar = 0.5 * (repeat_for_refs(step.xenv[b], rb) + rb)
        step.senv[step.node] = bilinear_abs_mass(torch.mul, step.s_of(a), step.s_of(b), a_bar, b_bar)
    return out


# --- matmul, bmm, einsum, F.linear: bilinear in two operands -------------------------------------------------
def _form(site_or_node: fx.Node, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Callable, Any, Any, Any]:
    """``(f, a, b, bias)``: the op as ``f(a, b) + bias``, ``f`` bilinear, on the given argument values."""
    target = site_or_node.target
    if target_in(target, _EINSUM):
        eq = args[0]
        operands = args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:]
        if len(operands) != 2 or kwargs:
            raise ValueError("einsum of other than two operands")

        def f(a, b):
            return torch.einsum(eq, a, b)

        return f, operands[0], operands[1], None
    if target_in(target, _LINEAR_FN):
        weight = args[1] if len(args) > 1 else kwargs.get("weight")
        bias = args[2] if len(args) > 2 else kwargs.get("bias")
        return F.linear, args[0], weight, bias
    if len(args) != 2 or kwargs:
        raise ValueError("matmul with other than two operands")
    return cast(Callable, _MATMUL[cast(Any, target)]), args[0], args[1], None


def _is_bilinear(site: Site) -> bool:
    return target_in(site.callee, _MATMUL) or target_in(site.callee, _EINSUM) or target_in(site.callee, _LINEAR_FN)


def _accept_bilinear(site: Site) -> Op:
    try:
        _, a, b, bias = _form(site.node, site.node.args, site.node.kwargs)
    except ValueError as exc:
        raise site.refuse(str(exc)) from None
    dep = set(site.dep_args)
    if isinstance(bias, fx.Node) and bias in dep:
        raise site.refuse("F.linear with an input-dependent bias")
    a_dep, b_dep = isinstance(a, fx.Node) and a in dep, isinstance(b, fx.Node) and b in dep
    if a_dep and b_dep:
        return site.op("bilinear")
    return site.op("matmul_const", family=_linear_family(site, a if a_dep else b)
                   if target_in(site.callee, _LINEAR_FN) and a_dep else "")


def _bilinear_reference(step: Step) -> Any:
    _, a, b, _ = _form(step.node, step.node.args, step.node.kwargs)
    f, ra, rb, bias = _form(step.node, step.args, step.kwargs)
    out, s = bilinear_rule(f, ra, rb, step.xenv[a], step.xenv[b], step.s_of(a) if step.need_s else None,
                           step.s_of(b) if step.need_s else None, want_s=step.need_s)
    if s is not None:
        step.senv[step.node] = s
    return out if bias is None else out + bias


def _matmul_const_abs_mass(step: Step) -> torch.Tensor:
    _, a, _, _ = _form(step.node, step.node.args, step.node.kwargs)
    f, ra, rb, _ = _form(step.node, step.args, step.kwargs)
    if isinstance(a, fx.Node) and a in step.op.dep_args:
        return f(step.s_of(a), rb.abs())
    _, _, b, _ = _form(step.node, step.node.args, step.node.kwargs)
    return f(ra.abs(), step.s_of(b))


# --- softmax and log_softmax along any dimension ---------------------------------------------------------------
def _softmax_dim(node: fx.Node, module: nn.Module | None) -> Any:
    if module is not None:
        return getattr(module, "dim", None)
    return node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")


def _accept_softmax(site: Site) -> Op:
    if site.module is None and not site.main_only:
        raise site.refuse("softmax of more than one input-dependent tensor")
    dim = _softmax_dim(site.node, site.module)
    if not isinstance(dim, int):
        raise site.refuse("softmax needs its dim given as an integer")
    if site.module is None and ("dtype" in site.node.kwargs or len(site.node.args) > 3):
        raise site.refuse("softmax with a dtype argument")
    return site.op("softmax", module=site.module)


def _softmax_reference(step: Step) -> Any:
    src = resolve_main(step.node)
    log = isinstance(step.op.module, nn.LogSoftmax) or (step.op.module is None
                                                        and target_in(step.node.target, _LOG_SOFTMAX))
    s_z = step.s_of(src) if step.rule == "reveal_cancel" else None
    return softmax_rule(step.args[0], step.xenv[src], _softmax_dim(step.node, step.op.module), step.rule, s_z, log)


# --- var and std over dimensions: centring, the exact square, a sum (and sqrt) -----------------------------------
def _variance_args(node: fx.Node) -> tuple[Any, float, bool]:
    """``(dim, correction, keepdim)`` of ``var``/``std``: ``(x, dim, unbiased, keepdim)``, ``(x, unbiased)`` or
    ``(x, dim, *, correction, keepdim)``."""
    rest, kw = list(node.args[1:]), dict(node.kwargs)
    if rest and isinstance(rest[0], bool):
        rest = [None, *rest]
    names = ("dim", "unbiased", "keepdim")
    if len(rest) > len(names):
        raise ValueError("var/std with too many arguments")
    kw.update(zip(names, rest))
    unknown = set(kw) - {"dim", "unbiased", "keepdim", "correction"}
    if unknown:
        raise ValueError(f"var/std arguments {sorted(unknown)} not understood")
    correction = kw.get("correction")
    if correction is None:
        correction = 0.0 if kw.get("unbiased") is False else 1.0
    if not isinstance(correction, (int, float)):
        raise ValueError("var/std with a correction that is not a number")
    return kw.get("dim"), float(correction), bool(kw.get("keepdim", False))


def _accept_variance(site: Site) -> Op:
    if not site.main_only:
        raise site.refuse("var/std of more than one input-dependent tensor")
    try:
        dim, _, _ = _variance_args(site.node)
    except ValueError as exc:
        raise site.refuse(str(exc)) from None
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    if dim is None or any(not isinstance(d, int) or d % site.values[site.dep_args[0]].ndim == 0 for d in dims):
        raise site.refuse("var/std over the batch dimension (give dim, not the first one)")
    return site.op("variance")


def _variance_reference(step: Step) -> Any:
    src = resolve_main(step.node)
    dim, correction, keepdim = _variance_args(step.node)
    std = _VARIANCE[cast(Any, step.node.target)]
    rc = step.rule == "reveal_cancel"
    out, s = variance_rule(step.args[0], step.xenv[src], tuple(dim) if isinstance(dim, list) else dim, correction,
                           keepdim, std, step.rule, step.s_of(src) if rc or step.need_s else None, step.need_s)
    if s is not None:
        step.senv[step.node] = s
    return out


# --- division by an input-dependent tensor: a * reciprocal(b) ---------------------------------------------------
def _is_divide(site: Site) -> bool:
    node = site.node
    return target_in(site.callee, DIVISION_TARGETS) and len(node.args) == 2 and isinstance(node.args[1], fx.Node) \
        and node.args[1] in site.dep_args


def _accept_divide(site: Site) -> Op:
    if site.node.kwargs:
        raise site.refuse("division with rounding_mode or other keyword arguments")
    return site.op("divide")


def _divide_reference(step: Step) -> Any:
    a, b = step.node.args
    assert isinstance(b, fx.Node)  # _is_divide
    a_node = a if isinstance(a, fx.Node) else None
    a_dep = a_node is not None and a_node in step.op.dep_args
    xa = step.xenv[a_node] if a_node is not None else cast(float, a)
    rc = step.rule == "reveal_cancel"
    out, s = divide_rule(step.args[0], step.args[1], xa, step.xenv[b], a_dep, step.rule,
                         step.s_of(a_node) if a_node is not None and a_dep and step.need_s else None,
                         step.s_of(b) if rc else None, want_s=step.need_s)
    if s is not None:
        step.senv[step.node] = s
    return out


def _accept_scale(site: Site) -> Op:
    node, dep_args = site.node, site.dep_args
    other = [a for a in node.args if a is not dep_args[0]]
    if target_in(site.callee, DIVISION_TARGETS) and (len(dep_args) != 1 or node.args[0] is not dep_args[0]):
        raise site.refuse("division by an input-dependent tensor has no DeepLIFT rule")
    if len(dep_args) != 1 or len(node.args) != 2 or node.args[0] is node.args[1]:
        raise site.refuse("a product of input-dependent tensors with extra arguments")
    if other and isinstance(other[0], fx.Node) and not isinstance(site.values.get(other[0]),
                                                                 torch.Tensor | int | float):
        raise site.refuse("scaling by a non-numeric value")
    return site.op("scale")


def _scale_abs_mass(step: Step) -> torch.Tensor:
    src = step.op.dep_args[0]
    other = next(a for a in step.args if a is not step.env[src])
    factor = other.abs() if isinstance(other, torch.Tensor) else abs(other)
    if target_in(step.node.target, DIVISION_TARGETS):
        return step.s_of(src) / factor
    return step.s_of(src) * factor


def _cat_abs_mass(step: Step) -> torch.Tensor:
    seq = step.node.args[0]
    assert isinstance(seq, (list, tuple))  # torch.cat's first argument: the tensors
    parts = []
    for a in seq:
        if isinstance(a, fx.Node) and a in step.op.dep_args:
            parts.append(step.s_of(a))
        else:
            parts.append(torch.zeros_like(step.env[a] if isinstance(a, fx.Node) else cast(torch.Tensor, a)))
    return step.run((parts, *step.args[1:]))


# --- Enformer's own ops: einops views, masked_fill with a fixed mask ------------------------------------------
_EINOPS_VIEWS = ("rearrange", "repeat", "Rearrange", "Repeat")
_MASKED_FILL = {torch.masked_fill, "masked_fill"}


def _is_einops_view(site: Site) -> bool:
    """einops' ``rearrange``/``repeat`` (functions or layers): permutations and copies of the elements."""
    op = site.module if site.module is not None else site.callee
    kind = type(op) if site.module is not None else op
    return getattr(kind, "__module__", "").startswith("einops") and getattr(kind, "__name__", "") in _EINOPS_VIEWS


def _accept_einops_view(site: Site) -> Op:
    if site.module is None and not site.main_only:
        raise site.refuse("an einops view whose extra arguments depend on the input")
    return site.op("einops", module=site.module)


def _accept_masked_fill(site: Site) -> Op:
    if not site.main_only:
        raise site.refuse("masked_fill with a mask or value that depends on the input")
    return site.op("masked_fill")


def _masked_fill_abs_mass(step: Step) -> torch.Tensor:
    return step.run((step.s_of(resolve_main(step.node)), step.args[1], 0.0))


# --- the difference stream: each kind's rule on Δ = x - r (see .differences) ------------------------------
def _delta_args(step: Step, keep: tuple[int, ...] = ()) -> tuple[list[Any], dict[str, Any]]:
    """The op's arguments as differences: an input-independent tensor or number becomes zero (its Δ).

    Positions in ``keep`` (e.g. torch.where's condition) stay as they are.
    """
    deps = set(step.op.dep_args)

    def delta(node_arg: Any, value: Any) -> Any:
        if isinstance(node_arg, fx.Node) and node_arg in deps:
            return value
        if isinstance(value, torch.Tensor):
            return torch.zeros_like(value)
        return 0 if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    args = [v if i in keep else delta(a, v) for i, (a, v) in enumerate(zip(step.node.args, step.args))]
    kwargs = {k: delta(step.node.kwargs[k], v) for k, v in step.kwargs.items()}
    return args, kwargs


def _linear_difference(step: Step) -> Any:
    """An op linear in its input-dependent arguments with constants added: the op on Δs, constants zero."""
    args, kwargs = _delta_args(step)
    return call(step.node, step.modules, args, kwargs)


def _select_difference(step: Step) -> Any:
    args, kwargs = _delta_args(step, keep=(0,))
    return call(step.node, step.modules, args, kwargs)


def _weighted_difference(step: Step) -> Any:
    op = step.op
    if len(step.args) != 1 or step.kwargs:
        raise UnsupportedModelError(f"{op.where}: a weighted layer called with more than its input")
    if step.need_s and abs_mass_eligible(op.module):
        out, step.senv[step.node] = WeightedDeltaFn.apply(step.args[0], op.module)
        return out
    assert op.module is not None  # _accept_weighted
    return weighted_delta(op.module, step.args[0])


def _bn_difference(step: Step) -> torch.Tensor:
    mod = step.op.module
    assert isinstance(mod, _BN_MODULES) and mod.running_var is not None  # _accept_bn
    scale = torch.rsqrt(mod.running_var + mod.eps)
    if mod.weight is not None:
        scale = scale * mod.weight
    d = step.args[0]
    return d * scale.reshape(1, -1, *([1] * (d.ndim - 2)))


def _nonlinear_difference(step: Step) -> Any:
    op = step.op
    src = resolve_main(step.node)
    assert op.elem is not None  # the planner gives every nonlinear op its rule
    f = elementwise_fn(op, step.modules, step.args, step.kwargs)
    x_in, x_out = step.xenv[src], step.xenv[step.node]
    if step.rule == "rescale" or not op.elem.elementwise:
        return RescaleDeltaFn.apply(step.args[0], x_in, x_out, f, op.elem)
    return RevealCancelDeltaFn.apply(step.args[0], step.s_of(src), x_in, x_out, f, op.elem)


def _operand(step: Step, a: Any, value: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """An operand's Δ and its sequences' value (an input-independent one: zero and itself)."""
    if isinstance(a, fx.Node) and a in step.op.dep_args:
        return value, step.xenv[a]
    t = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    return torch.zeros_like(t), step.xenv[a] if isinstance(a, fx.Node) else t


def _pairwise_difference(step: Step) -> Any:
    a, b = step.node.args
    da, xa = _operand(step, a, step.args[0])
    db, xb = _operand(step, b, step.args[1])
    return pairwise_extreme_delta(step.op.kind, da, db, xa, xb)


def _maxpool_difference(step: Step) -> Any:
    dims, p = pool_params(step.op, step.args, step.kwargs)
    src = resolve_main(step.node)
    if step.maxpool == "exact":
        return exact_maxpool(step.args[0], step.xenv[src], dims, p, step.op.where, delta=True)
    return MaxPoolRouteDeltaFn.apply(step.args[0], step.xenv[src], _pool_fn(dims, p))


def _pad_difference(step: Step) -> torch.Tensor:
    return _pad_with_zeros(step, step.args[0])


def _cat_difference(step: Step) -> Any:
    seq = step.node.args[0]
    assert isinstance(seq, (list, tuple))  # torch.cat's first argument: the tensors
    parts = []
    for a in seq:
        if isinstance(a, fx.Node) and a in step.op.dep_args:
            parts.append(step.env[a])
        else:
            parts.append(torch.zeros_like(step.env[a] if isinstance(a, fx.Node) else cast(torch.Tensor, a)))
    return step.run((parts, *step.args[1:]))


def _product_difference(step: Step) -> Any:
    """The Shapley split on Δs: ``Δ(ab) = Δa (b_x + b_r)/2 + Δb (a_x + a_r)/2``, exact, no cancellation."""
    a, b = step.node.args
    assert isinstance(a, fx.Node) and isinstance(b, fx.Node)  # _is_product: two tensors
    da, db = step.args[0], step.args[1]
    with torch.no_grad():
        xap, dap = pair(step.xenv[a], da)
        xbp, dbp = pair(step.xenv[b], db)
        mult_a = unpair(xbp - 0.5 * dbp)  # (b_x + b_r) / 2
        mult_b = unpair(xap - 0.5 * dap)
    if step.need_s:  # RevealCancel's mass of the split: f(s_a, |b̄|) + f(|ā|, s_b), as in the reference stream
        step.senv[step.node] = bilinear_abs_mass(torch.mul, step.s_of(a), step.s_of(b), mult_b, mult_a)
    return da * mult_a + db * mult_b


# --- refusals with a reason ---------------------------------------------------------------------------------
def _refuse_with(why: str) -> Callable[[Site], Op]:
    def accept(site: Site) -> Op:
        raise site.refuse(why)

    return accept


def _is_softmax(site: Site) -> bool:
    return isinstance(site.module, SOFTMAX_MODULES) or target_in(site.callee, SOFTMAX_TARGETS)


def _in(table: Any) -> Callable[[Site], bool]:
    return lambda site: target_in(site.callee, table)


OP_KINDS: tuple[OpKind, ...] = (
    OpKind("input", "the model input: its difference is x - r"),
    OpKind("meta", "a non-tensor value such as x.size(0): nothing to propagate"),
    OpKind("const", "a tensor that does not depend on the input's values: no difference"),
    OpKind("registered", "the rule the user registered (register_rule), or bpnet-lite's",
           matches=lambda site: _registered(site) is not None, accept=_accept_registered),
    OpKind("attribute_access", "refused", matches=lambda site: site.node.op == "call_function"
           and site.callee is builtins.getattr, accept=_refuse_with("attribute access on a tensor")),
    OpKind("weighted", "linear; RevealCancel after it splits the difference by the sign of each w_i dx_i",
           matches=_is_weighted, accept=_accept_weighted, plain=_weighted_plain, reference=_weighted_reference,
           abs_mass=_weighted_abs_mass, difference=_weighted_difference),
    OpKind("bn", "a per-channel scale (BatchNorm in eval mode)", matches=lambda s: isinstance(s.module, _BN_MODULES),
           accept=_accept_bn, abs_mass=_bn_abs_mass, carries_mass=True, transparent=True, difference=_bn_difference),
    OpKind("nonlinear", "Rescale or RevealCancel (elementwise)", matches=lambda s: _nonlinearity(s) is not None,
           accept=_accept_nonlinear, plain=_nonlinear_plain, reference=_nonlinear_reference, chooses_rule=True,
           difference=_nonlinear_difference),
    OpKind("mask", "a comparison feeding only torch.where's condition (the where decides)",
           matches=_in(_COMPARE), accept=_accept_compare),
    OpKind("select", "linear: torch.where with a condition that does not depend on the input",
           matches=_in(_WHERE), accept=_accept_select, difference=_select_difference),
    OpKind("maximum", "a + relu(b - a), Rescale on the ReLU", matches=_is_pairwise, accept=_accept_pairwise,
           reference=_pairwise_reference, difference=_pairwise_difference),
    OpKind("minimum", "a - relu(a - b), Rescale on the ReLU (recognised with maximum)",
           reference=_pairwise_reference, difference=_pairwise_difference),
    OpKind("max_over_dim", "refused", matches=lambda s: _pair_kind(s) is not None,
           accept=_refuse_with("max/min over a dimension has no exact DeepLIFT rule here; use max pooling, or "
                               "torch.maximum of two tensors")),
    OpKind("logsumexp", "c + log(sum(exp(z - c))), Rescale on exp and on log", matches=_in(_LOGSUMEXP),
           accept=_accept_logsumexp, reference=_logsumexp_reference),
    OpKind("maxpool", "a tournament of maximums (exact) or the gradient's routing (route)",
           matches=_is_maxpool, accept=_accept_maxpool, reference=_maxpool_reference,
           difference=_maxpool_difference),
    OpKind("softmax", "exp(z - c) * reciprocal(sum(exp(z - c))), c shared by a sequence and its reference: the "
           "rule of exp and of reciprocal (log for log_softmax), the product exact; a final softmax is the head",
           matches=_is_softmax, accept=_accept_softmax, reference=_softmax_reference, chooses_rule=True),
    OpKind("pad", "linear (constant padding)", matches=_is_pad, accept=_accept_pad, abs_mass=_pad_abs_mass,
           carries_mass=True, transparent=True, difference=_pad_difference),
    OpKind("unary", "linear with non-negative weights: views, slicing, pooling, sums, dropout",
           matches=_is_unary, accept=_accept_unary, abs_mass=_unary_abs_mass, carries_mass=True,
           transparent=True, difference=_run),
    OpKind("cat", "linear: concatenation", matches=_in(_CAT), abs_mass=_cat_abs_mass, carries_mass=True,
           difference=_cat_difference),
    OpKind("add", "linear: a sum of input-dependent tensors", matches=lambda s: target_in(s.callee, _ADD)
           or target_in(s.callee, _SUB), accept=_accept_add, abs_mass=_add_abs_mass, carries_mass=True,
           difference=_run),
    OpKind("shift", "linear: plus or minus a constant (recognised with add)", abs_mass=_first_dep_abs_mass,
           carries_mass=True, transparent=True, difference=_linear_difference),
    OpKind("neg", "linear: negation", matches=_in(_NEG), abs_mass=_first_dep_abs_mass, carries_mass=True,
           transparent=True, difference=_run),
    OpKind("product", "the Shapley split of a product of two input-dependent tensors", matches=_is_product,
           reference=_product_reference, carries_mass=True,
           difference=_product_difference),
    OpKind("bilinear", "matmul, bmm, einsum or F.linear of two input-dependent tensors: f(Δa, b̄) + f(ā, Δb) "
           "(the Shapley split, exact)", matches=_is_bilinear, accept=_accept_bilinear,
           reference=_bilinear_reference, carries_mass=True),
    OpKind("matmul_const", "linear: matmul, bmm, einsum or F.linear with one input-dependent operand "
           "(recognised with bilinear)", abs_mass=_matmul_const_abs_mass, carries_mass=True),
    OpKind("variance", "var/std over dimensions: centring (linear), the exact product c * c, a sum, sqrt (the "
           "rule of an elementwise nonlinearity)", matches=lambda s: target_in(s.callee, _VARIANCE),
           accept=_accept_variance, reference=_variance_reference, carries_mass=True, chooses_rule=True),
    OpKind("divide", "a / b with an input-dependent b: a * reciprocal(b), the rule of reciprocal, the product "
           "exact", matches=_is_divide, accept=_accept_divide, reference=_divide_reference, carries_mass=True,
           chooses_rule=True),
    OpKind("scale", "linear: times or divided by a constant", matches=lambda s: target_in(s.callee, _MUL)
           or target_in(s.callee, DIVISION_TARGETS), accept=_accept_scale, abs_mass=_scale_abs_mass,
           carries_mass=True, transparent=True, difference=_run),
    OpKind("einops", "linear with non-negative weights: einops' rearrange and repeat (views and copies)",
           matches=_is_einops_view, accept=_accept_einops_view, abs_mass=_unary_abs_mass, carries_mass=True,
           transparent=True),
    OpKind("masked_fill", "linear: a mask that does not depend on the input sets some elements to a constant",
           matches=_in(_MASKED_FILL), accept=_accept_masked_fill, abs_mass=_masked_fill_abs_mass, carries_mass=True,
           transparent=True),
    OpKind("user_linear", "linear, registered by the user (recognised with registered)"),
)
KINDS: dict[str, OpKind] = {kind.name: kind for kind in OP_KINDS}


def classify(site: Site) -> Op:
    """The op of an input-dependent node: the first entry of :data:`OP_KINDS` that matches it."""
    for kind in OP_KINDS:
        if kind.matches(site):
            return kind.build(site)
    raise site.refuse("no DeepLIFT rule for this module" if site.module is not None
                      else "no DeepLIFT rule for this op")
