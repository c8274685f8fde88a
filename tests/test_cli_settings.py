"""One settings resolver for every command: flags > --config > defaults, unknown keys refused by name."""

from __future__ import annotations

import argparse
import importlib

import pytest
import yaml

from deeplift_genomics.cli import SUBCOMMANDS, main
from deeplift_genomics.cli.settings import Setting, read_config_settings, resolve_settings
from deeplift_genomics.core.errors import InputError

SETTINGS = {
    "n_references": Setting(20, int),
    "lr": Setting(0.001, float),
    "bigwig": Setting(False, bool),
    "rule": Setting("genomics_default", str, ("rescale", "genomics_default")),
    "tasks": Setting(None, list),
}


def _yaml(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def _args(config=None, **flags):
    return argparse.Namespace(config=None if config is None else str(config), **flags)


def test_flags_beat_config_beat_defaults(tmp_path):
    cfg = _yaml(tmp_path / "c.yaml", {"n_references": 5, "lr": 0.1, "score": {"lr": 0.5}})
    s = resolve_settings(_args(cfg, n_references=None, lr=0.2), "score", SETTINGS)
    assert s["n_references"] == 5  # config over default
    assert s["lr"] == 0.2  # flag over config section over top level
    assert s["rule"] == "genomics_default" and s["bigwig"] is False  # defaults
    s = resolve_settings(_args(cfg, lr=None), "score", SETTINGS)
    assert s["lr"] == 0.5  # the command's section over the top level


def test_other_commands_sections_are_ignored_and_unknown_keys_refused(tmp_path):
    cfg = _yaml(tmp_path / "c.yaml", {"train": {"epochs": 3}, "n_references": 2})
    assert read_config_settings(cfg, "score", SETTINGS) == {"n_references": 2}
    typo = _yaml(tmp_path / "typo.yaml", {"n_refrences": 2})
    with pytest.raises(InputError, match=r"typo\.yaml: unknown key 'n_refrences' for 'score'"):
        read_config_settings(typo, "score", SETTINGS)
    nested = _yaml(tmp_path / "nested.yaml", {"score": {"bogus": 1}})
    with pytest.raises(InputError, match=r"unknown key 'score\.bogus'"):
        read_config_settings(nested, "score", SETTINGS)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [("n_references", "two", "must be an integer"), ("n_references", 2.5, "must be an integer"),
     ("lr", "fast", "must be a number"), ("bigwig", "yes", "must be true or false"),
     ("rule", "magic", "must be one of"), ("lr", True, "must be a number")],
)
def test_config_values_are_type_checked(tmp_path, key, value, expected):
    cfg = _yaml(tmp_path / "c.yaml", {key: value})
    with pytest.raises(InputError, match=f"c.yaml: '{key}' {expected}"):
        read_config_settings(cfg, "score", SETTINGS)


def test_numeric_strings_from_yaml_are_numbers(tmp_path):
    # YAML 1.1 reads 1e-3 as a string; it is still a number
    cfg = tmp_path / "c.yaml"
    cfg.write_text("lr: 1e-3\nn_references: 4.0\n")
    assert read_config_settings(cfg, "score", SETTINGS) == {"lr": 0.001, "n_references": 4}


def test_required_settings_are_named_by_flag():
    with pytest.raises(InputError, match="score: missing --n-references"):
        resolve_settings(_args(n_references=None), "score", {"n_references": Setting(None, int)}, ["n_references"])


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_command_refuses_an_unknown_config_key(tmp_path, command, caplog):
    module = importlib.import_module(f"deeplift_genomics.cli.{command.replace('-', '_')}")
    assert isinstance(module.SETTINGS, dict) and module.SETTINGS, f"{command} declares its settings"
    cfg = _yaml(tmp_path / "c.yaml", {"no_such_key": 1})
    out = tmp_path / "out"
    assert main([command, "--config", str(cfg), "--out", str(out)]) == 2
    assert f"unknown key 'no_such_key' for '{command}'" in caplog.text
    assert not out.exists()


@pytest.mark.parametrize("section", ["import-model", "import_model"])
def test_a_dashed_command_takes_its_section_spelt_either_way(tmp_path, section):
    cfg = _yaml(tmp_path / "c.yaml", {section: {"lr": 0.5}, "score": {"lr": 0.7}})
    assert read_config_settings(cfg, "import-model", SETTINGS) == {"lr": 0.5}
    assert read_config_settings(cfg, "score", SETTINGS) == {"lr": 0.7}  # other sections still ignored
