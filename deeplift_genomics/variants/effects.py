"""Effects of variants on a model: prediction change per task, and DeepLIFT of both alleles.

- :func:`score_alleles` runs the model and the attribution on the REF and ALT windows with **the same
  references** for both (by default dinucleotide shuffles of the REF window). By summation-to-delta,
  ``sum C(x) = f(x) - mean_r f(r)`` for each allele; with shared references the mean reference output
  cancels, so ``sum C(ALT) - sum C(REF) = f(ALT) - f(REF)``: the change in contribution explains the
  prediction change exactly, and :func:`contribution_changes` reports the error of that identity.
- :func:`prediction_effects` (pure) turns logits into probabilities, differences and log-odds changes.
- :func:`contribution_changes` (pure) sums the change of contribution at the variant, around it and over
  the whole window.

The effect ``f(ALT) - f(REF)`` of a single-base substitution is by definition the ISM score of that
base (:func:`deeplift_genomics.ism.ism_scores`); the tests check the two agree.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..attribute import METHODS as ATTRIBUTION_METHODS
from ..attribute import attribute
from ..core.errors import InputError
from ..engine.graph import build_plan
from ..io.onehot import one_hot
from ..references.kinds import REFERENCE_KINDS, make_references

log = logging.getLogger(__name__)

# attribute's methods but ISM, whose effect is the prediction change itself
METHODS = tuple(m for m in ATTRIBUTION_METHODS if m != "ism")
#: Heads whose outputs are not logits (bpnet-lite's log counts and profiles): no probability, no log-odds.
NO_PROBABILITY_HEADS = ("log_counts", "profile")


@dataclass(frozen=True)
class AlleleScores:
    """Model outputs and per-base contributions of ``A`` alleles on ``T`` tasks.

    Attributes
    ----------
    logits_ref, logits_alt
        ``(A, T)`` target logits of the REF and ALT windows.
    probs_ref, probs_alt
        ``(A, T)`` probabilities: sigmoid of each logit, or a softmax head's own softmax.
    contrib_ref, contrib_alt
        ``(A, T, L)`` contribution of the observed base at each position of each window.
    """

    logits_ref: np.ndarray
    logits_alt: np.ndarray
    probs_ref: np.ndarray
    probs_alt: np.ndarray
    contrib_ref: np.ndarray
    contrib_alt: np.ndarray


def model_head(model: nn.Module, example: torch.Tensor) -> str:
    """``none``, ``sigmoid`` or ``softmax``: the model's final activation as the engine sees it."""
    was = model.training
    model.eval()
    param = next(iter(model.parameters()), None)
    if param is not None:
        example = example.to(param.device, param.dtype)
    try:
        return build_plan(model, example[:1]).head
    finally:
        model.train(was)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` in float64: the probability of a binary task from its logit."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def prediction_effects(
    logits_ref: np.ndarray, logits_alt: np.ndarray, probs_ref: np.ndarray, probs_alt: np.ndarray, head: str
) -> dict[str, np.ndarray]:
    """Per-allele, per-task effects, all ``(A, T)`` float64.

    Returns
    -------
    dict
        ``effect`` = ``logit_alt - logit_ref`` (the prediction change, what ISM measures);
        ``prob_diff`` = ``prob_alt - prob_ref``; ``log_odds_change`` = change of ``log(p / (1 - p))``,
        which for sigmoid (and logit-only) heads is the effect itself, computed so; for a softmax head
        it is computed from the probabilities; for :data:`NO_PROBABILITY_HEADS` (log counts, profiles)
        both are NaN: ``effect`` is then the change of the model's output itself.
    """
    lr = np.asarray(logits_ref, dtype=np.float64)
    la = np.asarray(logits_alt, dtype=np.float64)
    pr = np.asarray(probs_ref, dtype=np.float64)
    pa = np.asarray(probs_alt, dtype=np.float64)
    effect = la - lr
    if head == "softmax":
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = (np.log(pa) - np.log1p(-pa)) - (np.log(pr) - np.log1p(-pr))
    elif head in NO_PROBABILITY_HEADS:
        log_odds = np.full_like(effect, np.nan)
    else:
        log_odds = effect.copy()
    return {"effect": effect, "prob_diff": pa - pr, "log_odds_change": log_odds}


def contribution_changes(
    contrib_ref: np.ndarray,
    contrib_alt: np.ndarray,
    offsets: Sequence[int] | np.ndarray,
    ref_lengths: Sequence[int] | np.ndarray,
    alt_lengths: Sequence[int] | np.ndarray,
    effect: np.ndarray,
    flank: int = 10,
) -> dict[str, np.ndarray]:
    """Sums of contribution at and around each variant, and the summation-to-delta error.

    Parameters
    ----------
    contrib_ref, contrib_alt
        ``(A, T, L)`` per-base contributions of the two windows.
    offsets
        ``(A,)`` index of the variant's first base in both windows.
    ref_lengths, alt_lengths
        ``(A,)`` allele lengths: the variant covers ``[offset, offset + len)`` in each window.
    effect
        ``(A, T)`` prediction change ``f(ALT) - f(REF)``.
    flank
        Bases on each side of the variant counted as "around" it.

    Returns
    -------
    dict
        ``(A, T)`` float64 arrays: ``site_ref``, ``site_alt`` (sum over the allele's own bases),
        ``site_diff``, ``around_diff`` (change over the allele plus ``flank`` bases each side, clipped to
        the window), ``total_diff`` (change over the whole window) and ``delta_error`` =
        ``total_diff - effect``, which summation-to-delta makes 0 up to rounding.
    """
    cr = np.asarray(contrib_ref, dtype=np.float64)
    ca = np.asarray(contrib_alt, dtype=np.float64)
    n, _t, length = cr.shape
    pos = np.arange(length)
    off = np.asarray(offsets, dtype=np.int64)[:, None]
    lr = np.asarray(ref_lengths, dtype=np.int64)[:, None]
    la = np.asarray(alt_lengths, dtype=np.int64)[:, None]
    site_r = (pos >= off) & (pos < off + lr)  # (A, L)
    site_a = (pos >= off) & (pos < off + la)
    near_r = (pos >= off - flank) & (pos < off + lr + flank)
    near_a = (pos >= off - flank) & (pos < off + la + flank)

    def masked(c: np.ndarray, m: np.ndarray) -> np.ndarray:
        return np.where(m[:, None, :], c, 0.0).sum(axis=2)

    site_ref, site_alt = masked(cr, site_r), masked(ca, site_a)
    total = ca.sum(axis=2) - cr.sum(axis=2)
    return {
        "site_ref": site_ref,
        "site_alt": site_alt,
        "site_diff": site_alt - site_ref,
        "around_diff": masked(ca, near_a) - masked(cr, near_r),
        "total_diff": total,
        "delta_error": total - np.asarray(effect, dtype=np.float64),
    }


def shared_references(
    ref_x: torch.Tensor, kind: str, n_references: int, seed: int, background: Sequence[float]
) -> torch.Tensor:
    """``(A, R, 4, L)`` references made from the REF windows, to be used for both alleles."""
    if kind not in REFERENCE_KINDS:
        raise InputError(f"--references {kind!r}: expected one of {', '.join(REFERENCE_KINDS)}")
    return make_references(ref_x, kind, n_references, background, seed)


def score_alleles(
    model: nn.Module,
    ref_seqs: Sequence[str],
    alt_seqs: Sequence[str],
    *,
    target: Sequence[int] | None = None,
    head: str = "none",
    method: str = "deeplift",
    rule: str = "genomics_default",
    references: str = "shuffle",
    n_references: int = 20,
    n_steps: int = 10,
    background: Sequence[float] = (0.3, 0.2, 0.2, 0.3),
    batch_size: int = 256,
    device: str = "auto",
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> AlleleScores:
    """Outputs and contributions of the REF and ALT windows, attributed against the same references.

    Parameters
    ----------
    model
        Maps ``(N, 4, L)`` one-hot to ``(N, K)``.
    ref_seqs, alt_seqs
        ``A`` windows each, all of length ``L``.
    target
        Output indices (default all).
    head
        From :func:`model_head`; decides how probabilities are computed.
    method, rule, references, n_references, n_steps, background, batch_size, device, seed, dtype
        As :func:`deeplift_genomics.attribute`; the references are made once from the REF windows
        (``references`` kind, ``seed``) and passed as a tensor for both alleles.

    Returns
    -------
    AlleleScores
    """
    if method not in METHODS:
        raise InputError(
            f"--method {method!r}: expected one of {', '.join(METHODS)} (ISM needs no references: the "
            "effect column already is the ISM score of an SNV)"
        )
    ref_x = torch.from_numpy(one_hot(list(ref_seqs))).to(dtype)
    alt_x = torch.from_numpy(one_hot(list(alt_seqs))).to(dtype)
    n = ref_x.shape[0]
    refs = shared_references(ref_x, references, n_references, seed, background).to(dtype)
    res = attribute(
        model,
        torch.cat([ref_x, alt_x]),
        method=method,
        rule=rule,
        target=list(target) if target is not None else None,
        references=torch.cat([refs, refs]),
        n_steps=n_steps,
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        seed=seed,
        verbose=False,
        hypothetical=False,
    )
    logits = res.outputs.double().numpy()
    contrib = res.projected.double().numpy() if res.projected is not None else res.contributions.sum(2).numpy()
    if head == "softmax":
        # the model's own softmax over all K classes, at the target columns
        was = model.training
        model.eval()
        try:
            param = next(model.parameters())
            with torch.inference_mode():
                full = model(torch.cat([ref_x, alt_x]).to(param.device, param.dtype)).double().cpu().numpy()
        finally:
            model.train(was)
        probs = full[:, res.targets]
    elif head in NO_PROBABILITY_HEADS:
        probs = np.full_like(logits, np.nan)  # log counts or profiles have no probability
    else:
        # the project's models output logits of independent binary tasks
        probs = sigmoid(logits)
    return AlleleScores(
        logits_ref=logits[:n],
        logits_alt=logits[n:],
        probs_ref=probs[:n],
        probs_alt=probs[n:],
        contrib_ref=contrib[:n],
        contrib_alt=contrib[n:],
    )
