"""Small attention models for the engine tests: torch.nn's modules and the same weights written out by hand."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

D_MODEL = 8
HEADS = 2


class ConvTransformer(nn.Module):
    """Conv stem (N, 4, L) -> nn.TransformerEncoder (2 layers, final LayerNorm) -> mean over L -> dense head (N, T)."""

    def __init__(self, norm_first: bool = False, activation: str = "gelu", batch_first: bool = True, tasks: int = 3):
        super().__init__()
        self.batch_first = batch_first
        self.stem = nn.Conv1d(4, D_MODEL, 5, padding=2)
        layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, 16, dropout=0.1, activation=activation,
                                           batch_first=batch_first, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D_MODEL), enable_nested_tensor=False)
        self.dense = nn.Linear(D_MODEL, 6)
        self.out = nn.Linear(6, tasks)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = h.transpose(1, 2) if self.batch_first else h.permute(2, 0, 1)
        h = self.encoder(h)
        h = h.mean(1 if self.batch_first else 0)
        return self.out(torch.relu(self.dense(h)))


def _layer_norm_by_hand(x, norm: nn.LayerNorm):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def _attention_by_hand(x, attn: nn.MultiheadAttention):
    E, H = attn.embed_dim, attn.num_heads
    d = E // H
    w, b = attn.in_proj_weight, attn.in_proj_bias
    q = x @ w[:E].T + b[:E]
    k = x @ w[E:2 * E].T + b[E:2 * E]
    v = x @ w[2 * E:].T + b[2 * E:]
    heads = []
    for h in range(H):
        sl = slice(h * d, (h + 1) * d)
        scores = q[..., sl] @ k[..., sl].transpose(-2, -1) / math.sqrt(d)
        heads.append(torch.softmax(scores, dim=-1) @ v[..., sl])
    return torch.cat(heads, dim=-1) @ attn.out_proj.weight.T + attn.out_proj.bias


class HandWrittenTwin(nn.Module):
    """:class:`ConvTransformer` (batch first) with its weights, attention and LayerNorm written out by hand."""

    def __init__(self, model: ConvTransformer):
        super().__init__()
        self.m = model

    def forward(self, x):
        m = self.m
        h = torch.relu(m.stem(x)).transpose(1, 2)
        for layer in m.encoder.layers:
            act = F.gelu if layer.activation is F.gelu else F.relu

            def ff(t, layer=layer, act=act):
                return act(t @ layer.linear1.weight.T + layer.linear1.bias) @ layer.linear2.weight.T + layer.linear2.bias

            if layer.norm_first:
                h = h + _attention_by_hand(_layer_norm_by_hand(h, layer.norm1), layer.self_attn)
                h = h + ff(_layer_norm_by_hand(h, layer.norm2))
            else:
                h = _layer_norm_by_hand(h + _attention_by_hand(h, layer.self_attn), layer.norm1)
                h = _layer_norm_by_hand(h + ff(h), layer.norm2)
        h = _layer_norm_by_hand(h, m.encoder.norm).mean(1)
        return m.out(torch.relu(m.dense(h)))


class SdpaRmsNet(nn.Module):
    """Conv stem, q/k/v projections, F.scaled_dot_product_attention over 2 heads, nn.RMSNorm, SiLU, dense head."""

    def __init__(self, tasks: int = 2, functional_norm: bool = False):
        super().__init__()
        self.functional_norm = functional_norm
        self.stem = nn.Conv1d(4, D_MODEL, 5, padding=2)
        self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL)
        self.norm = nn.RMSNorm(D_MODEL, eps=1e-6)
        self.ff = nn.Linear(D_MODEL, D_MODEL)
        self.out = nn.Linear(D_MODEL, tasks)

    def forward(self, x):
        h = F.softplus(self.stem(x)).transpose(1, 2)
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        q, k, v = (t.unflatten(-1, (HEADS, D_MODEL // HEADS)).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(-2)
        h = h + a
        if self.functional_norm:
            h = F.rms_norm(h, (D_MODEL,), self.norm.weight, 1e-6)
        else:
            h = self.norm(h)
        h = h + F.silu(self.ff(h))
        return self.out(h.mean(1))


class MaskedAttentionNet(nn.Module):
    """nn.MultiheadAttention (sequence first) with a causal attn_mask, a key padding mask and its weights used."""

    def __init__(self, length: int, tasks: int = 2):
        super().__init__()
        self.stem = nn.Conv1d(4, D_MODEL, 3, padding=1)
        self.attn = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=False)
        self.register_buffer("causal", torch.ones(length, length, dtype=torch.bool).triu(1))
        pad = torch.zeros(1, length, dtype=torch.bool)
        pad[0, -2:] = True
        self.register_buffer("pad", pad)
        self.out = nn.Linear(D_MODEL + length, tasks)

    def forward(self, x):
        h = torch.tanh(self.stem(x)).permute(2, 0, 1)  # (L, N, E)
        pad = torch.zeros_like(h[0, :, :1], dtype=torch.bool) | self.pad  # (N, L): a mask per record, constant
        a, w = self.attn(h, h, h, attn_mask=self.causal, key_padding_mask=pad, need_weights=True)
        return self.out(torch.cat([a.mean(0), w[:, -1]], dim=-1))


def init_attention_(model: nn.Module, seed: int, scale: float = 1.0) -> nn.Module:
    """Seeded weights of O(1) effect (norm gains around 1), in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
            else:
                fan_in = p.shape[-1] if p.ndim > 1 else 4
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale / fan_in ** 0.5)
    return model.eval()


