"""bpnet-lite (BPNet, ChromBPNet) support without depending on it.

Used only when the user's model file comes from bpnet-lite (the DeepLIFT rules of bpnet-lite's own
modules are the engine's: :mod:`deeplift_genomics.engine.third_party_rules`).

- :func:`import_bpnet_lite`: a model file written with ``torch.save(model)`` (a pickle) turned into a
  model directory (``model.json`` + safetensors), reading it with ``torch.load(weights_only=True)`` and an
  explicit allow-list of bpnet-lite's classes, so the file cannot run code.
"""

from __future__ import annotations

import importlib
import logging
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.errors import InputError
from ..core.targets import check_task_name
from ..io.atomic import atomic_directory
from .files import MODEL_JSON, check_finite_weights, export_user_model

log = logging.getLogger(__name__)

ALLOWED_CLASSES = (
    "bpnetlite.bpnet.BPNet",
    "bpnetlite.bpnet.ControlWrapper",
    "bpnetlite.bpnet.CountWrapper",
    "bpnetlite.bpnet.ProfileWrapper",
    "bpnetlite.bpnet._ProfileLogitScaling",
    "bpnetlite.chrombpnet.ChromBPNet",
    "bpnetlite.chrombpnet._Log",
    "bpnetlite.chrombpnet._Exp",
    "bpnetlite.logging.Logger",
    "torch.nn.modules.conv.Conv1d",
    "torch.nn.modules.linear.Linear",
    "torch.nn.modules.activation.ReLU",
    "torch.nn.modules.activation.Softmax",
    "torch.nn.modules.container.ModuleList",
    "torch.nn.modules.flatten.Flatten",
)
WRAPPERS = ("count", "profile")
_BPNET_ARGS = ("n_filters", "n_layers", "n_outputs", "n_control_tracks", "count_loss_weight", "name", "trimming")
# bpnet-lite's default window: 2114 bp in, 1000 bp of profile out
DEFAULT_INPUT_LENGTH = 2114


