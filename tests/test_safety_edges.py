"""Safety of the newer commands (issue 25): one test per class of silently wrong or unclear behaviour.

Each test names its class; each is parametrised over the commands the class applies to and fails without
the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _safety_util import argv, bench_argv, one_error_line, shared_env
from _score_util import write_fasta
from _variants_util import LENGTH, random_genome, write_vcf

from deeplift_genomics.cli import main
from deeplift_genomics.core.errors import InputError
from deeplift_genomics.io.fasta import FastaFile
from deeplift_genomics.io.vcf import read_vcf
from deeplift_genomics.variants.alleles import build_windows

GENOME = random_genome(seed=4, lengths=(60, 20))
env = pytest.fixture(scope="session")(shared_env)


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return write_fasta(tmp_path_factory.mktemp("genome") / "g.fa", GENOME, width=50)


# -- class 1: indels near a record's end ----------------------------------------------------------------


@pytest.mark.parametrize("edge", ["shift", "skip"])
def test_every_indel_position_gives_windows_holding_both_alleles_or_a_counted_skip(tmp_path, genome, edge):
    """Insertions and deletions of 1..L/2-1 bases at every position of a record: each allele is either
    scored with windows equal to the REF and ALT haplotypes (built here independently) and holding every
    base of both alleles, or skipped with a reason; none is placed with its variant trimmed away."""
    g = GENOME["chr1"]
    lines = []
    for pos in range(len(g)):
        for size in (1, 5, LENGTH // 2 - 1):
            lines.append(f"chr1\t{pos + 1}\t.\t{g[pos]}\t{g[pos]}{'ACGT'[size % 4] * size}\t.\t.\t.")  # insertion
            if pos + 1 + size <= len(g):
                lines.append(f"chr1\t{pos + 1}\t.\t{g[pos:pos + 1 + size]}\t{g[pos]}\t.\t.\t.")  # deletion
    alleles = read_vcf(write_vcf(tmp_path / "v.vcf", lines)).alleles
    with FastaFile(genome) as fa:
        wins, skipped = build_windows(fa, alleles, LENGTH, edge=edge)
    assert len(wins) + len(skipped) == len(alleles)
    assert {s.reason for s in skipped} <= {"near_record_end"}
    for w in wins:
        a = w.allele
        hap = g[: a.pos] + a.alt + g[a.pos + len(a.ref):]
        assert w.offset == a.pos - w.start
        assert w.offset + max(len(a.ref), len(a.alt)) <= LENGTH, a.name  # both alleles whole in the windows
        assert w.ref_seq == g[w.start: w.start + LENGTH]
        assert w.alt_seq == hap[w.start: w.start + LENGTH], a.name
    if edge == "shift":  # what shift cannot place is only what no window can hold: the variant's end region
        for s in skipped:
            assert s.pos + max(len(s.ref), len(s.alt)) > len(g) - LENGTH // 2


def test_positions_outside_the_record_are_outside_record_not_near_end(tmp_path, genome):
    g = GENOME["chr1"]
    lines = ["chr1\t0\t.\tA\tC\t.\t.\t.", f"chr1\t{len(g) + 5}\t.\tA\tC\t.\t.\t.", f"chr1\t{len(g)}\t.\t{g[-1]}A\tC\t.\t.\t."]
    alleles = read_vcf(write_vcf(tmp_path / "v.vcf", lines)).alleles
    with FastaFile(genome) as fa:
        wins, skipped = build_windows(fa, alleles, LENGTH)
        assert not wins and [s.reason for s in skipped] == ["outside_record"] * 3
        with pytest.raises(InputError, match="line 3: chr1:0:A>C: POS 0 is before the first base"):
            build_windows(fa, alleles[:1], LENGTH, strict=True)


# -- class 2: two inputs that do not belong together ----------------------------------------------------


@pytest.fixture(scope="module")
def other_data(env, tmp_path_factory):
    """An attribution file of the shared simulation, and another simulation with the same ids."""
    base = tmp_path_factory.mktemp("pairs")
    att = base / "att.npz"
    assert main(argv("attribute", env, att)) == 0
    other = base / "other_sim"
    assert main(["simulate", "--out", str(other), "--n-per-class", "10", "--length", "100", "--seed", "7", "-q"]) == 0
    return att, other


@pytest.mark.parametrize("command", ["motifs", "benchmark"])
def test_attributions_of_other_data_are_refused(env, other_data, command, tmp_path, capsys):
    att, other = other_data
    if command == "motifs":
        args = ["motifs", "--attributions", str(att), "--data", str(other), "--out", str(tmp_path / "o"),
                "--no-report", "--min-seqlets", "2", "-q"]  # fmt: skip
    else:
        args = bench_argv(env, tmp_path / "o") + ["--attributions", str(att)]
        args[args.index("--data") + 1] = str(other)
    assert main(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(att) in line and "made on other data" in line
    assert not (tmp_path / "o").exists()


# -- class 4: tracebacks ------------------------------------------------------------------------------

SEED_COMMANDS = ("simulate", "train", "attribute", "benchmark", "score", "variants", "motifs", "dataset")


@pytest.mark.parametrize("command", SEED_COMMANDS)
@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_one_seed_rule_for_every_command(env, command, seed, tmp_path, capsys):
    assert main([*argv(command, env, tmp_path / "o"), "--seed", seed]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "--seed: must be from 0 to 4294967295" in line, line
    assert not (tmp_path / "o").exists()


def _vcf_text(lines):
    return "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "".join(f"{x}\n" for x in lines)


@pytest.mark.parametrize("strict", [False, True])
def test_vcf_pos_0_is_a_skip_or_one_line(env, tmp_path, strict, capsys):
    vcf = tmp_path / "v.vcf"
    vcf.write_text(env["vcf"].read_text() + "r0\t0\t.\tA\tC\t.\t.\t.\n")
    args = argv("variants", env, tmp_path / "o")
    args[args.index("--vcf") + 1] = str(vcf)
    assert main(args + (["--strict"] if strict else [])) == (2 if strict else 0)
    err = capsys.readouterr().err
    if strict:
        assert "POS 0 is before the first base" in one_error_line(err)
    else:
        assert "outside_record" in (tmp_path / "o" / "skipped.tsv").read_text()


def test_truncated_bgzip_vcf_is_one_line(env, tmp_path, capsys):
    from data_sim.variants import bgzip_bytes

    body = _vcf_text([f"r0\t{i % 90 + 1}\t.\tA\tG\t.\t.\t." for i in range(4000)])
    data = bgzip_bytes(body)
    vcf = tmp_path / "v.vcf.gz"
    vcf.write_bytes(data[: len(data) // 2])
    args = argv("variants", env, tmp_path / "o")
    args[args.index("--vcf") + 1] = str(vcf)
    assert main(args) == 2
    assert "truncated or damaged" in one_error_line(capsys.readouterr().err)


def test_bpnet_of_another_version_is_one_line(env, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    bpnet = pytest.importorskip("bpnetlite.bpnet")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = bpnet.BPNet(n_filters=4, n_layers=1, trimming=25, verbose=False).eval()
        del net.count_loss_weight  # what an older bpnet-lite's BPNet lacks
        torch.save(net, tmp_path / "old.torch")
    args = argv("import-model", env, tmp_path / "o")
    args[args.index("--in") + 1] = str(tmp_path / "old.torch")
    assert main(args) == 2
    assert "another bpnet-lite version" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", ["motifs", "gather"])
def test_scores_file_with_decreasing_offsets_is_one_line(env, tmp_path, command, capsys):
    import shutil

    import h5py

    src = env["scores"] if command == "motifs" else env["shards"] / "s1"
    damaged = tmp_path / "damaged"
    shutil.copytree(src, damaged)
    with h5py.File(damaged / "scores.h5", "r+") as h5:
        off = h5["records/offset"][:]
        off[1] = off[2] + 1 if len(off) > 2 else off[-1] + 1
        h5["records/offset"][:] = off
    args = argv(command, env, tmp_path / "o")
    if command == "motifs":
        args[args.index("--scores") + 1] = str(damaged)
    else:
        args[args.index("--gather") + 1] = str(damaged)
    assert main(args) == 2
    assert "'records/offset'" in one_error_line(capsys.readouterr().err)


# -- class 7: duplicate names -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["motifs", "variants", "score"])
def test_a_task_given_twice_is_refused(env, command, tmp_path, capsys):
    import json

    task = json.loads((env["model"] / "model.json").read_text())["task_names"][0]
    assert main([*argv(command, env, tmp_path / "o"), "--tasks", f"{task},{task}"]) == 2
    assert f"--tasks: task name '{task}' is given twice" in one_error_line(capsys.readouterr().err)


def test_two_different_motifs_of_one_name_are_not_merged_silently(tmp_path, caplog):
    from deeplift_genomics.motifs.matches import load_database

    meme = tmp_path / "db.meme"
    rows = {"A": "0.9 0.05 0.025 0.025", "C": "0.05 0.9 0.025 0.025"}
    meme.write_text("MEME version 4\n\nALPHABET= ACGT\n\n" + "".join(
        f"MOTIF dup\nletter-probability matrix: alength= 4 w= 3\n{r}\n{r}\n{r}\n\n" for r in rows.values()))
    with caplog.at_level("WARNING"):
        names, _, _ = load_database([meme])
    assert names == ["dup"]
    assert "2 different motifs are named 'dup'" in caplog.text
    other = tmp_path / "other.meme"
    other.write_text(meme.read_text().split("MOTIF dup", 2)[0] + "MOTIF dup" + meme.read_text().split("MOTIF dup")[2])
    caplog.clear()
    with caplog.at_level("WARNING"):
        names, _, sources = load_database([meme, other])
    assert names == ["dup"] and sources == ["db.meme"]
    assert "repeat an earlier file's and are not used" in caplog.text and "dup (other.meme)" in caplog.text


# -- class 8: task names that break files ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "a/b", ".hidden", "a b"])
def test_import_model_task_name_follows_the_one_rule(env, name, tmp_path, capsys):
    assert main([*argv("import-model", env, tmp_path / "o"), "--task-name", name]) == 2
    assert "must start with a letter or digit" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


# -- class 9: pipes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command,flag", [("variants", "--vcf"), ("motifs", "--motif-db")])
def test_fifo_input_is_named_for_what_it_is(env, command, flag, tmp_path, capsys):
    import os

    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    args = argv(command, env, tmp_path / "o")
    if flag in args:
        args[args.index(flag) + 1] = str(fifo)
    else:
        args += [flag, str(fifo)]
    assert main(args) == 2
    assert "not a regular file (a pipe, FIFO or <(...))" in one_error_line(capsys.readouterr().err)


# -- class 11: misleading messages ------------------------------------------------------------------------


def test_empty_motif_file_and_text_attributions_say_what_they_are(env, tmp_path, capsys):
    empty = tmp_path / "empty.meme"
    empty.write_text("")
    assert main([*argv("motifs", env, tmp_path / "o"), "--motif-db", str(empty)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "empty file" in line and "pfm" not in line
    text = tmp_path / "att.npz"
    text.write_text("not an npz\n")
    args = ["motifs", "--attributions", str(text), "--data", str(env["sim"]), "--out", str(tmp_path / "o"), "-q"]
    assert main(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "not an .npz attribution file" in line and "allow_pickle" not in line


# -- class 12: values that can only give nothing ---------------------------------------------------------


@pytest.mark.parametrize("flag,value,message", [
    ("--instance-similarity", "2", "--instance-similarity: must be from -1.0 to 1.0"),
    ("--fdr", "1.5", "--fdr: must be from 0.0 to 1.0"),
    ("--window", "0", "--window: must be >= 1"),
    ("--window", "1000", "--window 1000 is longer than every record"),
])  # fmt: skip
def test_motif_settings_outside_their_range_are_refused(env, flag, value, message, tmp_path, capsys):
    assert main([*argv("motifs", env, tmp_path / "o"), flag, value]) == 2
    assert message in one_error_line(capsys.readouterr().err)


def test_dataset_without_negatives_warns(env, tmp_path, capsys):
    args = [a for a in argv("dataset", env, tmp_path / "o") if not a.startswith("tb=")]  # one task: all positive
    assert main([*args, "--negatives-per-positive", "0"]) == 0
    assert "every window is positive" in capsys.readouterr().err


# -- class 5: everything skipped, exit 0 ----------------------------------------------------------------


def test_vcf_on_other_record_names_says_so_and_fails_when_nothing_is_scored(env, tmp_path, capsys):
    fasta = tmp_path / "chr.fa"
    fasta.write_text(env["fasta"].read_text().replace(">r", ">chr"))
    vcf = tmp_path / "v.vcf"
    vcf.write_text("".join(line.replace("r", "", 1) if not line.startswith("#") else line
                           for line in env["vcf"].read_text().splitlines(keepends=True)))
    args = argv("variants", env, tmp_path / "o")
    args[args.index("--fasta") + 1] = str(fasta)
    args[args.index("--vcf") + 1] = str(vcf)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "'chr' prefix (0 is chr0 there)" in err and "nothing could be scored (2 missing_contig)" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


# -- class 6: leftovers after a signal --------------------------------------------------------------------


@pytest.mark.parametrize("command,signame", [("motifs", "SIGTERM"), ("score", "SIGTERM"), ("variants", "SIGHUP")])
def test_a_signal_mid_run_leaves_nothing_beside_the_output(env, command, signame, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from _safety_util import ROOT

    signum = getattr(signal, signame)
    for attempt in range(3):
        work = tmp_path / f"run{attempt}"
        work.mkdir()
        out = work / "o"
        args = [a for a in argv(command, env, out) if a != "-q"]
        proc = subprocess.Popen([sys.executable, "-m", "deeplift_genomics", *args], cwd=ROOT,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if list(work.glob(".o.*.part")) or (work / ".o.lock").exists():
                break  # the run is writing its output
            time.sleep(0.005)
        if proc.poll() is not None:
            continue  # it finished before this loop saw it writing
        # Freeze the run where it was seen, so that a late wake-up of this loop (a busy machine) cannot
        # send the signal after the output is complete; too late already: try again.
        proc.send_signal(signal.SIGSTOP)
        if out.exists():
            proc.send_signal(signal.SIGCONT)
            proc.communicate(timeout=120)
            continue
        proc.send_signal(signum)
        proc.send_signal(signal.SIGCONT)
        break
    else:
        pytest.skip(f"{command} finished its output before the signal could be sent, 3 times")
    _, err = proc.communicate(timeout=120)
    assert not [p.name for p in work.iterdir() if p.name.endswith(".part")]
    assert proc.returncode == 128 + signum, err
    assert f"terminated by {signame}" in err and "Traceback" not in err, err
    assert not out.exists()


@pytest.mark.parametrize("command", ["simulate", "motifs", "attribute"])
def test_a_later_run_removes_what_a_killed_run_left_beside_the_output(env, command, tmp_path):
    from _safety_util import out_name

    out = tmp_path / out_name(command)
    stale_dir = tmp_path / f".{out.name}.k1ll.part"
    stale_dir.mkdir()
    (stale_dir / "half.h5").write_bytes(b"half")
    stale_file = tmp_path / f".{out.name}.x9z8.npz.part"
    stale_file.write_bytes(b"half")
    keep = tmp_path / ".other.part"
    keep.write_bytes(b"someone else's")
    assert main(argv(command, env, out)) == 0
    assert not stale_dir.exists() and not stale_file.exists() and keep.exists()


# -- class 14: +inf in a scores file ----------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_scores_are_refused_not_read_as_zero(env, tmp_path, value, capsys):
    import shutil

    import h5py

    damaged = tmp_path / "scores"
    shutil.copytree(env["scores"], damaged)
    with h5py.File(damaged / "scores.h5", "r+") as h5:
        h5["projected"][0, 3] = value
    args = argv("motifs", env, tmp_path / "o")
    args[args.index("--scores") + 1] = str(damaged)
    assert main(args) == 2
    assert "infinite score" in one_error_line(capsys.readouterr().err)


# -- class 13: odd input scored without a word ------------------------------------------------------------


def test_n_alleles_are_skipped_and_n_in_a_window_is_noted(tmp_path):
    g = GENOME["chr1"]
    fasta = write_fasta(tmp_path / "n.fa", {"chr1": g[:10] + "NNN" + g[13:]}, width=50)
    lines = [f"chr1\t31\t.\t{g[30]}\tN\t.\t.\t.", f"chr1\t21\t.\t{g[20]}\t{'A' if g[20] != 'A' else 'C'}\t.\t.\t."]
    contents = read_vcf(write_vcf(tmp_path / "v.vcf", lines))
    assert [s.reason for s in contents.skipped] == ["non_acgt_allele"]
    with FastaFile(fasta) as fa:
        wins, _ = build_windows(fa, contents.alleles, LENGTH)
    assert wins[0].note.endswith("; 3 N in window")


def test_counts_model_gets_no_probability_or_log_odds(env, tmp_path):
    import pandas as pd

    pytest.importorskip("bpnetlite")
    model = tmp_path / "counts_model"
    assert main(["import-model", "--in", str(env["bpnet"]), "--out", str(model), "--input-length", "120", "-q"]) == 0
    rng = np.random.default_rng(3)
    seq = "".join(rng.choice(list("ACGT"), size=300))
    fasta = tmp_path / "g.fa"
    fasta.write_text(f">c\n{seq}\n")
    vcf = write_vcf(tmp_path / "v.vcf", [f"c\t151\t.\t{seq[150]}\t{'A' if seq[150] != 'A' else 'C'}\t.\t.\t."])
    args = ["variants", "--model", str(model), "--fasta", str(fasta), "--vcf", str(vcf), "--out", str(tmp_path / "o"),
            "--method", "gradient_x_input", "--device", "cpu", "-q"]  # fmt: skip
    assert main(args) == 0
    tsv = pd.read_csv(tmp_path / "o" / "variants.tsv", sep="\t")
    assert tsv["effect"].notna().all()
    columns = [c for c in tsv.columns if c.startswith("prob") or c == "log_odds_change"]
    assert len(columns) == 4, list(tsv.columns)
    for column in columns:
        assert tsv[column].isna().all(), column


def _bcf(path):
    pysam = pytest.importorskip("pysam")
    text = path.with_suffix(".txt")
    text.write_text("##fileformat=VCFv4.2\n##contig=<ID=r0>\n" + _vcf_text(["r0\t5\t.\tA\tG\t.\t.\t."]).split("\n", 1)[1])
    with pysam.VariantFile(str(text)) as src, pysam.VariantFile(str(path), "wb", header=src.header) as out:
        for rec in src:
            out.write(rec)
    return path


@pytest.mark.parametrize("case", ["mid_file_line", "bcf", "import_dir", "score_dir_as_model"])
def test_messages_say_what_is_wrong(env, case, tmp_path, capsys):
    if case in ("mid_file_line", "bcf"):
        args = argv("variants", env, tmp_path / "o")
        if case == "bcf":
            vcf = _bcf(tmp_path / "v.bcf")
        else:
            vcf = tmp_path / "v.vcf"
            lines = env["vcf"].read_text().splitlines()
            vcf.write_text("\n".join([*lines[:3], "r0\t-3\t.\tA\tG\t.\t.\t.", *lines[3:]]) + "\n")
        args[args.index("--vcf") + 1] = str(vcf)
        expected, wrong = ("line 4: POS '-3' is not a positive integer", "truncated") if case == "mid_file_line" \
            else ("BCF (binary VCF)", "line 1")
    elif case == "import_dir":
        args = argv("import-model", env, tmp_path / "o")
        args[args.index("--in") + 1] = str(env["model"])
        expected, wrong = "is a directory, expected bpnet-lite's torch.save file", "not found"
    else:
        args = argv("score", env, tmp_path / "o")
        args[args.index("--model") + 1] = str(env["scores"])
        expected, wrong = "the output of `score`, not a model directory", "unpickl"
    assert main(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert expected in line and wrong not in line, line


def test_no_space_message_never_names_a_device_none():
    import errno

    from deeplift_genomics.io.output_dirs import describe_os_error

    for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG):
        assert "None" not in describe_os_error(OSError(code, "failed"))


# -- class 10: gathered outputs equal an unsharded run's, byte for byte ---------------------------------


def test_gathered_variants_files_equal_the_unsharded_run_byte_for_byte(env, tmp_path):
    # exact on any CPU: shards never split a chunk (--chunk-size 1 in every run), so the same batches
    base = [*argv("variants", env, tmp_path / "full"), "--chunk-size", "1"]
    assert main(base) == 0
    shards = [str(tmp_path / f"s{k}") for k in (1, 2)]
    # the whole run's choice of alleles to explain: screen the shards, select once, explain each shard's
    for k, out in enumerate(shards, start=1):
        assert main([*argv("variants", env, out), "--chunk-size", "1", "--shard", f"{k}/2", "--screen-only"]) == 0
    assert main(["variants", "--select", *shards, "--out", str(tmp_path / "sel"), "-q"]) == 0
    for k, out in enumerate(shards, start=1):
        ids = ["--explain-ids", str(tmp_path / "sel" / "selection.json")]
        assert main([*argv("variants", env, out), "--chunk-size", "1", "--shard", f"{k}/2", *ids]) == 0
    assert main(["variants", "--gather", *shards, "--out", str(tmp_path / "g"), "-q"]) == 0
    for name in ("scores.h5", "variants.tsv", "skipped.tsv"):
        assert (tmp_path / "g" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name


# -- class 15: exact float comparisons say why they hold on any CPU ----------------------------------------

_EXACT = ("assert_array_equal(", "torch.equal(", "np.array_equal(", "rtol=0", "array_equiv(")


def test_every_exact_or_tight_float_comparison_states_why():
    """An exact comparison (or ``rtol=0``) needs a comment within the 3 lines above saying why equality holds
    on any CPU (pure copies, integer or one-hot data, same shapes and kernels) or where its tolerance comes
    from; a file may say it once ("exact throughout this file")."""
    missing = []
    for path in sorted(Path(__file__).parent.glob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if any("exact throughout this file" in line for line in lines) or path.name == Path(__file__).name:
            continue
        for i, line in enumerate(lines):
            code = line.split("#", 1)[0]
            if not any(k in code for k in _EXACT) or "not np.array_equal" in code or "not torch.equal" in code:
                continue
            context = lines[max(0, i - 3): i + 1]
            if not any("#" in c for c in context) and "def " not in code:
                missing.append(f"{path.name}:{i + 1}: {line.strip()}")
    assert not missing, "\n".join(missing)


# -- class 3: a record's scores and the other records in its file -----------------------------------------


def test_a_record_scored_alone_or_in_company_keeps_the_promise(env, tmp_path):
    """docs/scoring.md: bit-identical in the same batches (a re-run), within OTHER_BATCH_REL of the record's
    largest |score| in other company (a subset of the file), on any CPU."""
    from _float_util import assert_close_to_scale

    from deeplift_genomics.score import read_record

    lines = env["fasta"].read_text().splitlines()
    alone = tmp_path / "alone.fa"
    alone.write_text("\n".join(lines[3:6]) + "\n")  # record r1 alone
    for name, fasta in (("full", env["fasta"]), ("again", env["fasta"]), ("alone", alone)):
        args = argv("score", env, tmp_path / name)
        args[args.index("--fasta") + 1] = str(fasta)
        assert main(args) == 0
    full, again, single = (read_record(tmp_path / n / "scores.h5", "r1") for n in ("full", "again", "alone"))
    # exact on any CPU: the same command twice, the same batches (same shapes, same company, same kernels)
    np.testing.assert_array_equal(full["projected"], again["projected"])
    assert_close_to_scale(single["projected"], full["projected"])
    assert_close_to_scale(single["hypothetical"], full["hypothetical"])


def test_training_on_one_class_warns(env, tmp_path, capsys):
    """What `dataset --negatives-per-positive 0` gives a single task: train says there is no auROC."""
    import shutil

    import pandas as pd

    sim = tmp_path / "sim"
    shutil.copytree(env["sim"], sim)
    labels = pd.read_csv(sim / "labels.tsv", sep="\t")
    task = labels.columns[-1]
    labels[task] = 1
    labels.to_csv(sim / "labels.tsv", sep="\t", index=False)
    args = argv("train", env, tmp_path / "o")
    args[args.index("--data") + 1] = str(sim)
    main(args)
    assert f"task '{task}': every training label is 1" in capsys.readouterr().err
