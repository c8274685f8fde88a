"""Self-contained HTML reports of a benchmark run: an index plus one page per task.

Images are embedded as base64 ``data:`` URIs and the style sheet is inline, so the pages read offline
and can be mailed as files. Everything comes from the benchmark directory's ``summary.json`` and images.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..io.atomic import atomic_directory
from ..render.html import embed_png, escape_html, page, table
from .methods import display_name


def figure(bench_dir: Path, stem: str | None, caption: str) -> str:
    """An embedded PNG (``stem`` without extension, relative to the benchmark dir) with its caption."""
    if not stem:
        return ""
    path = bench_dir / f"{stem}.png"
    if not path.exists():
        return f'<p class="what">(figure {escape_html(stem)} was not made in this run)</p>'
    return (f'<figure><img alt="{escape_html(caption)}" src="{embed_png(path)}">'
            f'<figcaption class="what">{escape_html(caption)}</figcaption></figure>')


def fig5b_rows(summary: Mapping[str, Any]) -> list[dict]:
    """Fig. 5b rows (this run) with the authors' printed TAL1 number beside each method."""
    paper = summary.get("paper_fig5b", {})
    paper_motif, rates = paper.get("motif"), paper.get("rates", {})
    rows = []
    for r in summary["fig5b"]:
        rows.append({
            "method": display_name(r["method"]), "motif": summary["motifs"].get(r["motif"], r["motif"]),
            "n_hits": r["n_hits"], "false_negative_rate": r["false_negative_rate"],
            "paper": rates.get(r["method"]) if r["motif"] == paper_motif else None,
        })
    return rows


def _nav(n_tasks: int, names: Sequence[str]) -> str:
    links = ['<a href="index.html">index</a>']
    links += [f'<a href="task_{t}.html">{escape_html(names[t])}</a>' for t in range(n_tasks)]
    return "".join(links)


METRIC_COLUMNS = [("method", "method"), ("task", "task"), ("auroc", "auROC"), ("auprc", "auPRC"),
                  ("relevant_mean", "mean score, relevant motif"), ("irrelevant_mean", "mean score, irrelevant motif"),
                  ("leakage", "leakage (irrelevant / relevant)"), ("spearman", "Spearman rho (importance vs log-odds)")]


def _metric_rows(summary: Mapping[str, Any], task: int | None = None) -> list[dict]:
    first = summary["models"][0]["name"] if summary.get("models") else None
    rows = []
    for r in summary["metrics"]:
        if (task is None or r["task"] == task) and (first is None or r.get("model", first) == first):
            rows.append({**r, "method": display_name(r["method"])})
    return rows


RECOVERY_COLUMNS = [("method", "method"), ("task", "task"), ("n_patterns", "patterns"),
                    ("seqlet_precision", "seqlet precision"), ("seqlet_recall", "seqlet recall"),
                    ("instance_precision", "instance precision"), ("instance_recall", "instance recall")]


def recovery_rows(summary: Mapping[str, Any]) -> list[dict]:
    """One row per method and task of the summary's ``motif_recovery`` records (seqlets beside instances)."""
    rows: dict[tuple[str, str], dict] = {}
    for r in summary.get("motif_recovery") or []:
        row = rows.setdefault((r["method"], r["task"]), {"method": display_name(r["method"]), "task": r["task"],
                                                           "n_patterns": r.get("n_patterns")})
        kind = "seqlet" if r["kind"] == "seqlets" else "instance"
        row[f"{kind}_precision"] = r["precision"]
        row[f"{kind}_recall"] = r["recall"]
    return list(rows.values())


def best_recovery_sentence(summary: Mapping[str, Any], model: str) -> str:
    """Which method's scores recover the motifs best on ``model`` (from ``recovery_ranking``), or ``""``."""
    ranked = sorted((r for r in summary.get("recovery_ranking") or [] if r["model"] == model),
                    key=lambda r: r["rank"])
    scored = [r for r in ranked if r.get("instance_f1") is not None]
    if not scored:
        return ""
    best = scored[0]
    text = (f"Best motif recovery on {escape_html(model)}: <b>{escape_html(display_name(best['method']))}</b> "
            f"(instance F1 {best['instance_f1']:.3f}, mean over tasks)")
    rules = [r for r in scored if r["method"].startswith("deeplift_")]
    if rules and rules[0]["method"] != best["method"]:
        text += (f"; among the DeepLIFT settings {escape_html(display_name(rules[0]['method']))} "
                 f"({rules[0]['instance_f1']:.3f})")
    return f'<p class="what">{text}.</p>'


