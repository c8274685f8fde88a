"""Every option of every command is declared once (its ``SETTINGS`` entry) and, from that declaration,

- shown in ``--help`` with its declared default,
- reachable from the workflow's config: a key path whose schema entry agrees with the declaration (type,
  default, choices, range), or given by the rule itself, or left at its default with a stated reason,
- refused with one clear line naming the key when a ``--config`` file gives it a bad value.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from deeplift_genomics.cli import build_parser, main
from deeplift_genomics.cli.commands import SUBCOMMANDS
from deeplift_genomics.cli.settings import BY_RULE, Setting, workflow_flags

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "config" / "schema" / "config.schema.yaml").read_text())
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
RULES_TEXT = "\n".join(p.read_text() for p in sorted((ROOT / "workflow" / "rules").glob("*.smk")))
COMMANDS = list(SUBCOMMANDS)


def _module(command: str) -> Any:
    return importlib.import_module(f"deeplift_genomics.cli.{command.replace('-', '_')}")


CASES = [(c, name) for c in COMMANDS for name in _module(c).SETTINGS]


def _setting(command: str, name: str) -> Setting:
    return _module(command).SETTINGS[name]


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._subparsers._group_actions if hasattr(a, "choices")).choices[command]
    return " ".join(sub.format_help().split())


@pytest.mark.parametrize("command,name", CASES)
def test_shown_in_help_with_its_declared_default(command, name):
    setting = _setting(command, name)
    text = _help(command)
    if setting.config_only:
        assert setting.flag(name) not in text
        return
    flag = setting.negative or setting.flag(name)
    assert flag in text
    assert " ".join(setting.help_text().replace("%%", "%").split()) in text  # argparse unescapes %%


def _resolved(node: dict[str, Any]) -> dict[str, Any]:
    """A schema node with its ``$ref`` (also under if/then, as data.peaks has it) merged in."""
    ref = node.get("$ref") or node.get("then", {}).get("$ref")
    if not ref:
        return node
    return {**SCHEMA["$defs"][ref.rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k not in ("$ref", "then")}}


def _schema_node(path: str) -> dict[str, Any] | None:
    node: dict[str, Any] = SCHEMA
    for part in path.split("."):
        props = _resolved(node).get("properties", {})
        if part not in props:
            return None
        node = props[part]
    return _resolved(node)


_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", list: "array", dict: "object"}


@pytest.mark.parametrize("command,name", CASES)
def test_reachable_from_the_workflow_config(command, name):
    setting = _setting(command, name)
    where = setting.workflow
    assert where is not None, f"{command} {setting.flag(name)}: say where the workflow sets it (Setting.workflow)"
    if where == BY_RULE:
        given = (setting.flag(name), f"{name}=", f'"{name}"')  # a flag in a shell line, or cli_flags(name=...)
        assert any(g in RULES_TEXT for g in given), f"no rule gives {setting.flag(name)}"
        return
    if where.startswith("none:"):
        assert len(where) > len("none: ") + 10, f"{command} {name}: give the reason"
        return
    node = _schema_node(where)
    assert node is not None, f"{command} {setting.flag(name)}: config key {where} is not in the schema"
    types = node.get("type", [])
    types = types if isinstance(types, list) else [types]
    if setting.kind in _JSON_TYPES and types:
        want = _JSON_TYPES[setting.kind]
        assert want in types or (want == "number" and "integer" in types), (where, types, setting.kind)
    if "default" in node and setting.default is not None and not isinstance(setting.default, list):
        assert node["default"] == setting.default, (where, node["default"], setting.default)
    if setting.choices is not None and "enum" in node:
        assert set(node["enum"]) - {None} <= set(setting.choices), (where, node["enum"], setting.choices)
    if setting.low is not None and "minimum" in node:
        assert node["minimum"] >= setting.low, (where, node["minimum"], setting.low)


def _bad_value(setting: Setting) -> Any:
    if setting.kind in (int, float):
        return "many"
    if setting.kind is bool:
        return "maybe"
    if setting.choices is not None:
        return "no-such-choice"
    return None


@pytest.mark.parametrize("command,name", [(c, n) for c, n in CASES if _bad_value(_setting(c, n)) is not None])
def test_a_bad_value_is_refused_in_one_line_naming_the_key(command, name, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({name: _bad_value(_setting(command, name))}))
    assert main([command, "--config", str(config), "-q"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and name in lines[0] and str(config) in lines[0], lines


PEAKS_CONFIG = {**CONFIG, "data": {**CONFIG["data"], "peaks": {
    "genome": "g.fa", "tasks": {"a": "a.bed"}, "length": 500, "negatives": "shuffled", "negatives_per_positive": 2,
    "test_chroms": ["chr2", "chr3"], "valid_chroms": ["chr4"], "blacklist": "bl.bed", "seed": 3}}}


@pytest.mark.parametrize("command,config", [("motifs", CONFIG), ("variants", CONFIG), ("dataset", PEAKS_CONFIG),
                                            ("train", CONFIG), ("score", CONFIG), ("attribute", CONFIG),
                                            ("benchmark", CONFIG), ("simulate", CONFIG)])
def test_the_rules_flags_come_from_the_declarations(command, config):
    settings = _module(command).SETTINGS
    flags = workflow_flags(settings, config)
    for name, setting in settings.items():
        where = setting.workflow
        if where and where != BY_RULE and not where.startswith("none:"):
            value = config
            for part in where.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if value not in (None, [], False):
                assert setting.flag(name) in flags, (name, flags)
    if command == "dataset":
        assert "--test-chroms chr2,chr3" in flags and "--length 500" in flags