class AttentionVariantNet(nn.Module):
    """nn.MultiheadAttention with keys and values of their own, its per-head weights used; options as given."""

    def __init__(self, **options):
        super().__init__()
        self.batch_first = options.get("batch_first", False)
        self.stem = nn.Conv1d(4, D_MODEL, 3, padding=1)
        self.attn = nn.MultiheadAttention(D_MODEL, HEADS, **options)
        self.out = nn.Linear(D_MODEL, 2)

    def forward(self, x):
        h = torch.tanh(self.stem(x))
        kv = torch.sigmoid(h)  # elementwise ops of its own see the batch first
        if self.attn.kdim != self.attn.embed_dim:
            kv = torch.cat([kv, kv[:, :self.attn.kdim - D_MODEL]], dim=1)
        h, kv = (t.transpose(1, 2) if self.batch_first else t.permute(2, 0, 1) for t in (h, kv))
        a, w = self.attn(h, kv, kv, need_weights=True, average_attn_weights=False)
        return self.out(a.mean(1 if self.batch_first else 0)) + w.mean((1, 2, 3))[:, None]


class EnformerStyleNet(nn.Module):
    """Enformer's attention pieces written without shape control flow: attention pooling (a softmax over each
    window of conv logits), relative-position logits (an einsum with constant positional features, Enformer's
    relative shift by padding and reshaping), content and position biases, and its GELU ``x * sigmoid(1.702 x)``."""

    def __init__(self, length: int, tasks: int = 2):
        super().__init__()
        self.n = length // 2
        self.stem = nn.Conv1d(4, D_MODEL, 5, padding=2)
        self.pool_logits = nn.Conv2d(D_MODEL, D_MODEL, 1, bias=False)
        self.q, self.k, self.v = (nn.Linear(D_MODEL, D_MODEL, bias=False) for _ in range(3))
        self.rel_k = nn.Linear(6, D_MODEL, bias=False)
        self.content_bias = nn.Parameter(torch.zeros(1, HEADS, 1, D_MODEL // HEADS))
        self.pos_bias = nn.Parameter(torch.zeros(1, HEADS, 1, D_MODEL // HEADS))
        dist = torch.arange(-self.n + 1, self.n, dtype=torch.float32)
        feats = torch.stack([torch.exp(-dist.abs() / s) for s in (1.0, 2.0, 4.0)], dim=-1)
        self.register_buffer("positions", torch.cat([feats, torch.sign(dist)[:, None] * feats], dim=-1))
        self.out = nn.Linear(D_MODEL, tasks)

    def _shift(self, x):
        # enformer_pytorch's relative_shift with its sizes known: (b, h, n, 2n - 1) -> (b, h, n, n)
        n = self.n
        x = torch.cat([torch.zeros_like(x[..., :1]), x], dim=-1)
        x = x.reshape(-1, HEADS, 2 * n, n)[:, :, 1:, :]
        return x.reshape(-1, HEADS, n, 2 * n - 1)[..., :n]

    def forward(self, x):
        h = self.stem(x)
        h = h * torch.sigmoid(1.702 * h)  # Enformer's GELU
        windows = h.unflatten(-1, (self.n, 2))  # (N, C, n, 2)
        weights = torch.softmax(self.pool_logits(windows), dim=-1)
        h = (windows * weights).sum(-1).transpose(1, 2)  # attention pooling: (N, n, C)
        q, k, v = (f(h).unflatten(-1, (HEADS, D_MODEL // HEADS)).transpose(1, 2) for f in (self.q, self.k, self.v))
        q = q * (D_MODEL // HEADS) ** -0.5
        content = torch.einsum("bhid,bhjd->bhij", q + self.content_bias, k)
        rel_k = self.rel_k(self.positions).unflatten(-1, (HEADS, D_MODEL // HEADS))  # constant (2n - 1, h, d)
        rel = self._shift(torch.einsum("bhid,jhd->bhij", q + self.pos_bias, rel_k))
        attn = torch.softmax(content + rel, dim=-1)
        h = h + (attn @ v).transpose(1, 2).flatten(-2)
        return self.out(h.mean(1))
