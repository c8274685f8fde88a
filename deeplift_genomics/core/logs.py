"""Logging set up once, by the CLI: stderr plus an optional log file.

Library modules log through ``logging.getLogger(__name__)`` and never configure handlers.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_DATEFMT = "%H:%M:%S"


def verbosity_to_level(verbose: int = 0, quiet: int = 0) -> int:
    """Map ``-v``/``-q`` counts to a logging level (INFO by default)."""
    step = verbose - quiet
    if step >= 1:
        return logging.DEBUG
    if step == 0:
        return logging.INFO
    if step == -1:
        return logging.WARNING
    return logging.ERROR


def setup_logging(level: int = logging.INFO, log_file: str | Path | None = None) -> None:
    """Send the package's log records to stderr and, if given, to ``log_file`` (appended).

    Parameters
    ----------
    level
        Threshold for stderr and the file.
    log_file
        Optional path; its directory is created if missing.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_deeplift_genomics", False):
            root.removeHandler(handler)
            handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="a", encoding="utf-8"))
    formatter = logging.Formatter(_FORMAT, _DATEFMT)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.setLevel(level)
        handler._deeplift_genomics = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter (matplotlib font cache, fx) is not what a user asked to see.
    for noisy in ("matplotlib", "PIL", "fontTools", "h5py"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
