"""The bpnet-lite test modules' common start: skip without bpnet-lite, except under CI (``make setup`` installs it)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def skip_without_bpnet_lite(exc: ImportError) -> NoReturn:
    """Skip the calling test module for ``exc``, the failed import of bpnet-lite (or what its tests need).

    Where the environment variable CI is set ``exc`` is raised instead: CI installs bpnet-lite, so a
    missing one there is a broken setup, not a reason to skip.
    """
    if os.environ.get("CI"):
        raise exc
    pytest.skip(f"bpnet-lite is not installed ({exc}); make setup installs it", allow_module_level=True)
