"""Shards of a long run: ``--shard K/N`` arithmetic, ``shard.json``, and the checks of ``--gather``.

A sharded run cuts its input's items (FASTA records or regions, VCF entries) into chunks of
``chunk_size`` and gives shard K the K-th of N contiguous, balanced blocks of chunks. Each shard writes a
complete output directory plus ``shard.json`` (written last: its presence says the shard finished);
``--gather`` checks that the shard directories make one complete run before merging them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from ..io.atomic import atomic_write_text

SHARD_FILE = "shard.json"


def _count_key(unit: str) -> str:
    """``n_regions``, ``n_entries``: the key of the input's item count in ``shard.json``."""
    return "n_" + (unit[:-1] + "ies" if unit.endswith("y") else unit + "s")


def parse_shard(text: str | Sequence[int] | None) -> tuple[int, int] | None:
    """``"K/N"`` (1-based K, 1 <= K <= N) as ``(K, N)``; None stays None.

    Raises
    ------
    InputError
        Anything else, with the expected form in the message.
    """
    if text is None:
        return None
    if isinstance(text, (tuple, list)) and len(text) == 2:
        parts = [str(v) for v in text]
    else:
        parts = str(text).strip().split("/")
    what = "/".join(parts)
    try:
        if len(parts) != 2:
            raise ValueError
        k, n = int(parts[0]), int(parts[1])
    except ValueError:
        raise InputError(
            f"--shard {what}: expected K/N with whole numbers, e.g. 1/4 (K counts from 1)"
        ) from None
    if n < 1 or not 1 <= k <= n:
        raise InputError(f"--shard {what}: expected 1 <= K <= N (K counts from 1), e.g. 1/{max(n, 1)}")
    return k, n


def shard_range(n_items: int, shard: tuple[int, int] | None, chunk_size: int = 1) -> tuple[int, int]:
    """``[start, end)`` of the items of 1-based shard ``(K, N)``.

    The items are cut into chunks of ``chunk_size`` (the last may be shorter); shard K gets the K-th of N
    contiguous blocks of chunks whose sizes differ by at most one chunk. Blocks are empty when N exceeds
    the number of chunks.
    """
    if shard is None:
        return 0, n_items
    k, n = shard
    n_chunks = -(-n_items // chunk_size)
    first, end = (k - 1) * n_chunks // n, k * n_chunks // n
    return min(n_items, first * chunk_size), min(n_items, end * chunk_size)


def write_shard_info(
    out_dir: Path, fmt: str, shard: tuple[int, int], unit: str, block: tuple[int, int], n_items: int,
    extra: Mapping[str, Any],
) -> Path:  # fmt: skip
    """Write ``shard.json``: the format, ``shard``/``n_shards``, the block ``first_<unit>``..``end_<unit>``
    of ``n_<unit>s`` items (``n_entries`` for entries), and ``extra`` (the run's settings, for the gather). Returns its path."""
    info = {
        "format": fmt,
        "shard": shard[0],
        "n_shards": shard[1],
        f"first_{unit}": block[0],
        f"end_{unit}": block[1],
        _count_key(unit): n_items,
        **extra,
    }
    path = out_dir / SHARD_FILE
    atomic_write_text(path, json.dumps(info, indent=1, sort_keys=True) + "\n")
    return path


def read_shard_info(
    command: str, shard_dir: str | Path, fmt: str, outputs: Sequence[str], flag: str = "--gather"
) -> dict[str, Any]:
    """The ``shard.json`` of a finished shard directory holding ``outputs`` (``flag``: the option that reads
    it, named in the messages).

    Raises
    ------
    InputError
        Missing directory, missing or unreadable ``shard.json`` (not a finished ``--shard`` run), another
        format, a missing output.
    """
    path = Path(shard_dir) / SHARD_FILE
    if not Path(shard_dir).is_dir():
        raise InputError(f"{command} {flag}: {shard_dir}: no such directory")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{command} {flag}: {shard_dir}: not a finished shard (no {SHARD_FILE}; make shards with "
            f"`{command} --shard K/N` and let them complete)"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{command} {flag}: {path}: unreadable ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != fmt:
        raise InputError(f"{command} {flag}: {path}: not a {fmt} file")
    missing = [name for name in outputs if not (Path(shard_dir) / name).is_file()]
    if missing:
        raise InputError(f"{command} {flag}: {shard_dir}: incomplete shard, {', '.join(missing)} missing")
    return info


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The first key path (``settings.options.seed (0 vs 1)``) where two JSON-like values differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            diff = first_difference(a.get(key), b.get(key), f"{where}.{key}" if where else str(key))
            if diff:
                return diff
        return None
    return None if a == b else f"{where} ({a!r} vs {b!r})"


def check_shards(
    command: str, shard_dirs: Sequence[str | Path], fmt: str, unit: str, outputs: Sequence[str],
    same: Sequence[str], flag: str = "--gather",
) -> list[tuple[Path, dict[str, Any]]]:  # fmt: skip
    """The shards as ``(dir, info)`` in index order, after checking they make one complete run.

    ``same`` names the ``shard.json`` keys every shard of one run shares (``flag``: the option that reads
    them, named in the messages); ``settings.options.chunk_size``
    and ``n_<unit>s`` give each shard's expected block.

    Raises
    ------
    InputError
        One message for: no shards, shards of different runs (the first differing setting is named), a
        different number of shards, an index given twice, indices missing, or a block that does not match
        its index.
    """
    if not shard_dirs:
        raise InputError(f"{command} {flag}: give the shard directories to gather")
    shards = [(Path(d), read_shard_info(command, d, fmt, outputs, flag)) for d in shard_dirs]
    first_dir, first = shards[0]
    for path, info in shards[1:]:
        for key in ("n_shards", _count_key(unit), *same):
            diff = first_difference(first.get(key), info.get(key), key)
            if diff:
                raise InputError(
                    f"{command} {flag}: {first_dir} and {path} are shards of different runs: they differ in "
                    f"{diff}"
                )
    n = int(first["n_shards"])
    by_index: dict[int, Path] = {}
    for path, info in shards:
        k = int(info["shard"])
        if k in by_index:
            raise InputError(f"{command} {flag}: shard {k}/{n} given twice: {by_index[k]} and {path}")
        by_index[k] = path
        chunk_size = int(info["settings"]["options"]["chunk_size"])
        expected = shard_range(int(info[_count_key(unit)]), (k, n), chunk_size)
        got = (info.get(f"first_{unit}"), info.get(f"end_{unit}"))
        if got != expected:
            raise InputError(
                f"{command} {flag}: {path}: shard {k}/{n} covers {unit}s {got[0]}..{got[1]}, expected "
                f"{expected[0]}..{expected[1]}"
            )
    missing = [k for k in range(1, n + 1) if k not in by_index]
    if missing:
        raise InputError(
            f"{command} {flag}: shard(s) {', '.join(f'{k}/{n}' for k in missing)} missing "
            f"(got {', '.join(f'{k}/{n}' for k in sorted(by_index))}); give all {n}"
        )
    return sorted(shards, key=lambda item: int(item[1]["shard"]))
