"""Read the alleles of a VCF with pysam (htslib): plain or bgzip text, multi-allelic records split per ALT.

Every record is read in file order, so no tabix index is needed. A record whose ALT lists several alleles
gives one :class:`VcfAllele` per ALT. Alleles the model cannot score are skipped with a counted, named
reason (:data:`SKIP_REASONS`): symbolic (``<DEL>``), breakend (``N[chr2:1[``), spanning deletion
(``*``), missing ALT (``.``), letters other than A, C, G, T (an ``N`` allele is an unknown base, which
the model cannot be asked about: ``non_acgt_allele`` too). A line htslib cannot parse is an
:class:`InputError` naming the file and line number; pysam itself reports neither, so the raw text is
read beside it to count lines and to say what is wrong with the line.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InputError
from .fasta import compression_kind, require_regular_file

log = logging.getLogger(__name__)

SKIP_SYMBOLIC = "symbolic_allele"
SKIP_BREAKEND = "breakend_allele"
SKIP_SPANNING = "spanning_deletion"
SKIP_NO_ALT = "no_alt_allele"
SKIP_NON_ACGT = "non_acgt_allele"
SKIP_REASONS = (SKIP_SYMBOLIC, SKIP_BREAKEND, SKIP_SPANNING, SKIP_NO_ALT, SKIP_NON_ACGT)
_ALLELE = re.compile(r"^[ACGTacgt]+$")
_BREAKEND = re.compile(r"[\[\]]")
_UNPARSED = "htslib could not parse the record"


@dataclass(frozen=True)
class VcfAllele:
    """One ALT allele of one VCF record.

    Attributes
    ----------
    line
        1-based line number of the record in the (decompressed) VCF text.
    chrom
        CHROM, the FASTA record it lies on.
    pos
        0-based position of the first REF base (VCF POS - 1).
    ref, alt
        Alleles, upper case.
    vcf_id
        The ID column ("." when empty).
    alt_index
        0-based index of this ALT among the record's ALTs.
    info
        The INFO column as text ("." when empty), kept for labels such as the simulation's.
    """

    line: int
    chrom: str
    pos: int
    ref: str
    alt: str
    vcf_id: str = "."
    alt_index: int = 0
    info: str = "."

    @property
    def kind(self) -> str:
        """``snv``, ``mnv`` (equal lengths > 1), ``insertion`` or ``deletion``."""
        if len(self.ref) == len(self.alt):
            return "snv" if len(self.ref) == 1 else "mnv"
        return "insertion" if len(self.alt) > len(self.ref) else "deletion"

    @property
    def name(self) -> str:
        """``chrom:POS:REF>ALT`` with the 1-based VCF position."""
        return f"{self.chrom}:{self.pos + 1}:{self.ref}>{self.alt}"


@dataclass(frozen=True)
class Skip:
    """An allele not scored, with the reason (one of the ``SKIP_*`` names)."""

    line: int
    chrom: str
    pos: int
    ref: str
    alt: str
    reason: str


@dataclass
class VcfContents:
    """Alleles to score, alleles skipped, both in file order in ``entries``, and the records read."""

    alleles: list[VcfAllele]
    skipped: list[Skip] = field(default_factory=list)
    entries: list[VcfAllele | Skip] = field(default_factory=list)
    n_records: int = 0

    def skip_counts(self) -> dict[str, int]:
        return skip_counts(self.skipped)


def skip_counts(skipped: Iterable[Skip]) -> dict[str, int]:
    """How many entries were skipped for each reason, by reason."""
    return dict(sorted(Counter(s.reason for s in skipped).items()))


def _raw_lines(path: Path, compressed: bool) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line, decompressing bgzip text."""
    opener = gzip.open if compressed else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline=None) as handle:
        for lineno, raw in enumerate(handle, start=1):
            yield lineno, raw.rstrip("\r\n")


def _diagnose(line: str) -> str:
    """Why a VCF data line does not parse, in words (htslib only says that it did not)."""
    if not line.strip():
        return "empty line"
    cols = line.split("\t")
    if len(cols) < 8:
        return (
            f"expected at least 8 tab-separated columns (CHROM POS ID REF ALT QUAL FILTER INFO), "
            f"found {len(cols)}"
        )
    if not cols[1].isdigit():
        return f"POS {cols[1]!r} is not a positive integer"
    if not cols[3] or cols[3] == ".":
        return "REF is empty"
    if cols[5] != "." and not _is_number(cols[5]):
        return f"QUAL {cols[5]!r} is not a number"
    return _UNPARSED


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _skip_reason(ref: str, alt: str | None) -> str | None:
    if alt is None or alt == ".":
        return SKIP_NO_ALT
    if alt == "*":
        return SKIP_SPANNING
    if alt.startswith("<"):
        return SKIP_SYMBOLIC
    if _BREAKEND.search(alt) or alt.startswith(".") or alt.endswith("."):
        return SKIP_BREAKEND
    if not _ALLELE.match(ref) or not _ALLELE.match(alt):
        return SKIP_NON_ACGT
    return None


@contextlib.contextmanager
def _quiet_htslib() -> Iterator[None]:
    import pysam

    old = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(old)


