"""Norms and attention written out in primitive ops, for the tracer to record instead of the module.

``nn.LayerNorm``, ``nn.RMSNorm``, ``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer`` and
``nn.TransformerEncoder`` (exactly these classes: a subclass is traced as written), and the functions
``F.layer_norm``, ``F.rms_norm`` and ``F.scaled_dot_product_attention``, are traced as the pure functions
below: means, products, ``rsqrt``, ``softmax``, matmuls and the modules' own Linear layers. A model built
from these modules and the same model written out by hand then go through the very same primitive rules
of the op table, so under Rescale their contributions agree by construction (``docs/attention.md``).

Everything here computes batch-first: a module built with ``batch_first=False`` is transposed at its
entry and its exit, so every nonlinearity inside sees the batch in dimension 0, as the engine's pairing of
sequences and references needs. Dropout is left out (the engine attributes models in eval mode).

:data:`MODULE_EXPANSIONS` maps a module class to its function ``f(module, *args, **kwargs)``;
:func:`traced_functions` patches the functions while fx traces.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor


def _leaf(fn: Callable, *args: Any) -> Any:
    """``fn(*args)``, recorded as one node when an argument is a Proxy (fn never sees a Proxy)."""
    for a in args:
        if isinstance(a, fx.Proxy):
            return a.tracer.create_proxy("call_function", fn, args, {})
    return fn(*args)


def additive_mask(mask: Tensor, dtype: torch.dtype, true_means_masked: bool) -> Tensor:
    """An attention mask as the float added to the scores: ``-inf`` where masked, the float mask as is."""
    if mask.dtype != torch.bool:
        return mask.to(dtype)
    masked = mask if true_means_masked else ~mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(masked, float("-inf"))


def padding_mask(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """A key padding mask ``(N, S)`` (True or -inf: ignore that key) as ``(N, 1, 1, S)`` added to the scores."""
    return additive_mask(mask, dtype, True)[:, None, None, :]


def causal_mask(length: int, source: int, dtype: torch.dtype) -> Tensor:
    """``-inf`` above the diagonal ``(L, S)``: a query sees the keys up to its own position."""
    return torch.zeros(length, source, dtype=dtype).masked_fill(
        torch.ones(length, source, dtype=torch.bool).triu(1), float("-inf"))


def default_eps(dtype: torch.dtype) -> float:
    """``torch.finfo(dtype).eps``: nn.RMSNorm's epsilon when none is given."""
    return torch.finfo(dtype).eps


