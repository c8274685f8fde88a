"""The one protocol of long commands (deeplift_genomics.jobs): shard blocks, gather checks, resumable work.

score and variants both run through it; their own tests check the outputs end to end
(test_score_shard.py, test_variants.py). Here: the protocol's facts on inputs the test makes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from deeplift_genomics.core.errors import InputError
from deeplift_genomics.io.output_dirs import MARKER_NAME, read_marker
from deeplift_genomics.jobs.shards import check_shards, shard_range, write_shard_info
from deeplift_genomics.jobs.work import ChunkedWork, save_npz


@pytest.mark.parametrize("n_items", [0, 1, 7, 10, 23])
@pytest.mark.parametrize("n_shards", [1, 2, 3, 5])
@pytest.mark.parametrize("chunk", [1, 3, 10])
def test_shard_blocks_tile_the_items_at_chunk_boundaries(n_items, n_shards, chunk):
    blocks = [shard_range(n_items, (k, n_shards), chunk) for k in range(1, n_shards + 1)]
    assert blocks[0][0] == 0 and blocks[-1][1] == n_items
    for (a0, a1), (b0, _) in zip(blocks, blocks[1:]):
        assert a1 == b0 and a0 <= a1
    for start, end in blocks:
        assert start % chunk == 0 and (end % chunk == 0 or end == n_items)
    n_chunks = [-(-(end - start) // chunk) for start, end in blocks]
    assert max(n_chunks) - min(n_chunks) <= 1  # balanced to one chunk


def _shards(tmp_path, unit, n_items=10, chunk=3, n=3, blocks=None):
    dirs = []
    for k in range(1, n + 1):
        d = tmp_path / f"s{k}"
        d.mkdir(parents=True)
        (d / "out.txt").write_text("x")
        block = blocks[k - 1] if blocks else shard_range(n_items, (k, n), chunk)
        write_shard_info(d, "fmt", (k, n), unit, block, n_items, {"settings": {"options": {"chunk_size": chunk}}})
        dirs.append(d)
    return dirs


@pytest.mark.parametrize("unit,count_key", [("region", "n_regions"), ("entry", "n_entries")])
def test_gather_checks_every_shards_block_for_every_command(tmp_path, unit, count_key):
    dirs = _shards(tmp_path, unit)
    info = json.loads((dirs[0] / "shard.json").read_text())
    assert info[count_key] == 10 and info[f"first_{unit}"] == 0
    got = check_shards("cmd", list(reversed(dirs)), "fmt", unit, ["out.txt"], ["settings"])
    assert [d for d, _ in got] == dirs
    bad = _shards(tmp_path / "bad", unit, blocks=[(0, 3), (3, 5), (5, 10)])  # shard 2 should hold 3..6
    with pytest.raises(InputError, match=rf"shard 2/3 covers {unit}s? 3\.\.5, expected 3\.\.6"):
        check_shards("cmd", bad, "fmt", unit, ["out.txt"], ["settings"])
    with pytest.raises(InputError, match=r"shard\(s\) 3/3 missing"):
        check_shards("cmd", dirs[:2], "fmt", unit, ["out.txt"], ["settings"])
    (dirs[1] / "out.txt").unlink()
    with pytest.raises(InputError, match="incomplete shard, out.txt missing"):
        check_shards("cmd", dirs, "fmt", unit, ["out.txt"], ["settings"])


def _job(out, manifest=None):
    return ChunkedWork(out, "test", ".test_work", manifest or {"v": 1}, ["result.txt"])


def test_a_rerun_resumes_saved_chunks_and_recomputes_a_corrupt_one(tmp_path):
    out = tmp_path / "out"
    computed = []

    def compute(k, path):
        computed.append(k)
        save_npz(path, {"k": np.array([k])})
        return k

    def resume(k, path):
        try:
            with np.load(path) as z:
                return int(z["k"][0])
        except Exception:  # noqa: BLE001 - any unreadable chunk is computed again
            return None

    class Crash(Exception):
        pass

    def crash_after_two(k):
        if k == 1:
            raise Crash

    job = _job(out)
    job.open()
    with pytest.raises(Crash):
        job.run(4, compute, resume, crash_after_two)
    assert computed == [0, 1]
    job.chunk_path(0).write_bytes(b"truncated")
    computed.clear()
    job = _job(out)
    job.open()
    assert job.run(4, compute, resume) == [0, 1, 2, 3]
    assert computed == [0, 2, 3]  # chunk 1 resumed; 0 was corrupt
    (out / "result.txt").write_text("r")
    (out / "users_notes.txt").write_text("kept: not an output of this command")
    job.finish([out / "result.txt"])
    assert not (out / ".test_work").exists()
    assert sorted(p.name for p in out.iterdir()) == [MARKER_NAME, "result.txt", "users_notes.txt"]
    assert read_marker(out)["files"] == ["result.txt"]


def test_a_changed_manifest_starts_over(tmp_path):
    out = tmp_path / "out"
    job = _job(out, {"v": 1})
    job.open()
    save_npz(job.chunk_path(0), {"k": np.array([0])})
    job = _job(out, {"v": 2})
    job.open()
    assert not job.chunk_path(0).exists()


def test_bad_input_before_the_first_chunk_leaves_no_directory(tmp_path):
    out = tmp_path / "out"
    job = _job(out)
    job.open()

    def compute(k, path):
        raise InputError("bad letter")

    with pytest.raises(InputError):
        job.run(2, compute, lambda k, path: None)
    assert not out.exists()
