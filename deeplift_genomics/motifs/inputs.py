"""Scores as the motif stages take them: every record's tracks concatenated on one base axis.

A :class:`ScoreTracks` holds, for ``N`` records of any lengths and ``T`` tasks, the one-hot sequence
``(4, B)``, the hypothetical contributions ``(T, 4, B)`` and the per-base scores ``(T, B)``; record ``i``
owns bases ``offsets[i]:offsets[i+1]``. This is the layout of ``scores.h5`` (see
:mod:`deeplift_genomics.score.outputs`), so a genome-scale score output is read without reshaping, and
equal-length arrays ``(N, T, 4, L)`` (an ``attribute`` file) fit it by flattening.

Unknown bases (N, IUPAC) and skipped records carry no signal: their one-hot columns are zero and their
scores 0 (``scores.h5`` stores NaN there).

- :func:`read_score_dir`: a ``score`` output directory.
- :func:`read_attributions`: an ``attribute`` .npz file plus its dataset.
- :func:`from_arrays` (pure): equal-length arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InputError
from ..datasets.load import load_dataset
from ..io.attributions import Attributions, check_same_data, load_attributions
from ..io.onehot import sequence_indices
from ..score.outputs import SCORES_FORMAT, check_offsets

SCORES_FILE = "scores.h5"


@dataclasses.dataclass
class ScoreTracks:
    """Per-base tracks of ``N`` records on one concatenated base axis of ``B`` bases.

    Attributes
    ----------
    names
        ``(N,)`` record names.
    offsets
        ``(N + 1,)`` int64; record ``i`` owns bases ``offsets[i]:offsets[i + 1]``.
    onehot
        ``(4, B)`` float32 one-hot (A, C, G, T); unknown bases are all-zero columns.
    hypothetical
        ``(T, 4, B)`` float32 hypothetical contributions; 0 at unknown bases.
    projected
        ``(T, B)`` float32 per-base scores (contribution of the observed base); 0 at unknown bases.
    task_names
        ``T`` task names.
    chrom, chrom_start, strand
        Genomic placement of each record's first base (``chrom == ""`` / ``chrom_start < 0`` when
        unknown; ``strand == "-"`` when the record is a reverse complement), for BED output.
    source
        What the tracks were read from (for messages and reports).
    """

    names: np.ndarray
    offsets: np.ndarray
    onehot: np.ndarray
    hypothetical: np.ndarray
    projected: np.ndarray
    task_names: list[str]
    chrom: np.ndarray | None = None
    chrom_start: np.ndarray | None = None
    strand: np.ndarray | None = None
    source: str = ""

    @property
    def n_records(self) -> int:
        """Number of records ``N``."""
        return len(self.names)

    @property
    def n_bases(self) -> int:
        """Number of bases ``B`` on the concatenated axis."""
        return int(self.offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        """``(N,)`` record lengths."""
        return np.diff(self.offsets)

    def record_of(self, position: np.ndarray) -> np.ndarray:
        """Record index of each base position on the concatenated axis."""
        return np.searchsorted(self.offsets, np.asarray(position, dtype=np.int64), side="right") - 1

    def has_coordinates(self) -> bool:
        """Whether every record carries a genomic placement (so BED files can be written)."""
        return (self.chrom is not None and self.chrom_start is not None and len(self.chrom) > 0
                and bool(np.all(self.chrom != "")) and bool(np.all(self.chrom_start >= 0)))

    def task_index(self, task: str) -> int:
        """Index of ``task``; an unknown name is an :class:`InputError` listing the known ones."""
        if task not in self.task_names:
            raise InputError(f"{self.source or 'scores'}: no task named {task!r} "
                             f"(tasks: {', '.join(self.task_names)})")
        return self.task_names.index(task)

    def select_tasks(self, tasks: Sequence[str] | None) -> ScoreTracks:
        """The tracks of ``tasks`` only (in that order); ``None`` keeps all."""
        if tasks is None:
            return self
        idx = [self.task_index(t) for t in tasks]
        return dataclasses.replace(self, hypothetical=self.hypothetical[idx], projected=self.projected[idx],
                                   task_names=[self.task_names[i] for i in idx])


def _clean(a: np.ndarray, where: str = "scores") -> np.ndarray:
    """``a`` as float32 with NaN (documented: scores at N bases) as 0; an infinite score is an
    :class:`InputError` naming ``where`` and its first base, never read as 0."""
    a = np.asarray(a, dtype=np.float32)
    inf = np.isinf(a)
    if inf.any():
        first = np.argwhere(inf)[0]
        raise InputError(f"{where}: {int(inf.sum())} infinite score(s) (first at index {tuple(int(i) for i in first)}, "
                         f"{a[tuple(first)]}); the scores are broken (NaN marks N bases, inf never)")
    return np.where(np.isnan(a), np.float32(0), a)


def onehot_from_ascii(sequence: np.ndarray) -> np.ndarray:
    """``(4, B)`` float32 one-hot of ASCII letters ``(B,)`` (uint8); non-ACGT letters give zero columns."""
    idx = sequence_indices(np.asarray(sequence, dtype=np.uint8).tobytes().decode("ascii", errors="replace"))
    out = np.zeros((4, len(idx)), dtype=np.float32)
    known = np.flatnonzero(idx >= 0)
    out[idx[known], known] = 1
    return out


def from_arrays(onehot: np.ndarray, hypothetical: np.ndarray, task_names: Sequence[str],
                names: Sequence[str] | None = None, projected: np.ndarray | None = None,
                source: str = "arrays") -> ScoreTracks:
    """Tracks of equal-length records from arrays.

    Parameters
    ----------
    onehot
        ``(N, 4, L)`` one-hot sequences.
    hypothetical
        ``(N, T, 4, L)`` hypothetical contributions.
    task_names
        ``T`` task names.
    names
        ``N`` record names (default ``"0"``, ``"1"``, ...).
    projected
        ``(N, T, L)`` per-base scores; default the contribution of the observed base,
        ``(hypothetical * onehot).sum(channels)``.
    source
        Label for messages.
    """
    onehot = np.asarray(onehot, dtype=np.float32)
    hyp = _clean(hypothetical, f"{source}: hypothetical")
    if onehot.ndim != 3 or onehot.shape[1] != 4:
        raise InputError(f"{source}: one-hot must be (N, 4, L), got shape {onehot.shape}")
    n, _, length = onehot.shape
    if hyp.ndim != 4 or hyp.shape[0] != n or hyp.shape[2:] != (4, length):
        raise InputError(f"{source}: hypothetical scores must be ({n}, T, 4, {length}), got shape {hyp.shape}")
    t = hyp.shape[1]
    if len(task_names) != t:
        raise InputError(f"{source}: {len(task_names)} task names for {t} tasks")
    proj = (hyp * onehot[:, None]).sum(axis=2) if projected is None else _clean(projected, f"{source}: projected")
    if proj.shape != (n, t, length):
        raise InputError(f"{source}: projected scores must be ({n}, {t}, {length}), got shape {proj.shape}")
    name_arr = np.asarray([str(i) for i in range(n)] if names is None else list(names), dtype=str)
    return ScoreTracks(
        names=name_arr, offsets=np.arange(n + 1, dtype=np.int64) * length,
        onehot=np.ascontiguousarray(onehot.transpose(1, 0, 2).reshape(4, n * length)),
        hypothetical=np.ascontiguousarray(hyp.transpose(1, 2, 0, 3).reshape(t, 4, n * length)),
        projected=np.ascontiguousarray(proj.transpose(1, 0, 2).reshape(t, n * length)),
        task_names=[str(x) for x in task_names], source=source)


def _checked_tasks(h5: Any, h5_path: Path, root: Path, tasks: Sequence[str] | None) -> tuple[list[str], list[int]]:
    """A ``scores.h5``'s format and datasets checked; the tasks asked for (default all) and their rows."""
    if h5.attrs.get("format") != SCORES_FORMAT:
        raise InputError(f"{h5_path}: attribute 'format' is {h5.attrs.get('format')!r}, "
                         f"not {SCORES_FORMAT!r}; not a `score` output")
    for key in ("records/name", "records/offset", "sequence", "projected", "hypothetical"):
        if key not in h5:
            raise InputError(f"{h5_path}: dataset '{key}' is missing")
    task_names = [str(t) for t in h5.attrs["task_names"]]
    rows = list(range(len(task_names)))
    if tasks is not None:
        unknown = [t for t in tasks if t not in task_names]
        if unknown:
            raise InputError(f"{root}: no task named {unknown[0]!r} (tasks: {', '.join(task_names)})")
        rows = [task_names.index(t) for t in tasks]
        task_names = [task_names[i] for i in rows]
    return task_names, rows


