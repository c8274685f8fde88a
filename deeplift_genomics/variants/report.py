"""``report.html``: the top variants of a run, self-contained (inline style, PNG logos as data URIs).

For each of the ``top`` variants with the largest |effect| on any task: the effect per task (logits,
probabilities, log-odds change, change of contribution at and around the variant, summation-to-delta
error), the motif it hits (REF and ALT scores, breaks/creates), and REF over ALT contribution logos
(logomaker) of the task it changes most, ``flank`` bases (at least 15) each side of the variant.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..render.figures import draw_logo, pyplot_agg
from ..render.html import STYLE, escape_html, table

if TYPE_CHECKING:
    from .outputs import VariantTable  # outputs.write_all writes the report: no import back at run time

ALPHABET = "ACGT"


def contribution_matrix(seq: np.ndarray, contrib: np.ndarray) -> np.ndarray:
    """``(4, W)`` logo matrix: each position's contribution on its observed base (letters as uint8)."""
    letters = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
    hot = (np.asarray(seq)[None, :] == letters[:, None]).astype(np.float64)
    return hot * np.asarray(contrib, dtype=np.float64)[None, :]


def logo_png(table_: VariantTable, i: int, task: int, task_name: str, flank: int) -> str:
    """Data URI of the REF-over-ALT logo of allele ``i`` for ``task``."""
    plt = pyplot_agg()
    length = table_.ref_sequence.shape[1]
    off = int(table_.alleles["offset"][i])
    span = max(len(table_.alleles["ref"][i]), len(table_.alleles["alt"][i]))
    a, b = max(0, off - flank), min(length, off + span + flank)
    ref = contribution_matrix(table_.ref_sequence[i, a:b], table_.arrays["contrib_ref"][i, task, a:b])
    alt = contribution_matrix(table_.alt_sequence[i, a:b], table_.arrays["contrib_alt"][i, task, a:b])
    lim = max(np.abs(ref).sum(0).max(), np.abs(alt).sum(0).max(), 1e-6)
    fig, axes = plt.subplots(2, 1, figsize=(min(0.16 * (b - a) + 1.2, 12), 2.4), sharex=True)
    for ax, mat, lab in ((axes[0], ref, "REF"), (axes[1], alt, "ALT")):
        draw_logo(ax, pd.DataFrame(mat.T, columns=list(ALPHABET)))
        ax.set_ylim(-lim * 1.05, lim * 1.05)
        ax.set_ylabel(lab, fontsize=7, rotation=0, ha="right", va="center")
        ax.axvspan(off - a - 0.5, off - a + span - 0.5, color="#f2c14e", alpha=0.25, lw=0)
    ticks = np.arange(0, b - a, 5)
    axes[1].set_xticks(ticks, [str(a + t) for t in ticks])
    axes[1].tick_params(labelsize=6)
    fig.suptitle(f"{table_.alleles['name'][i]}: contributions to {task_name} (window positions)", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def render(
    table_: VariantTable, attrs: Mapping[str, Any], summary: Mapping[str, Any], flank: int, top: int,
    derived: Mapping[str, np.ndarray] | None = None,
) -> str:  # fmt: skip
    """The whole HTML page (``derived``: ``table_.derived(...)`` when the caller has it already)."""
    tasks = list(attrs["task_names"])
    d = derived if derived is not None or not len(table_) else table_.derived(flank, str(attrs.get("head", "none")))
    parts = [
        f'<p class="what">Variant effects of model <b>{escape_html(attrs.get("model", ""))}</b> on '
        f"{escape_html(attrs.get('vcf', ''))} against {escape_html(attrs.get('fasta', ''))}: {summary.get('n_scored', 0)} "
        f"allele(s) scored, {summary.get('n_skipped', 0)} skipped "
        f"({escape_html(', '.join(f'{k} {v}' for k, v in summary.get('skip_counts', {}).items()) or 'none')}). "
        f"Contributions: {escape_html(attrs.get('method'))} ({escape_html(attrs.get('rule'))}) against "
        f"{escape_html(attrs.get('n_references'))} {escape_html(attrs.get('references'))} reference(s) made from each REF "
        "window and shared by both alleles, so the change of the summed contribution equals the change of "
        "the prediction (the &Delta; error column). Motifs: "
        f"{escape_html(attrs.get('motifs', ''))}.</p>",
    ]
    if d is None:
        parts.append("<p>No allele was scored.</p>")
        return _page(parts)
    strength = np.abs(d["effect"]).max(axis=1)
    order = np.argsort(-strength, kind="stable")[:top]
    parts.append(f"<h2>Top {len(order)} variants by |effect|</h2>")
    for rank, i in enumerate(order, start=1):
        t_best = int(np.abs(d["effect"][i]).argmax())
        a, m = table_.alleles, table_.motif
        head = (f"<h3>{rank}. {escape_html(a['name'][i])} <small>(VCF line {int(a['line'][i])}, ID "
                f"{escape_html(a['vcf_id'][i])}, {escape_html(a['kind'][i])}; window {escape_html(a['note'][i])})</small></h3>")
        if m["name"][i]:
            motif = (f'<p class="what">Motif: <b>{escape_html(m["name"][i])}</b> ({escape_html(m["strand"][i])} strand, window '
                     f"position {int(m['start_ref'][i])}): log-odds REF {m['score_ref'][i]:.2f}, ALT "
                     f"{m['score_alt'][i]:.2f} (p-value {m['pvalue_ref'][i]:.1e} &rarr; "
                     f"{m['pvalue_alt'][i]:.1e}): the variant <b>{escape_html(m['change'][i])}</b> it.</p>")
        else:
            motif = '<p class="what">No known motif matches over the variant.</p>'
        rows = [{
            "task": tasks[t], "effect": float(d["effect"][i, t]),
            "logit_ref": float(table_.arrays["logits_ref"][i, t]), "logit_alt": float(table_.arrays["logits_alt"][i, t]),
            "prob_ref": float(table_.arrays["probs_ref"][i, t]), "prob_alt": float(table_.arrays["probs_alt"][i, t]),
            "site": float(d["site_diff"][i, t]), "around": float(d["around_diff"][i, t]),
            "delta": float(d["delta_error"][i, t]),
        } for t in range(len(tasks))]  # fmt: skip
        cols = [("task", "task"), ("effect", "effect (logit ALT - REF)"), ("logit_ref", "logit REF"),
                ("logit_alt", "logit ALT"), ("prob_ref", "P REF"), ("prob_alt", "P ALT"),
                ("site", "contribution change at variant"), ("around", f"... within {flank} bp"),
                ("delta", "Δ error")]  # fmt: skip
        uri = logo_png(table_, int(i), t_best, tasks[t_best], max(flank, 15))
        parts += [head, motif, table(rows, cols),
                  f'<figure><img alt="REF and ALT contribution logos" src="{uri}"><figcaption class="what">'
                  f"Contribution of each observed base to {escape_html(tasks[t_best])} (the task the variant changes "
                  "most), REF above ALT; the variant's bases are shaded. Both windows start at the same "
                  "genomic base.</figcaption></figure>"]  # fmt: skip
    return _page(parts)


def _page(parts: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Variant effects</title><style>{STYLE}</style></head><body><h1>Variant effects</h1>"
        + "".join(parts)
        + "</body></html>\n"
    )


def write_report(
    path: str | Path, table_: VariantTable, attrs: Mapping[str, Any], summary: Mapping[str, Any], flank: int, top: int,
    derived: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Write ``render(...)`` to ``path`` as given (the caller makes it atomic)."""
    Path(path).write_text(render(table_, attrs, summary, flank, top, derived), encoding="utf-8")
