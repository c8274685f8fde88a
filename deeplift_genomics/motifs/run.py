"""The whole motif pipeline: :func:`find_motifs` (pure, in memory) and :func:`write_motifs` (one
atomic output directory). The same pipeline over a ``score`` output read in blocks (bounded memory) and
its sharded steps: :mod:`.pipeline`.

Output directory:

=========================  ==============================================================================
``seqlets.tsv`` / ``.bed``  seqlet, record, start, end (seqlet with flanks), core_start, core_end, task,
                            sign, score (core sum), kept (clustered: the streamed pipeline's seeded
                            sample of at most ``seqlet_cap`` per task and sign), pattern, strand,
                            similarity, pattern_start (empty for seqlets not kept)
``patterns.tsv``            one row per pattern: task, sign, pattern, width, n_seqlets, n_instances,
                            contribution_share, best_match (or ``novel``), p_value, q_value, consensus
``matches.tsv``             the top TOMTOM matches of every pattern, with p, q and E values
``instances.tsv`` / ``.bed`` every hit (of ``--hit-caller``): task, sign, pattern, record, start, end,
                            strand, contribution, similarity, log_odds, p_value, score, match (known
                            motif or ``novel``), chrom, genome_start, genome_end, genome_strand (empty
                            when the records carry no genomic coordinates)
``hits/<task>.<pattern>.bed`` one BED6 per pattern: its hits in genome coordinates, named by the match
``modisco/<task>.h5``        the task's patterns as a modisco-lite results file (Fi-NeMo's
                            ``--modisco-h5``, ``modisco report``), with ``<task>.names.tsv`` (modisco
                            name, then ``<pattern>_<match>``: ``finemo call-hits -N`` reads it)
``instance_counts.tsv``     instances per record, task and pattern (records without any are left out)
``motifs.meme``             the patterns' PFMs in MEME format
``patterns.npz``            every pattern's CWM, hypothetical CWM and PFM
``summary.json``            settings, thresholds and counts per task
``report/``                 ``index.html`` and ``task_<k>.html`` (self-contained HTML)
=========================  ==============================================================================

BED files are written only when every record carries genomic coordinates.
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

from ..core.version import __version__
from ..io.atomic import atomic_directory
from .export import (
    genomic_intervals,
    meme_text,
    modisco_name_table,
    safe_name,
    write_bed,
    write_matrices,
    write_modisco_h5,
    write_tsv,
)
from .hits import HIT_COLUMNS, JointSettings, call_hits
from .inputs import ScoreTracks
from .instances import (
    InstanceSettings,
    base_composition,
    call_instances,
    contribution_share,
)
from .matches import BUILTIN_NAME, MATCH_COLUMNS, best_matches, load_database, match_patterns
from .patterns import Pattern, PatternSettings, discover_patterns
from .report import write_report_pages
from .seqlets import SeqletSettings, call_seqlets

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MotifSettings:
    """Every setting of the pipeline (see each stage's module for its meaning)."""

    seqlets: SeqletSettings = SeqletSettings()
    patterns: PatternSettings = PatternSettings()
    instances: InstanceSettings = InstanceSettings()
    joint: JointSettings = JointSettings()
    hit_caller: str = "joint"
    max_q: float = 0.05
    n_matches: int = 3
    seed: int = 0
    # seqlets kept per task and sign for clustering, a seeded sample (the streamed pipeline; modisco-lite's
    # max_seqlets_per_metacluster); the in-memory find_motifs keeps all
    seqlet_cap: int = 20_000

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (for ``summary.json``)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class MotifResults:
    """What :func:`find_motifs` found (tables described in :mod:`.run`)."""

    task_names: list[str]
    seqlets: pd.DataFrame
    patterns: list[Pattern]
    pattern_table: pd.DataFrame
    matches: pd.DataFrame
    instances: pd.DataFrame
    nulls: dict[str, dict]
    settings: MotifSettings
    database: str
    background: np.ndarray
    n_records: int
    record_lengths: np.ndarray
    match_probs: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    # task -> one line on why it has no seqlet, or on the model's held-out auROC near chance
    # (see nothing_found.py)
    caveats: dict[str, str] = dataclasses.field(default_factory=dict)
    # task -> sign -> seqlets kept for clustering (the streamed pipeline's cap); empty: all were
    kept: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)


