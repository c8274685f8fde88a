"""Helpers of the motif tests: synthetic score tracks with planted motifs (no model needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_sim.motifs import builtin_motifs
from deeplift_genomics.motifs.inputs import from_arrays

GATA = "GATA_disc1"
TAL1 = "TAL1_known1"


def planted_tracks(n: int = 240, length: int = 100, seed: int = 0, noise: float = 0.02):
    """Random sequences with GATA_disc1 planted in the first half and TAL1_known1 in the second half.

    Task ``gata`` gives each planted GATA base the log-odds of its letter under the motif (the
    hypothetical contribution of every letter at that position is its log-odds), task ``tal1`` the same
    for TAL1, task ``flat`` only noise. Returns the tracks and the true instances
    (``record, start, end, motif``).
    """
    rng = np.random.default_rng(seed)
    motifs = builtin_motifs([GATA, TAL1])
    bg = np.array([0.3, 0.2, 0.2, 0.3])
    idx = rng.choice(4, size=(n, length), p=bg)
    hyp = rng.normal(0, noise, size=(n, 3, 4, length)).astype(np.float32)
    truth = []
    for i in range(n):
        for t, name in enumerate((GATA, TAL1)):
            if rng.random() < 0.25:
                continue
            m = motifs[name]
            w = m.width
            lo = 5 if t == 0 else length // 2 + 2
            start = int(rng.integers(lo, lo + length // 2 - w - 8))
            for k in range(w):
                idx[i, start + k] = rng.choice(4, p=m.probs[k])
            logodds = np.log(m.probs * 0.98 + 0.005) - np.log(bg)
            hyp[i, t, :, start:start + w] += logodds.T * 0.5
            truth.append({"record": f"r{i}", "start": start, "end": start + w, "motif": name})
    onehot = np.zeros((n, 4, length), dtype=np.float32)
    onehot[np.arange(n)[:, None], idx, np.arange(length)[None, :]] = 1
    tracks = from_arrays(onehot, hyp, ["gata", "tal1", "flat"], names=[f"r{i}" for i in range(n)])
    return tracks, pd.DataFrame(truth)
