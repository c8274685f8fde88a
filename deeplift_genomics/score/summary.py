"""``summary.json`` of a ``score`` run: its precision and float32's error measured against float64.

Each chunk's first attribution call recomputes ``float64_check`` windows in float64
(:class:`.batcher.ChunkScorer`) and keeps, per task, the largest float32 error and the largest float64
contribution; a run (and ``score --gather``, over its shards) states the maxima over every checked window,
so a gathered run says what the unsharded run says.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_write_text

log = logging.getLogger(__name__)

SUMMARY_JSON = "summary.json"


def float64_check_of_chunks(paths: Sequence[Path]) -> dict[str, Any] | None:
    """The float64 check of the chunks that made one (:class:`.batcher.ChunkScorer`), merged; None if none did.

    ``{"windows": n, "max_abs_diff": [per task], "max_abs_score": [per task]}``: the largest float32 error
    and the largest float64 contribution over every checked window.
    """
    merged: dict[str, Any] | None = None
    for path in paths:
        with np.load(path) as part:
            if "f64_check_windows" not in part.files:
                continue
            one = {"windows": int(part["f64_check_windows"]),
                   "max_abs_diff": part["f64_check_max_abs_diff"].tolist(),
                   "max_abs_score": part["f64_check_max_abs_score"].tolist()}
        merged = one if merged is None else merge_float64_checks([merged, one])
    return merged


def merge_float64_checks(checks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several runs' (chunks', shards') float64 checks as one: windows add up, maxima per task."""
    return {"windows": sum(int(c["windows"]) for c in checks),
            "max_abs_diff": np.max([c["max_abs_diff"] for c in checks], axis=0).tolist(),
            "max_abs_score": np.max([c["max_abs_score"] for c in checks], axis=0).tolist()}


def float64_check_summary(tasks: Sequence[str], check: dict[str, Any] | None) -> dict[str, Any] | None:
    """What ``summary.json`` says of float32 against float64: per task, the largest error relative to the
    largest float64 contribution of the checked windows."""
    if check is None:
        return None
    per_task = {}
    for t, diff, scale in zip(tasks, check["max_abs_diff"], check["max_abs_score"], strict=True):
        per_task[str(t)] = {"max_abs_error": float(diff), "max_abs_score_float64": float(scale),
                            "relative_error": float(diff) / float(scale) if scale > 0 else 0.0}
    return {"windows": int(check["windows"]), "tasks": per_task,
            "max_abs_diff": list(check["max_abs_diff"]), "max_abs_score": list(check["max_abs_score"])}


def write_score_summary(
    out_dir: Path, tasks: Sequence[str], precision: str, float64_check: int, check: dict[str, Any] | None
) -> Path:
    """``summary.json``: the precision the scores were computed in and, from the float64 check, float32's
    measured error per task (``float32_vs_float64``; null when no window was checked)."""
    stated = float64_check_summary(tasks, check)
    summary = {"precision": precision, "float64_check": int(float64_check), "float32_vs_float64": stated}
    if stated is not None:
        worst = max(stated["tasks"].items(), key=lambda kv: kv[1]["relative_error"])
        log.info("float32 against float64 on %d window(s): largest error %.3g of the largest score (task %s)",
                 stated["windows"], worst[1]["relative_error"], worst[0])
    path = out_dir / SUMMARY_JSON
    atomic_write_text(path, json.dumps(summary, indent=1) + "\n")
    return path


def read_float64_check(path: Path) -> dict[str, Any] | None:
    """The merged float64 check a ``summary.json`` holds (None: none, or no such file)."""
    if not path.is_file():
        return None
    part = json.loads(path.read_text(encoding="utf-8")).get("float32_vs_float64")
    if not part:
        return None
    return {"windows": int(part["windows"]), "max_abs_diff": list(part["max_abs_diff"]),
            "max_abs_score": list(part["max_abs_score"])}
