"""The nets this package trains, described by a small declarative spec.

The default :class:`ModelSpec` is the architecture the DeepLIFT authors released with their simulated
GATA1/TAL1 benchmark: ``Conv1d(4, 50, 11) ReLU, Conv1d(50, 50, 11) ReLU, global average pooling,
Linear(50, 50) ReLU Dropout(0.5), Linear(50, 3)``. A spec round-trips through a plain dict (``model:``
in a YAML config, ``"spec"`` in ``model.json``), so a config changes the net without code.

:func:`build_model` returns a flat :class:`torch.nn.Sequential` of standard layers only, so that
``torch.fx.symbolic_trace`` and the attribution engine see every operation. The outputs are
pre-sigmoid logits of shape ``(N, n_tasks)``.

With an ``attention`` block (:class:`AttentionSpec`) the conv layers are a stem: their window pooling
shortens the sequence, then standard ``nn.TransformerEncoderLayer`` blocks (multi-head self-attention,
LayerNorm, a feed-forward net) with a learned or sinusoidal positional term run over the positions, whose
mean (or maximum) feeds the dense head. Two small modules of this file put positions first
(:class:`Transpose`) and add the positional term (:class:`PositionalTerm`); both trace into plain
``permute`` and ``add`` ops. :data:`ARCHITECTURES` names ready-made specs (``conv_attention``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, TypeGuard

import torch
from torch import nn

from ..core.errors import InputError
from ..io.config_file import dataclass_from_mapping
from ..io.onehot import ALPHABET

POOLING_TYPES = ("global_avg", "global_max", "max", "avg")
PADDING_TYPES = ("valid", "same")
INIT_TYPES = ("glorot_uniform", "torch_default")
ACTIVATIONS = ("relu", "gelu")
POSITIONAL_TYPES = ("learned", "sinusoidal", "none")
READOUT_TYPES = ("mean", "max")


@dataclasses.dataclass(frozen=True)
class ConvLayerSpec:
    """One convolution + activation (+ optional BatchNorm) layer.

    Parameters
    ----------
    filters
        Number of output channels.
    width
        Kernel width (positions).
    padding
        ``"valid"`` (no padding, output shrinks by ``width - 1``) or ``"same"`` (output keeps the length;
        ``width`` must then be odd so the padding is symmetric).
    """

    filters: int
    width: int
    padding: str = "valid"


@dataclasses.dataclass(frozen=True)
class AttentionSpec:
    """Transformer encoder layers between the conv stem and the dense head.

    Parameters
    ----------
    layers
        Number of ``nn.TransformerEncoderLayer`` blocks.
    heads
        Attention heads per block; must divide ``dim``.
    dim
        Width of each position's vector (``d_model``). When the last conv layer has another number of
        filters, a width-1 convolution (``project``) maps its channels to ``dim``.
    ffn
        Hidden width of each block's feed-forward net (``dim_feedforward``).
    dropout
        Dropout inside the blocks while training (0 disables it).
    norm_first
        Pre-norm blocks (LayerNorm before attention and feed-forward; trains more steadily) or post-norm
        (the original transformer's order).
    activation
        ``"relu"`` or ``"gelu"``, the feed-forward net's activation.
    positional
        ``"learned"`` (one trained vector per position), ``"sinusoidal"`` (the fixed sines and cosines of
        the original transformer) or ``"none"``; added to each position before the first block.
    readout
        ``"mean"`` or ``"max"`` over positions after the last block: the vector entering the dense layers.
    """

    layers: int = 1
    heads: int = 4
    dim: int = 32
    ffn: int = 64
    dropout: float = 0.1
    norm_first: bool = True
    activation: str = "relu"
    positional: str = "learned"
    readout: str = "mean"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Declarative description of a 1-D conv net on one-hot DNA.

    Parameters
    ----------
    input_length
        Sequence length ``L`` the model is trained on (inputs are ``(N, len(alphabet), L)``).
    n_tasks
        Number of outputs ``T`` (one logit per binary task).
    alphabet
        Channel order of the one-hot input; ``"ACGT"`` by default.
    conv
        Conv layers in order; each followed by ReLU (and BatchNorm before the ReLU if ``batchnorm``).
    pooling
        ``"global_avg"`` (default: mean over positions), ``"global_max"``, or ``"max"``/``"avg"``
        windows of ``pool_size`` with ``pool_stride`` followed by flattening.
    pool_size, pool_stride
        Window and step of ``"max"``/``"avg"`` pooling (``pool_stride`` defaults to ``pool_size``).
    dense
        Widths of the hidden fully connected layers, each followed by ReLU and dropout.
    dropout
        Dropout probability after each hidden dense layer (0 disables it).
    batchnorm
        Insert ``BatchNorm1d`` after every conv and hidden dense layer (before its ReLU).
    init
        Initial weights of a fresh net: ``"glorot_uniform"`` with zero biases (Keras' default, which
        the authors' model was trained from; it leaves the initial plateau sooner than torch's) or
        ``"torch_default"``. Loaded weights replace them either way.
    attention
        ``None`` (a conv net) or an :class:`AttentionSpec` (or its dict): transformer blocks after the
        conv stem. ``pooling`` must then be ``"max"`` or ``"avg"`` (windows before the blocks;
        ``pool_size: 1`` keeps every position); the pooling over positions after them is
        ``attention.readout``.
    """

    input_length: int = 200
    n_tasks: int = 3
    alphabet: str = ALPHABET
    conv: tuple[ConvLayerSpec, ...] = (ConvLayerSpec(50, 11), ConvLayerSpec(50, 11))
    pooling: str = "global_avg"
    pool_size: int | None = None
    pool_stride: int | None = None
    dense: tuple[int, ...] = (50,)
    dropout: float = 0.5
    batchnorm: bool = False
    init: str = "glorot_uniform"
    attention: AttentionSpec | None = None

    def __post_init__(self) -> None:
        # Accept [filters, width] pairs and dicts for convenience; store them as ConvLayerSpec.
        conv = tuple(_conv_from_item(item, i) for i, item in enumerate(_as_list(self.conv, "conv")))
        object.__setattr__(self, "conv", conv)
        object.__setattr__(self, "dense", tuple(_as_list(self.dense, "dense")))
        object.__setattr__(self, "attention", _attention_from_item(self.attention))
        _validate(self)

    # -- dict round trip -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready dict that :meth:`from_dict` turns back into an equal spec."""
        out = dataclasses.asdict(self)
        out["conv"] = [dataclasses.asdict(layer) for layer in self.conv]
        out["dense"] = list(self.dense)
        if self.attention is None:
            del out["attention"]  # a conv net's model.json stays as it was before attention existed
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str = "model spec") -> ModelSpec:
        """Build a spec from a dict; missing keys take the defaults (the authors' net).

        Parameters
        ----------
        data
            Keys are the field names. ``conv`` is a list of ``{filters, width, padding}`` dicts or of
            ``[filters, width]`` pairs; ``attention`` a dict of :class:`AttentionSpec` keys. ``None``
            gives the default spec.
        source
            Where the dict came from (a file name), for error messages.

        Raises
        ------
        InputError
            On an unknown key or a value of the wrong type or range; the message names the key.
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InputError(
                f"{source}: the model spec must be a mapping of keys to values, got {type(data).__name__}"
            )
        return dataclass_from_mapping(cls, data, source, "model spec key(s)")

    def with_data_shape(self, input_length: int, n_tasks: int) -> ModelSpec:
        """The same spec for data of another length / number of tasks."""
        return dataclasses.replace(self, input_length=int(input_length), n_tasks=int(n_tasks))

    # -- shapes ------------------------------------------------------------------------------------------
    def conv_output_length(self) -> int:
        """Positions left after the conv (and windowed pooling) layers, for ``input_length``."""
        length = self.input_length
        for layer in self.conv:
            if layer.padding == "valid":
                length -= layer.width - 1
        if self.pooling in ("max", "avg"):
            size, stride = _pool_window(self)
            length = (length - size) // stride + 1 if length >= size else 0
        return length

    def flat_features(self) -> int:
        """Width of the vector entering the first dense layer."""
        if self.attention is not None:
            return self.attention.dim
        channels = self.conv[-1].filters if self.conv else len(self.alphabet)
        if self.pooling in ("global_avg", "global_max"):
            return channels
        return channels * self.conv_output_length()


def _as_list(value: Any, key: str) -> list:
    if isinstance(value, (list, tuple)):
        return list(value)
    raise InputError(f"'{key}' must be a list, got {value!r}")


def _conv_from_item(item: Any, index: int) -> ConvLayerSpec:
    where = f"conv[{index}]"
    if isinstance(item, ConvLayerSpec):
        return item
    if isinstance(item, Mapping):
        unknown = sorted(set(item) - {"filters", "width", "padding"})
        if unknown:
            raise InputError(
                f"{where}: unknown key(s) {unknown}; known keys: ['filters', 'padding', 'width']"
            )
        if "filters" not in item or "width" not in item:
            raise InputError(f"{where}: needs 'filters' and 'width'")
        return ConvLayerSpec(item["filters"], item["width"], item.get("padding", "valid"))
    if isinstance(item, (list, tuple)) and len(item) in (2, 3):
        return ConvLayerSpec(*item)
    raise InputError(f"{where}: expected {{filters, width, padding}} or [filters, width], got {item!r}")


def _attention_from_item(item: Any) -> AttentionSpec | None:
    if item is None or isinstance(item, AttentionSpec):
        return item
    if not isinstance(item, Mapping):
        raise InputError(f"attention must be a mapping of {_ATTENTION_KEYS} or null, got {item!r}")
    unknown = sorted(set(item) - set(_ATTENTION_KEYS))
    if unknown:
        raise InputError(f"attention: unknown key(s) {unknown}; known keys: {_ATTENTION_KEYS}")
    return AttentionSpec(**item)


_ATTENTION_KEYS = sorted(f.name for f in dataclasses.fields(AttentionSpec))


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _pool_window(spec: ModelSpec) -> tuple[int, int]:
    """Window and stride of ``"max"``/``"avg"`` pooling (validation made sure ``pool_size`` is set)."""
    assert spec.pool_size is not None, "max/avg pooling without pool_size"
    return spec.pool_size, spec.pool_stride or spec.pool_size


def _validate(spec: ModelSpec) -> None:
    if not _is_int(spec.input_length) or spec.input_length < 1:
        raise InputError(f"input_length must be a positive integer, got {spec.input_length!r}")
    if not _is_int(spec.n_tasks) or spec.n_tasks < 1:
        raise InputError(f"n_tasks must be a positive integer, got {spec.n_tasks!r}")
    if (
        not isinstance(spec.alphabet, str)
        or not spec.alphabet
        or len(set(spec.alphabet)) != len(spec.alphabet)
    ):
        raise InputError(f"alphabet must be a string of distinct letters, got {spec.alphabet!r}")
    for i, layer in enumerate(spec.conv):
        if not _is_int(layer.filters) or layer.filters < 1:
            raise InputError(f"conv[{i}].filters must be a positive integer, got {layer.filters!r}")
        if not _is_int(layer.width) or layer.width < 1:
            raise InputError(f"conv[{i}].width must be a positive integer, got {layer.width!r}")
        if layer.padding not in PADDING_TYPES:
            raise InputError(f"conv[{i}].padding must be one of {list(PADDING_TYPES)}, got {layer.padding!r}")
        if layer.padding == "same" and layer.width % 2 == 0:
            raise InputError(f"conv[{i}]: 'same' padding needs an odd width, got {layer.width}")
    if spec.pooling not in POOLING_TYPES:
        raise InputError(f"pooling must be one of {list(POOLING_TYPES)}, got {spec.pooling!r}")
    if spec.pooling in ("max", "avg"):
        if not _is_int(spec.pool_size) or spec.pool_size < 1:
            raise InputError(
                f"pooling '{spec.pooling}' needs a positive integer pool_size, got {spec.pool_size!r}"
            )
        if spec.pool_stride is not None and (not _is_int(spec.pool_stride) or spec.pool_stride < 1):
            raise InputError(f"pool_stride must be a positive integer, got {spec.pool_stride!r}")
    for i, width in enumerate(spec.dense):
        if not _is_int(width) or width < 1:
            raise InputError(f"dense[{i}] must be a positive integer, got {width!r}")
    if (
        isinstance(spec.dropout, bool)
        or not isinstance(spec.dropout, (int, float))
        or not 0 <= spec.dropout < 1
    ):
        raise InputError(f"dropout must be a number in [0, 1), got {spec.dropout!r}")
    if spec.init not in INIT_TYPES:
        raise InputError(f"init must be one of {list(INIT_TYPES)}, got {spec.init!r}")
    if not isinstance(spec.batchnorm, bool):
        raise InputError(f"batchnorm must be true or false, got {spec.batchnorm!r}")
    if spec.attention is not None:
        _validate_attention(spec)
    if spec.conv_output_length() < 1:
        raise InputError(
            f"input_length {spec.input_length} is too short for the conv/pooling layers "
            f"(nothing is left after them)"
        )


def _validate_attention(spec: ModelSpec) -> None:
    att = spec.attention
    assert att is not None, "validating the attention block of a conv net"
    for key in ("layers", "heads", "dim", "ffn"):
        value = getattr(att, key)
        if not _is_int(value) or value < 1:
            raise InputError(f"attention.{key} must be a positive integer, got {value!r}")
    if att.dim % att.heads:
        raise InputError(f"attention.heads ({att.heads}) must divide attention.dim ({att.dim})")
    if isinstance(att.dropout, bool) or not isinstance(att.dropout, (int, float)) or not 0 <= att.dropout < 1:
        raise InputError(f"attention.dropout must be a number in [0, 1), got {att.dropout!r}")
    if not isinstance(att.norm_first, bool):
        raise InputError(f"attention.norm_first must be true or false, got {att.norm_first!r}")
    for key, allowed in (("activation", ACTIVATIONS), ("positional", POSITIONAL_TYPES),
                         ("readout", READOUT_TYPES)):
        if getattr(att, key) not in allowed:
            raise InputError(f"attention.{key} must be one of {list(allowed)}, got {getattr(att, key)!r}")
    if spec.pooling not in ("max", "avg"):
        raise InputError(
            f"with attention, pooling must be 'max' or 'avg' (windows of pool_size before the attention "
            f"blocks; pool_size 1 keeps every position), got {spec.pooling!r}; the pooling over positions "
            f"after the blocks is attention.readout"
        )


#: Ready-made specs by name, for ``train --architecture NAME`` and the workflow's ``architecture: NAME``.
#: ``conv_attention``: a conv stem (one 64-filter layer of width 15, average pooling by 4: 46 positions of a
#: 200 bp input) under one pre-norm transformer block of 4 heads, mean readout; 17k parameters. It
#: reaches held-out auROC >= 0.98 on every task of the default simulation (docs/models.md). Average, not
#: max, pooling: it trains as well here and is linear, so DeepLIFT sums to the output difference with the
#: default (gradient-routed) max pooling setting too.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "benchmark": {},
    "conv_attention": {
        "conv": [{"filters": 64, "width": 15}],
        "pooling": "avg",
        "pool_size": 4,
        "dense": [32],
        "dropout": 0.1,
        "attention": {"layers": 1, "heads": 4, "dim": 32, "ffn": 64, "dropout": 0.1, "norm_first": True,
                      "activation": "relu", "positional": "learned", "readout": "mean"},
    },
}


def named_architecture(name: str, source: str = "architecture") -> dict[str, Any]:
    """A copy of the spec dict :data:`ARCHITECTURES` names ``name``; :class:`InputError` for other names."""
    if name not in ARCHITECTURES:
        raise InputError(f"{source}: unknown architecture {name!r}; named ones: {sorted(ARCHITECTURES)} "
                         f"(or give a model spec mapping)")
    return json.loads(json.dumps(ARCHITECTURES[name]))  # a deep copy the caller may change


class Transpose(nn.Module):
    """Swap the channel and position axes: ``(N, C, L) <-> (N, L, C)`` (traces into one ``transpose``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


class PositionalTerm(nn.Module):
    """Add a per-position vector to ``(N, L, dim)``: learned (a parameter) or sinusoidal (a fixed buffer).

    Parameters
    ----------
    length, dim
        Positions and width of the input.
    kind
        ``"learned"`` (initialised from N(0, 0.02^2)) or ``"sinusoidal"`` (Vaswani et al. 2017; not saved
        with the weights, as it is a function of the shape).
    """

    def __init__(self, length: int, dim: int, kind: str = "learned") -> None:
        super().__init__()
        self.kind = kind
        if kind == "learned":
            self.weight = nn.Parameter(torch.randn(1, length, dim) * 0.02)
        else:
            self.register_buffer("weight", _sinusoids(length, dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


def _sinusoids(length: int, dim: int) -> torch.Tensor:
    position = torch.arange(length, dtype=torch.float64)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return table[None].float()


def build_model(spec: ModelSpec | None = None) -> nn.Sequential:
    """Build the network that ``spec`` describes (the authors' net by default).

    Parameters
    ----------
    spec
        The architecture; ``None`` gives ``ModelSpec()``.

    Returns
    -------
    torch.nn.Sequential
        Named layers (``conv1``, ``relu1``, ..., ``pool``, ``flatten``, ``dense1``, ..., ``output``; with
        attention ``conv1``, ..., ``pool``, ``project`` (when the widths differ), ``to_positions``,
        ``positional`` (unless none), ``encoder1``, ..., ``to_channels``, ``readout``, ``flatten``,
        ``dense1``, ..., ``output``) mapping ``(N, len(alphabet), input_length)`` float inputs to ``(N, n_tasks)`` logits. Freshly
        initialised as ``spec.init`` says from torch's global RNG (seed it first for reproducible weights).
    """
    spec = spec or ModelSpec()
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = len(spec.alphabet)
    for i, layer in enumerate(spec.conv, start=1):
        padding = 0 if layer.padding == "valid" else layer.width // 2
        layers[f"conv{i}"] = nn.Conv1d(channels, layer.filters, layer.width, padding=padding)
        if spec.batchnorm:
            layers[f"bn_conv{i}"] = nn.BatchNorm1d(layer.filters)
        layers[f"relu_conv{i}"] = nn.ReLU()
        channels = layer.filters
    if spec.attention is not None:
        _attention_layers(spec, spec.attention, layers, channels)
    elif spec.pooling == "global_avg":
        layers["pool"] = nn.AdaptiveAvgPool1d(1)
    elif spec.pooling == "global_max":
        layers["pool"] = nn.AdaptiveMaxPool1d(1)
    elif spec.pooling == "max":
        size, stride = _pool_window(spec)
        layers["pool"] = nn.MaxPool1d(size, stride=stride)
    else:
        size, stride = _pool_window(spec)
        layers["pool"] = nn.AvgPool1d(size, stride=stride)
    if "flatten" not in layers:
        layers["flatten"] = nn.Flatten()
    features = spec.flat_features()
    for i, width in enumerate(spec.dense, start=1):
        layers[f"dense{i}"] = nn.Linear(features, width)
        if spec.batchnorm:
            layers[f"bn_dense{i}"] = nn.BatchNorm1d(width)
        layers[f"relu_dense{i}"] = nn.ReLU()
        if spec.dropout > 0:
            layers[f"dropout{i}"] = nn.Dropout(spec.dropout)
        features = width
    layers["output"] = nn.Linear(features, spec.n_tasks)
    model = nn.Sequential(layers)
    if spec.init == "glorot_uniform":
        for module in model.modules():
            if isinstance(module, (nn.Conv1d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:  # built with biases
                    nn.init.zeros_(module.bias)
    return model


def _attention_layers(spec: ModelSpec, att: AttentionSpec, layers: OrderedDict[str, nn.Module], channels: int) -> None:
    """Append the window pooling, the transformer blocks and the readout of an attention spec to ``layers``."""
    size, stride = _pool_window(spec)
    layers["pool"] = nn.MaxPool1d(size, stride=stride) if spec.pooling == "max" else nn.AvgPool1d(size, stride=stride)
    if channels != att.dim:
        layers["project"] = nn.Conv1d(channels, att.dim, 1)
    layers["to_positions"] = Transpose()
    if att.positional != "none":
        layers["positional"] = PositionalTerm(spec.conv_output_length(), att.dim, att.positional)
    for i in range(1, att.layers + 1):
        layers[f"encoder{i}"] = nn.TransformerEncoderLayer(
            att.dim, att.heads, dim_feedforward=att.ffn, dropout=float(att.dropout), activation=att.activation,
            batch_first=True, norm_first=att.norm_first,
        )
    layers["to_channels"] = Transpose()
    # one window over every position: the engine has DeepLIFT rules for MaxPool1d, not AdaptiveMaxPool1d
    positions = spec.conv_output_length()
    layers["readout"] = nn.AdaptiveAvgPool1d(1) if att.readout == "mean" else nn.MaxPool1d(positions)
    layers["flatten"] = nn.Flatten()


def architecture_name(spec: ModelSpec) -> str:
    """The :data:`ARCHITECTURES` name of ``spec`` (ignoring its data shape), else ``"conv + attention"``
    or ``"conv"``: how reports name a model's architecture."""
    shape = {"input_length": spec.input_length, "n_tasks": spec.n_tasks, "alphabet": spec.alphabet}
    for name, data in ARCHITECTURES.items():
        try:
            if ModelSpec.from_dict({**data, **shape}) == spec:
                return name
        except InputError:  # a named net that does not fit this input length
            continue
    return "conv + attention" if spec.attention is not None else "conv"
