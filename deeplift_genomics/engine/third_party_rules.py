"""DeepLIFT rules for the modules of known third-party model packages, found in a model as it is.

bpnet-lite's own modules (``_ProfileLogitScaling``, ``_Log``, ``_Exp``) get the rules that
``bpnetlite.attribute.deep_lift_shap`` registers with tangermeme (Rescale), so that ``attribute`` takes
``CountWrapper(ControlWrapper(BPNet(...)))``, ``ProfileWrapper(...)`` and ``ChromBPNet`` as they are.
The package is never imported here: a model built from its classes has already imported it.
"""

from __future__ import annotations

import sys

import torch
from torch import nn

from .rules import Elementwise

PACKAGE = "bpnetlite"


def _log_deriv(t: torch.Tensor) -> torch.Tensor:
    return 1.0 / t


def known_rules(model: nn.Module) -> dict[type, tuple[str, Elementwise | None]]:
    """Rules for the bpnet-lite modules inside ``model`` (empty when it holds none).

    bpnet-lite is never imported here: a model built from its classes has already imported it.
    """
    if not any(type(m).__module__.split(".")[0] == PACKAGE for m in model.modules()):
        return {}
    bpnet = sys.modules.get(f"{PACKAGE}.bpnet")
    chrom = sys.modules.get(f"{PACKAGE}.chrombpnet")
    rules: dict[type, tuple[str, Elementwise | None]] = {}
    if bpnet is not None and hasattr(bpnet, "_ProfileLogitScaling"):
        # logits * softmax(logits) over the profile: not elementwise; Rescale's per-element ratio, as
        # bpnet-lite registers it
        rules[bpnet._ProfileLogitScaling] = ("nonlinearity", Elementwise("_ProfileLogitScaling", None, False))
    if chrom is not None:
        if hasattr(chrom, "_Log"):
            rules[chrom._Log] = ("nonlinearity", Elementwise("log", _log_deriv))
        if hasattr(chrom, "_Exp"):
            rules[chrom._Exp] = ("nonlinearity", Elementwise("exp", torch.exp))
    return rules


# -- model files written by torch.save ---------------------------------------------------------------

# Everything a torch.save'd bpnet-lite model may hold, besides the tensors and plain containers that
# torch.load(weights_only=True) allows anyway. Names, not objects: bpnet-lite is imported only to read.
