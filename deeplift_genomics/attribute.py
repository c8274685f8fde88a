"""Public entry point: :func:`attribute` and its result, :class:`AttributionResult`."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .core.constants import PAPER_BACKGROUND
from .core.devices import resolve_device
from .core.errors import InputError
from .core.progress import progress_bar
from .core.targets import output_indices
from .core.threads import Pieces, one_torch_thread
from .engine import interpreter as engine
from .engine.graph import build_plan
from .engine.ops import METHODS
from .ism import ism_importance, ism_scores
from .references.kinds import REFERENCE_KINDS, make_references

log = logging.getLogger(__name__)

RULES = ("rescale", "reveal_cancel", "genomics_default")
MAXPOOL_MODES = ("gradient", "exact")
PRECISIONS = ("fp32", "tf32", "bf16", "fp64")
# Blocks of REFERENCE_BLOCK sequences whose shuffles a GPU draws in one call.
GPU_SHUFFLE_BLOCKS = 16
# Sequences of the first block recomputed in float32 to measure what tf32/bf16 change.
PRECISION_CHECK_SEQUENCES = 16
# Sequences handled per block: references are drawn, and results copied back to the host, per block.
# Shuffles depend on the seed and each sequence's letters only; a callable gets a seed derived from
# (seed, block), so no result depends on batch_size.
REFERENCE_BLOCK = 256


@dataclass(frozen=True)
class AttributionResult:
    """Scores for ``N`` inputs and ``T`` targets, all tensors on the CPU.

    Attributes
    ----------
    contributions : (N, T, ...) mean over references of ``m * (x - r)``
    hypothetical : (N, T, 4, L) mean over references of ``sum_c (e_b - r)[c] m[c]``; None unless x is one-hot
    projected : (N, T, L) contributions summed over the channel axis (None for inputs that are not 3-D)
    deltas : (N, R, T) summation-to-delta error: sum of contributions minus ``f(x) - f(r)``
    outputs : (N, T) target values ``f(x)`` (pre-sigmoid/softmax logits)
    references : (N, R, ...) when asked for, else None
    targets : the output indices scored, in the order of the T axis
    method, rule : what was computed
    precision : ``fp32``, ``tf32``, ``bf16`` or ``fp64``
    precision_check : for tf32/bf16, what float32 gives on the first sequences; for float32 with
        ``float64_check``, what float64 gives (see ``attribute``)
    """

    contributions: torch.Tensor
    hypothetical: torch.Tensor | None
    projected: torch.Tensor | None
    deltas: torch.Tensor | None
    outputs: torch.Tensor
    references: torch.Tensor | None
    targets: list[int]
    method: str
    rule: str | None
    precision: str = "fp32"
    precision_check: dict | None = None


def attribute(
    model: nn.Module,
    x: torch.Tensor | np.ndarray,
    method: str = "deeplift",
    rule: str = "genomics_default",
    target: int | Sequence[int] | None = None,
    references: str | torch.Tensor | np.ndarray | Callable = "shuffle",
    n_references: int = 20,
    background: Sequence[float] = PAPER_BACKGROUND,
    n_steps: int = 10,
    batch_size: int = 128,
    device: str | torch.device = "auto",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    return_references: bool = False,
    verbose: bool | None = None,
    *,
    maxpool: str = "gradient",
    hypothetical: bool | None = None,
    precision: str = "fp32",
    float64_check: int = 0,
) -> AttributionResult:
    """Attribute the outputs of ``model`` to the bases of ``x``.

    Parameters
    ----------
    model
        Any ``nn.Module`` torch.fx can trace, whose output is ``(N, K)`` logits (a final sigmoid is
        stripped; a final softmax is stripped and contributions are normalised by subtracting their mean
        over the K classes). A model in training mode is attributed in eval mode, with a warning.
    x
        ``(N, 4, L)`` one-hot A,C,G,T (any ``(N, ...)`` with tensor references).
    method
        ``deeplift`` | ``gradient_x_input`` | ``guided_backprop_x_input`` | ``integrated_gradients`` |
        ``ism``. The gradient baselines multiply by ``x - r``, as the DeepLIFT paper ran them.
    rule
        DeepLIFT rule for the nonlinearities: ``rescale`` | ``reveal_cancel`` | ``genomics_default``
        (RevealCancel after Linear layers, Rescale after convolutions).
    target
        Output index, list of indices, or None for all K outputs.
    references
        ``shuffle`` (dinucleotide shuffles of each sequence), ``background`` (``background`` base
        frequencies at every position), ``zeros``, a tensor ``(N, R, ...)`` (or ``(N, ...)``: one
        reference each), or ``callable(x, n, seed) -> (N, n, ...)``, called per block of 256 sequences
        with ``x`` on the attribution's device. Shuffles and the other kinds are drawn on that device.
    n_references
        Shuffles (or callable references) per sequence; zeros and background give one reference.
    background
        A, C, G, T frequencies for ``references="background"``.
    n_steps
        Integrated-gradients steps (midpoint rule).
    batch_size
        Sequence-reference pairs evaluated at once (integrated gradients: pair-steps); memory grows
        with ``batch_size`` times the number of targets, not with N. The default, 128, is what
        ``score`` always used: on 2 CPU cores it ran 3-7% faster than 256 (``bench/defaults_speed.py``).
        On the CPU the batches are spread over torch's intra-op threads (``torch.set_num_threads``), one
        batch per thread at a time, with torch itself at one thread (:mod:`deeplift_genomics.core.threads`):
        a busy core then delays one batch, not every operation, and the results are the same for any
        number of threads.
    device, dtype
        Where and in which precision to compute (``"auto"``: CUDA when available).
    seed
        Seed of the shuffled references (a sequence's shuffles depend on it and the sequence's letters
        only, not on its position in ``x``).
    return_references
        Also return the references used.
    verbose
        Progress bar on/off (None: when stderr is a terminal).
    maxpool
        ``gradient`` (default, the original's routing to the input's max) or ``exact`` (max pooling as a
        tournament of Rescale ReLUs, which keeps summation-to-delta with any references).
    hypothetical
        Compute hypothetical contributions: None = when x is one-hot ``(N, 4, L)``; True requires it.
    precision
        ``fp32`` (default: float32 throughout, TensorFloat-32 switched off for the call), or on CUDA
        only, opt-in: ``tf32`` (TensorFloat-32 matmuls and convolutions) or ``bf16`` (autocast to
        bfloat16). Either recomputes the first sequences in float32 and logs, as a warning, their
        summation-to-delta error and largest difference from float32 (also in
        ``result.precision_check``). ``fp64``, on any device: the whole computation in float64 (the
        model is copied to float64; about 5x float32 on a CPU), for heads whose scores float32 cannot
        carry to the digits wanted (docs/precision.md: the BPNet profile head); contributions come back
        in float64.
    float64_check
        Recompute the first ``float64_check`` sequences (against the same references) in float64 and
        state in ``result.precision_check`` how far the float32 scores are from them (``max_abs_diff_vs_fp64``,
        relative to the largest float64 contribution in ``relative_diff_vs_fp64``; per target, in the
        order of ``result.targets``, ``max_abs_diff_vs_fp64_per_target`` and
        ``max_abs_contribution_fp64_per_target``); also logged. float64
        costs about 5x float32 per sequence on a CPU, so a few sequences of a large call cost little.

    Returns
    -------
    AttributionResult

    Raises
    ------
    InputError
        Bad input: shape, alphabet, non-one-hot x where one-hot is needed, target out of range.
    UnsupportedModelError
        An op the engine cannot attribute exactly (raised before any computation).
    """
    _check_arguments(method, rule, maxpool, precision, n_references, n_steps, batch_size)
    if isinstance(float64_check, bool) or not isinstance(float64_check, (int, np.integer)) or float64_check < 0:
        raise InputError(f"float64_check: expected a non-negative integer, got {float64_check!r}")
    dev = resolve_device(device)
    _check_precision(precision, dev, dtype, method)
    if precision == "fp64":
        dtype = torch.float64
    # the number formats of the call; fp64 is plain arithmetic in float64, with TF32 off as for fp32
    numerics = "fp32" if precision == "fp64" else precision
    x = _as_input(x, dtype)
    if method == "ism":
        return dataclasses.replace(_ism(model, x, target, batch_size, dev, dtype, verbose), precision=precision)
    want_hyp = _want_hypothetical(x, references, hypothetical)

    # On the CPU torch runs at one thread and the batches of pairs are spread over the threads in pieces
    # (core.threads): a descheduled thread then holds up one batch, not every operation.
    with _prepared(model, dev, dtype) as m, _numerics("fp32", dev), one_torch_thread(dev) as threads, \
            Pieces(threads) as pieces:
        plan = build_plan(m, x[:1].to(dev), method)
        targets = output_indices(target, plan.n_outputs)
        E = _target_matrix(targets, plan.n_outputs, plan.head == "softmax", dtype, dev)
        rules = engine.choose_rules(plan, rule)
        need_s = engine.nodes_needing_s(plan, rules) if method == "deeplift" else set()
        ref_source = _reference_source(references, x, n_references, background, seed, dtype, dev)

        def block(xb, rb, bar=None):
            return _attribute_block(plan, xb, rb, E, method, rules, need_s, maxpool, n_steps, batch_size, dev,
                                    want_hyp, bar, pieces)

        bar = progress_bar(total=x.shape[0], desc=f"attribute ({method})", unit="seq", verbose=verbose)
        try:
            contrib, hyp, outputs, deltas, refs, check = _attribute_all_blocks(
                x, block, ref_source, targets, dtype, dev, numerics, want_hyp, return_references, bar
            )
        finally:
            bar.close()
    if float64_check and dtype == torch.float32 and method != "ism":
        k = min(int(float64_check), x.shape[0])
        xk = x[:k].to(dev)
        rk = ref_source(xk, 0)[:k]
        with _prepared(model, dev, torch.float64) as m64, _numerics("fp32", dev):
            plan64 = build_plan(m64, xk[:1].double(), method)
            E64 = _target_matrix(targets, plan64.n_outputs, plan64.head == "softmax", torch.float64, dev)
            rules64 = engine.choose_rules(plan64, rule)
            need_s64 = engine.nodes_needing_s(plan64, rules64) if method == "deeplift" else set()
            c64, _, _, _ = _attribute_block(plan64, xk.double(), rk.double(), E64, method, rules64, need_s64,
                                            maxpool, n_steps, batch_size, dev, False, None)
        check = {**(check or {}), **_float64_report(contrib[:k], c64.cpu())}
    projected = contrib.sum(2) if x.ndim == 3 else None
    return AttributionResult(
        contributions=contrib,
        hypothetical=hyp,
        projected=projected,
        deltas=deltas,
        outputs=outputs,
        references=refs,
        targets=targets,
        method=method,
        rule=rule if method == "deeplift" else None,
        precision=precision,
        precision_check=check,
    )


def _check_arguments(
    method: str, rule: str, maxpool: str, precision: str, n_references: int, n_steps: int, batch_size: int
) -> None:
    """Raise InputError for an unknown choice or a count that is not a positive integer."""
    _check_choice("method", method, METHODS)
    _check_choice("rule", rule, RULES)
    _check_choice("maxpool", maxpool, MAXPOOL_MODES)
    _check_choice("precision", precision, PRECISIONS)
    for name, value in (("n_references", n_references), ("n_steps", n_steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name}: expected a positive integer, got {value!r}")


def _want_hypothetical(x: torch.Tensor, references: object, hypothetical: bool | None) -> bool:
    """Whether to compute hypothetical contributions; raise when the references or hypothetical need one-hot x."""
    one_hot = _is_one_hot(x)
    if isinstance(references, str):
        _check_choice("references", references, REFERENCE_KINDS)
        if not one_hot:
            raise InputError(
                f"x: references={references!r} need one-hot (N, 4, L) input in A,C,G,T order; {_why_not_one_hot(x)}"
            )
    if hypothetical and not one_hot:
        raise InputError(f"x: hypothetical contributions need one-hot (N, 4, L) input; {_why_not_one_hot(x)}")
    return one_hot if hypothetical is None else bool(hypothetical)


def _attribute_all_blocks(
    x: torch.Tensor,
    block: Callable,
    ref_source: Callable,
    targets: list[int],
    dtype: torch.dtype,
    dev: torch.device,
    precision: str,
    want_hyp: bool,
    return_references: bool,
    bar,
) -> tuple:
    """Run ``block`` over ``x`` in blocks of REFERENCE_BLOCK sequences, gathering the results on the host."""
    n_total = x.shape[0]
    T = len(targets)
    contrib = torch.empty((n_total, T, *x.shape[1:]), dtype=dtype)
    hyp = torch.empty_like(contrib) if want_hyp else None
    outputs = torch.empty((n_total, T), dtype=dtype)
    deltas_parts: list[torch.Tensor] = []
    refs_parts: list[torch.Tensor] = []
    check = None
    host = _HostCopies(dev)
    for start in range(0, n_total, REFERENCE_BLOCK):
        stop = min(n_total, start + REFERENCE_BLOCK)
        xb = _to_device(x[start:stop], dev)
        rb = ref_source(xb, start // REFERENCE_BLOCK)
        with _numerics(precision, dev):
            c, h, d, o = block(xb, rb, bar)
        if precision != "fp32" and check is None:
            k = min(PRECISION_CHECK_SEQUENCES, stop - start)
            c32, _, d32, _ = block(xb[:k], rb[:k])
            check = _precision_report(precision, c[:k], d[:k], c32, d32)
        host.put(contrib[start:stop], c)
        if hyp is not None:
            host.put(hyp[start:stop], h)
        host.put(outputs[start:stop], o[:, targets])
        deltas_parts.append(host.get(d))
        if return_references:
            refs_parts.append(host.get(rb))
        host.end_block()
    host.wait()
    deltas = torch.cat(deltas_parts) if deltas_parts else None
    refs = torch.cat(refs_parts) if return_references else None
    return contrib, hyp, outputs, deltas, refs, check


def _attribute_block(plan, x, refs, E, method, rules, need_s, maxpool, n_steps, batch_size, dev, want_hyp, bar,
                     pieces: Pieces | None = None):
    """Scores for one block of sequences, in chunks of at most ``batch_size`` pairs.

    ``x`` and ``refs`` are on ``dev``; so are the results, which nothing in here copies to the host.
    The chunks of sequences are independent pieces: with ``pieces`` (CPU threads, see
    :mod:`deeplift_genomics.core.threads`) several run at once, each writing its own rows, so the results
    are the same for any number of threads.
    """
    n, R = refs.shape[:2]
    T = E.shape[0]
    per_pair = n_steps if method == "integrated_gradients" else 1
    pairs = max(1, batch_size // per_pair)
    r_chunk = min(R, pairs)
    s_chunk = max(1, pairs // r_chunk)
    contrib = torch.empty((n, T, *x.shape[1:]), dtype=x.dtype, device=dev)
    hyp = torch.empty_like(contrib) if want_hyp else None
    deltas = torch.empty((n, R, T), dtype=x.dtype, device=dev)
    starts = list(range(0, n, s_chunk))
    out_rows: list[torch.Tensor] = [x.new_empty(0)] * len(starts)

    def piece(k: int) -> None:
        s0 = starts[k]
        s1 = min(n, s0 + s_chunk)
        xs = x[s0:s1]
        grad_x = None
        if method in ("gradient_x_input", "guided_backprop_x_input"):
            grad_x, f_x = engine.gradient_at(plan, xs, E, guided=method == "guided_backprop_x_input")
            grad_x = grad_x.unsqueeze(2)  # (T, n, 1, ...)
        c_sum = torch.zeros((T, s1 - s0, *x.shape[1:]), dtype=x.dtype, device=dev)
        h_sum = torch.zeros_like(c_sum) if want_hyp else None
        for r0 in range(0, R, r_chunk):
            r1 = min(R, r0 + r_chunk)
            rs = refs[s0:s1, r0:r1]
            if method == "deeplift":
                mult, f_x, f_r = engine.deeplift_multipliers(plan, xs, rs, E, rules, need_s, maxpool)
            else:
                flat = rs.reshape(-1, *x.shape[1:])
                f_r = engine.forward(plan, flat).reshape(s1 - s0, r1 - r0, -1)
                if method == "integrated_gradients":
                    mult = engine.integrated_gradients_multipliers(plan, xs, rs, E, n_steps)
                    f_x = engine.forward(plan, xs)
                else:
                    assert grad_x is not None  # the gradient methods computed it above
                    mult = grad_x
            diff = xs[:, None] - rs  # (n, r, ...)
            terms = mult * diff.unsqueeze(0)  # (T, n, r, ...)
            c_sum += terms.sum(2)
            if want_hyp:
                # sum_c (e_b - r)[c] m[c] = m[b] - sum_c r[c] m[c]
                h_sum += (mult - (rs.unsqueeze(0) * mult).sum(3, keepdim=True)).sum(2)
            total = terms.reshape(T, s1 - s0, r1 - r0, -1).sum(-1).permute(1, 2, 0)  # (n, r, T)
            expected = (f_x[:, None, :] - f_r).to(x.dtype) @ E.T  # (n, r, T)
            deltas[s0:s1, r0:r1] = total - expected
        contrib[s0:s1] = (c_sum / R).transpose(0, 1)
        if want_hyp:
            assert hyp is not None and h_sum is not None  # both allocated when want_hyp
            hyp[s0:s1] = (h_sum / R).transpose(0, 1)
        out_rows[k] = f_x.to(x.dtype)
        if bar is not None:
            bar.update(s1 - s0)

    if pieces is None or dev.type != "cpu":  # CUDA streams are per thread: one thread queues the work
        for k in range(len(starts)):
            piece(k)
    else:
        pieces.run(len(starts), piece)
    return contrib, hyp, deltas, torch.cat(out_rows)


def _to_device(t: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """``t`` on ``dev``; a CPU tensor bound for CUDA goes through pinned memory, without waiting."""
    if dev.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(dev, non_blocking=True)
    return t.to(dev)


class _HostCopies:
    """Copies results from the device into host tensors.

    On CUDA each copy goes through a pinned buffer without waiting; :meth:`end_block` completes the
    copies of the block before the last, so that one block's copies overlap the next one's work, and
    :meth:`wait` completes all. Elsewhere copies are made at once.
    """

    def __init__(self, dev: torch.device):
        self.cuda = dev.type == "cuda"
        self.blocks: list[tuple[object, list]] = []
        self.current: list[tuple[torch.Tensor | None, torch.Tensor]] = []

    def put(self, dst: torch.Tensor, src: torch.Tensor) -> None:
        """Copy ``src`` into the host tensor ``dst``."""
        if not self.cuda:
            dst.copy_(src)
            return
        self.current.append((dst, self._start(src)))

    def get(self, src: torch.Tensor) -> torch.Tensor:
        """A host tensor that holds ``src`` once the block's copies are complete."""
        if not self.cuda:
            return src.cpu()
        staging = self._start(src)
        self.current.append((None, staging))
        return staging

    @staticmethod
    def _start(src: torch.Tensor) -> torch.Tensor:
        staging = torch.empty(src.shape, dtype=src.dtype, pin_memory=True)
        staging.copy_(src, non_blocking=True)
        return staging

    def end_block(self) -> None:
        if not self.cuda:
            return
        event = torch.cuda.Event()
        event.record()
        self.blocks.append((event, self.current))
        self.current = []
        while len(self.blocks) > 1:
            self._finish(self.blocks.pop(0))

    def wait(self) -> None:
        if not self.cuda:
            return
        if self.current:
            self.end_block()
        while self.blocks:
            self._finish(self.blocks.pop(0))

    @staticmethod
    def _finish(block) -> None:
        event, items = block
        event.synchronize()
        for dst, staging in items:
            if dst is not None:
                dst.copy_(staging)


