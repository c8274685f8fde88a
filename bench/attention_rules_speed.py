"""Speed of DeepLIFT through a conv stem + nn.TransformerEncoder against the plain-gradient floor.

The model: Conv1d(4, d, 11) ReLU, nn.TransformerEncoder (pre-norm, GELU, 2 layers, 4 heads), mean over
positions, Linear(d, 3). The same sequences and dinucleotide-shuffled references for every contender:

- floor: one forward + backward of the plain input gradient over the same pairs, per task;
- ours: ``attribute(..., rule=...)`` for Rescale, the genomics default and RevealCancel everywhere.

Rounds are interleaved (floor, ours, ... then again) and the best of each is kept; the ratio to the floor
measured in the same run is the number to read (absolute seconds move with the machine's other load).
Prints a table and, last, one JSON line.

    python bench/attention_rules_speed.py --n-seqs 16 --length 200 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import torch
from torch import nn

from deeplift_genomics import attribute, dinucleotide_shuffle

N_TASKS = 3


class ConvTransformer(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.stem = nn.Conv1d(4, d, 11, padding=5)
        layer = nn.TransformerEncoderLayer(d, 4, 2 * d, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(d, N_TASKS)

    def forward(self, x):
        h = torch.relu(self.stem(x)).transpose(1, 2)
        return self.head(self.encoder(h).mean(1))


def floor(batch_size: int) -> Callable:
    def go(model, x, refs):
        pairs = refs.reshape(-1, *x.shape[1:])
        for t in range(N_TASKS):
            for lo in range(0, pairs.shape[0], batch_size):
                inp = pairs[lo:lo + batch_size].clone().requires_grad_(True)
                torch.autograd.grad(model(inp)[:, t].sum(), inp)

    return go


def ours(rule: str, batch_size: int) -> Callable:
    def go(model, x, refs):
        attribute(model, x, rule=rule, references=refs, batch_size=batch_size, device="cpu", verbose=False)

    return go


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-seqs", type=int, default=16)
    p.add_argument("--length", type=int, default=200)
    p.add_argument("--n-refs", type=int, default=10)
    p.add_argument("--d-model", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    model = ConvTransformer(args.d_model).eval()
    idx = torch.randint(0, 4, (args.n_seqs, args.length))
    x = torch.nn.functional.one_hot(idx, 4).permute(0, 2, 1).float()
    refs = dinucleotide_shuffle(x, args.n_refs, seed=0)
    contenders = {
        "floor (input gradient, 3 tasks)": floor(args.batch_size),
        "ours, rescale": ours("rescale", args.batch_size),
        "ours, genomics_default": ours("genomics_default", args.batch_size),
        "ours, reveal_cancel everywhere": ours("reveal_cancel", args.batch_size),
    }
    times = {name: float("inf") for name in contenders}
    for _ in range(args.repeats):
        for name, go in contenders.items():
            t0 = time.perf_counter()
            go(model, x, refs)
            times[name] = min(times[name], time.perf_counter() - t0)
    base = times["floor (input gradient, 3 tasks)"]
    print(f"{args.n_seqs} sequences x {args.n_refs} shuffles, L = {args.length}, d = {args.d_model}, "
          f"{torch.get_num_threads()} threads, best of {args.repeats} interleaved rounds")
    print(f"{'contender':34s} {'seconds':>8s} {'x floor':>8s}")
    for name, sec in times.items():
        print(f"{name:34s} {sec:8.3f} {sec / base:8.2f}")
    print(json.dumps({"seconds": times, "ratio_to_floor": {k: v / base for k, v in times.items()}}))
    return times


if __name__ == "__main__":
    main()
