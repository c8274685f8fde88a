"""One way for every command to merge its settings: flags > ``--config`` YAML > the command's defaults.

Each command declares its settings once, as a mapping of setting name (the long flag with underscores)
to :class:`Setting` (default and type). :func:`resolve_settings` then applies the same rules everywhere:

- a flag given on the command line wins; argparse defaults are therefore ``None`` (not given);
- a ``--config`` YAML file gives the rest. Its top-level keys are this command's settings (dashes or
  underscores), and a section named after a command (``score:``, ``train:``, ...) holds settings of that
  command: this command's section overrides the top level, other commands' sections are ignored, so one
  file can serve several commands. Any other key is refused, naming the file and the key;
- what neither gives (or gives as ``null``) takes the declared default;
- values from the file are checked against the declared type (numeric strings such as ``1e-3``, which
  YAML reads as text, are accepted for numbers), so ``n_references: "two"`` is one clear line naming the
  file and the key, never a traceback;
- required settings still missing are named with their flags;
- a number outside its declared range (:attr:`Setting.low`, :attr:`Setting.high`) is one line naming
  the flag or the file's key and the range, whichever gave it; every setting named ``seed`` has one
  range in every command, :data:`SEED_RANGE` (what numpy and torch both take).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from ..core.targets import check_unique_names
from ..io.config_file import read_yaml_mapping
from .commands import SUBCOMMANDS


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting of a command.

    Attributes
    ----------
    default
        Value when neither a flag nor the config gives one.
    kind
        ``int``, ``float``, ``bool``, ``str``, ``list``, ``dict``, or ``None`` for any value. Config
        values are checked (and numeric strings converted) against it; ``None`` is always allowed.
    choices
        Allowed values, when the setting is one of a few words.
    low, high
        Smallest and largest allowed number (inclusive), when values outside can only give nothing or
        fail later; ``None`` for no bound.
    help, metavar, group
        What ``--help`` says of it (the default is added: :meth:`help_text`), the value's name there,
        and the heading it is listed under.
    nargs, item_kind, const
        ``"+"`` (or a count) when the flag takes several values, ``item_kind`` the type of each; else one
        value (lists: comma-separated). ``nargs="?"`` with ``const``: the value when the flag is given bare.
    negative
        For a setting that is on by default and only turned off: its one flag (``--no-report``).
    shown_default
        What ``--help`` says the default is, when ``default`` is ``None`` but means something ("all").
    config_only
        Set only in ``--config`` (a structured value such as a list of methods): no flag.
    workflow
        Where the Snakemake workflow's config sets it: a dotted key path (``variants.flank``; the rule's
        command line gets the flag from :func:`workflow_flags`), :data:`BY_RULE` when the rule gives it
        (inputs, outputs, shards), or ``"none: <why>"`` when the workflow leaves it at its default.
    """

    default: Any = None
    kind: type | None = None
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    help: str = ""
    metavar: str | tuple[str, ...] | None = None
    group: str = "settings"
    nargs: str | int | None = None
    item_kind: type | None = None
    const: Any = None
    negative: str | None = None
    shown_default: str | None = None
    config_only: bool = False
    workflow: str | None = None

    def flag(self, name: str) -> str:
        """The long flag of the setting called ``name``."""
        return "--" + name.replace("_", "-")

    def help_text(self) -> str:
        """The ``--help`` line: the description and the declared default (or what it means)."""
        default = self.shown_default if self.shown_default is not None else _shown(self.default)
        if default is None or self.negative:
            return self.help
        return f"{self.help} (default {default})" if self.help else f"default {default}"


#: ``Setting.workflow`` of a setting the workflow's rule gives itself (an input, the output, a shard).
BY_RULE = "rule"

#: Seeds: non-negative integers below 2**32, for every command (numpy's generators refuse negatives).
SEED_RANGE = (0, 2**32 - 1)


def check_range(value: Any, key: str, setting: Setting, source: str) -> Any:
    """``value`` when it lies in the setting's range (and, for ``seed``, in :data:`SEED_RANGE`); else an
    :class:`InputError` naming ``source`` (a flag or a file's key)."""
    low, high = (SEED_RANGE if key == "seed" else (setting.low, setting.high))
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            want = f"from {low} to {high}"
        else:
            want = f">= {low}" if low is not None else f"<= {high}"
        rule = " (one rule for every command's seed)" if key == "seed" else ""
        raise InputError(f"{source}: must be {want}, got {value}{rule}")
    return value


