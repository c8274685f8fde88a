"""``deeplift-genomics import-model`` and the bpnet-lite page's commands (docs/bpnet-lite.md), run as written.

Skipped without bpnet-lite, except where the environment variable CI is set (make setup installs it).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _bpnet_util import skip_without_bpnet_lite

try:
    import bpnetlite.bpnet  # noqa: F401
except ImportError as exc:
    skip_without_bpnet_lite(exc)

import torch

from deeplift_genomics.cli import main

PAGE = Path(__file__).resolve().parents[1] / "docs" / "bpnet-lite.md"
SECTION = "# Explain your bpnet-lite / ChromBPNet model"


def readme_commands() -> list[str]:
    text = PAGE.read_text()
    assert SECTION in text, "docs/bpnet-lite.md lost its title"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def write_fasta(path: Path, n: int, length: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w") as handle:
        for i in range(n):
            handle.write(f">peak{i}\n{''.join(rng.choice(list('ACGT'), size=length))}\n")


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_fasta(tmp_path / "peaks.fa", 2, 2114, 0)
    commands = readme_commands()
    assert any(c.startswith("deeplift-genomics import-model") for c in commands)
    for command in commands:
        argv = shlex.split(command)
        if argv[0] == "python":
            subprocess.run([sys.executable, *argv[1:]], check=True, cwd=tmp_path)
        else:
            assert argv[0] == "deeplift-genomics", command
            assert main(argv[1:]) == 0, command
    for name in ("chrombpnet_counts", "bpnet_profile"):
        import h5py

        with h5py.File(tmp_path / "scores" / name / "scores.h5") as h5:
            assert h5["projected"].shape[-1] == 2 * 2114
            assert float(np.nanmax(h5["max_delta_error"][()])) < 1e-2  # float32, summation-to-delta


class _Payload:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_cli_refuses_an_unsafe_file_with_exit_status_2(tmp_path, caplog):
    src = tmp_path / "model.torch"
    torch.save([_Payload(tmp_path / "marker")], src)
    assert main(["import-model", "--in", str(src), "--out", str(tmp_path / "out")]) == 2
    assert "asks for" in caplog.text and "open" in caplog.text
    assert not (tmp_path / "marker").exists() and not (tmp_path / "out").exists()


def test_cli_names_a_missing_flag(tmp_path, caplog):
    assert main(["import-model", "--out", str(tmp_path / "out")]) == 2
    assert "--in" in caplog.text
