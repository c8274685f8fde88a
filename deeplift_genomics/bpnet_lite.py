"""bpnet-lite (BPNet, ChromBPNet) support without depending on it.

Two parts, both used only when the user's model or file comes from bpnet-lite:

- :func:`known_rules`: the DeepLIFT rules of bpnet-lite's own modules (``_ProfileLogitScaling``, ``_Log``,
  ``_Exp``), found when a model holds a module of that package, so that ``attribute`` takes
  ``CountWrapper(ControlWrapper(BPNet(...)))``, ``ProfileWrapper(...)`` and ``ChromBPNet`` as they are. They
  are the rules ``bpnetlite.attribute.deep_lift_shap`` registers with tangermeme (Rescale).
- :func:`import_bpnet_lite`: a model file written with ``torch.save(model)`` (a pickle) turned into a
  model directory (``model.json`` + safetensors), reading it with ``torch.load(weights_only=True)`` and an
  explicit allow-list of bpnet-lite's classes, so the file cannot run code.
"""

from __future__ import annotations

import logging
import sys

import torch
from torch import nn

from .rules import Elementwise

log = logging.getLogger(__name__)

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
