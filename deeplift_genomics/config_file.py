"""Reading the YAML files that every command's ``--config`` takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import InputError


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Parse a YAML config file whose top level is a mapping (an empty file gives ``{}``).

    Each command then picks its own keys: the long flag names with underscores, at the top level or
    under a section named after the command.

    Raises
    ------
    InputError
        The file cannot be read, is not valid YAML, or its top level is not a mapping; the message names
        the file.
    """
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read config ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: a config must be a mapping of keys to values")
    return data