HIT_CALLERS = ("joint", "window")


def call_task_hits(tracks: ScoreTracks, task: int, patterns: Sequence[Pattern], settings: MotifSettings,
                   caller: str | None = None) -> pd.DataFrame:
    """Hits of one task's patterns by ``caller`` (default ``settings.hit_caller``): ``joint``
    (:func:`~deeplift_genomics.motifs.hits.call_hits`) or ``window``
    (:func:`~deeplift_genomics.motifs.instances.call_instances`, whose ``score`` is the window's summed
    contribution). Columns :data:`~deeplift_genomics.motifs.hits.HIT_COLUMNS`."""
    caller = caller or settings.hit_caller
    seed = settings.seed + task
    if caller == "joint":
        return call_hits(tracks, task, patterns, settings.joint, seed=seed)
    if caller != "window":
        raise ValueError(f"unknown hit caller {caller!r} (known: {', '.join(HIT_CALLERS)})")
    out = call_instances(tracks, task, patterns, settings.instances, seed=seed)
    return out.assign(score=out["contribution"])[HIT_COLUMNS]


def consensus(pfm: np.ndarray) -> str:
    """Most frequent base per position, lower case where it has under half the weight."""
    pfm = np.asarray(pfm)
    out = []
    for col in pfm.T:
        b = "ACGT"[int(col.argmax())]
        out.append(b if col.max() >= 0.5 else b.lower())
    return "".join(out)


def find_motifs(tracks: ScoreTracks, settings: MotifSettings = MotifSettings(),
                database: tuple[list[str], list[np.ndarray], list[str]] | None = None,
                database_name: str = BUILTIN_NAME) -> MotifResults:
    """Seqlets, patterns, known-motif matches and instances of every task of ``tracks``.

    Parameters
    ----------
    tracks
        The scores (select tasks beforehand with :meth:`ScoreTracks.select_tasks`).
    settings
        Pipeline settings.
    database
        :func:`~deeplift_genomics.motifs.matches.load_database` output; default the packaged ENCODE motifs.
    database_name
        How the report names the database.
    """
    if database is None:
        database = load_database()
    seqlet_frames, all_patterns, instance_frames, nulls = [], [], [], {}
    shares: dict[str, float] = {}
    for t, task in enumerate(tracks.task_names):
        seqlets, null = call_seqlets(tracks.projected[t], tracks.offsets, tracks.names, task, settings.seqlets,
                                     seed=settings.seed + t)
        nulls[task] = null
        assignments, task_patterns = [], []
        for sign in ("pos", "neg"):
            rows = seqlets[seqlets["sign"] == sign]
            pats, assignment = discover_patterns(tracks, t, rows, sign, settings.seqlets.width,
                                                 settings.seqlets.flank, settings.patterns, seed=settings.seed)
            task_patterns += pats
            assignments.append(assignment)
        log.info("%s: %d positive and %d negative seqlets, %d patterns", task, int((seqlets["sign"] == "pos").sum()),
                 int((seqlets["sign"] == "neg").sum()), len(task_patterns))
        seqlets = seqlets.merge(pd.concat(assignments, ignore_index=True), on="seqlet", how="left")
        seqlet_frames.append(seqlets)
        inst = call_task_hits(tracks, t, task_patterns, settings)
        for name, share in contribution_share(tracks, t, inst).items():
            shares[f"{task}/{name}"] = share
        instance_frames.append(inst)
        all_patterns += task_patterns

    matches, match_probs = match_all(all_patterns, database, settings)
    seqlets = (pd.concat(seqlet_frames, ignore_index=True) if seqlet_frames else pd.DataFrame())
    return assemble_results(list(tracks.task_names), seqlets, all_patterns, matches, match_probs, instance_frames,
                            shares, nulls, settings, database_name, base_composition(tracks.onehot),
                            tracks.lengths)


