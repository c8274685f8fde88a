"""The module paths of 0.2 still import, each with a DeprecationWarning naming its new place.

0.3 moved the modules of the package root into layer folders (docs/architecture.md). Two old names are
packages now and keep their public names there: ``deeplift_genomics.references`` (``make_references``,
``REFERENCE_KINDS``) and ``deeplift_genomics.engine`` (the interpreter is ``engine.interpreter``). A user's
``from deeplift_genomics.model_io import load_model`` keeps working through 0.3 and warns once; a model
directory written by 0.2 whose ``model.json`` names ``deeplift_genomics.bpnet_lite:BpnetLiteModel`` loads
without a word (:func:`current_module_name`). Nothing else of the package imports an old path (the
import-contract test sees to it).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

PACKAGE = "deeplift_genomics"
# old path below the package -> new path below the package
RENAMED: dict[str, str] = {
    "graph": "engine.graph",
    "rules": "engine.rules",
    "shuffle": "references.shuffle",
    "shuffle_compiled": "references.shuffle_compiled",
    "shuffle_legacy": "references.shuffle_legacy",
    "model": "models.spec",
    "model_io": "models.files",
    "train": "models.train",
    "metrics": "models.metrics",
    "bpnet_lite": "models.bpnet_lite",
    "dataset": "datasets.load",
    "dataset_writer": "datasets.write",
    "peaks": "datasets.peaks",
    "peaks.bed": "datasets.peaks.bed",
    "peaks.build": "datasets.peaks.build",
    "peaks.negatives": "datasets.peaks.negatives",
    "peaks.splits": "datasets.peaks.splits",
    "peaks.writer": "datasets.peaks.writer",
    "fasta": "io.fasta",
    "onehot": "io.onehot",
    "atomic": "io.atomic",
    "outputs_guard": "io.output_dirs",
    "config_file": "io.config_file",
    "variants.vcf": "io.vcf",
    "errors": "core.errors",
    "constants": "core.constants",
    "logs": "core.logs",
    "progress": "core.progress",
    "devices": "core.devices",
}


def current_module_name(name: str) -> str:
    """``name`` with a 0.2 module path of this package replaced by its 0.3 path (others unchanged)."""
    prefix = PACKAGE + "."
    if not name.startswith(prefix):
        return name
    parts = name[len(prefix):].split(".")
    for i in range(len(parts), 0, -1):
        new = RENAMED.get(".".join(parts[:i]))
        if new is not None:
            return prefix + ".".join([new, *parts[i:]])
    return name


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new_name: str):
        self.new_name = new_name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} moved to {self.new_name} in deeplift-genomics 0.3; import it from there",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.new_name)

    def exec_module(self, module: ModuleType) -> None:
        """The module was executed under its new name."""


class _RenamedModules(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(PACKAGE + ".") or fullname[len(PACKAGE) + 1:] not in RENAMED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(current_module_name(fullname)))


def install() -> None:
    """Let the old paths import (idempotent)."""
    if not any(isinstance(finder, _RenamedModules) for finder in sys.meta_path):
        # first: the path finder would otherwise load an old package's submodules a second time
        sys.meta_path.insert(0, _RenamedModules())
