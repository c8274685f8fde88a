"""Run the simulated GATA1/TAL1 benchmark (paper Fig. 5): attributions of every method, tables, figures.

:func:`run_benchmark` takes resolved settings (see :data:`deeplift_genomics.cli.benchmark.SETTINGS`),
uses the given attribution files (matched to a model by the model checksum recorded in them), computes
every missing method of the comparison, and writes the output directory as a whole (see the ``benchmark``
command for its files). The analysis itself is :mod:`.analysis`; figures and logos :mod:`.figures` and
:mod:`.logos`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from data_sim.motifs import builtin_motifs
from data_sim.scan import scan_motif

from ..core.errors import InputError
from ..core.version import __version__
from ..datasets.load import load_dataset
from ..io.atomic import atomic_directory
from ..io.attributions import Attributions, check_same_data, load_attributions, model_checksum
from ..models.files import LoadedModel, load_model
from ..models.spec import architecture_name
from ..motifs.inputs import tracks_of_attributions
from ..motifs.recovery import method_recovery, truth_from_embeddings
from . import analysis as bm
from . import figures as fg
from . import logos as lg
from .attributions import check_model_fits, compute_attributions, select_sequences
from .methods import DEEPLIFT_BACKGROUND, DEFAULT_METHODS, MethodSpec, display_name

if TYPE_CHECKING:
    from ..datasets.load import Dataset

log = logging.getLogger(__name__)

METHOD_CHOICES = ("deeplift", "gradient_x_input", "guided_backprop_x_input", "integrated_gradients", "ism")
RULE_CHOICES = ("rescale", "reveal_cancel", "genomics_default")
REFERENCE_CHOICES = ("shuffle", "background", "zeros")

MOTIFS = (bm.GATA, bm.TAL1)


@dataclasses.dataclass
class ModelResult:
    """One model's part of the benchmark: its attributions and the tables computed from them."""

    name: str
    dir: str
    checksum: str
    task_names: list[str]
    atts: dict[str, Attributions]
    importance: pd.DataFrame
    fig5b: pd.DataFrame
    metrics: pd.DataFrame
    spearman: pd.DataFrame
    architecture: str = "conv"
    group: str = ""  # models of one architecture share it (seeds); another architecture is reported apart


LOGO_METHODS = ("gradient_x_input", "guided_backprop_x_input", "integrated_gradients", *DEEPLIFT_BACKGROUND)


def parse_methods(entries: Any, source: str = "config") -> list[MethodSpec]:
    """Method specs from a config's ``methods`` list (dicts, or plain method names)."""
    if entries is None:
        return list(DEFAULT_METHODS)
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{source}: 'methods' must be a non-empty list")
    specs = []
    allowed = {f.name for f in dataclasses.fields(MethodSpec)}
    for k, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"method": entry}
        if not isinstance(entry, dict):
            raise InputError(f"{source}: methods[{k}] must be a mapping or a method name")
        unknown = set(entry) - allowed
        if unknown:
            raise InputError(f"{source}: methods[{k}]: unknown key '{sorted(unknown)[0]}' "
                             f"(allowed: {', '.join(sorted(allowed))})")
        spec = MethodSpec(**entry)
        if spec.method not in METHOD_CHOICES:
            raise InputError(f"{source}: methods[{k}].method '{spec.method}' is not one of {', '.join(METHOD_CHOICES)}")
        if spec.rule not in RULE_CHOICES:
            raise InputError(f"{source}: methods[{k}].rule '{spec.rule}' is not one of {', '.join(RULE_CHOICES)}")
        if spec.references not in REFERENCE_CHOICES:
            raise InputError(f"{source}: methods[{k}].references '{spec.references}' is not one of "
                             f"{', '.join(REFERENCE_CHOICES)}")
        specs.append(spec)
    labels = [s.label for s in specs]
    dup = {x for x in labels if labels.count(x) > 1}
    if dup:
        raise InputError(f"{source}: method '{sorted(dup)[0]}' is listed twice")
    return specs


def _model_name(path: str | Path, used: set[str]) -> str:
    name = Path(path).resolve().name or "model"
    base, k = name, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