def match_all(patterns: Sequence[Pattern], database: tuple[list[str], list[np.ndarray], list[str]],
              settings: MotifSettings) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """TOMTOM matches of every pattern and the PFM of each motif matched (for the report's logos)."""
    matches = match_patterns([p.pfm for p in patterns], [(p.name, p.task, p.sign) for p in patterns],
                             database, settings.n_matches)
    probs = {n: database[1][database[0].index(n)] for n in set(matches["match"])} if len(matches) else {}
    return (matches if len(matches) else pd.DataFrame(columns=MATCH_COLUMNS)), probs


def assemble_results(task_names: list[str], seqlets: pd.DataFrame, all_patterns: list[Pattern],
                     matches: pd.DataFrame, match_probs: dict[str, np.ndarray], instance_frames: list[pd.DataFrame],
                     shares: dict[str, float], nulls: dict[str, dict], settings: MotifSettings, database_name: str,
                     background: np.ndarray, record_lengths: np.ndarray) -> MotifResults:
    """:class:`MotifResults` from each stage's output: hits named by their pattern's best known match, and
    the pattern table."""
    best = best_matches(matches, settings.max_q)
    instances = (pd.concat(instance_frames, ignore_index=True) if instance_frames
                 else pd.DataFrame(columns=HIT_COLUMNS))
    best_by_key = {f"{r.task}/{r.pattern}": r for r in best.itertuples(index=False)}
    instances["match"] = pd.Series(
        [best_by_key[f"{t}/{p}"].match if f"{t}/{p}" in best_by_key else "novel"
         for t, p in zip(instances["task"], instances["pattern"])],
        index=instances.index, dtype=object,
    )
    n_inst = instances.groupby(["task", "pattern"]).size().to_dict() if len(instances) else {}
    rows = []
    for p in all_patterns:
        b = best_by_key.get(p.key)
        rows.append({"task": p.task, "sign": p.sign, "pattern": p.name, "width": p.width, "n_seqlets": p.n_seqlets,
                     "n_instances": int(n_inst.get((p.task, p.name), 0)),
                     "contribution_share": shares.get(p.key, 0.0),
                     "best_match": b.match if b is not None else "novel",
                     "p_value": b.p_value if b is not None else math.nan,
                     "q_value": b.q_value if b is not None else math.nan, "consensus": consensus(p.pfm)})
    pattern_table = pd.DataFrame(rows, columns=["task", "sign", "pattern", "width", "n_seqlets", "n_instances",
                                                "contribution_share", "best_match", "p_value", "q_value",
                                                "consensus"])
    return MotifResults(task_names=list(task_names), seqlets=seqlets, patterns=all_patterns,
                        pattern_table=pattern_table, matches=matches, instances=instances, nulls=nulls,
                        settings=settings, database=database_name, background=background,
                        n_records=len(record_lengths), record_lengths=record_lengths, match_probs=match_probs)


def instance_counts(instances: pd.DataFrame) -> pd.DataFrame:
    """Instances per record, task and pattern (``record, task, pattern, count``)."""
    if len(instances) == 0:
        return pd.DataFrame(columns=["record", "task", "pattern", "count"])
    return (instances.groupby(["record_index", "record", "task", "pattern"], sort=True).size()
            .rename("count").reset_index().drop(columns="record_index"))


def summary_dict(results: MotifResults, inputs: dict[str, Any]) -> dict[str, Any]:
    """What ``summary.json`` holds: inputs, settings, per-task thresholds and counts, patterns."""
    tasks = {}
    for task in results.task_names:
        sq = results.seqlets[results.seqlets["task"] == task] if len(results.seqlets) else results.seqlets
        inst = results.instances[results.instances["task"] == task]
        tasks[task] = {
            "null": {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                     for k, v in results.nulls[task].items()},
            "n_seqlets": {s: int((sq["sign"] == s).sum()) if len(sq) else 0 for s in ("pos", "neg")},
            "n_instances": int(len(inst)),
            "n_patterns": int(sum(p.task == task for p in results.patterns)),
        }
        if task in results.kept:
            tasks[task]["n_seqlets_kept"] = dict(results.kept[task])
        if task in results.caveats:
            tasks[task]["caveat"] = results.caveats[task]
    patterns = json.loads(results.pattern_table.to_json(orient="records"))
    return {"format": "deeplift-genomics-motifs", "version": __version__, "inputs": inputs,
            "database": results.database, "settings": results.settings.to_dict(),
            "n_records": results.n_records, "background": [float(v) for v in results.background],
            "tasks": tasks, "patterns": patterns}


