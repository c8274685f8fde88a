"""The motif pipeline on a ``score`` output in bounded memory, whole or in three steps the workflow shards.

- :func:`find_motifs_streamed`: seqlets, patterns, matches and hits, every stage over blocks of records
  (:mod:`.stream`); what :func:`~deeplift_genomics.motifs.run.find_motifs` finds with every score in
  memory, but for the documented seqlet cap (``MotifSettings.seqlet_cap`` per task and sign).
- The same in steps (``motifs --discover-only``, ``--patterns DIR --shard K/N``, ``--gather``):

  1. :func:`discover_motifs` once over all records, written by :func:`write_discovery` (a directory
     holding ``discovery.json`` and ``discovery.npz``: seqlets, patterns at full precision, matches and
     the per-task sums the hits need);
  2. :func:`scan_shard` for each shard of records: the joint caller's eligible windows and null
     (``hits_scan.npz`` and ``shard.json``);
  3. :func:`gather_hits`: one threshold per task and sign over all shards, the joint fit, and the whole
     output directory (:func:`~deeplift_genomics.motifs.run.write_motifs`).

  Step 3 sees exactly the windows one run over all records sees, so the hits are the same
  (:mod:`.stream` says why).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.version import __version__
from ..io.atomic import atomic_directory
from ..io.output_dirs import check_output_path
from ..jobs.shards import check_shards, first_difference, shard_range, write_shard_info
from .hits import JointCaller
from .inputs import ScoreSource, open_score_dir, read_attributions
from .instances import shares_of
from .matches import BUILTIN_NAME, load_database
from .nothing_found import explain_no_seqlets, model_metrics, weak_model_line
from .patterns import Pattern
from .run import MotifResults, MotifSettings, assemble_results, find_motifs, match_all, write_motifs
from .stream import (
    DEFAULT_CHUNK_BASES,
    fit_hits,
    hit_callers,
    scan_hits,
    stream_patterns,
    stream_seqlets,
    window_caller_hits,
)

log = logging.getLogger(__name__)

DISCOVERY_FORMAT = "deeplift-genomics-motif-discovery"
SHARD_FORMAT = "deeplift-genomics-motif-hits-shard"
SCAN_FILE = "hits_scan.npz"
DEFAULT_SETTINGS = MotifSettings()


@dataclasses.dataclass
class Discovery:
    """What pattern discovery found over all records: everything the hit steps and the outputs need.

    ``totals[task]`` holds the sums of ``max(+-projected, 0)`` over all bases (``pos``, ``neg``), the
    denominators of the contribution shares; ``kept[task]`` the seqlets kept for clustering per sign.
    """

    task_names: list[str]
    seqlets: pd.DataFrame
    patterns: list[Pattern]
    matches: pd.DataFrame
    match_probs: dict[str, np.ndarray]
    nulls: dict[str, dict]
    kept: dict[str, dict[str, int]]
    totals: dict[str, dict[str, float]]
    background: np.ndarray
    record_lengths: np.ndarray
    settings: MotifSettings
    database: str

    def task_patterns(self, task: str) -> list[Pattern]:
        """The patterns of ``task``."""
        return [p for p in self.patterns if p.task == task]


def discover_motifs(source: ScoreSource, settings: MotifSettings = DEFAULT_SETTINGS,
                    database: tuple[list[str], list[np.ndarray], list[str]] | None = None,
                    database_name: str = BUILTIN_NAME, chunk_bases: int | None = DEFAULT_CHUNK_BASES) -> Discovery:
    """Seqlets, patterns and known-motif matches of every task of ``source``, reading blocks of records."""
    if database is None:
        database = load_database()
    meta = source.meta
    frames, patterns, nulls, kept, totals = [], [], {}, {}, {}
    background = np.full(4, 0.25)
    for t, task in enumerate(meta.task_names):
        table, null, windows, starts, sums = stream_seqlets(
            source, t, settings.seqlets, settings.seqlet_cap, settings.patterns.pad, seed=settings.seed + t,
            chunk_bases=chunk_bases)
        if t == 0 and sums["counts"].sum() > 0:
            background = sums["counts"] / sums["counts"].sum()
        # a sum of the per-record sums, correctly rounded, whatever the blocks were
        totals[task] = {sign: math.fsum(sums[sign].tolist()) for sign in ("pos", "neg")}
        nulls[task] = null
        kept[task] = {sign: int(table.loc[table["sign"] == sign, "kept"].astype(bool).sum()) if len(table) else 0
                      for sign in ("pos", "neg")}
        pats, table = stream_patterns(table, windows, starts, settings.seqlets, settings.patterns, settings.seed)
        del windows
        log.info("%s: %d positive and %d negative seqlets (%d and %d kept), %d patterns", task,
                 int((table["sign"] == "pos").sum()) if len(table) else 0,
                 int((table["sign"] == "neg").sum()) if len(table) else 0, kept[task]["pos"], kept[task]["neg"],
                 len(pats))
        frames.append(table.drop(columns=["gpos"]))
        patterns += pats
    matches, probs = match_all(patterns, database, settings)
    seqlets = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return Discovery(list(meta.task_names), seqlets, patterns, matches, probs, nulls, kept, totals, background,
                     meta.lengths, settings, database_name)


def results_of(disc: Discovery, hits: dict[str, pd.DataFrame]) -> MotifResults:
    """:class:`~deeplift_genomics.motifs.run.MotifResults` from a discovery and each task's hits."""
    shares: dict[str, float] = {}
    for task in disc.task_names:
        for name, share in shares_of(hits[task], disc.totals[task]).items():
            shares[f"{task}/{name}"] = share
    results = assemble_results(disc.task_names, disc.seqlets, disc.patterns, disc.matches, disc.match_probs,
                               [hits[t] for t in disc.task_names], shares, disc.nulls, disc.settings, disc.database,
                               disc.background, disc.record_lengths)
    results.kept = disc.kept
    return results


