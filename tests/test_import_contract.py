"""The package's layers (docs/architecture.md): a lower layer never imports a higher one, nothing imports
in a cycle, and imports inside functions are only there for a heavy or optional dependency.

Read from the source with ``ast``, counting imports inside functions (``if TYPE_CHECKING:`` blocks are
not imports at run time and are left out). A failure names the file, the line and the import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = "deeplift_genomics"

# Lowest first. A module may import its own layer and the layers below it; inside one layer, the
# packages may import each other only without a cycle (checked below). data_sim is below everything
# and imports nothing of ours.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundations", {"core"}),
    ("files", {"io", "render", "jobs"}),
    ("engine", {"engine", "references"}),
    ("verbs", {"attribute", "ism"}),
    ("data", {"datasets"}),
    ("models", {"models"}),
    ("scoring", {"score"}),
    ("motifs", {"motifs"}),
    ("variants", {"variants"}),
    ("benchmark", {"benchmark"}),
    ("commands", {"cli", "__main__"}),
    ("package face", {""}),
]
RANK = {part: i for i, (_, parts) in enumerate(LAYERS) for part in parts}
LAYER_NAME = {part: name for name, parts in LAYERS for part in parts}
# Why an import may sit inside a function: a comment on its line, or above its block of imports, says which.
INNER_IMPORT_REASONS = ("heavy:", "optional:")


@dataclass(frozen=True)
class Import:
    source: str  # importing module, dotted
    target: str  # imported module, dotted (ours or data_sim)
    path: Path
    line: int
    inner: bool  # inside a function

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in (PKG, "data_sim") for p in sorted((ROOT / pkg).rglob("*.py"))}


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def _imports(modules: dict[str, Path]) -> Iterator[Import]:
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        inner_lines = {n.lineno for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                       for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                # "from pkg import mod" imports the module pkg.mod when there is one
                targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem for a in node.names]
            for target in dict.fromkeys(targets):
                if target.split(".")[0] in (PKG, "data_sim"):
                    yield Import(name, target, path, node.lineno, node.lineno in inner_lines)


MODULES = _modules()
IMPORTS = list(_imports(MODULES))


def _part(module: str) -> str:
    """The layer part of one of our modules: its first component below the package ('' for the face)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_has_a_layer():
    unknown = sorted({_part(m) for m in MODULES if m.startswith(PKG)} - set(RANK))
    assert not unknown, f"modules outside every layer (add them to LAYERS and docs/architecture.md): {unknown}"


def test_no_lower_layer_imports_a_higher_one():
    bad = []
    for imp in IMPORTS:
        if imp.source.startswith("data_sim"):
            if imp.target.startswith(PKG):
                bad.append(f"{imp.where()}: data_sim imports nothing of deeplift_genomics")
            continue
        if imp.target.startswith("data_sim"):
            continue
        src, dst = _part(imp.source), _part(imp.target)
        if RANK[dst] > RANK[src]:
            bad.append(f"{imp.where()}: layer '{LAYER_NAME[src]}' may not import layer '{LAYER_NAME[dst]}'")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        if imp.target in graph and imp.target != imp.source:
            graph[imp.source].add(imp.target)
    # Tarjan's strongly connected components: any component of more than one module is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    detail = []
    for comp in cycles:
        members = set(comp)
        detail += [imp.where() for imp in IMPORTS if imp.source in members and imp.target in members]
    assert not cycles, f"import cycles {cycles}:\n" + "\n".join(detail)


def test_imports_inside_functions_say_why():
    bad = []
    for imp in IMPORTS:
        if not imp.inner or imp.target.startswith("data_sim"):
            continue
        lines = imp.path.read_text(encoding="utf-8").splitlines()
        # the reason may stand once above a block of imports
        first = imp.line - 1
        while first > 0 and lines[first - 1].strip().startswith(("from ", "import ")):
            first -= 1
        near = " ".join(lines[max(0, first - 1): imp.line])
        if not any(reason in near for reason in INNER_IMPORT_REASONS):
            bad.append(imp.where())
    assert not bad, ("imports inside functions without a '# heavy: ...' or '# optional: ...' comment on their "
                     "line or above their block:\n" + "\n".join(bad))


@pytest.mark.parametrize("layer", [name for name, _ in LAYERS])
def test_the_architecture_page_names_every_layer(layer):
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert layer in text
