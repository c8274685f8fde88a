"""Write datasets to disk: a ``simulate`` output directory and simdna ``.simdata`` files.

``data_sim`` renders the files in memory (it depends on nothing of ours); writing them atomically is done
here, so a crash never leaves a half-written file that looks complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from data_sim.simdata import simdata_bytes
from data_sim.simulate import SimulatedData, render_outputs

from ..core.errors import InputError
from ..core.version import __version__
from ..io.atomic import atomic_directory, atomic_write_bytes


def write_simulation(data: SimulatedData, out_dir: str | Path) -> dict[str, Path]:
    """Write a simulation's files (``sequences.fa``, ``labels.tsv``, ``embeddings.tsv``,
    ``sequences.simdata.gz``, ``simulation.json``) as the directory ``out_dir``, all at once.

    The directory appears complete or not at all (a full disk leaves the earlier one as it was); an
    existing ``out_dir`` is replaced as a whole, and only when it is empty or one of ours (see
    :func:`deeplift_genomics.io.atomic.atomic_directory`).

    Returns
    -------
    dict[str, Path]
        File name -> path.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory")
    paths = {}
    with atomic_directory(out, "simulate") as tmp:
        for name, payload in render_outputs(data, __version__).items():
            (tmp / name).write_bytes(payload)
            paths[name] = out / name
    return paths


def write_simdata(
    path: str | Path,
    ids: Sequence[str],
    sequences: Sequence[str],
    embeddings: pd.DataFrame,
    labels: np.ndarray,
    task_names: Sequence[str],
) -> None:
    """Write a ``.simdata`` file atomically; gzip-compressed (reproducibly) when ``path`` ends in ``.gz``.

    See :func:`data_sim.simdata.format_simdata` for the arguments.
    """
    payload = simdata_bytes(ids, sequences, embeddings, labels, task_names, compress=str(path).endswith(".gz"))
    atomic_write_bytes(path, payload)
