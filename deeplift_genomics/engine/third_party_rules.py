"""DeepLIFT rules for the modules of known third-party model packages, found in a model as it is.

bpnet-lite's own modules (``_ProfileLogitScaling``, ``_Log``, ``_Exp``) get the rules that
``bpnetlite.attribute.deep_lift_shap`` registers with tangermeme (Rescale), so that ``attribute`` takes
``CountWrapper(ControlWrapper(BPNet(...)))``, ``ProfileWrapper(...)`` and ``ChromBPNet`` as they are.
enformer-pytorch's ``GELU`` (``x * sigmoid(1.702 x)``) is an elementwise nonlinearity like ``nn.GELU``:
Rescale or RevealCancel on the whole activation, not a Shapley split of its product.
The packages are never imported here: a model built from their classes has already imported them.
"""

from __future__ import annotations

import sys

import torch
from torch import nn

from .rules import Elementwise

PACKAGE = "bpnetlite"
ENFORMER = "enformer_pytorch"
# enformer-pytorch's GELU approximation: x * sigmoid(GELU_SLOPE * x)
GELU_SLOPE = 1.702


def _log_deriv(t: torch.Tensor) -> torch.Tensor:
    return 1.0 / t


def _sigmoid_gelu_deriv(t: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(GELU_SLOPE * t)
    return s + GELU_SLOPE * t * s * (1 - s)


def known_rules(model: nn.Module) -> dict[type, tuple[str, Elementwise | None]]:
    """Rules for the bpnet-lite and enformer-pytorch modules inside ``model`` (empty when it holds none).

    Neither package is imported here: a model built from their classes has already imported it.
    """
    packages = {type(m).__module__.split(".")[0] for m in model.modules()}
    rules: dict[type, tuple[str, Elementwise | None]] = {}
    enformer = sys.modules.get(f"{ENFORMER}.modeling_enformer")
    if ENFORMER in packages and enformer is not None and hasattr(enformer, "GELU"):
        rules[enformer.GELU] = ("nonlinearity", Elementwise("sigmoid_gelu", _sigmoid_gelu_deriv))
    if PACKAGE not in packages:
        return rules
    bpnet = sys.modules.get(f"{PACKAGE}.bpnet")
    chrom = sys.modules.get(f"{PACKAGE}.chrombpnet")
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
