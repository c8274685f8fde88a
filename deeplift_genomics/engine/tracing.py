"""The front door: trace a model with torch.fx for the input shape at hand.

Models are taken as users have them. Only the first argument of ``forward`` is symbolic; every other
argument keeps its default (``X_ctl=None``), ``*args`` is empty and ``**kwargs`` is ``{}``. Modules of
torch.nn and modules with a registered rule stay single ``call_module`` nodes (the interpreter's fast
paths: channels-last convolutions, BatchNorm as a scale, bpnet-lite's modules).

Python control flow that depends on the input's **shape** is followed: every traced value carries its
value on the caller's first example row, computed op by op as the trace goes. Where Python needs a real
value (``if``, ``while``, ``len()``, iteration, ``int()``, ``float()``, an index, a tensor's
``ndim``/``dtype``/``device``) the tracer takes it from that run, so Enformer's crops and padding,
``if x.ndim == 2``, einops' ``rearrange`` and loops over ``x.shape`` all trace. The graph is then valid
for that per-example shape only: :func:`~deeplift_genomics.engine.graph.build_plan` caches it per shape
and traces again for a new one. The batch size stays symbolic (``x.shape[0]`` is a graph node): each such
value is also computed on that row twice (a 2-row batch, only where a decision needs it), and one that
differs is refused, naming its line, because the engine runs chunks of any size. A decision on the input's **values** (``if h.sum() > 0``) is refused too: DeepLIFT
needs one graph for the input and its references.

Alternatives measured (docs/attention.md): torch.export and ``make_fx`` trace the same models but inline
every module into ATen ops, losing the module boundaries above, and take seconds per model.
"""

from __future__ import annotations

import contextlib
import inspect
import operator
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from ..core.errors import InputError, UnsupportedModelError
from .expand import module_expansion, traced_functions

# Factories fx cannot trace when given a size from a Proxy (their argument parser rejects it before
# __torch_function__); patched during tracing to record a call_function node.
_FACTORIES = ("zeros", "ones", "full", "empty", "arange", "linspace", "eye", "tensor", "as_tensor")
# Read as real values from the example runs: fixed for a per-example shape (and checked not to change
# with the batch size).
_CONCRETE_ATTRIBUTES = frozenset({"ndim", "dtype", "device", "is_cuda", "layout", "is_sparse"})
# Values that depend on the shape of their tensor argument, not on its values.
_SHAPE_ATTRIBUTES = frozenset({"shape", *_CONCRETE_ATTRIBUTES})
_SHAPE_METHODS = frozenset({"size", "dim", "numel", "nelement", "new_zeros", "new_ones", "new_full",
                            "new_empty", "zeros_like", "ones_like", "full_like", "empty_like"})
_SHAPE_FUNCTIONS = {torch.zeros_like, torch.ones_like, torch.full_like, torch.empty_like, torch.numel}
# einops functions recorded as single ops (they are views) when a model has imported einops.
_EINOPS_FUNCTIONS = ("rearrange", "repeat")
_TORCH_DIR = str(Path(torch.__file__).parent)


class _ShapeProxy(fx.Proxy):
    """A traced value that knows what it is on the example batches (see :class:`_Tracer`)."""

    def __getattr__(self, k: str) -> Any:
        if k in _CONCRETE_ATTRIBUTES:
            return _tracer(self).concrete(self, f"the tensor's .{k}", lambda v: getattr(v, k), shape_only=True)
        return _ShapeAttribute(self, k)

    def __len__(self) -> int:
        return _tracer(self).concrete(self, "len()", len, shape_only=True)

    def __iter__(self) -> Iterator[fx.Proxy]:
        n = _tracer(self).concrete(self, "iteration", len, shape_only=True)
        return iter([self[i] for i in range(n)])  # type: ignore[index]

    def __index__(self) -> int:
        return _tracer(self).concrete(self, "a Python int", operator.index)

    def __int__(self) -> int:
        return _tracer(self).concrete(self, "int()", int)

    def __float__(self) -> float:
        return _tracer(self).concrete(self, "float()", float)


class _ShapeAttribute(_ShapeProxy, fx.proxy.Attribute):
    """``x.shape``, ``x.size``, ...: fx's lazy attribute, with the example values."""


def _tracer(p: fx.Proxy) -> _Tracer:
    tracer = p.tracer
    assert isinstance(tracer, _Tracer)  # _ShapeProxy objects are made by _Tracer only
    return tracer


def _user_line() -> str:
    """``file:line (source)`` of the innermost frame of the model's own code."""
    here = str(Path(__file__).resolve())
    for frame in reversed(traceback.extract_stack()):
        if frame.filename.startswith(_TORCH_DIR) or str(Path(frame.filename).resolve()) == here:
            continue
        src = f" `{frame.line.strip()}`" if frame.line else ""
        return f"{Path(frame.filename).name}:{frame.lineno}{src}"
    return "an unknown line"


