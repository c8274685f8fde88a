"""The interpreter: runs a :class:`~deeplift_genomics.graph.Plan` on sequences and references.

DeepLIFT in three steps per chunk of sequence-reference pairs:

1. the sequences' own activations, once per sequence (no autograd);
2. the references' activations with autograd, nonlinearities replaced by the rule Functions of
   :mod:`deeplift_genomics.rules` (they read the sequences' activations), and, where RevealCancel needs
   them, the "absolute mass" ``s`` of each difference (sum of |terms|) through the linear ops;
3. one backward pass per target through that shared graph (``retain_graph``); its result is the
   multipliers. ``DLG_BATCHED_GRAD=1`` batches the targets with ``is_grads_batched`` instead (vmap),
   which measured slower on CPU.

Conv1d layers run as channels-last 2-D convolutions (oneDNN is 1.7-3x faster in that layout on CPU).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from .graph import Op, Plan, call, elementwise_fn, resolve_main
from .rules import (
    GuidedFn,
    MaxPoolRouteFn,
    RescaleFn,
    RevealCancelFn,
    ShapleyProductFn,
    WeightedAbsMassFn,
    _relu_deriv,
    abs_mass_eligible,
    conv1d_nhwc,
    nhwc_eligible,
    pair,
    unpair,
)

log = logging.getLogger(__name__)

# One backward per target (retain_graph) measured faster on CPU than is_grads_batched (vmap).
_SEQUENTIAL = os.environ.get("DLG_BATCHED_GRAD") != "1"
_STRUCTURAL = ("bn", "unary", "pad", "add", "shift", "neg", "scale", "cat")


def choose_rules(plan: Plan, rule: str) -> dict[fx.Node, str]:
    """Map each nonlinearity to ``"rescale"`` or ``"reveal_cancel"``.

    ``genomics_default``: RevealCancel where a Linear layer feeds the nonlinearity (through BatchNorm,
    dropout, views), Rescale where a convolution (or anything else) does.
    """
    out = {}
    for op in plan.ops:
        if op.kind != "nonlinear":
            continue
        assert op.elem is not None  # graph.build_plan gives every nonlinear op its rule
        if not op.elem.elementwise:
            out[op.node] = "rescale"
        elif rule == "genomics_default":
            out[op.node] = "reveal_cancel" if op.fed_by == "linear" else "rescale"
        else:
            out[op.node] = rule
    return out


def nodes_needing_s(plan: Plan, rules: dict[fx.Node, str]) -> set[fx.Node]:
    """Nodes whose positive/negative split (their ``s``) some RevealCancel nonlinearity needs."""
    need: set[fx.Node] = set()
    for node, r in rules.items():
        if r == "reveal_cancel":
            need.add(resolve_main(node))
    for op in reversed(plan.ops):
        if op.node in need and op.kind in _STRUCTURAL:
            need.update(op.dep_args)
    return need


def _resolve(node: fx.Node, env: dict):
    args = fx.node.map_arg(node.args, lambda n: env[n])
    kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
    return args, kwargs


_POOL_ARGS = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")


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
    r_in: torch.Tensor, x_in: torch.Tensor, dims: int, p: dict[str, Any], where: str
) -> torch.Tensor:
    """Max pooling as a tournament of ``max(a, b) = a + relu(b - a)`` with Rescale on every ReLU.

    Summation-to-delta then holds exactly whatever the references (the gradient routing of the original
    does not keep it when the reference's max sits elsewhere in the window).
    """
    k, s = _tuple(p["kernel_size"], dims), _tuple(p["stride"], dims)
    if any(v != 0 for v in _tuple(p["padding"], dims)) or any(v != 1 for v in _tuple(p["dilation"], dims)) \
            or p["ceil_mode"]:
        from .errors import UnsupportedModelError

        raise UnsupportedModelError(f"{where}: maxpool='exact' needs padding 0, dilation 1 and ceil_mode False")
    rw, xw = _windows(r_in, dims, k, s), _windows(x_in, dims, k, s)
    while rw.shape[-1] > 1:
        m = rw.shape[-1] // 2
        xa, xb = xw[..., 0:2 * m:2], xw[..., 1:2 * m:2]
        ra, rb = rw[..., 0:2 * m:2], rw[..., 1:2 * m:2]
        xd = xb - xa
        r_new = ra + RescaleFn.apply(rb - ra, xd, torch.relu(xd), torch.relu, _relu_deriv)
        x_new = xa + torch.relu(xd)
        if rw.shape[-1] % 2:
            r_new = torch.cat([r_new, rw[..., -1:]], dim=-1)
            x_new = torch.cat([x_new, xw[..., -1:]], dim=-1)
        rw, xw = r_new, x_new
    return rw[..., 0]


def _as_ref(x_val: torch.Tensor, r_like: torch.Tensor) -> torch.Tensor:
    """A per-sequence tensor ``(n, ...)`` repeated for the references of each: ``(n*R, ...)``."""
    R = r_like.shape[0] // x_val.shape[0]
    return x_val.repeat_interleave(R, 0) if R > 1 else x_val


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


def _log_deriv(t):
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


def run_plain(plan: Plan, x: torch.Tensor, nonlinear: str = "plain") -> dict[fx.Node, Any]:
    """Run the model on ``x`` node by node; ``nonlinear="guided"`` uses guided-backprop nonlinearities."""
    modules = plan.modules()
    env: dict[fx.Node, Any] = {}  # tensors, and the non-tensor values of "meta" nodes
    for op in plan.ops:
        node = op.node
        if op.kind == "input":
            env[node] = x
            continue
        args, kwargs = _resolve(node, env)
        if op.kind == "nonlinear":
            assert op.elem is not None  # graph.build_plan gives every nonlinear op its rule
            f = elementwise_fn(op, modules, args, kwargs)
            if nonlinear == "guided":
                env[node] = GuidedFn.apply(args[0], f, op.elem.deriv)
            else:
                env[node] = f(args[0])
        elif op.kind == "weighted" and nhwc_eligible(op.module) and len(args) == 1 and not kwargs:
            env[node] = conv1d_nhwc(op.module, args[0])
        else:
            env[node] = call(node, modules, args, kwargs)
    return env


def _abs_diff(x_val, r_val):
    xp, rp = pair(x_val, r_val)
    return unpair((xp - rp).abs())


def _s_rule(op: Op, modules, args, kwargs, env, xenv, senv):
    """The absolute mass ``s`` of ``op``'s output difference (see rules.RevealCancelFn)."""
    node = op.node
    kind = op.kind

    def s_of(n):
        return senv[n] if n in senv else _abs_diff(xenv[n], env[n])

    if kind == "weighted":
        src = node.args[0]
        absd = _abs_diff(xenv[src], env[src])
        mod = op.module
        if op.family == "conv" and nhwc_eligible(mod):
            return conv1d_nhwc(mod, absd, mod.weight.abs(), bias=False)
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):  # op.family == "conv"
            return mod._conv_forward(absd, mod.weight.abs(), None)
        assert isinstance(mod, nn.Linear)  # graph._WEIGHTED_MODULES: the rest are Linear
        return F.linear(absd, mod.weight.abs())
    if kind == "bn":
        mod = op.module
        # graph.build_plan accepts BatchNorm in eval mode with running statistics only
        assert isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))
        assert mod.running_var is not None
        scale = torch.rsqrt(mod.running_var + mod.eps)
        if mod.weight is not None:
            scale = scale * mod.weight
        s_in = s_of(node.args[0])
        return s_in * scale.abs().reshape(1, -1, *([1] * (s_in.ndim - 2)))
    if kind == "unary":
        return call(node, modules, (s_of(node.args[0]), *args[1:]), kwargs)
    if kind == "pad":
        s_in = s_of(node.args[0])
        if op.module is not None:
            assert isinstance(op.module, (nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d))  # ZeroPad2d too
            return F.pad(s_in, op.module.padding, value=0.0)
        kw = dict(kwargs)
        rest = list(args[1:])
        if len(rest) >= 3:
            rest[2] = 0.0
        elif kw.get("mode", rest[1] if len(rest) > 1 else "constant") == "constant":
            kw["value"] = 0.0
        return F.pad(s_in, *rest, **kw)
    if kind == "add":
        total = None
        for a in node.args:
            if isinstance(a, fx.Node) and a in op.dep_args:
                total = s_of(a) if total is None else total + s_of(a)
        return total
    if kind in ("shift", "neg"):
        return s_of(op.dep_args[0])
    if kind == "scale":
        src = op.dep_args[0]
        other = next(a for a in args if a is not env[src])
        factor = other.abs() if isinstance(other, torch.Tensor) else abs(other)
        from .graph import DIVISION_TARGETS, target_in

        if target_in(node.target, DIVISION_TARGETS):
            return s_of(src) / factor
        return s_of(src) * factor
    if kind == "cat":
        seq = node.args[0]
        assert isinstance(seq, (list, tuple))  # torch.cat's first argument: the tensors
        parts = []
        for a in seq:
            if isinstance(a, fx.Node) and a in op.dep_args:
                parts.append(s_of(a))
            else:
                parts.append(torch.zeros_like(env[a] if isinstance(a, fx.Node) else cast(torch.Tensor, a)))
        return call(node, modules, (parts, *args[1:]), kwargs)
    return _abs_diff(xenv[node], env[node])


