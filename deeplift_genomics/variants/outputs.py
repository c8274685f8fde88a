"""The per-allele results of ``variants`` (:class:`VariantTable`) and the files made from them.

Every allele is screened (model outputs of both windows, matched null SNVs); only the *explained*
alleles carry contributions, contribution sums and motif context. The table in memory holds one row of
scalars per allele (``A x T`` numbers, no window-long array); the explained alleles' contributions and
windows are streamed from the chunks into ``scores.h5``, a part at a time.

``scores.h5`` (layout version 2), ``A`` alleles, ``T`` tasks (bpnet-lite models: the heads ``counts``
and ``profile``), ``E`` explained alleles, ``n`` null SNVs, windows of ``L`` bases:

=============================  ==============  =====================================================
dataset                        shape / dtype   meaning
=============================  ==============  =====================================================
``alleles/name``               (A,) str        ``chrom:POS:REF>ALT`` (POS 1-based, as in the VCF)
``alleles/vcf_id``             (A,) str        the VCF ID column
``alleles/line``               (A,) int64      line of the record in the VCF
``alleles/chrom``              (A,) str        record of the FASTA
``alleles/pos``                (A,) int64      0-based position of the first REF base
``alleles/ref`` / ``alt``      (A,) str        the alleles
``alleles/kind``               (A,) str        snv, mnv, insertion, deletion
``alleles/info``               (A,) str        the VCF INFO column
``alleles/window_start``       (A,) int64      0-based record position of both windows' first base
``alleles/offset``             (A,) int64      index of the variant's first base in both windows
``alleles/note``               (A,) str        centred / shifted by k; far end trimmed / extended by k
``logits_ref`` / ``_alt``      (A, T) float64  model outputs (pre-sigmoid/softmax; bpnet-lite: log
                                               counts and profile score)
``probs_ref`` / ``_alt``       (A, T) float64  probabilities (NaN for bpnet-lite models)
``jsd``                        (A,) float64    profile Jensen-Shannon distance (bpnet-lite models)
``explained``                  (A,) bool       contributions computed for this allele
``sums/site_ref`` ...          (A, T) float64  contribution at the variant (REF, ALT), change over the
                                               variant and ``flank`` bp each side, over the window
                                               (NaN where not explained)
``motif/*``                    (A,)            name, strand, start_ref, score_ref, score_alt,
                                               pvalue_ref, pvalue_alt, change (explained alleles)
``null/effect``                (n, T) float64  effects of the matched null SNVs (empty for ``vcf``)
``null/jsd``                   (n,) float64    their profile Jensen-Shannon distance
``explained_index``            (E,) int64      the row (allele) of each explained allele
``contrib_ref`` / ``_alt``     (E, T, L) f32   contribution of the observed base at each position
``ref_sequence``/``alt_seq..`` (E, L) uint8    ASCII letters of the two windows
=============================  ==============  =====================================================

Root attributes: ``format`` ("deeplift-genomics-variants"), ``format_version``, ``task_names``,
``method``, ``rule``, ``references``, ``n_references``, ``input_length``, ``head``, ``fasta``, ``vcf``,
``model``, ``motifs``, ``null``, ``null_per_variant``, ``explain``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..core.errors import InputError
from ..io.atomic import atomic_path
from ..io.vcf import Skip
from .effects import prediction_effects
from .report import write_report
from .stats import (
    allele_quantiles,
    bh_qvalues,
    empirical_pvalues,
    log2_fold_change,
    own_pvalues,
    tie_uniforms,
)

FORMAT = "deeplift-genomics-variants"
FORMAT_VERSION = 2
STR_FIELDS = ("name", "vcf_id", "chrom", "ref", "alt", "kind", "info", "note")
INT_FIELDS = ("line", "pos", "window_start", "offset")
MOTIF_STR = ("name", "strand", "change")
MOTIF_NUM = ("start_ref", "score_ref", "score_alt", "pvalue_ref", "pvalue_alt")
ARRAYS = ("logits_ref", "logits_alt", "probs_ref", "probs_alt")
SUMS = ("site_ref", "site_alt", "around_diff", "total_diff")
EXPLAINED = ("contrib_ref", "contrib_alt", "ref_sequence", "alt_sequence")
TSV_COLUMNS = [
    "variant", "vcf_id", "line", "chrom", "pos", "ref", "alt", "kind", "task",
    "effect", "abs_effect", "pvalue", "qvalue", "explained",
    "logit_ref", "logit_alt", "prob_ref", "prob_alt", "prob_diff", "log_odds_change",
    "logfc", "jsd", "jsd_pvalue", "jsd_qvalue", "active_allele_quantile",
    "contrib_site_ref", "contrib_site_alt", "contrib_site_diff", "contrib_around_diff", "contrib_total_diff",
    "delta_error", "motif", "motif_strand", "motif_start", "motif_score_ref", "motif_score_alt",
    "motif_pvalue_ref", "motif_pvalue_alt", "motif_change", "window_start", "offset", "note", "info",
]  # fmt: skip
#: Columns printed with 3 significant digits (never ``0.000``: ``1.2e-05``).
P_COLUMNS = ("pvalue", "qvalue", "jsd_pvalue", "jsd_qvalue", "motif_pvalue_ref", "motif_pvalue_alt")
SKIP_COLUMNS = ["line", "chrom", "pos", "ref", "alt", "reason"]
#: Rows of ``variants.tsv`` formatted at once (bounds the memory of the text).
TSV_BLOCK = 20000


@dataclasses.dataclass
class VariantTable:
    """Per-allele results (every array's first axis is the allele, but the null draws')."""

    alleles: dict[str, np.ndarray]
    arrays: dict[str, np.ndarray]
    jsd: np.ndarray
    explained: np.ndarray
    sums: dict[str, np.ndarray]
    motif: dict[str, np.ndarray]
    null_effect: np.ndarray
    null_jsd: np.ndarray

    def __len__(self) -> int:
        return len(self.alleles["name"])

    @property
    def n_tasks(self) -> int:
        return int(self.arrays["logits_ref"].shape[1])

    @staticmethod
    def concat(parts: Sequence[VariantTable], n_tasks: int) -> VariantTable:
        if not parts:
            return VariantTable.empty(n_tasks)

        def cat(dicts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
            return {k: np.concatenate([d[k] for d in dicts]) for k in dicts[0]}

        return VariantTable(
            cat([p.alleles for p in parts]),
            cat([p.arrays for p in parts]),
            np.concatenate([p.jsd for p in parts]),
            np.concatenate([p.explained for p in parts]),
            cat([p.sums for p in parts]),
            cat([p.motif for p in parts]),
            np.concatenate([p.null_effect for p in parts]),
            np.concatenate([p.null_jsd for p in parts]),
        )

    @staticmethod
    def empty(n_tasks: int, n: int = 0) -> VariantTable:
        alleles = {k: np.zeros(n, dtype=object) for k in STR_FIELDS}
        alleles.update({k: np.zeros(n, dtype=np.int64) for k in INT_FIELDS})
        arrays = {k: np.zeros((n, n_tasks), dtype=np.float64) for k in ARRAYS}
        return VariantTable(alleles, arrays, np.full(n, np.nan), np.zeros(n, dtype=bool),
                            no_sums(n, n_tasks), no_motif(n), np.zeros((0, n_tasks)), np.zeros(0))  # fmt: skip

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        out = {f"alleles/{k}": _store(v) for k, v in self.alleles.items()}
        out.update(self.arrays)
        out.update({f"sums/{k}": v for k, v in self.sums.items()})
        out.update({f"motif/{k}": _store(v) for k, v in self.motif.items()})
        out.update({"jsd": self.jsd, "explained": self.explained, "null/effect": self.null_effect,
                    "null/jsd": self.null_jsd})  # fmt: skip
        return out

    @staticmethod
    def from_mapping(get: Mapping[str, Any]) -> VariantTable:
        def text(v: np.ndarray) -> np.ndarray:
            return np.array([s.decode() if isinstance(s, bytes) else str(s) for s in v], dtype=object)

        alleles = {k: text(np.asarray(get[f"alleles/{k}"])) for k in STR_FIELDS}
        alleles.update({k: np.asarray(get[f"alleles/{k}"], dtype=np.int64) for k in INT_FIELDS})
        arrays = {k: np.asarray(get[k], dtype=np.float64) for k in ARRAYS}
        motif = {k: text(np.asarray(get[f"motif/{k}"])) for k in MOTIF_STR}
        motif.update({k: np.asarray(get[f"motif/{k}"], dtype=np.float64) for k in MOTIF_NUM})
        sums = {k: np.asarray(get[f"sums/{k}"], dtype=np.float64) for k in SUMS}
        return VariantTable(alleles, arrays, np.asarray(get["jsd"], dtype=np.float64),
                            np.asarray(get["explained"], dtype=bool), sums, motif,
                            np.asarray(get["null/effect"], dtype=np.float64),
                            np.asarray(get["null/jsd"], dtype=np.float64))  # fmt: skip

    def derived(self, head: str = "none", null: str = "matched", ties: str = "conservative",
                seed: int = 0) -> dict[str, np.ndarray]:  # fmt: skip
        """Effects, p- and q-values, profile scores and contribution changes, ``(A, T)`` each.

        ``pvalue``: ``|effect|`` against the null SNVs' ``|effect|`` (``null="shuffled"`` or ``"matched"``)
        or against the other alleles of the run (``null="vcf"``), ties counted as ``ties`` says
        (:data:`.stats.TIE_RULES`, the uniforms seeded by ``seed``); ``qvalue``: Benjamini-Hochberg per task. For
        bpnet-lite models also ``logfc`` (counts, log2), ``jsd`` with its p/q-values and the
        ``active_allele_quantile`` (against the predicted counts of every REF window of the run).
        """
        eff = prediction_effects(
            self.arrays["logits_ref"], self.arrays["logits_alt"], self.arrays["probs_ref"],
            self.arrays["probs_alt"], head,
        )  # fmt: skip
        effect = eff["effect"]
        stat = np.abs(effect)
        n, t = effect.shape
        u = tie_uniforms((n, t), seed, 0) if ties == "randomized" else None
        if null == "vcf":
            p = own_pvalues(stat, ties=ties, uniforms=u)
        else:
            p = empirical_pvalues(stat, np.abs(self.null_effect), ties=ties, uniforms=u)
        nan = np.full((n, t), np.nan)
        out = {**eff, "pvalue": p, "qvalue": bh_qvalues(p)}
        profile = head in ("log_counts", "profile")
        if profile and n:
            lc_ref, lc_alt = self.arrays["logits_ref"][:, 0], self.arrays["logits_alt"][:, 0]
            jsd = self.jsd[:, None]
            uj = tie_uniforms((n, 1), seed, 1) if ties == "randomized" else None
            jp = (own_pvalues(jsd, ties=ties, uniforms=uj) if null == "vcf"
                  else empirical_pvalues(jsd, self.null_jsd[:, None], ties=ties, uniforms=uj))  # fmt: skip
            _, _, active = allele_quantiles(lc_ref, lc_alt, lc_ref)
            out.update(logfc=np.repeat(log2_fold_change(lc_ref, lc_alt)[:, None], t, 1),
                       jsd=np.repeat(jsd, t, 1), jsd_pvalue=np.repeat(jp, t, 1),
                       jsd_qvalue=np.repeat(bh_qvalues(jp), t, 1),
                       active_allele_quantile=np.repeat(active[:, None], t, 1))  # fmt: skip
        else:
            out.update(logfc=nan, jsd=nan, jsd_pvalue=nan, jsd_qvalue=nan, active_allele_quantile=nan)
        s = self.sums
        out.update(site_ref=s["site_ref"], site_alt=s["site_alt"], site_diff=s["site_alt"] - s["site_ref"],
                   around_diff=s["around_diff"], total_diff=s["total_diff"],
                   delta_error=s["total_diff"] - effect)  # fmt: skip
        return out


def no_sums(n: int, n_tasks: int) -> dict[str, np.ndarray]:
    return {k: np.full((n, n_tasks), np.nan) for k in SUMS}


def no_motif(n: int) -> dict[str, np.ndarray]:
    motif = {k: np.array([""] * n, dtype=object) for k in MOTIF_STR}
    motif["change"] = np.array(["NA"] * n, dtype=object)
    motif.update({k: np.full(n, np.nan) for k in MOTIF_NUM})
    return motif


def _store(v: np.ndarray) -> np.ndarray:
    return np.asarray([str(s) for s in v], dtype=str) if v.dtype == object else v


def write_h5(
    path: Path, table: VariantTable, attrs: Mapping[str, Any], parts: Iterable[Mapping[str, np.ndarray]],
    length: int,
) -> None:  # fmt: skip
    """``scores.h5`` (see the module docstring), written to ``path`` as given (wrap in atomic_path).

    ``parts`` yields the explained alleles' ``contrib_ref``, ``contrib_alt``, ``ref_sequence`` and
    ``alt_sequence`` a block at a time, in table order; the datasets are contiguous and sized up front
    (the table's ``explained`` count), so the file's bytes do not depend on how the blocks are cut.
    """
    text = h5py.string_dtype("utf-8")
    n_exp = int(table.explained.sum())
    t = table.n_tasks
    with h5py.File(path, "w") as h5:
        h5.attrs["format"] = FORMAT
        h5.attrs["format_version"] = FORMAT_VERSION
        for k in sorted(attrs):  # one order, so a gathered file equals an unsharded run's byte for byte
            v = attrs[k]
            h5.attrs[k] = list(v) if isinstance(v, (list, tuple)) else v
        for k, v in table.alleles.items():
            h5.create_dataset(f"alleles/{k}", data=list(v) if k in STR_FIELDS else v,
                              dtype=text if k in STR_FIELDS else np.int64)  # fmt: skip
        for k, v in table.motif.items():
            h5.create_dataset(f"motif/{k}", data=list(v) if k in MOTIF_STR else v,
                              dtype=text if k in MOTIF_STR else np.float64)  # fmt: skip
        for k in ARRAYS:
            h5.create_dataset(k, data=table.arrays[k], dtype=np.float64)
        for k in SUMS:
            h5.create_dataset(f"sums/{k}", data=table.sums[k], dtype=np.float64)
        h5.create_dataset("jsd", data=table.jsd, dtype=np.float64)
        h5.create_dataset("explained", data=table.explained, dtype=bool)
        h5.create_dataset("null/effect", data=table.null_effect.reshape(-1, t), dtype=np.float64)
        h5.create_dataset("null/jsd", data=table.null_jsd, dtype=np.float64)
        h5.create_dataset("explained_index", data=np.flatnonzero(table.explained).astype(np.int64), dtype=np.int64)
        shapes = {"contrib_ref": (n_exp, t, length), "contrib_alt": (n_exp, t, length),
                  "ref_sequence": (n_exp, length), "alt_sequence": (n_exp, length)}  # fmt: skip
        dsets = {k: h5.create_dataset(k, shape=shapes[k], dtype=np.float32 if k.startswith("contrib") else np.uint8)
                 for k in EXPLAINED}  # fmt: skip
        lo = 0
        for part in parts:
            m = len(part["contrib_ref"])
            if not m:
                continue
            for k in EXPLAINED:
                dsets[k][lo : lo + m] = part[k]
            lo += m
        if lo != n_exp:
            raise RuntimeError(f"{path}: {lo} explained alleles written, {n_exp} expected")


def read_h5(path: str | Path) -> tuple[VariantTable, dict[str, Any]]:
    """The table and root attributes of a ``scores.h5`` written by :func:`write_h5` (no contributions:
    :func:`read_explained` streams them)."""
    with h5py.File(path, "r") as h5:
        if h5.attrs.get("format") != FORMAT:
            raise InputError(f"{path}: not a variants scores.h5 (format {h5.attrs.get('format')!r})")
        if int(h5.attrs.get("format_version", 1)) != FORMAT_VERSION:
            raise InputError(f"{path}: variants layout version {h5.attrs.get('format_version')}, this version reads "
                             f"{FORMAT_VERSION}; score the VCF again")  # fmt: skip
        keys = [k for k in _h5_keys(h5) if k not in (*EXPLAINED, "explained_index")]
        table = VariantTable.from_mapping({k: h5[k][()] for k in keys})
        attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in h5.attrs.items()}
    return table, attrs


def read_explained(path: str | Path, block: int = 256, rows: Sequence[int] | None = None) -> Iterator[dict[str, np.ndarray]]:
    """The explained alleles' contributions and windows of a ``scores.h5``, ``block`` at a time (or the
    explained ``rows`` given, in that order, one at a time)."""
    with h5py.File(path, "r") as h5:
        n = h5["contrib_ref"].shape[0]
        if rows is not None:
            for r in rows:
                yield {k: h5[k][r : r + 1] for k in EXPLAINED}
            return
        for lo in range(0, n, block):
            yield {k: h5[k][lo : lo + block] for k in EXPLAINED}


def _h5_keys(h5: h5py.File) -> list[str]:
    keys: list[str] = []
    h5.visit(lambda name: keys.append(name) if isinstance(h5[name], h5py.Dataset) else None)
    return keys


def row_order(d: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(A * T,)`` flat (allele, task) indices, by |effect| (largest first, stable; NaN last)."""
    key = np.abs(d["effect"]).ravel()
    return np.argsort(-np.where(np.isnan(key), -np.inf, key), kind="stable")


