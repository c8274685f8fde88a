"""Writers of the motif outputs: tables, BED, MEME and an npz of every matrix.

All writers take a destination path and write it in place; :func:`~deeplift_genomics.motifs.run.write_motifs`
calls them inside one temporary directory that replaces the output directory only when all succeeded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .inputs import ScoreTracks
from .patterns import Pattern


def safe_name(name: str) -> str:
    """``name`` with every character but letters, digits, ``.``, ``-`` and ``_`` replaced by ``_`` (for
    file names)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name)) or "_"


def write_tsv(table: pd.DataFrame, path: str | Path) -> None:
    """Tab-separated, header line, no index; floats with 6 significant digits."""
    table.to_csv(path, sep="\t", index=False, float_format="%.6g")


def genomic_intervals(tracks: ScoreTracks, record_index: np.ndarray, start: np.ndarray, end: np.ndarray,
                      strand: np.ndarray) -> pd.DataFrame:
    """Genomic ``chrom, start, end, strand`` of intervals given in record coordinates.

    A record marked ``-`` (a reverse complement of the genome) maps its base ``p`` to genomic base
    ``chrom_start + length - 1 - p`` and flips the strand.
    """
    rec = np.asarray(record_index, dtype=np.int64)
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    # callers ask only when every record carries coordinates
    assert tracks.chrom is not None and tracks.chrom_start is not None
    length = tracks.lengths[rec]
    base = tracks.chrom_start[rec]
    minus_rec = (tracks.strand[rec] == "-") if tracks.strand is not None else np.zeros(len(rec), dtype=bool)
    g_start = np.where(minus_rec, base + length - end, base + start)
    g_end = np.where(minus_rec, base + length - start, base + end)
    flip = {"+": "-", "-": "+", ".": "."}
    strand = np.asarray(strand, dtype=object)
    g_strand = np.where(minus_rec, [flip.get(s, ".") for s in strand], strand)
    return pd.DataFrame({"chrom": tracks.chrom[rec], "start": g_start, "end": g_end, "strand": g_strand})


def write_bed(tracks: ScoreTracks, table: pd.DataFrame, name: pd.Series, score: np.ndarray,
              path: str | Path) -> None:
    """BED6 (chrom, start, end, name, score 0-1000, strand) of rows with ``record_index, start, end, strand``.

    ``score`` is scaled so that the largest |value| of the table is 1000.
    """
    g = genomic_intervals(tracks, table["record_index"].to_numpy(), table["start"].to_numpy(),
                          table["end"].to_numpy(), table["strand"].to_numpy())
    s = np.abs(np.asarray(score, dtype=np.float64))
    top = s.max() if len(s) and s.max() > 0 else 1.0
    bed = pd.DataFrame({"chrom": g["chrom"], "start": g["start"], "end": g["end"], "name": np.asarray(name),
                        "score": np.round(1000 * s / top).astype(np.int64), "strand": g["strand"]})
    bed = bed.sort_values(["chrom", "start", "end"], kind="stable")
    bed.to_csv(path, sep="\t", index=False, header=False)


def meme_text(patterns: Sequence[Pattern], background: np.ndarray, best: dict[str, str] | None = None) -> str:
    """MEME minimal motif format (version 4) of the patterns' PFMs.

    Motif ids are ``task/pattern``; the alternative name is the best known match (``novel`` when none).
    ``nsites`` is the pattern's seqlet count.
    """
    bg = np.asarray(background, dtype=np.float64)
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
             "Background letter frequencies",
             " ".join(f"{b} {v:.4f}" for b, v in zip("ACGT", bg)), ""]
    for p in patterns:
        alt = (best or {}).get(p.key, "")
        lines.append(f"MOTIF {p.key.replace(' ', '_')}" + (f" {alt.replace(' ', '_')}" if alt else ""))
        lines.append(f"letter-probability matrix: alength= 4 w= {p.width} nsites= {p.n_seqlets} E= 0")
        for col in np.asarray(p.pfm, dtype=np.float64).T:
            col = col / col.sum() if col.sum() > 0 else np.full(4, 0.25)
            lines.append(" ".join(f"{v:.6f}" for v in col))
        lines.append("")
    return "\n".join(lines)


def write_matrices(patterns: Sequence[Pattern], path: str | Path) -> None:
    """An .npz with ``<task>/<pattern>/cwm``, ``.../hcwm``, ``.../pfm`` ((4, W) each, rows A, C, G, T)
    and ``names`` (the ``task/pattern`` keys in order)."""
    arrays: dict[str, np.ndarray] = {"names": np.array([p.key for p in patterns], dtype=str)}
    for p in patterns:
        arrays[f"{p.key}/cwm"] = np.asarray(p.cwm, dtype=np.float32)
        arrays[f"{p.key}/hcwm"] = np.asarray(p.hcwm, dtype=np.float32)
        arrays[f"{p.key}/pfm"] = np.asarray(p.pfm, dtype=np.float32)
    with open(path, "wb") as fh:
        # mypy matches **dict[str, ndarray] against savez's allow_pickle: bool as well
        np.savez(fh, **arrays)  # type: ignore[arg-type]


