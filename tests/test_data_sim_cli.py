"""``deeplift-genomics simulate`` and ``load_dataset`` on both kinds of input."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from deeplift_genomics.cli import main
from deeplift_genomics.core.errors import InputError
from deeplift_genomics.datasets.load import load_dataset

FILES = ["sequences.fa", "labels.tsv", "embeddings.tsv", "sequences.simdata.gz", "variants.vcf.gz"]


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "run"
    assert main(["simulate", "--out", str(out), "--n-per-class", "40", "--seed", "7", "-q"]) == 0
    return out


def test_writes_the_four_files(sim_dir):
    for name in FILES:
        assert (sim_dir / name).stat().st_size > 0
    labels = pd.read_csv(sim_dir / "labels.tsv", sep="\t")
    assert list(labels.columns) == ["id", "split", "both", "gata", "tal1"]
    assert len(labels) == 160 and Counter(labels["split"]) == {"train": 128, "valid": 16, "test": 16}
    emb = pd.read_csv(sim_dir / "embeddings.tsv", sep="\t")
    assert list(emb.columns) == ["id", "motif", "start", "end", "strand", "string", "log_odds"]
    header = gzip.decompress((sim_dir / "sequences.simdata.gz").read_bytes()).decode().splitlines()[0]
    assert header == "seqName\tsequence\tembeddings\tboth\tgata\ttal1"
    meta = json.loads((sim_dir / "simulation.json").read_text())
    assert meta["config"]["seed"] == 7 and meta["task_motifs"]["both"] == ["GATA_disc1", "TAL1_known1"]


def test_fasta_is_indexable_by_pyfaidx(sim_dir):
    pyfaidx = pytest.importorskip("pyfaidx")
    ds = load_dataset(sim_dir)
    fasta = pyfaidx.Fasta(str(sim_dir / "sequences.fa"))
    for k in (0, 57, 159):
        assert str(fasta[ds.ids[k]][:]) == ds.sequences[k]
    assert str(fasta[ds.ids[3]][60:70]) == ds.sequences[3][60:70]


def test_same_seed_gives_the_same_bytes(sim_dir, tmp_path):
    again = tmp_path / "again"
    other = tmp_path / "other"
    assert main(["simulate", "--out", str(again), "--n-per-class", "40", "--seed", "7", "-q"]) == 0
    assert main(["simulate", "--out", str(other), "--n-per-class", "40", "--seed", "8", "-q"]) == 0
    for name in [*FILES, "simulation.json"]:
        assert (again / name).read_bytes() == (sim_dir / name).read_bytes(), name
    assert (other / "sequences.fa").read_bytes() != (sim_dir / "sequences.fa").read_bytes()


def test_config_file_and_flag_precedence(tmp_path):
    config = tmp_path / "sim.yaml"
    config.write_text(
        f"simulate:\n  out: {tmp_path / 'from_config'}\n  seed: 3\n  n_per_class: 5\n  length: 120\n"
        "  background_preset: released\n"
    )
    assert main(["simulate", "--config", str(config), "--n-per-class", "6", "-q"]) == 0
    meta = json.loads((tmp_path / "from_config" / "simulation.json").read_text())
    assert meta["config"]["n_per_class"] == 6  # the flag wins
    assert meta["config"]["seed"] == 3 and meta["config"]["length"] == 120
    assert meta["config"]["background"] == [0.27, 0.23, 0.23, 0.27]
    assert (
        main(["simulate", "--config", str(config), "--background", "0.25", "0.25", "0.25", "0.25", "-q"]) == 0
    )
    meta = json.loads((tmp_path / "from_config" / "simulation.json").read_text())
    assert meta["config"]["background"] == [0.25, 0.25, 0.25, 0.25]


def test_bad_input_exits_2_without_writing(tmp_path, caplog):
    out = tmp_path / "never"
    assert main(["simulate", "--out", str(out), "--length", "50", "--n-per-class", "3"]) == 2
    assert "impossible layout" in caplog.text
    assert not out.exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeed: 1\n")
    assert main(["simulate", "--out", str(out), "--config", str(bad)]) == 2
    assert "unknown key 'seeed'" in caplog.text
    assert main(["simulate", "--n-per-class", "3"]) == 2
    assert "--out DIR is required" in caplog.text


def test_load_dataset_directory_and_simdata_agree(sim_dir):
    ds = load_dataset(sim_dir)
    assert ds.onehot.shape == (160, 4, 200) and ds.onehot.dtype == np.float32
    assert ds.labels.shape == (160, 3) and ds.task_names == ["both", "gata", "tal1"]
    assert Counter(ds.classes) == {"both": 40, "gata": 40, "tal1": 40, "neither": 40}
    assert ds.task_motifs["tal1"] == ["TAL1_known1"]
    labels = pd.read_csv(sim_dir / "labels.tsv", sep="\t")
    assert ds.split.tolist() == labels["split"].tolist()
    from_simdata = load_dataset(sim_dir / "sequences.simdata.gz")
    assert from_simdata.checksum == ds.checksum and from_simdata.ids == ds.ids
    assert (from_simdata.classes == ds.classes).all()
    cols = ["id", "motif", "start", "end", "strand", "string"]
    assert from_simdata.embeddings[cols].equals(ds.embeddings[cols])
    np.testing.assert_allclose(from_simdata.embeddings["log_odds"], ds.embeddings["log_odds"], atol=1e-6)
    # simdata files carry no split: 10%/10% stratified with a fixed seed, the same every time.
    assert Counter(zip(from_simdata.classes, from_simdata.split))[("gata", "test")] == 4
    assert (load_dataset(sim_dir / "sequences.simdata.gz").split == from_simdata.split).all()


def test_subset_and_checksum(sim_dir):
    ds = load_dataset(sim_dir)
    test = ds.subset("test")
    assert len(test) == 16 and set(test.split) == {"test"}
    assert set(test.embeddings["id"]) <= set(test.ids)
    # exact: one-hot data (0/1), a pure copy
    np.testing.assert_array_equal(test.onehot, ds.onehot[ds.split == "test"])
    assert test.checksum != ds.checksum and len(ds.subset("all")) == len(ds)
    assert len(ds.subset(ds.classes == "gata")) == 40 and ds.subset([0, 2]).ids == [ds.ids[0], ds.ids[2]]
    with pytest.raises(InputError, match="unknown split"):
        ds.subset("testing")


def test_test_ids_define_the_test_split(sim_dir, tmp_path):
    ds = load_dataset(sim_dir)
    chosen = [ds.ids[i] for i in range(0, 160, 5)]  # 32 ids, 8 per class
    ids_file = tmp_path / "test_ids.txt"
    ids_file.write_text("# held out\n" + "\n".join(chosen) + "\n")
    for source in (sim_dir / "sequences.simdata.gz", sim_dir):
        got = load_dataset(source, test_ids=ids_file)
        assert sorted(np.array(got.ids)[got.split == "test"]) == sorted(chosen)
        rest = Counter(zip(got.classes[got.split != "test"], got.split[got.split != "test"]))
        assert rest["both", "valid"] == 3 and rest["both", "train"] == 29  # 10% of the 32 left per class
    ids_file.write_text("both_0\nno_such_id\n")
    with pytest.raises(InputError, match="1 test id.*no_such_id"):
        load_dataset(sim_dir, test_ids=ids_file)


def test_load_dataset_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_dataset(tmp_path / "nothing")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(InputError, match="not a simulate output directory"):
        load_dataset(tmp_path / "empty_dir")
    uneven = tmp_path / "uneven.simdata"
    uneven.write_text("seqName\tsequence\tembeddings\tt\na\tACGT\t\t1\nb\tACG\t\t0\n")
    with pytest.raises(InputError, match="record 'b': length 3 differs"):
        load_dataset(uneven)


def test_load_a_simdna_file_with_classes_from_labels(tmp_path):
    path = tmp_path / "user.simdata"
    rows = ["seqName\tsequence\ttask1\ttask2\ttask3"]
    patterns = {"both": "1\t1\t1", "gata": "0\t1\t0", "tal1": "0\t0\t1", "neither": "0\t0\t0"}
    for k in range(40):
        cls = list(patterns)[k % 4]
        rows.append(f"r{k}\t{'ACGT' * 5}\t{patterns[cls]}")
    path.write_text("\n".join(rows) + "\n")
    ds = load_dataset(path)
    assert ds.task_names == ["task1", "task2", "task3"] and len(ds.embeddings) == 0
    assert Counter(ds.classes) == {"both": 10, "gata": 10, "tal1": 10, "neither": 10}
    assert Counter(ds.split) == {"train": 32, "valid": 4, "test": 4}


def test_user_grammar_from_a_motif_file(tmp_path):
    motifs = tmp_path / "mine.meme"
    motifs.write_text(
        "MEME version 4\n\nALPHABET= ACGT\n\nMOTIF BOX1 box\nletter-probability matrix: alength= 4 w= 4\n"
        "1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n"
    )
    config = tmp_path / "grammar.yaml"
    config.write_text(
        f"motif_file: {motifs}\nn_per_class: 30\nlength: 40\ntask_names: [box]\n"
        "classes:\n  - {name: box, motifs: {BOX1: 2}, labels: [1]}\n  - {name: empty, motifs: {}, labels: [0]}\n"
    )
    out = tmp_path / "grammar"
    assert main(["simulate", "--config", str(config), "--out", str(out), "-q"]) == 0
    ds = load_dataset(out)
    assert ds.task_names == ["box"] and ds.length == 40
    assert Counter(ds.classes) == {"box": 30, "empty": 30}  # the class names recorded in simulation.json
    # A .simdata file records no classes: they are named after the embedded motifs.
    assert Counter(load_dataset(out / "sequences.simdata.gz").classes) == {"BOX1": 30, "neither": 30}
    # With pc = 1e-4 a letter differs from the deterministic PWM with probability 7.5e-5.
    assert (ds.embeddings["string"] == "ACGT").mean() > 0.95 and (ds.embeddings["end"] <= 40).all()
    assert (ds.labels[ds.classes == "box"] == 1).all() and (ds.labels[ds.classes == "empty"] == 0).all()
