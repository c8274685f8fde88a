"""``import-model``: a bpnet-lite / ChromBPNet file written by ``torch.save`` into a model directory.

The file is read without running any code from it (``torch.load(weights_only=True)`` with an allow-list
of bpnet-lite's classes; see :mod:`deeplift_genomics.bpnet_lite`). The directory it writes
(``model.json`` + ``model.safetensors``) is what ``score`` and ``attribute`` take with ``--model``.
Flags override ``--config`` keys (:mod:`.settings`), which override the defaults in :data:`SETTINGS`.
"""

from __future__ import annotations

import argparse
import logging

from ..bpnet_lite import import_bpnet_lite
from ..outputs_guard import guarded_output
from .settings import Setting, none_defaults, resolve_settings

log = logging.getLogger(__name__)

WRAPPER_CHOICES = ("count", "profile")

SETTINGS: dict[str, Setting] = {
    "in": Setting(kind=str),
    "out": Setting(kind=str),
    "wrapper": Setting("count", str, WRAPPER_CHOICES),
    "input_length": Setting(2114, int),
    "task_name": Setting(None, str),
}
REQUIRED = ("in", "out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``deeplift-genomics import-model``."""
    parser.add_argument("--in", metavar="FILE", help="bpnet-lite model file written by torch.save (BPNet or ChromBPNet)")
    parser.add_argument("--out", metavar="DIR", help="model directory to write (replaced as a whole)")
    parser.add_argument("--wrapper", choices=WRAPPER_CHOICES,
                        help="output to explain: count (log total count, default) or profile (bpnet-lite's "
                             "ProfileWrapper score)")
    parser.add_argument("--input-length", type=int, help="sequence length the model takes (default 2114)")
    parser.add_argument("--task-name", help="name of the output (default counts / profile)")
    parser.add_argument("--config", help="YAML config (keys = flag names with underscores)")
    none_defaults(parser, SETTINGS)


def run(args: argparse.Namespace) -> int:
    """Read the file safely, write the model directory."""
    s = resolve_settings(args, "import-model", SETTINGS, REQUIRED)
    with guarded_output(s["out"], "import-model", (s["in"], getattr(args, "config", None))):
        path = import_bpnet_lite(s["in"], s["out"], wrapper=s["wrapper"], input_length=s["input_length"],
                                 task_names=None if s["task_name"] is None else [s["task_name"]])
    log.info("wrote %s", path)
    return 0
