"""Every public function and method of both packages carries complete type annotations.

"Public" means: defined in a module of ``deeplift_genomics`` or ``data_sim`` whose dotted path has no
part starting with an underscore, under a name with no leading underscore (methods: of a public class,
plus ``__init__``, ``__call__`` and the other dunder entry points a caller reaches through syntax).
"Complete" means: every parameter except a method's ``self``/``cls`` has an annotation (``*args`` and
``**kwargs`` included) and the return type is annotated. Imported names are checked where they are
defined, not where they are re-exported. The type checker (``mypy``, run by ``make test``) checks the
annotations are right; this test checks they are there, so a new unannotated function cannot slip in
while mypy, which skips the bodies of unannotated functions only when told to, stays quiet.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

import data_sim
import deeplift_genomics

PACKAGES = (deeplift_genomics, data_sim)
# Importing __main__ would run the command line.
SKIPPED_MODULES = {"deeplift_genomics.__main__"}
# Dunder methods a caller uses through syntax (construction, calls, iteration...), so part of the API.
PUBLIC_DUNDERS = {"__init__", "__call__", "__iter__", "__len__", "__getitem__", "__enter__", "__exit__"}


def _modules() -> Iterator[ModuleType]:
    for package in PACKAGES:
        yield package
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if info.name in SKIPPED_MODULES or any(p.startswith("_") for p in info.name.split(".")[1:]):
                continue
            yield importlib.import_module(info.name)


def _missing(func: Callable[..., object], is_method: bool) -> list[str]:
    """Names of the unannotated parameters of ``func`` (``return`` for the return type)."""
    func = inspect.unwrap(func)
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # pragma: no cover - builtins have no Python signature
        return []
    params = list(signature.parameters.values())
    if is_method and params and params[0].name in ("self", "cls"):
        params = params[1:]
    missing = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def _methods(cls: type) -> Iterator[tuple[str, Callable[..., object]]]:
    for name, attr in vars(cls).items():
        if name.startswith("_") and name not in PUBLIC_DUNDERS:
            continue
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if isinstance(attr, property):
            for accessor in (attr.fget, attr.fset, attr.fdel):
                if accessor is not None:
                    yield name, accessor
            continue
        if inspect.isfunction(attr) and attr.__module__ == cls.__module__:
            yield name, attr


def _public_callables() -> Iterator[tuple[str, Callable[..., object], bool]]:
    seen: set[int] = set()
    for module in _modules():
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj, False
            elif inspect.isclass(obj):
                for method_name, method in _methods(obj):
                    yield f"{module.__name__}.{name}.{method_name}", method, True


def test_walk_finds_the_packages_modules() -> None:
    names = {m.__name__ for m in _modules()}
    # A few modules from each layer, so a broken walk cannot pass by finding nothing.
    for expected in (
        "deeplift_genomics.attribute",
        "deeplift_genomics.cli.settings",
        "deeplift_genomics.score.runner",
        "deeplift_genomics.benchmark.analysis",
        "data_sim.simulate",
    ):
        assert expected in names


def test_missing_annotations_are_detected() -> None:
    def partly(a: int, b, *args, **kwargs) -> int:  # noqa: ANN001 - the point of the test
        return a

    def no_return(a: int):
        return a

    class C:
        def method(self, x: int) -> None: ...

    assert _missing(partly, is_method=False) == ["b", "args", "kwargs"]
    assert _missing(no_return, is_method=False) == ["return"]
    assert _missing(C.method, is_method=True) == []


@pytest.mark.parametrize("package", [p.__name__ for p in PACKAGES])
def test_public_functions_are_fully_annotated(package: str) -> None:
    problems = [
        f"{qualname}: {', '.join(missing)}"
        for qualname, func, is_method in _public_callables()
        if qualname.startswith(package + ".") and (missing := _missing(func, is_method))
    ]
    assert not problems, "public functions lacking annotations (parameter names, or 'return'):\n" + "\n".join(
        problems
    )
