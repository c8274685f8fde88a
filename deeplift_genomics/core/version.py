"""The package's version, read once from the installed metadata (it is written once, in pyproject.toml).

Every module that records the version imports it from here, never from the package face, so that no
layer imports the layer above it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("deeplift-genomics")
except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