def _resolve(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _require_bpnetlite(what: str) -> None:
    try:
        import bpnetlite.bpnet  # noqa: F401
        import bpnetlite.chrombpnet  # noqa: F401
    except ImportError as exc:
        raise InputError(f"{what}: reading a bpnet-lite model needs bpnet-lite installed "
                         f"(pip install --no-deps bpnet-lite; {exc})") from None


def load_bpnet_lite_file(path: str | Path) -> nn.Module:
    """Read a model written by ``torch.save(model)`` in bpnet-lite, running no code from the file.

    ``torch.load(weights_only=True)`` with :data:`ALLOWED_CLASSES` as the only extra globals: the
    unpickler builds those classes' objects field by field and refuses any other callable.

    Raises
    ------
    InputError
        The file is missing or unreadable, or asks for a class outside the allow-list (named).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected bpnet-lite's torch.save file (a model directory needs "
                         "no import: give it as --model)")
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    _require_bpnetlite(str(path))
    allowed = [_resolve(name) for name in ALLOWED_CLASSES]
    try:
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for a refused global; RuntimeError/EOFError for bad files
        text = str(exc)
        asked = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"Unsupported (?:global|class) ([\w.]+)", text)
        if asked:
            raise InputError(
                f"{path}: refused: the file asks for {asked.group(1)}, which is not one of bpnet-lite's model "
                f"classes (allowed: {', '.join(n.rpartition('.')[2] for n in ALLOWED_CLASSES)}); nothing from "
                "it was run"
            ) from None
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable torch.save file: {first}") from None
    if not isinstance(obj, nn.Module):
        raise InputError(f"{path}: holds a {type(obj).__name__}, not a bpnet-lite model (BPNet or ChromBPNet)")
    return obj


def _unwrap(model: nn.Module) -> nn.Module:
    from bpnetlite.bpnet import ControlWrapper, CountWrapper, ProfileWrapper

    while isinstance(model, (ControlWrapper, CountWrapper, ProfileWrapper)):
        model = model.model
    return model


def describe_architecture(model: nn.Module, where: str) -> dict[str, Any]:
    """The JSON description that :class:`BpnetLiteModel` rebuilds ``model`` from.

    ``{"class": "bpnetlite.bpnet.BPNet", "kwargs": {...}}`` with the constructor arguments read back from
    the module, or for ChromBPNet ``{"class": "bpnetlite.chrombpnet.ChromBPNet", "kwargs": {"name": ...},
    "bias": {...}, "accessibility": {...}}``. The rebuilt module must have the same layers (kind, kernel,
    padding, dilation, tensor shapes), or the model is refused naming the first layer that differs.
    """
    from bpnetlite.bpnet import BPNet
    from bpnetlite.chrombpnet import ChromBPNet

    inner = _unwrap(model)
    if isinstance(inner, ChromBPNet):
        arch: dict[str, Any] = {
            "class": "bpnetlite.chrombpnet.ChromBPNet",
            "kwargs": {"name": str(inner.name)},
            "bias": describe_architecture(inner.bias, f"{where}: bias model"),
            "accessibility": describe_architecture(inner.accessibility, f"{where}: accessibility model"),
        }
    elif type(inner) is BPNet:
        missing = [k for k in _BPNET_ARGS if not hasattr(inner, k)]
        if missing:
            raise InputError(
                f"{where}: a BPNet saved by another bpnet-lite version (it lacks {', '.join(missing)}, which "
                "the installed bpnet-lite's BPNet has); install the version it was saved with"
            )
        kwargs = {k: getattr(inner, k) for k in _BPNET_ARGS}
        fconv, linear = inner.fconv, inner.linear
        assert isinstance(fconv, nn.Module) and isinstance(linear, nn.Module)  # submodules, not tensors
        kwargs["profile_output_bias"] = fconv.bias is not None
        kwargs["count_output_bias"] = linear.bias is not None
        kwargs["verbose"] = False
        arch = {"class": "bpnetlite.bpnet.BPNet", "kwargs": kwargs}
    else:
        raise InputError(f"{where}: a {type(inner).__name__}; import-model reads bpnet-lite's BPNet and ChromBPNet")
    _check_same_layers(inner, build_architecture(arch, where), where)
    return arch


def build_architecture(arch: dict[str, Any], where: str) -> nn.Module:
    """Build an unwrapped BPNet or ChromBPNet from :func:`describe_architecture`'s description."""
    _require_bpnetlite(where)
    from bpnetlite.bpnet import BPNet
    from bpnetlite.chrombpnet import ChromBPNet

    if not isinstance(arch, dict) or "class" not in arch or not isinstance(arch.get("kwargs", {}), dict):
        raise InputError(f"{where}: architecture must be an object with 'class' and 'kwargs'")
    cls = arch["class"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if cls == "bpnetlite.bpnet.BPNet":
                return BPNet(**arch.get("kwargs", {}))
            if cls == "bpnetlite.chrombpnet.ChromBPNet":
                return ChromBPNet(build_architecture(arch["bias"], f"{where}: bias"),
                                  build_architecture(arch["accessibility"], f"{where}: accessibility"),
                                  **arch.get("kwargs", {}))
    except (TypeError, KeyError, ValueError) as exc:
        raise InputError(f"{where}: cannot build {cls}: {type(exc).__name__}: {exc}") from None
    raise InputError(f"{where}: architecture class {cls!r} is not bpnet-lite's BPNet or ChromBPNet")


def _check_same_layers(got: nn.Module, built: nn.Module, where: str) -> None:
    ours = dict(built.named_modules())
    for name, mod in got.named_modules():
        other = ours.get(name)
        if other is None or type(other) is not type(mod):
            raise InputError(f"{where}: layer '{name}' ({type(mod).__name__}) is not where bpnet-lite's constructor "
                             "puts it; this variant cannot be rebuilt from constructor arguments")
        for attr in ("kernel_size", "padding", "dilation", "stride", "in_features", "out_features"):
            if getattr(mod, attr, None) != getattr(other, attr, None):
                raise InputError(f"{where}: layer '{name}' has {attr}={getattr(mod, attr)!r}, bpnet-lite's "
                                 f"constructor gives {getattr(other, attr)!r}; this variant cannot be rebuilt")
    shapes = {k: tuple(v.shape) for k, v in built.state_dict().items()}
    for k, v in got.state_dict().items():
        if shapes.get(k) != tuple(v.shape):
            raise InputError(f"{where}: tensor '{k}' has shape {list(v.shape)}, the rebuilt model "
                             f"{list(shapes[k]) if k in shapes else 'has no such tensor'}")


def wrap(model: nn.Module, wrapper: str) -> nn.Module:
    """bpnet-lite's own wrapping for attribution: counts or the profile, control tracks filled with 0."""
    from bpnetlite.bpnet import ControlWrapper, CountWrapper, ProfileWrapper

    if wrapper == "count":
        return CountWrapper(ControlWrapper(model))
    if wrapper == "profile":
        return ProfileWrapper(ControlWrapper(model))
    raise InputError(f"wrapper: expected one of {', '.join(WRAPPERS)}, got {wrapper!r}")


class BpnetLiteModel(nn.Module):
    """A bpnet-lite BPNet or ChromBPNet behind its count or profile wrapper, built from JSON.

    The class a model directory written by :func:`import_bpnet_lite` names in ``model.json``: its
    ``kwargs`` (``architecture``, ``wrapper``) rebuild the network with bpnet-lite's own constructors, and
    the safetensors weights fill it. Maps ``(N, 4, L)`` to ``(N, 1)``: the predicted log count, or
    bpnet-lite's profile score ``sum(softmax(p) * p)`` of the mean-centred profile logits ``p``.
    """

    def __init__(self, architecture: dict[str, Any], wrapper: str = "count") -> None:
        super().__init__()
        self.model = wrap(build_architecture(architecture, "BpnetLiteModel"), wrapper)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def import_bpnet_lite(
    path: str | Path,
    out_dir: str | Path,
    *,
    wrapper: str = "count",
    input_length: int = DEFAULT_INPUT_LENGTH,
    task_names: Sequence[str] | None = None,
) -> Path:
    """Turn a bpnet-lite model saved with ``torch.save`` into a model directory.

    Parameters
    ----------
    path
        The ``torch.save`` file of a ``BPNet`` or ``ChromBPNet`` (or of one of bpnet-lite's wrappers
        around one). Read by :func:`load_bpnet_lite_file`: no code from it runs.
    out_dir
        The model directory to write (``model.json`` + ``model.safetensors``), replaced as a whole.
    wrapper
        ``count`` (the predicted log total count) or ``profile`` (bpnet-lite's ``ProfileWrapper`` score).
    input_length
        Sequence length the model takes (bpnet-lite's default window is 2114 bp).
    task_names
        One name; default ``["counts"]`` or ``["profile"]``.

    Returns
    -------
    Path
        The ``model.json`` path. :func:`deeplift_genomics.models.files.load_model` reads the directory back.

    Raises
    ------
    InputError
        Unsafe or unreadable file (the class it asked for is named), a model that is not bpnet-lite's,
        an ``out_dir`` that holds the input, or an input length the model cannot take.
    """
    path, out = Path(path), Path(out_dir)
    if wrapper not in WRAPPERS:
        raise InputError(f"wrapper: expected one of {', '.join(WRAPPERS)}, got {wrapper!r}")
    if out.resolve() == path.resolve() or out.resolve() in path.resolve().parents:
        raise InputError(f"{out}: the output directory holds the input file {path}; choose another --out")
    if isinstance(input_length, bool) or not isinstance(input_length, int) or input_length < 1:
        raise InputError(f"input_length: expected a positive integer, got {input_length!r}")
    loaded = load_bpnet_lite_file(path)
    arch = describe_architecture(loaded, str(path))
    net = BpnetLiteModel(arch, wrapper)
    state = _wrapped_state(loaded, wrapper)
    check_finite_weights(state, str(path))
    net.model.load_state_dict(state, strict=True)
    net.eval()
    from bpnetlite.bpnet import BPNet

    for name, mod in net.named_modules():
        if isinstance(mod, BPNet) and input_length <= 2 * mod.trimming:
            raise InputError(f"{path}: the model does not run on input_length {input_length}: BPNet '{name}' trims "
                             f"{mod.trimming} bp from each end (input_length must exceed {2 * mod.trimming})")
    try:
        with torch.no_grad():
            net(torch.zeros(1, 4, input_length))
    except Exception as exc:  # a window that does not fit fails inside bpnet-lite with shape errors
        raise InputError(f"{path}: the model does not run on input_length {input_length} "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    names = list(task_names) if task_names is not None else ["counts" if wrapper == "count" else "profile"]
    if len(names) != 1:
        raise InputError(f"task_names: the {wrapper} wrapper has one output, got {len(names)} names")
    for name in names:
        check_task_name(str(name), "--task-name")
    with atomic_directory(out, "import-model") as tmp:
        export_user_model(
            net, tmp, input_length=input_length, task_names=names,
            module=f"{__name__}:BpnetLiteModel", kwargs={"architecture": arch, "wrapper": wrapper},
            training={"imported_from": str(path), "source": "bpnet-lite torch.save file"},
        )
    log.info("imported %s (%s, %s wrapper) into %s", path, arch["class"].rpartition(".")[2], wrapper, out)
    return out / MODEL_JSON


def _wrapped_state(loaded: nn.Module, wrapper: str) -> dict[str, torch.Tensor]:
    """The loaded network's weights under the wrapper's names (``model.model.`` + name)."""
    # CountWrapper(ControlWrapper(net)) and ProfileWrapper(ControlWrapper(net)) both hold net at .model.model
    return {"model.model." + k: v for k, v in _unwrap(loaded).state_dict().items()}


def both_heads(model: nn.Module) -> tuple[nn.Module, nn.Module, nn.Module] | None:
    """``(network, counts model, profile model)`` of a :class:`BpnetLiteModel`; None for any other model.

    ``network(x)`` returns bpnet-lite's ``(profile logits (N, S, L_out), log counts (N, C))`` with the
    control tracks filled with 0; the two others are bpnet-lite's ``CountWrapper`` and ``ProfileWrapper``
    around that same network (shared weights), each mapping ``(N, 4, L)`` to ``(N, 1)``.
    """
    if not isinstance(model, BpnetLiteModel):
        return None
    from bpnetlite.bpnet import CountWrapper, ProfileWrapper  # optional: only bpnet-lite models get here

    network = model.model.model  # Count/ProfileWrapper(ControlWrapper(net)): the ControlWrapper
    if not isinstance(network, nn.Module):
        return None
    return network, CountWrapper(network).eval(), ProfileWrapper(network).eval()
