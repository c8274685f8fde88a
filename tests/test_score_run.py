"""The streaming scorer against independent computations: attribution agreement, tiling, N, resume."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from _score_util import LENGTH, TinyNet, gradient_attribute, random_seqs, write_fasta

from deeplift_genomics.io.onehot import one_hot
from deeplift_genomics.score import WORK_DIR, ScoreOptions, read_record, score_fasta

TASKS = ["t0", "t1"]


def seeded_attribute(model, x, *, seed=0, **kw):
    """Gradient x input plus noise drawn from ``seed``, so a resumed run must reproduce each batch's seed."""
    res = gradient_attribute(model, x, seed=seed, **kw)
    noise = torch.from_numpy(
        np.random.default_rng(seed).normal(size=res.hypothetical.shape).astype(np.float32)
    )
    hyp = res.hypothetical + noise
    contrib = hyp * torch.as_tensor(x)[:, None]
    return SimpleNamespace(
        contributions=contrib,
        hypothetical=hyp,
        projected=contrib.sum(dim=2),
        deltas=res.deltas,
        outputs=res.outputs,
    )


def _read_all(out_dir):
    with h5py.File(out_dir / "scores.h5", "r") as h5:
        arrays = {}
        h5.visititems(lambda k, v: arrays.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    arrays["records.tsv"] = (out_dir / "records.tsv").read_text()
    for name in ("ohe.npz", "shap.npz"):
        arrays[name] = np.load(out_dir / name)["arr_0"]
    return arrays


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray) and a[key].dtype.kind == "f":
            # exact on any CPU: both runs use the same chunks, so the same batches (same shapes, same company,
            # same kernels); the promise of docs/scoring.md
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        elif isinstance(a[key], np.ndarray):
            assert a[key].tolist() == b[key].tolist(), key
        else:
            assert a[key] == b[key], key


def test_scores_of_model_length_records_equal_attribute_on_the_same_sequences(tmp_path):
    seqs = random_seqs(7, LENGTH, seed=3)
    fasta = write_fasta(
        tmp_path / "x.fa", {f"s{i}": s.lower() if i % 2 else s for i, s in enumerate(seqs)}, width=9
    )
    model = TinyNet()
    score_fasta(
        model,
        LENGTH,
        TASKS,
        fasta,
        tmp_path / "out",
        options=ScoreOptions(batch_size=3, chunk_size=4),
        attribute_fn=gradient_attribute,
    )
    direct = gradient_attribute(model, torch.from_numpy(one_hot(seqs)))
    for i in range(len(seqs)):
        rec = read_record(tmp_path / "out" / "scores.h5", f"s{i}")
        np.testing.assert_allclose(rec["projected"], direct.projected[i].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rec["hypothetical"], direct.hypothetical[i].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rec["predictions"], direct.outputs[i].numpy(), rtol=1e-5, atol=1e-6)
        # a linear model: summation to delta holds, so the total contribution is f(x) - f(0)
        f0 = model(torch.zeros(1, 4, LENGTH))[0].detach().numpy()
        np.testing.assert_allclose(
            rec["total_contribution"], direct.outputs[i].numpy() - f0, rtol=1e-4, atol=1e-5
        )
    ohe = np.load(tmp_path / "out" / "ohe.npz")["arr_0"]
    shap = np.load(tmp_path / "out" / "shap.npz")["arr_0"]
    assert ohe.shape == shap.shape == (7, 4, LENGTH)
    # exact: one-hot data (0/1)
    np.testing.assert_array_equal(ohe, one_hot(seqs))
    np.testing.assert_allclose(shap, direct.hypothetical[:, 0].numpy(), rtol=1e-5, atol=1e-6)
    assert not (tmp_path / "out" / WORK_DIR).exists()


