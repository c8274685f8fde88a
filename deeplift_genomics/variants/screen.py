"""Screening: the effect of every allele from plain forward passes, and matched null SNVs.

:class:`ForwardScorer` runs the model on batches of windows (no gradients, no references) and returns,
per window, the target outputs the effect is the change of: the logits of our nets and of users' modules
(the sigmoid or softmax head stripped off, as the engine does), or for bpnet-lite models the two heads'
scalars (bpnet-lite's ``CountWrapper`` log counts and ``ProfileWrapper`` profile score) plus the
predicted profile (softmax of the flattened profile logits) for the Jensen-Shannon distance.

:func:`screen_alleles` orders the two windows of every allele *canonically* (the alphabetically first
window first), runs them in batches that hold only allele windows, and negates the difference when the
VCF's REF is the second window: a VCF with REF and ALT swapped (against the genome carrying ALT) runs the
very same batches, so every signed column comes out negated bit for bit.

:func:`draw_null` draws the null SNVs (:func:`screen_alleles` says which kinds), seeded by the chunk's
index in the whole VCF so that shards draw what an unsharded run draws.

On the CPU the forward passes run torch at one thread and spread pieces of :data:`PIECE_WINDOWS`
windows over the threads (:mod:`deeplift_genomics.core.threads`): in torch's own parallel regions every
operation waits for its slowest thread, so one descheduled thread (a busy core) stalls the whole screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import fx, nn

from ..core.devices import resolve_device
from ..core.errors import InputError
from ..core.threads import Pieces, one_torch_thread
from ..engine.graph import build_plan
from ..io.fasta import bed_interval, bed_lines, require_regular_file
from ..io.onehot import one_hot
from ..models.bpnet_lite import both_heads
from ..references.shuffle import dinucleotide_shuffle
from .alleles import AlleleWindows
from .stats import js_distance

#: Names of the two heads of a bpnet-lite model, the "tasks" of a profile model's run.
PROFILE_HEADS = ("counts", "profile")
_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)
#: Windows per piece of a CPU forward pass: a batch of 512 windows is 16 pieces, so a descheduled thread
#: holds a batch for at most 1/16 of it, while each piece is still large enough for torch's kernels.
PIECE_WINDOWS = 32


def _strip_head(model: nn.Module, length: int) -> tuple[nn.Module, str]:
    """The model without its final sigmoid/softmax (what the engine attributes), and that head."""
    param = next(iter(model.parameters()), None)
    example = torch.zeros((1, 4, length))
    if param is not None:
        example = example.to(param.device, param.dtype)
    plan = build_plan(model, example)
    if plan.head == "none":
        return model, "none"
    gm = fx.GraphModule(plan.gm, plan.gm.graph.__deepcopy__())
    target = next(n for n in gm.graph.nodes if n.name == plan.target_node.name)
    out = next(n for n in gm.graph.nodes if n.op == "output")
    out.args = (target,)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm, plan.head


class ForwardScorer:
    """Forward passes of one model on one-hot windows, returning what the effects are made of.

    Parameters
    ----------
    model
        The model (eval mode is set by the caller).
    length
        Its input length.
    task_idx
        Output columns kept (ignored for bpnet-lite models, whose columns are :data:`PROFILE_HEADS`).
    output
        ``logit``, ``log_counts`` or ``profile`` (:func:`deeplift_genomics.models.files.output_kind`).
    device
        ``auto``, ``cpu`` or ``cuda``.
    """

    def __init__(self, model: nn.Module, length: int, task_idx: Sequence[int], output: str, device: str) -> None:
        self.device = resolve_device(device)
        self.heads = both_heads(model) if output != "logit" else None
        self.task_idx = list(task_idx)
        self.model = model
        if self.heads is None:
            self.core, self.head = _strip_head(model, length)
        else:
            self.core, self.head = self.heads[0], output
        param = next(iter(model.parameters()), None)
        self.dtype = param.dtype if param is not None else torch.float32

    @property
    def profile(self) -> bool:
        """Whether the model is a bpnet-lite model (two heads, a predicted profile)."""
        return self.heads is not None

    def __call__(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(outputs (N, T), probabilities (N, T), profile probabilities (N, P) or None)``, float64.

        On the CPU: pieces of :data:`PIECE_WINDOWS` rows, each computed by one thread with torch at one
        thread (:mod:`deeplift_genomics.core.threads`). The pieces are the same for any number of
        threads, so the results do not depend on it.
        """
        x = x.to(self.device, self.dtype)
        if self.device.type != "cpu" or len(x) == 0:
            return self._rows(x)
        starts = list(range(0, len(x), PIECE_WINDOWS))
        done: list = [None] * len(starts)

        def piece(k: int) -> None:
            done[k] = self._rows(x[starts[k] : starts[k] + PIECE_WINDOWS])

        with one_torch_thread(self.device) as threads, Pieces(threads) as pieces:
            pieces.run(len(starts), piece)
        outs, probs, prof = zip(*done)
        return (np.concatenate(outs), np.concatenate(probs),
                None if prof[0] is None else np.concatenate(prof))  # fmt: skip

    def _rows(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """:meth:`__call__` of ``x`` (on the device) in one forward pass, as torch's threads run it."""
        with torch.inference_mode():  # per thread: the helpers of :class:`Pieces` enter it themselves
            if self.heads is not None:
                prof, counts = self.heads[0](x)
                logits = prof.reshape(prof.shape[0], -1).double()
                centred = logits - logits.mean(dim=-1, keepdim=True)
                probs = torch.softmax(centred, dim=-1)
                score = (probs * centred).sum(dim=-1)  # bpnet-lite's ProfileWrapper
                total = counts.double()
                total = total[:, 0] if total.shape[1] == 1 else torch.logsumexp(total, dim=1)
                outs = torch.stack([total, score], dim=1).cpu().numpy()
                return outs, np.full_like(outs, np.nan), probs.cpu().numpy()
            z = self.core(x).double()
            if self.head == "softmax":
                p = torch.softmax(z, dim=1)[:, self.task_idx].cpu().numpy()
            else:
                p = torch.sigmoid(z[:, self.task_idx]).cpu().numpy()
            return z[:, self.task_idx].cpu().numpy(), p, None


@dataclass
class Screened:
    """Screening results of ``A`` alleles (``T`` columns), each with ``k`` null SNVs.

    ``out_ref``/``out_alt``/``probs_ref``/``probs_alt``: ``(A, T)``; ``jsd``: ``(A,)`` (NaN but for
    bpnet-lite models); ``null_effect``: ``(A * k, T)``; ``null_jsd``: ``(A * k,)``.
    """

    out_ref: np.ndarray
    out_alt: np.ndarray
    probs_ref: np.ndarray
    probs_alt: np.ndarray
    jsd: np.ndarray
    null_effect: np.ndarray
    null_jsd: np.ndarray


class NullExclusion:
    """Genome intervals (a BED file's) that matched null SNVs keep ``margin`` bases away from.

    Parameters
    ----------
    intervals
        ``{record: (starts, ends)}``, 0-based half-open, any order.
    margin
        Bases each side of an interval also excluded.
    source
        Where the intervals came from (for the outputs' attributes).
    """

    def __init__(self, intervals: dict[str, tuple[np.ndarray, np.ndarray]], margin: int, source: str = "") -> None:
        self.margin = int(margin)
        self.source = source
        self._by_record: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for chrom, (starts, ends) in intervals.items():
            order = np.argsort(np.asarray(starts), kind="stable")
            lo = np.asarray(starts, dtype=np.int64)[order] - self.margin
            hi = np.asarray(ends, dtype=np.int64)[order] + self.margin
            self._by_record[chrom] = (lo, hi, np.maximum.accumulate(hi))

    def __len__(self) -> int:
        return sum(len(lo) for lo, _, _ in self._by_record.values())

    def mask(self, chrom: str, start: int, length: int) -> np.ndarray:
        """``(length,)`` True at the positions ``start .. start + length - 1`` of ``chrom`` that are excluded."""
        out = np.zeros(length, dtype=bool)
        got = self._by_record.get(chrom)
        if got is None:
            return out
        lo, hi, reach = got
        # the intervals that can overlap: from the first whose running end passes the window's start to
        # the last that starts before its end
        first = int(np.searchsorted(reach, start, side="right"))
        last = int(np.searchsorted(lo, start + length, side="left"))
        for a, b in zip(lo[first:last], hi[first:last]):
            out[max(int(a) - start, 0) : max(int(b) - start, 0)] = True
        return out


def load_exclusion(path: str | Path, margin: int) -> NullExclusion:
    """The intervals of a BED file (3 or more columns; gzip allowed) as a :class:`NullExclusion`.

    Raises
    ------
    InputError
        A missing file, a line with fewer than 3 columns, non-integer or negative coordinates, or an
        interval whose end is not above its start (naming file and line).
    """
    path = Path(path)
    require_regular_file(path, "BED file", "is read twice (intervals, then its checksum for resuming)")
    starts: dict[str, list[int]] = {}
    ends: dict[str, list[int]] = {}
    for lineno, cols in bed_lines(path):
        where = f"{path}: line {lineno}"
        chrom, start, end = bed_interval(cols, where, "record")
        if start < 0 or end <= start:
            raise InputError(f"{where}: record '{chrom}': interval {start}-{end} is empty or negative")
        starts.setdefault(chrom, []).append(start)
        ends.setdefault(chrom, []).append(end)
    intervals = {c: (np.asarray(starts[c], dtype=np.int64), np.asarray(ends[c], dtype=np.int64)) for c in starts}
    return NullExclusion(intervals, margin, str(path))


def canonical_flip(windows: Sequence[AlleleWindows]) -> np.ndarray:
    """``(A,)`` True where the ALT window sorts before the REF window (it then goes first)."""
    return np.array([w.alt_seq < w.ref_seq for w in windows], dtype=bool)


def draw_null(
    windows: Sequence[AlleleWindows],
    rate: float,
    rng: np.random.Generator,
    kind: str = "shuffled",
    exclude: NullExclusion | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Null SNVs of one chunk: ``ceil(rate * A)`` draws, each of an allele drawn at random.

    Returns ``(allele index, window position, REF base index, ALT base index)``, sorted by allele. An
    SNV's draws carry its own REF and ALT bases; other alleles' draws the first REF base and a random
    other base. ``shuffled``: at the variant's own position (in a shuffle of its window, made later);
    ``matched``: at another position of its own REF window that holds the same REF base and that
    ``exclude`` does not exclude. A matched draw with no such position is dropped (fewer draws: the
    allele itself never enters its null).
    """
    n = len(windows)
    m = int(np.ceil(rate * n)) if n else 0
    idx = np.sort(rng.choice(n, size=m, replace=m > n)) if m else np.zeros(0, dtype=np.int64)
    pos = np.zeros(m, dtype=np.int64)
    ref = np.zeros(m, dtype=np.int64)
    alt = np.zeros(m, dtype=np.int64)
    for j, i in enumerate(idx):
        w = windows[int(i)]
        a = w.allele
        ref[j] = max("ACGT".find(a.ref[0]), 0)
        alt[j] = "ACGT".index(a.alt) if a.kind == "snv" else (ref[j] + int(rng.integers(1, 4))) % 4
        if kind == "shuffled":
            pos[j] = w.offset
            continue
        letters = np.frombuffer(w.ref_seq.encode("ascii"), dtype=np.uint8)
        same = letters == _LETTERS[ref[j]]
        same[w.offset : w.offset + len(a.ref)] = False
        if exclude is not None:
            same &= ~exclude.mask(a.chrom, w.start, len(same))
        cands = np.flatnonzero(same)
        pos[j] = int(rng.choice(cands)) if len(cands) else -1
    keep = pos >= 0
    return idx[keep], pos[keep], ref[keep], alt[keep]


def screen_alleles(
    scorer: ForwardScorer,
    windows: Sequence[AlleleWindows],
    *,
    batch_size: int,
    null_rate: float,
    rng: np.random.Generator,
    null_kind: str = "shuffled",
    seed: int = 0,
    exclude: NullExclusion | None = None,
) -> Screened:
    """Effects of every allele from forward passes, and its null SNVs (:class:`Screened`).

    ``null_kind``: ``shuffled`` (the allele's REF and ALT bases at its position in a dinucleotide
    shuffle of its REF window, as chrombpnet's variant-scorer makes its null) or ``matched`` (an SNV
    with the same bases at another position of its own REF window, away from ``exclude``); ``null_rate``
    draws per allele. An allele drawn ``r`` times for the shuffled null gets its first ``r`` shuffles (a
    shuffle depends only on the seed and the window's letters, so repeated draws would otherwise repeat).

    On the CPU the whole screen runs torch at one thread: the forward passes spread their pieces over the
    threads (:class:`ForwardScorer`), the shuffles theirs, and the copies of windows in between (large
    enough for torch's parallel regions) no longer wait there for a descheduled thread.
    """
    with one_torch_thread(scorer.device):
        return _screen(scorer, windows, batch_size=batch_size, null_rate=null_rate, rng=rng, null_kind=null_kind,
                       seed=seed, exclude=exclude)  # fmt: skip


def _screen(
    scorer: ForwardScorer,
    windows: Sequence[AlleleWindows],
    *,
    batch_size: int,
    null_rate: float,
    rng: np.random.Generator,
    null_kind: str,
    seed: int,
    exclude: NullExclusion | None,
) -> Screened:
    """:func:`screen_alleles` inside its :func:`~deeplift_genomics.core.threads.one_torch_thread` block."""
    n = len(windows)
    flip = canonical_flip(windows)
    first = [w.alt_seq if f else w.ref_seq for w, f in zip(windows, flip)]
    second = [w.ref_seq if f else w.alt_seq for w, f in zip(windows, flip)]
    empty = np.zeros(0, dtype=np.int64)
    null_idx, null_pos, null_ref, null_alt = (draw_null(windows, null_rate, rng, null_kind, exclude) if null_rate
                                              else (empty, empty, empty, empty))  # fmt: skip
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("o1", "o2", "p1", "p2", "jsd", "ne", "nj")}
    for lo in range(0, n, batch_size):
        hi = min(n, lo + batch_size)
        x = torch.from_numpy(one_hot(first[lo:hi] + second[lo:hi]))
        outs, probs, prof = scorer(x)
        b = hi - lo
        parts["o1"].append(outs[:b])
        parts["o2"].append(outs[b:])
        parts["p1"].append(probs[:b])
        parts["p2"].append(probs[b:])
        parts["jsd"].append(js_distance(prof[:b], prof[b:]) if prof is not None else np.full(b, np.nan))
        sel = (null_idx >= lo) & (null_idx < hi)
        if not sel.any():
            continue
        # the null windows run in batches of their own: the alleles' batches never depend on them
        local = null_idx[sel] - lo
        xr = x[torch.from_numpy(np.where(flip[lo:hi], b, 0) + np.arange(b))]  # the REF windows
        base = xr[torch.from_numpy(local)]
        rows = torch.arange(len(local))
        if null_kind == "shuffled":
            rep = _repeat_index(local)
            base = dinucleotide_shuffle(base, n=int(rep.max()) + 1, seed=seed)[rows, torch.from_numpy(rep)]
        pos = torch.from_numpy(null_pos[sel])
        xa = base.clone()
        xa[rows, :, pos] = 0
        xa[rows, torch.from_numpy(null_alt[sel]), pos] = 1
        xref = base.clone()
        xref[rows, :, pos] = 0
        xref[rows, torch.from_numpy(null_ref[sel]), pos] = 1
        for nlo in range(0, len(local), batch_size):
            nhi = min(len(local), nlo + batch_size)
            if null_kind == "shuffled":
                o, _, pn = scorer(torch.cat([xref[nlo:nhi], xa[nlo:nhi]]))
                m = nhi - nlo
                o_ref, o_alt = o[:m], o[m:]
                p_ref, p_alt = (pn[:m], pn[m:]) if pn is not None else (None, None)
            else:
                o_alt, _, p_alt = scorer(xa[nlo:nhi])
                k = local[nlo:nhi]
                o_ref = np.where(flip[lo:hi, None], outs[b:], outs[:b])[k]
                p_ref = None if prof is None else np.where(flip[lo:hi, None], prof[b:], prof[:b])[k]
            parts["ne"].append(o_alt - o_ref)
            parts["nj"].append(js_distance(p_alt, p_ref) if p_alt is not None and p_ref is not None
                               else np.full(nhi - nlo, np.nan))  # fmt: skip
    n_t = len(PROFILE_HEADS) if scorer.profile else len(scorer.task_idx)

    def cat(key: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.concatenate(parts[key]) if parts[key] else np.zeros(shape)

    o1, o2 = cat("o1", (0, n_t)), cat("o2", (0, n_t))
    p1, p2 = cat("p1", (0, n_t)), cat("p2", (0, n_t))
    f = flip[:, None]
    return Screened(
        out_ref=np.where(f, o2, o1), out_alt=np.where(f, o1, o2),
        probs_ref=np.where(f, p2, p1), probs_alt=np.where(f, p1, p2),
        jsd=cat("jsd", (0,)), null_effect=cat("ne", (0, n_t)), null_jsd=cat("nj", (0,)),
    )  # fmt: skip


def _repeat_index(idx: np.ndarray) -> np.ndarray:
    """For sorted ``idx``: how many earlier entries equal each entry (0 for the first of a run)."""
    if not len(idx):
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(idx)]))
    return np.arange(len(idx), dtype=np.int64) - run_start


def chunk_rng(seed: int, chunk_index: int) -> np.random.Generator:
    """The null draws' generator of the chunk at ``chunk_index`` of the whole VCF (shards draw alike)."""
    return np.random.default_rng([int(seed), int(chunk_index), 0x5EED])

