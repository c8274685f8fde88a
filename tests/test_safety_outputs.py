"""Issue 15, output paths: an --out that holds an input (class 1), foreign directories (1), stale files of
an earlier run (5), concurrent runs (6), file-system errors known before work (7), incomplete datasets (8).
Every class is checked in every command it applies to."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from _safety_util import (
    ALL_COMMANDS,
    DIR_COMMANDS,
    ROOT,
    argv,
    inputs,
    is_root,
    out_name,
    shared_env,
    tmpfs,
    tree_digest,
)

from deeplift_genomics.cli import main
from deeplift_genomics.io.output_dirs import MARKER_NAME, lock_path

env = pytest.fixture(scope="session")(shared_env)

INPUT_COMMANDS = [c for c in ALL_COMMANDS if c != "simulate"]


def _cases():
    for command in INPUT_COMMANDS:
        for relation in ("equal", "parent", "inside"):
            yield command, relation


@pytest.mark.parametrize("command,relation", list(_cases()))
def test_out_that_holds_an_input_is_refused_and_the_input_kept(env, command, relation, tmp_path, capsys):
    # class 1: --out equal to, containing, or inside each input of each command
    for given in inputs(command, env):
        if relation == "inside" and not given.is_dir():
            continue
        out = {"equal": given, "parent": given.parent, "inside": given / "sub"}[relation]
        before = tree_digest(given)
        code = main(argv(command, env, out))
        err = capsys.readouterr().err
        assert code == 2, err
        assert "input" in err and "Traceback" not in err
        assert tree_digest(given) == before
        assert not (given / "sub").exists()


def test_out_that_holds_an_input_through_a_symlink_is_refused(env, tmp_path, capsys):
    link = tmp_path / "link"
    link.symlink_to(env["sim"])
    before = tree_digest(env["sim"])
    assert main(argv("train", env, link)) == 2
    assert "is the input" in capsys.readouterr().err
    assert tree_digest(env["sim"]) == before


@pytest.mark.parametrize("command", DIR_COMMANDS)
def test_existing_folder_that_is_not_ours_is_never_replaced(env, command, tmp_path, capsys):
    # class 1: an existing --out directory is replaced only when it carries our marker (or is empty)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    assert main(argv(command, env, out)) == 2
    assert "not written by deeplift-genomics" in capsys.readouterr().err
    assert (out / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


@pytest.mark.parametrize("command", DIR_COMMANDS)
def test_rerun_leaves_exactly_this_runs_files(env, command, tmp_path):
    # class 5: files of an earlier run into the same --out are gone after the rerun; the marker says ours
    out = tmp_path / "out"
    assert main(argv(command, env, out)) == 0
    first = sorted(p.name for p in out.iterdir())
    assert MARKER_NAME in first
    (out / "shap_old_task.npz").write_bytes(b"stale")
    (out / "old_task.bedGraph").write_text("stale")
    assert main(argv(command, env, out)) == 0
    assert sorted(p.name for p in out.iterdir()) == first


def test_score_rerun_with_fewer_tasks_drops_the_other_tasks_files(env, tmp_path):
    # class 5, the example: shap_<task>.npz and <task>.bedGraph of tasks not asked for this time
    out = tmp_path / "out"
    fasta = tmp_path / "chr.fa"
    seq = (env["fasta"].read_text().split("\n")[1] * 2)[:100]
    fasta.write_text(f">chr1:0-100\n{seq}\n")
    base = ["score", "--model", str(env["model"]), "--fasta", str(fasta), "--out", str(out),
            "--method", "gradient_x_input", "--device", "cpu", "-q"]  # fmt: skip
    assert main(base) == 0
    tasks = [p.stem for p in out.glob("*.bedGraph")]
    assert len(tasks) == 3 and len(list(out.glob("shap_*.npz"))) == 3
    assert main([*base, "--tasks", tasks[0]]) == 0
    assert [p.stem for p in out.glob("*.bedGraph")] == [tasks[0]]
    assert list(out.glob("shap_*.npz")) == []


_HOLDER = textwrap.dedent("""
    import contextlib, sys
    from deeplift_genomics.io.output_dirs import output_lock
    stack = contextlib.ExitStack()
    for line in sys.stdin:
        verb, _, path = line.strip().partition(" ")
        if verb == "lock":
            stack.enter_context(output_lock(path, "score --out " + path))
        else:
            stack.close()
        print(verb, flush=True)