def other_models_section(summary: Mapping[str, Any]) -> str:
    """One section per model of another architecture: its Fig. 5b, metrics and motif recovery."""
    parts = []
    for k, m in enumerate(summary.get("other_models") or [], start=2):
        name = escape_html(m["name"])
        arch = escape_html(m["architecture"])
        fig5b = [{"method": display_name(r["method"]), "motif": summary["motifs"].get(r["motif"], r["motif"]),
                  "n_hits": r["n_hits"], "false_negative_rate": r["false_negative_rate"]} for r in m["fig5b"]]
        metrics = [{**r, "method": display_name(r["method"])} for r in m["metrics"]]
        parts += [
            f"<h2>Model {k}: {name} ({arch})</h2>",
            f'<p class="what">The same sequences, references and methods on a model of another architecture '
            f"({arch}), trained on the same data; its scores are not pooled with the first model's.</p>",
            "<h3>Fig. 5b: missed motif hits on task 0</h3>",
            table(fig5b, [("method", "method"), ("motif", "motif"), ("n_hits", "hits"),
                          ("false_negative_rate", "false negatives")], percent=("false_negative_rate",)),
            "<h3>Ground-truth metrics</h3>", table(metrics, METRIC_COLUMNS),
        ]
        if m.get("motif_recovery"):
            parts += ["<h3>Motif recovery per attribution method</h3>",
                      best_recovery_sentence(summary, m["name"]),
                      table(recovery_rows(m), RECOVERY_COLUMNS,
                            percent=("seqlet_precision", "seqlet_recall", "instance_precision", "instance_recall"))]
    return "".join(parts)


def motif_section(summary: Mapping[str, Any], motif_links: Sequence[tuple[str, str]] = ()) -> str:
    """The motif-recovery table and links to motif reports (``(label, href)``)."""
    parts = []
    if summary.get("motif_recovery"):
        parts += [
            "<h2>Motif recovery per attribution method</h2>",
            '<p class="what">Each method\'s scores go through the motif pipeline (`deeplift-genomics motifs`: '
            "seqlets against a within-sequence permutation null at FDR 0.05, patterns, instance calls). A call "
            "is correct when it covers at least half of an embedded instance of a motif the task depends on "
            "(or half of itself); precision is the share of correct positive calls, recall the share of the "
            "task's embedded instances found. Not in the paper.</p>",
            best_recovery_sentence(summary, summary["models"][0]["name"]) if summary.get("models") else "",
            table(recovery_rows(summary), RECOVERY_COLUMNS,
                  percent=("seqlet_precision", "seqlet_recall", "instance_precision", "instance_recall")),
        ]
    if motif_links:
        parts += ["<h2>Motif reports</h2><ul>" + "".join(
            f'<li><a href="{escape_html(href)}">{escape_html(label)}</a></li>' for label, href in motif_links) + "</ul>"]
    return "".join(parts)


HIT_CALLERS_FILE = "hit_callers.tsv"
HIT_CALLER_COLUMNS = [("caller", "caller"), ("task", "task"), ("n_calls", "calls"), ("precision", "precision"),
                      ("recall", "recall"), ("f1", "F1"), ("calls_in_records_without_motif", "calls in records "
                                                                                            "without motif"),
                      ("seconds", "seconds (all tasks)")]


def hit_caller_section(bench_dir: Path) -> str:
    """The table of ``bench/hits_vs_finemo.py`` (``hit_callers.tsv`` in the benchmark directory), if there.

    Fi-NeMo's rows are there only when the script found ``finemo``; nothing here needs it.
    """
    path = bench_dir / HIT_CALLERS_FILE
    if not path.is_file():
        return ""
    with open(path, newline="", encoding="utf-8") as fh:
        rows: list[dict[str, Any]] = []
        for r in csv.DictReader(fh, delimiter="\t"):
            row: dict[str, Any] = dict(r)
            for key in ("n_calls", "calls_in_records_without_motif"):
                row[key] = int(float(r[key])) if r.get(key) not in (None, "") else None
            for key in ("precision", "recall", "f1", "seconds"):
                row[key] = float(r[key]) if r.get(key) not in (None, "", "nan") else None
            rows.append(row)
    return ("<h2>Hit callers against the embedded instances</h2>"
            '<p class="what">From <code>bench/hits_vs_finemo.py</code>: instances of the same patterns called by '
            "the joint fit (<code>motifs --hit-caller joint</code>), the window caller and, when installed, "
            "Fi-NeMo (<code>finemo call-hits</code> on the exported modisco-lite file), judged by the rule "
            "above.</p>" + table(rows, HIT_CALLER_COLUMNS, percent=("precision", "recall")))


