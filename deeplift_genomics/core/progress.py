"""Progress bars that turn themselves off when nobody is watching (rule logs, CI)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled(verbose: bool | None = None) -> bool:
    """Whether to draw a bar: ``verbose`` if given, else only when stderr is a terminal.

    ``DEEPLIFT_GENOMICS_PROGRESS=0|1`` overrides the terminal check.
    """
    if verbose is not None:
        return bool(verbose)
    forced = os.environ.get("DEEPLIFT_GENOMICS_PROGRESS")
    if forced in {"0", "1"}:
        return forced == "1"
    return sys.stderr.isatty()


def progress(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    verbose: bool | None = None,
) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr when :func:`progress_enabled`.

    Parameters
    ----------
    iterable
        What to iterate over.
    total
        Number of items, for the ETA, when ``len(iterable)`` is not defined.
    desc, unit
        Label and unit shown on the bar (``unit="seq"`` gives seq/s).
    verbose
        Force the bar on or off; ``None`` decides from the terminal.
    """
    return iter(
        tqdm(
            iterable,
            total=total,
            desc=desc,
            unit=unit,
            disable=not progress_enabled(verbose),
            file=sys.stderr,
            dynamic_ncols=True,
            leave=False,
        )
    )


def progress_bar(*, total: int, desc: str | None = None, unit: str = "it", verbose: bool | None = None) -> tqdm:
    """A manual bar (call ``.update(n)``), for loops that advance by batches."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not progress_enabled(verbose),
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )
