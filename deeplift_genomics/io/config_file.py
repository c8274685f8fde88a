"""Reading the YAML files that every command's ``--config`` takes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..core.errors import InputError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


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


def dataclass_from_mapping(cls: type[T], data: Mapping[str, Any], source: str, what: str) -> T:
    """Build the dataclass ``cls`` from ``data``, refusing keys it does not have.

    Parameters
    ----------
    cls
        A dataclass whose ``__post_init__`` raises :class:`InputError` for bad values.
    data
        Field names to values.
    source
        Where ``data`` came from (a file name), put in front of every message.
    what
        What the keys are called in the unknown-key message, e.g. ``"training option(s)"``.
    """
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{source}: unknown {what} {unknown}; known: {sorted(known)}")
    try:
        return cls(**data)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