@contextlib.contextmanager
def _numerics(precision: str, dev: torch.device) -> Iterator[None]:
    """The number formats of one call: TF32 flags set (and restored after), bf16 autocast on CUDA."""
    if dev.type != "cuda":
        yield
        return
    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        if precision == "bf16":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                yield
        else:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


def _check_precision(precision: str, dev: torch.device, dtype: torch.dtype, method: str) -> None:
    if precision in ("fp32", "fp64"):
        return
    if dev.type != "cuda":
        raise InputError(
            f"precision {precision}: {precision} is a CUDA number format; the CPU computes in float32 "
            f"(use precision fp32 on device {dev})"
        )
    if dtype != torch.float32:
        raise InputError(f"precision {precision}: needs dtype float32 inputs, got {dtype}")
    if method == "ism":
        raise InputError(f"precision {precision}: ISM runs in float32 only")


def _precision_report(precision, c, d, c32, d32) -> dict:
    """Log, and return, what ``precision`` changes on the first sequences against float32."""
    report = {
        "precision": precision,
        "sequences": int(c.shape[0]),
        "max_abs_delta": float(d.abs().max()),
        "max_abs_delta_fp32": float(d32.abs().max()),
        "max_abs_diff_vs_fp32": float((c.float() - c32.float()).abs().max()),
        "max_abs_contribution_fp32": float(c32.abs().max()),
    }
    log.warning(
        "precision %s, first %d sequences: summation-to-delta error up to %.3g (float32: %.3g); "
        "contributions differ from float32 by up to %.3g (largest float32 contribution %.3g)",
        precision, report["sequences"], report["max_abs_delta"], report["max_abs_delta_fp32"],
        report["max_abs_diff_vs_fp32"], report["max_abs_contribution_fp32"],
    )
    return report