MODISCO_GROUPS = {"pos": "pos_patterns", "neg": "neg_patterns"}


def modisco_names(patterns: Sequence[Pattern]) -> dict[str, str]:
    """``task/pattern`` key -> modisco-lite name (``pos_patterns.pattern_0``, ...), numbered per task and
    sign in the patterns' order (which is by seqlet count, as modisco-lite numbers its own)."""
    out: dict[str, str] = {}
    counts: dict[tuple[str, str], int] = {}
    for p in patterns:
        k = counts.get((p.task, p.sign), 0)
        counts[(p.task, p.sign)] = k + 1
        out[p.key] = f"{MODISCO_GROUPS[p.sign]}.pattern_{k}"
    return out


def _pad(matrix: np.ndarray, width: int, fill: np.ndarray) -> np.ndarray:
    """``(4, W)`` centred in ``(4, width)``, the new columns set to ``fill`` ``(4,)``; returned ``(width, 4)``."""
    w = matrix.shape[1]
    left = (width - w) // 2
    out = np.repeat(np.asarray(fill, dtype=np.float32)[:, None], width, axis=1)
    out[:, left:left + w] = matrix
    return np.ascontiguousarray(out.T)


def write_modisco_h5(patterns: Sequence[Pattern], path: str | Path, background: np.ndarray, window_size: int,
                     seqlets: pd.DataFrame | None = None) -> None:
    """One task's patterns as a modisco-lite 3 results file (what ``modisco motifs -o`` writes).

    Layout: ``pos_patterns/pattern_<k>`` and ``neg_patterns/pattern_<k>`` groups, each with ``sequence``
    (PFM), ``contrib_scores`` (CWM) and ``hypothetical_contribs`` (hypothetical CWM), all ``(W, 4)``
    float32 with columns A, C, G, T, and ``seqlets/`` (``n_seqlets`` and, when ``seqlets`` is given,
    ``start``, ``end``, ``example_idx`` and ``is_revcomp`` of the pattern's seqlets); the file attribute
    ``window_size``.

    Every pattern is widened to the widest one's width, centred, with zero contributions and the
    ``background`` base frequencies in the added columns: Fi-NeMo stacks all CWMs of a file into one array
    (one width), and its trimming (and modisco-lite's report logos) drop the added columns again, since
    their contribution is zero.
    """
    import h5py  # heavy: read and written only by the HDF5 exports

    if not patterns:
        raise ValueError("write_modisco_h5: no patterns")
    width = max(p.width for p in patterns)
    names = modisco_names(patterns)
    zero = np.zeros(4, dtype=np.float32)
    with h5py.File(path, "w") as h5:
        h5.attrs["window_size"] = int(window_size)
        for p in patterns:
            group, name = names[p.key].split(".")
            g = h5.require_group(group).create_group(name)
            g.create_dataset("sequence", data=_pad(np.asarray(p.pfm, dtype=np.float32), width,
                                                   np.asarray(background, dtype=np.float32)))
            g.create_dataset("contrib_scores", data=_pad(np.asarray(p.cwm, dtype=np.float32), width, zero))
            g.create_dataset("hypothetical_contribs", data=_pad(np.asarray(p.hcwm, dtype=np.float32), width, zero))
            g.attrs["deeplift_genomics_pattern"] = p.key
            s = g.create_group("seqlets")
            s.create_dataset("n_seqlets", data=np.array([p.n_seqlets], dtype=np.int64))
            if seqlets is not None and "pattern" in seqlets:
                mine = seqlets[(seqlets["task"] == p.task) & (seqlets["pattern"] == p.name)]
                s.create_dataset("start", data=mine["start"].to_numpy(dtype=np.int64))
                s.create_dataset("end", data=mine["end"].to_numpy(dtype=np.int64))
                s.create_dataset("example_idx", data=mine["record_index"].to_numpy(dtype=np.int64))
                s.create_dataset("is_revcomp", data=(mine["strand"] == "-").to_numpy(dtype=bool))


def modisco_name_table(patterns: Sequence[Pattern], best: dict[str, str] | None = None) -> pd.DataFrame:
    """modisco-lite name -> our name and best known match (``finemo call-hits -N`` reads the first two
    columns of this table written without a header)."""
    names = modisco_names(patterns)
    rows = []
    for p in patterns:
        match = (best or {}).get(p.key, "novel")
        rows.append({"modisco_name": names[p.key], "name": f"{p.name}_{match}", "task": p.task,
                     "pattern": p.name, "match": match})
    return pd.DataFrame(rows, columns=["modisco_name", "name", "task", "pattern", "match"])
