"""0.2's module paths still import, with a DeprecationWarning (0.2's model directories: test_bpnet_lite_import)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from deeplift_genomics.core.legacy_paths import RENAMED, current_module_name


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_an_old_path_gives_the_new_module_and_warns(old):
    # a fresh interpreter: the alias must work however the package was imported before
    code = (
        "import importlib, warnings\n"
        "warnings.simplefilter('error')\n"
        "import deeplift_genomics\n"
        f"new = importlib.import_module('deeplift_genomics.{RENAMED[old]}')\n"
        "try:\n"
        f"    importlib.import_module('deeplift_genomics.{old}')\n"
        "except DeprecationWarning as w:\n"
        # an old package's module warns for the package first (peaks.bed: peaks moved to datasets.peaks)
        f"    assert 'moved to deeplift_genomics.{RENAMED[old].split('.')[0]}' in str(w), w\n"
        "else:\n"
        "    raise SystemExit('no DeprecationWarning')\n"
        "warnings.simplefilter('ignore')\n"
        f"assert importlib.import_module('deeplift_genomics.{old}') is new\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_old_package_path_does_not_load_its_modules_twice():
    with pytest.warns(DeprecationWarning):
        old = importlib.import_module("deeplift_genomics.peaks.build")
    assert old is importlib.import_module("deeplift_genomics.datasets.peaks.build")


def test_names_outside_the_table_are_unchanged():
    assert current_module_name("mylab.nets:Net") == "mylab.nets:Net"
    assert current_module_name("deeplift_genomics.score.runner") == "deeplift_genomics.score.runner"
    assert current_module_name("deeplift_genomics.bpnet_lite") == "deeplift_genomics.models.bpnet_lite"