def _num(v: np.ndarray, digits: str = ".6g") -> list[str]:
    v = np.asarray(v, dtype=np.float64)
    ok = np.isfinite(v)
    if ok.all():
        return [format(x, digits) for x in v.tolist()]
    out = np.full(len(v), "NA", dtype=object)
    if ok.any():  # most rows of a screen have no contribution sums: format only the numbers there are
        out[ok] = [format(x, digits) for x in v[ok].tolist()]
    return out.tolist()


def _int_or_na(v: np.ndarray, ok: np.ndarray) -> list[str]:
    return [str(int(x)) if o else "NA" for x, o in zip(v, ok)]


def tsv_block(table: VariantTable, task_names: Sequence[str], d: Mapping[str, np.ndarray], flat: np.ndarray) -> list[list[str]]:
    """The text of ``variants.tsv`` rows ``flat`` (flat (allele, task) indices), column by column."""
    n_t = len(task_names)
    i, t = flat // n_t, flat % n_t
    a, m = table.alleles, table.motif

    def s(v: np.ndarray) -> list[str]:
        return [str(x) for x in v[i]]

    def num(key: str) -> list[str]:
        return _num(d[key][i, t], ".3g" if key in ("pvalue", "qvalue", "jsd_pvalue", "jsd_qvalue") else ".6g")

    has_motif = np.array([bool(x) for x in m["name"][i]], dtype=bool)
    effect = d["effect"][i, t]
    cols = [
        s(a["name"]), s(a["vcf_id"]), [str(int(x)) for x in a["line"][i]], s(a["chrom"]),
        [str(int(x) + 1) for x in a["pos"][i]], s(a["ref"]), s(a["alt"]), s(a["kind"]),
        [task_names[k] for k in t], _num(effect), _num(np.abs(effect)), num("pvalue"), num("qvalue"),
        ["yes" if x else "no" for x in table.explained[i]],
        _num(table.arrays["logits_ref"][i, t]), _num(table.arrays["logits_alt"][i, t]),
        _num(table.arrays["probs_ref"][i, t]), _num(table.arrays["probs_alt"][i, t]),
        num("prob_diff"), num("log_odds_change"), num("logfc"), num("jsd"), num("jsd_pvalue"), num("jsd_qvalue"),
        num("active_allele_quantile"), num("site_ref"), num("site_alt"), num("site_diff"), num("around_diff"),
        num("total_diff"), num("delta_error"),
        [str(x) or "NA" for x in m["name"][i]], [str(x) or "NA" for x in m["strand"][i]],
        _int_or_na(np.nan_to_num(m["start_ref"][i]), has_motif), _num(m["score_ref"][i]), _num(m["score_alt"][i]),
        _num(m["pvalue_ref"][i], ".3g"), _num(m["pvalue_alt"][i], ".3g"), s(m["change"]),
        [str(int(x)) for x in a["window_start"][i]], [str(int(x)) for x in a["offset"][i]], s(a["note"]), s(a["info"]),
    ]  # fmt: skip
    return [list(r) for r in zip(*cols)]