""")


@pytest.fixture
def lock_holder():
    """One real second process that takes (``lock PATH``) and releases (``release``) our output lock."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip

    def tell(line):
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == line.split()[0]

    yield proc, tell
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=60)


def test_second_run_on_the_same_out_is_refused_naming_the_holder(env, tmp_path, capsys, lock_holder):
    # class 6: a real second process holds the lock; every command refuses, naming its pid and command
    proc, tell = lock_holder
    for command in ALL_COMMANDS:
        out = tmp_path / command / out_name(command)
        out.parent.mkdir()
        tell(f"lock {out}")
        assert main(argv(command, env, out)) == 2
        err = capsys.readouterr().err
        assert f"another run is writing it (pid {proc.pid} on" in err, err
        assert f"score --out {out}" in err
        assert not out.exists()
        tell("release")
        assert not lock_path(out).exists()  # released: the next run may start
    # a killed holder never leaves a stale lock: the kernel drops a flock with its process
    out = tmp_path / "killed"
    tell(f"lock {out}")
    proc.kill()
    proc.wait(timeout=60)
    assert main(argv("report", env, out)) == 0


def _fs_cases():
    for command in ALL_COMMANDS:
        for case in ("wrong_kind", "under_file", "cwd", "parent_of_cwd"):
            yield command, case


@pytest.mark.parametrize("command,case", list(_fs_cases()))
def test_output_path_errors_are_one_line_before_work(env, command, case, tmp_path, capsys, monkeypatch):
    # class 7: --out an existing file (or a directory for a file output), under a file, '.', a parent of '.'
    work = tmp_path / "w"
    work.mkdir()
    afile = work / "notes.txt"
    afile.write_text("keep me")
    monkeypatch.chdir(work)
    if case == "wrong_kind":
        out = work / "adir" if command == "attribute" else afile
        if command == "attribute":
            out.mkdir()
    elif case == "under_file":
        out = afile / "out"
    elif case == "cwd":
        out = "."
    else:
        out = ".."
    before = tree_digest(work)
    code = main(argv(command, env, out))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len([x for x in err.splitlines() if "ERROR" in x]) == 1
    assert tree_digest(work) == before
    assert afile.read_text() == "keep me"


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_read_only_output_location_is_one_line(env, command, tmp_path, capsys):
    # class 7: a read-only mount (root: a real read-only tmpfs) or a directory without write permission
    if is_root():
        with tmpfs(tmp_path / "ro", "1m", "ro") as where:
            code = main(argv(command, env, where / out_name(command)))
            err = capsys.readouterr().err
    else:
        where = tmp_path / "ro"
        where.mkdir()
        where.chmod(0o555)
        try:
            code = main(argv(command, env, where / out_name(command)))
            err = capsys.readouterr().err
        finally:
            where.chmod(0o755)
    assert code == 2, err
    assert "cannot write there" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["train", "attribute", "benchmark"])
@pytest.mark.parametrize("damage", ["no_description", "listed_file_missing"])
def test_incomplete_dataset_directory_is_refused(env, command, damage, tmp_path, capsys):
    # class 8: what a full disk left of an older simulate (no embeddings.tsv, no simulation.json)
    sim = tmp_path / "sim"
    shutil.copytree(env["sim"], sim)
    (sim / MARKER_NAME).unlink()
    (sim / "embeddings.tsv").unlink()
    if damage == "no_description":
        (sim / "simulation.json").unlink()
    args = argv(command, env, tmp_path / out_name(command))
    args[args.index("--data") + 1] = str(sim)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "incomplete dataset directory" in err
    assert not (tmp_path / out_name(command)).exists()


def test_simulate_writes_its_directory_all_at_once(env, tmp_path, monkeypatch):
    # class 8: a failure while writing leaves no directory (and an earlier one untouched)
    import deeplift_genomics.datasets.write as writer

    out = tmp_path / "sim"
    shutil.copytree(env["sim"], out)
    before = tree_digest(out)
    real = writer.render_outputs

    def failing(*a, **k):
        files = real(*a, **k)
        return {**files, "zzz_last": None}  # write_bytes(None) fails after the real files were written

    monkeypatch.setattr(writer, "render_outputs", failing)
    with pytest.raises(TypeError):
        main(argv("simulate", env, out))
    assert tree_digest(out) == before
    assert not list(tmp_path.glob(".*.part"))
