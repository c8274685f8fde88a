"""``report.html``: the top variants of a run, self-contained (inline style, PNG logos as data URIs).

For each of the ``top`` variants with the largest |effect| on any task: the effect per task (logits,
probabilities, log-odds change, its p- and q-value against the null, change of contribution at and
around the variant, summation-to-delta error), and for the explained ones the motif it hits (REF and ALT
scores, breaks/creates) and REF over ALT contribution logos (logomaker) of the task it changes most, 15
bases each side of the variant (read from ``scores.h5``, one allele at a time).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
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


def logo_png(table_: VariantTable, i: int, part: Mapping[str, np.ndarray], task: int, task_name: str,
             flank: int) -> str:  # fmt: skip
    """Data URI of the REF-over-ALT logo of allele ``i`` for ``task`` (``part``: its explained arrays)."""
    plt = pyplot_agg()
    length = part["ref_sequence"].shape[1]
    off = int(table_.alleles["offset"][i])
    span = max(len(table_.alleles["ref"][i]), len(table_.alleles["alt"][i]))
    a, b = max(0, off - flank), min(length, off + span + flank)
    ref = contribution_matrix(part["ref_sequence"][0, a:b], part["contrib_ref"][0, task, a:b])
    alt = contribution_matrix(part["alt_sequence"][0, a:b], part["contrib_alt"][0, task, a:b])
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


def pq(v: float) -> str:
    """A p- or q-value as a number: 3 significant digits, scientific when small (never ``0.000``)."""
    return "NA" if not np.isfinite(v) else f"{v:.3g}"


def render(
    table_: VariantTable, attrs: Mapping[str, Any], summary: Mapping[str, Any], top: int,
    derived: Mapping[str, np.ndarray] | None = None,
    explained: Callable[[int], Mapping[str, np.ndarray]] | None = None,
) -> str:  # fmt: skip
    """The whole HTML page (``derived``: ``table_.derived(...)``; ``explained(j)``: the arrays of the
    ``j``-th explained allele)."""
    tasks = list(attrs["task_names"])
    flank = int(attrs.get("flank", 10))
    d = derived if derived is not None or not len(table_) else table_.derived(
        str(attrs.get("head", "none")), str(attrs.get("null", "matched")),
        str(attrs.get("pvalue_ties", "conservative")), int(attrs.get("seed", 0)))  # fmt: skip
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
        f'<p class="what">Screening: every allele\'s effect comes from plain forward passes; '
        f"{summary.get('n_explained', 0)} allele(s) were explained (explain: {escape_html(attrs.get('explain', ''))}). "
        f"P-values: |effect| against {_null_text(attrs, summary)}; q-values: Benjamini-Hochberg per task. "
        f"Alleles at q &lt; 0.05: {escape_html(', '.join(f'{k} {v}' for k, v in summary.get('n_q_below_0.05', {}).items()))}.</p>",
    ]
    if d is None:
        parts.append("<p>No allele was scored.</p>")
        return _page(parts)
    strength = np.abs(d["effect"]).max(axis=1)
    order = np.argsort(-strength, kind="stable")[:top]
    parts.append(f"<h2>Top {len(order)} variants by |effect|</h2>")
    for rank, i in enumerate(order, start=1):
        t_best = int(np.nan_to_num(np.abs(d["effect"][i]), nan=-1.0).argmax())
        a, m = table_.alleles, table_.motif
        done = bool(table_.explained[i])
        head = (f"<h3>{rank}. {escape_html(a['name'][i])} <small>(VCF line {int(a['line'][i])}, ID "
                f"{escape_html(a['vcf_id'][i])}, {escape_html(a['kind'][i])}; window {escape_html(a['note'][i])})</small></h3>")
        if not done:
            motif = ('<p class="what">Screened only (not explained): rerun with <code>--explain all</code>, '
                     "<code>--explain-top</code> or <code>--explain-min-effect</code> for its contributions.</p>")
        elif m["name"][i]:
            motif = (f'<p class="what">Motif: <b>{escape_html(m["name"][i])}</b> ({escape_html(m["strand"][i])} strand, window '
                     f"position {int(m['start_ref'][i])}): log-odds REF {m['score_ref'][i]:.2f}, ALT "
                     f"{m['score_alt'][i]:.2f} (p-value {m['pvalue_ref'][i]:.1e} &rarr; "
                     f"{m['pvalue_alt'][i]:.1e}): the variant <b>{escape_html(m['change'][i])}</b> it.</p>")
        else:
            motif = '<p class="what">No known motif matches over the variant.</p>'
        rows = [{
            "task": tasks[t], "effect": float(d["effect"][i, t]), "p": pq(float(d["pvalue"][i, t])),
            "q": pq(float(d["qvalue"][i, t])),
            "logit_ref": float(table_.arrays["logits_ref"][i, t]), "logit_alt": float(table_.arrays["logits_alt"][i, t]),
            "prob_ref": float(table_.arrays["probs_ref"][i, t]), "prob_alt": float(table_.arrays["probs_alt"][i, t]),
            "site": float(d["site_diff"][i, t]), "around": float(d["around_diff"][i, t]),
            "delta": float(d["delta_error"][i, t]),
        } for t in range(len(tasks))]  # fmt: skip
        cols = [("task", "task"), ("effect", "effect (output ALT - REF)"), ("p", "p-value"), ("q", "q-value"),
                ("logit_ref", "output REF"),
                ("logit_alt", "output ALT"), ("prob_ref", "P REF"), ("prob_alt", "P ALT"),
                ("site", "contribution change at variant"), ("around", f"... within {flank} bp"),
                ("delta", "Δ error")]  # fmt: skip
        if str(attrs.get("head")) in ("log_counts", "profile"):
            motif += (f'<p class="what">Counts log2 fold change {float(d["logfc"][i, 0]):.3g}, profile Jensen-Shannon '
                      f'distance {float(d["jsd"][i, 0]):.3g} (p {pq(float(d["jsd_pvalue"][i, 0]))}, q '
                      f'{pq(float(d["jsd_qvalue"][i, 0]))}), active-allele quantile '
                      f'{float(d["active_allele_quantile"][i, 0]):.3g}.</p>')
        if not done or explained is None:
            parts += [head, motif, table(rows, cols)]
            continue
        j = int(np.sum(table_.explained[:i]))
        uri = logo_png(table_, int(i), explained(j), t_best, tasks[t_best], max(flank, 15))
        parts += [head, motif, table(rows, cols),
                  f'<figure><img alt="REF and ALT contribution logos" src="{uri}"><figcaption class="what">'
                  f"Contribution of each observed base to {escape_html(tasks[t_best])} (the task the variant changes "
                  "most), REF above ALT; the variant's bases are shaded. Both windows start at the same "
                  "genomic base.</figcaption></figure>"]  # fmt: skip
    return _page(parts)


def _null_text(attrs: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    if attrs.get("null") == "vcf":
        return "the other alleles of the run (the VCF's own distribution)"
    return (f"{summary.get('n_null_snvs', 0)} matched null SNVs ({attrs.get('null_per_variant', 1)} per allele, in its "
            "own REF window, same REF and ALT bases, seeded)")


def _page(parts: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Variant effects</title><style>{STYLE}</style></head><body><h1>Variant effects</h1>"
        + "".join(parts)
        + "</body></html>\n"
    )


def write_report(
    path: str | Path, table_: VariantTable, attrs: Mapping[str, Any], summary: Mapping[str, Any], top: int,
    derived: Mapping[str, np.ndarray] | None = None, scores_h5: str | Path | None = None,
) -> None:
    """Write ``render(...)`` to ``path`` as given (the caller makes it atomic); logos read ``scores_h5``."""

    def explained(j: int) -> Mapping[str, np.ndarray]:
        with h5py.File(scores_h5, "r") as h5:
            return {k: h5[k][j : j + 1] for k in ("contrib_ref", "contrib_alt", "ref_sequence", "alt_sequence")}

    html = render(table_, attrs, summary, top, derived, explained if scores_h5 is not None else None)
    Path(path).write_text(html, encoding="utf-8")
