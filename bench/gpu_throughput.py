"""Attribution throughput of the paper's net on one device: sequences/s, peak memory, shuffle share.

The paper's net (the default ``ModelSpec``: two 50x11 convolutions, global average pooling, a dense
layer, 3 tasks) with seeded weights, ``--n`` random 200 bp sequences, genomics-default DeepLIFT on all
3 tasks against ``--n-references`` dinucleotide shuffles drawn on the device. After a warm-up call
(CUDA context, cuDNN plans), it times:

- ``attribute`` end to end, from CPU inputs to CPU results (``--repeats`` runs, best kept);
- ``dinucleotide_shuffle`` of the same sequences on the device alone, whose share of the end-to-end
  time is reported (the references ``attribute`` draws are those shuffles).

Prints one summary line, and with ``--json PATH`` writes the numbers. Runs on the CPU too (CI runs it
with a tiny ``--n``).

Run: ``.venv/bin/python bench/gpu_throughput.py [--device cuda] [--n 10000] [--precision fp32]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_onehot(n: int, length: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 4, size=(n, length))
    x = np.zeros((n, 4, length), dtype=np.float32)
    np.put_along_axis(x, idx[:, None, :], 1.0, axis=1)
    return torch.from_numpy(x)


def main(argv: list[str] | None = None) -> dict:
    from deeplift_genomics import attribute, dinucleotide_shuffle
    from deeplift_genomics.core.devices import resolve_device
    from deeplift_genomics.models.spec import ModelSpec, build_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    ap.add_argument("--n", type=int, default=10_000, help="sequences (default 10,000)")
    ap.add_argument("--n-references", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=None,
                    help="sequence-reference pairs per engine batch (default 5,120 on CUDA, 256 on the CPU)")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16"))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", help="write the numbers to this file")
    args = ap.parse_args(argv)

    dev = resolve_device(args.device)
    batch_size = args.batch_size or (5120 if dev.type == "cuda" else 256)
    spec = ModelSpec()
    torch.manual_seed(0)
    model = build_model(spec).eval()
    x = random_onehot(args.n, spec.input_length, seed=1)

    def run(xs):
        return attribute(model, xs, method="deeplift", rule="genomics_default", references="shuffle",
                         n_references=args.n_references, batch_size=batch_size, device=dev, seed=0,
                         verbose=False, precision=args.precision)

    run(x[: min(len(x), 64)])  # warm-up
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    best = float("inf")
    for _ in range(args.repeats):
        sync(dev)
        t0 = time.perf_counter()
        res = run(x)
        sync(dev)
        best = min(best, time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None
    max_delta = float(res.deltas.abs().max())

    x_dev = x.to(dev)
    dinucleotide_shuffle(x_dev[:64], args.n_references, 0)
    shuffle = float("inf")
    for _ in range(args.repeats):
        sync(dev)
        t0 = time.perf_counter()
        dinucleotide_shuffle(x_dev, args.n_references, 0)
        sync(dev)
        shuffle = min(shuffle, time.perf_counter() - t0)

    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    out = {
        "device": name,
        "n": args.n,
        "n_references": args.n_references,
        "tasks": spec.n_tasks,
        "precision": args.precision,
        "batch_size": batch_size,
        "seconds": best,
        "sequences_per_s": args.n / best,
        "peak_gpu_memory_bytes": peak,
        "shuffle_seconds": shuffle,
        "shuffle_share": shuffle / best,
        "shuffles_per_s": args.n * args.n_references / shuffle,
        "max_abs_delta": max_delta,
    }
    memory = f"peak GPU memory {peak / 2**30:.2f} GiB" if peak is not None else "no GPU memory (CPU)"
    print(
        f"throughput: {name}; paper net, {spec.n_tasks} tasks x {args.n_references} shuffles, {args.precision}: "
        f"N={args.n} in {best:.2f} s = {args.n / best:,.0f} seq/s; {memory}; shuffle {shuffle:.3f} s "
        f"({100 * shuffle / best:.1f}% of the time, {out['shuffles_per_s']:,.0f} shuffles/s); "
        f"max |delta| {max_delta:.2g}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
