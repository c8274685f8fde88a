"""Rules for ops that are compositions of DeepLIFT's primitive rules: softmax, log_softmax and division.

Each is written as elementwise nonlinearities (Rescale or RevealCancel), linear ops (their gradient is the
multiplier) and products (:class:`~.rules.BilinearFn`, exact), so summation-to-delta holds through each
piece, hence through the whole. The derivations are in ``docs/attention.md``.

All functions take the references' values ``(n*R, ...)`` (with autograd) and the sequences' values
``(n, ...)`` and return the references' output; ``rule`` is ``"rescale"`` or ``"reveal_cancel"`` for the
elementwise pieces.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .rules import (
    RC_GROWTH,
    BilinearFn,
    RescaleFn,
    RevealCancelFn,
    TensorFn,
    bilinear_abs_mass,
    pair,
    repeat_for_refs,
    unpair,
)

# Masked scores (-inf in a sequence and its reference alike) are moved this far below the stabilising
# constant: exp underflows to exactly 0 in float32 and float64, and their difference is exactly 0.
_MASKED_BELOW = 1e4


def _reciprocal_deriv(t: torch.Tensor) -> torch.Tensor:
    return -1.0 / (t * t)


def _log_deriv(t: torch.Tensor) -> torch.Tensor:
    return 1.0 / t


def _abs_diff(x_val: torch.Tensor, r_val: torch.Tensor) -> torch.Tensor:
    xp, rp = pair(x_val, r_val)
    return unpair((xp - rp).abs())


def elementwise_rule(
    rule: str, r_in: torch.Tensor, x_in: torch.Tensor, f: TensorFn, deriv: TensorFn | None,
    s: torch.Tensor | None = None,
) -> torch.Tensor:
    """``f`` on the references with Rescale (``rule="rescale"``) or RevealCancel multipliers.

    ``s`` is the absolute mass of the input's difference for RevealCancel (default ``|x - r|``).
    """
    if rule == "reveal_cancel":
        return RevealCancelFn.apply(r_in, _abs_diff(x_in, r_in) if s is None else s, x_in, f, deriv, RC_GROWTH)
    return RescaleFn.apply(r_in, x_in, f(x_in), f, deriv)


def softmax_rule(
    rz: torch.Tensor, xz: torch.Tensor, dim: int, rule: str = "rescale", s_z: torch.Tensor | None = None,
    log: bool = False, c: torch.Tensor | None = None,
) -> torch.Tensor:
    """``softmax(z, dim)`` (or ``log_softmax``) on the references, exact.

    ``softmax(z) = e * (1 / S)`` with ``e = exp(z - c)`` (the rule of ``exp``), ``S = sum(e, dim)``
    (linear), ``1 / S`` (the rule of ``reciprocal``) and the product (:class:`BilinearFn`).
    ``log_softmax(z) = (z - c) - log(S)`` (the rule of ``log``). ``c`` is the larger of the sequence's and
    its reference's max over ``dim``, one constant per pair, so nothing overflows; the contributions do
    not depend on it (``docs/attention.md``). Entries that are ``-inf`` in both (masked attention scores)
    get weight 0 and no difference. ``c`` may be given (``(n*R, ...)``, size 1 along ``dim``): any constant
    per pair gives the same contributions in exact arithmetic.
    """
    xz = repeat_for_refs(xz, rz)
    with torch.no_grad():
        if c is None:
            c = torch.maximum(xz.amax(dim, keepdim=True), rz.amax(dim, keepdim=True))
        # on the CPU two reductions tell whether any score is masked in both; a GPU would wait for them
        any_masked = xz.device.type != "cpu" or bool(torch.isneginf(xz.amin()) & torch.isneginf(rz.amin()))
    if any_masked:
        masked = torch.isneginf(xz) & torch.isneginf(rz)
        low = (c - _MASKED_BELOW).expand_as(xz)
        xz = torch.where(masked, low, xz)
        rz = torch.where(masked, low, rz)
    zx, zr = xz - c, rz - c  # c is a constant: the difference and its absolute mass are those of z
    ex = torch.exp(zx)
    er = elementwise_rule(rule, zr, zx, torch.exp, torch.exp, s_z)
    sx, sr = ex.sum(dim, keepdim=True), er.sum(dim, keepdim=True)
    s_sum = _abs_diff(ex, er).sum(dim, keepdim=True) if rule == "reveal_cancel" else None
    if log:
        return zr - elementwise_rule(rule, sr, sx, torch.log, _log_deriv, s_sum)
    qr = elementwise_rule(rule, sr, sx, torch.reciprocal, _reciprocal_deriv, s_sum)
    return BilinearFn.apply(er, qr, ex, torch.reciprocal(sx), torch.mul)


def reciprocal_rule(
    rule: str, rb: torch.Tensor, xb: torch.Tensor, s_b: torch.Tensor | None = None
) -> torch.Tensor:
    """``1 / b`` on the references with the rule of the elementwise ``reciprocal``."""
    return elementwise_rule(rule, rb, xb, torch.reciprocal, _reciprocal_deriv, s_b)


def divide_rule(
    ra: torch.Tensor | float, rb: torch.Tensor, xa: torch.Tensor | float, xb: torch.Tensor, a_depends: bool,
    rule: str = "rescale", s_a: torch.Tensor | None = None, s_b: torch.Tensor | None = None,
    want_s: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``a / b`` with an input-dependent ``b``: ``a * reciprocal(b)``, the product exact.

    Returns the references' output and, with ``want_s``, its absolute mass for RevealCancel (the mass of
    the product's terms, :func:`~.rules.bilinear_abs_mass`).
    """
    qr = reciprocal_rule(rule, rb, xb, s_b)
    qx = torch.reciprocal(xb)
    if not a_depends:
        out = ra * qr
        s_out = _abs_diff(repeat_for_refs(xa * qx, out) if isinstance(xa, torch.Tensor) else xa * qx, out) \
            if want_s else None
        return out, s_out
    assert isinstance(ra, torch.Tensor) and isinstance(xa, torch.Tensor)  # a_depends: a tensor
    out = BilinearFn.apply(ra, qr, xa, qx, torch.mul)
    if not want_s:
        return out, None
    s_q = _abs_diff(qx, qr)
    s_a = _abs_diff(xa, ra) if s_a is None else s_a
    a_bar = 0.5 * (repeat_for_refs(xa, ra) + ra)
    q_bar = 0.5 * (repeat_for_refs(qx, qr) + qr)
    return out, bilinear_abs_mass(torch.mul, s_a, s_q, a_bar, q_bar)


