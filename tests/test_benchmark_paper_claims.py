"""The paper's Section 4.2 orderings, checked with the `benchmark` command on a trained default net.

Training the authors' net until it has learned the grammar takes minutes on 2 cores, too long for CI,
and small nets trained in seconds do not learn the AND of task 0 reliably (on them the orderings are a
coin flip). So the test uses a default net trained once by
``deeplift-genomics simulate --out D --seed 0`` + ``deeplift-genomics train --data D --out M --seed 0``
(30 epochs, test auROC 0.962 / 0.964 / 0.996), stored in ``tests/data/benchmark_default_model``, and
explains it on 800 freshly simulated sequences (200 per class, a seed it never saw).

On that model the orderings hold on every simulation seed tried (seed 0's test split and fresh seeds
1-5; see the closing note of the benchmark issue), with wide margins: TAL1 false negatives on task 0,
grad x input ~44%, Rescale ~12%, RevealCancel and genomics default 0%.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _benchmark_util import simulate, write_config

from deeplift_genomics.benchmark import analysis as bm
from deeplift_genomics.benchmark import methods as bench_methods
from deeplift_genomics.cli import main

MODEL = Path(__file__).parent / "data" / "benchmark_default_model"
SEED = 7


@pytest.fixture(scope="module")
def claims_run(tmp_path_factory):
    from sklearn.metrics import roc_auc_score

    from deeplift_genomics.datasets.load import load_dataset
    from deeplift_genomics.models.files import load_model

    root = tmp_path_factory.mktemp("claims")
    data = simulate(root / "data", n_per_class=200, seed=SEED)
    ds = load_dataset(data)
    with torch.no_grad():
        logits = load_model(MODEL).model(torch.from_numpy(ds.onehot)).numpy()
    auroc = [roc_auc_score(ds.labels[:, t], logits[:, t]) for t in range(3)]
    cfg = write_config(root / "bench.yaml", figures=False)
    out = root / "bench"
    assert main(["benchmark", "--data", str(data), "--model", str(MODEL), "--out", str(out),
                 "--split", "all", "--config", str(cfg), "-q"]) == 0
    return {"auroc": auroc, "fig5b": pd.read_csv(out / "fig5b.tsv", sep="\t"),
            "metrics": pd.read_csv(out / "metrics.tsv", sep="\t"),
            "claims": pd.read_csv(out / "claims.tsv", sep="\t")}


def _fn(fig5b: pd.DataFrame, method: str, motif: str = bm.TAL1) -> float:
    row = fig5b[(fig5b["method"] == method) & (fig5b["motif"] == motif)]
    return float(row["false_negative_rate"].iloc[0])


def test_the_model_has_learned_the_grammar(claims_run):
    # the claims are about explaining a model that works; at chance they would be vacuous
    assert min(claims_run["auroc"]) > 0.9, claims_run["auroc"]


def test_enough_strong_tal1_hits_in_both_class_sequences(claims_run):
    fig5b = claims_run["fig5b"]
    assert fig5b.loc[fig5b["motif"] == bm.TAL1, "n_hits"].min() >= 150


@pytest.mark.parametrize("worse", ["deeplift_rescale", "gradient_x_input"])
@pytest.mark.parametrize("better", ["deeplift_reveal_cancel", "deeplift_genomics_default"])
def test_fewer_task0_false_negatives_on_tal1(claims_run, better, worse):
    fig5b = claims_run["fig5b"]
    # the paper: RevealCancel and genomics default 0%, Rescale 7.0%, grad x input 11.6%. Demand a
    # margin of 3 points, so that the test checks the effect and not a few hits' noise.
    assert _fn(fig5b, better) + 0.03 < _fn(fig5b, worse), fig5b


@pytest.mark.parametrize("deeplift", bench_methods.DEEPLIFT_BACKGROUND)
def test_deeplift_leaks_less_than_guided_backprop(claims_run, deeplift):
    metrics = claims_run["metrics"]
    leak = metrics[metrics["task"] > 0].groupby("method")["leakage"].apply(lambda v: float(np.abs(v).mean()))
    assert leak[deeplift] < leak["guided_backprop_x_input"], leak


def test_the_claims_table_agrees(claims_run):
    claims = claims_run["claims"]
    fn_claims = claims[claims["claim"].str.contains("misses fewer")]
    leak_claims = claims[claims["claim"].str.contains("leaks less")]
    assert len(fn_claims) == 4 and fn_claims["holds"].all(), fn_claims
    assert len(leak_claims) == 3 and leak_claims["holds"].all(), leak_claims
