"""Attribution files: what ``attribute`` writes and ``benchmark`` and ``motifs`` read, one ``.npz`` per method.

The file holds (N sequences, T tasks, L positions):

- ``ids`` (N,) str: sequence ids, in dataset order.
- ``projected`` (N, T, L) float32: per-base scores (contributions summed over the 4 channels). For
  ``--method ism`` this is the engine's per-position importance.
- ``hypothetical`` (N, T, 4, L) float16: hypothetical contributions (what each base *would* contribute);
  float16 halves the file, which suits its use (logos) and not exact arithmetic; use ``projected`` for
  numbers. Absent (shape (N, T, 4, 0)) when the method gives none.
- ``outputs`` (N, T) float32: the model's logits.
- ``deltas_max_abs`` (N,) float32: the largest |summation-to-delta error| of each sequence over its
  references and tasks (0 for methods without deltas).
- ``settings``: a JSON string: method, rule, references, n_references, n_steps, seed, label, split,
  max_sequences, model and data checksums, package version.

Read it back with :func:`load_attributions`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from .atomic import atomic_path


def method_label(method: str, rule: str | None = None, references: str | None = "background",
                 n_references: int | None = 1) -> str:
    """Machine name of a method setting; the background reference is the benchmark's and gets no suffix."""
    base = f"deeplift_{rule}" if method == "deeplift" else method
    if method == "ism" or references in (None, "background"):
        return base
    if references == "shuffle":
        return f"{base}_shuffle{int(n_references or 0)}"
    return f"{base}_{references}"


def model_checksum(model_dir: str | Path) -> str:
    """sha256 over what defines the model: ``model.json`` and the weights file it names.

    Training logs (``history.tsv`` with its per-epoch seconds, metrics) are left out, so two identical
    trainings give the same checksum and identical attribution files.
    """
    root = Path(model_dir)
    spec_file = root / "model.json"
    names = ["model.json"]
    try:
        weights = json.loads(spec_file.read_text()).get("weights")
    except (OSError, ValueError):
        weights = None
    if isinstance(weights, str) and (root / weights).is_file():
        names.append(weights)
    digest = hashlib.sha256()
    for name in names:
        path = root / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclasses.dataclass
class Attributions:
    """The content of an attribution file (see the module docstring for shapes)."""

    ids: np.ndarray
    projected: np.ndarray
    hypothetical: np.ndarray
    outputs: np.ndarray
    deltas_max_abs: np.ndarray
    settings: dict

    @property
    def label(self) -> str:
        """The method's machine label (``deeplift_rescale``, ``ism``, ...)."""
        s = self.settings
        return s.get("label") or method_label(s["method"], s.get("rule"), s.get("references"), s.get("n_references"))

    def select(self, ids: list[str] | np.ndarray, source: str = "attributions") -> Attributions:
        """The rows of ``ids``, in that order; an id missing from the file is an :class:`InputError`."""
        index = {sid: k for k, sid in enumerate(self.ids.tolist())}
        missing = [sid for sid in ids if sid not in index]
        if missing:
            raise InputError(f"{source}: {len(missing)} sequence ids are not in the file "
                             f"(first: {missing[0]!r}); it was made for other sequences")
        rows = np.array([index[sid] for sid in ids], dtype=np.int64)
        return Attributions(self.ids[rows], self.projected[rows], self.hypothetical[rows], self.outputs[rows],
                            self.deltas_max_abs[rows], dict(self.settings))


def save_attributions(path: str | Path, att: Attributions) -> None:
    """Write ``att`` to ``path`` (.npz, uncompressed) atomically."""
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            ids=np.asarray(att.ids, dtype=str),
            projected=np.asarray(att.projected, dtype=np.float32),
            hypothetical=np.asarray(att.hypothetical, dtype=np.float16),
            outputs=np.asarray(att.outputs, dtype=np.float32),
            deltas_max_abs=np.asarray(att.deltas_max_abs, dtype=np.float32),
            settings=np.array(json.dumps(att.settings, sort_keys=True)),
        )


def load_attributions(path: str | Path) -> Attributions:
    """Read an attribution file; a file that is not one is an :class:`InputError` naming it and the field."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an .npz attribution file")
    if path.is_file() and _magic(path) != b"PK\x03\x04":
        # numpy would try it as a pickle and advise allow_pickle: never right for an attribution file
        raise InputError(f"{path}: not an .npz attribution file (not a zip archive; `attribute` writes .npz)")
    try:
        with np.load(path, allow_pickle=False) as z:
            fields = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError(f"{path}: no such attribution file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .npz attribution file ({exc})") from None
    for key in ("ids", "projected", "outputs", "settings"):
        if key not in fields:
            raise InputError(f"{path}: field '{key}' is missing; not an attribution file")
    try:
        settings = json.loads(str(fields["settings"]))
    except json.JSONDecodeError:
        raise InputError(f"{path}: field 'settings' is not valid JSON") from None
    n = len(fields["ids"])
    projected = fields["projected"]
    if projected.ndim != 3 or projected.shape[0] != n:
        raise InputError(f"{path}: field 'projected' has shape {projected.shape}, expected ({n}, T, L)")
    hyp = fields.get("hypothetical", np.zeros((n, projected.shape[1], 4, 0), dtype=np.float16))
    deltas = fields.get("deltas_max_abs", np.zeros(n, dtype=np.float32))
    return Attributions(fields["ids"].astype(str), projected, hyp, fields["outputs"], deltas, settings)


def _magic(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4)


def check_same_data(att: Attributions, checksum: str, source: str | Path, data: str | Path) -> None:
    """Refuse an attribution file made on other data than the dataset ``data`` (whose checksum is
    ``checksum``): the file's recorded ``data_checksum`` must match.

    Ids alone do not tell (simulations reuse ids such as ``tal1_6``), so the file's letters would be
    paired with another dataset's. A file that records no checksum (older versions) is accepted as before.
    """
    recorded = att.settings.get("data_checksum")
    if recorded is not None and recorded != checksum:
        raise InputError(
            f"{source}: made on other data than {data} (its data_checksum {str(recorded)[:12]}... is not the "
            f"dataset's {checksum[:12]}...); give the --data it was computed on"
        )