def analyse_model(
    ds: Dataset, projected: dict[str, np.ndarray], hits: pd.DataFrame, masks: dict[str, np.ndarray],
    min_log_odds: float,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """All tables of one model: hit importance, Fig. 5b, per-base metrics with Spearman, Spearman per motif."""
    importance = bm.hit_importance(hits, projected)
    fig5b = bm.false_negative_rates(importance, task=0, min_log_odds=min_log_odds)
    per_base = bm.per_base_metrics(projected, masks)
    spearman = bm.spearman_table(importance)
    return importance, fig5b, bm.metrics_table(per_base, spearman), spearman


def motif_recovery(ds: Dataset, atts: dict[str, Any], task_names: list[str]) -> pd.DataFrame:
    """Motif recovery per attribution method: seqlets and instance calls of :mod:`deeplift_genomics.motifs`
    on each method's scores, scored against the embedded instances of each task's relevant motifs.

    Methods without hypothetical contributions (ISM) use their per-base scores on the observed base.
    """
    truth = truth_from_embeddings(ds.embeddings)
    relevant = {task_names[t]: list(m) for t, m in bm.DEFAULT_RELEVANT.items() if t < len(task_names)}
    onehot = ds.onehot.astype(np.float32)
    frames = []
    for label, att in atts.items():
        tracks = tracks_of_attributions(att, onehot, task_names, ds.ids, label)
        table = method_recovery(tracks, truth, relevant)
        table.insert(0, "method", label)
        frames.append(table)
        log.info("motif recovery of %s done", label)
    return pd.concat(frames, ignore_index=True)


def motif_hits(ds: Dataset, top_n: int) -> tuple[dict[str, Any], pd.DataFrame, dict[str, np.ndarray]]:
    """The benchmark's motifs, its hits (the ``top_n`` best scan hits per sequence and motif, marked
    embedded or not, plus every embedded instance) and the per-base masks of the embedded instances."""
    motifs = builtin_motifs(list(MOTIFS))
    scans = {m: scan_motif(ds.onehot, motifs[m], top_n=top_n) for m in MOTIFS}
    scan_hits = bm.scanned_hits(scans, ds.ids, ds.classes)
    truth = bm.embedded_hits(ds.embeddings, ds.ids, ds.classes)
    scan_hits["embedded"] = bm.mark_embedded(scan_hits, truth)
    truth["embedded"] = True
    hits = pd.concat([scan_hits, truth], ignore_index=True)
    return motifs, hits, bm.motif_masks(truth, len(ds.ids), ds.onehot.shape[2])


def model_attributions(
    model: Any, name: str, ds: Dataset, specs: list[MethodSpec], provided: dict[str, Any], s: dict[str, Any],
    settings: dict[str, Any], timings: list[dict],
) -> dict[str, Any]:
    """One model's attributions by label: each spec's from ``provided`` (files) or computed, then the
    files of methods outside the list; appends each one's source and seconds to ``timings``."""
    atts: dict[str, Any] = {}
    for spec in specs:
        if spec.label in provided:
            atts[spec.label] = provided.pop(spec.label)
            timings.append({"model": name, "method": spec.label, "source": "file", "seconds": 0.0})
            continue
        t0 = time.perf_counter()
        log.info("%s: computing %s", name, spec.display)
        kw = spec.engine_kwargs()
        atts[spec.label] = compute_attributions(
            model, ds.onehot, ds.ids, method=spec.method, rule=spec.rule, references=spec.references,
            n_references=kw.get("n_references", 1), n_steps=spec.n_steps, batch_size=int(s["batch_size"]),
            device=s["device"], seed=int(s["seed"]), settings=settings)
        seconds = time.perf_counter() - t0
        timings.append({"model": name, "method": spec.label, "source": "computed", "seconds": seconds})
        log.info("%s: %s took %.1f s", name, spec.label, seconds)
    for label, att in provided.items():  # files for methods outside the list are compared too
        atts[label] = att
        timings.append({"model": name, "method": label, "source": "file", "seconds": 0.0})
    return atts


def run_benchmark(s: dict[str, Any]) -> None:
    """The benchmark with resolved settings ``s`` (see :data:`DEFAULTS`); writes ``s['out']``."""
    t_start = time.perf_counter()
    specs = _method_specs(s)
    models = s["model"] if isinstance(s["model"], list) else [s["model"]]
    full = load_dataset(s["data"], test_ids=s["test_ids"])
    ds = select_sequences(full, s["split"], s["max_sequences"], s["seed"])
    n = len(ds.ids)
    if n == 0:
        raise InputError(f"{s['data']}: no sequences to benchmark in split '{s['split']}'")
    log.info("benchmarking %d sequences (%s split) with %d methods on %d model(s)", n, s["split"], len(specs),
             len(models))

    motifs, hits, masks = motif_hits(ds, int(s["top_n"]))

    file_paths, files = _attribution_files(s, full.checksum)
    used_names: set[str] = set()
    per_model: list[ModelResult] = []
    timings: list[dict] = []
    for model_dir in models:
        per_model.append(_benchmark_model(model_dir, ds, full.checksum, specs, s, file_paths, files, hits, masks,
                                          used_names, timings))  # fmt: skip
        if any(m.group == per_model[-1].group for m in per_model[:-1]):
            # figures, logos and motif recovery use the first model of each architecture: free the others'
            for a in per_model[-1].atts.values():
                a.hypothetical = a.hypothetical[:, :, :, :0]

    first = per_model[0]
    seeds = [m for m in per_model if m.group == first.group]  # the first architecture: mean and spread
    others = _other_architectures(per_model)
    task_names = list(first.task_names)
    methods = list(first.atts)
    fig5b_first = first.fig5b.drop(columns="model")
    metrics_all = pd.concat([m.metrics for m in per_model], ignore_index=True)
    claims = bm.evaluate_claims(fig5b_first, first.metrics)
    recovery = _motif_recovery_timed(s, ds, first, task_names, timings)
    other_recovery = {m.name: _motif_recovery_timed(s, ds, m, list(m.task_names), timings) for m in others}

    with atomic_directory(s["out"], "benchmark") as out:
        summary_tables = _write_tables(out, per_model, seeds, metrics_all, fig5b_first, claims, recovery)
        summary_tables |= _write_other_tables(out, first, recovery, others, other_recovery)
        figures = _figures_timed(out, s, ds, first, methods, task_names, motifs, seeds, metrics_all, timings)
        summary = {
            "version": __version__,
            "settings": _settings_summary(s, file_paths, models),
            "data": _data_summary(s, full.checksum, ds),
            "models": [{"name": m.name, "dir": m.dir, "checksum": m.checksum, "architecture": m.architecture}
                       for m in per_model],
            "task_names": task_names,
            "tasks": _tasks_summary(task_names),
            "methods": [{"label": k, "display": display_name(k)} for k in methods],
            "motifs": {m: bm.MOTIF_LABELS[m] for m in MOTIFS},
            "min_log_odds": float(s["min_log_odds"]),
            "fig5b": _records(fig5b_first),
            "paper_fig5b": {"motif": bm.TAL1, "rates": bm.PAPER_FIG5B_TAL1},
            "metrics": _records(metrics_all),
            "claims": _records(claims),
            "deltas_max_abs": {k: float(np.max(a.deltas_max_abs)) if len(a.deltas_max_abs) else 0.0
                               for k, a in first.atts.items()},
            "figures": figures,
            "timings": timings,
            "wall_seconds": time.perf_counter() - t_start,
        } | summary_tables
        (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default), encoding="utf-8")
    log.info("wrote %s in %.1f s", s["out"], time.perf_counter() - t_start)