def bilinear_rule(
    f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], ra: torch.Tensor, rb: torch.Tensor,
    xa: torch.Tensor, xb: torch.Tensor, s_a: torch.Tensor | None = None, s_b: torch.Tensor | None = None,
    want_s: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``f(a, b)`` of two input-dependent tensors (:class:`BilinearFn`), and its absolute mass if wanted."""
    out = BilinearFn.apply(ra, rb, xa, xb, f)
    if not want_s:
        return out, None
    s_a = _abs_diff(xa, ra) if s_a is None else s_a
    s_b = _abs_diff(xb, rb) if s_b is None else s_b
    a_bar = 0.5 * (repeat_for_refs(xa, ra) + ra)
    b_bar = 0.5 * (repeat_for_refs(xb, rb) + rb)
    return out, bilinear_abs_mass(f, s_a, s_b, a_bar, b_bar)


def variance_rule(
    r: torch.Tensor, x: torch.Tensor, dim: int | tuple[int, ...], correction: float, keepdim: bool, std: bool,
    rule: str = "rescale", s_x: torch.Tensor | None = None, want_s: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``var`` (``std``) as written out: ``c = x - mean(x)``, ``sum(c * c) / (n - correction)`` (``sqrt`` of it).

    The centring and the sum are linear, ``c * c`` the exact product (Rescale on the square), ``sqrt`` the
    rule of an elementwise nonlinearity: the same pieces as a variance written by hand, so the same scores.
    """
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    count = 1
    for d in dims:
        count *= x.shape[d]
    cx = x - x.mean(dims, keepdim=True)
    cr = r - r.mean(dims, keepdim=True)
    vx = (cx * cx).sum(dims, keepdim=keepdim) / (count - correction)
    vr = BilinearFn.apply(cr, cr, cx, cx, torch.mul).sum(dims, keepdim=keepdim) / (count - correction)
    s_v = None
    if want_s or (std and rule == "reveal_cancel"):
        s_x = _abs_diff(x, r) if s_x is None else s_x
        s_c = s_x + s_x.mean(dims, keepdim=True)  # x_i's terms, and the mean's
        c_bar = 0.5 * (repeat_for_refs(cx, cr) + cr)
        s_v = (2 * s_c * c_bar.detach().abs()).sum(dims, keepdim=keepdim) / (count - correction)
    if not std:
        return vr, s_v
    out = elementwise_rule(rule, vr, vx, torch.sqrt, None, s_v)
    return out, (_abs_diff(torch.sqrt(vx), out) if want_s else None)
