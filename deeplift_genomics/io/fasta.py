"""Read FASTA records and BED regions for scoring, with one clear message per bad input.

FASTA files are read through pyfaidx (random access by record, so memory does not grow with the file):
plain text or bgzip-compressed (BGZF, needs biopython), any line width, Windows line endings, soft-masked
lowercase. The ``.fai`` (and ``.gzi``) index is built beside the file when missing; when that directory
is read-only it is built in ``index_dir`` instead.

Record names of the form ``chr1:100-300`` (optionally followed by ``(+)`` or ``(-)``, as
``bedtools getfasta`` writes them) are parsed as genomic coordinates, so scores can become tracks.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import struct
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyfaidx

from ..core.errors import InputError
from .onehot import IUPAC

log = logging.getLogger(__name__)

_COORD_NAME = re.compile(r"^(?P<chrom>[^\s:]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)(?:\((?P<strand>[+-.])\))?$")
_ALLOWED = frozenset(IUPAC | {c.lower() for c in IUPAC})


@dataclass(frozen=True)
class Region:
    """A stretch of one FASTA record to score.

    Attributes
    ----------
    name
        Output name (the record name, or the BED name column / ``chrom:start-end``).
    record
        FASTA record it comes from.
    start, end
        0-based, end-exclusive interval within the record.
    chrom, chrom_start, strand
        Genomic position of ``start`` (``chrom`` is ``None`` when unknown); on strand ``"-"`` the
        sequence is the reverse complement, so base ``i`` lies at ``chrom_start + length - 1 - i``.
    reverse
        Reverse-complement the FASTA's letters before scoring (a BED region on strand ``-``); a record
        named ``chr:start-end(-)`` is already the reverse complement in the file.
    """

    name: str
    record: str
    start: int
    end: int
    chrom: str | None = None
    chrom_start: int | None = None
    strand: str = "+"
    reverse: bool = False

    @property
    def length(self) -> int:
        return self.end - self.start


_COMPLEMENT = str.maketrans("ACGTRYKMBDHVNacgtrykmbdhvnSWsw", "TGCAYRMKVHDBNtgcayrmkvhdbnSWsw")


def reverse_complement(seq: str) -> str:
    """Reverse complement of IUPAC letters (case kept)."""
    return seq.translate(_COMPLEMENT)[::-1]


_DROP_ALLOWED = {ord(c): None for c in _ALLOWED}
_KNOWN = re.compile("[ACGTacgt]")


def fai_problem(fasta: str | Path, fai: str | Path) -> str | None:
    """Why the ``.fai`` index ``fai`` does not describe the plain FASTA ``fasta`` (``None`` if it does).

    Checked for every entry: the header line just before its offset names the same record, the first
    and the last line of its sequence have the indexed widths, and the next record (or the end of the
    file) starts right where the indexed length ends; the index must not be older than the FASTA.
    """
    fasta, fai = Path(fasta), Path(fai)
    try:
        if fai.stat().st_mtime < fasta.stat().st_mtime:
            return "it is older than the FASTA"
        lines = fai.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return f"it cannot be read ({exc})"
    size = fasta.stat().st_size
    seen: set[str] = set()
    prev_end = 0
    with open(fasta, "rb") as fh:
        for k, line in enumerate(lines, start=1):
            cols = line.split("\t")
            try:
                name, (length, offset, line_bases, line_width) = cols[0], map(int, cols[1:5])
            except ValueError:
                return f"line {k} is not 'name, length, offset, line bases, line width'"
            if name in seen:
                return f"record '{name}' is indexed twice"
            seen.add(name)
            if offset < prev_end or offset > size:
                return f"record '{name}': offset {offset} is not after the previous record"
            start = max(0, offset - (1 << 16))
            fh.seek(start)
            before = fh.read(offset - start)
            if not before.endswith(b"\n"):
                return f"record '{name}': offset {offset} is not the start of a line"
            header = before[:-1].rsplit(b"\n", 1)[-1].rstrip(b"\r")
            words = header[1:].split()
            if not header.startswith(b">") or not words or words[0].decode(errors="replace") != name:
                shown = header[:40].decode(errors="replace")
                return f"record '{name}': the FASTA has {shown!r} there"
            if length == 0:
                end = offset
            else:
                if line_bases < 1 or line_width < line_bases:
                    return f"record '{name}': line widths {line_bases}/{line_width} are impossible"
                full, rem = divmod(length, line_bases)
                end = offset + full * line_width + (rem + line_width - line_bases if rem else 0)
                first_len = min(length, line_bases)
                fh.seek(offset)
                first = fh.read(first_len + line_width - line_bases)
                letters, ending = first[:first_len], first[first_len:]
                if b"\n" in letters or b">" in letters or ending.strip(b"\r\n") or (ending and not ending.endswith(b"\n")):
                    return f"record '{name}': its first line is not {line_bases} letters long"
            if end > size + 1:
                return f"record '{name}': indexed length {length} runs past the end of the file"
            fh.seek(min(end, size))
            rest = fh.read(4096).lstrip(b"\r\n")
            if end < size and rest and not rest.startswith(b">"):
                return f"record '{name}': the FASTA holds more sequence than the indexed length {length}"
            prev_end = end
        fh.seek(prev_end)
        tail = fh.read(1 << 16)
    if b">" in tail and lines:
        return "the FASTA holds records the index does not list"
    if not lines and size:
        return "it lists no records"
    return None


def parse_coordinate_name(name: str, length: int) -> tuple[str, int, str] | None:
    """Genomic ``(chrom, start0, strand)`` of a record named ``chrom:start-end``, or ``None``.

    The name is read as BED-style (0-based start, end exclusive, as ``bedtools getfasta`` writes) when
    ``end - start == length``, and as samtools-style (1-based, inclusive) when ``end - start + 1 == length``;
    a name whose span matches neither is not taken as coordinates.

    Parameters
    ----------
    name
        Record name.
    length
        Length of the record's sequence.
    """
    match = _COORD_NAME.match(name)
    if match is None:
        return None
    start = int(match["start"].replace(",", ""))
    end = int(match["end"].replace(",", ""))
    strand = "-" if match["strand"] == "-" else "+"
    if end - start == length:
        return match["chrom"], start, strand
    if end - start + 1 == length and start >= 1:
        return match["chrom"], start - 1, strand
    return None


def file_checksum(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (read in 1 MiB pieces)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def compression_kind(path: Path) -> str:
    """``"plain"``, ``"bgzf"`` or ``"gzip"`` from the file's first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(18)
    if head[:2] != b"\x1f\x8b":
        return "plain"
    # BGZF: a gzip member with FEXTRA whose extra field holds the 'BC' subfield (SAM spec, section 4.1).
    if len(head) >= 18 and head[3] & 4:
        xlen = struct.unpack("<H", head[10:12])[0]
        with open(path, "rb") as handle:
            handle.seek(12)
            extra = handle.read(xlen)
        pos = 0
        while pos + 4 <= len(extra):
            si1, si2, slen = extra[pos], extra[pos + 1], struct.unpack("<H", extra[pos + 2 : pos + 4])[0]
            if si1 == 66 and si2 == 67:
                return "bgzf"
            pos += 4 + slen
    return "gzip"


