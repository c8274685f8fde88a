"""The project's shared plumbing: CLI shell, logging, atomic writes, one-hot, devices."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest

from deeplift_genomics import cli
from deeplift_genomics.core.devices import resolve_device
from deeplift_genomics.core.errors import InputError
from deeplift_genomics.core.logs import setup_logging, verbosity_to_level
from deeplift_genomics.io.atomic import atomic_directory, atomic_path, atomic_write_text
from deeplift_genomics.io.onehot import decode, is_one_hot, one_hot


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("simulate", "train", "attribute", "score", "benchmark", "report"):
        assert name in out


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([name, "--help"])
    assert exc.value.code == 0
    assert "--verbose" in capsys.readouterr().out


def test_console_script_runs_as_module():
    done = subprocess.run(
        [sys.executable, "-m", "deeplift_genomics", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "deeplift-genomics" in done.stdout


def test_input_error_becomes_one_line_and_exit_2(monkeypatch, capsys):
    class Boom:
        @staticmethod
        def add_arguments(parser):
            pass

        @staticmethod
        def run(args):
            raise InputError("reads.fa: record 'chr1': empty sequence")

    monkeypatch.setitem(cli.SUBCOMMANDS, "boom", "raises")
    real = cli._load_command
    monkeypatch.setattr(cli, "_load_command", lambda name: Boom if name == "boom" else real(name))
    assert cli.main(["boom"]) == cli.EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    assert "reads.fa: record 'chr1': empty sequence" in err
    assert "Traceback" not in err


def test_log_file_receives_records(tmp_path):
    log_file = tmp_path / "logs" / "rule.log"
    setup_logging(logging.INFO, log_file)
    logging.getLogger("deeplift_genomics.test").info("hello from the test")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "hello from the test" in log_file.read_text()
    setup_logging(logging.WARNING)


def test_verbosity_levels():
    assert verbosity_to_level(0, 0) == logging.INFO
    assert verbosity_to_level(1, 0) == logging.DEBUG
    assert verbosity_to_level(0, 1) == logging.WARNING
    assert verbosity_to_level(0, 2) == logging.ERROR


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "out.tsv"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]


def test_atomic_directory_swaps_whole_directory(tmp_path):
    final = tmp_path / "model"
    with atomic_directory(final) as tmp:
        (tmp / "old.txt").write_text("an earlier run")
    (final / "stale.txt").write_text("from an old run")
    with atomic_directory(final) as tmp:
        (tmp / "model.json").write_text("{}")
    assert sorted(p.name for p in final.iterdir()) == [".deeplift-genomics.json", "model.json"]
    with pytest.raises(ValueError):
        with atomic_directory(final) as tmp:
            (tmp / "model.json").write_text("broken")
            raise ValueError
    assert (final / "model.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_one_hot_round_trip_and_unknowns():
    x = one_hot(["ACGTN", "acgtr"])
    assert x.shape == (2, 4, 5)
    expected = np.zeros((4, 5), dtype=np.float32)
    expected[[0, 1, 2, 3], [0, 1, 2, 3]] = 1
    # exact: one-hot data (0/1)
    np.testing.assert_array_equal(x[0], expected)
    np.testing.assert_array_equal(x[1], expected)
    assert decode(x) == ["ACGTN", "ACGTN"]
    assert is_one_hot(x)
    uniform = one_hot("AN", unknown="uniform")
    np.testing.assert_allclose(uniform[0, :, 1], 0.25)
    assert not is_one_hot(uniform)


def test_one_hot_rejects_ragged_input():
    with pytest.raises(InputError, match="sequence 1: length 3"):
        one_hot(["ACGT", "ACG"])


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda"}
    with pytest.raises(InputError, match="expected one of"):
        resolve_device("tpu")


def test_atomic_outputs_get_umask_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "table.tsv", "x")
        with atomic_directory(tmp_path / "model") as tmp:
            (tmp / "a").write_text("y")
    finally:
        os.umask(old)
    assert (tmp_path / "table.tsv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755


def test_read_yaml_mapping_names_the_file_on_every_failure(tmp_path):
    from deeplift_genomics.io.config_file import read_yaml_mapping

    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert read_yaml_mapping(empty) == {}
    good = tmp_path / "good.yaml"
    good.write_text("train:\n  epochs: 3\nseed: 1\n")
    assert read_yaml_mapping(good) == {"train": {"epochs": 3}, "seed": 1}
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match=r"list\.yaml: a config must be a mapping"):
        read_yaml_mapping(listed)
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [1, 2\n")
    with pytest.raises(InputError, match=r"broken\.yaml: not valid YAML"):
        read_yaml_mapping(broken)
    with pytest.raises(InputError, match=r"missing\.yaml: cannot read config"):
        read_yaml_mapping(tmp_path / "missing.yaml")


def test_a_signal_that_a_library_reports_as_bad_input_still_exits_as_terminated(monkeypatch, caplog):
    # safetensors' loader, interrupted by SIGTERM, said the model file was corrupt (exit 2): the run was
    # terminated, and says so
    import signal

    from deeplift_genomics.cli import motifs as motifs_command
    from deeplift_genomics.core.errors import InputError

    def run(args):
        try:
            cli._raise_terminated(signal.SIGTERM, None)
        except cli.Terminated:
            raise InputError("model.safetensors: not a readable safetensors file (truncated or corrupt)") from None

    monkeypatch.setattr(motifs_command, "run", run)
    assert cli.main(["motifs"]) == 128 + signal.SIGTERM
    assert "terminated by SIGTERM" in caplog.text and "corrupt" not in caplog.text
    monkeypatch.setattr(motifs_command, "run", lambda args: (_ for _ in ()).throw(InputError("bad input")))
    assert cli.main(["motifs"]) == 2  # the next run's bad input is bad input again