def test_engine_scores_agree_with_attribute_called_directly(tmp_path):
    from deeplift_genomics import attribute

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(4, 6, 5, padding=2),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(6, 2),
    ).eval()
    seqs = random_seqs(5, LENGTH, seed=4)
    fasta = write_fasta(tmp_path / "x.fa", {f"s{i}": s for i, s in enumerate(seqs)})
    opts = ScoreOptions(
        references="shuffle", n_references=4, batch_size=8, chunk_size=8, seed=11, device="cpu"
    )
    score_fasta(model, LENGTH, TASKS, fasta, tmp_path / "out", options=opts)
    direct = attribute(
        model,
        torch.from_numpy(one_hot(seqs)),
        method="deeplift",
        rule="genomics_default",
        references="shuffle",
        n_references=4,
        batch_size=8,
        device="cpu",
        seed=11,
    )
    with h5py.File(tmp_path / "out" / "scores.h5", "r") as h5:
        proj = h5["projected"][()].reshape(2, 5, LENGTH).transpose(1, 0, 2)
        np.testing.assert_allclose(proj, direct.projected.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(h5["predictions"][()], direct.outputs.numpy(), rtol=1e-5, atol=1e-6)


def test_tiled_long_record_equals_hand_scored_windows_averaged(tmp_path):
    (seq,) = random_seqs(1, 57, seed=5)
    fasta = write_fasta(tmp_path / "x.fa", {"long": seq}, width=13)
    model = TinyNet()
    opts = ScoreOptions(long="tile", stride=7, chunk_size=1, batch_size=2)
    score_fasta(model, LENGTH, TASKS, fasta, tmp_path / "out", options=opts, attribute_fn=gradient_attribute)
    rec = read_record(tmp_path / "out" / "scores.h5", "long")
    assert rec["action"] == "tiled"
    starts = list(range(0, 57 - LENGTH + 1, 7)) + [57 - LENGTH]  # 0,7,...,35 then flush with the end: 37
    res = gradient_attribute(model, torch.from_numpy(one_hot([seq[s : s + LENGTH] for s in starts])))
    total = np.zeros((2, 57))
    count = np.zeros(57)
    for k, s in enumerate(starts):
        total[:, s : s + LENGTH] += res.projected[k].numpy()
        count[s : s + LENGTH] += 1
    np.testing.assert_allclose(rec["projected"], total / count, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rec["predictions"], res.outputs.numpy().mean(axis=0), rtol=1e-5)
    assert rec["sequence"] == seq


def test_unknown_bases_are_nan_and_all_n_records_are_skipped(tmp_path, caplog):
    (seq,) = random_seqs(1, LENGTH, seed=6)
    with_n = seq[:4] + "NRy" + seq[7:]
    fasta = write_fasta(tmp_path / "x.fa", {"n": with_n, "alln": "N" * LENGTH, "ok": seq})
    score_fasta(TinyNet(), LENGTH, TASKS, fasta, tmp_path / "out", attribute_fn=gradient_attribute)
    rec = read_record(tmp_path / "out" / "scores.h5", "n")
    assert np.isnan(rec["projected"][:, 4:7]).all() and np.isnan(rec["hypothetical"][:, :, 4:7]).all()
    assert np.isfinite(rec["projected"][:, :4]).all() and np.isfinite(rec["projected"][:, 7:]).all()
    rows = {r["name"]: r for r in csv.DictReader(open(tmp_path / "out" / "records.tsv"), delimiter="\t")}
    assert rows["n"]["n_unknown"] == "3" and rows["n"]["action"] == "as_is"
    assert rows["alln"]["action"] == "skipped_all_n" and rows["alln"]["prediction_t0"] == "NA"
    assert "record 'alln' is all N" in caplog.text
    assert np.load(tmp_path / "out" / "ohe.npz")["arr_0"].shape[0] == 2


def test_short_records_pad_or_skip_and_crop_scores_the_centre(tmp_path, caplog):
    seqs = random_seqs(2, 31, seed=7)
    fasta = write_fasta(tmp_path / "x.fa", {"short": seqs[0][:9], "long": seqs[1]})
    model = TinyNet()
    opts = ScoreOptions(short="pad", pad_value=0.25, long="crop")
    score_fasta(model, LENGTH, TASKS, fasta, tmp_path / "a", options=opts, attribute_fn=gradient_attribute)
    short = read_record(tmp_path / "a" / "scores.h5", "short")
    x = np.full((1, 4, LENGTH), 0.25, dtype=np.float32)
    x[0, :, 5:14] = one_hot(seqs[0][:9])[0]  # 11 pad columns: 5 left, 6 right
    np.testing.assert_allclose(
        short["projected"], gradient_attribute(model, x).projected[0, :, 5:14], rtol=1e-5
    )
    long = read_record(tmp_path / "a" / "scores.h5", "long")
    assert long["action"] == "cropped" and (long["scored_start"], long["scored_end"]) == (5, 25)
    score_fasta(
        model,
        LENGTH,
        TASKS,
        fasta,
        tmp_path / "b",
        options=ScoreOptions(short="skip"),
        attribute_fn=gradient_attribute,
    )
    assert read_record(tmp_path / "b" / "scores.h5", "short")["action"] == "skipped_short"
    assert "shorter (9) than the model's input (20); skipped" in caplog.text


def test_resume_after_a_crash_gives_the_uninterrupted_output(tmp_path):
    seqs = random_seqs(11, LENGTH, seed=8) + random_seqs(2, 45, seed=9)
    fasta = write_fasta(tmp_path / "x.fa", {f"r{i}": s for i, s in enumerate(seqs)})
    model = TinyNet()
    opts = ScoreOptions(chunk_size=3, batch_size=2, seed=5)
    score_fasta(model, LENGTH, TASKS, fasta, tmp_path / "full", options=opts, attribute_fn=seeded_attribute)

    def crash(chunk):
        if chunk == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_fasta(
            model,
            LENGTH,
            TASKS,
            fasta,
            tmp_path / "resumed",
            options=opts,
            attribute_fn=seeded_attribute,
            after_chunk=crash,
        )
    assert not (tmp_path / "resumed" / "scores.h5").exists()
    assert len(list((tmp_path / "resumed" / WORK_DIR / "chunks").glob("chunk_*.npz"))) == 3
    calls = []

    def counting(*a, **kw):
        calls.append(1)
        return seeded_attribute(*a, **kw)

    score_fasta(model, LENGTH, TASKS, fasta, tmp_path / "resumed", options=opts, attribute_fn=counting)
    # only chunks 3 and 4 run: r9, r10 (1 window each) + r11 (45 bp, stride 10: 4 windows), then r12 (4 windows)
    assert len(calls) == 6 // 2 + 4 // 2
    _assert_same(_read_all(tmp_path / "full"), _read_all(tmp_path / "resumed"))


def test_changed_input_does_not_reuse_stale_chunks(tmp_path):
    seqs = random_seqs(6, LENGTH, seed=10)
    fasta = write_fasta(tmp_path / "x.fa", {f"r{i}": s for i, s in enumerate(seqs)})
    model = TinyNet()
    opts = ScoreOptions(chunk_size=2)

    def crash(chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_fasta(
            model,
            LENGTH,
            TASKS,
            fasta,
            tmp_path / "out",
            options=opts,
            attribute_fn=gradient_attribute,
            after_chunk=crash,
        )
    seqs[0] = "T" * LENGTH
    write_fasta(fasta, {f"r{i}": s for i, s in enumerate(seqs)})
    score_fasta(model, LENGTH, TASKS, fasta, tmp_path / "out", options=opts, attribute_fn=gradient_attribute)
    fresh = tmp_path / "fresh"
    score_fasta(model, LENGTH, TASKS, fasta, fresh, options=opts, attribute_fn=gradient_attribute)
    _assert_same(_read_all(fresh), _read_all(tmp_path / "out"))
    assert read_record(tmp_path / "out" / "scores.h5", "r0")["sequence"] == "T" * LENGTH


def test_shap_npz_loads_the_way_modisco_lite_reads_it(tmp_path):
    cli = pytest.importorskip("modiscolite.cli", reason="modisco-lite not installed")
    seqs = random_seqs(4, LENGTH, seed=12)
    fasta = write_fasta(tmp_path / "x.fa", {f"r{i}": s for i, s in enumerate(seqs)})
    score_fasta(TinyNet(), LENGTH, TASKS, fasta, tmp_path / "out", attribute_fn=gradient_attribute)
    ohe = cli._load_input(tmp_path / "out" / "ohe.npz")
    shap = cli._load_input(tmp_path / "out" / "shap_t1.npz")
    assert ohe.shape == shap.shape == (4, 4, LENGTH)
    # exact: one-hot data (0/1)
    np.testing.assert_array_equal(ohe, one_hot(seqs))
    direct = gradient_attribute(TinyNet(), one_hot(seqs))
    np.testing.assert_allclose(shap, direct.hypothetical[:, 1].numpy(), rtol=1e-5, atol=1e-6)


def test_tracks_place_scores_at_genomic_coordinates(tmp_path):
    pyBigWig = pytest.importorskip("pyBigWig")
    seqs = random_seqs(3, LENGTH, seed=13)
    names = ["chr2:50-70", "chr1:1001-1020", "chr1:10-30(-)"]  # BED style, samtools style, minus strand
    fasta = write_fasta(
        tmp_path / "x.fa", dict(zip(names, [seqs[0], seqs[1][:5] + "N" + seqs[1][6:], seqs[2]]))
    )
    score_fasta(
        TinyNet(), LENGTH, TASKS, fasta, tmp_path / "out", attribute_fn=gradient_attribute, bigwig=True
    )
    lines = (tmp_path / "out" / "t1.bedGraph").read_text().splitlines()
    assert lines[0].startswith("track type=bedGraph")
    entries = [line.split("\t") for line in lines[1:]]
    assert [e[0] for e in entries] == ["chr1"] * 39 + ["chr2"] * 20  # sorted; the N base left out
    minus = read_record(tmp_path / "out" / "scores.h5", names[2])["projected"][1]
    assert entries[0][1:3] == ["10", "11"] and float(entries[0][3]) == pytest.approx(minus[-1], rel=1e-5)
    plus = read_record(tmp_path / "out" / "scores.h5", names[1])["projected"][1]
    assert ["1000", "1001"] == entries[20][1:3] and float(entries[20][3]) == pytest.approx(plus[0], rel=1e-5)
    bw = pyBigWig.open(str(tmp_path / "out" / "t1.bw"))
    np.testing.assert_allclose(
        bw.values("chr2", 50, 70),
        read_record(tmp_path / "out" / "scores.h5", names[0])["projected"][1],
        rtol=1e-5,
    )
    assert np.isnan(bw.values("chr1", 1005, 1006)[0])
    bw.close()


def _engine_model():
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Conv1d(4, 6, 5, padding=2),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(6, 2),
    ).eval()


def test_engine_with_uniform_unknowns_and_padding_keeps_those_columns_out(tmp_path, caplog):
    seqs = random_seqs(2, LENGTH, seed=14)
    fasta = write_fasta(
        tmp_path / "x.fa", {"n": seqs[0][:6] + "NN" + seqs[0][8:], "short": seqs[1][:12], "ok": seqs[1]}
    )
    opts = ScoreOptions(
        unknown="uniform", pad_value=0.25, references="shuffle", n_references=3, device="cpu", tasks=("t1",)
    )
    score_fasta(_engine_model(), LENGTH, TASKS, fasta, tmp_path / "out", options=opts)
    n = read_record(tmp_path / "out" / "scores.h5", "n")
    assert np.isnan(n["projected"][0, 6:8]).all() and np.isfinite(n["projected"][0, :6]).all()
    assert n["projected"].shape == (1, LENGTH)
    # uniform columns and padding equal their references, so the known bases carry the whole difference
    assert n["max_delta_error"] < 1e-4
    assert np.isfinite(read_record(tmp_path / "out" / "scores.h5", "ok")["hypothetical"]).all()
    assert read_record(tmp_path / "out" / "scores.h5", "short")["projected"].shape == (1, 12)
