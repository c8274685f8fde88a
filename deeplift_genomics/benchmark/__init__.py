"""The paper's simulated GATA1/TAL1 benchmark (Section 4.2, Fig. 5), one module per stage.

- :mod:`.methods`: the compared attribution methods, their labels and display names;
- :mod:`.attributions`: computing and selecting attributions (their file: :mod:`deeplift_genomics.io.attributions`);
- :mod:`.analysis`: pure tables (hits, Fig. 5b, per-base metrics, claims);
- :mod:`.run`: :func:`run_benchmark`, which wires data, models and attributions to the analysis;
- :mod:`.figures`, :mod:`.logos`: figures and sequence logos; :mod:`.report`: the HTML pages.
"""

from __future__ import annotations

from ..io.attributions import Attributions, load_attributions, method_label, save_attributions
from .methods import DEFAULT_METHODS, MethodSpec, display_name
from .run import run_benchmark

__all__ = [
    "DEFAULT_METHODS",
    "Attributions",
    "MethodSpec",
    "display_name",
    "load_attributions",
    "method_label",
    "run_benchmark",
    "save_attributions",
]
