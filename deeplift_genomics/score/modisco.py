"""modisco-lite on a score output directory: ``modisco motifs`` then ``modisco report`` per task."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
from pathlib import Path

from ..io.atomic import atomic_directory
from .outputs import safe_name

log = logging.getLogger(__name__)


def run_modisco(out_dir: Path, tasks: list[str], max_seqlets: int, window: int) -> int:
    """Run ``modisco motifs`` then ``modisco report`` per task into ``out_dir/modisco/<task>/``.

    Returns 0 when every task succeeded, 1 otherwise (the scores stay; the log says what failed).
    """
    status = 0
    ohe = out_dir / "ohe.npz"
    for task in tasks:
        shap = out_dir / (f"shap_{safe_name(task)}.npz" if len(tasks) > 1 else "shap.npz")
        final = out_dir / "modisco" / safe_name(task)
        try:
            with atomic_directory(final) as tmp:
                results = tmp / "modisco_results.h5"
                for cmd in (
                    [
                        "motifs",
                        "-s",
                        str(ohe),
                        "-a",
                        str(shap),
                        "-n",
                        str(max_seqlets),
                        "-w",
                        str(window),
                        "-o",
                        str(results),
                    ],
                    ["report", "-i", str(results), "-o", str(tmp / "report"), "-s", "./"],
                ):
                    log.info("modisco-lite %s (task %s)", cmd[0], task)
                    done = subprocess.run(
                        [sys.executable, "-c", "from modiscolite.cli import cli; cli()", *cmd],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if done.returncode != 0:
                        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                        raise RuntimeError(f"modisco {cmd[0]} failed for task {task}: {tail[0]}")
        except RuntimeError as exc:
            log.error("%s", exc)
            status = 1
            with contextlib.suppress(OSError):
                final.parent.rmdir()  # only when no other task's report is there
            continue
        log.info("modisco-lite report for task %s: %s", task, final / "report" / "report.html")
    return status
