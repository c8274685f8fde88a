"""Merge the OUT_DIRs of ``score --shard K/N`` runs into what one unsharded ``score`` run writes.

Each shard directory holds a complete OUT_DIR for a contiguous block of the records plus ``shard.json``
(written last, so its presence marks a finished shard) with the shard's index, its block and every setting
that decides the numbers. :func:`gather_shards` checks that the shards belong together (same FASTA, BED,
model, options; every index 1..N exactly once), then streams them, in index order, into the final files:
``scores.h5`` (base and window axes concatenated, offsets and window record indices shifted),
``ohe.npz``/``shap.npz`` (+ ``shap_<task>.npz``), ``records.tsv`` and the tracks. Memory is bounded by
one block of rows; the output directory appears as a whole, or not at all.
"""

from __future__ import annotations

import logging
import shutil
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.lib import format as npy_format

from ..core.errors import InputError
from ..io.atomic import atomic_directory
from ..io.output_dirs import check_free_space, hdf5_write
from ..jobs.shards import check_shards as check_run_shards
from ..jobs.shards import first_difference
from .options import SHARD_FORMAT
from .outputs import (
    NpzStreamWriter,
    check_offsets,
    closing_all,
    create_scores_h5,
    estimated_output_bytes,
    safe_name,
)
from .summary import SUMMARY_JSON, merge_float64_checks, read_float64_check, write_score_summary
from .tracks import write_score_tracks

log = logging.getLogger(__name__)

#: Files every shard directory holds (besides shap_<task>.npz with several tasks and the tracks).
SHARD_OUTPUTS = ("scores.h5", "ohe.npz", "shap.npz", "records.tsv")
#: Bases (or windows, or records) copied at a time.
BLOCK = 1 << 18


def check_shards(shard_dirs: Sequence[str | Path]) -> list[tuple[Path, dict[str, Any]]]:
    """The shards as ``(dir, info)`` in index order, after checking they make one complete run
    (:func:`deeplift_genomics.jobs.shards.check_shards`)."""
    return check_run_shards("score", shard_dirs, SHARD_FORMAT, "region", SHARD_OUTPUTS, ("settings", "attrs"))


def _npz_rows(path: Path, block: int) -> Iterator[np.ndarray]:
    """Rows of the ``arr_0`` member of an ``.npz``, ``block`` at a time, without loading the whole array."""
    with zipfile.ZipFile(path) as zf, zf.open("arr_0.npy") as member:
        version = npy_format.read_magic(member)
        reader = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, fortran, dtype = reader(member)
        if fortran:
            raise InputError(f"{path}: unexpected Fortran-ordered array")
        row_shape = tuple(shape[1:])
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
        for lo in range(0, shape[0], block):
            k = min(block, shape[0] - lo)
            data = member.read(k * row_bytes)
            if len(data) != k * row_bytes:
                raise InputError(f"{path}: truncated array")
            yield np.frombuffer(data, dtype=dtype).reshape((k, *row_shape))


