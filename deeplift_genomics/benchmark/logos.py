"""Sequence logos (logomaker) of the benchmark: average contributions over motif hits, example sequences.

- :func:`average_hit_contributions` (pure): mean ``(4, W)`` contribution matrix over a motif's top hits.
- :func:`hit_logo_grid`: per task, the motif's PWM information-content logo beside the contribution
  logos of each method.
- :func:`example_logos`: attribution logos of whole sequences for several methods, motif windows shaded.
- :func:`find_rescale_misses` (pure): strong TAL1 hits where Rescale scores <= 0 on task 0 and
  RevealCancel does not (the paper's motivating failure).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..render.figures import draw_logo, information_content, pyplot_agg, save_figure, wrap_label
from .analysis import MOTIF_LABELS, TAL1
from .figures import CLASS_COLOURS
from .methods import display_name

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ALPHABET = "ACGT"


def contributions_from_hypothetical(hypothetical: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Actual contributions ``(N, T, 4, L)`` = hypothetical scores masked by the observed base."""
    return np.asarray(hypothetical, dtype=np.float32) * np.asarray(onehot, dtype=np.float32)[:, None]


def top_hits(hits: pd.DataFrame, motif: str, n_top: int, source: str = "scan") -> pd.DataFrame:
    """The ``n_top`` highest log-odds hits of ``motif`` (forward strand, as simulated), one method's rows."""
    sel = hits[(hits["source"] == source) & (hits["motif"] == motif) & (hits["strand"] == "+")]
    if "method" in sel:
        sel = sel[sel["method"] == sel["method"].iloc[0]] if len(sel) else sel
    return sel.sort_values("log_odds", ascending=False, kind="stable").head(n_top)


def average_hit_contributions(contributions: np.ndarray, hits: pd.DataFrame, task: int) -> np.ndarray:
    """Mean contribution matrix over hits (all of one width).

    Parameters
    ----------
    contributions
        ``(N, T, 4, L)`` contributions.
    hits
        Rows with ``seq_index, start, end`` (equal ``end - start``).
    task
        Task index.

    Returns
    -------
    numpy.ndarray
        ``(4, W)`` float64 mean; zeros if there are no hits.
    """
    widths = (hits["end"] - hits["start"]).unique()
    if len(hits) == 0:
        return np.zeros((4, 0))
    if len(widths) != 1:
        raise ValueError("hits of one motif must share a width")
    width = int(widths[0])
    total = np.zeros((4, width))
    for s, a in hits[["seq_index", "start"]].itertuples(index=False):
        total += contributions[s, task, :, a:a + width]
    return total / len(hits)


def hit_logo_grid(
    contributions: Mapping[str, np.ndarray],
    hits: pd.DataFrame,
    motifs: Mapping[str, np.ndarray],
    task: int,
    n_top: int = 50,
    task_name: str | None = None,
    prefix: str | Path | None = None,
) -> Figure | list[Path]:
    """Per motif (rows): PWM information logo, then the mean contribution logo of each method (columns).

    Parameters
    ----------
    contributions
        method label -> ``(N, T, 4, L)`` contributions.
    hits
        Hit table (scanned hits are used).
    motifs
        motif name -> ``(W, 4)`` PWM probabilities.
    task
        Task whose contributions are shown.
    n_top
        Average over this many top log-odds hits of each motif.
    prefix
        Write ``prefix.png``/``.svg`` if given (returns paths), else return the figure.
    """
    plt = pyplot_agg()
    methods = list(contributions)
    fig, axes = plt.subplots(len(motifs), len(methods) + 1, figsize=(1.9 * (len(methods) + 1), 1.3 * len(motifs) + 0.5),
                             squeeze=False)
    for r, (motif, probs) in enumerate(motifs.items()):
        chosen = top_hits(hits, motif, n_top)
        draw_logo(axes[r, 0], information_content(probs), f"{MOTIF_LABELS.get(motif, motif)} PWM (bits)")
        for c, method in enumerate(methods, start=1):
            mean = average_hit_contributions(contributions[method], chosen, task)
            draw_logo(axes[r, c], mean if mean.size else np.zeros((4, probs.shape[0])),
                  wrap_label(display_name(method)) if r == 0 else None)
    fig.suptitle(f"{task_name or f'task {task}'}: mean contributions over the top {n_top} hits", fontsize=8)
    fig.subplots_adjust(wspace=0.6, hspace=0.45, top=1 - 0.7 / fig.get_size_inches()[1])
    if prefix is None:
        return fig
    return save_figure(fig, prefix)