def _float64_report(c32: torch.Tensor, c64: torch.Tensor) -> dict:
    """Log, and return, how far float32 contributions are from float64 on the first sequences."""
    err = (c32.double() - c64).abs()
    # (k, T, ...): per target, the largest error and the largest float64 contribution
    diff_t = err.transpose(0, 1).reshape(err.shape[1], -1).amax(1)
    scale_t = c64.abs().transpose(0, 1).reshape(c64.shape[1], -1).amax(1)
    scale = float(scale_t.max())
    diff = float(diff_t.max())
    report = {
        "float64_sequences": int(c64.shape[0]),
        "max_abs_diff_vs_fp64": diff,
        "max_abs_contribution_fp64": scale,
        "relative_diff_vs_fp64": diff / scale if scale > 0 else 0.0,
        "max_abs_diff_vs_fp64_per_target": [float(v) for v in diff_t],
        "max_abs_contribution_fp64_per_target": [float(v) for v in scale_t],
    }
    log.info("float32 against float64, first %d sequences: contributions differ by up to %.3g (%.3g of the "
             "largest)", report["float64_sequences"], diff, report["relative_diff_vs_fp64"])
    return report


def _check_choice(name: str, value, choices) -> None:
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")


def _as_input(x, dtype) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.number) and x.dtype != np.bool_:
            raise InputError(f"x: expected a numeric array, got dtype {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise InputError(f"x: expected a torch tensor or numpy array, got {type(x).__name__}")
    if x.ndim < 2:
        raise InputError(f"x: expected shape (N, ...) with a batch axis, e.g. (N, 4, L), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise InputError("x: holds no sequences (N = 0)")
    x = x.detach().to("cpu", dtype)
    if not torch.isfinite(x).all():
        raise InputError("x: holds NaN or infinite values")
    return x


def _is_one_hot(x: torch.Tensor) -> bool:
    if x.ndim != 3 or x.shape[1] != 4:
        return False
    binary = bool(((x == 0) | (x == 1)).all())
    sums = x.sum(1)
    return binary and bool(((sums == 1) | (sums == 0)).all())


def _why_not_one_hot(x: torch.Tensor) -> str:
    if x.ndim != 3 or x.shape[1] != 4:
        return f"got shape {tuple(x.shape)} (is the alphabet axis second and of size 4?)"
    bad = ~(((x == 0) | (x == 1)).all(1) & ((x.sum(1) == 1) | (x.sum(1) == 0)))
    n_i, l_i = torch.nonzero(bad)[0].tolist()
    col = [round(float(v), 4) for v in x[n_i, :, l_i]]
    return f"sequence {n_i}, position {l_i} holds {col}, not one 1 and three 0"


def _target_matrix(targets, k: int, softmax: bool, dtype, dev) -> torch.Tensor:
    """Rows select each target; for a softmax head they subtract the mean over classes (paper 3.6)."""
    E = torch.zeros((len(targets), k), dtype=dtype, device=dev)
    E[torch.arange(len(targets)), torch.tensor(targets)] = 1.0
    if softmax:
        E = E - 1.0 / k
    return E


@contextlib.contextmanager
def _prepared(model: nn.Module, dev: torch.device, dtype: torch.dtype) -> Iterator[nn.Module]:
    """The model in eval mode on ``dev``/``dtype`` without parameter gradients; restored afterwards.

    The caller's model is copied when it must move to another device or dtype, and otherwise used in
    place with its training flags and ``requires_grad`` put back on exit.
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    tensors = list(model.parameters()) + list(model.buffers())
    floating = [t for t in tensors if t.is_floating_point()]
    needs_copy = any(t.device != dev for t in tensors) or any(t.dtype != dtype for t in floating)
    if needs_copy:
        model = copy.deepcopy(model).to(device=dev, dtype=dtype)
    modes = {m: m.training for m in model.modules()}
    if any(modes.values()):
        log.warning(
            "model %s is in training mode; attributing it in eval mode (dropout off, BatchNorm running "
            "statistics)", type(model).__name__
        )
    grads = {p: p.requires_grad for p in model.parameters()}
    try:
        model.eval()
        for p in grads:
            p.requires_grad_(False)
        yield model
    finally:
        for mod, was in modes.items():
            mod.training = was
        for p, was in grads.items():
            p.requires_grad_(was)


def _reference_source(references, x, n_references, background, seed, dtype, dev):
    """A function ``(x_block, block_index) -> (n, R, ...)`` on ``dev`` (``x_block`` is on ``dev``)."""
    if isinstance(references, np.ndarray):
        references = torch.from_numpy(np.ascontiguousarray(references))
    if isinstance(references, torch.Tensor):
        refs = references.detach().to("cpu", dtype)
        if refs.shape == x.shape:
            refs = refs.unsqueeze(1)
        if refs.ndim != x.ndim + 1 or refs.shape[0] != x.shape[0] or refs.shape[2:] != x.shape[1:] or refs.shape[1] < 1:
            raise InputError(
                f"references: expected shape (N, R, {', '.join(map(str, x.shape[1:]))}) with N={x.shape[0]}, "
                f"got {tuple(refs.shape)}"
            )
        if not torch.isfinite(refs).all():
            raise InputError("references: hold NaN or infinite values")

        def from_tensor(xb, block):
            start = block * REFERENCE_BLOCK
            return _to_device(refs[start:start + xb.shape[0]], dev)

        return from_tensor

    if callable(references):
        def from_callable(xb, block):
            out = references(xb, n_references, _block_seed(seed, block))
            return _check_generated(out, xb, "references callable", dtype)

        return from_callable

    kind = references
    n = n_references if kind == "shuffle" else 1
    bg = _check_background(background) if kind == "background" else background
    # A GPU draws the shuffles of many blocks at once: the walk's cost is per step, not per sequence.
    # Shuffles depend on the seed and each sequence's letters only, so the grouping changes nothing.
    group = _shuffle_group(dev, n * x[0].numel()) if kind == "shuffle" else 1
    drawn: dict[int, torch.Tensor] = {}

    def from_kind(xb, block):
        if group == 1:
            return make_references(xb, kind, n, bg, seed).to(dtype)
        first = block - block % group
        if first not in drawn:
            drawn.clear()
            start = first * REFERENCE_BLOCK
            xs = _to_device(x[start:start + group * REFERENCE_BLOCK], dev)
            drawn[first] = make_references(xs, kind, n, bg, seed).to(dtype)
        offset = (block - first) * REFERENCE_BLOCK
        return drawn[first][offset:offset + xb.shape[0]]

    return from_kind


def _shuffle_group(dev: torch.device, cells_per_sequence: int) -> int:
    """Blocks whose shuffles are drawn together: 1 on the CPU, up to 2**27 reference cells on a GPU."""
    if dev.type != "cuda":
        return 1
    return max(1, min(GPU_SHUFFLE_BLOCKS, (1 << 27) // max(1, cells_per_sequence * REFERENCE_BLOCK)))


def _block_seed(seed: int, block: int) -> int:
    if block == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), block]).generate_state(1)[0])


def _check_background(background) -> tuple[float, ...]:
    try:
        bg = tuple(float(v) for v in background)
    except TypeError:
        raise InputError(f"background: expected 4 frequencies for A,C,G,T, got {background!r}") from None
    if len(bg) != 4 or any(not np.isfinite(v) or v < 0 for v in bg):
        raise InputError(f"background: expected 4 non-negative frequencies for A,C,G,T, got {background!r}")
    return bg


def _check_generated(out, xb, what, dtype) -> torch.Tensor:
    if isinstance(out, np.ndarray):
        out = torch.from_numpy(np.ascontiguousarray(out))
    if not isinstance(out, torch.Tensor) or out.ndim != xb.ndim + 1 or out.shape[0] != xb.shape[0] \
            or out.shape[2:] != xb.shape[1:]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(f"{what}: expected (n, R, {', '.join(map(str, xb.shape[1:]))}), got {shape}")
    return out.detach().to(xb.device, dtype)


class _Logits(nn.Module):
    """The model up to its target layer (final sigmoid/softmax stripped), for ISM."""

    def __init__(self, plan):
        super().__init__()
        self.plan = plan

    def forward(self, x):
        return engine.run_plain(self.plan, x)[self.plan.target_node].reshape(x.shape[0], -1)


def _ism(model, x, target, batch_size, device, dtype, verbose) -> AttributionResult:
    if not _is_one_hot(x):
        raise InputError(f"x: ISM needs one-hot (N, 4, L) input in A,C,G,T order; {_why_not_one_hot(x)}")
    dev = resolve_device(device)
    # torch at one thread here too: ism_scores spreads its batches over the threads (ism.py)
    with _prepared(model, dev, dtype) as m, one_torch_thread(dev):
        plan = build_plan(m, x[:1].to(dev), "ism")
        targets = output_indices(target, plan.n_outputs)
        logits = _Logits(plan).eval()
        scores = ism_scores(logits, x, targets, batch_size, dev, verbose=verbose).to("cpu", dtype)
        outputs = torch.cat([engine.forward(plan, x[i:i + batch_size].to(dev)).cpu()
                             for i in range(0, x.shape[0], batch_size)])[:, targets]
    importance = ism_importance(scores, x)  # (N, T, L): minus the mean change over substitutions
    return AttributionResult(
        contributions=importance.unsqueeze(2) * x.unsqueeze(1),
        hypothetical=scores,
        projected=importance,
        deltas=None,
        outputs=outputs,
        references=None,
        targets=targets,
        method="ism",
        rule=None,
    )
