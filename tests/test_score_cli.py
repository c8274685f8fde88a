"""``deeplift-genomics score`` end to end: outputs, config, and one clear message per bad input."""

from __future__ import annotations

import csv
import importlib.util

import pytest
from _score_util import LENGTH, gradient_attribute, random_seqs, write_fasta, write_gzip

from deeplift_genomics.cli import main
from deeplift_genomics.score import runner as score_module


def _save_model(path, alphabet="ACGT"):
    from deeplift_genomics.models.files import save_model
    from deeplift_genomics.models.spec import ConvLayerSpec, ModelSpec, build_model

    spec = ModelSpec(
        input_length=LENGTH, n_tasks=2, alphabet=alphabet, conv=(ConvLayerSpec(4, 5),), dense=(), dropout=0.0
    )
    save_model(build_model(spec), path, spec=spec, task_names=["t0", "t1"])
    return path


@pytest.fixture
def model_dir(tmp_path_factory):
    return _save_model(tmp_path_factory.mktemp("model") / "m")


@pytest.fixture(autouse=True)
def _gradient_engine(monkeypatch):
    # The CLI's plumbing is under test here, not the engine: use the independent gradient attribution.
    monkeypatch.setattr(score_module, "attribute", gradient_attribute)


def _rows(out):
    with open(out / "records.tsv", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_score_command_writes_every_output(tmp_path, model_dir):
    seqs = random_seqs(3, LENGTH, seed=1)
    fasta = write_fasta(tmp_path / "x.fa", {"chr1:0-20": seqs[0], "chr1:20-40": seqs[1], "free": seqs[2] * 2})
    out = tmp_path / "out"
    # bigWig is an optional extra (pyBigWig); CI installs it, a bare install still gets the bedGraph
    bigwig = importlib.util.find_spec("pyBigWig") is not None
    code = main(
        [
            "score",
            "--model",
            str(model_dir),
            "--fasta",
            str(fasta),
            "--out",
            str(out),
            "--bigwig" if bigwig else "--no-bigwig",
            "--references",
            "zeros",
            "--tasks",
            "t1",
        ]
    )
    assert code == 0
    names = sorted(p.name for p in out.iterdir() if p.name != ".deeplift-genomics.json")
    expected = ["ohe.npz", "records.tsv", "scores.h5", "shap.npz", "summary.json", "t1.bedGraph"]
    expected += ["t1.bw"] if bigwig else []
    assert names == expected
    rows = _rows(out)
    assert [r["action"] for r in rows] == ["as_is", "as_is", "tiled"]
    assert rows[2]["n_windows"] == "3" and "prediction_t1" in rows[0] and "prediction_t0" not in rows[0]


def test_config_file_sets_flags_and_flags_override_it(tmp_path, model_dir):
    fasta = write_fasta(tmp_path / "x.fa", {"long": random_seqs(1, 50, seed=2)[0]})
    config = tmp_path / "c.yaml"
    config.write_text(f"model: {model_dir}\nscore:\n  long: crop\n  batch_size: 2\n  fasta: {fasta}\n")
    assert main(["score", "--config", str(config), "--out", str(tmp_path / "a")]) == 0
    assert _rows(tmp_path / "a")[0]["action"] == "cropped"
    assert main(["score", "--config", str(config), "--out", str(tmp_path / "b"), "--long", "tile"]) == 0
    assert _rows(tmp_path / "b")[0]["action"] == "tiled"


BAD_FASTA = {
    "empty": (b"", r"x\.fa: empty file"),
    "not-fasta": (b"hello world\nthis is text\n", r"x\.fa: not a FASTA file"),
    "duplicate": (b">a\nACGT\n>a\nACGT\n", r"x\.fa: record 'a': duplicate record name"),
    "bad-letter": (b">a\nACGTXACGTACGTACGTACG\n", r"x\.fa: record 'a': character 'X' at position 5"),
}


@pytest.mark.parametrize("case", sorted(BAD_FASTA))
def test_bad_fasta_fails_with_one_message_and_no_output(tmp_path, model_dir, capsys, case):
    content, pattern = BAD_FASTA[case]
    fasta = tmp_path / "x.fa"
    fasta.write_bytes(content)
    out = tmp_path / "out"
    assert main(["score", "--model", str(model_dir), "--fasta", str(fasta), "--out", str(out)]) == 2
    _assert_clean_failure(capsys, pattern, out)


def _assert_clean_failure(capsys, pattern, out):
    import re

    err = capsys.readouterr().err
    assert re.search(pattern, err), err
    assert "Traceback" not in err
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))


