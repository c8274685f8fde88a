"""Which outputs of a model a verb or a command explains, and the one rule for task names.

``attribute``, ``ism`` and ``ism_scores`` take output indices (:func:`output_indices`); ``score`` and
``variants`` take task names (:func:`task_indices`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InputError


def output_indices(target: Any, n_outputs: int) -> list[int]:
    """``target`` (an index, a list of indices, an array, or ``None`` for all) as a list of output indices.

    Raises
    ------
    InputError
        Not integers (booleans included), an empty list, or an index outside ``0..n_outputs - 1``
        (negative indices are refused: ``-1`` is too easily a mistake for "all").
    """
    if target is None:
        return list(range(n_outputs))
    if hasattr(target, "tolist"):  # a tensor or an array
        target = target.tolist()
    items = [target] if isinstance(target, (int, np.integer)) and not isinstance(target, bool) else target
    try:
        items = list(items)
    except TypeError:
        raise InputError(f"target: expected an output index, a list of indices or None, got {target!r}") from None
    if not items:
        raise InputError("target: empty list of outputs")
    out = []
    for t in items:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
            raise InputError(f"target: expected integer output indices, got {t!r}")
        if not 0 <= int(t) < n_outputs:
            raise InputError(f"target {int(t)} is out of range; the model has {n_outputs} outputs (0..{n_outputs - 1})")
        out.append(int(t))
    return out


def task_indices(task_names: Sequence[str], wanted: Sequence[str] | None) -> list[int]:
    """The output indices of the task names ``wanted`` (all when ``None`` or empty), each given once.

    Raises
    ------
    InputError
        A name given twice or a name the model does not have, naming ``--tasks`` and the model's tasks.
    """
    if not wanted:
        return list(range(len(task_names)))
    check_unique_names(list(wanted), "--tasks")
    missing = [t for t in wanted if t not in task_names]
    if missing:
        raise InputError(f"--tasks: unknown task(s) {', '.join(missing)}; the model has {', '.join(task_names)}")
    return [list(task_names).index(t) for t in wanted]


def check_unique_names(names: Sequence[str], what: str) -> None:
    """Refuse repeated names (task names of a model, ``--tasks``), naming the first repeat."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"{what}: task name {name!r} is given twice; task names must be distinct")
        seen.add(name)


#: A task name that becomes file and column names: starts with a letter or digit, then letters, digits,
#: '_', '.' or '-' (no '/', no leading '.', never empty). One rule for every command that names tasks.
TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_task_name(name: str, what: str) -> str:
    """``name`` when it follows :data:`TASK_NAME`; else an :class:`InputError` naming ``what``."""
    if not TASK_NAME.match(name):
        raise InputError(
            f"{what}: task name {name!r} must start with a letter or digit, then letters, digits, '_', '.' "
            "or '-' (it becomes file and column names)"
        )
    return name