def find_motifs_streamed(source: ScoreSource, settings: MotifSettings = DEFAULT_SETTINGS,
                         database: tuple[list[str], list[np.ndarray], list[str]] | None = None,
                         database_name: str = BUILTIN_NAME,
                         chunk_bases: int | None = DEFAULT_CHUNK_BASES) -> MotifResults:
    """The whole pipeline over ``source`` in blocks of at most ``chunk_bases`` bases (``None``: one block)."""
    disc = discover_motifs(source, settings, database, database_name, chunk_bases)
    hits = {}
    for t, task in enumerate(disc.task_names):
        if settings.hit_caller == "window":
            hits[task] = window_caller_hits(source, t, disc.task_patterns(task), settings)
            continue
        callers = hit_callers(disc.task_patterns(task), disc.background, settings, t)
        scan_hits(source, t, callers, chunk_bases=chunk_bases)
        hits[task] = fit_hits(callers, task, source.meta.names)
    return results_of(disc, hits)


# ------------------------------------------------------------------------------------------ the three steps
def _settings_json(settings: MotifSettings) -> Any:
    return json.loads(json.dumps(settings.to_dict()))


def write_discovery(disc: Discovery, out: Path, inputs: dict[str, Any]) -> None:
    """``discovery.json`` and ``discovery.npz`` (patterns at full precision) into the directory ``out``."""
    arrays: dict[str, np.ndarray] = {"background": disc.background, "record_lengths": disc.record_lengths}
    for k, p in enumerate(disc.patterns):
        for m in ("cwm", "hcwm", "pfm"):
            arrays[f"pattern{k}_{m}"] = np.asarray(getattr(p, m), dtype=np.float64)
    for name, probs in disc.match_probs.items():
        arrays[f"match_{name}"] = np.asarray(probs, dtype=np.float64)
    info = {"format": DISCOVERY_FORMAT, "version": __version__, "inputs": inputs, "task_names": disc.task_names,
            "settings": _settings_json(disc.settings), "database": disc.database,
            "patterns": [{"name": p.name, "task": p.task, "sign": p.sign, "n_seqlets": p.n_seqlets}
                         for p in disc.patterns],
            "match_names": sorted(disc.match_probs), "nulls": disc.nulls, "kept": disc.kept, "totals": disc.totals,
            "tables": {name: _table_arrays(table, name, arrays) for name, table in
                       (("seqlets", disc.seqlets), ("matches", disc.matches))}}
    with open(out / "discovery.npz", "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
    (out / "discovery.json").write_text(json.dumps(info, allow_nan=True) + "\n", encoding="utf-8")


def _table_arrays(table: pd.DataFrame, name: str, arrays: dict[str, np.ndarray]) -> dict[str, str]:
    """Put each column of ``table`` in ``arrays`` (bit for bit; text as text); its columns and dtypes."""
    kinds = {}
    for col in table.columns:
        values = table[col].to_numpy()
        if values.dtype == object:
            values = values.astype(str)
        arrays[f"{name}/{col}"] = values
        kinds[str(col)] = str(table[col].dtype)
    return kinds


def _table_of(kinds: dict[str, str], name: str, npz: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame({col: (npz[f"{name}/{col}"].astype(object) if kind == "object" else npz[f"{name}/{col}"])
                         for col, kind in kinds.items()})


def read_discovery(path: str | Path, settings: MotifSettings) -> Discovery:
    """A :func:`write_discovery` directory; its settings must be ``settings`` (those of the hit steps).

    Raises
    ------
    InputError
        Not a discovery directory, or made with other settings (the first difference named).
    """
    root = Path(path)
    try:
        info = json.loads((root / "discovery.json").read_text(encoding="utf-8"))
        npz = dict(np.load(root / "discovery.npz"))
    except (OSError, ValueError) as exc:
        raise InputError(f"motifs: {root}: not a pattern discovery directory (`motifs --discover-only`): {exc}") \
            from None
    if info.get("format") != DISCOVERY_FORMAT:
        raise InputError(f"motifs: {root}/discovery.json: not a {DISCOVERY_FORMAT} file")
    diff = first_difference(info["settings"], _settings_json(settings), "settings")
    if diff:
        raise InputError(f"motifs: {root} was discovered with other settings than these hits: {diff}")
    patterns = [Pattern(p["name"], p["task"], p["sign"], npz[f"pattern{k}_cwm"], npz[f"pattern{k}_hcwm"],
                        npz[f"pattern{k}_pfm"], int(p["n_seqlets"])) for k, p in enumerate(info["patterns"])]
    seqlets = _table_of(info["tables"]["seqlets"], "seqlets", npz)
    matches = _table_of(info["tables"]["matches"], "matches", npz)
    nulls = {t: {k: (math.inf if v is None and k.startswith("threshold_") and not k.startswith("threshold_exact")
                     else v) for k, v in d.items()} for t, d in info["nulls"].items()}
    return Discovery(list(info["task_names"]), seqlets, patterns, matches,
                     {n: npz[f"match_{n}"] for n in info["match_names"]}, nulls, info["kept"], info["totals"],
                     npz["background"], npz["record_lengths"], settings, info["database"])


def scan_shard(source: ScoreSource, disc: Discovery, shard: tuple[int, int],
               chunk_bases: int | None = DEFAULT_CHUNK_BASES) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """The joint caller's windows and null of the records of ``shard``, for every task and sign."""
    n = source.meta.n_records
    lo, hi = shard_range(n, shard, 1)
    arrays: dict[str, np.ndarray] = {}
    for t, task in enumerate(disc.task_names):
        callers = hit_callers(disc.task_patterns(task), disc.background, disc.settings, t)
        scan_hits(source, t, callers, lo, hi, chunk_bases)
        for caller in callers:
            for key, value in caller.state().items():
                arrays[f"{t}/{caller.sign}/{key}"] = value
    return arrays, (lo, hi)


def gather_hits(disc: Discovery, states: Sequence[dict[str, np.ndarray]], names: np.ndarray) -> MotifResults:
    """Hits of every task from the shards' scans (in shard order): one threshold over all, then the fit."""
    hits = {}
    for t, task in enumerate(disc.task_names):
        callers: list[JointCaller] = hit_callers(disc.task_patterns(task), disc.background, disc.settings, t)
        for caller in callers:
            prefix = f"{t}/{caller.sign}/"
            caller.merged([{k[len(prefix):]: v for k, v in st.items() if k.startswith(prefix)} for st in states])
        hits[task] = fit_hits(callers, task, names)
    return results_of(disc, hits)


# --------------------------------------------------------------------------------------------- commands
def _database(motif_db: Sequence[str | Path] | None) -> tuple[tuple, str]:
    database = load_database(motif_db)
    return database, (", ".join(Path(p).name for p in motif_db) if motif_db else BUILTIN_NAME)


def _caveats(results: MotifResults, scores: str | Path | None) -> None:
    metrics, metrics_path = model_metrics(scores) if scores is not None else (None, None)
    for task in results.task_names:
        sq = results.seqlets[results.seqlets["task"] == task] if len(results.seqlets) else results.seqlets
        line = (explain_no_seqlets(task, results.nulls[task], metrics, metrics_path) if len(sq) == 0
                else weak_model_line(task, len(sq), metrics, metrics_path))
        if line:
            results.caveats[task] = line
            log.warning("%s", line)


def _check_window(settings: MotifSettings, lengths: np.ndarray) -> None:
    longest = int(lengths.max()) if len(lengths) else 0
    if settings.seqlets.width > longest:
        raise InputError(f"motifs: --window {settings.seqlets.width} is longer than every record (the longest has "
                         f"{longest} bp): no seqlet can be found")


def _inputs(scores: Any, attributions: Any, data: Any, tasks: Sequence[str], motif_db: Any) -> dict[str, Any]:
    return {"scores": str(scores) if scores else None, "attributions": str(attributions) if attributions else None,
            "data": str(data) if data else None, "tasks": list(tasks),
            "motif_db": [str(p) for p in motif_db] if motif_db else None}


def run_motifs(out_dir: str | Path, *, scores: str | Path | None = None, attributions: str | Path | None = None,
               data: str | Path | None = None, test_ids: str | Path | None = None, tasks: Sequence[str] | None = None,
               motif_db: Sequence[str | Path] | None = None, settings: MotifSettings = DEFAULT_SETTINGS,
               report: bool = True, chunk_bases: int | None = DEFAULT_CHUNK_BASES,
               discover_only: bool = False) -> MotifResults | Discovery:
    """Read scores (a ``score`` directory, in blocks; or an ``attribute`` file with its dataset, in
    memory), find motifs, write ``out_dir`` (with ``discover_only``: the discovery directory of step 1).

    Everything that can be refused (inputs, task names, motif files) is checked before any output is
    written.
    """
    if (scores is None) == (attributions is None):
        raise InputError("motifs: give either a score directory or an attribution file (with its dataset)")
    check_output_path(out_dir, (scores, attributions, data, test_ids, *(motif_db or ())))
    if scores is None:
        if data is None:
            raise InputError("motifs: an attribution file needs its dataset (--data)")
        if discover_only:
            raise InputError("motifs: --discover-only works on a score directory (--scores)")
        assert attributions is not None  # exactly one of scores and attributions, checked above
        tracks = read_attributions(attributions, data, test_ids).select_tasks(list(tasks) if tasks else None)
        _check_window(settings, tracks.lengths)
        database, name = _database(motif_db)
        results = find_motifs(tracks, settings, database, name)
        _caveats(results, None)
        write_motifs(results, tracks, out_dir, _inputs(None, attributions, data, tracks.task_names, motif_db),
                     report=report)
        return results
    with open_score_dir(scores, list(tasks) if tasks else None) as source:
        _check_window(settings, source.meta.lengths)
        database, name = _database(motif_db)
        inputs = _inputs(scores, None, None, source.meta.task_names, motif_db)
        if discover_only:
            disc = discover_motifs(source, settings, database, name, chunk_bases)
            with atomic_directory(Path(out_dir), "motifs --discover-only") as tmp:
                write_discovery(disc, tmp, inputs)
            return disc
        results = find_motifs_streamed(source, settings, database, name, chunk_bases)
        _caveats(results, scores)
        write_motifs(results, source.meta, out_dir, inputs, report=report)
    return results


def run_hits_shard(out_dir: str | Path, *, scores: str | Path, patterns: str | Path, shard: tuple[int, int],
                   settings: MotifSettings = DEFAULT_SETTINGS, chunk_bases: int | None = DEFAULT_CHUNK_BASES,
                   tasks: Sequence[str] | None = None) -> Path:
    """Step 2: scan the records of ``shard`` for hits of the discovered ``patterns``; writes
    ``hits_scan.npz`` and ``shard.json`` into ``out_dir``."""
    check_output_path(out_dir, (scores, patterns))
    disc = read_discovery(patterns, settings)
    with open_score_dir(scores, disc.task_names) as source:
        if tasks and list(tasks) != disc.task_names:
            raise InputError(f"motifs: --tasks {','.join(tasks)} differ from the discovery's "
                             f"({','.join(disc.task_names)})")
        if len(source.meta.lengths) != len(disc.record_lengths) or \
                not np.array_equal(source.meta.lengths, disc.record_lengths):
            raise InputError(f"motifs: {scores} holds other records than the ones {patterns} was discovered on")
        arrays, block = scan_shard(source, disc, shard, chunk_bases)
        n = source.meta.n_records
    out = Path(out_dir)
    with atomic_directory(out, "motifs --shard") as tmp:
        with open(tmp / SCAN_FILE, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        write_shard_info(tmp, SHARD_FORMAT, shard, "record", block, n,
                         {"settings": {"options": {"chunk_size": 1}, "motifs": _settings_json(settings)},
                          "patterns": str(Path(patterns).resolve())})
    return out


def run_gather(out_dir: str | Path, *, scores: str | Path, patterns: str | Path, shard_dirs: Sequence[str | Path],
               settings: MotifSettings = DEFAULT_SETTINGS, report: bool = True) -> MotifResults:
    """Step 3: the hits of all shards fitted and the whole output directory written."""
    check_output_path(out_dir, (scores, patterns, *shard_dirs))
    disc = read_discovery(patterns, settings)
    shards = check_shards("motifs", shard_dirs, SHARD_FORMAT, "record", [SCAN_FILE], ["settings", "patterns"])
    states = [dict(np.load(path / SCAN_FILE)) for path, _ in shards]
    with open_score_dir(scores, disc.task_names) as source:
        meta = source.meta
    results = gather_hits(disc, states, meta.names)
    _caveats(results, scores)
    inputs = _inputs(scores, None, None, disc.task_names, None)
    write_motifs(results, meta, out_dir, inputs, report=report)
    return results
