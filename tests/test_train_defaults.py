"""Issue 22's parts, fast: the k-mer baseline and PWM scan, the peak defaults and who wins over them, train's
warning, and the early-stopping options.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from data_sim.motifs import Motif
from deeplift_genomics.cli import main
from deeplift_genomics.cli.train import check_against_baselines
from deeplift_genomics.core.errors import InputError
from deeplift_genomics.datasets.peaks import PeakDatasetConfig, make_peak_dataset
from deeplift_genomics.io.onehot import one_hot
from deeplift_genomics.models.baselines import (
    canonical_kmer_columns,
    kmer_baseline,
    kmer_counts,
    pwm_scan_metrics,
)
from deeplift_genomics.models.spec import ModelSpec
from deeplift_genomics.models.train import TrainConfig, train_model
from deeplift_genomics.models.train_schedule import peak_architecture, peak_train_options
from deeplift_genomics.motifs.nothing_found import explain_no_seqlets, weak_model_line
from tests._model_util import planted_dataset
from tests._peaks_util import make_genome


def _reverse_complement(seq: str) -> str:
    return seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]


def test_kmer_counts_collapse_reverse_complements_and_count_every_kmer():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), size=40)) for _ in range(5)]
    fwd = kmer_counts(one_hot(seqs, dtype=np.float32), k=4).toarray()
    rev = kmer_counts(one_hot([_reverse_complement(s) for s in seqs], dtype=np.float32), k=4).toarray()
    # exact: k-mer counts are integers
    np.testing.assert_array_equal(fwd, rev)
    assert (fwd.sum(axis=1) == 40 - 4 + 1).all()
    # 4^k k-mers, palindromes counted once: (4^k + 4^(k/2)) / 2 columns for even k
    assert canonical_kmer_columns(4)[1] == (256 + 16) // 2
    # a k-mer holding N is not counted
    assert kmer_counts(one_hot(["ACGTNACGT"], dtype=np.float32), k=3).sum() == 7 - 3


def test_kmer_baseline_and_pwm_scan_rank_planted_motifs():
    data = planted_dataset(n=600, length=60, seed=3, motifs=("GATAAGAT", "CACGTGAC"))
    result = kmer_baseline(data.onehot, data.labels, data.split, data.task_names)
    assert min(result["test"]["auroc"].values()) > 0.9
    assert set(result["C"]) == set(data.task_names)
    test = data.split == "test"
    motifs = {name: [Motif(m, np.eye(4)[["ACGT".index(b) for b in m]] * 0.97 + 0.0075)]
              for name, m in zip(data.task_names, ("GATAAGAT", "CACGTGAC"))}
    scan = pwm_scan_metrics(data.onehot[test], data.labels[test], data.task_names, motifs)
    assert min(scan["auroc"].values()) > 0.95
    assert scan["motif"] == {name: ms[0].name for name, ms in motifs.items()}


def test_peak_defaults_scale_with_the_data_and_the_window():
    small, large = peak_train_options(500, 32), peak_train_options(100_000, 32)
    assert small["min_epochs"] > large["min_epochs"] and small["patience"] >= large["patience"]
    assert small["epochs"] >= small["min_epochs"] + small["patience"] or small["epochs"] == 100
    for length in (200, 400, 1000):
        spec = ModelSpec.from_dict({**peak_architecture(length), "input_length": length, "n_tasks": 2})
        assert spec.conv_output_length() == 8  # pooled to 8 positions whatever the window


def test_early_stopping_options_are_checked_and_min_epochs_holds():
    for bad in ({"monitor": "auroc"}, {"lr_schedule": "cosine"}, {"min_epochs": 0}):
        with pytest.raises(InputError):
            TrainConfig(**bad)
    data = planted_dataset(n=200, length=40, seed=1)
    spec = ModelSpec.from_dict({"conv": [[4, 5]], "pooling": "global_avg", "dense": [4], "input_length": 40,
                                "n_tasks": 2})
    config = TrainConfig(lr=1e-6, epochs=8, patience=1, min_epochs=6, monitor="auprc", lr_schedule="plateau")
    _, history, metrics = train_model(data, spec, config, seed=0)
    assert len(history) >= 6 and metrics["training"]["epochs_run"] == len(history)
    assert "valid_auprc_has_GATAAG" in history[0] and "lr" in history[0]


@pytest.fixture(scope="module")
def peak_data(tmp_path_factory):
    genome = make_genome(tmp_path_factory.mktemp("genome"), n_contigs=4, contig_length=60_000,
                         per_contig=(8, 8, 2, 4))
    out = tmp_path_factory.mktemp("ds") / "data"
    make_peak_dataset(genome.fasta, genome.beds, out,
                      PeakDatasetConfig(test_chroms=("chr4",), valid_chroms=("chr3",), seed=0))
    return out


def test_peak_dataset_gets_peak_defaults_and_given_flags_win(peak_data, tmp_path):
    out = tmp_path / "m"
    argv = ["train", "--data", str(peak_data), "--out", str(out), "--device", "cpu", "--epochs", "2",
            "--patience", "1", "--no-reverse-complement", "-q"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    training = metrics["training"]
    assert training["defaults"] == {"applied": "peaks", "given": ["epochs", "patience", "reverse_complement"],
                                    "architecture": "peaks"}
    assert training["reverse_complement"] is False and training["monitor"] == "auprc"
    assert training["lr_schedule"] == "plateau" and training["epochs_run"] == 2
    assert set(training["pos_weight"]) == set(metrics["task_names"])
    assert set(metrics["baselines"]["kmer"]["test"]["auroc"]) == set(metrics["task_names"])
    spec = json.loads((out / "model.json").read_text())["spec"]
    assert spec["conv"][0]["width"] == 21 and spec["pooling"] == "max"
    # --defaults benchmark: the authors' net and settings; --motifs adds the PWM scan
    motifs = tmp_path / "m.meme"
    motifs.write_text("MEME version 4\n\nALPHABET= ACGT\n\nMOTIF GATA\nletter-probability matrix: w= 4\n"
                      "0.97 0.01 0.01 0.01\n0.01 0.01 0.01 0.97\n0.97 0.01 0.01 0.01\n0.01 0.01 0.97 0.01\n")
    bench = tmp_path / "b"
    assert main(["train", "--data", str(peak_data), "--out", str(bench), "--device", "cpu", "--epochs", "1",
                 "--defaults", "benchmark", "--motifs", str(motifs), "-q"]) == 0
    metrics = json.loads((bench / "metrics.json").read_text())
    assert metrics["training"]["defaults"]["applied"] == "benchmark"
    assert metrics["training"]["monitor"] == "loss" and metrics["training"]["reverse_complement"] is False
    assert metrics["baselines"]["pwm_scan"]["motif"]["gata"] == "GATA"
    assert json.loads((bench / "model.json").read_text())["spec"]["conv"][0]["width"] == 11


def test_train_warns_near_chance_and_below_the_kmer_baseline(caplog):
    metrics = {"test": {"auroc": {"a": 0.55, "b": 0.80, "c": 0.95, "d": 0.52}},
               "baselines": {"kmer": {"test": {"auroc": {"a": 0.7, "b": 0.9, "c": 0.96, "d": 0.5}}}}}
    with caplog.at_level(logging.WARNING):
        assert check_against_baselines(metrics, "peaks") == ["a", "b", "d"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all("\n" not in line and "try" in line for line in lines)
    assert "near chance" in lines[0] and "0.900" in lines[1]
    assert "k-mer baseline's 0.500 too" in lines[2] and "check the labels" in lines[2]


def test_nothing_found_lines_name_the_null_and_the_model():
    null = {"fdr": 0.05, "width": 15, "n_null_windows": 2000, "max_pos": 0.1, "null_max_pos": 0.3}
    metrics = {"test": {"auroc": {"t": 0.52}}, "baselines": {"kmer": {"test": {"auroc": {"t": 0.9}}}}}
    line = explain_no_seqlets("t", null, metrics)
    assert "FDR 0.05" in line and "0.3" in line and "0.520" in line and "0.900" in line and "retrain" in line
    assert "unknown" in explain_no_seqlets("t", null, None)
    assert "near chance" in weak_model_line("t", 3, metrics)
    assert weak_model_line("t", 3, {"test": {"auroc": {"t": 0.9}}}) is None
