"""DeepLIFT's differences carried as differences: the rules of the difference stream.

The interpreter's difference stream runs the model on ``Δ = x - r`` of each sequence-reference pair
instead of on the reference ``r``: a linear op maps ``Δ`` to ``W Δ`` (no bias), a sum of differences is
a sum of ``Δ``s, a view of ``Δ`` is a view. A nonlinearity reads the sequence's own activation ``x``
(computed once per sequence) and its input difference ``Δ``; the reference's activation is ``r = x - Δ``
where a rule needs it, and the output difference ``f(x) - f(r)`` is evaluated stably where ``Δ`` is
small: ReLU by cases (exact), sigmoid, tanh, exp, log and bpnet-lite's profile scaling by closed forms
without a subtraction of nearly equal numbers, any other function with ``f'(midpoint) Δ`` below a
small ``|Δ|``. The multipliers are then ratios of these carried differences.

Why: the reference stream (:func:`.interpreter.run_reference_stream`) forms ``Δ`` of every layer as the
subtraction of two forward passes, ``x - r``; each holds rounding errors of the size of ``x`` itself
(float32: 1e-7 of it), so small differences keep few correct digits, and the multipliers divided by
them amplify the loss through deep nets (bpnet-lite's BPNet profile head: 1e-3 to 1.5e-2 of the
largest score against float64). ``W Δ`` rounds relative to ``|W| |Δ|``, the size of the difference.

Every Function here has the same backward as its counterpart in :mod:`.rules` (the multiplier times the
incoming gradient), with ``Δ`` in place of ``r`` as the variable: the gradient of the target's ``Δ``
with respect to the input ``Δ`` is the matrix of DeepLIFT multipliers. RevealCancel's absolute mass
``s`` is a function of ``|Δ|`` here, whose derivative has the sign of ``Δ`` (the reference stream's has
the opposite sign), so the RevealCancel coefficient ``b`` here is ``+(m+ - m-)/2``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .rules import (
    NEAR_ZERO,
    RELU,
    Elementwise,
    TensorFn,
    _relu_deriv,
    conv1d_nhwc,
    derivative,
    pair,
    pseudocount_near_zero,
    relu_reveal_cancel_coefficients,
    two_part_grads,
    unpair,
    weighted_and_mass,
    weighted_and_mass_grad,
)

# A difference function: ``(r, d) -> f(r + d) - f(r)``, evaluated without cancellation.
DifferenceFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# ReLU's rules run the compiled kernels of :mod:`.kernels_compiled` on the CPU (tests switch them off to
# run the torch forms that other devices run) for layers of at least this many elements, or once numba
# is loaded: importing numba and loading the cached kernels takes about 1 s once per process.
COMPILED_CPU_RELU = True
_COMPILED_MIN_ELEMENTS = 1 << 18


def _memory_order(t: torch.Tensor) -> list[int] | None:
    """Dims of ``t`` after the batch dim, outermost first, when ``t`` is dense in that order (else None)."""
    strides = t.stride()
    order = sorted(range(1, t.ndim), key=lambda k: -strides[k])
    return order if t.permute(0, *order).is_contiguous() else None


def _flat(t: torch.Tensor, order: list[int]) -> Any:
    """The numpy view of ``t`` in memory order (``t`` dense in ``order``)."""
    return t.detach().permute(0, *order).reshape(-1).numpy()


def _use_compiled(x: torch.Tensor, d: torch.Tensor) -> list[int] | None:
    """The memory order to run a compiled kernel on ``x`` ``(n, ...)`` and ``d`` ``(n*R, ...)``, or None."""
    if not COMPILED_CPU_RELU or d.device.type != "cpu" or d.dtype not in (torch.float32, torch.float64):
        return None
    if d.numel() < _COMPILED_MIN_ELEMENTS and "numba" not in sys.modules:
        return None
    return _memory_order(d)


def _x_in_order(x: torch.Tensor, order: list[int], dtype: torch.dtype) -> Any:
    xo = x.detach().to(dtype).permute(0, *order)
    return xo.contiguous().reshape(-1).numpy()


def _relu_difference(r: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    x = r + d
    both = (x > 0) & (r > 0)
    return torch.where(both, d, torch.relu(x) - torch.relu(r))


def _sigmoid_difference(r: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    # sigma(t) = (1 + tanh(t/2)) / 2 and tanh(a) - tanh(b) = tanh(a - b) (1 - tanh(a) tanh(b))
    return 0.5 * torch.tanh(0.5 * d) * (1 - torch.tanh(0.5 * (r + d)) * torch.tanh(0.5 * r))


def _tanh_difference(r: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return torch.tanh(d) * (1 - torch.tanh(r + d) * torch.tanh(r))


def _exp_difference(r: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return torch.exp(r) * torch.expm1(d)


def _expm1_difference(r: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return torch.exp(r) * torch.expm1(d)


def _log_difference(r: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return torch.log1p(d / r)


def _log1p_difference(r: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return torch.log1p(d / (1 + r))


def _profile_scaling_difference(r: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """bpnet-lite's ``z * softmax(z)`` over the last axis: ``Δ(z s) = Δz (s_x + s_r)/2 + Δs (z_x + z_r)/2``.

    ``Δs_i = s_i(r) expm1(Δz_i - Δlse)`` with ``Δlse = log1p(sum_j s_j(r) expm1(Δz_j))`` where that sum is
    small (no subtraction of nearly equal numbers), ``logsumexp(x) - logsumexp(r)`` where it is not (near
    -1 the log1p form would cancel instead).
    """
    x = r + d
    s_r = torch.softmax(r, dim=-1)
    t = (s_r * torch.expm1(d)).sum(-1, keepdim=True)
    dlse = torch.where(t.abs() < 0.5, torch.log1p(t),
                       torch.logsumexp(x, -1, keepdim=True) - torch.logsumexp(r, -1, keepdim=True))
    ds = s_r * torch.expm1(d - dlse)
    s_x = s_r + ds
    return d * (0.5 * (s_x + s_r)) + ds * (0.5 * (x + r))


# Closed-form differences of the parameter-free nonlinearities, by :class:`Elementwise` name (functions
# with parameters, such as Softplus(beta) or LeakyReLU(slope), take the midpoint form).
DIFFERENCES: dict[str, DifferenceFn] = {
    "relu": _relu_difference,
    "sigmoid": _sigmoid_difference,
    "tanh": _tanh_difference,
    "exp": _exp_difference,
    "expm1": _expm1_difference,
    "log": _log_difference,
    "log1p": _log1p_difference,
    "_ProfileLogitScaling": _profile_scaling_difference,
}


def midpoint_threshold(dtype: torch.dtype) -> float:
    """``|Δ|`` below which ``f'(r + Δ/2) Δ`` is more accurate than ``f(x) - f(r)``: eps^(1/3).

    The midpoint form errs by about ``f''' Δ^3 / 24``, the subtraction by ``eps |f|``; they meet near
    ``Δ ~ eps^(1/3)`` (float32: 4.9e-3, float64: 6.1e-6).
    """
    return float(torch.finfo(dtype).eps) ** (1.0 / 3.0)


def output_difference(
    f: TensorFn, elem: Elementwise, r: torch.Tensor, d: torch.Tensor, x_out: torch.Tensor
) -> torch.Tensor:
    """``f(r + d) - f(r)`` for paired ``r``, ``d`` ``(n, R, ...)`` and ``x_out = f(x)`` ``(n, 1, ...)``.

    The closed form of :data:`DIFFERENCES` where there is one (non-finite values there, e.g. ``log`` of a
    part outside its domain, take the subtraction); otherwise the subtraction, and for elementwise
    functions ``f'(r + d/2) d`` where ``|d|`` is below :func:`midpoint_threshold`.
    """
    closed = DIFFERENCES.get(elem.name)
    if closed is not None:
        dy = closed(r, d)
        if dy.device.type != "cpu" or not bool(torch.isfinite(dy).all()):
            dy = torch.where(torch.isfinite(dy), dy, x_out - f(r))
        return dy
    dy = x_out - f(r)
    if not elem.elementwise:
        return dy
    small = d.abs() < midpoint_threshold(d.dtype)
    if dy.device.type != "cpu" or bool(small.any()):
        mid = derivative(f, elem.deriv, r + 0.5 * d) * d
        dy = torch.where(small & torch.isfinite(mid), mid, dy)
    return dy


def _relu_rescale(x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ReLU's Rescale slope and output difference by cases, from ``x`` ``(n, 1, ...)`` and ``d`` ``(n, R, ...)``.

    With ``t = x / d``: ``slope = clamp(t, 0, 1)`` for ``d > 0`` and ``clamp(1 - t, 0, 1)`` for ``d < 0``
    (exactly 1 or 0 where ``x`` and ``r = x - d`` lie on the same side of 0), and the gradient at the
    reference, ``[x > 0]``, where ``d == 0``. The output difference is ``slope * d``: ``d`` itself where
    both are positive.
    """
    order = _use_compiled(x.squeeze(1), unpair(d))
    if order is not None:
        from . import kernels_compiled  # heavy: numba, loaded once layers are large enough to repay it

        d_flat = unpair(d)
        slope, dy = torch.empty_like(d_flat), torch.empty_like(d_flat)
        kernels_compiled.relu_rescale(_x_in_order(x.squeeze(1), order, d.dtype), _flat(d_flat, order),
                                      _flat(slope, order), _flat(dy, order), d.shape[0], d.shape[1],
                                      d_flat[0].numel())
        return slope.reshape(d.shape), dy.reshape(d.shape)
    t = x / d
    slope = torch.where(d > 0, t, 1 - t).clamp_(0.0, 1.0)
    zero = d == 0
    if slope.device.type != "cpu" or bool(zero.any()):
        slope = torch.where(zero, (x > 0).to(slope.dtype).expand_as(slope), slope)
    return slope, slope * d


class RescaleDeltaFn(torch.autograd.Function):
    """A nonlinearity on the difference stream: output difference forward, Rescale slope backward."""

    @staticmethod
    def forward(
        ctx: Any, d_in: torch.Tensor, x_in: torch.Tensor, x_out: torch.Tensor, f: TensorFn, elem: Elementwise
    ) -> torch.Tensor:
        xp, dp = pair(x_in, d_in)
        if elem.deriv is _relu_deriv:
            slope, dy = _relu_rescale(xp, dp)
        else:
            rp = xp - dp
            dy = output_difference(f, elem, rp, dp, x_out.unsqueeze(1))
            near = dp.abs() < NEAR_ZERO
            slope = dy / torch.where(near, torch.ones_like(dp), dp)
            if dp.device.type != "cpu" or bool(near.any()):
                slope = torch.where(near, derivative(f, elem.deriv, rp), slope)
        ctx.save_for_backward(unpair(slope))
        return unpair(dy)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None, None, None, None]:
        (slope,) = ctx.saved_tensors
        return slope * g, None, None, None, None


def reveal_cancel_delta_multipliers(
    f: TensorFn, elem: Elementwise, r: torch.Tensor, p: torch.Tensor, n: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`.rules.reveal_cancel_multipliers` with each ``f(a + h) - f(a)`` a carried difference."""
    closed = DIFFERENCES.get(elem.name)

    def diff(a: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if closed is not None:
            out = closed(a, h)
            return torch.where(torch.isfinite(out), out, f(a + h) - f(a))
        return f(a + h) - f(a)

    pc_p = pseudocount_near_zero(p)
    pc_n = pseudocount_near_zero(n)
    dyp = 0.5 * (diff(r, pc_p) + diff(r + n, pc_p))
    dyn = 0.5 * (diff(r, pc_n) + diff(r + p, pc_n))
    return dyp / pc_p, dyn / pc_n


class RevealCancelDeltaFn(torch.autograd.Function):
    """RevealCancel on the difference stream: output difference forward; ``a g`` to ``Δ``, ``b g`` to ``s``.

    ``p = (Δ + s)/2``, ``n = (Δ - s)/2``; ``a = (m+ + m-)/2``, ``b = (m+ - m-)/2`` (``s`` depends on
    ``|Δ|`` below, with the sign of ``Δ``; see the module docstring). The output difference is
    ``m+ p + m- n``, which is ``f(x) - f(r)``; for ReLU it is taken by cases, as Rescale's.
    """

    @staticmethod
    def forward(
        ctx: Any, d_in: torch.Tensor, s: torch.Tensor, x_in: torch.Tensor, x_out: torch.Tensor, f: TensorFn,
        elem: Elementwise,
    ) -> torch.Tensor:
        xp, dp = pair(x_in, d_in)
        sp = s.reshape(dp.shape)
        if elem.deriv is _relu_deriv:
            a, b, dy = relu_reveal_cancel_delta(xp, dp, sp)
        else:
            rp = xp - dp
            m_pos, m_neg = reveal_cancel_delta_multipliers(f, elem, rp, 0.5 * (dp + sp), 0.5 * (dp - sp))
            a, b = 0.5 * (m_pos + m_neg), 0.5 * (m_pos - m_neg)
            dy = output_difference(f, elem, rp, dp, x_out.unsqueeze(1))
            bad = ~(torch.isfinite(a) & torch.isfinite(b))
            if bool(bad.any()):
                # r + n or r + p left f's domain: Rescale there, which keeps summation-to-delta
                near = dp.abs() < NEAR_ZERO
                slope = dy / torch.where(near, torch.ones_like(dp), dp)
                slope = torch.where(near, derivative(f, elem.deriv, rp), slope)
                a = torch.where(bad, slope, a)
                b = torch.where(bad, torch.zeros_like(b), b)
        ctx.save_for_backward(unpair(a), unpair(b))
        return unpair(dy)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None, None, None, None]:
        return (*two_part_grads(ctx, g), None, None, None, None)


def relu_reveal_cancel_delta(
    x: torch.Tensor, d: torch.Tensor, s: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ReLU RevealCancel coefficients ``(a, b)`` and output difference from ``x``, ``Δ`` and ``s``.

    Paired views: ``x`` ``(n, 1, ...)``, ``d`` and ``s`` ``(n, R, ...)``.
    """
    d_flat = unpair(d)
    s_flat = unpair(s)
    order = _use_compiled(x.squeeze(1), d_flat)
    if order is not None and _memory_order(s_flat) == order:
        from . import kernels_compiled  # heavy: numba, loaded once layers are large enough to repay it

        a, b, dy = torch.empty_like(d_flat), torch.empty_like(d_flat), torch.empty_like(d_flat)
        kernels_compiled.relu_reveal_cancel(_x_in_order(x.squeeze(1), order, d.dtype), _flat(d_flat, order),
                                            _flat(s_flat, order), _flat(a, order), _flat(b, order),
                                            _flat(dy, order), d.shape[0], d.shape[1], d_flat[0].numel())
        return a.reshape(d.shape), b.reshape(d.shape), dy.reshape(d.shape)
    r = x - d
    a, b_ref = relu_reveal_cancel_coefficients(x, r, s)
    _, dy = _relu_rescale(x, d)
    return a, b_ref.neg_(), dy


class WeightedDeltaFn(torch.autograd.Function):
    """A Conv1d or Linear layer on ``Δ`` (no bias) and its absolute mass ``s = |W| |Δ|`` together.

    The backward sends ``W^T g + sign(Δ) |W|^T g_s`` to ``Δ`` with one fused in-place update.
    """

    @staticmethod
    def forward(ctx: Any, d_in: torch.Tensor, layer: nn.Conv1d | nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.sign = d_in.sign()
        return weighted_and_mass(ctx, layer, d_in, d_in.abs(), bias=False)

    @staticmethod
    def backward(ctx: Any, g_out: torch.Tensor, g_s: torch.Tensor) -> tuple[torch.Tensor, None]:
        return weighted_and_mass_grad(ctx, g_out, g_s), None


def weighted_delta(layer: nn.Module, d: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """A Conv or Linear layer applied to a difference: ``W Δ``, the bias left out."""
    w = weight if weight is not None else layer.weight
    assert isinstance(w, torch.Tensor)  # Conv and Linear hold their weight as a tensor
    if isinstance(layer, nn.Conv1d) and layer.padding_mode == "zeros":
        return conv1d_nhwc(layer, d, w, bias=False)
    if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return layer._conv_forward(d, w, None)
    assert isinstance(layer, nn.Linear)  # the weighted kinds are Conv and Linear
    return F.linear(d, w)


def relu_delta(xd: torch.Tensor, dd: torch.Tensor) -> torch.Tensor:
    """``relu(x) - relu(x - Δ)`` with Rescale's slope in the backward, for a per-sequence ``x`` ``(n, ...)``."""
    return RescaleDeltaFn.apply(dd, xd, torch.relu(xd), torch.relu, RELU)


def pairwise_extreme_delta(
    kind: str, da: torch.Tensor, db: torch.Tensor, xa: torch.Tensor, xb: torch.Tensor
) -> torch.Tensor:
    """Differences of ``maximum(a, b) = a + relu(b - a)`` and ``minimum(a, b) = a - relu(a - b)``."""
    if kind == "maximum":
        return da + relu_delta(xb - xa, db - da)
    return da - relu_delta(xa - xb, da - db)


class MaxPoolRouteDeltaFn(torch.autograd.Function):
    """Max pooling on the difference stream, its backward routed to the argmax of ``x``.

    ``Δ_out = Δ[j_r] + (x_out - x[j_r])`` with ``j_r`` the reference's argmax: where the sequence and its
    reference peak at the same place the second term is exactly zero and ``Δ_out`` is a carried ``Δ``.
    """

    @staticmethod
    def forward(ctx: Any, d_in: torch.Tensor, x_in: torch.Tensor, pool: Callable[..., Any]) -> torch.Tensor:
        xp, dp = pair(x_in, d_in)
        r_in = unpair(xp - dp)
        _, idx_r = pool(r_in, return_indices=True)  # (n*R, C, *out)
        x_out, idx_x = pool(x_in, return_indices=True)  # (n, C, *out)
        flat_d = d_in.flatten(2)
        flat_x = unpair(xp.expand_as(dp)).flatten(2)
        ir = idx_r.flatten(2)
        gathered_d = flat_d.gather(2, ir)
        gathered_x = flat_x.gather(2, ir)
        xo = unpair(x_out.unsqueeze(1).expand(-1, dp.shape[1], *x_out.shape[1:])).flatten(2)
        out = gathered_d + (xo - gathered_x)
        ctx.save_for_backward(idx_x)
        ctx.in_shape = d_in.shape
        return out.reshape(idx_r.shape)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (idx,) = ctx.saved_tensors
        n = idx.shape[0]
        c = idx.shape[1]
        g4 = g.reshape(n, -1, c, idx[0, 0].numel())
        i4 = idx.reshape(n, 1, c, -1).expand_as(g4)
        spatial = math.prod(ctx.in_shape[2:])
        out = g4.new_zeros(g4.shape[:-1] + (spatial,)).scatter_add(-1, i4, g4)
        return out.reshape(ctx.in_shape), None, None