def _method_specs(s: dict[str, Any]) -> list[MethodSpec]:
    """The methods to compute: none when attribution files are given without a method list."""
    # Attribution files without a method list mean "compare these": computing the default list on top
    # would redo, slowly, whatever a workflow chose to leave out.
    if s["methods"] is None and s["attributions"]:
        specs = []
    else:
        specs = parse_methods(s["methods"], s.get("config") or "config")
    return specs


def _attribution_files(s: dict[str, Any], data_checksum: str) -> tuple[list, list[Attributions]]:
    """The attribution files given and their contents, each checked to be of the benchmark's data."""
    files = [load_attributions(p) for p in (s["attributions"] or [])]
    file_paths = list(s["attributions"] or [])
    for path, att in zip(file_paths, files):
        check_same_data(att, data_checksum, path, s["data"])
    return file_paths, files


def _benchmark_model(
    model_dir: Any,
    ds: Dataset,
    data_checksum: str,
    specs: list[MethodSpec],
    s: dict[str, Any],
    file_paths: list,
    files: list[Attributions],
    hits: pd.DataFrame,
    masks: dict[str, np.ndarray],
    used_names: set[str],
    timings: list[dict],
) -> ModelResult:
    """Attribute one model (computing or taking from the files its methods) and analyse its scores."""
    lm = load_model(model_dir, device="cpu")
    check_model_fits(lm, ds, s["data"])
    checksum = model_checksum(model_dir)
    name = _model_name(model_dir, used_names)
    provided: dict[str, Any] = {}
    for path, att in zip(file_paths, files):
        recorded = att.settings.get("model_checksum")
        if recorded not in (None, checksum):
            continue
        provided[att.label] = att.select(ds.ids, source=str(path))
        log.info("%s: using %s for %s", name, path, att.label)
    settings = {"model_checksum": checksum, "data_checksum": data_checksum}
    atts = model_attributions(lm.model, name, ds, specs, provided, s, settings, timings)
    if not atts:
        raise InputError("benchmark: no methods to compare")
    projected = {k: a.projected.astype(np.float32) for k, a in atts.items()}
    importance, fig5b, metrics, spearman = analyse_model(ds, projected, hits, masks, float(s["min_log_odds"]))
    for frame in (importance, fig5b, metrics, spearman):
        frame.insert(0, "model", name)
    return ModelResult(name, str(model_dir), checksum, list(lm.task_names), atts, importance, fig5b, metrics,
                       spearman, _architecture(lm), _group(lm))  # fmt: skip