def run_reference_stream(
    plan: Plan,
    r0: torch.Tensor,
    xenv: dict[fx.Node, Any],
    rules: dict[fx.Node, str],
    need_s: set[fx.Node],
    maxpool: str,
) -> dict[fx.Node, Any]:
    """Reference activations ``(n*R, ...)`` with the DeepLIFT rules in their autograd graph."""
    modules = plan.modules()
    env: dict[fx.Node, Any] = {}
    senv: dict[fx.Node, torch.Tensor] = {}
    for op in plan.ops:
        node = op.node
        if op.kind == "input":
            env[node] = r0
        else:
            args, kwargs = _resolve(node, env)
            if node in need_s and op.kind == "weighted" and abs_mass_eligible(op.module) and len(args) == 1 \
                    and not kwargs:
                env[node], senv[node] = WeightedAbsMassFn.apply(args[0], xenv[resolve_main(node)], op.module)
                continue
            if op.kind == "nonlinear":
                assert op.elem is not None and isinstance(node.args[0], fx.Node)  # see graph.build_plan
                f = elementwise_fn(op, modules, args, kwargs)
                src = node.args[0]
                if rules[node] == "rescale" or not op.elem.elementwise:
                    out = RescaleFn.apply(args[0], xenv[src], xenv[node], f, op.elem.deriv)
                else:
                    s = senv[src] if src in senv else _abs_diff(xenv[src], env[src])
                    out = RevealCancelFn.apply(args[0], s, xenv[src], f, op.elem.deriv)
            elif op.kind == "maxpool":
                dims, p = pool_params(op, args, kwargs)
                src = resolve_main(node)
                if maxpool == "exact":
                    out = exact_maxpool(args[0], xenv[src], dims, p, op.where)
                else:
                    out = MaxPoolRouteFn.apply(args[0], xenv[src], _pool_fn(dims, p))
            elif op.kind == "product":
                a, b = node.args
                assert isinstance(a, fx.Node) and isinstance(b, fx.Node)  # graph.build_plan: two tensors
                out = ShapleyProductFn.apply(args[0], args[1], xenv[a], xenv[b])
            elif op.kind in ("maximum", "minimum"):
                a, b = node.args
                assert isinstance(a, fx.Node) and isinstance(b, fx.Node)  # graph.build_plan: two tensors
                out = pairwise_extreme(op.kind, args[0], args[1], xenv[a], xenv[b])
            elif op.kind == "logsumexp":
                dim = args[1] if len(args) > 1 else kwargs["dim"]
                keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
                assert isinstance(node.args[0], fx.Node)  # graph.build_plan: the input-dependent tensor first
                out = logsumexp_rule(args[0], xenv[node.args[0]], dim, keepdim)
            elif op.kind == "weighted" and nhwc_eligible(op.module) and len(args) == 1 and not kwargs:
                out = conv1d_nhwc(op.module, args[0])
            else:
                out = call(node, modules, args, kwargs)
            env[node] = out
        if node in need_s:
            if op.kind == "input":
                senv[node] = _abs_diff(xenv[node], r0)
            else:
                senv[node] = _s_rule(op, modules, args, kwargs, env, xenv, senv)
    return env


