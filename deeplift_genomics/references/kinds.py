"""Reference inputs for DeepLIFT: dinucleotide shuffles, background frequencies, zeros, or your own.

Every kind comes out as one ``(N, R, ...)`` tensor: ``R`` references per input sequence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..core.constants import PAPER_BACKGROUND
from ..core.errors import InputError
from .shuffle import dinucleotide_shuffle

log = logging.getLogger(__name__)

REFERENCE_KINDS = ("shuffle", "background", "zeros")

ReferenceSpec = str | torch.Tensor | np.ndarray | Callable[..., torch.Tensor | np.ndarray]


def _as_tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise InputError(f"x: expected a numeric array, got dtype {arr.dtype}")
    return torch.from_numpy(np.ascontiguousarray(arr))


def _require_onehot_shape(x: torch.Tensor, kind: str) -> None:
    if x.ndim != 3 or x.shape[1] != 4:
        raise InputError(
            f"references={kind!r} needs one-hot DNA of shape (N, 4, L); x has shape {tuple(x.shape)} "
            "(pass a tensor of references or a callable for other inputs)"
        )


def _background_column(background: Sequence[float], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    bg = torch.as_tensor(np.asarray(background, dtype=np.float64))
    if bg.shape != (4,) or not torch.all(torch.isfinite(bg)) or torch.any(bg < 0):
        raise InputError(
            f"background: expected 4 non-negative frequencies for A, C, G, T, got {list(background)}"
        )
    if abs(float(bg.sum()) - 1.0) > 1e-6:
        raise InputError(
            f"background: frequencies must sum to 1, got {list(background)} (sum {float(bg.sum()):.6g})"
        )
    return bg.to(dtype=dtype, device=device)


def check_references(
    refs: torch.Tensor | np.ndarray, x: torch.Tensor, what: str = "references"
) -> torch.Tensor:
    """Bring user references to ``(N, R, *x.shape[1:])``.

    Parameters
    ----------
    refs
        ``(N, R, ...)`` per-sequence references, or ``(R, ...)`` references shared by every sequence.
    x
        ``(N, ...)`` inputs.
    what
        Name used in error messages.

    Returns
    -------
    torch.Tensor
        ``(N, R, ...)`` in ``x``'s dtype and device (a broadcast view for shared references).

    Raises
    ------
    InputError
        When the shape fits neither form, ``R`` is 0, or a value is not finite.
    """
    refs = _as_tensor(refs)
    tail = tuple(x.shape[1:])
    n = x.shape[0]
    if refs.ndim == x.ndim and tuple(refs.shape[1:]) == tail:
        refs = refs.unsqueeze(0).expand(n, *refs.shape)
    elif refs.ndim == x.ndim + 1 and tuple(refs.shape[2:]) == tail:
        if refs.shape[0] != n:
            raise InputError(
                f"{what}: shape {tuple(refs.shape)} has {refs.shape[0]} sequences but x has {n} "
                f"(expected (N={n}, R, {', '.join(map(str, tail))}) or (R, {', '.join(map(str, tail))}))"
            )
    else:
        raise InputError(
            f"{what}: shape {tuple(refs.shape)} does not fit x of shape {tuple(x.shape)}; expected "
            f"(N={n}, R, {', '.join(map(str, tail))}) or (R, {', '.join(map(str, tail))})"
        )
    if refs.shape[1] == 0:
        raise InputError(f"{what}: shape {tuple(refs.shape)} holds no reference (R = 0)")
    dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    refs = refs.to(dtype=dtype, device=x.device)
    if not torch.all(torch.isfinite(refs)):
        raise InputError(f"{what}: holds NaN or infinite values")
    return refs


def make_references(
    x: torch.Tensor | np.ndarray,
    kind: ReferenceSpec = "shuffle",
    n: int = 20,
    background: Sequence[float] = PAPER_BACKGROUND,
    seed: int = 0,
) -> torch.Tensor:
    """References for every input sequence, as one tensor.

    Parameters
    ----------
    x
        ``(N, 4, L)`` one-hot DNA (A,C,G,T) for ``"shuffle"`` and ``"background"``; any ``(N, ...)``
        for the other kinds. numpy or torch.
    kind
        - ``"shuffle"``: ``n`` dinucleotide shuffles of each sequence (:func:`dinucleotide_shuffle`;
          unknown all-zero columns stay in place), ``R = n``.
        - ``"background"``: ``background`` at every position, ``R = 1`` (``n`` is ignored).
        - ``"zeros"``: all zeros, ``R = 1`` (``n`` is ignored).
        - a tensor or array: ``(N, R, ...)`` per sequence or ``(R, ...)`` shared by all.
        - a callable ``f(x, n, seed)`` returning ``(N, R, ...)``.
    n
        Number of shuffles (default 20); passed on to a callable.
    background
        A, C, G, T frequencies for ``"background"`` (default (0.3, 0.2, 0.2, 0.3)); must sum to 1.
    seed
        Seed for shuffles and callables.

    Returns
    -------
    torch.Tensor
        ``(N, R, *x.shape[1:])`` in ``x``'s float dtype (float32 for non-float ``x``) and device.

    Raises
    ------
    InputError
        Unknown kind, shapes that do not fit, a background that is not 4 frequencies summing to 1.
    """
    xt = _as_tensor(x)
    if xt.ndim < 2:
        raise InputError(f"x: expected a batch of shape (N, ...), got shape {tuple(xt.shape)}")
    dtype = xt.dtype if xt.is_floating_point() else torch.float32
    xt = xt.to(dtype=dtype)
    if isinstance(kind, str):
        if kind == "shuffle":
            _require_onehot_shape(xt, kind)
            if int(n) != n or n < 1:
                raise InputError(f"n_references: shuffled references need n >= 1, got {n!r}")
            return dinucleotide_shuffle(xt, int(n), seed)
        if kind == "background":
            _require_onehot_shape(xt, kind)
            column = _background_column(background, dtype, xt.device)
            return column.view(1, 1, 4, 1).expand(xt.shape[0], 1, 4, xt.shape[2]).contiguous()
        if kind == "zeros":
            return torch.zeros((xt.shape[0], 1, *xt.shape[1:]), dtype=dtype, device=xt.device)
        raise InputError(
            f"references: unknown kind {kind!r}; expected one of {', '.join(REFERENCE_KINDS)}, a tensor or a callable"
        )
    if isinstance(kind, (torch.Tensor, np.ndarray)):
        return check_references(kind, xt)
    if callable(kind):
        name = getattr(kind, "__name__", repr(kind))
        return check_references(kind(xt, n, seed), xt, what=f"references callable {name}")
    raise InputError(f"references: expected a kind name, a tensor or a callable, got {type(kind).__name__}")


def references_keeping_columns(
    x: torch.Tensor | np.ndarray, kind: str, n: int, seed: int, background: Sequence[float] = PAPER_BACKGROUND
) -> torch.Tensor:
    """References of ``kind`` at the exact one-hot columns of ``x``; every other column keeps ``x``'s value.

    For windows that hold uniform (0.25) N columns or non-zero padding, which the string-based kinds
    cannot take: the references are drawn from the one-hot columns alone (the others read as all-zero,
    which shuffles keep in place), then the other columns are set equal to the input, so they contribute
    exactly nothing.

    Parameters
    ----------
    x
        ``(N, 4, L)`` inputs, one-hot except at some columns.
    kind
        ``"shuffle"``, ``"background"`` or ``"zeros"`` (as :func:`make_references`).
    n, seed, background
        As :func:`make_references`.

    Returns
    -------
    torch.Tensor
        ``(N, R, 4, L)`` float32 on the device of ``x`` (the CPU for numpy input).
    """
    xt = torch.as_tensor(x).to(torch.float32)
    exact = (((xt == 0) | (xt == 1)).all(dim=1) & (xt.sum(dim=1) == 1))[:, None, :]
    hot = xt * exact
    refs = make_references(hot, kind, n, background, seed)
    other = (hot.sum(dim=1) == 0)[:, None, None, :]
    return torch.where(other, xt[:, None], refs).contiguous()
