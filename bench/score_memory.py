"""Benchmark of ``score``: peak memory at several FASTA sizes (it should stay flat) and sequences/s.

Each size runs in a fresh process, so its peak RSS (``ru_maxrss``) is its own. The model is the package's
default conv net (C's ``ModelSpec()``: 200 bp, 2 x 50 filters of width 11, 3 tasks) with random weights;
records are 200 bp, so 1 MB of FASTA is about 4,900 sequences.

Usage::

    python bench/score_memory.py                       # 2, 5, 20 MB with references=zeros, 1 reference
    python bench/score_memory.py --sizes 1 --references shuffle --n-references 20   # the default settings
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RECORD_LENGTH = 200


def write_fasta(path: Path, megabytes: float, seed: int = 0) -> int:
    """Write about ``megabytes`` MB of 200 bp records (60-letter lines); returns the record count."""
    rng = np.random.default_rng(seed)
    per_record = RECORD_LENGTH + 4 + 12  # sequence, newlines, header
    n = int(megabytes * 1e6 / per_record)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "w") as handle:
        for start in range(0, n, 10_000):
            block = letters[rng.integers(0, 4, size=(min(10_000, n - start), RECORD_LENGTH))]
            for i, row in enumerate(block):
                seq = row.tobytes().decode()
                handle.write(
                    f">seq{start + i}\n"
                    + "\n".join(seq[j : j + 60] for j in range(0, RECORD_LENGTH, 60))
                    + "\n"
                )
    return n


def child(args: argparse.Namespace) -> None:
    import torch

    from deeplift_genomics.models.spec import ModelSpec, build_model
    from deeplift_genomics.score import ScoreOptions, score_fasta

    torch.manual_seed(0)
    spec = ModelSpec()
    model = build_model(spec).eval()
    attribute_fn = None
    try:
        import deeplift_genomics.attribute  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from _score_util import gradient_attribute

        attribute_fn = gradient_attribute
        print("engine not available: using plain gradient x input", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "bench.fa"
        n = write_fasta(fasta, args.child)
        size_mb = fasta.stat().st_size / 1e6
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        opts = ScoreOptions(
            references=args.references,
            n_references=args.n_references,
            method=args.method,
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            device="cpu",
        )
        start = time.perf_counter()
        summary = score_fasta(
            model,
            spec.input_length,
            [f"task{i}" for i in range(spec.n_tasks)],
            fasta,
            Path(tmp) / "out",
            options=opts,
            attribute_fn=attribute_fn,
            bedgraph=False,
        )
        seconds = time.perf_counter() - start
        out_mb = sum(p.stat().st_size for p in (Path(tmp) / "out").iterdir()) / 1e6
    print(
        json.dumps(
            {
                "fasta_mb": round(size_mb, 2),
                "records": n,
                "windows": summary.n_windows,
                "seconds": round(seconds, 1),
                "seq_per_s": round(summary.n_windows / seconds, 1),
                "peak_rss_mb_before_scoring": round(rss_before),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "outputs_mb": round(out_mb, 1),
                "engine": "gradient_x_input (stand-in)" if attribute_fn else args.method,
                "references": args.references,
                "n_references": args.n_references,
                "threads": torch.get_num_threads(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=float, nargs="+", default=[2, 5, 20], help="FASTA sizes in MB")
    parser.add_argument("--method", default="deeplift")
    parser.add_argument("--references", default="zeros")
    parser.add_argument("--n-references", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args)
        return
    for size in args.sizes:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            str(size),
            "--method",
            args.method,
            "--references",
            args.references,
            "--n-references",
            str(args.n_references),
            "--batch-size",
            str(args.batch_size),
            "--chunk-size",
            str(args.chunk_size),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            raise SystemExit(done.returncode)
        print(done.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
