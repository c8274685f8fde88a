"""The model's input window for both alleles of a variant, read from the FASTA.

Window of ``L`` bases (the model's input length) placed so that the variant's first REF base sits at
index ``L // 2`` (centred). Both alleles' windows start at the same genomic base, so every base left of
the variant is at the same index in both. The ALT window is the ALT haplotype read from that start: an
insertion pushes the right end out (the far end is trimmed), a deletion pulls bases in (the far end is
extended), so the length stays ``L``; the ``note`` column of the outputs says which and by how much.

``edge="shift"`` (default) moves a window that would run past a record end back inside the record (the
variant then sits off centre; ``note`` says so); ``edge="skip"`` skips such variants as
``near_record_end``. Whatever the edge, both windows always hold every base of both alleles (the far end
trimmed or extended is never part of the variant): an indel so close to a record's right end that its
ALT bases (insertion) or its deleted bases plus the bases pulled in (deletion) cannot fit is skipped as
``near_record_end``. A variant whose REF lies outside the record (VCF ``POS`` 0, or past the end) is
``outside_record``. A record shorter than ``L`` is always a skip (``record_shorter_than_input``).
With ``strict``, REF mismatches, missing records and edge skips are :class:`InputError` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.errors import InputError
from ..io.fasta import FastaFile
from ..io.vcf import Skip, VcfAllele

log = logging.getLogger(__name__)

EDGE_CHOICES = ("shift", "skip")
SKIP_MISSING_CONTIG = "missing_contig"
SKIP_REF_MISMATCH = "ref_mismatch"
SKIP_NEAR_END = "near_record_end"
SKIP_SHORT_RECORD = "record_shorter_than_input"
SKIP_TOO_LONG = "indel_too_long"
SKIP_OUTSIDE = "outside_record"
SKIP_REASONS = (SKIP_MISSING_CONTIG, SKIP_REF_MISMATCH, SKIP_NEAR_END, SKIP_SHORT_RECORD, SKIP_TOO_LONG,
                SKIP_OUTSIDE)


@dataclass(frozen=True)
class AlleleWindows:
    """A scorable allele: the VCF allele and its two windows.

    Attributes
    ----------
    allele
        The VCF allele.
    start
        0-based record position of the windows' first base.
    offset
        Index of the variant's first base in both windows.
    ref_seq, alt_seq
        The two windows (length ``L``), upper case.
    note
        ``centred`` or ``shifted by k``, plus for indels ``far end trimmed by k`` / ``extended by k``, plus
        ``k N in window`` when the window holds unknown bases.
    """

    allele: VcfAllele
    start: int
    offset: int
    ref_seq: str
    alt_seq: str
    note: str


def window_start(
    pos: int, length: int, record_length: int, delta: int, edge: str, ref_length: int = 1
) -> int | None:
    """First base of the windows of a variant at ``pos``, or None when it cannot be placed.

    The windows start at the same base and must (a) stay inside the record, including the ``-delta``
    bases a deletion's ALT window pulls in on the right, and (b) hold every base of both alleles, so
    that trimming or extending the far end never touches the variant itself.

    Parameters
    ----------
    pos
        0-based position of the first REF base.
    length
        Window length ``L``.
    record_length
        Length of the record.
    delta
        ``len(ALT) - len(REF)``; a deletion needs ``-delta`` more bases on the right for its ALT window.
    edge
        ``shift`` or ``skip`` (None whenever the centred window does not fit).
    ref_length
        ``len(REF)``; the variant spans ``max(len(REF), len(ALT))`` bases of the longer window.
    """
    start = pos - length // 2
    need = length + max(0, -delta)  # bases of the record the two windows read from start on
    last = record_length - need  # highest start that keeps both windows inside the record
    span = max(ref_length, ref_length + delta)  # bases of the longer allele
    first = max(0, pos + span - length)  # lowest start whose windows still hold the whole variant
    if first <= start <= last:
        return start
    if edge == "skip" or first > last:
        return None
    return min(max(start, first), last)


def alt_window(seq: str, start: int, pos: int, ref: str, alt: str, length: int) -> str:
    """ALT haplotype of ``seq`` from ``start``, ``length`` bases (``seq`` holds the whole record or enough of it).

    ``seq`` is indexed in record coordinates from 0 up to at least ``start + length - delta``.
    """
    left = seq[start:pos]
    right = seq[pos + len(ref) :]
    return (left + alt + right)[:length]


def build_windows(
    fasta: FastaFile,
    alleles: Sequence[VcfAllele],
    length: int,
    *,
    edge: str = "shift",
    strict: bool = False,
    vcf_name: str = "VCF",
    warn: bool = True,
) -> tuple[list[AlleleWindows], list[Skip]]:
    """Both windows of every allele, or the reason it is skipped.

    Parameters
    ----------
    fasta
        The genome.
    alleles
        From :func:`vcf.read_vcf`.
    length
        The model's input length ``L``.
    edge
        ``shift`` (move windows inside the record) or ``skip`` (skip variants whose centred window
        does not fit).
    strict
        Raise :class:`InputError` (naming the VCF line) instead of skipping a REF mismatch, a missing
        record, a variant near a record end or an indel longer than ``L // 2``.
    vcf_name
        Name of the VCF in messages.
    warn
        Log how many windows hold N bases (off when the windows are read a second time).

    Returns
    -------
    windows, skipped
        Scorable alleles in input order, and the skipped ones with their reasons.
    """
    if edge not in EDGE_CHOICES:
        raise InputError(f"--edge {edge!r}: expected one of {', '.join(EDGE_CHOICES)}")
    known = set(fasta.names)
    n_windows_with_n = 0
    out: list[AlleleWindows] = []
    skipped: list[Skip] = []

    def skip(a: VcfAllele, reason: str, detail: str) -> None:
        if strict:
            raise InputError(f"{vcf_name}: line {a.line}: {a.name}: {detail} (drop --strict to skip it)")
        skipped.append(Skip(a.line, a.chrom, a.pos, a.ref, a.alt, reason))

    for a in alleles:
        if a.chrom not in known:
            skip(a, SKIP_MISSING_CONTIG, f"record '{a.chrom}' is not in {fasta.path}")
            continue
        rec_len = fasta.length(a.chrom)
        delta = len(a.alt) - len(a.ref)
        if max(len(a.ref), len(a.alt)) > length // 2:
            skip(a, SKIP_TOO_LONG, f"allele longer than half the model's input ({length // 2} bp)")
            continue
        if a.pos < 0 or a.pos + len(a.ref) > rec_len:
            where = f"POS {a.pos + 1} is before the first base" if a.pos < 0 else "REF runs past the end"
            skip(a, SKIP_OUTSIDE, f"{where} of record '{a.chrom}' (length {rec_len})")
            continue
        genome_ref = fasta.fetch(a.chrom, a.pos, a.pos + len(a.ref)).upper()
        if genome_ref != a.ref:
            skip(a, SKIP_REF_MISMATCH, f"REF {a.ref} does not match the genome's {genome_ref}")
            continue
        if rec_len < length + max(0, -delta):
            skip(a, SKIP_SHORT_RECORD, f"record '{a.chrom}' ({rec_len} bp) is shorter than the model's input ({length})")
            continue
        start = window_start(a.pos, length, rec_len, delta, edge, len(a.ref))
        if start is None:
            if edge == "skip":
                detail = f"the centred {length} bp window runs past an end of record '{a.chrom}' (length {rec_len})"
            else:
                detail = (f"no {length} bp window inside record '{a.chrom}' (length {rec_len}) holds both alleles "
                          f"whole: the variant is too close to the record's end")
            skip(a, SKIP_NEAR_END, detail)
            continue
        stop = start + length + max(0, -delta)
        seq = fasta.fetch(a.chrom, start, stop).upper()
        local = a.pos - start
        ref_seq = seq[:length]
        alt_seq = alt_window(seq, 0, local, a.ref, a.alt, length)
        centred = start == a.pos - length // 2
        note = "centred" if centred else f"shifted by {start - (a.pos - length // 2):+d}"
        if delta > 0:
            note += f"; far end trimmed by {delta}"
        elif delta < 0:
            note += f"; far end extended by {-delta}"
        n_unknown = max(ref_seq.count("N"), alt_seq.count("N"))
        if n_unknown:  # scored as all-zero columns, as score does; said, as score counts them
            note += f"; {n_unknown} N in window"
            n_windows_with_n += 1
        out.append(AlleleWindows(a, start, local, ref_seq, alt_seq, note))
    if n_windows_with_n and warn:
        log.warning("%s: %d variant(s) have N bases in their window (scored as unknown, all-zero columns; the "
                    "note column gives the count)", vcf_name, n_windows_with_n)
    return out, skipped


def contig_hint(missing: Sequence[str], fasta_names: Sequence[str]) -> str:
    """A sentence suggesting the prefix when VCF records are named ``1`` and the FASTA ``chr1`` (or the
    reverse); empty when renaming would not find them."""
    names = set(fasta_names)
    missing = sorted(set(missing))
    added = [c for c in missing if f"chr{c}" in names]
    removed = [c for c in missing if c.startswith("chr") and c[3:] in names]
    if added:
        return (f"; the FASTA names them with a 'chr' prefix ({added[0]} is chr{added[0]} there): rename the VCF's "
                "records (bcftools annotate --rename-chrs) or the FASTA's")
    if removed:
        return (f"; the FASTA names them without the 'chr' prefix ({removed[0]} is {removed[0][3:]} there): rename "
                "the VCF's records (bcftools annotate --rename-chrs) or the FASTA's")
    return ""