def check_seed(value: Any, source: str = "--seed") -> Any:
    """``value`` when it is a seed every command takes (:data:`SEED_RANGE`); else an :class:`InputError`."""
    return check_range(value, "seed", Setting(0, int), source)


def _key(name: Any) -> str:
    return str(name).replace("-", "_")


def read_config_settings(path: str | Path | None, command: str, settings: Mapping[str, Setting]) -> dict[str, Any]:
    """The keys of a ``--config`` file that apply to ``command``, checked against ``settings``.

    Raises
    ------
    InputError
        Unreadable or malformed file, a section that is not a mapping, an unknown key or a value of the
        wrong type; the message names the file and the key.
    """
    if not path:
        return {}
    data = read_yaml_mapping(path)
    # section names compare like keys (dashes or underscores): "import-model:" and "import_model:" alike
    sections = {_key(name) for name in SUBCOMMANDS} | {_key(command)}
    top: dict[str, Any] = {}
    for raw, value in data.items():
        key = _key(raw)
        if key in sections:
            if not isinstance(value, dict) and value is not None:
                raise InputError(f"{path}: '{raw}:' must be a mapping of {raw} settings")
        elif key in settings:
            top[key] = value
        else:
            raise InputError(_unknown(path, str(raw), command, settings))
    section = next((value for raw, value in data.items() if _key(raw) == _key(command)), None)
    if isinstance(section, dict):
        for raw, value in section.items():
            key = _key(raw)
            if key not in settings:
                raise InputError(_unknown(path, f"{command}.{raw}", command, settings))
            top[key] = value
    return {key: check_value(value, key, settings[key], str(path)) for key, value in top.items()}


def _unknown(path: str | Path, where: str, command: str, settings: Mapping[str, Setting]) -> str:
    return f"{path}: unknown key '{where}' for '{command}'; known: {', '.join(sorted(settings))}"


def check_value(value: Any, key: str, setting: Setting, source: str) -> Any:
    """``value`` converted to ``setting.kind`` when it is a numeric string; an :class:`InputError` otherwise."""
    kind = setting.kind
    if value is None or kind is None:
        return value
    what = f"{source}: '{key}'"
    if kind in (int, float):
        if isinstance(value, bool):
            raise InputError(f"{what} must be {_article(kind)}, got {value!r}")
        number: Any = value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise InputError(f"{what} must be {_article(kind)}, got {value!r}") from None
        if kind is int:
            if isinstance(number, float) and number.is_integer():
                number = int(number)
            if not isinstance(number, int):
                raise InputError(f"{what} must be an integer, got {value!r}")
        elif not isinstance(number, (int, float)):
            raise InputError(f"{what} must be a number, got {value!r}")
        value = kind(number)
    elif kind is bool:
        if not isinstance(value, bool):
            raise InputError(f"{what} must be true or false, got {value!r}")
    elif kind is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InputError(f"{what} must be a string, got {value!r}")
        value = str(value)
    elif kind is list:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise InputError(f"{what} must be a list, got {value!r}")
    elif kind is dict and not isinstance(value, dict):
        raise InputError(f"{what} must be a mapping, got {value!r}")
    if setting.choices is not None and value not in setting.choices:
        raise InputError(f"{what} must be one of {', '.join(map(str, setting.choices))}, got {value!r}")
    return value


def _article(kind: type) -> str:
    return "an integer" if kind is int else "a number"