def test_plain_gzip_fasta_is_refused(tmp_path, model_dir, capsys):
    fasta = write_gzip(tmp_path / "x.fa.gz", b">a\n" + b"ACGT" * 5 + b"\n")
    out = tmp_path / "out"
    assert main(["score", "--model", str(model_dir), "--fasta", str(fasta), "--out", str(out)]) == 2
    _assert_clean_failure(capsys, r"x\.fa\.gz: plain gzip.*bgzip", out)


def test_bed_region_outside_its_record(tmp_path, model_dir, capsys):
    fasta = write_fasta(tmp_path / "x.fa", {"chr1": "ACGT" * 10})
    bed = tmp_path / "r.bed"
    bed.write_text("chr1\t0\t20\nchr1\t30\t50\n")
    out = tmp_path / "out"
    code = main(
        ["score", "--model", str(model_dir), "--fasta", str(fasta), "--bed", str(bed), "--out", str(out)]
    )
    assert code == 2
    _assert_clean_failure(
        capsys, r"r\.bed: line 2: record 'chr1': region 30-50 is outside the record \(length 40\)", out
    )


def test_model_dir_that_is_not_a_model(tmp_path, capsys):
    fasta = write_fasta(tmp_path / "x.fa", {"a": "ACGT" * 5})
    not_model = tmp_path / "notmodel"
    not_model.mkdir()
    (not_model / "readme.txt").write_text("hello")
    out = tmp_path / "out"
    assert main(["score", "--model", str(not_model), "--fasta", str(fasta), "--out", str(out)]) == 2
    _assert_clean_failure(capsys, r"notmodel: not a model directory", out)


def test_alphabet_mismatch(tmp_path, capsys):
    model_dir = _save_model(tmp_path / "rna", alphabet="TGCA")
    fasta = write_fasta(tmp_path / "x.fa", {"a": "ACGT" * 5})
    out = tmp_path / "out"
    assert main(["score", "--model", str(model_dir), "--fasta", str(fasta), "--out", str(out)]) == 2
    _assert_clean_failure(
        capsys, r"rna: model alphabet 'TGCA' does not match the DNA one-hot order 'ACGT'", out
    )


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        (["--tasks", "nope"], r"--tasks: unknown task\(s\) nope; the model has t0, t1"),
        (["--stride", "0"], r"--stride 0: must be between 1"),
    ],
)
def test_bad_options(tmp_path, model_dir, capsys, extra, pattern):
    fasta = write_fasta(tmp_path / "x.fa", {"a": "ACGT" * 5})
    out = tmp_path / "out"
    assert main(["score", "--model", str(model_dir), "--fasta", str(fasta), "--out", str(out), *extra]) == 2
    _assert_clean_failure(capsys, pattern, out)


def test_missing_required_flag_and_missing_modisco(tmp_path, model_dir, capsys, monkeypatch):
    assert main(["score", "--model", str(model_dir), "--out", str(tmp_path / "o")]) == 2
    assert "score: missing --fasta" in capsys.readouterr().err
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "modiscolite" else real(name, *a)
    )
    fasta = write_fasta(tmp_path / "x.fa", {"a": "ACGT" * 5})
    assert (
        main(
            [
                "score",
                "--model",
                str(model_dir),
                "--fasta",
                str(fasta),
                "--out",
                str(tmp_path / "o"),
                "--modisco",
            ]
        )
        == 2
    )
    _assert_clean_failure(
        capsys, r"--modisco needs modisco-lite \(pip install modisco-lite\)", tmp_path / "o"
    )


def test_unknown_config_key_is_named(tmp_path, model_dir, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("score:\n  batchsize: 3\n")
    fasta = write_fasta(tmp_path / "x.fa", {"a": "ACGT" * 5})
    out = tmp_path / "out"
    assert (
        main(
            [
                "score",
                "--config",
                str(config),
                "--model",
                str(model_dir),
                "--fasta",
                str(fasta),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    _assert_clean_failure(capsys, r"c\.yaml: unknown key 'score\.batchsize' for 'score'", out)
