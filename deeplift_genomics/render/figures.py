"""Figures as files: matplotlib on the Agg backend, PNG and SVG written atomically, sequence logos.

matplotlib and logomaker are imported inside the functions that draw: a command that writes no figure
never loads them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.constants import PAPER_BACKGROUND
from ..io.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ALPHABET = "ACGT"


def pyplot_agg() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (figures are only ever saved to files)."""
    import matplotlib  # heavy: matplotlib, loaded only to draw

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # heavy: matplotlib, loaded only to draw

    return plt


def save_figure(fig: Figure, prefix: str | Path, dpi: int = 110) -> list[Path]:
    """Write ``fig`` as ``prefix.png`` and ``prefix.svg`` atomically and close it; returns both paths."""
    plt = pyplot_agg()
    paths = []
    for ext in ("png", "svg"):
        final = Path(f"{prefix}.{ext}")
        with atomic_path(final) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight", metadata={"Date": None}
                        if ext == "svg" else None)
        paths.append(final)
    plt.close(fig)
    return paths


def wrap_label(text: str, width: int = 20) -> str:
    """``text`` broken into lines of at most ``width`` characters, for panel titles."""
    return "\n".join(textwrap.wrap(text, width))


def information_content(probs: np.ndarray, background: Sequence[float] = PAPER_BACKGROUND) -> pd.DataFrame:
    """Letter heights ``(W, 4)`` of a PWM's information-content logo (relative to ``background``)."""
    import logomaker  # heavy: logomaker (and matplotlib), loaded only to draw

    df = pd.DataFrame(np.asarray(probs, dtype=float), columns=list(ALPHABET))
    return logomaker.transform_matrix(df, from_type="probability", to_type="information",
                                      background=np.asarray(background, dtype=float))


def draw_logo(ax: Any, matrix: np.ndarray | pd.DataFrame, title: str | None = None) -> None:
    """Draw a ``(4, W)`` matrix (A, C, G, T rows) as a logomaker logo on the axes ``ax``."""
    import logomaker  # heavy: logomaker (and matplotlib), loaded only to draw

    df = matrix if isinstance(matrix, pd.DataFrame) else pd.DataFrame(np.asarray(matrix).T, columns=list(ALPHABET))
    logomaker.Logo(df.reset_index(drop=True), ax=ax, color_scheme="classic")
    ax.axhline(0, color="black", lw=0.4)
    ax.set_xticks([])
    ax.tick_params(labelsize=6)
    ax.locator_params(axis="y", nbins=3)
    if title:
        ax.set_title(title, fontsize=7)