class _Tracer(fx.Tracer):
    """fx tracer for models as users write them, following control flow on the input's shape.

    Only the first argument of the root's ``forward`` becomes a placeholder; the others keep their
    defaults, ``*args`` is empty and ``**kwargs`` is ``{}``. Module classes with a registered rule (by
    the user, or known third-party ones such as bpnet-lite's) stay leaves, like torch.nn's own modules.

    Every node created is also run on the 1-row example (``values``) and marked when it depends on the
    input's values (``on_values``) rather than only on its shape. Where Python asks for a real value, the
    2-row example's value (``values2``, computed then) must agree with it.
    """

    def __init__(self, rules: dict, examples: tuple[torch.Tensor, torch.Tensor]):
        einops = sys.modules.get("einops")
        wrapped = tuple(getattr(einops, name) for name in _EINOPS_FUNCTIONS if hasattr(einops, name))
        super().__init__(autowrap_functions=wrapped)
        self.rule_classes = tuple(k for k in rules if isinstance(k, type))
        self.examples = examples
        self.values: dict[fx.Node, Any] = {}  # on the 1-row example
        self.values2: dict[fx.Node, Any] = {}  # on the 2-row example, where a decision needs them
        self.on_values: dict[fx.Node, bool] = {}
        self.running = False  # inside an example run: fx's patched nn.Module hooks act as eager mode

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if self.rule_classes and isinstance(m, self.rule_classes):
            return True
        if _is_einops_layer(m):
            return True
        return super().is_leaf_module(m, qualname)

    def create_args_for_root(self, root_fn, is_module, concrete_args=None):
        fn = inspect.unwrap(root_fn)
        params = list(inspect.signature(fn).parameters.values())[1 if is_module else 0:]
        if not params or params[0].kind not in (inspect.Parameter.POSITIONAL_ONLY,
                                                inspect.Parameter.POSITIONAL_OR_KEYWORD):
            return super().create_args_for_root(root_fn, is_module, concrete_args)
        first = self.create_proxy("placeholder", params[0].name, (), {})

        def bound(*args):
            return root_fn(*args)

        return bound, ([self.root] if is_module else []) + [first]

    def call_module(self, m: nn.Module, forward: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        if self.running:
            return forward(*args, **kwargs)
        # norms and attention are recorded written out (engine/expand.py), unless the user gave a rule
        expand = module_expansion(m)
        if expand is not None and not (self.rule_classes and isinstance(m, self.rule_classes)):
            return expand(m, *args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        if self.running:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _ShapeProxy(node, self)

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        p = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        self._run_examples(p.node)
        return p

    # --- the example runs -------------------------------------------------------------------------------
    def _run_examples(self, node: fx.Node) -> None:
        """The node's value on the 1-row example, and whether it depends on the input's values."""
        if node.op == "placeholder":
            self.values[node] = self.examples[0]
            self.on_values[node] = True
            return
        self.values[node] = self._run(node, self.values, 0)
        self.on_values[node] = not _reads_shape_only(node) and any(
            self.on_values.get(a, False) for a in node.all_input_nodes)

    def _value_on_two_rows(self, node: fx.Node) -> Any:
        """The node's value on the 2-row example, computed when a decision needs it (and its ancestors')."""
        if node not in self.values2:
            todo, stack = set(), [node]
            while stack:
                n = stack.pop()
                if n not in todo and n not in self.values2:
                    todo.add(n)
                    stack.extend(n.all_input_nodes)
            for n in self.graph.nodes:
                if n in todo:
                    self.values2[n] = self.examples[1] if n.op == "placeholder" else self._run(n, self.values2, 1)
        return self.values2[node]

    def _run(self, node: fx.Node, env: dict[fx.Node, Any], i: int) -> Any:
        def value(n: fx.Node) -> Any:
            if n not in env:  # a constant fx registered itself (create_node, not create_proxy)
                env[n] = self._call(n, (), {})
            return env[n]

        self.running = True  # module calls and attributes as in eager mode (see call_module, getattr)
        try:
            with torch.no_grad():
                args = fx.node.map_arg(node.args, value)
                kwargs = fx.node.map_arg(node.kwargs, value)
                return self._call(node, args, kwargs)
        except Exception as exc:
            raise InputError(
                f"x: model {type(self.root).__name__} does not run on input of shape "
                f"{tuple(self.examples[i].shape[1:])} per example ({type(exc).__name__} at "
                f"{_user_line()}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from exc
        finally:
            self.running = False

    def _call(self, node: fx.Node, args: Any, kwargs: Any) -> Any:
        if node.op == "get_attr":
            obj: Any = self.root
            for part in str(node.target).split("."):
                obj = getattr(obj, part)
            return obj
        if node.op == "call_module":
            return self.root.get_submodule(str(node.target))(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], str(node.target))(*args[1:], **kwargs)
        assert callable(node.target)  # call_function
        return node.target(*args, **kwargs)

    def concrete(self, p: fx.Proxy, what: str, fn: Callable[[Any], Any], shape_only: bool = False) -> Any:
        """``fn`` of the value ``p`` takes on the examples, for Python code that needs a real value.

        ``shape_only``: ``fn`` reads only the shape of a tensor (its length, ndim, dtype), so the tensor's
        dependence on the input's values does not matter.
        """
        node = p.node
        a = self.values[node]
        name = type(self.root).__name__
        if self.on_values.get(node) and not (shape_only and _tensors(a)):
            raise UnsupportedModelError(
                f"model {name}: cannot trace it: {what} at {_user_line()} depends on the input's values; "
                "DeepLIFT needs one graph for the input and its references, so Python control flow may "
                "depend on the input's shape but not on its values"
            )
        va, vb = fn(a), fn(self._value_on_two_rows(node))
        if va != vb:
            raise UnsupportedModelError(
                f"model {name}: cannot trace it: {what} at {_user_line()} depends on the batch size "
                f"({va!r} for 1 row, {vb!r} for 2); the engine runs batches of any size, so keep the batch "
                "size symbolic (x.shape[0] or -1 in views, not a Python number or a branch)"
            )
        return va

    def to_bool(self, obj: fx.Proxy) -> bool:
        return bool(self.concrete(obj, "a Python branch (if/while/bool())", bool))

    def iter(self, obj: fx.Proxy) -> Iterator:
        n = self.concrete(obj, "iteration", len, shape_only=True)
        return iter([obj[i] for i in range(n)])  # type: ignore[index]


def _tensors(v: Any) -> bool:
    """A tensor, or a tuple or list of them (``chunk``, ``split``): their number and shapes are not values."""
    return isinstance(v, torch.Tensor) or (isinstance(v, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in v))


def _reads_shape_only(node: fx.Node) -> bool:
    """A value that depends on the shape (dtype, device) of its arguments, not on their values."""
    if node.op == "get_attr":
        return True
    if node.op == "call_function":
        if node.target is getattr:
            return node.args[1] in _SHAPE_ATTRIBUTES
        try:
            return node.target in _SHAPE_FUNCTIONS
        except TypeError:  # unhashable targets
            return False
    return node.op == "call_method" and node.target in _SHAPE_METHODS


def _is_einops_layer(m: nn.Module) -> bool:
    return type(m).__module__.startswith("einops.")


@contextlib.contextmanager
def _traceable_calls() -> Iterator[None]:
    """Record a node for ``torch.zeros(x.shape[0], ...)`` and friends, and for ``einops.rearrange(x, ...)``.

    Tensor factories reject a Proxy size before ``__torch_function__``, and einops rejects a Proxy
    tensor; both are patched during tracing (``from einops import rearrange`` is fx's autowrap).
    """
    einops = sys.modules.get("einops")
    targets: list[tuple[Any, str]] = [(torch, name) for name in _FACTORIES]
    if einops is not None:
        targets += [(einops, name) for name in _EINOPS_FUNCTIONS if hasattr(einops, name)]
    originals = [(owner, name, getattr(owner, name)) for owner, name in targets]

    def wrap(orig):
        def call(*args, **kwargs):
            found: list[fx.Proxy] = []
            fx.node.map_aggregate((args, kwargs), lambda a: found.append(a) if isinstance(a, fx.Proxy) else None)
            if not found:
                return orig(*args, **kwargs)
            return found[0].tracer.create_proxy("call_function", orig, args, kwargs)

        call.__name__ = orig.__name__
        return call

    try:
        for owner, name, orig in originals:
            setattr(owner, name, wrap(orig))
        yield
    finally:
        for owner, name, orig in originals:
            setattr(owner, name, orig)


def forward_inputs(model: nn.Module) -> list[str]:
    """Names of the arguments of ``model.forward`` that have no default (tensor inputs)."""
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return ["x"]
    return [p.name for p in params if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]


def trace(model: nn.Module, example: torch.Tensor, rules: dict) -> tuple[fx.GraphModule, dict[fx.Node, Any]]:
    """Trace ``model`` for inputs shaped like ``example`` (any batch size); also every node's value on it.

    Parameters
    ----------
    model
        The network, in the mode it will be attributed in.
    example
        An input batch ``(n, ...)``; its first row, and that row twice, are the example batches (the
        values returned are the first row's).
    rules
        The rules in force (their module classes stay leaves).

    Raises
    ------
    UnsupportedModelError
        For control flow on the input's values or on the batch size, or another tracing failure.
    InputError
        When the model does not run on inputs of this shape.
    """
    inputs = forward_inputs(model)
    if len(inputs) > 1:
        raise UnsupportedModelError(
            f"model {type(model).__name__}: forward() takes {len(inputs)} tensor inputs without defaults "
            f"({', '.join(inputs) or 'none'}); the engine attributes models with exactly one input"
        )
    one = example[:1]
    tracer = _Tracer(rules, (one, torch.cat([one, one])))
    try:
        with _traceable_calls(), traced_functions():
            graph = tracer.trace(model)
    except InputError:  # UnsupportedModelError too: already says what and where
        raise
    except Exception as exc:  # fx raises many types (TraceError, TypeError, NotImplementedError...)
        raise UnsupportedModelError(
            f"model {type(model).__name__}: torch.fx cannot trace it ({type(exc).__name__}: {exc}); the engine "
            "needs a model without control flow on the input's values"
        ) from exc
    return fx.GraphModule(tracer.root, graph, type(model).__name__), tracer.values