def _architecture(lm: LoadedModel) -> str:
    """How the report names a model's architecture: a named spec, ``conv``, ``conv + attention`` or the
    user's module."""
    if lm.spec is not None:
        return architecture_name(lm.spec)
    return str(lm.metadata.get("module", "own module"))


def _group(lm: LoadedModel) -> str:
    """Models with the same architecture (several seeds) share this key; their scores are pooled."""
    described = lm.spec.to_dict() if lm.spec is not None else {k: lm.metadata.get(k) for k in ("module", "kwargs")}
    return json.dumps(described, sort_keys=True)


def _other_architectures(per_model: list[ModelResult]) -> list[ModelResult]:
    """The first model of each architecture other than the first model's, in the order given."""
    seen = {per_model[0].group}
    others = []
    for m in per_model[1:]:
        if m.group not in seen:
            seen.add(m.group)
            others.append(m)
    return others


def _motif_recovery_timed(
    s: dict[str, Any], ds: Dataset, first: ModelResult, task_names: list[str], timings: list[dict]
) -> pd.DataFrame | None:
    """A model's motif recovery table, timed (None when switched off)."""
    recovery = None
    if s.get("motif_recovery", True):
        t0 = time.perf_counter()
        recovery = motif_recovery(ds, first.atts, task_names)
        timings.append({"model": first.name, "method": "motif recovery", "source": "computed",
                        "seconds": time.perf_counter() - t0})
    return recovery


def _write_tables(
    out: Path,
    per_model: list[ModelResult],
    seeds: list[ModelResult],
    metrics_all: pd.DataFrame,
    fig5b_first: pd.DataFrame,
    claims: pd.DataFrame,
    recovery: pd.DataFrame | None,
) -> dict[str, Any]:
    """Write the TSV tables to ``out``; return those summary.json also holds."""
    summary_tables: dict[str, Any] = {}
    _tsv(pd.concat([m.importance for m in per_model], ignore_index=True), out / "hits.tsv")
    _tsv(metrics_all, out / "metrics.tsv")
    _tsv(pd.concat([m.spearman for m in per_model], ignore_index=True), out / "spearman.tsv")
    _tsv(fig5b_first[["method", "motif", "n_hits", "false_negative_rate"]], out / "fig5b.tsv")
    _tsv(claims, out / "claims.tsv")
    if recovery is not None:
        _tsv(recovery, out / "motif_recovery.tsv")
        summary_tables["motif_recovery"] = _records(recovery)
    if len(per_model) > 1:
        _tsv(pd.concat([m.fig5b for m in per_model], ignore_index=True), out / "fig5b_models.tsv")
    if len(seeds) > 1:  # mean and spread over the first architecture's models only
        ms = bm.summarise_models([m.metrics.drop(columns="model") for m in seeds])
        fs = bm.summarise_models([m.fig5b.drop(columns="model") for m in seeds], keys=("method", "motif"))
        _tsv(ms, out / "metrics_summary.tsv")
        _tsv(fs, out / "fig5b_summary.tsv")
        summary_tables |= {"metrics_summary": _records(ms), "fig5b_summary": _records(fs)}
    return summary_tables


