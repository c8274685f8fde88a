"""Ground-truth variants for the simulation: SNVs that break embedded motifs, and matched background SNVs.

For each embedded motif instance (of the sequences in one split, by default ``test``, which a model did
not train on) one SNV is placed at a *core* position: among the motif's positions ranked by information
content against the background (most informative first), the first where the instance carries the PWM's
most probable base; ALT is the base the PWM makes least probable there, so the SNV breaks the motif.
Each core SNV gets one *matched* background SNV: the same sequence, the same REF and ALT bases, at a
position at least ``margin`` bases from every embedded instance. At most ``max_per_motif`` core SNVs per
motif are kept (drawn at random, seeded).

INFO of every record: ``SIM=core|background``, ``MOTIF`` (the motif the core SNV breaks, or that its
partner breaks), ``MOTIF_OFFSET`` (0-based position within the motif, on the motif's strand; background:
-1), ``PAIR`` (the ID of the partner record). Pure functions returning text/bytes; no file is written here.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .motifs import Motif

VCF_NAME = "variants.vcf.gz"
_COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}
ALPHABET = "ACGT"


def information_order(probs: np.ndarray, background: Sequence[float]) -> np.ndarray:
    """Positions of a PWM from most to least informative (KL divergence of the row from ``background``)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    q = np.asarray(background, dtype=np.float64)
    kl = (p * np.log(p / q[None, :])).sum(axis=1)
    return np.argsort(-kl, kind="stable")


def core_snv(motif: Motif, instance: str, background: Sequence[float], n_core: int = 3) -> tuple[int, str] | None:
    """``(offset in the motif, ALT base on the motif's strand)`` of the core SNV of one instance, or None.

    ``instance`` is written on the motif's own strand. The offset is the first of the ``n_core`` most
    informative positions where ``instance`` carries the PWM's most probable base.
    """
    for w in information_order(motif.probs, background)[:n_core]:
        best = ALPHABET[int(np.argmax(motif.probs[w]))]
        if instance[w] == best:
            return int(w), ALPHABET[int(np.argmin(motif.probs[w]))]
    return None


def simulated_variants(
    ids: Sequence[str],
    sequences: Sequence[str],
    split: Sequence[str] | np.ndarray,
    embeddings: pd.DataFrame,
    motifs: Mapping[str, Motif],
    background: Sequence[float],
    seed: int = 0,
    max_per_motif: int = 100,
    margin: int = 5,
    splits: Sequence[str] = ("test",),
) -> list[dict]:
    """Core and matched background SNVs as records ``{chrom, pos (0-based), id, ref, alt, info}``.

    Parameters
    ----------
    ids, sequences, split
        The simulated sequences and their split labels.
    embeddings
        Embedded instances: ``id, motif, start, end, strand, string`` (``string`` on the + strand).
    motifs
        The motifs by id.
    background
        A, C, G, T background, for the information content.
    seed
        Seed of the subsampling and the background positions.
    max_per_motif
        Core SNVs kept per motif at most.
    margin
        Minimum distance of a background SNV from every embedded instance.
    splits
        Splits whose sequences get variants.

    Returns
    -------
    list of dict
        Sorted by sequence order, then position; ids ``core_<k>`` and ``bg_<k>`` pair up by ``k``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 13]))
    index = {name: i for i, name in enumerate(ids)}
    keep = set(splits)
    occupied: dict[str, np.ndarray] = {}
    for rid, lo, hi in zip(embeddings["id"], embeddings["start"], embeddings["end"]):
        mask = occupied.setdefault(str(rid), np.zeros(len(sequences[index[str(rid)]]), dtype=bool))
        mask[max(0, int(lo) - margin) : int(hi) + margin] = True
    cores: list[tuple[str, int, str, str, str, int]] = []
    for motif_id in dict.fromkeys(embeddings["motif"]):
        rows = embeddings[embeddings["motif"] == motif_id]
        candidates = []
        for r in rows.itertuples(index=False):
            if split[index[r.id]] not in keep:
                continue
            own = r.string if r.strand == "+" else "".join(_COMP[b] for b in reversed(r.string))
            hit = core_snv(motifs[motif_id], own, background)
            if hit is None:
                continue
            w, alt = hit
            width = r.end - r.start
            pos = r.start + w if r.strand == "+" else r.start + width - 1 - w
            if r.strand == "-":
                alt = _COMP[alt]
            ref = sequences[index[r.id]][pos]
            candidates.append((r.id, pos, ref, alt, motif_id, w))
        if len(candidates) > max_per_motif:
            pick = np.sort(rng.choice(len(candidates), size=max_per_motif, replace=False))
            candidates = [candidates[k] for k in pick]
        cores.extend(candidates)
    records = []
    used: set[tuple[str, int]] = {(c[0], c[1]) for c in cores}
    for k, (seq_id, pos, ref, alt, motif_id, w) in enumerate(cores):
        seq = sequences[index[seq_id]]
        free = [
            p
            for p in range(len(seq))
            if seq[p] == ref and not occupied[seq_id][p] and (seq_id, p) not in used
        ]
        records.append(_record(seq_id, pos, f"core_{k}", ref, alt, "core", motif_id, w, f"bg_{k}"))
        if not free:
            continue
        p = int(free[rng.integers(len(free))])
        used.add((seq_id, p))
        records.append(_record(seq_id, p, f"bg_{k}", ref, alt, "background", motif_id, -1, f"core_{k}"))
    records.sort(key=lambda r: (index[r["chrom"]], r["pos"], r["id"]))
    return records


def _record(chrom, pos, vid, ref, alt, kind, motif, offset, pair) -> dict:
    info = f"SIM={kind};MOTIF={motif};MOTIF_OFFSET={offset};PAIR={pair}"
    return {"chrom": chrom, "pos": int(pos), "id": vid, "ref": ref, "alt": alt, "info": info}


def format_vcf(records: Sequence[Mapping], contig_lengths: Mapping[str, int], source: str = "data_sim") -> str:
    """VCF 4.2 text of ``records`` with ``##contig`` lines for the records' sequences (in record order)."""
    lines = [
        "##fileformat=VCFv4.2",
        f"##source={source}",
        '##INFO=<ID=SIM,Number=1,Type=String,Description="core: breaks an embedded motif at a core '
        'position; background: matched SNV away from every embedded motif">',
        '##INFO=<ID=MOTIF,Number=1,Type=String,Description="Motif the core SNV (or its partner) breaks">',
        '##INFO=<ID=MOTIF_OFFSET,Number=1,Type=Integer,Description="0-based position in the motif, on '
        'its strand (-1 for background)">',
        '##INFO=<ID=PAIR,Number=1,Type=String,Description="ID of the matched partner record">',
    ]
    for chrom in dict.fromkeys(r["chrom"] for r in records):
        lines.append(f"##contig=<ID={chrom},length={int(contig_lengths[chrom])}>")
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    for r in records:
        lines.append(f"{r['chrom']}\t{r['pos'] + 1}\t{r['id']}\t{r['ref']}\t{r['alt']}\t.\tPASS\t{r['info']}")
    return "\n".join(lines) + "\n"


def bgzip_bytes(text: str) -> bytes:
    """BGZF-compress ``text`` (what ``bgzip`` writes; htslib reads it, and tabix can index it)."""
    from Bio import bgzf

    buf = io.BytesIO()
    writer = bgzf.BgzfWriter(fileobj=buf)
    writer.write(text.encode("utf-8"))
    writer.flush()
    # BgzfWriter.close() would close buf; write the end-of-file marker block by hand instead.
    buf.write(bgzf._bgzf_eof)
    return buf.getvalue()
