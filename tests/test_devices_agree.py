"""CPU and CUDA give the same attributions (every method and rule, paper's net); precision flags.

The comparison itself also runs CPU against CPU, so that it keeps working where no GPU is.
"""

from __future__ import annotations

import pytest
import torch
from _device_util import CASES, device_differences, paper_model, sequences

from deeplift_genomics import attribute
from deeplift_genomics.core.errors import InputError

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("method,rule", CASES[:3] + CASES[-1:])
def test_the_device_comparison_runs_cpu_against_cpu(method, rule):
    diff = device_differences(paper_model(), sequences(3), method, rule, "cpu", "cpu", n_references=3)
    assert diff["scale"] > 0
    assert all(v == 0.0 for k, v in diff.items() if k != "scale"), diff  # deterministic on one device


@pytest.mark.parametrize("method", ["deeplift", "ism"])
@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_reduced_precision_is_refused_on_the_cpu(precision, method):
    # ISM too: it returned before the check and reported fp32 while its caller recorded bf16
    with pytest.raises(InputError, match=f"precision {precision}"):
        attribute(paper_model(), sequences(2), method=method, device="cpu", precision=precision, verbose=False)


def test_unknown_precision_is_refused():
    with pytest.raises(InputError, match="precision"):
        attribute(paper_model(), sequences(2), device="cpu", precision="fp16", verbose=False)


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("method,rule", CASES)
def test_cuda_agrees_with_the_cpu(method, rule):
    diff = device_differences(paper_model(), sequences(16), method, rule, "cpu", "cuda")
    tol = 1e-5 * max(1.0, diff["scale"])
    assert all(v <= tol for k, v in diff.items() if k != "scale"), diff


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_reduced_precision_reports_its_error_and_restores_the_flags(precision, caplog):
    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with caplog.at_level("WARNING", logger="deeplift_genomics.attribute"):
        res = attribute(paper_model(), sequences(24), device="cuda", precision=precision, verbose=False)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == flags
    check = res.precision_check
    assert res.precision == precision and check["sequences"] == 16
    for key in ("max_abs_delta", "max_abs_delta_fp32", "max_abs_diff_vs_fp32"):
        assert check[key] == check[key] and check[key] < float("inf")  # finite, reported
    assert check["max_abs_delta_fp32"] < 1e-4
    assert f"precision {precision}" in caplog.text


def test_shuffles_drawn_for_several_blocks_at_once_change_nothing(monkeypatch):
    """What a GPU does (one draw for many blocks), forced on the CPU with tiny blocks."""
    import importlib

    attribute_module = importlib.import_module("deeplift_genomics.attribute")

    model, x = paper_model(), sequences(7)
    kwargs = dict(n_references=3, device="cpu", seed=2, verbose=False, return_references=True)
    monkeypatch.setattr(attribute_module, "REFERENCE_BLOCK", 2)
    one = attribute(model, x, **kwargs)
    monkeypatch.setattr(attribute_module, "_shuffle_group", lambda dev, cells: 3)
    grouped = attribute(model, x, **kwargs)
    # exact on any CPU: references are one-hot (0/1), and the contributions come from the same attribution
    # batches (only the grouping of the shuffle draws changes), so the same kernels
    assert torch.equal(one.references, grouped.references)
    assert torch.equal(one.contributions, grouped.contributions)
