"""The benchmark's pure analysis functions, checked against independent computations on synthetic arrays."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from deeplift_genomics.benchmark import analysis as bm
from deeplift_genomics.benchmark import methods as bench_methods


def _toy(seed: int = 0, n: int = 12, t: int = 3, length: int = 40):
    rng = np.random.default_rng(seed)
    projected = rng.normal(size=(n, t, length)).astype(np.float32)
    ids = [f"s{k}" for k in range(n)]
    classes = np.array(["both", "gata", "tal1", "neither"] * (n // 4))
    rows = []
    for k in range(n):
        if classes[k] in ("both", "gata"):
            rows.append({"id": ids[k], "motif": bm.GATA, "start": 3, "end": 13, "strand": "+", "log_odds": 9.0})
        if classes[k] in ("both", "tal1"):
            rows.append({"id": ids[k], "motif": bm.TAL1, "start": 20, "end": 36, "strand": "+", "log_odds": 12.0})
    return projected, ids, classes, pd.DataFrame(rows)


def test_window_sums_match_a_loop():
    projected, _, _, _ = _toy()
    rng = np.random.default_rng(1)
    seq = rng.integers(0, 12, size=50)
    start = rng.integers(0, 35, size=50)
    end = start + rng.integers(1, 10, size=50)
    got = bm.window_sums(projected, seq, start, end)
    for h in range(50):
        want = projected[seq[h], :, start[h]:end[h]].astype(np.float64).sum(axis=1)
        np.testing.assert_allclose(got[h], want, rtol=1e-10, atol=1e-10)


def test_hit_importance_has_one_row_per_hit_and_method():
    projected, ids, classes, emb = _toy()
    hits = bm.embedded_hits(emb, ids, classes)
    table = bm.hit_importance(hits, {"a": projected, "b": -projected})
    assert len(table) == 2 * len(hits)
    assert bm.importance_columns(table) == ["importance_t0", "importance_t1", "importance_t2"]
    a = table[table["method"] == "a"]["importance_t1"].to_numpy()
    b = table[table["method"] == "b"]["importance_t1"].to_numpy()
    np.testing.assert_allclose(a, -b)
    # the class column follows the sequence
    assert set(hits.loc[hits["motif"] == bm.TAL1, "class"]) == {"both", "tal1"}


def test_indicator_scores_give_perfect_auroc_and_auprc():
    projected, ids, classes, emb = _toy()
    hits = bm.embedded_hits(emb, ids, classes)
    masks = bm.motif_masks(hits, n=len(ids), length=projected.shape[2])
    perfect = np.zeros_like(projected)
    perfect[:, 0] = masks[bm.GATA] | masks[bm.TAL1]
    perfect[:, 1] = masks[bm.GATA]
    perfect[:, 2] = masks[bm.TAL1]
    out = bm.per_base_metrics({"perfect": perfect, "inverted": -perfect}, masks)
    good = out[out["method"] == "perfect"]
    assert np.allclose(good["auroc"], 1.0) and np.allclose(good["auprc"], 1.0)
    assert np.allclose(out[out["method"] == "inverted"]["auroc"], 0.0)
    # the indicator puts nothing on the irrelevant motif
    assert np.allclose(good.loc[good["task"] > 0, "leakage"], 0.0)
    assert math.isnan(good.loc[good["task"] == 0, "leakage"].iloc[0])


def test_roc_auc_agrees_with_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, size=300).astype(float)
    labels = rng.random(300) < 0.3
    assert bm.roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert math.isnan(bm.roc_auc(scores, np.zeros(300, dtype=bool)))


def test_leakage_is_irrelevant_over_relevant_mean():
    projected, ids, classes, emb = _toy()
    hits = bm.embedded_hits(emb, ids, classes)
    masks = bm.motif_masks(hits, n=len(ids), length=projected.shape[2])
    out = bm.per_base_metrics({"m": projected}, masks).set_index("task")
    s = projected[:, 1, :].astype(np.float64)
    assert out.loc[1, "relevant_mean"] == pytest.approx(s[masks[bm.GATA]].mean())
    assert out.loc[1, "irrelevant_mean"] == pytest.approx(s[masks[bm.TAL1]].mean())
    assert out.loc[1, "leakage"] == pytest.approx(s[masks[bm.TAL1]].mean() / s[masks[bm.GATA]].mean())
    assert out.loc[2, "irrelevant_motif"] == bm.GATA


def test_false_negative_rate_counts_nonpositive_strong_hits_in_both_class():
    rows = []
    # five strong TAL1 hits in "both" sequences: two scored <= 0 (one exactly 0)
    for k, v in enumerate([1.0, -0.5, 0.0, 2.0, 3.0]):
        rows.append({"source": "scan", "method": "m", "seq_index": k, "id": f"s{k}", "class": "both",
                     "motif": bm.TAL1, "start": 0, "end": 16, "strand": "+", "log_odds": 8.0, "importance_t0": v})
    # ignored: weak hit, other class, embedded source
    rows.append({**rows[1], "log_odds": 6.9})
    rows.append({**rows[1], "class": "tal1"})
    rows.append({**rows[1], "source": "embedded"})
    out = bm.false_negative_rates(pd.DataFrame(rows))
    assert out.to_dict("records") == [
        {"method": "m", "motif": bm.TAL1, "n_hits": 5, "false_negative_rate": pytest.approx(0.4)}
    ]


def test_spearman_is_one_for_monotone_importance():
    n = 30
    x = np.linspace(0, 15, n)
    table = pd.DataFrame({"source": "scan", "method": "m", "seq_index": np.arange(n), "id": "s", "class": "both",
                          "motif": bm.GATA, "start": 0, "end": 10, "strand": "+", "log_odds": x,
                          "importance_t0": x ** 3, "importance_t1": -x, "importance_t2": 0.0})
    out = bm.spearman_table(table).set_index("task")
    assert out.loc[0, "spearman"] == pytest.approx(1.0)
    assert out.loc[1, "spearman"] == pytest.approx(-1.0)
    assert math.isnan(out.loc[2, "spearman"])  # constant importance has no rank correlation
    assert bool(out.loc[1, "relevant"]) and not bool(out.loc[2, "relevant"])


@pytest.mark.parametrize("n", [0, 1, 7, 10, 13, 40])
def test_stratified_subset_is_deterministic_and_proportional(n):
    classes = np.array(["both"] * 10 + ["gata"] * 10 + ["tal1"] * 10 + ["neither"] * 10)
    classes = np.random.default_rng(0).permutation(classes)
    a = bm.stratified_subset(classes, n, seed=5)
    # exact: integer indices
    assert np.array_equal(a, bm.stratified_subset(classes, n, seed=5))
    assert len(a) == n and len(set(a.tolist())) == n and np.all(np.diff(a) > 0)
    counts = pd.Series(classes[a]).value_counts()
    assert n == 0 or counts.max() - (counts.min() if len(counts) == 4 else 0) <= 1


def test_mark_embedded_finds_overlaps_only_for_the_same_motif():
    _, ids, classes, emb = _toy()
    truth = bm.embedded_hits(emb, ids, classes)
    hits = pd.DataFrame({"seq_index": [0, 0, 1, 2], "motif": [bm.GATA, bm.TAL1, bm.TAL1, bm.TAL1],
                         "start": [10, 0, 20, 35], "end": [20, 10, 36, 51]})
    # seq 0 is "both" (GATA 3-13, TAL1 20-36); seq 1 is "gata" (no TAL1); seq 2 is "tal1"
    assert bm.mark_embedded(hits, truth).tolist() == [True, False, False, True]


def test_summarise_models_mean_and_sd():
    a = pd.DataFrame({"method": ["m", "m"], "task": [0, 1], "auroc": [0.8, 0.6]})
    b = pd.DataFrame({"method": ["m", "m"], "task": [0, 1], "auroc": [0.9, 0.7]})
    out = bm.summarise_models([a, b]).set_index("task")
    assert out.loc[0, "auroc_mean"] == pytest.approx(0.85)
    assert out.loc[0, "auroc_sd"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert out.loc[0, "n_models"] == 2


def test_claims_hold_only_for_strict_improvements():
    fig5b = pd.DataFrame({"method": ["deeplift_rescale", "deeplift_reveal_cancel"], "motif": bm.TAL1,
                          "n_hits": 10, "false_negative_rate": [0.1, 0.0]})
    metrics = pd.DataFrame({"method": ["guided_backprop_x_input", "deeplift_rescale"], "task": 1,
                            "auroc": 0.9, "leakage": [0.5, -0.1]})
    claims = bm.evaluate_claims(fig5b, metrics)
    assert claims["holds"].tolist() == [True, True]
    fig5b["false_negative_rate"] = 0.0
    assert not bm.evaluate_claims(fig5b, metrics)["holds"].iloc[0]


def test_method_labels_round_trip_to_display_names():
    labels = [m.label for m in bench_methods.DEFAULT_METHODS]
    assert len(set(labels)) == len(labels)
    assert "deeplift_genomics_default_shuffle20" in labels
    assert bench_methods.display_name("deeplift_genomics_default_shuffle10") == "DeepLIFT genomics default (10 shuffled refs)"
    assert bench_methods.MethodSpec("ism").engine_kwargs() == {"method": "ism"}


def test_recovery_ranking_orders_methods_by_mean_instance_f1():
    from deeplift_genomics.benchmark.analysis import recovery_ranking

    rows = []
    # method a: instance F1 0.8 and 0.4 (mean 0.6); b: 0.9 and no calls (NaN counts 0: mean 0.45); c: mean 0.55
    for method, f1s in (("a", (0.8, 0.4)), ("b", (0.9, float("nan"))), ("c", (0.5, 0.6))):
        for task, f1 in zip(("t1", "t2"), f1s):
            rows.append({"method": method, "task": task, "kind": "instances", "f1": f1, "recall": f1,
                         "precision": f1})
            rows.append({"method": method, "task": task, "kind": "seqlets", "f1": 0.5, "recall": 0.5,
                         "precision": 0.5})
    ranking = recovery_ranking(pd.DataFrame(rows))
    assert list(ranking["method"]) == ["a", "c", "b"] and list(ranking["rank"]) == [1, 2, 3]
    assert ranking["instance_f1"].tolist() == pytest.approx([0.6, 0.55, 0.45])
    assert ranking["seqlet_f1"].tolist() == pytest.approx([0.5, 0.5, 0.5])