def _write_other_tables(
    out: Path,
    first: ModelResult,
    recovery: pd.DataFrame | None,
    others: list[ModelResult],
    other_recovery: dict[str, pd.DataFrame | None],
) -> dict[str, Any]:
    """``recovery_ranking.tsv`` (every reported model) and ``other_models.tsv`` (the Fig. 5b false negatives
    and motif recovery of each other architecture's first model); returns their summary.json part."""
    rankings = [(first, recovery)] + [(m, other_recovery[m.name]) for m in others]
    frames = []
    for model, table in rankings:
        if table is not None:
            frames.append(bm.recovery_ranking(table).assign(model=model.name, architecture=model.architecture))
    tables: dict[str, Any] = {}
    if frames:
        ranking = pd.concat(frames, ignore_index=True)
        ranking = ranking[["model", "architecture", *[c for c in ranking.columns if c not in ("model", "architecture")]]]
        _tsv(ranking, out / "recovery_ranking.tsv")
        tables["recovery_ranking"] = _records(ranking)
    if not others:
        return tables
    entries = []
    for m in others:
        rec = other_recovery[m.name]
        entries.append({
            "name": m.name, "dir": m.dir, "architecture": m.architecture,
            "fig5b": _records(m.fig5b.drop(columns="model")),
            "metrics": _records(m.metrics.drop(columns="model")),
            "motif_recovery": _records(rec) if rec is not None else [],
            "deltas_max_abs": {k: float(np.max(a.deltas_max_abs)) if len(a.deltas_max_abs) else 0.0
                               for k, a in m.atts.items()},
        })
        if rec is not None:
            _tsv(rec.assign(model=m.name)[["model", *rec.columns]], out / f"motif_recovery_{m.name}.tsv")
    tables["other_models"] = entries
    return tables


def _figures_timed(
    out: Path,
    s: dict[str, Any],
    ds: Dataset,
    first: ModelResult,
    methods: list[str],
    task_names: list[str],
    motifs: dict[str, Any],
    per_model: list[ModelResult],
    metrics_all: pd.DataFrame,
    timings: list[dict],
) -> dict[str, Any]:
    """Write the figures and logos of the first model, timed; return what summary.json says of them."""
    figures: dict[str, Any] = {}
    if s.get("figures", True):
        t0 = time.perf_counter()
        figures = _write_figures(out, ds, first, methods, task_names, motifs, int(s["logo_hits"]),
                                 float(s["min_log_odds"]), first.metrics if len(per_model) == 1 else None)
        timings.append({"model": first.name, "method": "figures", "source": "computed",
                        "seconds": time.perf_counter() - t0})
    return figures


def _settings_summary(s: dict[str, Any], file_paths: list, models: list) -> dict[str, Any]:
    """The resolved settings, with the attribution files and models as strings."""
    return {k: v for k, v in s.items() if k not in ("attributions",)} | {
        "attributions": [str(p) for p in file_paths], "model": [str(m) for m in models]}


def _data_summary(s: dict[str, Any], data_checksum: str, ds: Dataset) -> dict[str, Any]:
    """The benchmarked data: path, checksum, size, split and class counts."""
    return {"path": str(s["data"]), "checksum": data_checksum, "n_sequences": len(ds.ids),
            "length": ds.onehot.shape[2], "split": s["split"],
            "class_counts": {c: int(np.sum(np.asarray(ds.classes) == c)) for c in bm.CLASSES}}


