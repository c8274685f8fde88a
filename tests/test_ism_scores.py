"""ISM against a brute-force loop, the exact answer for a linear model, batching and bad input."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from deeplift_genomics.core.errors import InputError
from deeplift_genomics.io.onehot import one_hot
from deeplift_genomics.ism import ism_importance, ism_scores

SEQS = ["ACGTTGCAAGGA", "TTTNGGGGCCCA", "GATTACAGATTA"]


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv1d(4, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 10, 5), nn.Tanh(), nn.Linear(5, 2)
    ).double()


class BatchRecorder(nn.Module):
    """Wraps a model and remembers the largest batch it was given."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.largest = 0

    def forward(self, x):
        self.largest = max(self.largest, x.shape[0])
        return self.inner(x)


def brute_force(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    n, _, length = x.shape
    with torch.no_grad():
        base = model(x)
        out = torch.zeros((n, base.shape[1], 4, length), dtype=x.dtype)
        for i in range(n):
            for pos in range(length):
                for b in range(4):
                    mutant = x[i : i + 1].clone()
                    if mutant[0, b, pos] == 1:
                        continue
                    mutant[0, :, pos] = 0
                    mutant[0, b, pos] = 1
                    out[i, :, b, pos] = model(mutant)[0] - base[i]
    return out


def test_matches_brute_force_loop_with_uneven_batches():
    model = tiny_model()
    x = torch.tensor(one_hot(SEQS), dtype=torch.float64)
    recorder = BatchRecorder(model)
    scores = ism_scores(recorder, x, batch_size=7)
    assert recorder.largest <= 7
    # float64: ISM in batches against one forward per mutation (other shapes): 1e-12 is ~4,500 units of 2^-53 on
    # O(1) logits
    torch.testing.assert_close(scores, brute_force(model, x), rtol=0, atol=1e-12)
    observed = x.bool().unsqueeze(1).expand_as(scores)
    assert torch.all(scores[observed] == 0)
    # the unknown column of sequence 1 (position 3) gets all four substitutions scored
    assert torch.all(scores[1, :, :, 3] != 0)


def test_linear_model_scores_are_weight_differences():
    torch.manual_seed(1)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(4 * 12, 3)).double()
    x = torch.tensor(one_hot(["ACGTACGTTTGA"]), dtype=torch.float64)
    w = lin[1].weight.detach().view(3, 4, 12)
    expected = w - (w * x).sum(dim=1, keepdim=True)  # w[base] - w[observed base]
    # float64, a linear model: a sum of 48 products in another order; 1e-12 is ~4,500 units of 2^-53
    torch.testing.assert_close(ism_scores(lin, x)[0], expected, rtol=0, atol=1e-12)
    importance = ism_importance(ism_scores(lin, x), x)
    torch.testing.assert_close(importance[0], -expected.sum(dim=1) / 3, rtol=0, atol=1e-12)


def test_target_selection_and_numpy_input():
    model = tiny_model(2)
    x = one_hot(SEQS).astype(np.float64)
    full = ism_scores(model, x)
    torch.testing.assert_close(ism_scores(model, x, target=1), full[:, 1:2])
    torch.testing.assert_close(ism_scores(model, x, target=[1, 0]), full[:, [1, 0]])


def test_training_model_runs_in_eval_mode_and_is_restored(caplog):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 12, 1)).double()
    model.train()
    x = torch.tensor(one_hot(SEQS), dtype=torch.float64)
    with caplog.at_level(logging.WARNING, logger="deeplift_genomics.ism"):
        scores = ism_scores(model, x)
    assert "training mode" in caplog.text
    assert model.training
    model.eval()
    # float64, other batch shapes than the brute force: 1e-12 is ~4,500 units of 2^-53 on O(1) logits
    torch.testing.assert_close(scores, brute_force(model, x), rtol=0, atol=1e-12)


def test_bad_input_is_refused():
    model = tiny_model()
    with pytest.raises(InputError, match=r"\(N, 4, L\)"):
        ism_scores(model, torch.zeros(2, 12, 4))
    with pytest.raises(InputError, match="target 2 is out of range"):
        ism_scores(model, torch.tensor(one_hot(SEQS), dtype=torch.float64), target=2)
    with pytest.raises(InputError, match="batch_size"):
        ism_scores(model, torch.tensor(one_hot(SEQS), dtype=torch.float64), batch_size=0)


class ThreadCountRecorder(nn.Module):
    """Wraps a model and remembers torch's intra-op thread count in each forward pass."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.seen: set[int] = set()

    def forward(self, x):
        self.seen.add(torch.get_num_threads())
        return self.inner(x)


def test_scores_do_not_depend_on_the_number_of_threads():
    """Batches of mutants computed by 1, 2 or 3 threads (torch at one thread in each) give the same scores.

    Exact: a batch holds the same mutants whatever the thread count and is computed by one thread with
    torch at one thread, so with the same kernels on the same shapes; the threads only choose who
    computes which batch, and each batch writes only its own entries.
    """
    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv1d(4, 6, 5), nn.ReLU(), nn.Conv1d(6, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 34, 3)
    ).eval()
    rng = np.random.default_rng(2)
    seqs = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(9)] + ["ACGTN" * 8]
    x = torch.from_numpy(one_hot(seqs))
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            recorder = ThreadCountRecorder(model)
            results.append(ism_scores(recorder, x, batch_size=37))  # 1,160 mutants: 32 batches, the last short
            assert recorder.seen == {1}  # every forward pass ran with torch at one thread
            assert torch.get_num_threads() == threads  # restored
    finally:
        torch.set_num_threads(before)
    for other in results[1:]:
        # same batches, same single-threaded kernels (see the docstring): bit for bit on any CPU
        assert torch.equal(results[0], other)
    # and they are ISM: the float64 brute-force loop, to float32 rounding of the outputs
    expected = brute_force(model.double(), x.double())
    np.testing.assert_allclose(results[0].double().numpy(), expected.numpy(), rtol=0, atol=1e-5)
