"""``import-model``: a bpnet-lite / ChromBPNet file written by ``torch.save`` into a model directory.

The file is read without running any code from it (``torch.load(weights_only=True)`` with an allow-list
of bpnet-lite's classes; see :mod:`deeplift_genomics.models.bpnet_lite`). The directory it writes
(``model.json`` + ``model.safetensors``) is what ``score`` and ``attribute`` take with ``--model``.
Flags override ``--config`` keys (:mod:`.settings`), which override the defaults in :data:`SETTINGS`.
"""

from __future__ import annotations

import argparse
import logging

from ..io.output_dirs import guarded_output
from ..models.bpnet_lite import import_bpnet_lite
from .settings import Setting, add_setting_flags, resolve_settings

log = logging.getLogger(__name__)

WRAPPER_CHOICES = ("count", "profile")

SETTINGS: dict[str, Setting] = {
    "in": Setting(kind=str, metavar="FILE",
                help='bpnet-lite model file written by torch.save (BPNet or ChromBPNet)', workflow="none: import-model runs by hand, before the workflow (its directory is model.dir)"),
    "out": Setting(kind=str, metavar="DIR", help='model directory to write (replaced as a whole)', workflow="none: import-model runs by hand, before the workflow (its directory is model.dir)"),
    "wrapper": Setting("count", str, WRAPPER_CHOICES,
                help="output to explain: count (log total count) or profile (bpnet-lite's ProfileWrapper score)", workflow="none: import-model runs by hand, before the workflow (its directory is model.dir)"),
    "input_length": Setting(2114, int, help='sequence length the model takes', workflow="none: import-model runs by hand, before the workflow (its directory is model.dir)"),
    "task_name": Setting(None, str, shown_default='counts / profile', help='name of the output', workflow="none: import-model runs by hand, before the workflow (its directory is model.dir)"),
}
REQUIRED = ("in", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``deeplift-genomics import-model``."""
    add_setting_flags(parser, SETTINGS, "import-model")


def run(args: argparse.Namespace) -> int:
    """Read the file safely, write the model directory."""
    s = resolve_settings(args, "import-model", SETTINGS, REQUIRED)
    with guarded_output(s["out"], "import-model", (s["in"], getattr(args, "config", None))):
        path = import_bpnet_lite(s["in"], s["out"], wrapper=s["wrapper"], input_length=s["input_length"],
                                 task_names=None if s["task_name"] is None else [s["task_name"]])
    log.info("wrote %s", path)
    return 0