def read_score_dir(path: str | Path, tasks: Sequence[str] | None = None) -> ScoreTracks:
    """Read the tracks of a ``score`` output directory (its ``scores.h5``).

    ``tasks`` (names, in this order) reads only those tasks' scores, the others never in memory; an
    unknown name is an :class:`InputError` listing the known ones.

    Raises
    ------
    InputError
        ``path`` is not a directory holding a readable ``scores.h5`` of the expected format.
    """
    import h5py

    root = Path(path)
    h5_path = root / SCORES_FILE
    if not root.is_dir():
        raise InputError(f"{root}: not a directory (expected a `score` output directory holding {SCORES_FILE})")
    if not h5_path.is_file():
        raise InputError(f"{root}: no {SCORES_FILE}; not a `score` output directory")
    try:
        with h5py.File(h5_path, "r") as h5:
            task_names, rows = _checked_tasks(h5, h5_path, root, tasks)
            names = h5["records/name"].asstr()[:].astype(str)
            offsets = h5["records/offset"][:].astype(np.int64)
            onehot = onehot_from_ascii(h5["sequence"][:])
            # one task at a time: h5py reads a row without the others
            hyp = np.stack([_clean(h5["hypothetical"][i], f"{h5_path}: 'hypothetical'") for i in rows]) if rows \
                else np.zeros((0, 4, len(onehot[0])), dtype=np.float32)
            proj = np.stack([_clean(h5["projected"][i], f"{h5_path}: 'projected'") for i in rows]) if rows \
                else np.zeros((0, len(onehot[0])), dtype=np.float32)
            rec = h5["records"]
            chrom = rec["chrom"].asstr()[:].astype(str) if "chrom" in rec else None
            chrom_start = rec["chrom_start"][:].astype(np.int64) if "chrom_start" in rec else None
            strand = rec["strand"].asstr()[:].astype(str) if "strand" in rec else None
    except InputError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{h5_path}: not a readable scores file ({exc})") from None
    offsets = check_offsets(offsets, onehot.shape[1], str(h5_path))
    b = int(offsets[-1])
    if len(offsets) != len(names) + 1 or onehot.shape[1] != b or proj.shape[1:] != (b,) \
            or hyp.shape[1:] != (4, b) or proj.shape[0] != len(task_names) or hyp.shape[0] != len(task_names):
        raise InputError(f"{h5_path}: dataset shapes do not agree (records/offset ends at {b}, sequence has "
                         f"{onehot.shape[1]} bases, projected {proj.shape}, hypothetical {hyp.shape})")
    return ScoreTracks(names=names, offsets=offsets, onehot=onehot, hypothetical=hyp, projected=proj,
                       task_names=task_names, chrom=chrom, chrom_start=chrom_start, strand=strand,
                       source=str(root))