def resolve_settings(
    args: argparse.Namespace,
    command: str,
    settings: Mapping[str, Setting],
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """Flags (those not ``None``) over ``--config`` keys over the declared defaults.

    Parameters
    ----------
    args
        Parsed flags; a setting's flag is the attribute of the same name. ``args.config`` is the YAML file.
    command
        The sub-command's name (its ``--config`` section).
    settings
        The command's settings, name -> :class:`Setting`.
    required
        Settings that must end up neither ``None`` nor empty.

    Returns
    -------
    dict
        Every setting of ``settings``, resolved.

    Raises
    ------
    InputError
        See :func:`read_config_settings`; also a required setting that is missing, named by its flag.
    """
    config_path = getattr(args, "config", None)
    config = read_config_settings(config_path, command, settings)
    out: dict[str, Any] = {}
    for key, setting in settings.items():
        flag = getattr(args, key, None)
        if flag is not None:
            out[key] = check_range(flag, key, setting, f"--{key.replace('_', '-')}")
        elif config.get(key) is not None:
            out[key] = check_range(config[key], key, setting, f"{config_path}: '{key}'")
        else:
            out[key] = setting.default
    missing = [key for key in required if out.get(key) in (None, "", [])]
    if missing:
        flags = ", ".join("--" + key.replace("_", "-") for key in missing)
        raise InputError(f"{command}: missing {flags} (give the flag or set it in --config)")
    return out


def _shown(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def add_setting_flags(parser: argparse.ArgumentParser, settings: Mapping[str, Setting], command: str) -> None:
    """The flags of ``settings``, built from their declarations, plus ``--config``.

    Every flag defaults to ``None`` ("not given"), so that :func:`resolve_settings` can take the rest from
    ``--config`` and the declared defaults; ``--help`` shows each declared default.
    """
    groups: dict[str, Any] = {}
    for name, setting in settings.items():
        if setting.config_only:
            continue
        group = groups.get(setting.group)
        if group is None:
            group = groups[setting.group] = parser.add_argument_group(setting.group)
        kwargs: dict[str, Any] = {"dest": name, "help": setting.help_text()}
        if setting.kind is bool:
            if setting.negative:
                group.add_argument(setting.negative, action="store_false", **kwargs)
                continue
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            if setting.kind in (int, float) or setting.item_kind is not None:
                kwargs["type"] = setting.item_kind or setting.kind
            if setting.const is not None:
                kwargs["const"] = setting.const
            if setting.choices is not None:
                kwargs["choices"] = setting.choices
            if setting.metavar is not None:
                kwargs["metavar"] = setting.metavar
            if setting.nargs is not None:
                kwargs["nargs"] = setting.nargs
        group.add_argument(setting.flag(name), **kwargs)
    parser.add_argument(
        "--config", metavar="FILE",
        help=f"YAML file of these settings: keys are the flags' names with underscores, at the top level or "
             f"under '{command}:'",
    )  # fmt: skip
    none_defaults(parser, settings)


def config_value(config: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` of a nested mapping (``KeyError`` naming the path when absent)."""
    value: Any = config
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(f"config has no '{path}'")
        value = value[part]
    return value


def _flag_text(name: str, setting: Setting, value: Any) -> str | None:
    flag = setting.flag(name)
    if setting.kind is bool:
        if setting.negative:
            return None if value else setting.negative
        if value == bool(setting.default):
            return flag if value else None
        return flag if value else "--no-" + flag[2:]
    if isinstance(value, Mapping):
        return f"{flag} {shlex.quote(json.dumps(value, separators=(',', ':')))}"
    if isinstance(value, (list, tuple)):
        if not value:
            return None
        if setting.nargs:
            return " ".join([flag, *(shlex.quote(str(v)) for v in value)])
        return f"{flag} {shlex.quote(','.join(str(v) for v in value))}"
    return f"{flag} {shlex.quote(str(value))}"


def workflow_flags(settings: Mapping[str, Setting], config: Mapping[str, Any]) -> str:
    """The command-line flags of every setting the workflow config sets (``Setting.workflow`` paths).

    A rule's shell command is its inputs and outputs plus these, so every command ``snakemake -p``
    prints runs by hand. ``None`` (the default), a key the config leaves out (the schema's default, which
    Snakemake fills in, is ``null`` then) and empty lists give no flag.
    """
    parts = []
    for name, setting in settings.items():
        path = setting.workflow
        if path is None or path == BY_RULE or path.startswith("none:"):
            continue
        try:
            value = config_value(config, path)
        except KeyError:
            continue
        if value is None:
            continue
        text = _flag_text(name, setting, value)
        if text:
            parts.append(text)
    return " ".join(parts)


def none_defaults(parser: argparse.ArgumentParser, settings: Mapping[str, Setting]) -> None:
    """Make every flag of ``settings`` default to ``None``, so that "not given" can be told apart."""
    parser.set_defaults(**{key: None for key in settings})


def comma_list(value: Any) -> list[str] | None:
    """``"a,b"`` or ``["a", "b"]`` as a list of names (``None`` stays ``None``)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [item.strip() for item in items if item.strip()]


def task_list(value: Any, flag: str = "--tasks") -> list[str] | None:
    """:func:`comma_list` of task names, each given once (a repeat would write every page or row twice)."""
    names = comma_list(value)
    if names is not None:
        check_unique_names(names, flag)
    return names
