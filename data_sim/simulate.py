"""Simulate the DeepLIFT paper's GATA1/TAL1 benchmark (Shrikumar et al. 2017), or your own motif grammar.

Defaults (:class:`SimulationConfig`) are the paper's:

- 200 bp sequences, background i.i.d. A,C,G,T = 0.3, 0.2, 0.2, 0.3 (``background_preset="released"``
  gives 0.27, 0.23, 0.23, 0.27, which the authors' released data used).
- Four classes of 2,000 sequences, in :data:`PAPER_CLASSES`: ``both`` (labels 1,1,1), ``gata`` (0,1,0),
  ``tal1`` (0,0,1), ``neither`` (0,0,0). Task 0 = both motifs present, task 1 = GATA1 present,
  task 2 = TAL1 present (task names ``both, gata, tal1``).
- A present motif gets 1-3 copies, Poisson truncated to [1, 3] by rejection, lambda 2 in the one-motif
  classes and 1 for each motif of the ``both`` class. Motifs ``GATA_disc1`` then ``TAL1_known1``.
- Each copy: forward strand (``reverse_complement`` = probability of the reverse strand), start uniform
  over the starts where it fits without overlapping an earlier copy, bases drawn independently from the
  PWM rows after the pseudocount ``p (1 - pc) + pc / 4`` with ``pc = 1e-4``.
- 10% test, 10% valid, stratified by class.

Sequence ids are ``<class>_<k>`` (``both_0`` ... ``neither_1999``), k counting within the class; the
records are interleaved (``both_0, gata_0, tal1_0, neither_0, both_1, ...``) so any prefix is balanced.

Placing a copy draws its start uniformly from the overlap-free starts directly; that is the same
distribution as redrawing a uniform start until it does not overlap, without an unbounded loop. If no
start is free (the earlier copies fragmented the sequence), the sequence's layout is redrawn, at most
``max_layout_attempts`` times; a grammar whose copies cannot all fit (sum of ``max_copies x width`` over
a class's motifs above ``length``) is refused up front.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import pandas as pd

from .errors import InputError
from .fasta_io import format_fasta
from .motifs import (
    PAPER_BACKGROUND,
    SCORING_PSEUDOCOUNT,
    Motif,
    builtin_motifs,
    check_background,
    load_motifs,
    log_odds_matrix,
    with_pseudocount,
)
from .simdata import format_simdata, gzip_bytes
from .splits import stratified_split
from .variants import VCF_NAME, bgzip_bytes, format_vcf, simulated_variants

log = logging.getLogger(__name__)

ALPHABET = np.array(list("ACGT"))
GATA = "GATA_disc1"
TAL1 = "TAL1_known1"
BACKGROUND_PRESETS: dict[str, tuple[float, float, float, float]] = {
    "paper": PAPER_BACKGROUND,
    "released": (0.27, 0.23, 0.23, 0.27),
}
# Fixed output names: the workflow and users' scripts rely on them.
FASTA_NAME = "sequences.fa"
LABELS_NAME = "labels.tsv"
EMBEDDINGS_NAME = "embeddings.tsv"
SIMDATA_NAME = "sequences.simdata.gz"
CONFIG_NAME = "simulation.json"
EMBEDDING_COLUMNS = ["id", "motif", "start", "end", "strand", "string", "log_odds"]
MAX_REJECTION_ROUNDS = 100_000


@dataclass(frozen=True)
class ClassSpec:
    """One class of sequences.

    Attributes
    ----------
    name
        Class name, also the prefix of its sequence ids (letters, digits, ``_``).
    motifs
        ``(motif id, Poisson lambda)`` pairs in placement order; empty for a background-only class.
    labels
        One label per task.
    """

    name: str
    motifs: tuple[tuple[str, float], ...]
    labels: tuple[float, ...]


PAPER_CLASSES: tuple[ClassSpec, ...] = (
    ClassSpec("both", ((GATA, 1.0), (TAL1, 1.0)), (1, 1, 1)),
    ClassSpec("gata", ((GATA, 2.0),), (0, 1, 0)),
    ClassSpec("tal1", ((TAL1, 2.0),), (0, 0, 1)),
    ClassSpec("neither", (), (0, 0, 0)),
)
PAPER_TASK_NAMES: tuple[str, ...] = ("both", "gata", "tal1")
# Which motifs make each task positive: the ground truth an attribution should find.
PAPER_TASK_MOTIFS: dict[str, tuple[str, ...]] = {"both": (GATA, TAL1), "gata": (GATA,), "tal1": (TAL1,)}


@dataclass(frozen=True)
class SimulationConfig:
    """Every number of the simulation; the defaults are the paper's (see the module docstring).

    Attributes
    ----------
    seed
        Seed of everything random (sequences, copies, positions, splits).
    n_per_class
        Sequences per class.
    length
        Sequence length (bp).
    background
        A, C, G, T probabilities of the i.i.d. background.
    classes
        The classes (:class:`ClassSpec`), in id-interleaving order.
    task_names
        Names of the label columns.
    min_copies, max_copies
        Truncation of the Poisson copy count (inclusive).
    sampling_pseudocount
        Pseudocount of the PWMs when sampling bases (1e-4, which the authors' released data fit).
    scoring_pseudocount
        Pseudocount of the log-odds recorded for each embedded string (1e-3, as the paper's evaluation).
    reverse_complement
        Probability that a copy goes on the reverse strand (0 in the paper).
    test_fraction, valid_fraction
        Shares of each class in the test and validation splits.
    motif_file
        Motif file (ENCODE, MEME or JASPAR) to take motif ids from; ``None`` uses the packaged ENCODE one.
    fasta_line_width
        Letters per FASTA line.
    max_layout_attempts
        Redraws of one sequence's layout before giving up.
    """

    seed: int = 0
    n_per_class: int = 2000
    length: int = 200
    background: tuple[float, ...] = PAPER_BACKGROUND
    classes: tuple[ClassSpec, ...] = PAPER_CLASSES
    task_names: tuple[str, ...] = PAPER_TASK_NAMES
    min_copies: int = 1
    max_copies: int = 3
    sampling_pseudocount: float = 1e-4
    scoring_pseudocount: float = SCORING_PSEUDOCOUNT
    reverse_complement: float = 0.0
    test_fraction: float = 0.1
    valid_fraction: float = 0.1
    motif_file: str | None = None
    fasta_line_width: int = 60
    max_layout_attempts: int = field(default=100)

    def to_dict(self) -> dict:
        """A JSON-ready dict (classes as ``{name, motifs: {id: lambda}, labels}``)."""
        out = asdict(self)
        out["background"] = list(self.background)
        out["task_names"] = list(self.task_names)
        out["classes"] = [
            {"name": c.name, "motifs": {m: float(lam) for m, lam in c.motifs}, "labels": list(c.labels)}
            for c in self.classes
        ]
        return out


CONFIG_KEYS = tuple(f.name for f in fields(SimulationConfig))


def _parse_classes(value, where: str) -> tuple[ClassSpec, ...]:
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: 'classes' must be a non-empty list of {{name, motifs, labels}}")
    specs = []
    for k, item in enumerate(value):
        here = f"{where}: classes[{k}]"
        if isinstance(item, ClassSpec):
            specs.append(item)
            continue
        if not isinstance(item, Mapping) or set(item) - {"name", "motifs", "labels"} or "name" not in item:
            raise InputError(f"{here}: expected a mapping with keys name, motifs, labels")
        motifs = item.get("motifs") or {}
        if isinstance(motifs, Mapping):
            pairs = list(motifs.items())
        elif isinstance(motifs, list) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in motifs):
            pairs = [tuple(p) for p in motifs]
        else:
            raise InputError(f"{here}: 'motifs' must map motif id -> Poisson lambda")
        try:
            pairs = [(str(m), float(lam)) for m, lam in pairs]
            labels = tuple(float(v) for v in item.get("labels", ()))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{here}: motif lambdas and labels must be numbers ({exc})") from None
        specs.append(ClassSpec(str(item["name"]), tuple(pairs), labels))
    return tuple(specs)


def config_from_mapping(
    values: Mapping, where: str = "config", base: SimulationConfig | None = None
) -> SimulationConfig:
    """Build a :class:`SimulationConfig` from a plain mapping (e.g. parsed YAML), over ``base``.

    Unknown keys are an :class:`InputError` naming ``where`` and the key. ``background_preset``
    (``paper`` | ``released``) is accepted as a shortcut for ``background``.
    """
    base = base or SimulationConfig()
    values = dict(values)
    preset = values.pop("background_preset", None)
    if preset is not None:
        if preset not in BACKGROUND_PRESETS:
            raise InputError(
                f"{where}: background_preset {preset!r}: choose one of {', '.join(BACKGROUND_PRESETS)}"
            )
        values.setdefault("background", BACKGROUND_PRESETS[preset])
    unknown = sorted(set(values) - set(CONFIG_KEYS))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(CONFIG_KEYS)}")
    kwargs = {}
    for key, value in values.items():
        if value is None and key != "motif_file":
            continue
        if key == "classes":
            value = _parse_classes(value, where)
        elif key in ("background", "task_names"):
            if not isinstance(value, (list, tuple)):
                raise InputError(f"{where}: {key!r} must be a list")
            value = tuple(value) if key == "task_names" else tuple(float(v) for v in value)
        elif key in (
            "seed",
            "n_per_class",
            "length",
            "min_copies",
            "max_copies",
            "fasta_line_width",
            "max_layout_attempts",
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InputError(f"{where}: {key!r} must be an integer, got {value!r}")
        elif key in (
            "sampling_pseudocount",
            "scoring_pseudocount",
            "reverse_complement",
            "test_fraction",
            "valid_fraction",
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"{where}: {key!r} must be a number, got {value!r}")
            value = float(value)
        kwargs[key] = value
    return replace(base, **kwargs)


def truncated_poisson(rng: np.random.Generator, lam: float, low: int, high: int, size: int) -> np.ndarray:
    """Poisson(``lam``) draws truncated to ``[low, high]`` by rejection (redraw the ones outside).

    Raises :class:`InputError` if the truncation keeps less than 1e-3 of the mass, where rejection would
    take thousands of rounds, and stops after :data:`MAX_REJECTION_ROUNDS` rounds in any case.
    """
    if not lam > 0 or not math.isfinite(lam):
        raise InputError(f"Poisson lambda must be > 0, got {lam}")
    kept = sum(math.exp(-lam + k * math.log(lam) - math.lgamma(k + 1)) for k in range(low, high + 1))
    if kept < 1e-3:
        raise InputError(
            f"Poisson({lam}) truncated to [{low}, {high}] keeps a mass of {kept:.2g}: choose another lambda"
        )
    out = rng.poisson(lam, size)
    bad = np.flatnonzero((out < low) | (out > high))
    rounds = 0
    while bad.size:
        rounds += 1
        if rounds > MAX_REJECTION_ROUNDS:
            raise InputError(f"Poisson({lam}) truncated to [{low}, {high}]: rejection did not finish")
        out[bad] = rng.poisson(lam, bad.size)
        bad = bad[(out[bad] < low) | (out[bad] > high)]
    return out


def sample_instances(rng: np.random.Generator, probs: np.ndarray, n: int) -> np.ndarray:
    """``n`` motif instances as base indices ``(n, W)``, each base drawn independently from its row."""
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random((n, probs.shape[0]))
    return (u[:, :, None] >= cdf[None, :, :3]).sum(axis=2).astype(np.int8)


@dataclass(eq=False)
class SimulatedData:
    """A simulated dataset in memory.

    Attributes
    ----------
    ids, sequences
        ``N`` sequence ids and sequences.
    classes
        ``(N,)`` class names.
    labels
        ``(N, T)`` float32 labels.
    task_names
        ``T`` task names.
    split
        ``(N,)`` ``"train" | "valid" | "test"``.
    embeddings
        DataFrame ``id, motif, start, end, strand, string, log_odds`` in placement order.
    config
        The configuration used.
    """

    ids: list[str]
    sequences: list[str]
    classes: np.ndarray
    labels: np.ndarray
    task_names: list[str]
    split: np.ndarray
    embeddings: pd.DataFrame
    config: SimulationConfig


def validate(config: SimulationConfig, motifs: Mapping[str, Motif]) -> None:
    """Check a configuration against its motifs; raise :class:`InputError` with the reason."""
    if config.n_per_class < 1:
        raise InputError(f"n_per_class must be >= 1, got {config.n_per_class}")
    if config.length < 1:
        raise InputError(f"length must be >= 1, got {config.length}")
    check_background(config.background, "background")
    if not 0 <= config.min_copies <= config.max_copies or config.max_copies < 1:
        raise InputError(
            f"need 0 <= min_copies <= max_copies and max_copies >= 1, got {config.min_copies}, {config.max_copies}"
        )
    for key in (
        "sampling_pseudocount",
        "scoring_pseudocount",
        "reverse_complement",
        "test_fraction",
        "valid_fraction",
    ):
        value = getattr(config, key)
        if not 0 <= value <= 1:
            raise InputError(f"{key} must be in [0, 1], got {value}")
    if config.test_fraction + config.valid_fraction > 1:
        raise InputError("test_fraction + valid_fraction must be <= 1")
    if config.max_layout_attempts < 1:
        raise InputError("max_layout_attempts must be >= 1")
    names = [c.name for c in config.classes]
    if not names:
        raise InputError("at least one class is needed")
    if len(set(names)) != len(names):
        raise InputError(f"class names must be unique, got {names}")
    for spec in config.classes:
        if not spec.name or not spec.name.replace("_", "").isalnum():
            raise InputError(
                f"class name {spec.name!r}: use letters, digits and '_' only (it prefixes the ids)"
            )
        if len(spec.labels) != len(config.task_names):
            raise InputError(
                f"class {spec.name!r}: {len(spec.labels)} labels for {len(config.task_names)} tasks "
                f"({', '.join(config.task_names)})"
            )
        seen = set()
        need = 0
        for motif_id, lam in spec.motifs:
            if motif_id in seen:
                raise InputError(f"class {spec.name!r}: motif {motif_id!r} listed twice")
            seen.add(motif_id)
            if motif_id not in motifs:
                raise InputError(f"class {spec.name!r}: unknown motif {motif_id!r}")
            if not lam > 0:
                raise InputError(
                    f"class {spec.name!r}: motif {motif_id!r}: Poisson lambda must be > 0, got {lam}"
                )
            need += config.max_copies * motifs[motif_id].width
        if need > config.length:
            widths = ", ".join(f"{m} ({motifs[m].width} bp)" for m, _ in spec.motifs)
            raise InputError(
                f"impossible layout: class {spec.name!r} may need {need} bp ({config.max_copies} copies each of "
                f"{widths}) in {config.length} bp sequences; raise length or lower max_copies"
            )


def resolve_motifs(config: SimulationConfig) -> dict[str, Motif]:
    """The motifs the classes name, from ``config.motif_file`` or the packaged ENCODE collection."""
    wanted = list(dict.fromkeys(m for c in config.classes for m, _ in c.motifs))
    if config.motif_file:
        return load_motifs(config.motif_file, wanted)
    return builtin_motifs(wanted)


def _place(rng: np.random.Generator, occupied: np.ndarray, width: int) -> int | None:
    """A uniform start among those where ``width`` bp fit without overlapping ``occupied``; None if none."""
    csum = np.concatenate([[0], np.cumsum(occupied)])
    free = np.flatnonzero(csum[width:] - csum[:-width] == 0)
    if free.size == 0:
        return None
    return int(free[rng.integers(free.size)])


def _simulate_class(
    spec: ClassSpec, config: SimulationConfig, motifs: Mapping[str, Motif], rng: np.random.Generator, bar
) -> tuple[np.ndarray, list[list[tuple[str, int, str, np.ndarray]]]]:
    n, length = config.n_per_class, config.length
    seqs = rng.choice(4, size=(n, length), p=np.asarray(config.background, dtype=np.float64)).astype(np.int8)
    # Draw counts, instances and strands per motif up front (vectorised); positions per sequence below.
    plan = []
    for motif_id, lam in spec.motifs:
        motif = motifs[motif_id]
        counts = truncated_poisson(rng, lam, config.min_copies, config.max_copies, n)
        total = int(counts.sum())
        instances = sample_instances(rng, with_pseudocount(motif.probs, config.sampling_pseudocount), total)
        minus = rng.random(total) < config.reverse_complement
        offsets = np.concatenate([[0], np.cumsum(counts)])
        plan.append((motif_id, motif.width, counts, offsets, instances, minus))
    by_id = {p[0]: p for p in plan}
    placed: list[list[tuple[str, int, str, np.ndarray]]] = []
    for i in range(n):
        for _attempt in range(config.max_layout_attempts):
            occupied = np.zeros(length, dtype=np.int32)
            layout = []
            for motif_id, width, counts, offsets, _instances, _minus in plan:
                for copy in range(int(counts[i])):
                    start = _place(rng, occupied, width)
                    if start is None:
                        break
                    occupied[start : start + width] = 1
                    layout.append((motif_id, start, offsets[i] + copy))
                else:
                    continue
                break
            else:
                break
        else:
            raise InputError(
                f"impossible layout: class {spec.name!r} sequence {i}: the motif copies did not fit in "
                f"{length} bp after {config.max_layout_attempts} attempts; raise length or lower max_copies"
            )
        records = []
        for motif_id, start, k in layout:
            _, width, _, _, instances, minus = by_id[motif_id]
            bases = instances[k]
            strand = "-" if minus[k] else "+"
            if strand == "-":
                bases = (3 - bases)[::-1]
            seqs[i, start : start + width] = bases
            records.append((motif_id, start, strand, bases))
        placed.append(records)
        bar.update(1)
    return seqs, placed


def simulate(
    config: SimulationConfig | None = None,
    motifs: Mapping[str, Motif] | None = None,
    progress: Callable[[int], object] | None = None,
) -> SimulatedData:
    """Simulate sequences with embedded motifs, their labels, splits and ground truth.

    Parameters
    ----------
    config
        The simulation's settings; default the paper's benchmark.
    motifs
        Motifs by id; default from ``config.motif_file`` or the packaged ENCODE collection.
    progress
        Called with the number of sequences just made (e.g. a progress bar's ``update``); this package
        draws no bar itself.

    Returns
    -------
    SimulatedData
        ``N = n_per_class x len(classes)`` sequences, interleaved by class.

    Raises
    ------
    InputError
        Bad settings, an unknown motif or an impossible layout.
    """
    config = config or SimulationConfig()
    motifs = dict(motifs) if motifs is not None else resolve_motifs(config)
    validate(config, motifs)
    n_classes = len(config.classes)
    children = np.random.SeedSequence(config.seed).spawn(n_classes + 1)
    n = config.n_per_class
    total = n * n_classes
    ids: list[str] = [""] * total
    onehot_idx = np.empty((total, config.length), dtype=np.int8)
    classes = np.empty(total, dtype=object)
    labels = np.empty((total, len(config.task_names)), dtype=np.float32)
    records: list[list] = [[] for _ in range(total)]
    bar = _Progress(progress)
    for c, spec in enumerate(config.classes):
        seqs, placed = _simulate_class(spec, config, motifs, np.random.default_rng(children[c]), bar)
        rows = np.arange(n) * n_classes + c  # interleave the classes
        onehot_idx[rows] = seqs
        classes[rows] = spec.name
        labels[rows] = spec.labels
        for k, i in enumerate(rows):
            ids[i] = f"{spec.name}_{k}"
            records[i] = placed[k]
    sequences = ["".join(ALPHABET[r]) for r in onehot_idx]
    matrices = {
        (m, s): log_odds_matrix(motifs[m], config.background, config.scoring_pseudocount, s)
        for m in {r[0] for recs in records for r in recs}
        for s in "+-"
    }
    rows_out = []
    for row, recs in enumerate(records):
        for motif_id, start, strand, bases in recs:
            width = len(bases)
            score = float(matrices[motif_id, strand][np.arange(width), bases.astype(np.intp)].sum())
            rows_out.append(
                (ids[row], motif_id, start, start + width, strand, "".join(ALPHABET[bases]), score)
            )
    embeddings = pd.DataFrame(rows_out, columns=EMBEDDING_COLUMNS)
    split = stratified_split(
        classes.astype(str), config.test_fraction, config.valid_fraction, np.random.default_rng(children[-1])
    )
    log.info("simulated %d sequences of %d bp with %d motif copies", total, config.length, len(embeddings))
    return SimulatedData(
        ids, sequences, classes.astype(str), labels, list(config.task_names), split, embeddings, config
    )


def _format_number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def labels_tsv(data: SimulatedData) -> str:
    """``labels.tsv`` text: ``id, split`` and one column per task."""
    lines = ["\t".join(["id", "split", *data.task_names])]
    for name, split, row in zip(data.ids, data.split, data.labels):
        lines.append("\t".join([name, str(split), *(_format_number(v) for v in row)]))
    return "\n".join(lines) + "\n"


def embeddings_tsv(embeddings: pd.DataFrame) -> str:
    """``embeddings.tsv`` text; log-odds with 6 decimals so that the bytes are reproducible."""
    lines = ["\t".join(EMBEDDING_COLUMNS)]
    for r in embeddings.itertuples(index=False):
        lines.append(f"{r.id}\t{r.motif}\t{r.start}\t{r.end}\t{r.strand}\t{r.string}\t{r.log_odds:.6f}")
    return "\n".join(lines) + "\n"


def render_outputs(data: SimulatedData, version: str) -> dict[str, bytes]:
    """The files of a simulation directory, rendered in memory: file name -> bytes.

    The same data give the same bytes. ``version`` is the writing tool's version, recorded in
    ``simulation.json``. Writing them (atomically) is the caller's job:
    :func:`deeplift_genomics.datasets.load.write_simulation`.
    """
    rendered = {
        FASTA_NAME: format_fasta(data.ids, data.sequences, data.config.fasta_line_width).encode(),
        LABELS_NAME: labels_tsv(data).encode(),
        EMBEDDINGS_NAME: embeddings_tsv(data.embeddings).encode(),
        SIMDATA_NAME: gzip_bytes(
            format_simdata(data.ids, data.sequences, data.embeddings, data.labels, data.task_names)
        ),
        VCF_NAME: bgzip_bytes(variants_vcf(data)),
    }
    meta = {
        "tool": "deeplift-genomics simulate",
        "version": version,
        "config": data.config.to_dict(),
        "n_sequences": len(data.ids),
        "task_motifs": task_motifs(data.config),
        "files": sorted(rendered),
    }
    rendered[CONFIG_NAME] = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode()
    return rendered


class _Progress:
    """Adapts an optional ``progress(n)`` callback to the ``bar.update(n)`` calls of the loop."""

    def __init__(self, progress: Callable[[int], object] | None):
        self._progress = progress

    def update(self, n: int) -> None:
        if self._progress is not None:
            self._progress(n)


def variants_vcf(data: SimulatedData) -> str:
    """``variants.vcf.gz`` text: core SNVs of embedded instances and matched background SNVs (test split)."""
    records = simulated_variants(
        data.ids,
        data.sequences,
        data.split,
        data.embeddings,
        resolve_motifs(data.config),
        data.config.background,
        seed=data.config.seed,
    )
    lengths = {name: len(seq) for name, seq in zip(data.ids, data.sequences)}
    return format_vcf(records, lengths, source="deeplift-genomics simulate")


def task_motifs(config: SimulationConfig) -> dict[str, list[str]]:
    """For each task, the motifs present in every class labelled 1 for it (its ground-truth motifs)."""
    out = {}
    for t, name in enumerate(config.task_names):
        positive = [set(m for m, _ in c.motifs) for c in config.classes if c.labels[t] > 0]
        common = set.intersection(*positive) if positive else set()
        order = [m for c in config.classes for m, _ in c.motifs]
        out[name] = [m for m in dict.fromkeys(order) if m in common]
    return out
