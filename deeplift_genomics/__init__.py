"""deeplift-genomics: DeepLIFT for DNA-sequence models in PyTorch.

The engine's public entry points are re-exported here; the modules beside this file are the engine
(:mod:`.attribute`, :mod:`.engine`, :mod:`.graph`, :mod:`.rules`, :mod:`.references`, :mod:`.shuffle`,
:mod:`.ism`), data and models (:mod:`.fasta`, :mod:`.dataset`, :mod:`.model`, :mod:`.model_io`,
:mod:`.train`), and the foundations they share. The sub-packages are the applications built on them:
:mod:`.score` (FASTA scoring), :mod:`.benchmark` (the paper's simulated benchmark) and :mod:`.cli`.
"""

from __future__ import annotations

from .attribute import AttributionResult, attribute
from .rules import register_rule, unregister_rule
from .shuffle import dinucleotide_shuffle
from .version import __version__

__all__ = [
    "AttributionResult",
    "__version__",
    "attribute",
    "dinucleotide_shuffle",
    "register_rule",
    "unregister_rule",
]