def write_tsv(path: Path, table: VariantTable, task_names: Sequence[str], d: Mapping[str, np.ndarray]) -> None:
    """``variants.tsv``: one row per allele and task, by |effect| (largest first), written in blocks."""
    order = row_order(d) if len(table) else np.zeros(0, dtype=np.int64)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle, delimiter="\t", lineterminator="\n")
        w.writerow(TSV_COLUMNS)
        for lo in range(0, len(order), TSV_BLOCK):
            w.writerows(tsv_block(table, task_names, d, order[lo : lo + TSV_BLOCK]))


def write_skipped(path: Path, skipped: Sequence[Skip]) -> None:
    """``skipped.tsv``: one line per allele not scored, with its reason."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle, delimiter="\t", lineterminator="\n")
        w.writerow(SKIP_COLUMNS)
        for s in skipped:
            w.writerow([s.line, s.chrom, s.pos + 1, s.ref, s.alt, s.reason])


def read_skipped(path: Path) -> list[Skip]:
    with open(path, encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader)
        return [Skip(int(r[0]), r[1], int(r[2]) - 1, r[3], r[4], r[5]) for r in reader]


def screening_summary(table: VariantTable, d: Mapping[str, np.ndarray], tasks: Sequence[str]) -> dict[str, Any]:
    """What ``summary.json`` says of the screen: explained count, null size, alleles at q < 0.05 per task."""
    n = len(table)
    return {
        "n_explained": int(table.explained.sum()),
        "n_null_snvs": int(len(table.null_effect)),
        "n_q_below_0.05": {task: int(np.sum(d["qvalue"][:, k] < 0.05)) if n else 0 for k, task in enumerate(tasks)},
        "max_abs_delta_error": float(np.nanmax(np.abs(d["delta_error"]))) if table.explained.any() else None,
    }


def write_all(
    out_dir: Path,
    table: VariantTable,
    parts: Callable[[], Iterable[Mapping[str, np.ndarray]]],
    skipped: Sequence[Skip],
    attrs: Mapping[str, Any],
    summary: Mapping[str, Any],
    report_top: int,
) -> list[Path]:
    """Write scores.h5, variants.tsv, skipped.tsv, summary.json and report.html, each atomically.

    ``parts()`` yields the explained alleles' contributions in table order (:func:`write_h5`).
    """
    tasks = list(attrs["task_names"])
    files = [out_dir / n for n in ("scores.h5", "variants.tsv", "skipped.tsv", "summary.json", "report.html")]
    d = derive(table, attrs)
    with atomic_path(files[0]) as tmp:
        write_h5(tmp, table, attrs, parts(), int(attrs["input_length"]))
    with atomic_path(files[1]) as tmp:
        write_tsv(tmp, table, tasks, d)
    with atomic_path(files[2]) as tmp:
        write_skipped(tmp, skipped)
    summ = {**summary, **screening_summary(table, d, tasks)}
    with atomic_path(files[3]) as tmp:
        tmp.write_text(json.dumps(summ, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    with atomic_path(files[4]) as tmp:
        write_report(tmp, table, attrs, summ, report_top, d if len(table) else None, files[0])
    return files


def derive(table: VariantTable, attrs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """:meth:`VariantTable.derived` with the run's head, null, tie rule and seed from its ``attrs`` (outputs
    written before the tie rule existed count ties conservatively)."""
    return table.derived(str(attrs.get("head", "none")), str(attrs.get("null", "matched")),
                         str(attrs.get("pvalue_ties", "conservative")), int(attrs.get("seed", 0)))  # fmt: skip
