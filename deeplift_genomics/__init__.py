"""deeplift-genomics: DeepLIFT for DNA-sequence models in PyTorch.

The package face: the verbs (:func:`attribute`, :func:`register_rule`, :func:`dinucleotide_shuffle`) and
``__version__``. The layers below it are folders (docs/architecture.md): :mod:`.engine`,
:mod:`.references`, :mod:`.models`, :mod:`.datasets`, :mod:`.io`, :mod:`.render`, :mod:`.jobs`,
:mod:`.core`, and the applications :mod:`.score`, :mod:`.motifs`, :mod:`.variants`, :mod:`.benchmark`
and :mod:`.cli`.
"""

from __future__ import annotations

from .attribute import AttributionResult, attribute
from .core import legacy_paths
from .core.version import __version__
from .engine.rules import register_rule, unregister_rule
from .references.shuffle import dinucleotide_shuffle

__all__ = [
    "AttributionResult",
    "__version__",
    "attribute",
    "dinucleotide_shuffle",
    "register_rule",
    "unregister_rule",
]

# 0.2's module paths (deeplift_genomics.model_io, ...) keep importing, with a DeprecationWarning
legacy_paths.install()