def _writable_dir(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def _index_is_fresh(fasta: Path, index: Path) -> bool:
    return index.exists() and index.stat().st_mtime >= fasta.stat().st_mtime


class FastaFile:
    """Random access to the records of one FASTA file.

    Parameters
    ----------
    path
        FASTA file, plain or bgzip-compressed.
    index_dir
        Where to build the index when the FASTA's own directory is read-only (default: a directory
        under the system temp dir).

    Raises
    ------
    InputError
        Missing, empty, plain-gzip or non-FASTA file, inconsistent line wrapping, duplicate record names.
    """

    def __init__(self, path: str | Path, index_dir: str | Path | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: FASTA file not found")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a directory, expected a FASTA file")
        if not self.path.is_file():
            raise InputError(
                f"{self.path}: not a regular file (a pipe, FIFO or device such as <(...)); the FASTA is read "
                "by random access through its index, so save it to a file first"
            )
        if self.path.stat().st_size == 0:
            raise InputError(f"{self.path}: empty file, expected FASTA records ('>name' lines then sequence)")
        kind = compression_kind(self.path)
        if kind == "gzip":
            raise InputError(
                f"{self.path}: plain gzip is not indexable; recompress it with bgzip "
                f"(gunzip {self.path.name} && bgzip {self.path.name.removesuffix('.gz')})"
            )
        if kind == "bgzf":
            try:
                import Bio.bgzf  # noqa: F401
            except ImportError:
                raise InputError(
                    f"{self.path}: reading bgzip-compressed FASTA needs biopython (pip install biopython), "
                    "or decompress it with 'bgzip -d'"
                ) from None
        self.compressed = kind == "bgzf"
        if kind == "plain":
            self._check_looks_like_fasta()
        indexname, gziname = self._index_names(index_dir)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._fasta = pyfaidx.Fasta(
                    str(self.path),
                    indexname=indexname,
                    gzi_indexname=gziname,
                    as_raw=True,
                    read_ahead=None,
                )
        except ValueError as exc:
            match = re.search(r'Duplicate key "(.*)"', str(exc))
            if match:
                raise InputError(f"{self.path}: record '{match[1]}': duplicate record name") from None
            raise InputError(f"{self.path}: not a readable FASTA file ({exc})") from None
        except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat) as exc:
            raise InputError(f"{self.path}: not a valid FASTA file: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.path}: cannot read as FASTA ({exc})") from None
        self.names: list[str] = list(self._fasta.keys())
        if not self.names:
            raise InputError(f"{self.path}: no FASTA records found")

    def _check_looks_like_fasta(self) -> None:
        with open(self.path, "rb") as handle:
            head = handle.read(4096)
        if b"\x00" in head:
            raise InputError(f"{self.path}: binary file, expected FASTA text")
        for line in head.splitlines():
            text = line.strip()
            if not text or text.startswith(b";"):
                continue
            if not text.startswith(b">"):
                raise InputError(
                    f"{self.path}: not a FASTA file: the first line {text[:40].decode(errors='replace')!r} "
                    "does not start with '>'"
                )
            return

    def _stale_index(self, fai: Path, gzi: Path) -> str | None:
        """Why an existing index beside (or for) the FASTA cannot be used, or ``None``."""
        if not fai.exists():
            return None
        if self.compressed:
            if not _index_is_fresh(self.path, fai) or (gzi.exists() and not _index_is_fresh(self.path, gzi)):
                return "it is older than the FASTA"
            return None
        return fai_problem(self.path, fai)

    def _index_names(self, index_dir: str | Path | None) -> tuple[str, str | None]:
        fai = Path(str(self.path) + ".fai")
        gzi = Path(str(self.path) + ".gzi")
        problem = self._stale_index(fai, gzi)
        if problem is None and fai.exists():
            return str(fai), (str(gzi) if self.compressed else None)
        if _writable_dir(self.path.parent):
            if problem is not None:
                log.warning("%s: the index %s does not match the FASTA (%s); rebuilding it", self.path, fai, problem)
                for stale in (fai, gzi):
                    if stale.exists():
                        stale.unlink()
            return str(fai), (str(gzi) if self.compressed else None)
        if problem is not None:
            log.warning(
                "%s: the index %s does not match the FASTA (%s) and its directory is read-only; building "
                "a fresh index elsewhere",
                self.path,
                fai,
                problem,
            )
        base = (
            Path(index_dir)
            if index_dir is not None
            else Path(tempfile.gettempdir()) / "deeplift-genomics-fai"
        )
        key = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:16]
        where = base / key
        try:
            where.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"{self.path}: its directory is read-only and the index cannot be built in {where} ({exc})"
            ) from None
        log.info("%s: directory is read-only; building the FASTA index in %s", self.path, where)
        built, built_gzi = where / (self.path.name + ".fai"), where / (self.path.name + ".gzi")
        if built.exists() and self._stale_index(built, built_gzi) is not None:
            for stale in (built, built_gzi):
                if stale.exists():
                    stale.unlink()
        return str(built), (str(built_gzi) if self.compressed else None)

    def length(self, name: str) -> int:
        """Length of record ``name``."""
        return int(self._fasta.faidx.index[name].rlen)

    def fetch(self, name: str, start: int = 0, end: int | None = None) -> str:
        """Sequence of record ``name`` over ``[start, end)`` (0-based), letters as in the file.

        Raises
        ------
        InputError
            When the sequence holds a character that is not an IUPAC nucleotide code.
        """
        length = self.length(name)
        end = length if end is None else end
        if end <= start:
            return ""
        seq = self._fasta.faidx.fetch(name, start + 1, end)
        seq = seq if isinstance(seq, str) else str(seq)
        bad = set(seq) - _ALLOWED
        if bad:
            first = min(seq.find(c) for c in bad)
            raise InputError(
                f"{self.path}: record '{name}': character {seq[first]!r} at position {start + first + 1} "
                "is not a nucleotide (IUPAC) code"
            )
        return seq

    def check_regions(self, regions: list[Region], block: int = 1 << 22) -> int:
        """Read every region once before any work: refuse a bad letter; return how many regions hold A/C/G/T.

        Raises
        ------
        InputError
            The first character that is not an IUPAC nucleotide code, naming record and position.
        """
        n_known = 0
        for region in regions:
            found = False
            for lo in range(region.start, region.end, block):
                hi = min(region.end, lo + block)
                seq = self._fasta.faidx.fetch(region.record, lo + 1, hi)
                seq = seq if isinstance(seq, str) else str(seq)
                bad = seq.translate(_DROP_ALLOWED)
                if bad:
                    first = seq.find(bad[0])
                    raise InputError(
                        f"{self.path}: record '{region.record}': character {bad[0]!r} at position "
                        f"{lo + first + 1} is not a nucleotide (IUPAC) code"
                    )
                found = found or _KNOWN.search(seq) is not None
            n_known += found
        return n_known

    def close(self) -> None:
        self._fasta.close()

    def __enter__(self) -> FastaFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record_regions(fasta: FastaFile) -> list[Region]:
    """One region per whole record; ``chrom:start-end`` names give the genomic coordinates."""
    regions = []
    for name in fasta.names:
        length = fasta.length(name)
        coords = parse_coordinate_name(name, length)
        chrom, chrom_start, strand = coords if coords is not None else (None, None, "+")
        regions.append(Region(name, name, 0, length, chrom, chrom_start, strand))
    return regions


