"""Self-contained HTML pages of a motif run: an index across tasks and one page per task.

Same style as the benchmark report (:mod:`deeplift_genomics.benchmark.report`): inline style sheet, every
image a base64 ``data:`` URI, so the pages read offline. Each pattern shows its CWM and hypothetical CWM
(contribution logos), its PFM as an information-content logo beside its best known match's logo, its
seqlet and instance counts, its share of the task's contribution and where its instances sit along the
records.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..render.html import escape_html, page, table
from .patterns import revcomp

if TYPE_CHECKING:
    from .patterns import Pattern
    from .run import MotifResults

ALPHABET = "ACGT"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def information_logo_matrix(probs: np.ndarray, background: np.ndarray) -> pd.DataFrame:
    """Letter heights ``(W, 4)`` of an information-content logo of ``(4, W)`` probabilities."""
    import logomaker

    p = np.asarray(probs, dtype=float).T
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    df = pd.DataFrame(p, columns=list(ALPHABET))
    return logomaker.transform_matrix(df, from_type="probability", to_type="information",
                                      background=np.asarray(background, dtype=float))


def _logo(ax, df: pd.DataFrame, title: str) -> None:
    import logomaker

    logomaker.Logo(df.reset_index(drop=True), ax=ax, color_scheme="classic")
    ax.axhline(0, color="black", lw=0.4)
    ax.set_xticks([])
    ax.tick_params(labelsize=6)
    ax.locator_params(axis="y", nbins=3)
    ax.set_title(title, fontsize=7)


def _png(fig) -> str:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def pattern_figure(pattern: Pattern, match_probs: np.ndarray | None, match_name: str, positions: np.ndarray,
                   length: int | None, background: np.ndarray) -> str:
    """One row of panels for a pattern, as an embedded PNG URI."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 5, figsize=(13, 1.6), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.1]})
    _logo(axes[0], pd.DataFrame(np.asarray(pattern.cwm).T, columns=list(ALPHABET)), "CWM (contributions)")
    _logo(axes[1], pd.DataFrame(np.asarray(pattern.hcwm).T, columns=list(ALPHABET)), "hypothetical CWM")
    _logo(axes[2], information_logo_matrix(pattern.pfm, background), "PFM (bits)")
    if match_probs is not None:
        _logo(axes[3], information_logo_matrix(match_probs, background), f"best match: {match_name} (bits)")
    else:
        axes[3].axis("off")
        axes[3].text(0.5, 0.5, "no significant match:\nnovel", ha="center", va="center", fontsize=8)
    ax = axes[4]
    if len(positions):
        top = length if length else int(np.max(positions)) + 1
        ax.hist(positions, bins=min(40, max(5, top // 5)), range=(0, top), color="#4a7ab5")
    ax.set_title("instance centres along the records", fontsize=7)
    ax.tick_params(labelsize=6)
    fig.subplots_adjust(wspace=0.35)
    return _png(fig)


def _nav(tasks: list[str]) -> str:
    links = ['<a href="index.html">index</a>']
    links += [f'<a href="task_{k}.html">{escape_html(t)}</a>' for k, t in enumerate(tasks)]
    return "".join(links)


PATTERN_COLUMNS = [("pattern", "pattern"), ("width", "width"), ("n_seqlets", "seqlets"),
                   ("n_instances", "instances"), ("contribution_share", "share of contribution"),
                   ("best_match", "best known match"), ("p_value", "p"), ("q_value", "q"),
                   ("consensus", "consensus")]
P_COLUMNS = ("p_value", "q_value", "e_value")


def small_logo(pattern: Pattern) -> str:
    """The pattern's CWM as a small contribution logo, an embedded PNG URI (for the index)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(1.2, 0.16 * pattern.width), 0.6))
    _logo(ax, pd.DataFrame(np.asarray(pattern.cwm).T, columns=list(ALPHABET)), "")
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def index_page(results: MotifResults, summary: Mapping[str, Any]) -> str:
    """Tasks with their seqlet, pattern and instance counts, and every pattern's best match."""
    rows = []
    for task in results.task_names:
        info = summary["tasks"][task]
        rows.append({"task": task, "pos": info["n_seqlets"]["pos"], "neg": info["n_seqlets"]["neg"],
                     "patterns": info["n_patterns"], "instances": info["n_instances"]})
    logos = {p.key: f'<img alt="{escape_html(p.key)} CWM" src="{small_logo(p)}">' for p in results.patterns}
    keys = results.pattern_table["task"] + "/" + results.pattern_table["pattern"]
    pt = results.pattern_table.assign(pattern=keys, logo=[logos.get(k, "") for k in keys])
    s = results.settings
    parts = [
        f'<p class="what">Motifs found in the per-base scores of {results.n_records} records. Seqlets are windows '
        f"of {s.seqlets.width} bp whose summed score beats a null of the same scores permuted within each "
        f"record at a false-discovery rate of {s.seqlets.fdr:g}; they are clustered into patterns, compared "
        f"with {escape_html(results.database)} by TOMTOM (a pattern without a match at q &lt; {s.max_q:g} is novel), "
        f"and every record's contributions are fitted with all of a task's patterns at once ({escape_html(s.hit_caller)} "
        "hit caller; see the motifs documentation) to call its instances.</p>",
        "<h2>Tasks</h2>",
        table(rows, [("task", "task"), ("pos", "positive seqlets"), ("neg", "negative seqlets"),
                     ("patterns", "patterns"), ("instances", "instances")]),
        "<ul>" + "".join(f'<li><a href="task_{k}.html">{escape_html(t)}</a></li>'
                         for k, t in enumerate(results.task_names)) + "</ul>",
        *(f'<p class="what"><b>{escape_html(summary["tasks"][t]["caveat"])}</b></p>'
          for t in results.task_names if summary["tasks"][t].get("caveat")),
        "<h2>Patterns</h2>",
        table(pt.to_dict("records"), [("logo", "CWM logo"), *PATTERN_COLUMNS], percent=("contribution_share",),
              small=P_COLUMNS, raw=("logo",)) if len(pt)
        else '<p class="what">No patterns were found in any task.</p>',
    ]
    return page("Motifs", "".join(parts), _nav(results.task_names))


def task_page(results: MotifResults, summary: Mapping[str, Any], task: str, database: Mapping[str, np.ndarray]) -> str:
    """One task: its seqlet threshold and counts, then each pattern with its logos and instances."""
    info = summary["tasks"][task]
    null = info["null"]
    s = results.settings
    n_pos, n_neg = info["n_seqlets"]["pos"], info["n_seqlets"]["neg"]

    def thr(v):
        return "none (no window passed)" if v is None else f"{v:.4g}"

    parts = [f'<p class="what">Seqlets: {n_pos} positive and {n_neg} negative. A {null["width"]} bp window is a '
             f"seqlet core when its summed score is at least {thr(null.get('threshold_pos'))} (positive) or at "
             f"most -{thr(null.get('threshold_neg'))} (negative): the thresholds at which the estimated "
             f"false-discovery rate against {null['n_null_windows']} windows of within-record permuted scores "
             f"is {null['fdr']:g}.</p>"]
    pats = [p for p in results.patterns if p.task == task]
    if info.get("caveat") and n_pos + n_neg > 0:
        parts.append(f'<p class="what"><b>{escape_html(info["caveat"])}</b></p>')
    if n_pos + n_neg == 0:
        parts.append('<p class="what"><b>No seqlets were found for this task</b>: no window of its scores stands '
                     "out from the permutation null, so there are no patterns or instances to show.</p>")
        if info.get("caveat"):
            parts.append(f'<p class="what">{escape_html(info["caveat"])}</p>')
        return page(f"Motifs: {task}", "".join(parts), _nav(results.task_names))
    if not pats:
        parts.append(f'<p class="what"><b>No patterns</b>: no cluster of at least {s.patterns.min_seqlets} '
                     "seqlets was found.</p>")
        return page(f"Motifs: {task}", "".join(parts), _nav(results.task_names))
    pt = results.pattern_table[results.pattern_table["task"] == task]
    parts += ["<h2>Patterns</h2>", table(pt.to_dict("records"), PATTERN_COLUMNS, percent=("contribution_share",),
                                         small=P_COLUMNS)]
    inst = results.instances[results.instances["task"] == task]
    lengths = results.record_lengths
    length = int(lengths.max()) if len(lengths) and np.all(lengths == lengths.max()) else None
    for p in pats:
        row = pt[pt["pattern"] == p.name].iloc[0]
        m = results.matches[(results.matches["task"] == task) & (results.matches["pattern"] == p.name)]
        match_name = row["best_match"]
        probs = database.get(match_name) if match_name != "novel" else None
        best_row = m[m["match"] == match_name]
        if probs is not None and len(best_row) and best_row["strand"].iloc[0] == "-":
            probs = revcomp(probs)  # show the match on the pattern's strand
        pi = inst[inst["pattern"] == p.name]
        centres = ((pi["start"] + pi["end"]) / 2).to_numpy()
        share = row["contribution_share"]
        parts += [
            f"<h2>{escape_html(p.name)} ({'positive' if p.sign == 'pos' else 'negative'} contribution)</h2>",
            f'<p class="what">{p.n_seqlets} seqlets, {len(pi)} instances in '
            f"{pi['record'].nunique() if len(pi) else 0} records, "
            f"{'n/a' if share is None or (isinstance(share, float) and math.isnan(share)) else f'{100 * share:.1f}%'}"
            f" of the task's total {'positive' if p.sign == 'pos' else 'negative'} contribution. "
            f"Consensus {escape_html(row['consensus'])}.</p>",
            f'<figure><img alt="{escape_html(p.name)} logos" src="{pattern_figure(p, probs, match_name, centres, length, results.background)}">'
            '<figcaption class="what">From left: mean contribution of each base over the aligned seqlets (CWM); '
            "mean hypothetical contribution; base frequencies as information content; the best known match; "
            "where the instances' centres fall along the records.</figcaption></figure>",
        ]
        if len(m):
            parts.append(table(m.to_dict("records"), [("rank", "rank"), ("match", "known motif"),
                                                      ("database", "database"), ("p_value", "p"),
                                                      ("q_value", "q"), ("e_value", "E"), ("strand", "strand")],
                                 small=P_COLUMNS))
    return page(f"Motifs: {task}", "".join(parts), _nav(results.task_names))


def write_report_pages(results: MotifResults, summary: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``index.html`` and ``task_<k>.html`` into ``out_dir`` (created; not atomic by itself)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "index.html"]
    written[0].write_text(index_page(results, summary), encoding="utf-8")
    for k, task in enumerate(results.task_names):
        path = out / f"task_{k}.html"
        path.write_text(task_page(results, summary, task, results.match_probs), encoding="utf-8")
        written.append(path)
    return written
