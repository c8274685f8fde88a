"""``report``: self-contained HTML pages (index + one per task) from a ``benchmark`` output directory."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..benchmark.report import write_report
from ..core.errors import InputError
from ..io.output_dirs import check_complete, guarded_output
from .settings import BY_RULE, Setting, add_setting_flags, resolve_settings

log = logging.getLogger(__name__)

SETTINGS: dict[str, Setting] = {
    "benchmark": Setting(kind=str, help='output directory of `deeplift-genomics benchmark`', workflow=BY_RULE),
    "out": Setting(kind=str, help='output directory: index.html, task_0.html, ...', workflow=BY_RULE),
    "motifs": Setting([], list, metavar="DIR", nargs="+",
                help='output directories of `deeplift-genomics motifs` to link from the index', workflow=BY_RULE),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``deeplift-genomics report``."""
    add_setting_flags(parser, SETTINGS, "report")


def load_summary(bench_dir: str | Path) -> dict:
    """``summary.json`` of a benchmark directory; a missing or broken one is an :class:`InputError`."""
    path = Path(bench_dir) / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: not found; --benchmark must be a `benchmark` output directory") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON (line {exc.lineno})") from None
    for key in ("task_names", "tasks", "methods", "fig5b", "metrics", "claims", "models", "data"):
        if key not in summary:
            raise InputError(f"{path}: field '{key}' is missing; rerun `benchmark` with this version")
    return summary


def run(args: argparse.Namespace) -> int:
    """Write the report."""
    s = resolve_settings(args, "report", SETTINGS, ("benchmark", "out"))
    motif_dirs = list(s["motifs"] or [])
    with guarded_output(s["out"], "report", (s["benchmark"], *motif_dirs, getattr(args, "config", None))):
        summary = load_summary(s["benchmark"])
        check_complete(s["benchmark"], "benchmark output directory")
        for d in motif_dirs:
            if not (Path(d) / "report" / "index.html").is_file():
                raise InputError(
                    f"{d}: no report/index.html; --motifs takes `deeplift-genomics motifs` output directories"
                )
        paths = write_report(summary, s["benchmark"], s["out"], motif_dirs)
    log.info("wrote %d pages to %s", len(paths), s["out"])
    return 0
