"""Model directories: weights in safetensors beside a JSON description, never a pickle.

A model directory holds

``model.json``
    ``format`` (``"deeplift-genomics-model"``) and ``format_version``; the architecture, either
    ``"spec"`` (a :class:`~deeplift_genomics.models.spec.ModelSpec` dict) or ``"module"`` +
    ``"kwargs"`` (a user's own ``nn.Module`` class, see below); ``"weights"`` (file name) and
    ``"weights_sha256"``; ``input_length``, ``alphabet`` (one-hot channel order), ``task_names``;
    ``training`` (the config it was trained with), ``data_checksum`` (of the training data) and
    ``package_version``.
``model.safetensors``
    The ``state_dict``.

:func:`load_model` checks all of it and raises :class:`~deeplift_genomics.core.errors.InputError` with the
file and field on any mismatch. It never unpickles: safetensors holds only tensors, and a ``.pt``
state_dict (allowed for users' own models) is read with ``torch.load(weights_only=True)``, which refuses
anything but tensors and containers.

Users' own architectures
------------------------
``"module": "package.module:ClassName"`` with ``"kwargs": {...}`` makes :func:`load_model` import that
module and call ``ClassName(**kwargs)``. Importing runs the user's own *installed* code (it must be
importable: installed or on ``PYTHONPATH``; the model directory is never put on ``sys.path``), by the
user's choice; the JSON only names it. The named object must be an ``nn.Module`` subclass, checked before
it is called. :func:`export_user_model` writes such a directory from a live model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.devices import resolve_device
from ..core.errors import InputError
from ..core.legacy_paths import current_module_name
from ..core.targets import check_task_name, check_unique_names
from ..core.version import __version__
from ..io.atomic import atomic_path, atomic_write_text
from ..io.onehot import ALPHABET
from ..io.output_dirs import as_os_error, read_marker
from .spec import ModelSpec, build_model

log = logging.getLogger(__name__)

FORMAT_NAME = "deeplift-genomics-model"
FORMAT_VERSION = 1
MODEL_JSON = "model.json"
WEIGHTS_FILE = "model.safetensors"
SAFETENSORS_SUFFIXES = (".safetensors",)
STATE_DICT_SUFFIXES = (".pt", ".pth")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".ckpt", ".h5", ".keras", ".bin")
_MODULE_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@dataclasses.dataclass
class LoadedModel:
    """A model read by :func:`load_model`.

    Attributes
    ----------
    model
        The network in eval mode on the requested device; maps ``(N, len(alphabet), input_length)``
        to ``(N, len(task_names))`` logits.
    input_length
        Sequence length it was trained on.
    alphabet
        One-hot channel order, e.g. ``"ACGT"``.
    task_names
        One name per output.
    metadata
        The whole parsed ``model.json``.
    spec
        The :class:`ModelSpec` for our own nets, ``None`` for a user's module.
    path
        The model directory.
    """

    model: nn.Module
    input_length: int
    alphabet: str
    task_names: list[str]
    metadata: dict[str, Any]
    spec: ModelSpec | None = None
    path: Path | None = None


# -- writing ------------------------------------------------------------------------------------------


def save_model(
    model: nn.Module,
    out_dir: str | Path,
    *,
    spec: ModelSpec,
    task_names: Sequence[str] | None = None,
    input_length: int | None = None,
    alphabet: str | None = None,
    training: Mapping[str, Any] | None = None,
    data_checksum: str | None = None,
) -> Path:
    """Write ``model.safetensors`` and ``model.json`` for a net built by :func:`build_model`.

    Parameters
    ----------
    model
        The trained network; its ``state_dict`` must fit ``spec`` (checked, so a saved model always
        loads).
    out_dir
        Directory to write into (created if missing). Each file is written atomically, ``model.json``
        last. Use :func:`~deeplift_genomics.io.atomic.atomic_directory` around the call for an all-or-nothing
        directory.
    spec
        The architecture.
    task_names
        One name per output; defaults to ``task_0``, ``task_1``, ...
    input_length, alphabet
        Default to the spec's; must agree with it.
    training
        The training configuration (JSON-serialisable), kept for provenance.
    data_checksum
        Checksum of the training data (``Dataset.checksum``).

    Returns
    -------
    Path
        The ``model.json`` path.
    """
    input_length = spec.input_length if input_length is None else int(input_length)
    alphabet = spec.alphabet if alphabet is None else alphabet
    if input_length != spec.input_length:
        raise ValueError(f"input_length {input_length} differs from the spec's {spec.input_length}")
    if alphabet != spec.alphabet:
        raise ValueError(f"alphabet {alphabet!r} differs from the spec's {spec.alphabet!r}")
    names = _task_names(task_names, spec.n_tasks)
    state = _cpu_state(model)
    _check_state_fits(_expected_shapes(build_model(spec)), state, "the model being saved")
    header: dict[str, Any] = {"spec": spec.to_dict()}
    return _write(
        out_dir, state, header, input_length, alphabet, names, training, data_checksum, WEIGHTS_FILE
    )


def export_user_model(
    model: nn.Module,
    out_dir: str | Path,
    *,
    input_length: int,
    task_names: Sequence[str],
    alphabet: str = ALPHABET,
    module: str | None = None,
    kwargs: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    data_checksum: str | None = None,
) -> Path:
    """Write a model directory for a user's own ``nn.Module`` class.

    Parameters
    ----------
    model
        An instance of the user's class, with its trained weights.
    out_dir
        Directory to write ``model.json`` and ``model.safetensors`` into.
    input_length, task_names, alphabet
        What the model takes and gives: ``(N, len(alphabet), input_length) -> (N, len(task_names))``.
    module
        ``"package.module:ClassName"``; defaults to the instance's class. It must be importable where the
        model is loaded (not ``__main__``).
    kwargs
        JSON-serialisable constructor arguments, so that ``ClassName(**kwargs)`` rebuilds the net.
    training, data_checksum
        Provenance, as in :func:`save_model`.

    Returns
    -------
    Path
        The ``model.json`` path.

    Examples
    --------
    >>> export_user_model(net, "my_model", module="mylab.nets:DeepNet", kwargs={"filters": 64},
    ...                   input_length=1000, task_names=["ctcf"])  # doctest: +SKIP
    """
    cls = type(model)
    module = module or f"{cls.__module__}:{cls.__qualname__}"
    if not _MODULE_PATH.match(module) or module.startswith("__main__:"):
        raise ValueError(f"module {module!r} must be an importable 'package.module:ClassName' (not __main__)")
    kwargs = dict(kwargs or {})
    json.dumps(kwargs)  # raises TypeError early on values a JSON file cannot hold
    header: dict[str, Any] = {"module": module, "kwargs": kwargs}
    names = _task_names(task_names, None)
    return _write(
        out_dir,
        _cpu_state(model),
        header,
        int(input_length),
        alphabet,
        names,
        training,
        data_checksum,
        WEIGHTS_FILE,
    )


def _task_names(task_names: Sequence[str] | None, n_tasks: int | None) -> list[str]:
    if task_names is None:
        if n_tasks is None:
            raise ValueError("task_names is required")
        return [f"task_{i}" for i in range(n_tasks)]
    names = [check_task_name(str(name), "task_names") for name in task_names]  # they name output files
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be distinct, got {names}")
    if n_tasks is not None and len(names) != n_tasks:
        raise ValueError(f"{len(names)} task names for a spec with n_tasks={n_tasks}")
    return names


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share memory or are not contiguous.
    return {
        name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in model.state_dict().items()
    }


def _write(
    out_dir: str | Path,
    state: dict[str, torch.Tensor],
    header: dict[str, Any],
    input_length: int,
    alphabet: str,
    task_names: list[str],
    training: Mapping[str, Any] | None,
    data_checksum: str | None,
    weights_name: str,
) -> Path:
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / weights_name) as tmp:
        # One metadata key only: safetensors writes its metadata map in random order, and a byte-identical
        # file for identical weights keeps checksums of model directories stable.
        try:
            save_file(state, str(tmp), metadata={"format": "pt"})
        except Exception as exc:  # safetensors' own error type carries the OS error in its text
            raise as_os_error(exc, out / weights_name) from None
        digest = _sha256(tmp)
    document: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
        **header,
        "weights": weights_name,
        "weights_sha256": digest,
        "input_length": int(input_length),
        "alphabet": alphabet,
        "task_names": task_names,
        "training": dict(training) if training is not None else None,
        "data_checksum": data_checksum,
    }
    path = out / MODEL_JSON
    atomic_write_text(path, json.dumps(document, indent=2, default=_json_default) + "\n")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in model.json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- reading ------------------------------------------------------------------------------------------


def output_kind(metadata: dict[str, Any]) -> str:
    """What the model's outputs are: ``logit`` (our nets and users' modules: logits of binary tasks),
    ``log_counts`` (bpnet-lite's count wrapper) or ``profile`` (its profile wrapper). Probabilities and
    log-odds exist only for ``logit``.
    """
    kwargs = metadata.get("kwargs") or {}
    if str(metadata.get("module", "")).endswith(":BpnetLiteModel") and isinstance(kwargs, dict):
        return "log_counts" if kwargs.get("wrapper") == "count" else "profile"
    return "logit"


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Read and check a model directory; never executes code from its files.

    Parameters
    ----------
    path
        The model directory (or its ``model.json``).
    device
        Where to put the model (``"cpu"``, ``"cuda"``, ``"auto"``, or a ``torch.device``).

    Returns
    -------
    LoadedModel
        The model in eval mode with its input length, alphabet, task names and metadata.

    Raises
    ------
    InputError
        When ``path`` is not a model directory (or is a pickle), ``model.json`` is malformed or of another
        format, the weights file is missing, truncated, corrupt or a pickle, the weights do not fit the
        architecture (the message names the tensor and both shapes), or the model's output shape does
        not match its task names.
    """
    model_dir, json_path = _locate(Path(path))
    meta = _read_json(json_path)
    where = str(json_path)
    input_length = _field(meta, "input_length", int, where)
    if input_length < 1:
        raise InputError(f"{where}: field 'input_length' must be positive, got {input_length}")
    alphabet = _field(meta, "alphabet", str, where)
    if not alphabet or len(set(alphabet)) != len(alphabet):
        raise InputError(
            f"{where}: field 'alphabet' must be distinct letters such as 'ACGT', got {alphabet!r}"
        )
    task_names = _field(meta, "task_names", list, where)
    if not task_names or not all(isinstance(name, str) for name in task_names):
        raise InputError(f"{where}: field 'task_names' must be a non-empty list of strings")
    check_unique_names(task_names, f"{where}: field 'task_names'")

    spec: ModelSpec | None = None
    if "spec" in meta:
        if "module" in meta:
            raise InputError(f"{where}: give either 'spec' or 'module', not both")
        spec = ModelSpec.from_dict(meta["spec"], source=f"{where}: field 'spec'")
        if spec.input_length != input_length:
            raise InputError(
                f"{where}: 'input_length' {input_length} differs from the spec's {spec.input_length}"
            )
        if spec.alphabet != alphabet:
            raise InputError(f"{where}: 'alphabet' {alphabet!r} differs from the spec's {spec.alphabet!r}")
        if spec.n_tasks != len(task_names):
            raise InputError(f"{where}: {len(task_names)} task names but the spec has n_tasks={spec.n_tasks}")
        model: nn.Module = build_model(spec)
    elif "module" in meta:
        model = _build_user_model(meta, where)
    else:
        raise InputError(
            f"{where}: no architecture: needs a 'spec' (our nets) or a 'module' (your own class)"
        )

    weights_path = _weights_path(meta, model_dir, where)
    state = _read_weights(weights_path, meta.get("weights_sha256"), where)
    check_finite_weights(state, str(weights_path))
    _check_state_fits(_expected_shapes(model), state, str(weights_path))
    model.load_state_dict(state, strict=True)
    model.eval()
    _check_output_shape(model, len(alphabet), input_length, len(task_names), where)
    model.to(resolve_device(device))
    return LoadedModel(
        model=model,
        input_length=input_length,
        alphabet=alphabet,
        task_names=list(task_names),
        metadata=meta,
        spec=spec,
        path=model_dir,
    )


def check_compatible(
    lm: LoadedModel, length: int, alphabet: str = ALPHABET, source: str = "the data"
) -> None:
    """Raise a clear :class:`InputError` if data of ``length`` / ``alphabet`` cannot go through ``lm``.

    Parameters
    ----------
    lm
        The loaded model.
    length
        Sequence length of the data.
    alphabet
        One-hot channel order of the data.
    source
        Name of the data (a file), for the message.
    """
    name = lm.path if lm.path is not None else "the model"
    if alphabet != lm.alphabet:
        raise InputError(
            f"{source}: one-hot alphabet {alphabet!r} does not match the model's {lm.alphabet!r} ({name})"
        )
    if int(length) != lm.input_length:
        raise InputError(
            f"{source}: sequences of length {length} do not fit the model, trained on length "
            f"{lm.input_length} ({name})"
        )


def _locate(path: Path) -> tuple[Path, Path]:
    if path.is_file():
        if path.name == MODEL_JSON:
            return path.parent, path
        suffix = path.suffix.lower()
        if suffix in PICKLE_SUFFIXES or suffix in STATE_DICT_SUFFIXES:
            raise InputError(
                f"{path}: a single pickle/checkpoint file is not loaded (unpickling can run code); give a "
                f"model directory with {MODEL_JSON} and safetensors weights (see export_user_model)"
            )
        raise InputError(f"{path}: not a model directory; expected a directory holding {MODEL_JSON}")
    if not path.exists():
        raise InputError(f"{path}: model directory not found")
    json_path = path / MODEL_JSON
    if not json_path.is_file():
        made_by = (read_marker(path) or {}).get("command")
        if made_by:
            raise InputError(f"{path}: the output of `{made_by}`, not a model directory (no {MODEL_JSON}); give "
                             "the directory `train` or `import-model` wrote")
        pickles = sorted(
            p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES + STATE_DICT_SUFFIXES
        )
        hint = (
            f"; it holds {', '.join(pickles)}, which is not loaded without a {MODEL_JSON} (unpickling can run code)"
            if pickles
            else ""
        )
        raise InputError(f"{path}: not a model directory (no {MODEL_JSON}){hint}")
    return path, json_path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(meta, dict):
        raise InputError(f"{path}: expected a JSON object at the top level")
    fmt = meta.get("format")
    if fmt != FORMAT_NAME:
        raise InputError(
            f"{path}: field 'format' is {fmt!r}, not {FORMAT_NAME!r}: not a deeplift-genomics model"
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise InputError(
            f"{path}: field 'format_version' is {version!r}; this version ({__version__}) reads 1..{FORMAT_VERSION}"
        )
    return meta


def _field(meta: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in meta:
        raise InputError(f"{where}: missing field '{key}'")
    value = meta[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(f"{where}: field '{key}' must be a {kind.__name__}, got {value!r}")
    return value


@contextlib.contextmanager
def _stated_import_path() -> Iterator[None]:
    """Import with the implicit working directory off ``sys.path``.

    Python puts the working directory first on ``sys.path`` for ``python -m``, ``python -c`` and an
    interactive session (as ``''`` or its full path). A user module must come from a stated place:
    installed packages or a directory named in ``PYTHONPATH``; the working directory counts only when
    ``PYTHONPATH`` names it.
    """
    import os
    import sys

    stated = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    cwd = os.path.abspath(os.getcwd())
    saved = list(sys.path)
    sys.path[:] = [p for p in saved if not ((p == "" or os.path.abspath(p) == cwd) and cwd not in stated)]
    try:
        yield
    finally:
        # keep what the import itself appended (e.g. .pth handling), restore the rest
        sys.path[:] = saved + [p for p in sys.path if p not in saved]


def _build_user_model(meta: Mapping[str, Any], where: str) -> nn.Module:
    target = _field(meta, "module", str, where)
    kwargs = meta.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise InputError(f"{where}: field 'kwargs' must be a JSON object of constructor arguments")
    if not _MODULE_PATH.match(target):
        raise InputError(f"{where}: field 'module' must look like 'package.module:ClassName', got {target!r}")
    # a directory written by 0.2 names 0.2's module paths (deeplift_genomics.bpnet_lite:BpnetLiteModel)
    module_name, _, attr_path = target.partition(":")
    module_name = current_module_name(module_name)
    try:
        with _stated_import_path():
            obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(
            f"{where}: field 'module': cannot import {module_name!r} ({exc}); install the package that defines "
            f"the model or put it on PYTHONPATH"
        ) from None
    log.info(
        "model code: imported module %r from %s (as named in %s)",
        module_name,
        getattr(obj, "__file__", None) or "a built-in or namespace package",
        where,
    )
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise InputError(f"{where}: field 'module': {module_name!r} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    # Checked before the call, so the JSON cannot make us call an arbitrary function (e.g. os:system).
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise InputError(f"{where}: field 'module': {target!r} is not a torch.nn.Module subclass")
    try:
        return obj(**kwargs)
    except Exception as exc:  # a user's constructor can raise anything; report it as bad input
        raise InputError(f"{where}: {target}(**kwargs) failed: {type(exc).__name__}: {exc}") from None


def _weights_path(meta: Mapping[str, Any], model_dir: Path, where: str) -> Path:
    name = _field(meta, "weights", str, where)
    if not name or Path(name).name != name or name in (".", ".."):
        raise InputError(
            f"{where}: field 'weights' must be a file name inside the model directory, got {name!r}"
        )
    path = model_dir / name
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise InputError(
            f"{path}: pickle-based weights are refused (unpickling can run code); save a state_dict as "
            f".safetensors (or .pt, read with weights_only=True)"
        )
    if suffix not in SAFETENSORS_SUFFIXES + STATE_DICT_SUFFIXES:
        raise InputError(
            f"{where}: field 'weights': unknown weights format {suffix!r}; use .safetensors or .pt"
        )
    if not path.is_file():
        raise InputError(f"{path}: weights file not found (named in {where})")
    return path


def _read_weights(path: Path, sha256: Any, where: str) -> dict[str, torch.Tensor]:
    if sha256 is not None:
        if not isinstance(sha256, str):
            raise InputError(f"{where}: field 'weights_sha256' must be a hex string")
        actual = _sha256(path)
        if actual != sha256.lower():
            raise InputError(
                f"{path}: checksum {actual[:12]}... differs from 'weights_sha256' {sha256[:12]}... in {where}: "
                f"the weights file is truncated, corrupt or was replaced"
            )
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own error type (and OSError) on bad files
            raise InputError(
                f"{path}: not a readable safetensors file (truncated or corrupt): {exc}"
            ) from None
    else:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # UnpicklingError for code-carrying pickles, RuntimeError for bad zips
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(
                f"{path}: refused: not a plain state_dict of tensors (read with weights_only=True; "
                f"pickled objects that could run code are never loaded): {first_line}"
            ) from None
        if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
            loaded = loaded["state_dict"]
        if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
            raise InputError(f"{path}: expected a state_dict (a mapping of names to tensors)")
        state = dict(loaded)
    return state


def check_finite_weights(state: Mapping[str, torch.Tensor], where: str) -> None:
    """Refuse weights holding NaN or infinite values, naming the first such tensor.

    Such a model turns every score and prediction into NaN; a diverged or corrupted training is the usual
    cause.
    """
    for name, tensor in state.items():
        if tensor.is_floating_point() or tensor.is_complex():
            bad = ~torch.isfinite(tensor)
            if bool(bad.any()):
                n_nan = int(torch.isnan(tensor).sum())
                raise InputError(
                    f"{where}: tensor '{name}' holds {int(bad.sum())} non-finite value(s) "
                    f"({n_nan} NaN, {int(bad.sum()) - n_nan} infinite) of {tensor.numel()}; the model "
                    "cannot be used (retrain it, e.g. with a lower --lr)"
                )


def _expected_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def _check_state_fits(
    expected: Mapping[str, tuple[int, ...]], state: Mapping[str, torch.Tensor], where: str
) -> None:
    missing = [name for name in expected if name not in state]
    if missing:
        raise InputError(f"{where}: weights do not fit the architecture: missing tensor(s) {missing[:5]}")
    extra = [name for name in state if name not in expected]
    if extra:
        raise InputError(f"{where}: weights do not fit the architecture: unexpected tensor(s) {extra[:5]}")
    for name, shape in expected.items():
        got = tuple(state[name].shape)
        if got != shape:
            raise InputError(
                f"{where}: weights do not fit the architecture: tensor '{name}' has shape {list(got)}, "
                f"the architecture needs {list(shape)}"
            )
        if not state[name].is_floating_point() and name.split(".")[-1] != "num_batches_tracked":
            raise InputError(
                f"{where}: tensor '{name}' has dtype {state[name].dtype}, expected floating point"
            )


def _check_output_shape(model: nn.Module, channels: int, length: int, n_tasks: int, where: str) -> None:
    probe = torch.zeros(2, channels, length)
    try:
        with torch.no_grad():
            out = model(probe)
    except Exception as exc:  # any failure here means the described input does not fit the model
        raise InputError(
            f"{where}: the model fails on an input of shape {list(probe.shape)} "
            f"(alphabet x input_length): {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_tasks):
        shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(
            f"{where}: the model maps {list(probe.shape)} to {shape}, expected [2, {n_tasks}] "
            f"(one logit per task name)"
        )


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 over the names, shapes and bytes of ``model.state_dict()``."""
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(key.encode())
        digest.update(str(tuple(t.shape)).encode())
        digest.update(str(t.dtype).encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()
