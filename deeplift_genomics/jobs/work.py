"""The resumable work of a long run: a manifest, a chunk loop that resumes, and a clean finish.

``OUT_DIR/<work dir>/manifest.json`` records the inputs' checksums and every setting; chunks are saved
to ``OUT_DIR/<work dir>/chunks/chunk_NNNNNN.npz`` as they complete. A rerun whose manifest is the same
skips the chunks already there (a truncated or corrupt one is computed again); a changed input or
setting starts over. Bad input met before any chunk was saved leaves OUT_DIR as it was. When the run is
done the work directory goes (unless kept), outputs of an earlier run into OUT_DIR that this run did not
write go too, and OUT_DIR gets its marker listing this run's files.

``score`` and ``variants`` both run through :class:`ChunkedWork`; a later long command does the same.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from ..core.errors import InputError
from ..io.atomic import atomic_path, atomic_write_text
from ..io.output_dirs import (
    forget_failed_start,
    open_output_dir,
    read_marker,
    remove_entry,
    remove_stale_parts,
    write_marker,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (no half-written chunk survives a crash)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        # mypy matches **dict[str, ndarray] against savez's allow_pickle: bool as well
        np.savez(handle, **arrays)  # type: ignore[arg-type]


def prepare_work(work: Path, manifest: dict[str, Any]) -> Path:
    """The resumable work folder's chunk directory: kept when ``manifest`` equals the interrupted run's,
    started afresh otherwise."""
    chunks = work / "chunks"
    path = work / "manifest.json"
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
        if old == manifest:
            done = len(list(chunks.glob("chunk_*.npz"))) if chunks.exists() else 0
            if done:
                log.info("resuming: %d completed chunk(s) found in %s", done, chunks)
        else:
            log.warning("%s: inputs or parameters changed since the interrupted run; starting over", work)
            shutil.rmtree(work)
    chunks.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        atomic_write_text(path, json.dumps(manifest, indent=1, sort_keys=True))
    return chunks


class ChunkedWork(Generic[T]):
    """One resumable run of ``command`` into ``out_dir``.

    Parameters
    ----------
    out_dir
        The command's output directory (created, or taken over when it is ours, by :meth:`open`).
    command
        The command's name (the output directory's marker says which command made it).
    work_name
        The hidden work directory inside ``out_dir`` (``.score_work``, ``.variants_work``).
    manifest
        Everything the results depend on; a rerun resumes only when it is equal.
    outputs
        Name patterns of the files this command writes at the top of ``out_dir``: files of an earlier run
        that match them (or that its marker lists) and that this run did not write are removed at the end.
    """

    def __init__(self, out_dir: Path, command: str, work_name: str, manifest: dict[str, Any],
                 outputs: Sequence[str]) -> None:  # fmt: skip
        self.out_dir = out_dir
        self.command = command
        self.work = out_dir / work_name
        self.manifest = manifest
        self.outputs = tuple(outputs)
        self.chunks_dir = self.work / "chunks"
        self._existed = False
        self._marked_now = False

    def open(self) -> Path:
        """Create or take over ``out_dir`` (marked first), keep or restart the work; the chunk directory."""
        self._existed, self._marked_now = open_output_dir(self.out_dir, self.command)
        self.chunks_dir = prepare_work(self.work, self.manifest)
        remove_stale_parts(self.chunks_dir)
        return self.chunks_dir

    def chunk_path(self, k: int, series: str = "chunk") -> Path:
        """Where chunk ``k`` of ``series`` is saved (a run of several passes names each pass's series)."""
        return self.chunks_dir / f"{series}_{k:06d}.npz"

    def run(
        self,
        n_chunks: int,
        compute: Callable[[int, Path], T],
        resume: Callable[[int, Path], T | None],
        after_chunk: Callable[[int], None] | None = None,
        series: str = "chunk",
    ) -> list[T]:
        """Each chunk's result, in order: ``resume(k, path)`` for a chunk an earlier run saved (``None``: it
        is unreadable, compute it again), else ``compute(k, path)``, which saves the chunk to ``path``.
        ``series`` names the chunk files (:meth:`chunk_path`), so that a second pass over the same chunks
        resumes apart from the first.

        An :class:`InputError` before any chunk is saved leaves ``out_dir`` as it was before the run.
        """
        results: list[T] = []
        try:
            for k in range(n_chunks):
                path = self.chunk_path(k, series)
                if path.exists():
                    done = resume(k, path)
                    if done is not None:
                        results.append(done)
                        continue
                    log.warning("%s: unreadable or incomplete chunk of an interrupted run; computing it again", path)
                    path.unlink()
                results.append(compute(k, path))
                if after_chunk is not None:
                    after_chunk(k)
        except InputError:
            forget_failed_start(self.out_dir, self.work, self.chunks_dir, self._existed, self._marked_now)
            raise
        return results

    def finish(self, files: Sequence[Path], keep_work: bool = False) -> None:
        """Drop the work (unless ``keep_work``) and an earlier run's outputs; mark ``out_dir`` with ``files``."""
        if not keep_work:
            shutil.rmtree(self.work, ignore_errors=True)
        finish_output_dir(self.out_dir, self.command, files, self.outputs)


def finish_output_dir(out_dir: Path, command: str, files: Sequence[Path], outputs: Sequence[str]) -> None:
    """Remove what an earlier run of ``command`` left in ``out_dir`` beside this run's ``files`` (names the
    old marker lists, or matching ``outputs``; hidden entries stay), then mark ``out_dir`` with ``files``."""
    names = {Path(p).name for p in files}
    old = set((read_marker(out_dir) or {}).get("files", []))
    removed = []
    for path in sorted(out_dir.iterdir()):
        if path.name in names or path.name.startswith("."):
            continue
        if path.name in old or any(path.match(pattern) for pattern in outputs):
            remove_entry(path)
            removed.append(path.name)
    if removed:
        log.info("removed %d output(s) of an earlier run: %s", len(removed), ", ".join(removed))
    write_marker(out_dir, command, [Path(p).name for p in files])
