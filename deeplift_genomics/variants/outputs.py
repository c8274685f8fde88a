"""The per-allele results of ``variants`` in memory (:class:`VariantTable`) and the files made from them.

``scores.h5`` (layout version 1), ``A`` alleles, ``T`` tasks, windows of ``L`` bases:

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
``ref_sequence``/``alt_seq..`` (A, L) uint8    ASCII letters of the two windows
``logits_ref`` / ``_alt``      (A, T) float64  model outputs (pre-sigmoid/softmax)
``probs_ref`` / ``_alt``       (A, T) float64  probabilities
``contrib_ref`` / ``_alt``     (A, T, L) f32   contribution of the observed base at each position
``motif/*``                    (A,)            name, strand, start_ref, score_ref, score_alt,
                                               pvalue_ref, pvalue_alt, change
=============================  ==============  =====================================================

Root attributes: ``format`` ("deeplift-genomics-variants"), ``format_version``, ``task_names``,
``method``, ``rule``, ``references``, ``n_references``, ``input_length``, ``head``, ``fasta``, ``vcf``,
``model``, ``motifs``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..core.errors import InputError
from ..io.atomic import atomic_path
from ..io.vcf import Skip
from .effects import contribution_changes, prediction_effects
from .report import write_report

FORMAT = "deeplift-genomics-variants"
FORMAT_VERSION = 1
STR_FIELDS = ("name", "vcf_id", "chrom", "ref", "alt", "kind", "info", "note")
INT_FIELDS = ("line", "pos", "window_start", "offset")
MOTIF_STR = ("name", "strand", "change")
MOTIF_NUM = ("start_ref", "score_ref", "score_alt", "pvalue_ref", "pvalue_alt")
ARRAYS = ("logits_ref", "logits_alt", "probs_ref", "probs_alt", "contrib_ref", "contrib_alt")
TSV_COLUMNS = [
    "variant", "vcf_id", "line", "chrom", "pos", "ref", "alt", "kind", "task",
    "effect", "abs_effect", "logit_ref", "logit_alt", "prob_ref", "prob_alt", "prob_diff", "log_odds_change",
    "contrib_site_ref", "contrib_site_alt", "contrib_site_diff", "contrib_around_diff", "contrib_total_diff",
    "delta_error", "motif", "motif_strand", "motif_start", "motif_score_ref", "motif_score_alt",
    "motif_pvalue_ref", "motif_pvalue_alt", "motif_change", "window_start", "offset", "note", "info",
]  # fmt: skip
SKIP_COLUMNS = ["line", "chrom", "pos", "ref", "alt", "reason"]


@dataclasses.dataclass
class VariantTable:
    """Per-allele results (every array's first axis is the allele)."""

    alleles: dict[str, np.ndarray]
    arrays: dict[str, np.ndarray]
    motif: dict[str, np.ndarray]
    ref_sequence: np.ndarray
    alt_sequence: np.ndarray

    def __len__(self) -> int:
        return len(self.alleles["name"])

    @staticmethod
    def concat(parts: Sequence[VariantTable], n_tasks: int, length: int) -> VariantTable:
        if not parts:
            return VariantTable.empty(n_tasks, length)

        def cat(dicts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
            return {k: np.concatenate([d[k] for d in dicts]) for k in dicts[0]}

        return VariantTable(
            cat([p.alleles for p in parts]),
            cat([p.arrays for p in parts]),
            cat([p.motif for p in parts]),
            np.concatenate([p.ref_sequence for p in parts]),
            np.concatenate([p.alt_sequence for p in parts]),
        )

    @staticmethod
    def empty(n_tasks: int, length: int) -> VariantTable:
        alleles = {k: np.zeros(0, dtype=object) for k in STR_FIELDS}
        alleles.update({k: np.zeros(0, dtype=np.int64) for k in INT_FIELDS})
        arrays = {k: np.zeros((0, n_tasks), dtype=np.float64) for k in ARRAYS[:4]}
        arrays.update({k: np.zeros((0, n_tasks, length), dtype=np.float32) for k in ARRAYS[4:]})
        motif = {k: np.zeros(0, dtype=object) for k in MOTIF_STR}
        motif.update({k: np.zeros(0, dtype=np.float64) for k in MOTIF_NUM})
        seq = np.zeros((0, length), dtype=np.uint8)
        return VariantTable(alleles, arrays, motif, seq, seq.copy())

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        out = {f"alleles/{k}": _store(v) for k, v in self.alleles.items()}
        out.update(self.arrays)
        out.update({f"motif/{k}": _store(v) for k, v in self.motif.items()})
        out["ref_sequence"], out["alt_sequence"] = self.ref_sequence, self.alt_sequence
        return out

    @staticmethod
    def from_mapping(get: Mapping[str, Any]) -> VariantTable:
        def text(v: np.ndarray) -> np.ndarray:
            return np.array([s.decode() if isinstance(s, bytes) else str(s) for s in v], dtype=object)

        alleles = {k: text(np.asarray(get[f"alleles/{k}"])) for k in STR_FIELDS}
        alleles.update({k: np.asarray(get[f"alleles/{k}"], dtype=np.int64) for k in INT_FIELDS})
        arrays = {k: np.asarray(get[k]) for k in ARRAYS}
        motif = {k: text(np.asarray(get[f"motif/{k}"])) for k in MOTIF_STR}
        motif.update({k: np.asarray(get[f"motif/{k}"], dtype=np.float64) for k in MOTIF_NUM})
        return VariantTable(
            alleles, arrays, motif, np.asarray(get["ref_sequence"]), np.asarray(get["alt_sequence"])
        )

    def derived(self, flank: int, head: str = "none") -> dict[str, np.ndarray]:
        """Effects and contribution changes, ``(A, T)`` each (see :mod:`effects`)."""
        eff = prediction_effects(
            self.arrays["logits_ref"], self.arrays["logits_alt"], self.arrays["probs_ref"],
            self.arrays["probs_alt"], head,
        )  # fmt: skip
        ref_len = np.array([len(s) for s in self.alleles["ref"]], dtype=np.int64)
        alt_len = np.array([len(s) for s in self.alleles["alt"]], dtype=np.int64)
        ch = contribution_changes(
            self.arrays["contrib_ref"], self.arrays["contrib_alt"], self.alleles["offset"], ref_len, alt_len,
            eff["effect"], flank,
        )  # fmt: skip
        return {**eff, **ch}


def _store(v: np.ndarray) -> np.ndarray:
    return np.asarray([str(s) for s in v], dtype=str) if v.dtype == object else v


def write_h5(path: Path, table: VariantTable, attrs: Mapping[str, Any]) -> None:
    """``scores.h5`` (see the module docstring), written to ``path`` as given (wrap in atomic_path)."""
    text = h5py.string_dtype("utf-8")
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
            h5.create_dataset(k, data=table.arrays[k], dtype=np.float32 if k.startswith("contrib") else np.float64)
        h5.create_dataset("ref_sequence", data=table.ref_sequence, dtype=np.uint8)
        h5.create_dataset("alt_sequence", data=table.alt_sequence, dtype=np.uint8)


def read_h5(path: str | Path) -> tuple[VariantTable, dict[str, Any]]:
    """The table and root attributes of a ``scores.h5`` written by :func:`write_h5`."""
    with h5py.File(path, "r") as h5:
        if h5.attrs.get("format") != FORMAT:
            raise InputError(f"{path}: not a variants scores.h5 (format {h5.attrs.get('format')!r})")
        table = VariantTable.from_mapping({k: h5[k][()] for k in _h5_keys(h5)})
        attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in h5.attrs.items()}
    return table, attrs


def _h5_keys(h5: h5py.File) -> list[str]:
    keys: list[str] = []
    h5.visit(lambda name: keys.append(name) if isinstance(h5[name], h5py.Dataset) else None)
    return keys


def rows(
    table: VariantTable, task_names: Sequence[str], flank: int, head: str = "none",
    derived: Mapping[str, np.ndarray] | None = None,
) -> list[list[Any]]:  # fmt: skip
    """``variants.tsv`` rows (one per allele and task), sorted by |effect| (largest first, stable).

    ``derived`` is ``table.derived(flank, head)`` when the caller has it already.
    """
    d = table.derived(flank, head) if derived is None else derived
    a, m, arr = table.alleles, table.motif, table.arrays
    out = []
    for i in range(len(table)):
        for t, task in enumerate(task_names):
            eff = d["effect"][i, t]
            out.append([
                a["name"][i], a["vcf_id"][i], int(a["line"][i]), a["chrom"][i], int(a["pos"][i]) + 1, a["ref"][i],
                a["alt"][i], a["kind"][i], task, eff, abs(eff), arr["logits_ref"][i, t], arr["logits_alt"][i, t],
                arr["probs_ref"][i, t], arr["probs_alt"][i, t], d["prob_diff"][i, t], d["log_odds_change"][i, t],
                d["site_ref"][i, t], d["site_alt"][i, t], d["site_diff"][i, t], d["around_diff"][i, t],
                d["total_diff"][i, t], d["delta_error"][i, t], m["name"][i] or "NA", m["strand"][i] or "NA",
                int(m["start_ref"][i]) if m["name"][i] else "NA", m["score_ref"][i], m["score_alt"][i],
                m["pvalue_ref"][i], m["pvalue_alt"][i], m["change"][i], int(a["window_start"][i]), int(a["offset"][i]), a["note"][i], a["info"][i],
            ])  # fmt: skip
    order = sorted(range(len(out)), key=lambda k: -out[k][10])
    return [out[k] for k in order]


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return "NA" if not np.isfinite(v) else f"{float(v):.6g}"
    return str(v)


def write_tsv(
    path: Path, table: VariantTable, task_names: Sequence[str], flank: int, head: str = "none",
    derived: Mapping[str, np.ndarray] | None = None,
) -> None:  # fmt: skip
    """``variants.tsv`` (see :func:`rows`), written to ``path`` as given."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle, delimiter="\t", lineterminator="\n")
        w.writerow(TSV_COLUMNS)
        for r in rows(table, task_names, flank, head, derived):
            w.writerow([_fmt(v) for v in r])


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


def write_all(
    out_dir: Path,
    table: VariantTable,
    skipped: Sequence[Skip],
    attrs: Mapping[str, Any],
    summary: Mapping[str, Any],
    flank: int,
    report_top: int,
) -> list[Path]:
    """Write scores.h5, variants.tsv, skipped.tsv, summary.json and report.html, each atomically."""
    tasks = list(attrs["task_names"])
    files = [out_dir / n for n in ("scores.h5", "variants.tsv", "skipped.tsv", "summary.json", "report.html")]
    # effects and contribution changes once, for the table, the summary and the report
    d = table.derived(flank, str(attrs["head"]))
    with atomic_path(files[0]) as tmp:
        write_h5(tmp, table, attrs)
    with atomic_path(files[1]) as tmp:
        write_tsv(tmp, table, tasks, flank, str(attrs["head"]), d)
    with atomic_path(files[2]) as tmp:
        write_skipped(tmp, skipped)
    summ = dict(summary)
    summ["max_abs_delta_error"] = float(np.abs(d["delta_error"]).max()) if len(table) else None
    with atomic_path(files[3]) as tmp:
        tmp.write_text(json.dumps(summ, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    with atomic_path(files[4]) as tmp:
        write_report(tmp, table, attrs, summ, flank, report_top, d if len(table) else None)
    return files
