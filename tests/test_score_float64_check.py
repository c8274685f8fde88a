"""``score --float64-check``: summary.json states float32's error against an independent float64 recomputation."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from _score_util import LENGTH, random_seqs, write_fasta

from deeplift_genomics import attribute
from deeplift_genomics.io.onehot import one_hot
from deeplift_genomics.models.spec import ConvLayerSpec, ModelSpec, build_model
from deeplift_genomics.score import ScoreOptions, score_fasta

TASKS = ["t0", "t1"]


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    spec = ModelSpec(input_length=LENGTH, n_tasks=2, conv=(ConvLayerSpec(6, 5),), dense=(8,), dropout=0.0)
    return build_model(spec).eval()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stated_error_equals_an_independent_float64_recomputation(tmp_path, seed):
    seqs = random_seqs(7, LENGTH, seed=10 + seed)
    fasta = write_fasta(tmp_path / "x.fa", {f"s{i}": s for i, s in enumerate(seqs)})
    model = _model(seed)
    # one window per record; chunks of 3 records, each one batch: the check takes each chunk's first 2
    opts = ScoreOptions(chunk_size=3, batch_size=8, n_references=3, seed=4, device="cpu", float64_check=2)
    score_fasta(model, LENGTH, TASKS, fasta, tmp_path / "out", options=opts)
    stated = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert stated["precision"] == "fp32" and stated["float64_check"] == 2
    check = stated["float32_vs_float64"]

    x = torch.from_numpy(one_hot(seqs))
    diff = np.zeros(len(TASKS))
    scale = np.zeros(len(TASKS))
    windows = 0
    for lo in range(0, len(seqs), opts.chunk_size):
        xc = x[lo:lo + opts.chunk_size]
        # float32 as score runs it (the chunk's batch), then the first two in float64 on a float64 copy
        r32 = attribute(model, xc, references="shuffle", n_references=3, seed=opts.seed, batch_size=opts.batch_size,
                        device="cpu", return_references=True, verbose=False)
        k = min(2, len(xc))
        r64 = attribute(copy.deepcopy(model).double(), xc[:k].double(), references=r32.references[:k].double(),
                        dtype=torch.float64, device="cpu", verbose=False)
        err = (r32.contributions[:k].double() - r64.contributions).abs()
        diff = np.maximum(diff, err.transpose(0, 1).reshape(len(TASKS), -1).amax(1).numpy())
        scale = np.maximum(scale, r64.contributions.abs().transpose(0, 1).reshape(len(TASKS), -1).amax(1).numpy())
        windows += k
    # a count of windows (integers)
    assert check["windows"] == windows
    assert (diff > 0).all()  # float32 does differ from float64 here: the check measures something
    for t, name in enumerate(TASKS):
        got = check["tasks"][name]
        np.testing.assert_allclose(got["max_abs_error"], diff[t], rtol=1e-6)
        np.testing.assert_allclose(got["max_abs_score_float64"], scale[t], rtol=1e-12)
        np.testing.assert_allclose(got["relative_error"], diff[t] / scale[t], rtol=1e-6)


def test_no_check_states_none(tmp_path):
    fasta = write_fasta(tmp_path / "x.fa", {"s0": random_seqs(1, LENGTH, seed=1)[0]})
    opts = ScoreOptions(n_references=2, device="cpu", float64_check=0)
    score_fasta(_model(0), LENGTH, TASKS, fasta, tmp_path / "out", options=opts)
    stated = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert stated["float64_check"] == 0 and stated["float32_vs_float64"] is None


@pytest.mark.parametrize("seed", [0, 1])
def test_attribution_file_records_the_error_of_an_independent_float64_recomputation(tmp_path, seed):
    from deeplift_genomics.benchmark.attributions import compute_attributions
    from deeplift_genomics.io.attributions import load_attributions, save_attributions

    seqs = random_seqs(5, LENGTH, seed=20 + seed)
    x = one_hot(seqs)
    model = _model(seed)
    att = compute_attributions(model, x, [f"s{i}" for i in range(5)], method="deeplift", rule="rescale",
                               references="shuffle", n_references=3, device="cpu", seed=2, float64_check=3)
    save_attributions(tmp_path / "a.npz", att)
    stated = load_attributions(tmp_path / "a.npz").settings["float32_vs_float64"]
    xt = torch.from_numpy(x)
    r32 = attribute(model, xt, rule="rescale", references="shuffle", n_references=3, seed=2, device="cpu",
                    return_references=True, verbose=False)
    r64 = attribute(copy.deepcopy(model).double(), xt[:3].double(), rule="rescale",
                    references=r32.references[:3].double(), dtype=torch.float64, device="cpu", verbose=False)
    assert stated["sequences"] == 3
    for t in range(len(TASKS)):
        diff = float((r32.contributions[:3, t].double() - r64.contributions[:, t]).abs().max())
        scale = float(r64.contributions[:, t].abs().max())
        got = stated["per_task"][t]
        assert diff > 0
        np.testing.assert_allclose(got["max_abs_error"], diff, rtol=1e-6)
        np.testing.assert_allclose(got["relative_error"], diff / scale, rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_precision_fp64_scores_equal_an_independent_float64_computation(tmp_path, seed):
    from deeplift_genomics.score import read_record

    seqs = random_seqs(4, LENGTH, seed=30 + seed)
    fasta = write_fasta(tmp_path / "x.fa", {f"s{i}": s for i, s in enumerate(seqs)})
    model = _model(seed)
    opts = ScoreOptions(batch_size=8, n_references=3, seed=5, device="cpu", precision="fp64", float64_check=2)
    score_fasta(model, LENGTH, TASKS, fasta, tmp_path / "out", options=opts)
    stated = json.loads((tmp_path / "out" / "summary.json").read_text())
    # computed in float64 there is nothing for a float64 check to measure
    assert stated["precision"] == "fp64" and stated["float32_vs_float64"] is None

    x = torch.from_numpy(one_hot(seqs))
    r32 = attribute(model, x, references="shuffle", n_references=3, seed=5, device="cpu", return_references=True,
                    verbose=False)
    # the references are integer shuffles, the same in any dtype; float64 on a float64 copy of the model
    r64 = attribute(copy.deepcopy(model).double(), x.double(), references=r32.references.double(),
                    dtype=torch.float64, device="cpu", verbose=False)
    want = r64.projected.numpy()
    got = np.stack([read_record(tmp_path / "out" / "scores.h5", f"s{i}")["projected"] for i in range(4)])
    scale = np.abs(want).max()
    err64 = np.abs(got - want).max() / scale
    err32 = np.abs(r32.projected.double().numpy() - want).max() / scale
    assert err64 <= 1e-6  # float32 storage of float64 scores: half an ulp of each
    assert err32 > 3 * err64  # float32 arithmetic errs more than float32 storage: the comparison tells them apart