def index_page(summary: Mapping[str, Any], bench_dir: Path, motif_links: Sequence[tuple[str, str]] = ()) -> str:
    """The index: what was run, the claims table, Fig. 5b beside the paper, metrics and the grids."""
    names = summary["task_names"]
    data = summary["data"]
    methods = ", ".join(m["display"] for m in summary["methods"])
    counts = ", ".join(f"{v} {k}" for k, v in data["class_counts"].items())
    parts = [
        f'<p class="what">DeepLIFT and baseline attribution methods compared on the simulated GATA1/TAL1 '
        f"benchmark of Shrikumar et al. (ICML 2017, Section 4.2). {data['n_sequences']} sequences of "
        f"{data['length']} bp from the <b>{escape_html(data['split'])}</b> split ({escape_html(counts)}); model(s): "
        f"{escape_html(', '.join(m['name'] for m in summary['models']))}. Methods: {escape_html(methods)}. Task 0 is positive "
        "when both motifs are present, task 1 when GATA1 is, task 2 when TAL1 is.</p>",
        "<h2>Do the paper's claims hold on this run?</h2>",
        '<p class="what">Each claim is checked on this run\'s numbers with a strict comparison; "expected" gives '
        "the paper's numbers where it printed them.</p>",
        table(summary["claims"], [("claim", "claim"), ("expected", "expected"), ("measured", "measured"),
                                  ("holds", "holds?")]),
        "<h2>Fig. 5b: missed motif hits on task 0</h2>",
        f'<p class="what">Among scanned motif hits with log-odds &ge; {summary["min_log_odds"]:g} in sequences '
        "that contain both motifs, the share whose total task-0 importance is &le; 0 (a false negative: the "
        "motif is needed for task 0). The paper column is the authors' notebook output on their test set "
        "(TAL1 only was printed).</p>",
        table(fig5b_rows(summary), [("method", "method"), ("motif", "motif"), ("n_hits", "hits"),
                                    ("false_negative_rate", "false negatives (this run)"),
                                    ("paper", "paper (TAL1)")], percent=("false_negative_rate", "paper")),
        "<h2>Ground-truth metrics (beyond the paper)</h2>",
        '<p class="what">Per task and method: auROC and auPRC of the per-base scores for separating the '
        "positions of the task's relevant embedded motif(s) (task 0: GATA1 and TAL1; task 1: GATA1; task 2: "
        "TAL1) from all other positions; mean per-base score on the relevant and on the irrelevant motif "
        "(TAL1 for task 1, GATA1 for task 2) and their ratio (leakage: 0 is ideal, positive means the "
        "irrelevant motif is credited); Spearman correlation of hit importance with hit log-odds.</p>",
        table(_metric_rows(summary), METRIC_COLUMNS),
    ]
    if summary.get("metrics_summary"):
        cols = [("method", "method"), ("task", "task"), ("auroc_mean", "auROC mean"), ("auroc_sd", "sd"),
                ("leakage_mean", "leakage mean"), ("leakage_sd", "sd"), ("n_models", "models")]
        rows = [{**r, "method": display_name(r["method"])} for r in summary["metrics_summary"]]
        parts += ["<h3>Mean and spread over models</h3>", table(rows, cols)]
    figs = summary.get("figures", {})
    for key, stem in figs.get("bars", {}).items():
        parts.append(figure(bench_dir, stem, f"Per-base {key} per task and method."))
    for motif, stem in figs.get("grid", {}).items():
        parts += [f"<h2>Fig. 5 grid, {motif} hits</h2>", figure(
            bench_dir, stem,
            f"Rows: tasks 0-2; columns: methods. Each dot is one of the top 5 scanned {motif} hits of a "
            f"sequence: x = its log-odds, y = its total importance (sum of per-base scores over the hit) for "
            f"the row's task; colour = the sequence's class. The dashed line marks log-odds "
            f"{summary['min_log_odds']:g}.")]
    parts.append(motif_section(summary, motif_links))
    parts.append(hit_caller_section(bench_dir))
    parts.append(other_models_section(summary))
    parts.append("<h2>Per-task pages</h2><ul>" + "".join(
        f'<li><a href="task_{t}.html">{escape_html(names[t])}</a></li>' for t in range(len(names))) + "</ul>")
    timing = [t for t in summary.get("timings", [])]
    if timing:
        rows = [{**t, "method": display_name(t["method"])} for t in timing]
        parts += ["<h2>Run time</h2>", table(rows, [("model", "model"), ("method", "step"), ("source", "source"),
                                                   ("seconds", "seconds")]),
                  f'<p class="what">Whole benchmark: {summary.get("wall_seconds", float("nan")):.1f} s.</p>']
    return page("DeepLIFT genomics benchmark", "".join(parts), _nav(len(names), names))


