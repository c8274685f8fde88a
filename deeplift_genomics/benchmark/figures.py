"""Figures of the benchmark: the paper's Fig. 5 grid (TAL1) and its GATA1 twin, as PNG and SVG.

Each panel plots, for the scanned hits of one motif, the hit's log-odds (x) against its total importance
for one task under one method (y), coloured by the sequence's class. Rows are tasks, columns methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..render.figures import pyplot_agg, save_figure, wrap_label
from .analysis import CLASS_LABELS, CLASSES, MOTIF_LABELS, importance_columns
from .methods import display_name

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Class colours (colour-blind safe, Okabe-Ito).
CLASS_COLOURS = {"both": "#D55E00", "gata": "#0072B2", "tal1": "#009E73", "neither": "#999999"}


def _scatter_panel(ax, hits: pd.DataFrame, column: str) -> None:
    # "neither" first so the informative classes are drawn on top
    for cls in reversed(CLASSES):
        sub = hits[hits["class"] == cls]
        if len(sub):
            ax.scatter(sub["log_odds"], sub[column], s=4, alpha=0.5, lw=0, color=CLASS_COLOURS[cls],
                       label=CLASS_LABELS[cls], rasterized=True)
    ax.axhline(0, color="black", lw=0.5)
    ax.tick_params(labelsize=6)
    # few ticks: measuring tick labels dominates the drawing time of these many small panels
    ax.locator_params(nbins=3)


def fig5_grid(
    importance: pd.DataFrame,
    motif: str,
    methods: Sequence[str],
    task_names: Sequence[str] | None = None,
    prefix: str | Path | None = None,
    min_log_odds: float | None = 7.0,
) -> Figure | list[Path]:
    """The Fig. 5 grid for ``motif``: rows = tasks, columns = methods.

    Parameters
    ----------
    importance
        Hit-importance table (:func:`deeplift_genomics.benchmark.hit_importance`); scanned hits are used.
    motif
        Motif name (``TAL1_known1`` for Fig. 5, ``GATA_disc1`` for its twin).
    methods
        Method labels, one column each, in order.
    task_names
        Row labels; default ``task 0``, ``task 1``, ...
    prefix
        If given, write ``prefix.png`` and ``prefix.svg`` and return the paths; otherwise return the figure.
    min_log_odds
        Draw the Fig. 5b threshold as a dashed vertical line (None: no line).
    """
    plt = pyplot_agg()
    hits = importance[(importance["source"] == "scan") & (importance["motif"] == motif)]
    columns = importance_columns(importance)
    n_tasks = len(columns)
    names = list(task_names) if task_names is not None else [f"task {k}" for k in range(n_tasks)]
    fig, axes = plt.subplots(n_tasks, len(methods), figsize=(1.9 * len(methods) + 0.6, 1.8 * n_tasks + 0.6),
                             squeeze=False, sharex=True)
    for r, col in enumerate(columns):
        for c, method in enumerate(methods):
            ax = axes[r, c]
            _scatter_panel(ax, hits[hits["method"] == method], col)
            if min_log_odds is not None:
                ax.axvline(min_log_odds, color="black", lw=0.5, ls="--")
            if r == 0:
                ax.set_title(wrap_label(display_name(method)), fontsize=7)
            if c == 0:
                ax.set_ylabel(f"{names[r]}\ntotal importance", fontsize=7)
            if r == n_tasks - 1:
                ax.set_xlabel(f"{MOTIF_LABELS.get(motif, motif)} hit log-odds", fontsize=7)
    return _finish_grid(fig, axes, 0.25, prefix)


def _finish_grid(fig: Any, axes: Any, hspace: float, prefix: str | Path | None) -> Any:
    """Shared legend above a panel grid, spacing, then the figure (no prefix) or its written paths."""
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles[::-1], labels[::-1], loc="upper center", ncol=4, fontsize=7, markerscale=3,
                   frameon=False, bbox_to_anchor=(0.5, 1.0))
    height = fig.get_size_inches()[1]
    fig.subplots_adjust(wspace=0.45, hspace=hspace, top=1 - 0.75 / height)
    if prefix is None:
        return fig
    return save_figure(fig, prefix)


def task_panels(
    importance: pd.DataFrame,
    task: int,
    methods: Sequence[str],
    motifs: Sequence[str],
    task_name: str | None = None,
    prefix: str | Path | None = None,
) -> Figure | list[Path]:
    """One task's row of Fig. 5 for every motif: rows = motifs, columns = methods (PNG+SVG if ``prefix``)."""
    plt = pyplot_agg()
    col = f"importance_t{task}"
    fig, axes = plt.subplots(len(motifs), len(methods), figsize=(1.9 * len(methods) + 0.6, 1.8 * len(motifs) + 0.6),
                             squeeze=False)
    for r, motif in enumerate(motifs):
        hits = importance[(importance["source"] == "scan") & (importance["motif"] == motif)]
        for c, method in enumerate(methods):
            ax = axes[r, c]
            _scatter_panel(ax, hits[hits["method"] == method], col)
            if r == 0:
                ax.set_title(wrap_label(display_name(method)), fontsize=7)
            if c == 0:
                ax.set_ylabel(f"{task_name or f'task {task}'}\nimportance", fontsize=7)
            ax.set_xlabel(f"{MOTIF_LABELS.get(motif, motif)} log-odds", fontsize=7)
    return _finish_grid(fig, axes, 0.45, prefix)


def metric_bars(metrics: pd.DataFrame, metric: str, methods: Sequence[str], prefix: str | Path | None = None,
                title: str | None = None) -> Figure | list[Path]:
    """Grouped bars of ``metric`` per task (groups) and method (bars); error bars if ``<metric>_sd`` exists."""
    plt = pyplot_agg()
    tasks = sorted(metrics["task"].unique())
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * len(methods) * len(tasks), 2.8))
    width = 0.8 / max(len(methods), 1)
    cmap = plt.get_cmap("tab10")
    for k, method in enumerate(methods):
        sub = metrics[metrics["method"] == method].set_index("task").reindex(tasks)
        sd = sub[f"{metric}_sd"].to_numpy() if f"{metric}_sd" in sub else None
        ax.bar(np.arange(len(tasks)) + (k - (len(methods) - 1) / 2) * width, sub[metric].to_numpy(), width,
               yerr=sd, label=display_name(method), color=cmap(k % 10))
    ax.set_xticks(np.arange(len(tasks)), [f"task {t}" for t in tasks])
    ax.set_ylabel(metric)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, ncol=3, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    if prefix is None:
        return fig
    return save_figure(fig, prefix)
