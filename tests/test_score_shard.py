"""``score --shard K/N`` then ``score --gather``: the gathered OUT_DIR equals an unsharded run's, exactly."""

from __future__ import annotations

import json
import zipfile

import h5py
import numpy as np
import pytest
from _score_util import LENGTH, random_seqs, write_fasta

from deeplift_genomics.cli import main
from deeplift_genomics.score import SHARD_FILE, parse_shard, shard_range


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import torch

    from deeplift_genomics.models.files import save_model
    from deeplift_genomics.models.spec import ConvLayerSpec, ModelSpec, build_model

    torch.manual_seed(3)
    spec = ModelSpec(input_length=LENGTH, n_tasks=2, conv=(ConvLayerSpec(6, 5),), dense=(8,), dropout=0.0)
    path = tmp_path_factory.mktemp("model") / "m"
    save_model(build_model(spec), path, spec=spec, task_names=["t0", "t1"])
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Records of every kind: model length, tiled, padded, with N, all N; placed (chrom:start-end) or not."""
    d = tmp_path_factory.mktemp("inputs")
    seqs = random_seqs(6, LENGTH, seed=21) + random_seqs(2, 47, seed=22) + random_seqs(1, 13, seed=23)
    records = {f"chr1:{100 * i}-{100 * i + len(s)}": s for i, s in enumerate(seqs)}
    records["free_with_n"] = seqs[0][:7] + "NNN" + seqs[1][10:]
    records["all_n"] = "N" * LENGTH
    records["chr2:0-30"] = random_seqs(1, 30, seed=24)[0]
    fasta = write_fasta(d / "x.fa", records, width=11)
    bed = d / "regions.bed"
    bed.write_text(
        "chr1:600-647\t0\t40\tr0\t0\t+\n"
        "chr1:600-647\t5\t25\tr1\t0\t-\n"
        "chr2:0-30\t2\t30\tr2\n"
        "chr1:0-20\t0\t20\tr3\n"
        "chr1:700-747\t3\t44\tr4\n"
    )
    return fasta, bed, len(records)


#: Small chunks and batches so that shard, chunk and batch boundaries all fall in different places.
FLAGS = "--references shuffle --n-references 3 --chunk-size 2 --batch-size 3 --stride 7 --seed 5".split()
FLAGS += ["--device", "cpu"]


def _score(model_dir, fasta, out, *extra, bed=None):
    args = ["score", "--model", str(model_dir), "--fasta", str(fasta), "--out", str(out), *FLAGS, *extra]
    if bed is not None:
        args += ["--bed", str(bed)]
    assert main(args) == 0
    return out


def _contents(out):
    """Every array of scores.h5 (and its attributes), every npz array, and the text files, by name."""
    found = {}
    with h5py.File(out / "scores.h5", "r") as h5:
        h5.visititems(lambda k, v: found.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
        found["attrs"] = {k: np.asarray(v).tolist() for k, v in h5.attrs.items()}
    for path in sorted(out.iterdir()):
        if path.suffix == ".npz":
            found[path.name] = np.load(path)["arr_0"]
        elif path.suffix in (".tsv", ".bedGraph"):
            found[path.name] = path.read_bytes()
        elif path.name == "summary.json":  # float32's error against float64, merged over the shards
            found[path.name] = json.loads(path.read_text())
    return found


def _assert_identical(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
            # exact on any CPU: shards never split a chunk, so every window is attributed in the same batch as
            # unsharded (docs/scoring.md)
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)  # exact; NaN equals NaN
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("use_bed", [False, True], ids=["records", "bed"])
def test_gathered_shards_equal_the_unsharded_run(tmp_path, model_dir, inputs, use_bed):
    fasta, bed, _ = inputs
    bed = bed if use_bed else None
    whole = _contents(_score(model_dir, fasta, tmp_path / "whole", bed=bed))
    assert any(k.endswith(".bedGraph") for k in whole)  # tracks are part of the comparison
    assert whole["summary.json"]["float32_vs_float64"]["windows"] > 2  # every chunk's check, merged
    assert use_bed or np.isnan(whole["projected"]).any()  # and N bases (NaN) too
    for n in (1, 2, 3):
        shards = [
            _score(model_dir, fasta, tmp_path / f"n{n}" / f"s{k}", "--shard", f"{k}/{n}", bed=bed)
            for k in range(1, n + 1)
        ]
        assert all((s / SHARD_FILE).exists() for s in shards)
        out = tmp_path / f"gathered{n}"
        # in reverse order: gather sorts by index
        assert main(["score", "--gather", *map(str, shards[::-1]), "--out", str(out)]) == 0
        assert not (out / SHARD_FILE).exists()
        _assert_identical(whole, _contents(out))


def test_each_shard_is_a_complete_output_of_its_block(tmp_path, model_dir, inputs):
    fasta, _, n_records = inputs
    out = _score(model_dir, fasta, tmp_path / "s2", "--shard", "2/3")
    info = json.loads((out / SHARD_FILE).read_text())
    lo, hi = shard_range(n_records, (2, 3), chunk_size=2)
    assert 0 < lo < hi < n_records and lo % 2 == 0
    assert (info["shard"], info["n_shards"], info["first_region"], info["end_region"]) == (2, 3, lo, hi)
    with h5py.File(out / "scores.h5", "r") as h5:
        assert len(h5["records/name"]) == hi - lo
        n_windows = int(h5["records/n_windows"][()].sum())
    assert np.load(out / "ohe.npz")["arr_0"].shape == (n_windows, 4, LENGTH)
    assert len((out / "records.tsv").read_text().splitlines()) == hi - lo + 1


def test_shard_blocks_are_contiguous_balanced_whole_chunks_covering_everything():
    for n_items in (0, 1, 5, 11, 12, 1000):
        for chunk_size in (1, 2, 3, 1000):
            for n in (1, 2, 3, 7):
                blocks = [shard_range(n_items, (k, n), chunk_size) for k in range(1, n + 1)]
                assert blocks[0][0] == 0 and blocks[-1][1] == n_items
                assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
                # cut only where an unsharded run starts a chunk
                assert all(lo % chunk_size == 0 or lo == n_items for lo, _ in blocks)
                n_chunks = [-(-(hi - lo) // chunk_size) for lo, hi in blocks]
                assert max(n_chunks) - min(n_chunks) <= 1


def test_more_shards_than_chunks_gives_empty_shards_that_gather_to_the_whole(tmp_path, caplog):
    # the gradient stand-in engine rounds differently for a batch of 1 and of 4 windows: exact equality
    # needs the shards to keep the unsharded run's batches, which the chunk-aligned cut does
    from _score_util import TinyNet, gradient_attribute

    from deeplift_genomics.score import ScoreOptions, gather_shards, score_fasta

    seqs = random_seqs(3, LENGTH, seed=31)
    fasta = write_fasta(tmp_path / "x.fa", {"chr1:0-20": seqs[0], "b": seqs[1] * 2, "chr2:5-25": seqs[2]})
    model, opts = TinyNet(), ScoreOptions(chunk_size=2)

    def run(out, shard=None):
        score_fasta(
            model,
            LENGTH,
            ["t0", "t1"],
            fasta,
            out,
            options=opts,
            attribute_fn=gradient_attribute,
            shard=shard,
        )
        return out

    whole = _contents(run(tmp_path / "whole"))
    shards = [run(tmp_path / f"s{k}", (k, 4)) for k in range(1, 5)]
    assert "shard 1/4: no records (3 record(s) in 2 chunk(s)" in caplog.text
    assert [json.loads((s / SHARD_FILE).read_text())["end_region"] for s in shards] == [0, 2, 2, 3]
    gather_shards(shards, tmp_path / "gathered")
    _assert_identical(whole, _contents(tmp_path / "gathered"))


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1/0", "a/b", "1-2", "1/2/3", "-1/2"])
def test_bad_shard_specs_are_refused_with_one_message(tmp_path, inputs, bad, capsys):
    fasta, _, _ = inputs
    code = main(
        [
            "score",
            "--model",
            str(tmp_path / "m"),
            "--fasta",
            str(fasta),
            "--out",
            str(tmp_path / "o"),
            f"--shard={bad}",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert f"--shard {bad}" in err and "K counts from 1" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    assert parse_shard("2/5") == (2, 5)


@pytest.fixture(scope="module")
def three_shards(tmp_path_factory, model_dir, inputs):
    fasta, _, _ = inputs
    d = tmp_path_factory.mktemp("shards")
    return [_score(model_dir, fasta, d / f"s{k}", "--shard", f"{k}/3") for k in (1, 2, 3)]


def _gather_error(tmp_path, dirs, capsys):
    out = tmp_path / "gathered"
    code = main(["score", "--gather", *map(str, dirs), "--out", str(out)])
    assert code == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_gather_refuses_a_missing_shard(tmp_path, three_shards, capsys):
    err = _gather_error(tmp_path, three_shards[:2], capsys)
    assert "shard(s) 3/3 missing" in err


def test_gather_refuses_a_shard_given_twice(tmp_path, three_shards, capsys):
    err = _gather_error(tmp_path, [*three_shards, three_shards[1]], capsys)
    assert "shard 2/3 given twice" in err


def test_gather_refuses_shards_of_different_runs(tmp_path, model_dir, inputs, three_shards, capsys):
    fasta, _, _ = inputs
    other = _score(model_dir, fasta, tmp_path / "other", "--shard", "3/3", "--seed", "6")
    err = _gather_error(tmp_path, [*three_shards[:2], other], capsys)
    assert "shards of different runs" in err and "options.seed (5 vs 6)" in err
    two = _score(model_dir, fasta, tmp_path / "two", "--shard", "2/2")
    err = _gather_error(tmp_path, [three_shards[0], two], capsys)
    assert "differ in n_shards (3 vs 2)" in err


def test_gather_refuses_directories_that_are_not_finished_shards(
    tmp_path, model_dir, inputs, three_shards, capsys
):
    fasta, _, _ = inputs
    whole = _score(model_dir, fasta, tmp_path / "whole")
    err = _gather_error(tmp_path, [*three_shards, whole], capsys)
    assert f"{whole}: not a finished shard (no {SHARD_FILE}" in err
    err = _gather_error(tmp_path, [tmp_path / "nowhere"], capsys)
    assert "no such directory" in err
    code = main(["score", "--gather", *map(str, three_shards), "--out", str(three_shards[0])])
    assert code == 2 and "is the input" in capsys.readouterr().err
    code = main(["score", "--gather", str(three_shards[0]), "--shard", "1/3", "--out", str(tmp_path / "o")])
    assert code == 2 and "give only one of them" in capsys.readouterr().err


def test_gathered_npz_files_are_byte_identical_members(tmp_path, model_dir, inputs, three_shards):
    fasta, _, _ = inputs
    whole = _score(model_dir, fasta, tmp_path / "whole")
    out = tmp_path / "gathered"
    assert main(["score", "--gather", *map(str, three_shards), "--out", str(out)]) == 0
    for name in ("ohe.npz", "shap.npz", "shap_t0.npz", "shap_t1.npz", "records.tsv", "t0.bedGraph"):
        # exact on any CPU: shards never split a chunk, so the same batches as the whole run; the rest are pure
        # copies
        if name.endswith(".npz"):
            with zipfile.ZipFile(whole / name) as a, zipfile.ZipFile(out / name) as b:
                assert a.read("arr_0.npy") == b.read("arr_0.npy"), name
        else:
            assert (whole / name).read_bytes() == (out / name).read_bytes(), name


def test_gather_refuses_a_shard_with_a_missing_file(tmp_path, three_shards, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(three_shards[1], broken)
    (broken / "ohe.npz").unlink()
    err = _gather_error(tmp_path, [three_shards[0], broken, three_shards[2]], capsys)
    assert f"{broken}: incomplete shard, ohe.npz missing" in err


def test_a_crashed_shard_resumes_to_the_uninterrupted_shard(tmp_path):
    from _score_util import TinyNet, gradient_attribute

    from deeplift_genomics.score import ScoreOptions, score_fasta

    seqs = random_seqs(9, LENGTH, seed=41)
    fasta = write_fasta(tmp_path / "x.fa", {f"r{i}": s for i, s in enumerate(seqs)})
    model, opts = TinyNet(), ScoreOptions(chunk_size=2, batch_size=3)

    def run(out, after_chunk=None):
        return score_fasta(
            model,
            LENGTH,
            ["t0", "t1"],
            fasta,
            out,
            options=opts,
            attribute_fn=gradient_attribute,
            shard=(2, 2),
            after_chunk=after_chunk,
        )

    run(tmp_path / "full")

    def crash(chunk):
        if chunk == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed", crash)
    assert not (tmp_path / "resumed" / SHARD_FILE).exists()  # an unfinished shard cannot be gathered
    summary = run(tmp_path / "resumed")
    assert summary.n_records == 5  # records 4..8 of 0..8: chunks 2..4 of 0..4
    _assert_identical(_contents(tmp_path / "full"), _contents(tmp_path / "resumed"))
    assert (tmp_path / "full" / SHARD_FILE).read_text() == (tmp_path / "resumed" / SHARD_FILE).read_text()