def read_attributions(path: str | Path, data: str | Path, test_ids: str | Path | None = None) -> ScoreTracks:
    """Tracks of an ``attribute`` .npz file, with the one-hot sequences of its dataset.

    Methods without hypothetical contributions (ISM) give their per-base scores on the observed base
    (:func:`hypothetical_or_projected`).

    Raises
    ------
    InputError
        The file is not an attribution file, was made on other data (its ``data_checksum``) or names
        sequences the dataset does not have.
    """
    att = load_attributions(path)
    ds = load_dataset(data, test_ids=test_ids)
    check_same_data(att, ds.checksum, path, data)
    index = {sid: k for k, sid in enumerate(ds.ids)}
    missing = [sid for sid in att.ids.tolist() if sid not in index]
    if missing:
        raise InputError(f"{path}: sequence id {missing[0]!r} is not in dataset {data}")
    rows = np.array([index[sid] for sid in att.ids.tolist()], dtype=np.int64)
    task_names = att.settings.get("task_names") or list(ds.task_names)
    onehot = ds.onehot[rows].astype(np.float32)
    return tracks_of_attributions(att, onehot, task_names, [str(i) for i in att.ids], str(path))


def tracks_of_attributions(att: Attributions, onehot: np.ndarray, task_names: Sequence[str],
                           names: Sequence[str], source: str) -> ScoreTracks:
    """Tracks of an attribution result on its ``(N, 4, L)`` sequences (see :func:`hypothetical_or_projected`)."""
    hyp = hypothetical_or_projected(att.hypothetical, att.projected, onehot, att.settings.get("method"))
    return from_arrays(onehot, hyp, task_names, names=names, projected=att.projected, source=source)


