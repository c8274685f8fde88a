"""In-silico mutagenesis (ISM): the change of each output under every single-base substitution.

``scores[n, t, b, l] = f_t(x_n with base b at position l) - f_t(x_n)``, 0 at the observed base. One
forward pass per substitution (``3 L`` per sequence, ``4`` at an unknown all-zero column), run in
batches of ``batch_size`` mutants so memory does not grow with ``N`` or ``L``.

Threads (CPU). The batches are the pieces of :class:`deeplift_genomics.core.threads.Pieces`: torch runs at
one thread (:func:`~deeplift_genomics.core.threads.one_torch_thread`) and the calling thread and
``threads - 1`` helpers (torch's intra-op thread count) take the next batch from a shared counter. In
torch's own parallel regions every forward pass is split into one fixed part per thread and waits for
the last, which on a machine with other work on it is often a descheduled thread; a descheduled thread
now delays one batch. Each batch holds the same mutants, computed by one thread with the same kernels,
whatever the number of threads, and writes only its own entries of the scores, so the scores are the
same bit for bit for any number of threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .core.devices import resolve_device
from .core.errors import InputError
from .core.progress import progress_bar
from .core.targets import output_indices
from .core.threads import Pieces, one_torch_thread

log = logging.getLogger(__name__)


def _as_onehot_tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    xt = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(np.asarray(x)))
    if xt.ndim != 3 or xt.shape[1] != 4:
        raise InputError(f"ism: x must be one-hot DNA of shape (N, 4, L), got shape {tuple(xt.shape)}")
    if not xt.is_floating_point():
        xt = xt.to(torch.float32)
    return xt.detach()


def _forward(model: nn.Module, xb: torch.Tensor) -> torch.Tensor:
    out = model(xb)
    if not isinstance(out, torch.Tensor):
        raise InputError(f"ism: the model returned {type(out).__name__}; expected a (batch, tasks) tensor")
    while out.ndim > 2 and out.shape[-1] == 1:
        out = out.squeeze(-1)
    if out.ndim == 1:
        out = out.unsqueeze(1)
    if out.ndim != 2 or out.shape[0] != xb.shape[0]:
        raise InputError(f"ism: the model returned shape {tuple(out.shape)}; expected (batch, tasks)")
    return out


def ism_scores(
    model: nn.Module,
    x: torch.Tensor | np.ndarray,
    target: int | Sequence[int] | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    verbose: bool | None = None,
) -> torch.Tensor:
    """Score every single-base substitution of every sequence.

    Parameters
    ----------
    model
        Maps ``(B, 4, L)`` to ``(B, T)`` outputs (logits). Moved to ``device``; a model in training
        mode is run in eval mode (with a warning) and put back afterwards.
    x
        ``(N, 4, L)`` one-hot DNA, A,C,G,T (all-zero columns allowed); numpy or torch.
    target
        Output index, list of indices, or None (default) for all ``T`` outputs.
    batch_size
        Mutants per forward pass (default 256); bounds memory whatever ``N`` is.
    device
        ``"cpu"`` (default), ``"cuda"``, ``"auto"``.
    verbose
        Progress bar on/off; None decides from the terminal.

    Returns
    -------
    torch.Tensor
        ``(N, T', 4, L)`` on the CPU in ``x``'s float dtype, ``T'`` the number of targets:
        ``f(mutant) - f(x)``; exactly 0 where base ``b`` is the observed base at ``l``.

    Raises
    ------
    InputError
        ``x`` not ``(N, 4, L)``, a target out of range, ``batch_size < 1`` or an output that is not
        ``(batch, tasks)``.
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise InputError(f"ism: batch_size must be a positive integer, got {batch_size!r}")
    batch_size = int(batch_size)
    xt = _as_onehot_tensor(x)
    dev = resolve_device(device)
    n_seq = xt.shape[0]
    was_training = model.training
    if was_training:
        log.warning("ism: the model is in training mode; running it in eval mode for ISM")
        model.eval()
    model.to(dev)
    try:
        if n_seq == 0:
            raise InputError("ism: x holds no sequence (N = 0)")
        with one_torch_thread(dev) as threads, Pieces(threads) as pieces:
            scores = _ism_batches(model, xt, target, batch_size, dev, pieces, verbose)
    finally:
        if was_training:
            model.train()
    return scores


def _ism_batches(
    model: nn.Module,
    xt: torch.Tensor,
    target: int | Sequence[int] | None,
    batch_size: int,
    dev: torch.device,
    pieces: Pieces,
    verbose: bool | None,
) -> torch.Tensor:
    """:func:`ism_scores`' forward passes: each batch of sequences, then of mutants, a piece of ``pieces``.

    Pieces run on other threads, where torch's grad mode is its default: each enters inference mode.
    """
    n_seq, _, length = xt.shape
    starts = range(0, n_seq, batch_size)
    ref_parts: list[torch.Tensor] = [xt.new_empty(0)] * len(starts)

    def reference(k: int) -> None:
        with torch.inference_mode():
            ref_parts[k] = _forward(model, xt[starts[k] : starts[k] + batch_size].to(dev)).cpu()

    run = pieces.run if dev.type == "cpu" else _in_order  # CUDA streams are per thread: one thread queues
    run(len(starts), reference)
    ref_all = torch.cat(ref_parts)
    tasks = output_indices(target, ref_all.shape[1])
    ref_out = ref_all[:, tasks].to(xt.dtype)
    scores = torch.zeros((n_seq, len(tasks), 4, length), dtype=xt.dtype)
    # A substitution is every (sequence, base, position) whose column is not already that base.
    observed = (xt == 1) & (xt.sum(dim=1, keepdim=True) == 1)  # (N, 4, L)
    seq_i, base_i, pos_i = torch.nonzero(~observed, as_tuple=True)
    n_mut = seq_i.numel()
    bar = progress_bar(total=n_mut, desc="ISM", unit="mut", verbose=verbose)

    def mutants(k: int) -> None:
        lo = k * batch_size
        s, b, p = seq_i[lo : lo + batch_size], base_i[lo : lo + batch_size], pos_i[lo : lo + batch_size]
        with torch.inference_mode():
            rows = torch.arange(s.numel())
            xb = xt[s].clone()
            xb[rows, :, p] = 0
            xb[rows, b, p] = 1
            out = _forward(model, xb.to(dev)).cpu()[:, tasks].to(xt.dtype)
            scores[s, :, b, p] = out - ref_out[s]  # every (s, b, p) belongs to this batch alone
        bar.update(s.numel())

    try:
        run(-(-n_mut // batch_size), mutants)
    finally:
        bar.close()
    return scores


def _in_order(n_pieces: int, work: Callable[[int], None]) -> None:
    for i in range(n_pieces):
        work(i)


def ism_importance(scores: torch.Tensor, x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Per-position importance from ISM scores: minus the mean change over the substitutions.

    ``importance[n, t, l] = -mean_{b != observed} scores[n, t, b, l]``: positive where the observed
    base raises the output above what the average alternative base gives. At an unknown (all-zero)
    column the mean runs over all 4 bases.

    Parameters
    ----------
    scores
        ``(N, T, 4, L)`` from :func:`ism_scores`.
    x
        ``(N, 4, L)`` the one-hot sequences the scores belong to.

    Returns
    -------
    torch.Tensor
        ``(N, T, L)``.
    """
    xt = _as_onehot_tensor(x).to(device=scores.device)
    if scores.ndim != 4 or scores.shape[0] != xt.shape[0] or scores.shape[2:] != xt.shape[1:]:
        raise InputError(
            f"ism_importance: scores of shape {tuple(scores.shape)} do not match x of shape {tuple(xt.shape)}"
        )
    observed = (xt == 1) & (xt.sum(dim=1, keepdim=True) == 1)
    n_subst = (~observed).sum(dim=1).to(scores.dtype)  # (N, L): 3, or 4 at an unknown column
    return -scores.sum(dim=2) / n_subst.unsqueeze(1)
