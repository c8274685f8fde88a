"""CPU threads in pieces (:mod:`deeplift_genomics.core.threads`): every piece once, no wait for an idle
helper, errors reach the caller, torch's thread count restored, and attributions that do not depend on
the number of threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from deeplift_genomics import attribute
from deeplift_genomics.core.threads import Pieces, cpu_threads, one_torch_thread
from deeplift_genomics.io.onehot import one_hot

CPU = torch.device("cpu")


@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("n_pieces", [0, 1, 5, 40])
def test_every_piece_runs_once(threads, n_pieces):
    seen: list[int] = []
    lock = threading.Lock()

    def work(i):
        with lock:
            seen.append(i)

    with Pieces(threads) as pieces:
        pieces.run(n_pieces, work)
        pieces.run(n_pieces, work)  # a runner serves several batches of pieces
    assert sorted(seen) == sorted(list(range(n_pieces)) * 2)


def test_pieces_never_wait_for_a_helper_that_took_none():
    """The calling thread takes every piece a stalled helper cannot, and returns without waiting for it."""
    release = threading.Event()
    done: list[int] = []
    with Pieces(2) as pieces:
        assert pieces._pool is not None
        pieces._pool.submit(release.wait)  # the only helper is busy: it takes its piece-taking job late
        try:
            pieces.run(7, done.append)
            assert sorted(done) == list(range(7))  # returned while the helper was still stalled
        finally:
            release.set()
        pieces._pool.shutdown(wait=True)
    assert sorted(done) == list(range(7))  # the late helper found no piece left


def test_an_error_in_a_piece_reaches_the_caller():
    def work(i):
        if i == 3:
            raise ValueError("piece 3")

    with Pieces(3) as pieces, pytest.raises(ValueError, match="piece 3"):
        pieces.run(8, work)


def test_one_torch_thread_keeps_the_outer_count_and_restores_torch():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        with one_torch_thread(CPU) as threads:
            assert threads == 3 and torch.get_num_threads() == 1
            with one_torch_thread(CPU) as inner:
                assert inner == 3 and cpu_threads(CPU) == 3
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 3 and cpu_threads(CPU) == 3
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("method", ["deeplift", "integrated_gradients", "gradient_x_input", "ism"])
def test_attributions_do_not_depend_on_the_number_of_threads(method):
    """Pieces of pairs computed by 1, 2 or 3 threads give the same scores, bit for bit.

    Exact: every piece is computed by one thread with torch at one thread, on the same rows with the
    same shapes whatever the thread count; the threads only choose who computes which piece.
    """
    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(4, 6, 5), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(),
        torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2),
    ).eval()
    rng = np.random.default_rng(8)
    x = torch.from_numpy(one_hot(["".join(rng.choice(list("ACGT"), 40)) for _ in range(13)]))
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append(attribute(model, x, method=method, n_references=5, n_steps=4, batch_size=10,
                                     device="cpu", verbose=False))
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    for other in results[1:]:
        for field in ("contributions", "hypothetical", "deltas", "outputs"):
            if getattr(results[0], field) is None:  # ISM has no summation-to-delta errors
                continue
            # same pieces, same single-threaded kernels (see the docstring): bit for bit on any CPU
            assert torch.equal(getattr(results[0], field), getattr(other, field)), field
