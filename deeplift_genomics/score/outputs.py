"""Writers and readers for the files ``score`` leaves in OUT_DIR.

``scores.h5`` (HDF5, read with h5py; layout version 1). Per-base arrays of all records are concatenated
along one base axis; record ``i`` owns bases ``offset[i]:offset[i+1]`` (its scored interval):

=============================  ==============  =====================================================
dataset                        shape / dtype   meaning
=============================  ==============  =====================================================
``records/name``               (N,) str        region name (FASTA record, BED name or chrom:start-end)
``records/record``             (N,) str        FASTA record it comes from
``records/length``             (N,) int64      region length
``records/action``             (N,) str        as_is, tiled, cropped, padded, skipped_short,
                                               skipped_all_n, skipped_empty
``records/scored_start/end``   (N,) int64      scored interval, 0-based in region coordinates
``records/chrom``              (N,) str        genomic chromosome of the region ("" when unknown)
``records/chrom_start/end``    (N,) int64      genomic interval of the scored bases (-1 when unknown)
``records/strand``             (N,) str        "-" when the sequence is the reverse complement
``records/offset``             (N+1,) int64    slice of the base axis for each record
``records/n_windows``          (N,) int64      model-length windows scored
``records/n_unknown``          (N,) int64      N/IUPAC letters in the scored interval
``predictions``                (N, T) float32  logits, mean over the record's windows (NaN if skipped)
``total_contribution``         (N, T) float32  sum of ``projected`` over the record's known bases
``max_delta_error``            (N,) float32    max |summation-to-delta error| over windows/refs/tasks
``sequence``                   (B,) uint8      ASCII letters of the scored bases, as in the FASTA
``projected``                  (T, B) float32  contribution of the observed base; NaN at N/IUPAC
``hypothetical``               (T, 4, B)       hypothetical contributions (A,C,G,T); NaN at N/IUPAC
``windows/record``             (W,) int64      record index of each scored window
``windows/offset``             (W,) int64      window start in region coordinates (<0: padded)
``windows/predictions``        (W, T) float32  logits of each window
=============================  ==============  =====================================================

The per-base datasets are chunked along the base axis; ``sequence`` is gzip-compressed (level 1), the
float scores are stored as they are (any HDF5 reader reads either).

Root attributes: ``format`` ("deeplift-genomics-scores"), ``format_version``, ``task_names``, ``method``,
``rule``, ``references``, ``n_references``, ``input_length``, ``fasta``, ``bed``, ``model``.
:func:`read_record` returns one record as numpy arrays.

``ohe.npz`` / ``shap.npz``: what ``modisco motifs -s ohe.npz -a shap.npz`` reads (key ``arr_0``, shape
``(W, 4, input_length)``, one row per scored window, in ``windows/*`` order): the strict one-hot input
(uint8; padded and N columns all zero) and the hypothetical contributions of the first task (zero at padded and
N columns, because modisco-lite cannot take NaN). With several tasks, ``shap_<task>.npz`` holds each task.
"""

from __future__ import annotations

import contextlib
import csv
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import h5py
import numpy as np
from numpy.lib import format as npy_format

from ..core.errors import InputError
from ..io.atomic import atomic_path
from ..io.fasta import Region
from ..io.output_dirs import check_free_space, hdf5_write

SCORES_FORMAT = "deeplift-genomics-scores"
SCORES_FORMAT_VERSION = 1


def check_offsets(offsets: np.ndarray, n_bases: int, where: str) -> np.ndarray:
    """``records/offset`` when it slices the base axis (0 first, never decreasing, ``n_bases`` last);
    otherwise an :class:`InputError` naming ``where`` and the first record whose slice is wrong."""
    offsets = np.asarray(offsets, dtype=np.int64)
    if len(offsets) == 0 or offsets[0] != 0:
        raise InputError(f"{where}: 'records/offset' must start at 0; the file is damaged or not a scores file")
    bad = np.flatnonzero(np.diff(offsets) < 0)
    if len(bad):
        i = int(bad[0])
        raise InputError(f"{where}: 'records/offset' decreases at record {i} ({offsets[i]} then {offsets[i + 1]}); "
                         "the file is damaged")
    if offsets[-1] != n_bases:
        raise InputError(f"{where}: 'records/offset' ends at {offsets[-1]}, the base axis has {n_bases}; "
                         "the file is damaged")
    return offsets


