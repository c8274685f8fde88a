"""The attribute, benchmark and report commands end to end on a tiny simulation and an untrained net."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from _benchmark_util import save, simulate, write_config

from deeplift_genomics.benchmark import methods as bench_methods
from deeplift_genomics.cli import main
from deeplift_genomics.core.errors import InputError
from deeplift_genomics.io.attributions import load_attributions

METHODS = ["gradient_x_input", {"method": "deeplift", "rule": "rescale"},
           {"method": "deeplift", "rule": "genomics_default"}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from deeplift_genomics.datasets.load import load_dataset
    from deeplift_genomics.models.spec import ModelSpec, build_model

    root = tmp_path_factory.mktemp("tiny_benchmark")
    data = simulate(root / "data", n_per_class=20, seed=3)
    ds = load_dataset(data)
    spec = ModelSpec.from_dict({"conv": [[4, 11], [4, 5]], "dense": [4], "dropout": 0.0, "input_length": 200,
                                "n_tasks": 3})
    torch.manual_seed(0)
    model = save(build_model(spec).eval(), spec, ds, root / "model")
    return {"root": root, "data": data, "model": model, "ds": ds}


def test_attribute_writes_a_complete_file(tiny, tmp_path):
    out = tmp_path / "att.npz"
    rc = main(["attribute", "--data", str(tiny["data"]), "--model", str(tiny["model"]), "--out", str(out),
               "--method", "deeplift", "--rule", "rescale", "--references", "background", "--split", "all",
               "--max-sequences", "12", "--seed", "4"])
    assert rc == 0
    att = load_attributions(out)
    n = 12
    assert att.projected.shape == (n, 3, 200) and att.projected.dtype == np.float32
    assert att.hypothetical.shape == (n, 3, 4, 200) and att.hypothetical.dtype == np.float16
    assert att.outputs.shape == (n, 3) and att.deltas_max_abs.shape == (n,)
    # stratified: 3 of each class
    ds = tiny["ds"]
    cls = dict(zip(ds.ids, ds.classes))
    assert sorted(pd.Series([cls[i] for i in att.ids]).value_counts().tolist()) == [3, 3, 3, 3]
    # summation-to-delta: per-base scores add up to f(x) - f(reference)
    assert float(att.deltas_max_abs.max()) < 1e-3
    s = att.settings
    assert (s["method"], s["rule"], s["references"], s["seed"]) == ("deeplift", "rescale", "background", 4)
    assert s["data_checksum"] == ds.checksum and len(s["model_checksum"]) == 64
    assert att.label == "deeplift_rescale"
    # projected equals the channel sum of the contributions recovered from the hypothetical scores
    idx = [ds.ids.index(i) for i in att.ids]
    contrib = att.hypothetical.astype(np.float32) * ds.onehot[idx][:, None]
    np.testing.assert_allclose(contrib.sum(axis=2), att.projected, atol=2e-3 * np.abs(att.projected).max())


def test_attribute_refuses_bad_input(tiny, tmp_path, caplog):
    rc = main(["attribute", "--data", str(tiny["data"]), "--model", str(tiny["model"]), "--out",
               str(tmp_path / "x.npz")])
    assert rc == 2 and "--method" in caplog.text
    assert not (tmp_path / "x.npz").exists()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="bad.npz"):
        load_attributions(bad)


@pytest.fixture(scope="module")
def bench(tiny):
    root = tiny["root"]
    # one method comes from an `attribute` file, the others are computed by `benchmark`
    att = root / "gxi.npz"
    assert main(["attribute", "--data", str(tiny["data"]), "--model", str(tiny["model"]), "--out", str(att),
                 "--method", "gradient_x_input", "--references", "background", "--split", "all"]) == 0
    cfg = write_config(root / "bench.yaml", methods=METHODS, logo_hits=5)
    out = root / "bench"
    rc = main(["benchmark", "--data", str(tiny["data"]), "--model", str(tiny["model"]), "--out", str(out),
               "--split", "all", "--attributions", str(att), "--config", str(cfg)])
    assert rc == 0
    return out


def test_benchmark_writes_tables_figures_and_summary(bench, tiny):
    fig5b = pd.read_csv(bench / "fig5b.tsv", sep="\t")
    assert list(fig5b.columns) == ["method", "motif", "n_hits", "false_negative_rate"]
    assert set(fig5b["method"]) == {"gradient_x_input", "deeplift_rescale", "deeplift_genomics_default"}
    hits = pd.read_csv(bench / "hits.tsv", sep="\t")
    ds = tiny["ds"]
    # 5 scanned hits per sequence and motif, plus every embedded instance, for each method
    n_embedded = len(ds.embeddings)
    assert len(hits) == 3 * (2 * 5 * len(ds.ids) + n_embedded)
    metrics = pd.read_csv(bench / "metrics.tsv", sep="\t")
    assert len(metrics) == 3 * 3 and metrics["auroc"].between(0, 1).all()
    summary = json.loads((bench / "summary.json").read_text())
    assert [t["source"] for t in summary["timings"] if t["method"] == "gradient_x_input"] == ["file"]
    for stem in (summary["figures"]["grid"]["TAL1"], summary["figures"]["grid"]["GATA1"]):
        assert (bench / f"{stem}.png").stat().st_size > 0 and (bench / f"{stem}.svg").stat().st_size > 0
    # motif recovery: every method x task x kind, shares in [0, 1] (NaN when there is nothing to share)
    recovery = pd.read_csv(bench / "motif_recovery.tsv", sep="\t")
    assert len(recovery) == 3 * 3 * 2 == len(summary["motif_recovery"])
    assert set(recovery["kind"]) == {"seqlets", "instances"}
    for col in ("precision", "recall"):
        assert recovery[col].dropna().between(0, 1).all()


def test_benchmark_file_and_computed_scores_agree(bench, tiny, tmp_path):
    # the same method computed by `benchmark` itself gives the same hit importance as the file
    cfg = write_config(tmp_path / "c.yaml", methods=["gradient_x_input"], figures=False)
    out = tmp_path / "b"
    assert main(["benchmark", "--data", str(tiny["data"]), "--model", str(tiny["model"]), "--out", str(out),
                 "--split", "all", "--config", str(cfg)]) == 0
    a = pd.read_csv(bench / "hits.tsv", sep="\t")
    a = a[a["method"] == "gradient_x_input"].reset_index(drop=True)
    b = pd.read_csv(out / "hits.tsv", sep="\t")
    np.testing.assert_allclose(a["importance_t0"], b["importance_t0"], rtol=1e-4, atol=1e-6)


def test_report_is_self_contained_and_names_every_method(bench, tmp_path):
    out = tmp_path / "report"
    assert main(["report", "--benchmark", str(bench), "--out", str(out)]) == 0
    pages = sorted(p.name for p in out.iterdir() if p.name != ".deeplift-genomics.json")
    assert pages == ["index.html", "task_0.html", "task_1.html", "task_2.html"]
    index = (out / "index.html").read_text()
    for page in pages:
        text = (out / page).read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), page
        assert "http://" not in text and "https://" not in text, page
        srcs = re.findall(r'src="([^"]*)"', text)
        assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs), page
    for label in ("gradient_x_input", "deeplift_rescale", "deeplift_genomics_default"):
        assert bench_methods.display_name(label) in index
    # the authors' printed Fig. 5b numbers sit beside ours
    assert "11.6%" in index and "7.0%" in index
    assert "holds?" in index
    assert "Motif recovery per attribution method" in index
    # --motifs: the index links to each motif report, relative to the report folder
    motifs = tmp_path / "motifs" / "sim"
    (motifs / "report").mkdir(parents=True)
    (motifs / "report" / "index.html").write_text("<html></html>")
    assert main(["report", "--benchmark", str(bench), "--out", str(out), "--motifs", str(motifs)]) == 0
    assert 'href="../motifs/sim/report/index.html"' in (out / "index.html").read_text()
    assert main(["report", "--benchmark", str(bench), "--out", str(out), "--motifs", str(tmp_path / "motifs")]) == 2


def test_report_refuses_a_directory_without_summary(tmp_path, caplog):
    (tmp_path / "b").mkdir()
    assert main(["report", "--benchmark", str(tmp_path / "b"), "--out", str(tmp_path / "r")]) == 2
    assert "summary.json" in caplog.text


def test_benchmark_refuses_unknown_method_key(tiny, tmp_path, caplog):
    cfg = write_config(tmp_path / "c.yaml", methods=[{"method": "deeplift", "rules": "rescale"}])
    rc = main(["benchmark", "--data", str(tiny["data"]), "--model", str(tiny["model"]), "--out",
               str(tmp_path / "b"), "--config", str(cfg)])
    assert rc == 2 and "methods[0]" in caplog.text and "rules" in caplog.text
    assert not (tmp_path / "b").exists()


def test_several_models_give_mean_and_spread(tiny, tmp_path):
    from deeplift_genomics.models.spec import ModelSpec, build_model

    spec = ModelSpec.from_dict({"conv": [[4, 11], [4, 5]], "dense": [4], "dropout": 0.0, "input_length": 200,
                                "n_tasks": 3})
    torch.manual_seed(1)
    other = save(build_model(spec).eval(), spec, tiny["ds"], tmp_path / "other")
    cfg = write_config(tmp_path / "c.yaml", methods=["gradient_x_input"], figures=False)
    out = tmp_path / "b"
    assert main(["benchmark", "--data", str(tiny["data"]), "--model", str(tiny["model"]), str(other),
                 "--out", str(out), "--split", "all", "--config", str(cfg)]) == 0
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert sorted(metrics["model"].unique()) == ["model", "other"]
    summary = pd.read_csv(out / "metrics_summary.tsv", sep="\t").set_index("task")
    assert (summary["n_models"] == 2).all()
    for t in range(3):
        values = metrics.loc[metrics["task"] == t, "auroc"]
        assert summary.loc[t, "auroc_mean"] == pytest.approx(values.mean(), rel=1e-4)
        assert summary.loc[t, "auroc_sd"] == pytest.approx(values.std(ddof=1), rel=1e-4)


def test_benchmark_compares_exactly_the_given_files_without_a_method_list(tiny, tmp_path):
    att = tmp_path / "gxi.npz"
    assert main(["attribute", "--data", str(tiny["data"]), "--model", str(tiny["model"]), "--out", str(att),
                 "--method", "gradient_x_input", "--references", "background", "--split", "all",
                 "--max-sequences", "12"]) == 0
    out = tmp_path / "b"
    assert main(["benchmark", "--data", str(tiny["data"]), "--model", str(tiny["model"]), "--out", str(out),
                 "--split", "all", "--max-sequences", "12", "--attributions", str(att)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    methods = [(t["method"], t["source"]) for t in summary["timings"] if t["method"] not in ("figures", "motif recovery")]
    assert methods == [("gradient_x_input", "file")]
    assert set(pd.read_csv(out / "fig5b.tsv", sep="\t")["method"]) == {"gradient_x_input"}


def test_model_checksum_covers_the_model_not_the_training_log(tiny, tmp_path):
    import shutil

    from deeplift_genomics.io.attributions import model_checksum

    copy = tmp_path / "model"
    shutil.copytree(tiny["model"], copy)
    before = model_checksum(copy)
    (copy / "history.tsv").write_text("epoch\tseconds\n1\t12.5\n")
    (copy / "metrics.json").write_text("{}")
    assert model_checksum(copy) == before
    weights = copy / json.loads((copy / "model.json").read_text())["weights"]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert model_checksum(copy) != before


def test_a_model_of_another_architecture_is_reported_apart(tiny, bench, tmp_path):
    from deeplift_genomics.benchmark.report import index_page
    from deeplift_genomics.models.spec import ModelSpec, build_model

    # another architecture (one conv layer, no hidden dense layer): not pooled with the first model's seeds
    spec = ModelSpec.from_dict({"conv": [[6, 9]], "dense": [], "dropout": 0.0,
                                "input_length": 200, "n_tasks": 3})
    torch.manual_seed(2)
    other = save(build_model(spec).eval(), spec, tiny["ds"], tmp_path / "wide")
    cfg = write_config(tmp_path / "c.yaml", methods=METHODS, figures=False)
    out = tmp_path / "b"
    assert main(["benchmark", "--data", str(tiny["data"]), "--model", str(tiny["model"]), str(other),
                 "--out", str(out), "--split", "all", "--config", str(cfg)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert not (out / "metrics_summary.tsv").exists()  # one model of each architecture: nothing to pool
    assert [m["architecture"] for m in summary["models"]] == ["conv", "conv"]
    (entry,) = summary["other_models"]
    assert entry["name"] == "wide"
    # its Fig. 5b and motif recovery are its own: the same numbers as a benchmark of that model alone
    alone = tmp_path / "alone"
    assert main(["benchmark", "--data", str(tiny["data"]), "--model", str(other), "--out", str(alone),
                 "--split", "all", "--config", str(cfg)]) == 0
    single = json.loads((alone / "summary.json").read_text())
    assert pd.DataFrame(entry["fig5b"]).equals(pd.DataFrame(single["fig5b"]))
    assert pd.DataFrame(entry["motif_recovery"]).equals(pd.DataFrame(single["motif_recovery"]))
    # the first model's tables are those of the first model alone (the bench fixture ran it)
    first = json.loads((bench / "summary.json").read_text())
    np.testing.assert_allclose(pd.DataFrame(summary["fig5b"])["false_negative_rate"],
                               pd.DataFrame(first["fig5b"])["false_negative_rate"])
    ranking = pd.read_csv(out / "recovery_ranking.tsv", sep="\t")
    assert set(ranking["model"]) == {"model", "wide"} and len(ranking) == 2 * len(METHODS)
    for _, part in ranking.groupby("model"):
        assert part["instance_f1"].fillna(-1).is_monotonic_decreasing and list(part["rank"]) == [1, 2, 3]
    assert (out / "motif_recovery_wide.tsv").exists()
    page = index_page(summary, out)
    assert "Model 2: wide (conv)" in page and "Best motif recovery on wide" in page
