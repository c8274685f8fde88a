"""The interpreter: runs a :class:`~deeplift_genomics.engine.graph.Plan` on sequences and references.

Every op runs through its entry of the op table (:data:`deeplift_genomics.engine.ops.OP_KINDS`): ``plain`` for
the sequences, ``reference`` (with DeepLIFT's rules) and ``abs_mass`` for the references. DeepLIFT in
three steps per chunk of sequence-reference pairs:

1. the sequences' own activations, once per sequence (no autograd);
2. the references' activations with autograd, nonlinearities replaced by the rule Functions of
   :mod:`deeplift_genomics.engine.rules` (they read the sequences' activations), and, where RevealCancel needs
   them, the "absolute mass" ``s`` of each difference (sum of |terms|) through the linear ops;
3. one backward pass per target through that shared graph (``retain_graph``); its result is the
   multipliers. ``DLG_BATCHED_GRAD=1`` batches the targets with ``is_grads_batched`` instead (vmap),
   which measured slower on CPU.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
import torch.fx as fx

from .graph import Plan
from .ops import KINDS, Step

log = logging.getLogger(__name__)

# One backward per target (retain_graph) measured faster on CPU than is_grads_batched (vmap).
_SEQUENTIAL = os.environ.get("DLG_BATCHED_GRAD") != "1"


def choose_rules(plan: Plan, rule: str) -> dict[fx.Node, str]:
    """Map each op with elementwise pieces (nonlinearities, softmax, division) to ``"rescale"`` or ``"reveal_cancel"``.

    ``genomics_default``: RevealCancel where a dense layer (a Linear on ``(N, features)``, seeing the whole
    sequence) feeds the op through BatchNorm, dropout or views; Rescale where a convolution, a Linear
    applied at every position (attention's projections, a transformer's feed-forward block) or anything
    else does. In an attention model the norms, the softmax and the divisions thus take Rescale, which keeps
    the scores of a model and of the same model written out by hand equal (``docs/attention.md``).
    """
    out = {}
    for op in plan.ops:
        if not KINDS[op.kind].chooses_rule:
            continue
        if op.kind == "nonlinear":
            assert op.elem is not None  # graph.build_plan gives every nonlinear op its rule
            if not op.elem.elementwise:
                out[op.node] = "rescale"
                continue
        if rule == "genomics_default":
            out[op.node] = "reveal_cancel" if op.fed_by == "linear" else "rescale"
        else:
            out[op.node] = rule
    return out


def nodes_needing_s(plan: Plan, rules: dict[fx.Node, str]) -> set[fx.Node]:
    """Nodes whose positive/negative split (their ``s``) some RevealCancel op needs."""
    need: set[fx.Node] = set()
    for node, r in rules.items():
        if r == "reveal_cancel":
            need.update(plan.by_node[node].dep_args)
    for op in reversed(plan.ops):
        if op.node in need and KINDS[op.kind].carries_mass:
            need.update(op.dep_args)
    return need


def _resolve(node: fx.Node, env: dict):
    args = fx.node.map_arg(node.args, lambda n: env[n])
    kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
    return args, kwargs


def run_plain(plan: Plan, x: torch.Tensor, nonlinear: str = "plain") -> dict[fx.Node, Any]:
    """Run the model on ``x`` node by node; ``nonlinear="guided"`` uses guided-backprop nonlinearities."""
    modules = plan.modules()
    env: dict[fx.Node, Any] = {}  # tensors, and the non-tensor values of "meta" nodes
    for op in plan.ops:
        if op.kind == "input":
            env[op.node] = x
            continue
        args, kwargs = _resolve(op.node, env)
        env[op.node] = KINDS[op.kind].plain(Step(op, modules, args, kwargs, env, env, {}, mode=nonlinear))
    return env


def run_reference_stream(
    plan: Plan,
    r0: torch.Tensor,
    xenv: dict[fx.Node, Any],
    rules: dict[fx.Node, str],
    need_s: set[fx.Node],
    maxpool: str,
) -> dict[fx.Node, Any]:
    """Reference activations ``(n*R, ...)`` with the DeepLIFT rules in their autograd graph.

    Each op runs its op-table entry's ``reference``; where a RevealCancel nonlinearity needs it, the
    entry's ``abs_mass`` gives the absolute mass ``s`` of the op's output difference.
    """
    modules = plan.modules()
    env: dict[fx.Node, Any] = {}
    senv: dict[fx.Node, torch.Tensor] = {}
    for op in plan.ops:
        node = op.node
        kind = KINDS[op.kind]
        args, kwargs = _resolve(node, env)
        step = Step(op, modules, args, kwargs, env, xenv, senv, rule=rules.get(node, "rescale"), maxpool=maxpool,
                    need_s=node in need_s)
        env[node] = r0 if op.kind == "input" else kind.reference(step)
        if step.need_s and node not in senv:
            senv[node] = kind.abs_mass(step)
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