def _dims(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    n = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    return tuple(range(-n, 0))


def layer_norm(
    x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None, bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """``(x - mean) * rsqrt(mean((x - mean)^2) + eps) * weight + bias`` over the last dimensions."""
    dims = _dims(normalized_shape)
    centred = x - x.mean(dims, keepdim=True)
    var = (centred * centred).mean(dims, keepdim=True)
    y = centred * torch.rsqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def rms_norm(
    x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None, eps: float | None = None
) -> Tensor:
    """``x * rsqrt(mean(x^2) + eps) * weight`` over the last dimensions (eps: the dtype's when None)."""
    dims = _dims(normalized_shape)
    if eps is None:
        eps = _leaf(default_eps, x.dtype)
    y = x * torch.rsqrt((x * x).mean(dims, keepdim=True) + eps)
    return y if weight is None else y * weight


def scaled_dot_product_attention(
    query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None, dropout_p: float = 0.0,
    is_causal: bool = False, scale: float | None = None, enable_gqa: bool = False,
) -> Tensor:
    """``softmax(q @ k^T * scale + mask) @ v`` (a boolean ``attn_mask`` is True where a key takes part)."""
    if dropout_p:
        raise ValueError("scaled_dot_product_attention with dropout_p > 0 is random; pass 0.0 in eval mode")
    if enable_gqa:
        raise ValueError("scaled_dot_product_attention with enable_gqa is not written out here")
    scores = (query @ key.transpose(-2, -1)) * (query.size(-1) ** -0.5 if scale is None else scale)
    if is_causal:
        scores = scores + _leaf(causal_mask, query.size(-2), key.size(-2), query.dtype)
    if attn_mask is not None:
        scores = scores + _leaf(additive_mask, attn_mask, query.dtype, False)
    return torch.softmax(scores, dim=-1) @ value


def multihead_attention(
    m: nn.MultiheadAttention, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
    need_weights: bool = True, attn_mask: Tensor | None = None, average_attn_weights: bool = True,
    is_causal: bool = False, batch_first: bool | None = None,
) -> tuple[Tensor, Tensor | None]:
    """``nn.MultiheadAttention.forward`` (eval mode) written out: projections, per-head softmax, output projection.

    ``attn_mask`` ``(L, S)`` (True: masked) and ``key_padding_mask`` ``(N, S)`` as the module takes them.
    ``batch_first`` overrides the module's (the encoder layers call it batch-first inside).
    """
    bf = m.batch_first if batch_first is None else batch_first
    if not bf:
        query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
    E, H = m.embed_dim, m.num_heads
    if m._qkv_same_embed_dim:
        assert m.in_proj_weight is not None  # nn.MultiheadAttention: set when q, k, v share the embedding size
        w_q, w_k, w_v = m.in_proj_weight[:E], m.in_proj_weight[E:2 * E], m.in_proj_weight[2 * E:]
    else:
        w_q, w_k, w_v = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
    b_q = b_k = b_v = None
    if m.in_proj_bias is not None:
        b_q, b_k, b_v = m.in_proj_bias[:E], m.in_proj_bias[E:2 * E], m.in_proj_bias[2 * E:]
    q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
    mask = None
    if attn_mask is not None:
        mask = _leaf(additive_mask, attn_mask, q.dtype, True)
    elif is_causal:
        mask = _leaf(causal_mask, q.size(1), k.size(1), q.dtype)
    pad = None if key_padding_mask is None else _leaf(padding_mask, key_padding_mask, q.dtype)
    if m.bias_k is not None and m.bias_v is not None:
        k = torch.cat([k, m.bias_k.expand(k.size(0), 1, E)], dim=1)
        v = torch.cat([v, m.bias_v.expand(v.size(0), 1, E)], dim=1)
        mask = None if mask is None else F.pad(mask, (0, 1))
        pad = None if pad is None else F.pad(pad, (0, 1))
    if m.add_zero_attn:
        k = torch.cat([k, torch.zeros_like(k[:, :1])], dim=1)
        v = torch.cat([v, torch.zeros_like(v[:, :1])], dim=1)
        mask = None if mask is None else F.pad(mask, (0, 1))
        pad = None if pad is None else F.pad(pad, (0, 1))
    q, k, v = (t.unflatten(-1, (H, m.head_dim)).transpose(1, 2) for t in (q, k, v))  # (N, H, L, head_dim)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(m.head_dim))
    if mask is not None:
        scores = scores + mask
    if pad is not None:
        scores = scores + pad
    weights = torch.softmax(scores, dim=-1)
    out = m.out_proj((weights @ v).transpose(1, 2).flatten(-2))
    if not bf:
        out = out.transpose(0, 1)
    if not need_weights:
        return out, None
    return out, weights.mean(1) if average_attn_weights else weights


def transformer_encoder_layer(
    m: nn.TransformerEncoderLayer, src: Tensor, src_mask: Tensor | None = None,
    src_key_padding_mask: Tensor | None = None, is_causal: bool = False, batch_first: bool | None = None,
) -> Tensor:
    """``nn.TransformerEncoderLayer.forward`` without its fused fast path: pre- or post-norm, eval mode."""
    bf = m.self_attn.batch_first if batch_first is None else batch_first
    x = src if bf else src.transpose(0, 1)

    def attend(h: Tensor) -> Tensor:
        return multihead_attention(m.self_attn, h, h, h, key_padding_mask=src_key_padding_mask, need_weights=False,
                                   attn_mask=src_mask, is_causal=is_causal, batch_first=True)[0]

    def feed_forward(h: Tensor) -> Tensor:
        return m.linear2(m.activation(m.linear1(h)))

    if m.norm_first:
        x = x + attend(m.norm1(x))
        x = x + feed_forward(m.norm2(x))
    else:
        x = m.norm1(x + attend(x))
        x = m.norm2(x + feed_forward(x))
    return x if bf else x.transpose(0, 1)


def transformer_encoder(
    m: nn.TransformerEncoder, src: Tensor, mask: Tensor | None = None, src_key_padding_mask: Tensor | None = None,
    is_causal: bool | None = None,
) -> Tensor:
    """``nn.TransformerEncoder.forward``: its layers, then its norm (batch-first inside)."""
    first = m.layers[0]
    bf = bool(first.self_attn.batch_first) if isinstance(first, nn.TransformerEncoderLayer) else True
    x = src if bf else src.transpose(0, 1)
    for layer in m.layers:
        if type(layer) is nn.TransformerEncoderLayer:
            x = transformer_encoder_layer(layer, x, mask, src_key_padding_mask, bool(is_causal), batch_first=True)
        else:  # a subclass: traced as written (batch_first=False subclasses are not transposed for)
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask)
    if m.norm is not None:
        x = m.norm(x)
    return x if bf else x.transpose(0, 1)


def _layer_norm_module(m: nn.LayerNorm, x: Tensor) -> Tensor:
    return layer_norm(x, m.normalized_shape, m.weight, m.bias, m.eps)


def _rms_norm_module(m: nn.RMSNorm, x: Tensor) -> Tensor:
    return rms_norm(x, m.normalized_shape, m.weight, m.eps)


MODULE_EXPANSIONS: dict[type, Callable[..., Any]] = {
    nn.LayerNorm: _layer_norm_module,
    nn.RMSNorm: _rms_norm_module,
    nn.MultiheadAttention: multihead_attention,
    nn.TransformerEncoderLayer: transformer_encoder_layer,
    nn.TransformerEncoder: transformer_encoder,
}

# torch.nn.functional's functions written out while fx traces (called with a Proxy among their arguments)
FUNCTION_EXPANSIONS: dict[str, Callable[..., Any]] = {
    "layer_norm": layer_norm,
    "rms_norm": rms_norm,
    "scaled_dot_product_attention": scaled_dot_product_attention,
}


def module_expansion(m: nn.Module) -> Callable[..., Any] | None:
    """The written-out function of ``m``'s class (exactly that class), or None."""
    return MODULE_EXPANSIONS.get(type(m))


@contextlib.contextmanager
def traced_functions() -> Iterator[None]:
    """While fx traces: ``F.layer_norm``, ``F.rms_norm`` and ``F.scaled_dot_product_attention`` written out.

    The patched functions run the originals when no argument is a Proxy.
    """
    originals = {name: getattr(F, name) for name in FUNCTION_EXPANSIONS}

    def patched(name: str) -> Callable[..., Any]:
        orig, written = originals[name], FUNCTION_EXPANSIONS[name]

        def fn(*args: Any, **kwargs: Any) -> Any:
            found: list[fx.Proxy] = []
            fx.node.map_aggregate((args, kwargs), lambda a: found.append(a) if isinstance(a, fx.Proxy) else None)
            return written(*args, **kwargs) if found else orig(*args, **kwargs)

        fn.__name__ = name
        return fn

    try:
        for name in originals:
            setattr(F, name, patched(name))
        yield
    finally:
        for name, orig in originals.items():
            setattr(F, name, orig)
