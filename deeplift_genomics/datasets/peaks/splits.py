"""Train / valid / test splits by whole contig, as the field does (no window in two splits).

Every window of a contig goes to that contig's split, so windows of different splits never overlap
and a negative drawn for a split comes from that split's contigs only. ``test_chroms`` and
``valid_chroms`` name the held-out contigs; a split not given is filled by whole contigs, in an order
drawn from the seed, until it holds about :data:`AUTO_FRACTION` of the peak windows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from ...core.errors import InputError

log = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "valid", "test")
AUTO_FRACTION = 0.1


def parse_chroms(value: str | Sequence[str] | None) -> list[str] | None:
    """Contig names from ``"chr8,chr9"`` or a list (``None`` stays ``None``)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    out = [c.strip() for item in items for c in str(item).split(",") if c.strip()]
    return out


def assign_splits(
    contig_lengths: Mapping[str, int],
    positives_per_contig: Mapping[str, int],
    test_chroms: Sequence[str] | None,
    valid_chroms: Sequence[str] | None,
    seed: int,
    genome: str = "the genome",
) -> dict[str, str]:
    """Split of every contig of the genome.

    Parameters
    ----------
    contig_lengths
        Every contig of the genome (its order is kept).
    positives_per_contig
        Peak windows per contig (to size automatic splits and check that each split has some).
    test_chroms, valid_chroms
        Contigs held out for testing / validation; ``None`` picks whole contigs automatically.
    seed
        Orders the contigs for an automatic pick.
    genome
        The genome's file name, for messages.

    Returns
    -------
    dict
        Contig -> ``"train" | "valid" | "test"``.

    Raises
    ------
    InputError
        A named contig the genome lacks, a contig in both lists, or a split (train, valid) left without
        peak windows.
    """
    chosen: dict[str, list[str]] = {}
    for split, names in (("test", test_chroms), ("valid", valid_chroms)):
        if names is None:
            continue
        flag = f"--{split}-chroms"
        if not names:
            raise InputError(f"{flag}: give at least one contig name")
        missing = [c for c in names if c not in contig_lengths]
        if missing:
            shown = ", ".join(f"'{c}'" for c in list(contig_lengths)[:6])
            raise InputError(
                f"{flag}: contig '{missing[0]}' is not in {genome} (its contigs: {shown}"
                f"{', ...' if len(contig_lengths) > 6 else ''})"
            )
        if len(set(names)) != len(names):
            dup = next(c for c in names if names.count(c) > 1)
            raise InputError(f"{flag}: contig '{dup}' listed twice")
        chosen[split] = list(names)
    if "test" in chosen and "valid" in chosen:
        both = sorted(set(chosen["test"]) & set(chosen["valid"]))
        if both:
            raise InputError(
                f"--test-chroms and --valid-chroms both name contig '{both[0]}': a contig goes to one split"
            )
    total = sum(positives_per_contig.values())
    taken = {c for names in chosen.values() for c in names}
    free = [c for c in contig_lengths if c not in taken and positives_per_contig.get(c, 0) > 0]
    order = [free[i] for i in np.random.default_rng(seed).permutation(len(free))]
    for split in ("test", "valid"):
        if split in chosen:
            continue
        picked: list[str] = []
        count = 0
        # Keep at least one contig with peaks for training.
        while order and len(order) > 1 and count < AUTO_FRACTION * total:
            contig = order.pop(0)
            picked.append(contig)
            count += positives_per_contig.get(contig, 0)
        if not picked:
            raise InputError(
                f"--{split}-chroms: too few contigs with peaks to hold one out automatically; "
                f"name the {split} contigs (e.g. --{split}-chroms chr8)"
            )
        log.info("%s contigs picked automatically (seed %d): %s", split, seed, ", ".join(picked))
        chosen[split] = picked
    split_of = {c: "train" for c in contig_lengths}
    for split, names in chosen.items():
        for c in names:
            split_of[c] = split
    for split in ("train", "valid"):
        n = sum(positives_per_contig.get(c, 0) for c, s in split_of.items() if s == split)
        if n == 0:
            flag = "--valid-chroms" if split == "valid" else "--test-chroms/--valid-chroms"
            raise InputError(
                f"{flag}: the {split} split has no peak windows (contigs: "
                f"{', '.join(c for c, s in split_of.items() if s == split) or 'none'}); training needs some"
            )
    n_test = sum(positives_per_contig.get(c, 0) for c, s in split_of.items() if s == "test")
    if n_test == 0:
        log.warning(
            "the test contigs (%s) hold no peak windows: test metrics will be empty",
            ", ".join(chosen["test"]),
        )
    return split_of