def hypothetical_or_projected(hypothetical: np.ndarray, projected: np.ndarray, onehot: np.ndarray,
                              method: str | None) -> np.ndarray:
    """The ``(N, T, 4, L)`` scores the motif stages use as hypothetical contributions.

    A method's own hypothetical scores when it has them; otherwise (no hypothetical field, or ISM,
    whose "hypothetical" field holds mutation effects that are 0 at the observed base) its per-base scores
    placed on the observed base, ``projected x onehot``.
    """
    if hypothetical.shape[-1] == 0 or method == "ism":
        return np.asarray(projected, dtype=np.float32)[:, :, None, :] * np.asarray(onehot, dtype=np.float32)[:, None]
    return np.asarray(hypothetical, dtype=np.float32)


class ScoreSource:
    """Records of a score output read a block at a time; this base class serves tracks held in memory.

    :attr:`meta` carries every record's name, offsets and genomic placement with empty score arrays (what
    the outputs need); :meth:`read` gives one task's tracks of records ``[lo, hi)``.
    """

    def __init__(self, tracks: ScoreTracks) -> None:
        self._tracks = tracks
        self.meta = dataclasses.replace(tracks, onehot=np.zeros((4, 0), dtype=np.float32),
                                        hypothetical=np.zeros((len(tracks.task_names), 4, 0), dtype=np.float32),
                                        projected=np.zeros((len(tracks.task_names), 0), dtype=np.float32))

    def read(self, lo: int, hi: int, task: int) -> ScoreTracks:
        """Tracks of records ``[lo, hi)`` and task index ``task`` only (its ``task_names`` holds that one)."""
        t = self._tracks
        a, b = int(t.offsets[lo]), int(t.offsets[hi])
        return _block(self.meta, lo, hi, t.onehot[:, a:b], t.hypothetical[task:task + 1, :, a:b],
                      t.projected[task:task + 1, a:b], task)

    def close(self) -> None:
        """Release the source (nothing to do in memory)."""

    def __enter__(self) -> ScoreSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _block(meta: ScoreTracks, lo: int, hi: int, onehot: np.ndarray, hyp: np.ndarray, proj: np.ndarray,
           task: int) -> ScoreTracks:
    a = int(meta.offsets[lo])
    return ScoreTracks(
        names=meta.names[lo:hi], offsets=meta.offsets[lo:hi + 1] - a, onehot=onehot, hypothetical=hyp,
        projected=proj, task_names=[meta.task_names[task]],
        chrom=None if meta.chrom is None else meta.chrom[lo:hi],
        chrom_start=None if meta.chrom_start is None else meta.chrom_start[lo:hi],
        strand=None if meta.strand is None else meta.strand[lo:hi], source=meta.source)


