"""FASTA and TSV text for the simulation's outputs, and a small FASTA reader."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

from .errors import InputError


def format_fasta(ids: Sequence[str], sequences: Sequence[str], line_width: int = 60) -> str:
    """FASTA text with every sequence wrapped at ``line_width`` letters (pyfaidx needs a fixed width).

    Parameters
    ----------
    ids, sequences
        Record names (no whitespace) and sequences, in order.
    line_width
        Letters per line; ``0`` writes each sequence on one line.
    """
    parts = []
    for name, seq in zip(ids, sequences, strict=True):
        parts.append(f">{name}\n")
        if line_width <= 0:
            parts.append(seq + "\n")
        else:
            parts.extend(seq[i : i + line_width] + "\n" for i in range(0, len(seq), line_width))
    return "".join(parts)


def read_fasta(path: str | Path) -> tuple[list[str], list[str]]:
    """Read a FASTA file into ``(ids, sequences)``; the id is the header up to the first whitespace.

    Raises :class:`InputError` naming the file and line for text before the first header, an empty id
    or a duplicated id.
    """
    path = Path(path)
    ids: list[str] = []
    chunks: list[list[str]] = []
    seen: set[str] = set()
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                if line.startswith(">"):
                    name = line[1:].split(None, 1)[0] if line[1:].strip() else ""
                    if not name:
                        raise InputError(f"{path}:{lineno}: FASTA header without a name")
                    if name in seen:
                        raise InputError(f"{path}:{lineno}: record {name!r} appears twice")
                    seen.add(name)
                    ids.append(name)
                    chunks.append([])
                elif not ids:
                    raise InputError(f"{path}:{lineno}: sequence text before the first '>' header")
                else:
                    chunks[-1].append(line)
    except OSError as exc:
        raise InputError(f"{path}: cannot read FASTA ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text FASTA file") from exc
    return ids, ["".join(c) for c in chunks]


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of ``path``, gunzipped when it starts with the gzip magic bytes.

    Raises
    ------
    InputError
        Unreadable file, broken gzip stream or non-UTF-8 bytes; the message names the file and ``what``
        it should have been (e.g. ``"motif file"``).
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror})") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: broken gzip file ({exc})") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a text {what} (byte {exc.start} is not UTF-8)") from exc
