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
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import h5py
import numpy as np
from numpy.lib import format as npy_format

SCORES_FORMAT = "deeplift-genomics-scores"
SCORES_FORMAT_VERSION = 1


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
    ):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self._rows = 0
        self._zip = zipfile.ZipFile(
            path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True
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
    opts = {"compression": "gzip", "compression_opts": 1} if n_bases else {}
    h5.create_dataset(
        "sequence", (n_bases,), dtype=np.uint8, chunks=(base_chunk,) if n_bases else None, **opts
    )
    h5.create_dataset(
        "projected", (n_tasks, n_bases), dtype=np.float32, chunks=(1, base_chunk) if n_bases else None, **opts
    )
    h5.create_dataset(
        "hypothetical",
        (n_tasks, 4, n_bases),
        dtype=np.float32,
        chunks=(1, 4, max(1, base_chunk // 4)) if n_bases else None,
        **opts,
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