class NpzStreamWriter:
    """Write one array as ``arr_0`` of an ``.npz`` file piece by piece (shape known in advance).

    Memory stays at one piece; the file is what ``np.load(path)["arr_0"]`` reads.

    Parameters
    ----------
    path
        Destination (write it through :func:`atomic.atomic_path`).
    shape
        Full shape; pieces are appended along axis 0.
    dtype
        Element type.
    compress
        Deflate the member (level 1); worth it for one-hot, not for float scores.
    """

    def __init__(
        self, path: str | Path, shape: Sequence[int], dtype: Any = np.float32, compress: bool = False
    ) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self._rows = 0
        # Deflating float scores costs more time than writing them (about 0.4 s per 1,000 windows of 3
        # tasks, most of score's own time) and saves little: only the one-hot asks for it.
        self._zip = zipfile.ZipFile(
            path, "w", compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED,
            compresslevel=1 if compress else None, allowZip64=True,
        )
        self._member: IO[bytes] = self._zip.open("arr_0.npy", "w", force_zip64=True)
        header = {"descr": npy_format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
        if _needs_v2(header):
            npy_format.write_array_header_2_0(self._member, header)
        else:
            npy_format.write_array_header_1_0(self._member, header)

    def write(self, rows: np.ndarray) -> None:
        """Append ``rows`` (shape ``(k,) + shape[1:]``)."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.shape[1:]:
            raise ValueError(f"rows of shape {rows.shape[1:]} do not fit {self.shape[1:]}")
        self._member.write(rows.tobytes())
        self._rows += rows.shape[0]

    def close(self) -> None:
        """Finish the file; raises if fewer or more rows than announced were written."""
        self._member.close()
        self._zip.close()
        if self._rows != self.shape[0]:
            raise ValueError(f"wrote {self._rows} rows, announced {self.shape[0]}")


def _needs_v2(header: dict[str, Any]) -> bool:
    return len(repr(header)) > 60000


def create_scores_h5(
    h5: h5py.File, *, n_records: int, n_bases: int, n_windows: int, n_tasks: int, attrs: dict[str, Any]
) -> None:
    """Create the datasets of ``scores.h5`` (layout in the module docstring) with their final shapes."""
    for key, value in attrs.items():
        h5.attrs[key] = value
    h5.attrs["format"] = SCORES_FORMAT
    h5.attrs["format_version"] = SCORES_FORMAT_VERSION
    text = h5py.string_dtype()
    rec = h5.create_group("records")
    for key in ("name", "record", "action", "chrom", "strand"):
        rec.create_dataset(key, (n_records,), dtype=text)
    for key in ("length", "scored_start", "scored_end", "chrom_start", "chrom_end", "n_windows", "n_unknown"):
        rec.create_dataset(key, (n_records,), dtype=np.int64)
    rec.create_dataset("offset", (n_records + 1,), dtype=np.int64)
    h5.create_dataset("predictions", (n_records, n_tasks), dtype=np.float32)
    h5.create_dataset("total_contribution", (n_records, n_tasks), dtype=np.float32)
    h5.create_dataset("max_delta_error", (n_records,), dtype=np.float32)
    base_chunk = max(1, min(n_bases, 1 << 16))
    # Only the letters are deflated. gzip saved 7-10% of the float scores' bytes (they are noise to it)
    # and cost about 1 s per 1,000 records of 3 tasks to write (a third of score's own time; 0.3) and
    # made reading them 20x slower (bench/score_overhead.py, docs/development.md).
    opts = {"compression": "gzip", "compression_opts": 1} if n_bases else {}
    h5.create_dataset(
        "sequence", (n_bases,), dtype=np.uint8, chunks=(base_chunk,) if n_bases else None, **opts
    )
    h5.create_dataset(
        "projected", (n_tasks, n_bases), dtype=np.float32, chunks=(1, base_chunk) if n_bases else None
    )
    h5.create_dataset(
        "hypothetical",
        (n_tasks, 4, n_bases),
        dtype=np.float32,
        chunks=(1, 4, max(1, base_chunk // 4)) if n_bases else None,
    )
    win = h5.create_group("windows")
    win.create_dataset("record", (n_windows,), dtype=np.int64)
    win.create_dataset("offset", (n_windows,), dtype=np.int64)
    win.create_dataset("predictions", (n_windows, n_tasks), dtype=np.float32)


def read_record(path: str | Path, name: str | int) -> dict[str, Any]:
    """One record of a ``scores.h5`` as numpy arrays.

    Parameters
    ----------
    path
        The ``scores.h5`` file.
    name
        Record name or index.

    Returns
    -------
    dict
        ``name``, ``action``, ``chrom``, ``chrom_start``, ``chrom_end``, ``scored_start``, ``scored_end``,
        ``sequence`` (str), ``projected`` (T, L), ``hypothetical`` (T, 4, L), ``predictions`` (T,),
        ``total_contribution`` (T,), ``max_delta_error``, ``task_names``.
    """
    with h5py.File(path, "r") as h5:
        names = h5["records/name"].asstr()[:]
        if isinstance(name, (int, np.integer)):
            i = int(name)
        else:
            hits = np.flatnonzero(names == name)
            if len(hits) == 0:
                raise KeyError(f"{path}: no record named {name!r}")
            i = int(hits[0])
        lo, hi = (int(v) for v in h5["records/offset"][i : i + 2])
        if not 0 <= lo <= hi <= len(h5["sequence"]):
            raise InputError(f"{path}: 'records/offset' gives record {i} the bases {lo}:{hi}; the file is damaged")
        rec = h5["records"]
        return {
            "name": str(names[i]),
            "action": rec["action"].asstr()[i],
            "chrom": rec["chrom"].asstr()[i],
            "chrom_start": int(rec["chrom_start"][i]),
            "chrom_end": int(rec["chrom_end"][i]),
            "scored_start": int(rec["scored_start"][i]),
            "scored_end": int(rec["scored_end"][i]),
            "sequence": h5["sequence"][lo:hi].tobytes().decode("ascii"),
            "projected": h5["projected"][:, lo:hi],
            "hypothetical": h5["hypothetical"][:, :, lo:hi],
            "predictions": h5["predictions"][i],
            "total_contribution": h5["total_contribution"][i],
            "max_delta_error": float(h5["max_delta_error"][i]),
            "task_names": [str(t) for t in h5.attrs["task_names"]],
        }


@contextlib.contextmanager
def closing_all(writers: Sequence[NpzStreamWriter]) -> Iterator[None]:
    """Close every writer on success (which checks row counts); on error just release the files."""
    try:
        yield
    except BaseException:
        for writer in writers:
            with contextlib.suppress(Exception):
                writer._member.close()
                writer._zip.close()
        raise
    for writer in writers:
        writer.close()


def _genomic_interval(region: Region, scored_start: int, scored_end: int) -> tuple[str, int, int]:
    if region.chrom is None or region.chrom_start is None or scored_end <= scored_start:
        return "", -1, -1
    if region.strand == "-":
        top = region.chrom_start + region.length
        return region.chrom, top - scored_end, top - scored_start
    return region.chrom, region.chrom_start + scored_start, region.chrom_start + scored_end



def _chunk_paths(chunks_dir: Path, n_chunks: int) -> list[Path]:
    return [chunks_dir / f"chunk_{k:06d}.npz" for k in range(n_chunks)]


def assemble_outputs(
    out_dir: Path,
    chunks_dir: Path,
    n_chunks: int,
    regions: Sequence[Region],
    tasks: Sequence[str],
    input_length: int,
    attrs: dict[str, Any],
) -> tuple[list[Path], int, int]:
    paths = _chunk_paths(chunks_dir, n_chunks)
    n_bases = n_windows = 0
    for path in paths:
        with np.load(path) as part:
            n_bases += int(part["offset"][-1])
            n_windows += len(part["win_region"])
    n_t = len(tasks)
    files = [out_dir / "scores.h5", out_dir / "ohe.npz", out_dir / "shap.npz", out_dir / "records.tsv"]
    task_files = [out_dir / f"shap_{safe_name(t)}.npz" for t in tasks] if n_t > 1 else []
    check_free_space(
        out_dir,
        estimated_output_bytes(len(regions), n_bases, n_windows, n_t, input_length),
        f"the outputs of {out_dir}",
    )
    with hdf5_write(files[0]):
        return _assemble(paths, files, task_files, regions, tasks, input_length, attrs, n_bases, n_windows)


def estimated_output_bytes(n_records: int, n_bases: int, n_windows: int, n_tasks: int, input_length: int) -> int:
    """Upper bound of the bytes ``scores.h5``, ``ohe.npz``, ``shap*.npz`` and ``records.tsv`` take.

    ``scores.h5`` is counted uncompressed (its letters are gzip-compressed, so it takes a little less); the
    ``.npz`` float files are stored uncompressed and counted exactly.
    """
    h5 = n_bases * (1 + 20 * n_tasks) + n_records * (300 + 8 * n_tasks) + n_windows * (16 + 4 * n_tasks)
    shap_files = 1 + (n_tasks if n_tasks > 1 else 0)
    npz = n_windows * 4 * input_length * (1 + 4 * shap_files)
    tsv = n_records * (120 + 24 * n_tasks)
    return int(h5 + npz + tsv + (1 << 16))


def _assemble(paths, files, task_files, regions, tasks, input_length, attrs, n_bases, n_windows):
    """Write scores.h5, ohe.npz, shap*.npz and records.tsv from the chunk files ``paths``."""
    n_t = len(tasks)
    n_scored = 0
    with (
        atomic_path(files[0]) as h5_tmp,
        atomic_path(files[1]) as ohe_tmp,
        atomic_path(files[2]) as shap_tmp,
        atomic_path(files[3]) as tsv_tmp,
        contextlib.ExitStack() as stack,
    ):
        task_tmps = [stack.enter_context(atomic_path(p)) for p in task_files]
        shape = (n_windows, 4, input_length)
        ohe_w = NpzStreamWriter(ohe_tmp, shape, np.uint8, compress=True)  # modisco-lite casts to float32 itself
        shap_w = NpzStreamWriter(shap_tmp, shape, np.float32)
        task_w = [NpzStreamWriter(p, shape, np.float32) for p in task_tmps]
        with (
            closing_all([ohe_w, shap_w, *task_w]),
            h5py.File(h5_tmp, "w") as h5,
            open(tsv_tmp, "w", newline="", encoding="utf-8") as tsv,
        ):
            create_scores_h5(
                h5, n_records=len(regions), n_bases=n_bases, n_windows=n_windows, n_tasks=n_t, attrs=attrs
            )
            writer = csv.writer(tsv, delimiter="\t", lineterminator="\n")
            writer.writerow(_tsv_header(tasks))
            r0 = b0 = w0 = 0
            for path in paths:
                with np.load(path) as stored:
                    part = {key: stored[key] for key in stored.files}  # one read per member, not per row
                    chunk_regions = regions[r0 : r0 + len(part["action"])]
                    n, nb, nw = _write_chunk(h5, writer, part, chunk_regions, r0, b0, w0, ohe_w, shap_w, task_w)
                    n_scored += int((part["n_windows"] > 0).sum())
                    r0, b0, w0 = r0 + n, b0 + nb, w0 + nw
    return files + task_files, n_scored, n_windows


def _tsv_header(tasks: Sequence[str]) -> list[str]:
    """The column names of records.tsv."""
    return (
        [
            "name",
            "record",
            "length",
            "action",
            "scored_start",
            "scored_end",
            "n_windows",
            "n_unknown",
            "chrom",
            "chrom_start",
            "chrom_end",
        ]
        + [f"prediction_{t}" for t in tasks]
        + [f"total_contribution_{t}" for t in tasks]
        + ["max_delta_error"]
    )


def _write_chunk(
    h5: h5py.File,
    writer: Any,
    part: dict[str, np.ndarray],
    chunk_regions: Sequence[Region],
    r0: int,
    b0: int,
    w0: int,
    ohe_w: NpzStreamWriter,
    shap_w: NpzStreamWriter,
    task_w: list[NpzStreamWriter],
) -> tuple[int, int, int]:
    """Write one chunk's records, bases and windows at rows ``r0``, ``b0``, ``w0``; return how many of each."""
    n = len(part["action"])
    nb = int(part["offset"][-1])
    nw = len(part["win_region"])
    genomic = [
        _genomic_interval(reg, int(s), int(e))
        for reg, s, e in zip(chunk_regions, part["scored_start"], part["scored_end"])
    ]
    _write_records(h5, part, chunk_regions, genomic, r0, b0)
    if nb:
        h5["sequence"][b0 : b0 + nb] = part["sequence"]
        h5["projected"][:, b0 : b0 + nb] = part["projected"]
        h5["hypothetical"][:, :, b0 : b0 + nb] = part["hypothetical"]
    if nw:
        h5["windows/record"][w0 : w0 + nw] = part["win_region"] + r0
        h5["windows/offset"][w0 : w0 + nw] = part["win_offset"]
        h5["windows/predictions"][w0 : w0 + nw] = part["win_pred"]
        ohe_w.write(part["win_ohe"])
        shap = part["win_shap"]
        shap_w.write(shap[:, 0])
        for t, tw in enumerate(task_w):
            tw.write(shap[:, t])
    for j, reg in enumerate(chunk_regions):
        writer.writerow(_tsv_row(reg, part, j, genomic[j]))
    return n, nb, nw


def _write_records(
    h5: h5py.File,
    part: dict[str, np.ndarray],
    chunk_regions: Sequence[Region],
    genomic: list[tuple[str, int, int]],
    r0: int,
    b0: int,
) -> None:
    """Write one chunk's rows of the records table and of the per-record datasets of scores.h5."""
    n = len(part["action"])
    rec = h5["records"]
    rec["name"][r0 : r0 + n] = [reg.name for reg in chunk_regions]
    rec["record"][r0 : r0 + n] = [reg.record for reg in chunk_regions]
    rec["length"][r0 : r0 + n] = [reg.length for reg in chunk_regions]
    rec["action"][r0 : r0 + n] = list(part["action"])
    rec["strand"][r0 : r0 + n] = [reg.strand for reg in chunk_regions]
    rec["chrom"][r0 : r0 + n] = [g[0] for g in genomic]
    rec["chrom_start"][r0 : r0 + n] = [g[1] for g in genomic]
    rec["chrom_end"][r0 : r0 + n] = [g[2] for g in genomic]
    for key in ("scored_start", "scored_end", "n_windows", "n_unknown"):
        rec[key][r0 : r0 + n] = part[key]
    rec["offset"][r0 : r0 + n + 1] = part["offset"] + b0
    h5["predictions"][r0 : r0 + n] = part["predictions"]
    h5["total_contribution"][r0 : r0 + n] = part["total"]
    h5["max_delta_error"][r0 : r0 + n] = part["max_delta"]


def _tsv_row(reg: Region, part: dict[str, np.ndarray], j: int, genomic: tuple[str, int, int]) -> list:
    """Row ``j`` of a chunk in records.tsv."""
    return (
        [
            reg.name,
            reg.record,
            reg.length,
            part["action"][j],
            int(part["scored_start"][j]),
            int(part["scored_end"][j]),
            int(part["n_windows"][j]),
            int(part["n_unknown"][j]),
            genomic[0],
            genomic[1],
            genomic[2],
        ]
        + [_fmt(v) for v in part["predictions"][j]]
        + [_fmt(v) for v in part["total"][j]]
        + [_fmt(part["max_delta"][j])]
    )


def _fmt(value: float) -> str:
    return "NA" if not np.isfinite(value) else f"{float(value):.6g}"


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