def task_page(summary: Mapping[str, Any], bench_dir: Path, task: int) -> str:
    """One task: its metrics, its row of Fig. 5 for both motifs, motif logos and example sequences."""
    names = summary["task_names"]
    info = summary["tasks"][task]
    rel = " and ".join(info["relevant"]) or "none"
    irr = (f"the irrelevant motif is {escape_html(info['irrelevant'])}" if info["irrelevant"]
           else "no motif is irrelevant to it")
    figs = summary.get("figures", {})
    parts = [
        f'<p class="what">Task {task} ({escape_html(names[task])}) depends on {escape_html(rel)}; {irr}. A good method '
        "gives the relevant motif(s) positive importance in the sequences that contain them and gives the "
        "irrelevant motif none.</p>",
        "<h2>Metrics</h2>", table(_metric_rows(summary, task), METRIC_COLUMNS),
        "<h2>Hit importance against log-odds</h2>",
        figure(bench_dir, figs.get("task", {}).get(str(task)),
               f"Rows: GATA1 and TAL1 hits; columns: methods. x = hit log-odds, y = the hit's total importance "
               f"for task {task}, colour = the sequence's class."),
        "<h2>Motif logos</h2>",
        figure(bench_dir, figs.get("logos", {}).get(str(task)),
               "Left: the motif's PWM as an information-content logo (bits, against the 0.3/0.2/0.2/0.3 "
               "background). Then, per method: the mean contribution of each base over the top log-odds hits "
               f"of the motif, for task {task}. Letters above the line push the output up, below push it down."),
    ]
    if task == 0:
        parts += [
            "<h2>Fig. 5b: missed motif hits</h2>",
            f'<p class="what">Share of strong hits (log-odds &ge; {summary["min_log_odds"]:g}) in sequences with '
            "both motifs whose task-0 importance is &le; 0, beside the authors' printed TAL1 numbers.</p>",
            table(fig5b_rows(summary), [("method", "method"), ("motif", "motif"), ("n_hits", "hits"),
                                        ("false_negative_rate", "false negatives (this run)"),
                                        ("paper", "paper (TAL1)")], percent=("false_negative_rate", "paper")),
        ]
    examples = [e for e in figs.get("examples", []) if e["task"] == task]
    if examples:
        parts.append("<h2>Example sequences</h2>")
        for e in examples:
            what = ("A sequence where Rescale scores a strong TAL1 hit as unimportant for task 0 while "
                    "RevealCancel does not. " if e["kind"] == "rescale_miss" else "")
            parts.append(figure(bench_dir, e["path"],
                                f"{what}{e['title']}. Contribution logos of the whole sequence for task {task}, "
                                "one row per method; GATA1 (blue) and TAL1 (green) embedded instances shaded."))
    elif task == 0 and figs.get("n_rescale_misses") == 0:
        parts.append('<p class="what">No strong TAL1 hit in this run is missed by Rescale and found by '
                     "RevealCancel on task 0, so there is no such example to show.</p>")
    return page(f"Task {task}: {names[task]}", "".join(parts), _nav(len(names), names))


def write_report(summary: Mapping[str, Any], bench_dir: str | Path, out_dir: str | Path,
                 motif_dirs: Sequence[str | Path] = ()) -> list[Path]:
    """Write ``index.html`` and ``task_<k>.html`` into ``out_dir`` (atomically, as a whole).

    ``motif_dirs``: output directories of ``deeplift-genomics motifs``; the index links to their reports
    (relative links, so the folders can move together).
    """
    bench_dir = Path(bench_dir)
    links = [(Path(d).name, os.path.relpath(Path(d) / "report" / "index.html", Path(out_dir)))
             for d in motif_dirs]
    written = []
    with atomic_directory(out_dir, "report") as tmp:
        (tmp / "index.html").write_text(index_page(summary, bench_dir, links), encoding="utf-8")
        written.append(Path(out_dir) / "index.html")
        for t in range(len(summary["task_names"])):
            (tmp / f"task_{t}.html").write_text(task_page(summary, bench_dir, t), encoding="utf-8")
            written.append(Path(out_dir) / f"task_{t}.html")
    return written
