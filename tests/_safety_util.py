"""Shared data of the safety tests (issue 15): one tiny dataset, model, benchmark, FASTA and shard pair,
built once per session, and the argument lists of every command so each class is tested per command."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deeplift_genomics.cli import main

ROOT = Path(__file__).resolve().parents[1]
LENGTH = 100
_CACHE: dict[str, dict[str, Path]] = {}

#: Commands whose output is a directory / a file.
DIR_COMMANDS = (
    "simulate", "train", "benchmark", "report", "score", "gather", "import-model", "motifs", "variants", "dataset",
)  # fmt: skip
FILE_COMMANDS = ("attribute",)
ALL_COMMANDS = DIR_COMMANDS + FILE_COMMANDS


def _build(base: Path) -> dict[str, Path]:
    import yaml

    from deeplift_genomics.datasets.load import load_dataset
    from deeplift_genomics.models.files import save_model
    from deeplift_genomics.models.spec import ConvLayerSpec, ModelSpec, build_model

    base.mkdir(parents=True, exist_ok=True)
    env: dict[str, Path] = {"base": base}
    env["sim"] = base / "sim"
    assert main(["simulate", "--out", str(env["sim"]), "--n-per-class", "10", "--length", str(LENGTH), "-q"]) == 0
    ds = load_dataset(env["sim"])
    spec = ModelSpec(input_length=LENGTH, n_tasks=3, conv=(ConvLayerSpec(4, 5),), dense=(), dropout=0.0)
    import torch

    torch.manual_seed(0)
    env["model"] = base / "model"
    save_model(build_model(spec), env["model"], spec=spec, task_names=list(ds.task_names))
    env["bench_cfg"] = base / "bench.yaml"
    env["bench_cfg"].write_text(
        yaml.safe_dump({"benchmark": {"methods": ["gradient_x_input"], "figures": False}}), encoding="utf-8"
    )
    env["bench"] = base / "bench"
    assert main(bench_argv(env, env["bench"])) == 0
    rng = __import__("numpy").random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), size=LENGTH)) for _ in range(3)]
    env["fasta"] = base / "x.fa"
    env["fasta"].write_text("".join(f">r{i}\n{s[:60]}\n{s[60:]}\n" for i, s in enumerate(seqs)))
    env["bpnet"] = base / "bpnet.torch"
    try:
        import warnings

        from bpnetlite.bpnet import BPNet

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.save(BPNet(n_filters=4, n_layers=1, trimming=25, verbose=False).eval(), env["bpnet"])
    except ImportError:
        pass  # import-model's cases skip
    env["shards"] = base / "shards"
    for k in (1, 2):
        argv = score_argv(env, env["shards"] / f"s{k}") + ["--shard", f"{k}/2", "--chunk-size", "1"]
        assert main(argv) == 0
    env["scores"] = base / "scores"  # one plain score output: the input of motifs
    assert main(score_argv(env, env["scores"])) == 0
    env["vcf"] = base / "x.vcf"  # two SNVs whose REF matches the FASTA
    env["vcf"].write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        + "".join(f"r{i}\t{pos + 1}\tv{i}\t{seqs[i][pos]}\t{'C' if seqs[i][pos] != 'C' else 'G'}\t.\t.\t.\n"
                  for i, pos in ((0, 30), (1, 70)))
    )  # fmt: skip
    env["genome"] = base / "genome.fa"  # two contigs with a few peaks per task: the inputs of dataset
    contigs = ["".join(rng.choice(list("ACGT"), size=2000)) for _ in range(3)]
    env["genome"].write_text("".join(f">c{i}\n{s}\n" for i, s in enumerate(contigs)))
    for task in ("ta", "tb"):
        env[f"peaks_{task}"] = base / f"{task}.bed"
        env[f"peaks_{task}"].write_text(
            "".join(f"c{c}\t{s}\t{s + 60}\n" for c in (0, 1, 2) for s in range(200, 1800, 400 if task == "ta" else 300))
        )
    return env


def shared_env(tmp_path_factory) -> dict[str, Path]:
    """The shared inputs, built once per session (tests copy what they change).

    Each test module makes it its ``env`` fixture: ``env = pytest.fixture(scope="session")(shared_env)``.
    """
    if "env" not in _CACHE:
        _CACHE["env"] = _build(tmp_path_factory.mktemp("safety"))
    return _CACHE["env"]


def bench_argv(env: dict[str, Path], out: Path) -> list[str]:
    return ["benchmark", "--data", str(env["sim"]), "--model", str(env["model"]), "--out", str(out),
            "--config", str(env["bench_cfg"]), "--device", "cpu", "--split", "all", "-q"]  # fmt: skip


def score_argv(env: dict[str, Path], out: Path) -> list[str]:
    return ["score", "--model", str(env["model"]), "--fasta", str(env["fasta"]), "--out", str(out),
            "--method", "gradient_x_input", "--device", "cpu", "--no-bedgraph", "-q"]  # fmt: skip


def argv(command: str, env: dict[str, Path], out: Path | str) -> list[str]:
    """The arguments of one small run of ``command`` writing ``out``."""
    out = str(out)
    if command == "simulate":
        return ["simulate", "--out", out, "--n-per-class", "2", "--length", str(LENGTH), "-q"]
    if command == "train":
        return ["train", "--data", str(env["sim"]), "--out", out, "--epochs", "1", "--device", "cpu", "-q"]
    if command == "attribute":
        return ["attribute", "--data", str(env["sim"]), "--model", str(env["model"]), "--out", out,
                "--method", "gradient_x_input", "--device", "cpu", "--split", "all", "-q"]  # fmt: skip
    if command == "benchmark":
        return bench_argv(env, Path(out))
    if command == "report":
        return ["report", "--benchmark", str(env["bench"]), "--out", out, "-q"]
    if command == "score":
        return score_argv(env, Path(out))
    if command == "import-model":
        if not env["bpnet"].exists():
            pytest.skip("import-model needs bpnet-lite (make setup installs it)")
        return ["import-model", "--in", str(env["bpnet"]), "--out", out, "--input-length", "120", "-q"]
    if command == "gather":
        return ["score", "--gather", str(env["shards"] / "s1"), str(env["shards"] / "s2"), "--out", out,
                "--no-bedgraph", "-q"]  # fmt: skip
    if command == "motifs":
        return ["motifs", "--scores", str(env["scores"]), "--out", out, "--no-report", "--max-seqlets", "200",
                "--min-seqlets", "2", "-q"]  # fmt: skip
    if command == "variants":
        return ["variants", "--model", str(env["model"]), "--fasta", str(env["fasta"]), "--vcf", str(env["vcf"]),
                "--out", out, "--method", "gradient_x_input", "--edge", "shift", "--device", "cpu", "-q"]  # fmt: skip
    if command == "dataset":
        return ["dataset", "--genome", str(env["genome"]), "--peaks", f"ta={env['peaks_ta']}",
                f"tb={env['peaks_tb']}", "--out", out, "--length", "50", "--test-chroms", "c2",
                "--valid-chroms", "c1", "-q"]  # fmt: skip
    raise KeyError(command)


def inputs(command: str, env: dict[str, Path]) -> list[Path]:
    """The input paths of :func:`argv`'s run of ``command`` (files and directories)."""
    return {
        "simulate": [],
        "train": [env["sim"]],
        "attribute": [env["sim"], env["model"]],
        "benchmark": [env["sim"], env["model"], env["bench_cfg"]],
        "report": [env["bench"]],
        "score": [env["model"], env["fasta"]],
        "gather": [env["shards"] / "s1", env["shards"] / "s2"],
        "import-model": [env["bpnet"]],
        "motifs": [env["scores"]],
        "variants": [env["model"], env["fasta"], env["vcf"]],
        "dataset": [env["genome"], env["peaks_ta"], env["peaks_tb"]],
    }[command]


def out_name(command: str) -> str:
    return "out.npz" if command == "attribute" else "out"


def tree_digest(path: Path) -> str:
    """SHA-256 over the names and bytes of every file under ``path`` (or of the file ``path``)."""
    digest = hashlib.sha256()
    paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in paths:
        digest.update(str(p.relative_to(path.parent)).encode())
        digest.update(p.read_bytes())
    return digest.hexdigest()


def run_cli(args: list[str], cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m deeplift_genomics ARGS`` as a real process (our tree first on the path)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "deeplift_genomics", *args],
        cwd=cwd or ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "1m", options: str = ""):
    """A real small file system at ``path`` (root only; the caller skips otherwise), unmounted after."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (f",{options}" if options else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def one_error_line(err: str) -> str:
    """The single ERROR line of a run's stderr (asserting there is no traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "ERROR" in line]
    assert len(lines) == 1, err
    return lines[0]