class H5ScoreSource(ScoreSource):
    """The records of a ``score`` output directory read slice by slice from its ``scores.h5`` (see
    :func:`open_score_dir`); only the block asked for is ever in memory."""

    def __init__(self, path: str | Path, tasks: Sequence[str] | None = None) -> None:
        import h5py  # heavy: h5py only where scores.h5 is read

        root = Path(path)
        self.path = root / SCORES_FILE
        if not root.is_dir():
            raise InputError(f"{root}: not a directory (expected a `score` output directory holding {SCORES_FILE})")
        if not self.path.is_file():
            raise InputError(f"{root}: no {SCORES_FILE}; not a `score` output directory")
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise InputError(f"{self.path}: not a readable scores file ({exc})") from None
        try:
            self.meta, self._rows = self._read_meta(root, tasks)
        except InputError:
            self._h5.close()
            raise
        except (OSError, KeyError, ValueError) as exc:
            self._h5.close()
            raise InputError(f"{self.path}: not a readable scores file ({exc})") from None

    def _read_meta(self, root: Path, tasks: Sequence[str] | None) -> tuple[ScoreTracks, list[int]]:
        h5, h5_path = self._h5, self.path
        task_names, rows = _checked_tasks(h5, h5_path, root, tasks)
        n_tasks = len(h5.attrs["task_names"])
        names = h5["records/name"].asstr()[:].astype(str)
        n_seq = int(h5["sequence"].shape[0])
        offsets = check_offsets(h5["records/offset"][:].astype(np.int64), n_seq, str(h5_path))
        b = int(offsets[-1])
        proj_shape, hyp_shape = tuple(h5["projected"].shape), tuple(h5["hypothetical"].shape)
        if len(offsets) != len(names) + 1 or n_seq != b or proj_shape != (n_tasks, b) \
                or hyp_shape != (n_tasks, 4, b):
            raise InputError(f"{h5_path}: dataset shapes do not agree (records/offset ends at {b}, sequence has "
                             f"{n_seq} bases, projected {proj_shape}, hypothetical {hyp_shape})")
        rec = h5["records"]
        meta = ScoreTracks(
            names=names, offsets=offsets, onehot=np.zeros((4, 0), dtype=np.float32),
            hypothetical=np.zeros((len(rows), 4, 0), dtype=np.float32),
            projected=np.zeros((len(rows), 0), dtype=np.float32), task_names=task_names,
            chrom=rec["chrom"].asstr()[:].astype(str) if "chrom" in rec else None,
            chrom_start=rec["chrom_start"][:].astype(np.int64) if "chrom_start" in rec else None,
            strand=rec["strand"].asstr()[:].astype(str) if "strand" in rec else None, source=str(root))
        return meta, rows

    def read(self, lo: int, hi: int, task: int) -> ScoreTracks:
        """Tracks of records ``[lo, hi)`` and task index ``task`` (of the selected tasks) only."""
        a, b = int(self.meta.offsets[lo]), int(self.meta.offsets[hi])
        row = self._rows[task]
        where = str(self.path)
        try:
            onehot = onehot_from_ascii(self._h5["sequence"][a:b])
            hyp = _clean(self._h5["hypothetical"][row, :, a:b], f"{where}: 'hypothetical'")[None]
            proj = _clean(self._h5["projected"][row, a:b], f"{where}: 'projected'")[None]
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"{where}: not a readable scores file ({exc})") from None
        return _block(self.meta, lo, hi, onehot, hyp, proj, task)

    def close(self) -> None:
        """Close ``scores.h5``."""
        self._h5.close()


def open_score_dir(path: str | Path, tasks: Sequence[str] | None = None) -> H5ScoreSource:
    """A ``score`` output directory as a :class:`ScoreSource` (use as a context manager).

    The checks of :func:`read_score_dir` on names and shapes are made on opening; scores are read (and
    checked for infinite values) block by block.

    Raises
    ------
    InputError
        ``path`` is not a directory holding a readable ``scores.h5`` of the expected format.
    """
    return H5ScoreSource(path, tasks)
