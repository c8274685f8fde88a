"""Issue 15, class 3: a real full disk (a small tmpfs mounted by the test; root only, CI runs as root).

Every writer must fail with one line ("no space left on DEVICE while writing FILE"), exit 2 (never a
segmentation fault), remove its temporary files and leave the earlier outputs as they were.
"""

from __future__ import annotations

import shutil
import textwrap

import numpy as np
import pytest
from _safety_util import (
    ALL_COMMANDS,
    argv,
    is_root,
    one_error_line,
    out_name,
    run_cli,
    shared_env,
    tmpfs,
)

from deeplift_genomics.cli import main
from deeplift_genomics.io.output_dirs import free_bytes

env = pytest.fixture(scope="session")(shared_env)

pytestmark = pytest.mark.skipif(not is_root(), reason="mounting a tmpfs needs root (CI runs as root)")

# score and gather meet the full disk before their HDF5 writer here (chunk files, the free-space check),
# so they run in this process too; the HDF5 writer itself meets a full disk in real processes below (after
# a failed HDF5 write the library crashes at exit unless the CLI leaves the way it does).
SUBPROCESS: tuple[str, ...] = ()


def _fill(disk, leave=4096):
    """Fill ``disk`` up to ``leave`` bytes (one page: room for the lock file, none for outputs)."""
    size = free_bytes(disk) - leave
    with open(disk / "filler", "wb") as handle:
        block = b"\0" * (1 << 16)
        while size > 0:
            size -= handle.write(block[: min(len(block), size)])


def _visible_digest(path):
    """Names and bytes of the outputs (hidden work state such as .score_work is not an output)."""
    import hashlib

    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        if any(part.startswith(".") for part in p.relative_to(path.parent).parts):
            continue
        digest.update(str(p.relative_to(path.parent)).encode() + p.read_bytes())
    return digest.hexdigest()


def _run(command, args):
    if command in SUBPROCESS:
        done = run_cli(args)
        return done.returncode, done.stderr
    import io
    import logging

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.getLogger("deeplift_genomics").addHandler(handler)
    try:
        code = main(args)
    finally:
        logging.getLogger("deeplift_genomics").removeHandler(handler)
    return code, stream.getvalue()


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_full_disk_is_one_line_and_keeps_the_earlier_outputs(env, command, tmp_path):
    with tmpfs(tmp_path / "disk", "8m") as disk:
        out = disk / out_name(command)
        assert main(argv(command, env, out)) == 0
        before = _visible_digest(out)
        _fill(disk)
        code, err = _run(command, argv(command, env, out))
        assert code == 2, err
        line = one_error_line(err)
        assert f"no space left on {disk}" in line, line
        assert _visible_digest(out) == before
        left = [p.name for p in disk.rglob("*") if p.name.endswith(".part") or p.name.endswith(".lock")]
        assert left == []


def _big_fasta(path, n=120):
    rng = np.random.default_rng(1)
    path.write_text("".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), 100))}\n" for i in range(n)))
    return path


_NO_PRECHECK = textwrap.dedent("""
    import sys
    import deeplift_genomics.score.gather as gather
    import deeplift_genomics.score.outputs as outputs
    # skip the free-space check, so that the HDF5 writer itself meets the full disk
    outputs.check_free_space = gather.check_free_space = lambda *a, **k: None
    from deeplift_genomics.cli import main
    sys.argv = ["deeplift-genomics", *sys.argv[1:]]
    sys.exit(main())
""")


@pytest.mark.parametrize("command,precheck", [("score", False), ("gather", False)])
def test_scores_h5_on_a_full_disk_never_crashes(env, command, precheck, tmp_path):
    # The chunks (1.4 MB) fit in 2 MB, the outputs (1.5 MB more) do not.
    import subprocess
    import sys

    from _safety_util import ROOT

    fasta = _big_fasta(tmp_path / "big.fa")
    base = ["--model", str(env["model"]), "--fasta", str(fasta), "--method", "gradient_x_input",
            "--device", "cpu", "--no-bedgraph", "-q"]  # fmt: skip
    if command == "gather":
        shards = [tmp_path / "s1", tmp_path / "s2"]
        for k, shard in enumerate(shards, start=1):
            assert main(["score", *base, "--out", str(shard), "--shard", f"{k}/2", "--chunk-size", "60"]) == 0
    with tmpfs(tmp_path / "disk", "2m" if command == "score" else "1m") as disk:
        out = disk / "out"
        args = (["score", "--gather", *map(str, shards), "--out", str(out), "--no-bedgraph", "-q"]
                if command == "gather" else ["score", *base, "--out", str(out)])  # fmt: skip
        if precheck:
            done = run_cli(args)
        else:
            done = subprocess.run(
                [sys.executable, "-c", _NO_PRECHECK, *args], cwd=ROOT, capture_output=True, text=True,
                env={**__import__("os").environ, "PYTHONPATH": str(ROOT)}, timeout=300,
            )  # fmt: skip
        assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
        line = one_error_line(done.stderr)
        assert f"no space left on {disk}" in line
        if precheck:
            assert "needs about" in line
        assert [p.name for p in disk.rglob("*") if p.name.endswith(".part")] == []
        assert not (out / "scores.h5").exists()
    shutil.rmtree(tmp_path / "disk", ignore_errors=True)
