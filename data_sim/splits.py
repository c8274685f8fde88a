"""Stratified train/valid/test splits, reproducible from a seed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPLITS = ("train", "valid", "test")


def stratified_split(
    classes: Sequence[str] | np.ndarray,
    test_fraction: float = 0.1,
    valid_fraction: float = 0.1,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Assign each item to ``"train"``, ``"valid"`` or ``"test"``, stratified by class.

    Within each class (taken in sorted order), the items are permuted with ``seed``; the first
    ``round(test_fraction * n)`` go to test, the next ``round(valid_fraction * n)`` to valid, the rest to
    train. So every class keeps its share in every split, and the same seed gives the same split.

    Parameters
    ----------
    classes
        ``(N,)`` class of each item.
    test_fraction, valid_fraction
        Shares of each class, each in [0, 1] with a sum <= 1.
    seed
        Seed or generator.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` array of split names (dtype ``<U5``).
    """
    if not (0 <= test_fraction <= 1 and 0 <= valid_fraction <= 1 and test_fraction + valid_fraction <= 1):
        raise ValueError(f"bad split fractions: test {test_fraction}, valid {valid_fraction}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    classes = np.asarray(classes)
    split = np.full(len(classes), "train", dtype="<U5")
    for cls in sorted(set(classes.tolist())):
        members = np.flatnonzero(classes == cls)
        order = rng.permutation(members)
        n_test = int(round(test_fraction * len(members)))
        n_valid = int(round(valid_fraction * len(members)))
        split[order[:n_test]] = "test"
        split[order[n_test : n_test + n_valid]] = "valid"
    return split
