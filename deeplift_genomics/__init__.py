"""deeplift-genomics: DeepLIFT for DNA-sequence models in PyTorch."""

from __future__ import annotations

from .attribute import AttributionResult, attribute
from .rules import register_rule, unregister_rule

__version__ = "0.1.0"

__all__ = [
    "AttributionResult",
    "__version__",
    "attribute",
    "dinucleotide_shuffle",
    "register_rule",
    "unregister_rule",
]


def __getattr__(name: str):
    # dinucleotide_shuffle lives in .shuffle; imported lazily so the package imports without it.
    if name == "dinucleotide_shuffle":
        from .shuffle import dinucleotide_shuffle

        return dinucleotide_shuffle
    raise AttributeError(f"module 'deeplift_genomics' has no attribute {name!r}")