def batched_grad(y: torch.Tensor, inp: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    """Gradients of ``y @ E[t]`` for every row ``t`` of ``E`` (T, K): ``(T, *inp.shape)``.

    The forward graph is built once and shared by the T backward passes.
    """
    y2 = y.reshape(y.shape[0], -1)
    if E.shape[0] == 1:
        (g,) = torch.autograd.grad(y2, inp, E[0].expand_as(y2))
        return g.unsqueeze(0)
    if _SEQUENTIAL:
        T = E.shape[0]
        return torch.stack([torch.autograd.grad(y2, inp, E[t].expand_as(y2), retain_graph=t < T - 1)[0]
                            for t in range(T)])
    go = E[:, None, :].expand(E.shape[0], *y2.shape)
    (g,) = torch.autograd.grad(y2, inp, go, is_grads_batched=True)
    return g


def deeplift_multipliers(
    plan: Plan, x: torch.Tensor, refs: torch.Tensor, E: torch.Tensor, rules: dict[fx.Node, str],
    need_s: set[fx.Node], maxpool: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DeepLIFT multipliers for ``n`` sequences and their ``R`` references.

    Returns
    -------
    mult : (T, n, R, ...)
    f_x : (n, K) target-layer values of the sequences
    f_r : (n, R, K) target-layer values of the references
    """
    n, R = refs.shape[:2]
    with torch.no_grad():
        xenv = run_plain(plan, x)
    r0 = refs.reshape(n * R, *refs.shape[2:]).detach().requires_grad_(True)
    with torch.enable_grad():
        env = run_reference_stream(plan, r0, xenv, rules, need_s, maxpool)
        y = env[plan.target_node]
        mult = batched_grad(y, r0, E)
    f_x = xenv[plan.target_node].reshape(n, -1)
    f_r = y.detach().reshape(n, R, -1)
    return mult.reshape(E.shape[0], n, R, *refs.shape[2:]), f_x, f_r


def gradient_at(
    plan: Plan, x: torch.Tensor, E: torch.Tensor, guided: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient (or guided backprop) multipliers at ``x``: ``(T, B, ...)`` and the outputs ``(B, K)``."""
    xi = x.detach().requires_grad_(True)
    with torch.enable_grad():
        env = run_plain(plan, xi, "guided" if guided else "plain")
        y = env[plan.target_node]
        g = batched_grad(y, xi, E)
    return g, y.detach().reshape(x.shape[0], -1)


def forward(plan: Plan, x: torch.Tensor) -> torch.Tensor:
    """Target-layer values ``(B, K)``."""
    with torch.no_grad():
        return run_plain(plan, x)[plan.target_node].reshape(x.shape[0], -1)


def integrated_gradients_multipliers(
    plan: Plan, x: torch.Tensor, refs: torch.Tensor, E: torch.Tensor, n_steps: int
) -> torch.Tensor:
    """Mean gradient over the midpoints ``r + (k + 1/2)/n_steps (x - r)``: ``(T, n, R, ...)``."""
    n, R = refs.shape[:2]
    alphas = (torch.arange(n_steps, dtype=x.dtype, device=x.device) + 0.5) / n_steps
    shape = (1, 1, n_steps) + (1,) * (x.ndim - 1)
    pts = refs[:, :, None] + alphas.reshape(shape) * (x[:, None, None] - refs[:, :, None])
    g, _ = gradient_at(plan, pts.reshape(-1, *x.shape[1:]), E)
    return g.reshape(E.shape[0], n, R, n_steps, *x.shape[1:]).mean(3)
