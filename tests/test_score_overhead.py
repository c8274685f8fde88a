"""``score`` after its overhead cuts: the same numbers as the engine, files as documented, a lean CLI start.

The cuts (float scores stored in the ``.npz`` files without deflating them, the CLI importing only the
command it runs) must not change a single output: the scores are checked against an independent path,
the engine's :func:`attribute` on the same sequences in float64, in one call with its own batching.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest
import torch
from _score_util import LENGTH, random_seqs, write_fasta

from deeplift_genomics import attribute
from deeplift_genomics.io.onehot import one_hot
from deeplift_genomics.score import ScoreOptions, score_fasta

TASKS = ["t0", "t1", "t2"]


def conv_net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv1d(4, 8, 7, padding=3), torch.nn.ReLU(), torch.nn.Conv1d(8, 8, 5), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(), torch.nn.Linear(8, 6), torch.nn.ReLU(),
        torch.nn.Linear(6, len(TASKS)),
    ).eval()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_score_outputs_equal_the_engine_in_float64(tmp_path, seed):
    """Every per-base output of score (scores.h5 and the modisco files) against attribute() in float64."""
    seqs = random_seqs(23, LENGTH, seed=seed)
    fasta = write_fasta(tmp_path / "x.fa", {f"r{i}": s for i, s in enumerate(seqs)})
    model = conv_net(seed)
    # several batches and chunks, a last batch and chunk shorter than the others
    opts = ScoreOptions(n_references=5, batch_size=8, chunk_size=10, seed=seed + 3, device="cpu")
    score_fasta(model, LENGTH, TASKS, fasta, tmp_path / "out", options=opts, bedgraph=False)
    x = torch.from_numpy(one_hot(seqs)).double()
    ref = attribute(model.double(), x, references="shuffle", n_references=5, seed=seed + 3, device="cpu",
                    dtype=torch.float64, verbose=False)
    proj, hyp = ref.projected.numpy(), ref.hypothetical.numpy()
    scale = np.abs(hyp).max()
    with h5py.File(tmp_path / "out" / "scores.h5", "r") as h5:
        got_proj = h5["projected"][()].reshape(len(TASKS), len(seqs), LENGTH).transpose(1, 0, 2)
        got_hyp = h5["hypothetical"][()].reshape(len(TASKS), 4, len(seqs), LENGTH).transpose(2, 0, 1, 3)
        # score runs in float32 against this float64 engine run: float32 rounding of the largest score
        np.testing.assert_allclose(got_proj, proj, rtol=0, atol=1e-5 * scale)
        np.testing.assert_allclose(got_hyp, hyp, rtol=0, atol=1e-5 * scale)
        np.testing.assert_allclose(h5["predictions"][()], ref.outputs.numpy(), rtol=1e-5, atol=1e-6)
        # a sum of LENGTH float32 scores: float32 rounding grows with the number of terms
        np.testing.assert_allclose(h5["total_contribution"][()], proj.sum(-1), rtol=0, atol=1e-4 * scale)
    for t, task in enumerate(TASKS):
        with np.load(tmp_path / "out" / f"shap_{task}.npz") as shap:
            # float32 scores against the float64 engine run, as above
            np.testing.assert_allclose(shap["arr_0"], hyp[:, t], rtol=0, atol=1e-5 * scale)
    with np.load(tmp_path / "out" / "ohe.npz") as ohe:
        # exact: one-hot data (0/1)
        np.testing.assert_array_equal(ohe["arr_0"], one_hot(seqs))


def test_float_scores_are_stored_and_the_one_hot_deflated(tmp_path):
    seqs = random_seqs(4, LENGTH, seed=5)
    fasta = write_fasta(tmp_path / "x.fa", {f"r{i}": s for i, s in enumerate(seqs)})
    score_fasta(conv_net(0), LENGTH, TASKS, fasta, tmp_path / "out",
                options=ScoreOptions(n_references=2, device="cpu"), bedgraph=False)
    for name in ["shap.npz"] + [f"shap_{t}.npz" for t in TASKS]:
        with zipfile.ZipFile(tmp_path / "out" / name) as zf:
            assert [i.compress_type for i in zf.infolist()] == [zipfile.ZIP_STORED]
    with zipfile.ZipFile(tmp_path / "out" / "ohe.npz") as zf:
        assert [i.compress_type for i in zf.infolist()] == [zipfile.ZIP_DEFLATED]


def test_the_cli_loads_only_the_command_it_runs():
    """``score`` does not import the other commands' modules (benchmark: pandas, scikit-learn)."""
    code = (
        "import sys\n"
        "from deeplift_genomics.cli import main\n"
        "try:\n"
        "    main(['score', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('deeplift_genomics.cli.')))\n"
        "print('sklearn' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, sklearn = done.stdout.strip().splitlines()[-2:]
    assert loaded == str(["deeplift_genomics.cli.commands", "deeplift_genomics.cli.score",
                          "deeplift_genomics.cli.settings"])
    assert sklearn == "False"


def test_the_full_parser_still_knows_every_command(capsys):
    from deeplift_genomics.cli import build_parser
    from deeplift_genomics.cli.commands import SUBCOMMANDS

    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in SUBCOMMANDS)
    # the parser for one command keeps the others' names, so a wrong word still gets argparse's message
    assert set(build_parser("score")._subparsers._group_actions[0].choices) == set(SUBCOMMANDS)


@pytest.mark.parametrize("length", [30, 50, 64, 90])
def test_one_window_records_get_their_window_s_scores(length):
    """A record scored by one window (as it is, padded or cropped) gets that window's columns of its
    interval; tiled records keep the float64 mean of the windows over each base."""
    from deeplift_genomics.score.windows import plan_windows, stitch

    rng = np.random.default_rng(length)
    for long in ("crop", "tile"):
        plan = plan_windows(length, 50, long=long, stride=20)
        values = rng.normal(size=(plan.n_windows, 3, 50)).astype(np.float32)
        got = stitch(values, plan)
        expect = np.zeros((3, plan.scored_end - plan.scored_start))
        count = np.zeros(plan.scored_end - plan.scored_start)
        for w, offset in enumerate(plan.offsets):
            for j in range(plan.scored_start, plan.scored_end):
                if offset <= j < offset + 50:
                    expect[:, j - plan.scored_start] += values[w, :, j - offset]
                    count[j - plan.scored_start] += 1
        assert got.dtype == np.float32
        if plan.n_windows == 1:
            # a mean over one window: the float32 value itself, exactly
            np.testing.assert_array_equal(got, (expect / count).astype(np.float32))
        else:
            np.testing.assert_allclose(got, expect / count, rtol=1e-6)


def test_only_the_program_freezes_the_collector():
    """The command line as a program exempts the imports' objects from garbage collection; a call from
    Python (a test, a notebook) leaves its caller's collector alone."""
    import gc

    from deeplift_genomics.cli import main

    frozen = gc.get_freeze_count()
    assert main(["score"]) == 2  # missing --model/--fasta/--out: bad input, after the parser was built
    assert gc.get_freeze_count() == frozen
    code = ("import gc, sys\nfrom deeplift_genomics.cli import main\nsys.argv = ['deeplift-genomics', 'score']\n"
            "status = main()\nprint(status, gc.get_freeze_count() > 10000)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["2", "True"]