def _tasks_summary(task_names: list[str]) -> list[dict[str, Any]]:
    """Each task with the motifs relevant and irrelevant to it."""
    return [{"index": t, "name": task_names[t],
             "relevant": [bm.MOTIF_LABELS[x] for x in bm.DEFAULT_RELEVANT.get(t, ())],
             "irrelevant": bm.MOTIF_LABELS.get(bm.DEFAULT_IRRELEVANT.get(t, ""), "")}
            for t in range(len(task_names))]


def _write_figures(out: Path, ds, first: ModelResult, methods, task_names, motifs, logo_hits, min_log_odds, metrics):
    fig_dir, logo_dir = out / "figures", out / "logos"
    fig_dir.mkdir()
    logo_dir.mkdir()
    importance = first.importance
    result: dict[str, Any] = {"grid": {}, "task": {}, "logos": {}, "examples": [], "bars": {}}
    for m in MOTIFS:
        name = f"fig5_{bm.MOTIF_LABELS[m]}"
        fg.fig5_grid(importance, m, methods, task_names, fig_dir / name, min_log_odds=min_log_odds)
        result["grid"][bm.MOTIF_LABELS[m]] = f"figures/{name}"
    if metrics is not None:
        for metric in ("auroc", "auprc"):
            fg.metric_bars(metrics, metric, methods, fig_dir / f"{metric}_bars", title=f"per-base {metric}")
            result["bars"][metric] = f"figures/{metric}_bars"
    contributions = {k: lg.contributions_from_hypothetical(a.hypothetical, ds.onehot)
                     for k, a in first.atts.items() if a.hypothetical.shape[-1] == ds.onehot.shape[2]}
    pwms = {m: motifs[m].probs for m in MOTIFS}
    # logomaker draws slowly (~0.4 s a small logo): the shuffled-reference variants look like the
    # background one and ISM's hypothetical scores mean something else, so logos show the six main methods
    logo_contributions = {k: v for k, v in contributions.items() if k in LOGO_METHODS} or contributions
    for t, tname in enumerate(task_names):
        fg.task_panels(importance, t, methods, list(MOTIFS), tname, fig_dir / f"task_{t}_hits")
        result["task"][str(t)] = f"figures/task_{t}_hits"
        if contributions:
            lg.hit_logo_grid(logo_contributions, importance, pwms, t, n_top=logo_hits, task_name=tname,
                             prefix=logo_dir / f"task_{t}_motif_logos")
            result["logos"][str(t)] = f"logos/task_{t}_motif_logos"
    shown = [k for k in ("deeplift_rescale", "deeplift_reveal_cancel", "deeplift_genomics_default",
                         "gradient_x_input") if k in contributions]
    if shown:
        misses = lg.find_rescale_misses(importance, min_log_odds=min_log_odds)
        examples = []
        for row in misses.drop_duplicates("seq_index").head(2).itertuples(index=False):
            examples.append((int(row.seq_index), 0,
                             f"{row.id}: TAL1 hit at {row.start} (log-odds {row.log_odds:.1f}) scores "
                             f"{row.importance_miss:.3f} under Rescale and {row.importance_hit:.3f} under "
                             "RevealCancel on task 0", "rescale_miss"))
        classes = np.asarray(ds.classes)
        for cls in ("both", "gata", "tal1"):
            idx = np.flatnonzero(classes == cls)
            if len(idx):
                examples.append((int(idx[0]), 0 if cls == "both" else (1 if cls == "gata" else 2),
                                 f"{ds.ids[idx[0]]} ({bm.CLASS_LABELS[cls]})", "class"))
        truth = importance[(importance["source"] == "embedded")
                           & (importance["method"] == importance["method"].iloc[0])]
        for k, (seq, task, title, kind) in enumerate(examples):
            windows = truth[truth["seq_index"] == seq]
            span = lg.example_span(windows, ds.onehot.shape[2])
            prefix = logo_dir / f"example_{k}"
            lg.example_logos({m: contributions[m] for m in shown}, seq, task, windows,
                             f"{title} -- {task_names[task]}", prefix, span=span)
            result["examples"].append({"path": f"logos/example_{k}", "task": task, "title": title, "kind": kind,
                                       "id": ds.ids[seq]})
        result["n_rescale_misses"] = int(len(misses))
    return result


def _tsv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, sep="\t", index=False, float_format="%.6g")


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(f"cannot serialise {type(value).__name__}")
