"""Known-motif matches: every pattern's PFM compared with a motif database by TOMTOM.

The comparison is memelite's ``tomtom`` (Gupta et al. 2007, "complete score" variant, Euclidean column
distance, both strands): a p-value per pattern and database motif for the best alignment. q-values are
Benjamini-Hochberg over all motifs of the database(s) for each pattern (as MEME's ``tomtom`` reports
them); a pattern whose best q-value is not below ``max_q`` is **novel**.

Databases: the ENCODE collection shipped with the package (Kheradpour & Kellis 2014, 2,067 motifs;
:func:`load_database` with no path) or any MEME, JASPAR, ENCODE or PFM file (read by
:func:`data_sim.motifs.load_motifs`, which refuses malformed files with one line naming the file and line).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from data_sim.motifs import builtin_motifs, load_motifs

from ..io.fasta import require_regular_file

log = logging.getLogger(__name__)

MATCH_COLUMNS = ["pattern", "task", "sign", "rank", "match", "database", "p_value", "q_value", "e_value",
                 "strand", "offset", "overlap"]
BUILTIN_NAME = "ENCODE (Kheradpour & Kellis 2014)"


def load_database(paths: Sequence[str | Path] | None = None) -> tuple[list[str], list[np.ndarray], list[str]]:
    """Motifs to compare patterns with.

    Parameters
    ----------
    paths
        Motif files (MEME, JASPAR, ENCODE or PFM format, plain or gzip); ``None`` or empty gives the
        packaged ENCODE collection.

    Returns
    -------
    names, probs, sources : list
        Motif ids, ``(4, W)`` probability matrices and the database each came from. Ids repeated across
        files keep the first, with a warning naming them (as repeats within one file do).

    Raises
    ------
    InputError
        A file that is missing, unreadable or malformed.
    """
    names: list[str] = []
    probs: list[np.ndarray] = []
    sources: list[str] = []
    if not paths:
        collections = [(BUILTIN_NAME, builtin_motifs())]
    else:
        collections = []
        for path in paths:
            require_regular_file(Path(path), "motif file", "must be a file on disk")
            collections.append((Path(path).name, load_motifs(path)))
    seen: set[str] = set()
    repeated: list[str] = []
    for source, motifs in collections:
        for name, motif in motifs.items():
            if name in seen:
                repeated.append(f"{name} ({source})")
                continue
            seen.add(name)
            names.append(name)
            probs.append(np.ascontiguousarray(motif.probs.T))
            sources.append(source)
    if repeated:
        log.warning("%d motif id(s) repeat an earlier file's and are not used (the first is kept): %s",
                    len(repeated), ", ".join(repeated[:5]) + (", ..." if len(repeated) > 5 else ""))
    return names, probs, sources


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of the p-values along the last axis."""
    p = np.asarray(p, dtype=np.float64)
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1) * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1]
    q = np.empty_like(q_sorted)
    np.put_along_axis(q, order, np.minimum(q_sorted, 1.0), axis=-1)
    return q


def match_patterns(pfms: Sequence[np.ndarray], keys: Sequence[tuple[str, str, str]],
                   database: tuple[list[str], list[np.ndarray], list[str]], n_top: int = 3) -> pd.DataFrame:
    """Top TOMTOM matches of each pattern.

    Parameters
    ----------
    pfms
        ``(4, W)`` probability matrices of the patterns.
    keys
        ``(pattern, task, sign)`` of each.
    database
        :func:`load_database` output.
    n_top
        Matches kept per pattern.

    Returns
    -------
    pandas.DataFrame
        :data:`MATCH_COLUMNS`, ``n_top`` rows per pattern, best first; ``strand`` ``+``/``-`` is the
        database motif's strand in the alignment; ``e_value = p x number of database motifs``.
    """
    names, probs, sources = database
    if not len(pfms):
        return pd.DataFrame(columns=MATCH_COLUMNS)
    from memelite import tomtom

    queries = [np.ascontiguousarray(np.asarray(q, dtype=np.float64)) for q in pfms]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few targets: the p-values say so themselves
        p, _, offsets, overlaps, strands = tomtom(queries, probs)
    p = np.clip(np.nan_to_num(np.asarray(p, dtype=np.float64), nan=1.0), 0.0, 1.0)
    q = bh_qvalues(p)
    rows = []
    for i, (pattern, task, sign) in enumerate(keys):
        top = np.lexsort((np.arange(p.shape[1]), p[i]))[:n_top]
        for rank, j in enumerate(top):
            rows.append({"pattern": pattern, "task": task, "sign": sign, "rank": rank + 1, "match": names[j],
                         "database": sources[j], "p_value": float(p[i, j]), "q_value": float(q[i, j]),
                         "e_value": float(p[i, j] * len(names)),
                         "strand": "-" if int(strands[i, j]) == 1 else "+",
                         "offset": int(offsets[i, j]), "overlap": int(overlaps[i, j])})
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def best_matches(matches: pd.DataFrame, max_q: float = 0.05) -> pd.DataFrame:
    """One row per pattern: its best match if ``q_value < max_q``, else ``match == "novel"``."""
    if len(matches) == 0:
        return pd.DataFrame(columns=MATCH_COLUMNS)
    best = matches[matches["rank"] == 1].copy()
    novel = ~(best["q_value"] < max_q)
    best.loc[novel, "match"] = "novel"
    return best.reset_index(drop=True)