def read_vcf(path: str | Path) -> VcfContents:
    """Every ALT allele of a VCF (plain or bgzip text), in file order.

    Parameters
    ----------
    path
        VCF file; ``.vcf`` or bgzip-compressed ``.vcf.gz``. No index is needed.

    Returns
    -------
    VcfContents
        The alleles to score and those skipped (symbolic, breakend, spanning deletion, no ALT, non-ACGTN
        letters), each with its line number.

    Raises
    ------
    InputError
        Missing or empty file, plain gzip (not bgzip), not a VCF, or a line that does not parse (the
        message names the line number and what is wrong).
    """
    try:
        import pysam
    except ImportError:
        raise InputError("reading a VCF needs pysam (pip install pysam)") from None
    path = Path(path)
    kind = _check_file(path)
    raw = _raw_lines(path, kind == "bgzf")
    _check_first_line(path, raw)
    data_lines = _data_lines(path, raw)
    with _quiet_htslib():
        try:
            handle = pysam.VariantFile(str(path))
        except (ValueError, OSError) as exc:
            raise InputError(f"{path}: not a readable VCF ({exc})") from None
        with handle:
            contents = _read_records(path, handle, data_lines)
    log.info(
        "%s: %d record(s), %d allele(s) to score, %d skipped %s",
        path,
        contents.n_records,
        len(contents.alleles),
        len(contents.skipped),
        contents.skip_counts() or "",
    )
    return contents


def _check_file(path: Path) -> str:
    """Raise unless ``path`` is a non-empty regular file that is not plain gzip; return its compression kind."""
    require_regular_file(path, "VCF file", "is read twice (its lines, then htslib's records)")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file, expected a VCF ('##fileformat=VCF...' header, then records)")
    kind = compression_kind(path)
    if kind == "gzip":
        raise InputError(
            f"{path}: plain gzip, which htslib cannot read as VCF; recompress it with bgzip "
            f"(gunzip {path.name} && bgzip {path.name.removesuffix('.gz')})"
        )
    return kind


def _check_first_line(path: Path, raw: Iterator[tuple[int, str]]) -> None:
    """Read the first line from ``raw`` and raise unless it is a VCF text header."""
    try:
        first = next(raw)[1]
    except (StopIteration, OSError, EOFError):
        raise InputError(f"{path}: cannot read as VCF text") from None
    if first.startswith("BCF"):
        raise InputError(
            f"{path}: BCF (binary VCF), which is not read here; convert it to VCF text with "
            f"bcftools view -Oz -o {path.stem}.vcf.gz {path.name}"
        )
    if not first.startswith("##fileformat=VCF"):
        raise InputError(
            f"{path}: line 1: not a VCF file (expected '##fileformat=VCFv4.x', found {first[:40]!r})"
        )


def _data_lines(path: Path, raw: Iterator[tuple[int, str]]) -> list[tuple[int, str]]:
    """The rest of the header checked, then the data lines with their line numbers."""
    header_lines = 1
    data_lines: list[tuple[int, str]] = []
    header_done = False
    try:
        for lineno, text in raw:
            if not header_done and text.startswith("#"):
                header_lines += 1
                if not text.startswith("##") and not text.startswith("#CHROM"):
                    raise InputError(
                        f"{path}: line {lineno}: header line starts with '#' but is not '##...' or '#CHROM'"
                    )
                continue
            header_done = True
            data_lines.append((lineno, text))
    except (EOFError, OSError, zlib.error) as exc:
        last = header_lines + len(data_lines)
        raise InputError(
            f"{path}: compressed data ends or breaks after line {last} ({exc}); the file is truncated or "
            "damaged"
        ) from None
    if header_lines < 2:
        raise InputError(f"{path}: no '#CHROM POS ID REF ALT ...' header line")
    return data_lines


def _read_records(path: Path, handle, data_lines: list[tuple[int, str]]) -> VcfContents:
    """The alleles of the records htslib reads from ``handle``, one per data line (or the line's error)."""
    contents = VcfContents(alleles=[])
    records = iter(handle)
    for lineno, text in data_lines:
        try:
            rec = next(records)
        except StopIteration:
            raise InputError(f"{path}: line {lineno}: {_diagnose(text)}") from None
        except (OSError, ValueError) as exc:
            # htslib's own words ("truncated file" for any bad line) only when ours have none
            what = _diagnose(text)
            detail = f" ({exc})" if what == _UNPARSED else ""
            raise InputError(f"{path}: line {lineno}: {what}{detail}") from None
        contents.n_records += 1
        _add_record(contents, rec, lineno, text)
    with contextlib.suppress(StopIteration):
        next(records)
        raise InputError(f"{path}: htslib read more records than the file has lines")
    return contents


def _add_record(contents: VcfContents, rec, lineno: int, text: str) -> None:
    ref = (rec.ref or "").upper()
    alts = rec.alts or (None,)
    cols = text.split("\t")
    info = cols[7] if len(cols) > 7 else "."
    vcf_id = rec.id or "."
    for k, alt in enumerate(alts):
        alt_u = alt.upper() if alt is not None else None
        reason = _skip_reason(ref, alt_u)
        if reason is not None:
            skip = Skip(lineno, rec.chrom, rec.start, ref, alt or ".", reason)
            contents.skipped.append(skip)
            contents.entries.append(skip)
        else:
            allele = VcfAllele(lineno, rec.chrom, rec.start, ref, str(alt_u), vcf_id, k, info)
            contents.alleles.append(allele)
            contents.entries.append(allele)