def write_motifs(results: MotifResults, tracks: ScoreTracks, out_dir: str | Path,
                 inputs: dict[str, Any] | None = None, report: bool = True) -> Path:
    """Write every output (see the module docstring) into ``out_dir`` atomically, as a whole."""
    out = Path(out_dir)
    summary = summary_dict(results, inputs or {})
    best = dict(zip(results.pattern_table["task"] + "/" + results.pattern_table["pattern"],
                    results.pattern_table["best_match"]))
    with atomic_directory(out, "motifs") as tmp:
        write_tsv(results.seqlets, tmp / "seqlets.tsv")
        write_tsv(results.pattern_table, tmp / "patterns.tsv")
        write_tsv(results.matches, tmp / "matches.tsv")
        write_tsv(with_genome_coordinates(tracks, results.instances), tmp / "instances.tsv")
        write_tsv(instance_counts(results.instances), tmp / "instance_counts.tsv")
        (tmp / "motifs.meme").write_text(meme_text(results.patterns, results.background, best), encoding="utf-8")
        write_matrices(results.patterns, tmp / "patterns.npz")
        if tracks.has_coordinates():
            strand = results.seqlets["strand"].fillna(".") if "strand" in results.seqlets else "."
            sq = results.seqlets.assign(strand=strand)
            write_bed(tracks, sq, sq["task"] + "/" + sq["sign"], sq["score"].to_numpy(), tmp / "seqlets.bed")
            inst = results.instances
            write_bed(tracks, inst, inst["task"] + "/" + inst["pattern"] + "/" + inst["match"],
                      inst["contribution"].to_numpy(), tmp / "instances.bed")
            (tmp / "hits").mkdir()
            for p in results.patterns:
                mine = inst[(inst["task"] == p.task) & (inst["pattern"] == p.name)]
                write_bed(tracks, mine, mine["match"], mine["score"].to_numpy(),
                          tmp / "hits" / f"{safe_name(p.task)}.{p.name}.bed")
        write_modisco_files(results, tracks, tmp / "modisco", best)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if report:
            write_report_pages(results, summary, tmp / "report")
    log.info("wrote %s", out)
    return out


def with_genome_coordinates(tracks: ScoreTracks, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (rows with ``record_index, start, end, strand``) plus ``chrom, genome_start, genome_end,
    genome_strand``: the genomic interval when the records carry coordinates, else empty."""
    if tracks.has_coordinates() and len(table):
        g = genomic_intervals(tracks, table["record_index"].to_numpy(), table["start"].to_numpy(),
                              table["end"].to_numpy(), table["strand"].to_numpy())
        return table.assign(chrom=g["chrom"].to_numpy(), genome_start=g["start"].to_numpy(),
                            genome_end=g["end"].to_numpy(), genome_strand=g["strand"].to_numpy())
    return table.assign(chrom="", genome_start=pd.Series(dtype="Int64"), genome_end=pd.Series(dtype="Int64"),
                        genome_strand="")


def write_modisco_files(results: MotifResults, tracks: ScoreTracks, out: Path, best: dict[str, str]) -> None:
    """``modisco/<task>.h5`` and ``<task>.names.tsv`` for every task with patterns."""
    out.mkdir()
    window = int(tracks.lengths.max()) if tracks.n_records else 0
    for task in results.task_names:
        pats = [p for p in results.patterns if p.task == task]
        if not pats:
            continue
        write_modisco_h5(pats, out / f"{safe_name(task)}.h5", results.background, window,
                         results.seqlets if len(results.seqlets) else None)
        names = modisco_name_table(pats, best)
        # exactly two columns, no header: what `finemo call-hits -N` reads
        names[["modisco_name", "name"]].to_csv(out / f"{safe_name(task)}.names.tsv", sep="\t", index=False,
                                               header=False)
