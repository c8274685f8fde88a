"""Helpers of the workflow tests: run Snakemake on the repository's Snakefile in a scratch directory,
find which CLI sub-commands exist, and digest the deterministic outputs of a run."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
TEST_CONFIG = REPO / "config" / "test" / "config.yaml"
SLURM_SCRIPT = REPO / "workflow" / "scripts" / "slurm_cluster.sh"
BIN = Path(sys.executable).parent
SNAKEMAKE = BIN / "snakemake"

#: Sub-commands the `all` and `score` targets shell into.

#: Outputs whose bytes carry run-specific details (timings, dates in image metadata, wall-clock fields).
_SKIP_SUFFIXES = {".png", ".svg", ".html", ".log", ".fai", ".gzi"}


def workflow_env() -> dict[str, str]:
    """The environment of a Snakemake run: this venv's bin first on PATH, so rules find `deeplift-genomics`."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    # Keep Snakemake's caches (source cache, conda) inside the test's scratch area and off the user's home.
    env.setdefault("XDG_CACHE_HOME", str(Path(env.get("TMPDIR", "/tmp")) / "deeplift-genomics-xdg-cache"))
    return env


def snakemake_command(workdir: Path, args: Sequence[str], timeout: int = 300) -> list[str]:
    """``timeout -k 30 T snakemake -s REPO/Snakefile --directory WORKDIR ARGS`` (a hung run is killed)."""
    return [
        "timeout",
        "-k",
        "30",
        str(timeout),
        str(SNAKEMAKE),
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        *args,
    ]


def run_snakemake(workdir: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run Snakemake in ``workdir`` (cwd too, so relative config paths resolve there); output captured."""
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        snakemake_command(workdir, args, timeout),
        cwd=workdir,
        env=workflow_env(),
        capture_output=True,
        text=True,
        check=False,
    )


def explain(result: subprocess.CompletedProcess[str], tail: int = 6000) -> str:
    """The end of a run's output, for assertion messages."""
    return (
        f"exit {result.returncode}\n--- stdout\n{result.stdout[-tail:]}\n--- stderr\n{result.stderr[-tail:]}"
    )


def write_yaml(path: Path, data: dict) -> Path:
    """Write ``data`` as YAML (JSON is valid YAML)."""
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def _hash_arrays(items: Iterable[tuple[str, np.ndarray]]) -> str:
    digest = hashlib.sha256()
    for name, array in sorted(items, key=lambda item: item[0]):
        array = np.asarray(array)
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes() if array.dtype != object else repr(array.tolist()).encode())
    return digest.hexdigest()


def _h5_items(path: Path) -> list[tuple[str, np.ndarray]]:
    import h5py

    items: list[tuple[str, np.ndarray]] = []

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            items.append((name, obj[()]))

    with h5py.File(path, "r") as h5:
        h5.visititems(visit)
    return items


#: Words that mark a run-specific field (a JSON key or a TSV column): wall-clock times and such.
_RUN_SPECIFIC = ("time", "second", "date", "created", "elapsed", "duration", "host")


def _run_specific(key: str) -> bool:
    return any(word in key.lower() for word in _RUN_SPECIFIC)


def file_digest(path: Path) -> str | None:
    """A digest of the content that a rerun must reproduce, or None for files that carry run details.

    ``.npz``, ``.safetensors`` and ``.h5`` are compared by their arrays (their containers hold dates or
    write order); JSON and TSV files without the keys and columns that hold times; ``.gz`` files by their
    decompressed bytes; everything else by bytes. Images and HTML are skipped (their metadata holds dates).
    """
    suffix = path.suffix
    if suffix in _SKIP_SUFFIXES or path.name.startswith("."):
        return None
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            return _hash_arrays((key, _npz_item(key, npz[key])) for key in npz.files)
    if suffix == ".safetensors":
        from safetensors.numpy import load_file

        return _hash_arrays(load_file(str(path)).items())
    if suffix in {".h5", ".hdf5"}:
        return _hash_arrays(_h5_items(path))
    if suffix == ".json":
        return _sha256(json.dumps(_drop_run_specific(json.loads(path.read_text())), sort_keys=True).encode())
    if suffix == ".tsv":
        import pandas as pd

        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        frame = frame[[column for column in frame.columns if not _run_specific(column)]]
        return _sha256(frame.to_csv(sep="\t", index=False).encode())
    if suffix == ".gz":
        return _sha256(gzip.decompress(path.read_bytes()))
    return _sha256(path.read_bytes())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: Hashes of a whole model directory (`cmd_attribute.model_checksum`): they cover history.tsv, whose
#: per-epoch seconds differ between two trainings to the same weights. The weights themselves are compared
#: through model.safetensors.
_MODEL_DIR_HASHES = ("model_checksum", "checksum")


def _npz_item(key: str, value: np.ndarray) -> np.ndarray:
    # `attribute` records its settings as JSON text.
    if key == "settings" and value.dtype.kind == "U" and value.ndim == 0:
        settings = _drop_run_specific(json.loads(str(value)))
        return np.array(json.dumps(settings, sort_keys=True))
    return value


def _drop_run_specific(value: object) -> object:
    if isinstance(value, dict):
        return {key: _drop_run_specific(item) for key, item in value.items()
                if not _run_specific(key) and key not in _MODEL_DIR_HASHES}
    if isinstance(value, list):
        return [_drop_run_specific(item) for item in value]
    return value


def output_digests(results: Path, exclude_dirs: Sequence[str] = ("logs", "benchmarks")) -> dict[str, str]:
    """Digest of every deterministic output file under ``results``, keyed by its relative path."""
    digests = {}
    for path in sorted(results.rglob("*")):
        rel = path.relative_to(results)
        if not path.is_file() or rel.parts[0] in exclude_dirs:
            continue
        digest = file_digest(path)
        if digest is not None:
            digests[str(rel)] = digest
    return digests


def slurm_installed() -> bool:
    """Whether the SLURM daemons and munge are installed (Debian: munge slurmctld slurmd slurm-client)."""
    return all(shutil.which(name) for name in ("munged", "slurmctld", "slurmd", "sbatch", "squeue"))


#: Targets and arguments of the tiny reference run that several test modules compare against.
TINY_TARGETS = ("all", "score")
TINY_ARGS = ("--configfile", str(TEST_CONFIG), "--cores", "2")


def shared_basetemp(tmp_path_factory: Any) -> Path:
    """pytest's base temporary directory, shared by all pytest-xdist workers (each has its own below it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def tiny_reference_run(base: Path) -> Path:
    """Run the tiny workflow once per test session under ``base`` (:func:`shared_basetemp`) and return its
    working directory; later calls, from any module or pytest-xdist worker, reuse it (a lock file makes a
    second worker wait for the first one's run instead of repeating it)."""
    import fcntl
    import time

    workdir = base / "workflow_reference"
    done = workdir / "wall_seconds.txt"
    with open(base / "workflow_reference.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            if workdir.exists():
                shutil.rmtree(workdir)
            started = time.perf_counter()
            result = run_snakemake(workdir, *TINY_ARGS, *TINY_TARGETS, timeout=900)
            assert result.returncode == 0, explain(result)
            done.write_text(f"{time.perf_counter() - started:.1f}\n")
    return workdir
