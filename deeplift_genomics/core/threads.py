"""CPU threads that a busy core cannot stall: work in small pieces taken from a shared counter.

torch's intra-op parallel regions split each operation into one fixed part per thread and wait for the
last part. On a machine with other work on it, one of those threads is often descheduled, and every
operation then waits for it: on a 2-core machine beside a busy process, measured 45x slower per small
operation with 2 threads than with 1, and DeepLIFT of 256 sequences 4-8x slower with 2 threads than with
1. The CPU paths of this package that use several threads (the dinucleotide shuffle's compiled walk,
the engine's batches of sequence-reference pairs, ISM's batches of mutants and the variants screen's
forward passes) therefore run torch at one thread
(:func:`one_torch_thread`) and spread their own pieces of work over the threads instead
(:class:`Pieces`): the calling thread and ``threads - 1`` helpers take the next piece from a shared
counter until none is left, so a descheduled thread holds a call for at most the piece it took.

The number of threads is torch's intra-op thread count (``torch.set_num_threads``; by default the
number of cores), read when the outermost :func:`one_torch_thread` block starts (:func:`cpu_threads`).
Pieces only choose which thread computes which rows, and each row is computed the same way whatever
the number of threads, so results do not depend on it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterator

import torch

_granted = threading.local()  # threads of the enclosing one_torch_thread block, per calling thread


def cpu_threads(device: torch.device) -> int:
    """Threads a computation on ``device`` may spread its pieces over.

    1 off the CPU; on the CPU torch's intra-op thread count, or inside :func:`one_torch_thread` (which
    sets torch's count to 1) the count that the outermost block found.
    """
    if device.type != "cpu":
        return 1
    return getattr(_granted, "threads", None) or torch.get_num_threads()


@contextlib.contextmanager
def one_torch_thread(device: torch.device) -> Iterator[int]:
    """On the CPU: torch's intra-op threads set to 1 for the block (restored after); yields :func:`cpu_threads`.

    Helper threads started inside the block run torch at one thread as well (torch reads its thread
    count when a thread first uses it). Nested blocks keep the outermost block's count.
    """
    threads = cpu_threads(device)
    if device.type != "cpu":
        yield threads
        return
    before = torch.get_num_threads()
    outer = getattr(_granted, "threads", None)
    _granted.threads = threads
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield threads
    finally:
        if before != 1:
            torch.set_num_threads(before)
        _granted.threads = outer


class Pieces:
    """Runs numbered pieces of work on the calling thread and up to ``threads - 1`` helper threads.

    Use it as a context manager (the helpers are released on exit) and call :meth:`run` for each batch
    of pieces. ``threads <= 1`` runs every piece on the calling thread, in order.
    """

    def __init__(self, threads: int) -> None:
        self.threads = max(1, int(threads))
        self._pool = concurrent.futures.ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None

    def __enter__(self) -> Pieces:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            # helpers that never got a piece may still be waking up: they find none left and end on their own
            self._pool.shutdown(wait=False)

    def run(self, n_pieces: int, work: Callable[[int], None]) -> None:
        """``work(i)`` for every ``i < n_pieces``; returns when all are done.

        Every thread takes the next piece from a shared counter until none is left (dynamic scheduling):
        the call never waits for a helper that took no piece, and waits for a descheduled helper only to
        finish the one piece it holds. ``work`` must only write what piece ``i`` owns. The first error of
        a piece is raised (pieces already taken by other threads may still be running then).
        """
        if self._pool is None or n_pieces <= 1:
            for i in range(n_pieces):
                work(i)
            return
        lock = threading.Lock()
        done = threading.Event()
        state: dict = {"next": 0, "left": n_pieces, "error": None}

        def take() -> None:
            while not done.is_set():
                with lock:
                    i = state["next"]
                    state["next"] += 1
                if i >= n_pieces:
                    return
                try:
                    work(i)
                except BaseException as error:  # noqa: BLE001 - handed to the calling thread, which raises it
                    with lock:
                        state["error"] = state["error"] or error
                    done.set()
                    return
                with lock:
                    state["left"] -= 1
                    if state["left"] == 0:
                        done.set()

        for _ in range(min(self.threads, n_pieces) - 1):
            self._pool.submit(take)
        take()
        done.wait()
        if state["error"] is not None:
            raise state["error"]