def _npz_shape(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    with zipfile.ZipFile(path) as zf, zf.open("arr_0.npy") as member:
        version = npy_format.read_magic(member)
        reader = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, _fortran, dtype = reader(member)
    return tuple(shape), dtype


_RECORD_KEYS = (
    "name",
    "record",
    "action",
    "chrom",
    "strand",
    "length",
    "scored_start",
    "scored_end",
    "chrom_start",
    "chrom_end",
    "n_windows",
    "n_unknown",
)


def _copy_h5(h5: h5py.File, shard: h5py.File, r0: int, b0: int, w0: int) -> tuple[int, int, int]:
    """Copy one shard's scores.h5 into ``h5`` at records ``r0``, bases ``b0``, windows ``w0``."""
    n = len(shard["records/name"])
    nb = len(shard["sequence"])
    nw = len(shard["windows/record"])
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        for key in _RECORD_KEYS:
            src = shard["records"][key]
            values = src.asstr()[lo:hi] if h5py.check_string_dtype(src.dtype) else src[lo:hi]
            h5["records"][key][r0 + lo : r0 + hi] = values
        # offset has n+1 entries; the first of a shard equals the last of the one before
        h5["records/offset"][r0 + lo : r0 + hi + 1] = shard["records/offset"][lo : hi + 1] + b0
        for key in ("predictions", "total_contribution", "max_delta_error"):
            h5[key][r0 + lo : r0 + hi] = shard[key][lo:hi]
    if n == 0:
        h5["records/offset"][r0] = b0
    for lo in range(0, nb, BLOCK):
        hi = min(nb, lo + BLOCK)
        h5["sequence"][b0 + lo : b0 + hi] = shard["sequence"][lo:hi]
        h5["projected"][:, b0 + lo : b0 + hi] = shard["projected"][:, lo:hi]
        h5["hypothetical"][:, :, b0 + lo : b0 + hi] = shard["hypothetical"][:, :, lo:hi]
    for lo in range(0, nw, BLOCK):
        hi = min(nw, lo + BLOCK)
        h5["windows/record"][w0 + lo : w0 + hi] = shard["windows/record"][lo:hi] + r0
        h5["windows/offset"][w0 + lo : w0 + hi] = shard["windows/offset"][lo:hi]
        h5["windows/predictions"][w0 + lo : w0 + hi] = shard["windows/predictions"][lo:hi]
    return r0 + n, b0 + nb, w0 + nw


def _shard_counts(path: Path) -> tuple[tuple[int, int, int], dict[str, Any]]:
    """Records, bases and windows of a shard's ``scores.h5`` and its attributes; a broken file is an InputError."""
    try:
        with h5py.File(path / "scores.h5", "r") as h5:
            counts = (len(h5["records/name"]), len(h5["sequence"]), len(h5["windows/record"]))
            check_offsets(h5["records/offset"][:], counts[1], f"score --gather: {path / 'scores.h5'}")
            return counts, _h5_attrs(h5)
    except (OSError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"score --gather: {path / 'scores.h5'}: unreadable, truncated or incomplete ({first}); "
            "rerun that shard"
        ) from None


def _check_npz(path: Path) -> None:
    """Refuse a truncated or corrupt shard ``.npz`` before anything is written."""
    try:
        shape, dtype = _npz_shape(path)
        row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("arr_0.npy")
            if info.file_size < shape[0] * row:
                raise ValueError(f"{info.file_size} bytes for {shape[0]} rows of {row}")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(
            f"score --gather: {path}: unreadable, truncated or corrupt ({exc}); rerun that shard"
        ) from None


def _h5_attrs(h5: h5py.File) -> dict[str, Any]:
    attrs = {}
    for key, value in h5.attrs.items():
        if key in ("format", "format_version"):
            continue
        if isinstance(value, np.ndarray):
            value = [v.decode() if isinstance(v, bytes) else str(v) for v in value.tolist()]
        attrs[key] = value
    return attrs


def gather_shards(
    shard_dirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    bedgraph: bool = True,
    bigwig: bool = False,
) -> list[Path]:
    """Merge shard directories of one run into ``out_dir``, exactly as an unsharded run would have written it.

    Parameters
    ----------
    shard_dirs
        The OUT_DIRs of ``score --shard K/N`` for K = 1..N, in any order.
    out_dir
        The gathered OUT_DIR (replaced as a whole if it exists; must not be one of the shards).
    bedgraph, bigwig
        Which track files to write.

    Returns
    -------
    list of pathlib.Path
        The files written, at their final place.

    Raises
    ------
    InputError
        Shards that do not make one complete run (see :func:`check_shards`), or ``out_dir`` among them.
    """
    shards = check_shards(shard_dirs)
    out_dir = Path(out_dir)
    for path, _info in shards:
        if path.resolve() == out_dir.resolve():
            raise InputError(f"score --gather: --out {out_dir} is one of the shard directories; pick another")
    tasks = [str(t) for t in shards[0][1]["attrs"]["task_names"]]
    n_t = len(tasks)
    totals = np.zeros(3, dtype=np.int64)  # records, bases, windows
    first_attrs = None
    for path, info in shards:
        counts, attrs = _shard_counts(path)
        if counts[0] != info["end_region"] - info["first_region"]:
            raise InputError(
                f"score --gather: {path}/scores.h5 holds {counts[0]} records, shard.json says "
                f"{info['end_region'] - info['first_region']}"
            )
        first_attrs = attrs if first_attrs is None else first_attrs
        if first_difference(first_attrs, attrs):
            raise InputError(
                f"score --gather: {path}/scores.h5 was written with other settings than "
                f"{shards[0][0]}/scores.h5"
            )
        totals += counts
    n_records, n_bases, n_windows = (int(v) for v in totals)
    if n_records != int(shards[0][1]["n_regions"]):
        raise InputError(
            f"score --gather: the shards hold {n_records} records of {shards[0][1]['n_regions']}"
        )
    input_length = int(shards[0][1]["settings"]["input_length"])
    shape = (n_windows, 4, input_length)
    shap_names = ["shap.npz"] + ([f"shap_{safe_name(t)}.npz" for t in tasks] if n_t > 1 else [])
    for path, _info in shards:
        for name in ["ohe.npz", *shap_names]:
            _check_npz(path / name)
    check_free_space(
        out_dir.parent if not out_dir.exists() else out_dir,
        estimated_output_bytes(n_records, n_bases, n_windows, n_t, input_length),
        f"the gathered outputs in {out_dir}",
    )
    with hdf5_write(out_dir / "scores.h5"), atomic_directory(out_dir, "score --gather") as tmp:
        with h5py.File(shards[0][0] / "scores.h5", "r") as first:
            attrs = {k: v for k, v in first.attrs.items() if k not in ("format", "format_version")}
        with h5py.File(tmp / "scores.h5", "w") as h5:
            create_scores_h5(
                h5, n_records=n_records, n_bases=n_bases, n_windows=n_windows, n_tasks=n_t, attrs=attrs
            )
            r0 = b0 = w0 = 0
            for path, _info in shards:
                with h5py.File(path / "scores.h5", "r") as shard:
                    r0, b0, w0 = _copy_h5(h5, shard, r0, b0, w0)
        for name in ["ohe.npz", *shap_names]:
            src_shape, dtype = _npz_shape(shards[0][0] / name)
            if src_shape[1:] != shape[1:]:
                raise InputError(
                    f"score --gather: {shards[0][0] / name}: rows of {src_shape[1:]}, expected {shape[1:]}"
                )
            writer = NpzStreamWriter(tmp / name, shape, dtype)
            with closing_all([writer]):
                for path, _info in shards:
                    for rows in _npz_rows(path / name, max(1, BLOCK // (4 * input_length))):
                        writer.write(rows)
        with open(tmp / "records.tsv", "w", encoding="utf-8", newline="") as tsv:
            for i, (path, _info) in enumerate(shards):
                with open(path / "records.tsv", encoding="utf-8", newline="") as part:
                    header = part.readline()
                    if i == 0:
                        tsv.write(header)
                    shutil.copyfileobj(part, tsv)
        write_score_tracks(tmp, tasks, bedgraph=bedgraph, bigwig=bigwig)
        checks = [c for c in (read_float64_check(path / SUMMARY_JSON) for path, _info in shards) if c is not None]
        options = shards[0][1]["settings"].get("options", {})
        write_score_summary(tmp, tasks, str(options.get("precision", "fp32")), int(options.get("float64_check", 0)),
                            merge_float64_checks(checks) if checks else None)
        written = sorted(p.name for p in tmp.iterdir())
    log.info(
        "gathered %d shard(s): %d record(s), %d window(s) into %s", len(shards), n_records, n_windows, out_dir
    )
    return [out_dir / name for name in written]