def bed_interval(cols: Sequence[str], where: str, noun: str) -> tuple[str, int, int]:
    """Chrom, start and end of a BED line's columns; a short line or a non-integer position is an
    :class:`InputError` naming ``where`` (file and line) and the ``noun`` the chrom stands for."""
    if len(cols) < 3:
        raise InputError(f"{where}: expected at least 3 columns (chrom, start, end), found {len(cols)}")
    chrom = cols[0]
    try:
        return chrom, int(cols[1]), int(cols[2])
    except ValueError:
        raise InputError(f"{where}: {noun} '{chrom}': start and end must be integers") from None


def bed_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """The data lines of a BED file (plain or gzip) as (line number, fields); header and track lines skipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline=None) as handle:
            for lineno, raw in enumerate(handle, start=1):
                line = raw.rstrip("\r\n")
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                yield lineno, line.split("\t") if "\t" in line else line.split()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a BED text file (undecodable bytes)") from None


def read_bed(path: str | Path, fasta: FastaFile) -> list[Region]:
    """Regions of a BED file (3 or more columns; ``#``, ``track`` and ``browser`` lines skipped).

    Column 4, when present, names the region; otherwise it is named ``chrom:start-end``. Column 6, the
    strand, is ``+``, ``-`` or ``.``: a ``-`` region is scored as the reverse complement of the FASTA's
    letters (``records/strand`` of ``scores.h5`` says ``-``), the others as they are.

    Raises
    ------
    InputError
        Naming the file, line and record, for a line with fewer than 3 columns, non-integer
        coordinates, an unknown record, a region outside its record, or a duplicate region name.
    """
    path = Path(path)
    require_regular_file(path, "BED file", "is read twice (regions, then its checksum for resuming)")
    regions: list[Region] = []
    seen: dict[str, int] = {}
    for lineno, cols in bed_lines(path):
        where = f"{path}: line {lineno}"
        chrom, start, end = bed_interval(cols, where, "record")
        if chrom not in fasta._fasta.faidx.index:
            raise InputError(f"{where}: record '{chrom}' is not in {fasta.path}")
        length = fasta.length(chrom)
        if start < 0 or end > length or start >= end:
            raise InputError(
                f"{where}: record '{chrom}': region {start}-{end} is outside the record (length {length})"
                if start < 0 or end > length
                else f"{where}: record '{chrom}': empty region {start}-{end} (start must be below end)"
            )
        strand = cols[5].strip() if len(cols) > 5 else "."
        if strand not in ("+", "-", "."):
            raise InputError(
                f"{where}: record '{chrom}': strand (column 6) {strand!r} must be '+', '-' or '.'"
            )
        name = cols[3] if len(cols) > 3 and cols[3] not in {"", "."} else f"{chrom}:{start}-{end}"
        if name in seen:
            raise InputError(f"{where}: region name '{name}' already used on line {seen[name]}")
        seen[name] = lineno
        reverse = strand == "-"
        regions.append(Region(name, chrom, start, end, chrom, start, "-" if reverse else "+", reverse))
    if not regions:
        raise InputError(f"{path}: no regions found (empty BED file)")
    return regions


def require_regular_file(path: Path, what: str, why: str) -> None:
    """Refuse a missing ``path``, a directory, or a pipe, FIFO or ``<(...)`` (which reads as empty or once).

    ``what`` names the kind of file ("VCF file"), ``why`` says why a stream will not do ("is read twice").
    """
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a {what}")
    if not path.is_file():
        raise InputError(
            f"{path}: not a regular file (a pipe, FIFO or <(...)); the {what} {why}, so save it to a file first"
        )
