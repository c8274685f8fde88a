"""Session hooks of the test suite.

The suite runs on pytest-xdist's workers, one test file per worker at a time (``--dist loadfile``, set in
pyproject.toml), handed out in collection order. The files that hold the longest checks (marked ``slurm``,
then ``slow``) are collected first so that they start at once, beside the short files, instead of leaving
one worker running them alone at the end.
"""

from __future__ import annotations

import pytest


def _rank(item: pytest.Item) -> int:
    if item.get_closest_marker("slurm"):
        return 0
    return 1 if item.get_closest_marker("slow") else 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Sort the files by the rank of their most demanding test, keeping the order within each rank."""
    rank: dict[str, int] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        rank[path] = min(rank.get(path, 2), _rank(item))
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])