def find_rescale_misses(
    importance: pd.DataFrame,
    motif: str = TAL1,
    miss: str = "deeplift_rescale",
    hit: str = "deeplift_reveal_cancel",
    task: int = 0,
    min_log_odds: float = 7.0,
) -> pd.DataFrame:
    """Strong hits in "both" sequences that ``miss`` scores <= 0 on ``task`` while ``hit`` scores > 0.

    Returns
    -------
    pandas.DataFrame
        The hits (``seq_index, id, start, end, log_odds``) with ``importance_miss`` and ``importance_hit``,
        worst miss first.
    """
    col = f"importance_t{task}"
    base = importance[(importance["source"] == "scan") & (importance["motif"] == motif)
                      & (importance["class"] == "both") & (importance["log_odds"] >= min_log_odds)]
    keys = ["seq_index", "id", "start", "end", "log_odds"]
    a = base[base["method"] == miss][keys + [col]].rename(columns={col: "importance_miss"})
    b = base[base["method"] == hit][keys + [col]].rename(columns={col: "importance_hit"})
    both = a.merge(b, on=keys)
    out = both[(both["importance_miss"] <= 0) & (both["importance_hit"] > 0)]
    return out.sort_values("importance_miss", kind="stable").reset_index(drop=True)


def example_span(windows: pd.DataFrame, length: int, flank: int = 10, max_width: int = 100) -> tuple[int, int]:
    """A ``[start, end)`` stretch of a sequence that shows its motif windows with ``flank`` bp around them.

    At most ``max_width`` bp (logos of long stretches are unreadable and slow to draw); the stretch starts
    at the first window when the windows spread wider. Without windows: the first ``max_width`` bp.
    """
    if windows is None or len(windows) == 0:
        return 0, min(length, max_width)
    a = max(int(windows["start"].min()) - flank, 0)
    b = min(int(windows["end"].max()) + flank, length)
    if b - a > max_width:
        b = a + max_width
    return a, b


def example_logos(
    contributions: Mapping[str, np.ndarray],
    seq_index: int,
    task: int,
    windows: pd.DataFrame | None = None,
    title: str | None = None,
    prefix: str | Path | None = None,
    span: tuple[int, int] | None = None,
) -> Figure | list[Path]:
    """Contribution logos of one sequence for each method (rows), motif windows shaded.

    ``windows``: rows with ``motif, start, end`` to shade (GATA1 blue, TAL1 green); ``span``: the
    ``[start, end)`` stretch to draw (default the whole sequence). The x axis gives sequence positions.
    """
    plt = pyplot_agg()
    methods = list(contributions)
    length = next(iter(contributions.values())).shape[-1]
    a0, b0 = span if span is not None else (0, length)
    fig, axes = plt.subplots(len(methods), 1, figsize=(min(0.09 * (b0 - a0) + 1.5, 16), 1.1 * len(methods) + 0.4),
                             squeeze=False, sharex=True)
    shade = {"GATA_disc1": CLASS_COLOURS["gata"], "TAL1_known1": CLASS_COLOURS["tal1"]}
    for r, method in enumerate(methods):
        ax = axes[r, 0]
        draw_logo(ax, contributions[method][seq_index, task, :, a0:b0])
        ax.set_ylabel(display_name(method), fontsize=6, rotation=0, ha="right", va="center")
        if windows is not None:
            for m, a, b in windows[["motif", "start", "end"]].itertuples(index=False):
                if b > a0 and a < b0:
                    ax.axvspan(a - a0 - 0.5, b - a0 - 0.5, color=shade.get(m, "#cccccc"), alpha=0.15, lw=0)
    ticks = np.arange(0, b0 - a0, 10)
    axes[-1, 0].set_xticks(ticks, [str(a0 + t) for t in ticks])
    if title:
        fig.suptitle(title, fontsize=8)
    fig.subplots_adjust(hspace=0.15)
    if prefix is None:
        return fig
    return save_figure(fig, prefix)
