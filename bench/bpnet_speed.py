"""Speed against bpnet-lite's own attribution, on bpnet-lite's own models, in one interleaved run.

For BPNet counts (CountWrapper(ControlWrapper(BPNet)) with 2 control tracks), BPNet profile
(ProfileWrapper(ControlWrapper(BPNet))) and ChromBPNet counts (CountWrapper(ChromBPNet)), with random
seeded weights: ``deeplift_genomics.attribute(rule="rescale")`` and ``bpnetlite.attribute.deep_lift_shap``
on the same dinucleotide-shuffled references, the same batch size and torch thread count. Each gets a
warm-up; then ``--repeats`` rounds in which the two take turns, each keeping its best time, so a busy spell
of the machine hits both alike. The run also prints how far apart their scores are (they compute the
same rule).

Measured 2026-11-30 (2 torch threads on a shared 2-core machine, load average ~15; bpnet-lite 1.1.0,
tangermeme 1.6.0, torch 2.13.0 CPU), defaults otherwise: at ``--batch-size 32`` (bpnet-lite's default)
ours took 12.1 / 11.7 / 12.0 s against 23.1 / 26.9 / 28.4 s (counts / profile / ChromBPNet counts: 1.9x,
2.3x, 2.4x faster); at ``--batch-size 128`` 7.8 / 8.6 / 9.0 s against 21.1 / 29.2 / 26.7 s (2.7x, 3.4x, 3.0x).
Scores agreed to 2e-5 / 6e-5 / 1e-6 of the largest score in float32.

Run: ``.venv/bin/python bench/bpnet_speed.py [--n-seqs 8] [--length 1000] [--filters 64] [--layers 6]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np
import torch


def build(kind: str, filters: int, layers: int, seed: int) -> torch.nn.Module:
    from bpnetlite.bpnet import BPNet, ControlWrapper, CountWrapper, ProfileWrapper
    from bpnetlite.chrombpnet import ChromBPNet

    def bpnet(n_control: int, f: int, n: int, s: int) -> BPNet:
        torch.manual_seed(s)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = BPNet(n_filters=f, n_layers=n, n_control_tracks=n_control, verbose=False)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(3.0)  # switch units on both sides of their kinks, like trained weights
        return model

    if kind == "bpnet_count":
        model = CountWrapper(ControlWrapper(bpnet(2, filters, layers, seed)))
    elif kind == "bpnet_profile":
        model = ProfileWrapper(ControlWrapper(bpnet(2, filters, layers, seed)))
    elif kind == "chrombpnet_count":
        bias = bpnet(0, max(8, filters // 4), max(1, layers // 2), seed + 1)
        model = CountWrapper(ChromBPNet(bias, bpnet(0, filters, layers, seed)))
    else:
        raise ValueError(kind)
    return model.eval()


def onehot(n: int, length: int, seed: int) -> torch.Tensor:
    idx = np.random.default_rng(seed).integers(0, 4, size=(n, length))
    return torch.nn.functional.one_hot(torch.from_numpy(idx), 4).permute(0, 2, 1).float().contiguous()


def run_ours(model, x, refs, batch_size):
    from deeplift_genomics import attribute

    res = attribute(model, x, rule="rescale", target=0, references=refs, batch_size=batch_size, device="cpu",
                    verbose=False)
    return res.hypothetical[:, 0] * x


def run_bpnetlite(model, x, refs, batch_size):
    from bpnetlite.attribute import deep_lift_shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return deep_lift_shap(model, x, target=0, references=refs, batch_size=batch_size, device="cpu",
                              warning_threshold=1e9)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-seqs", type=int, default=8)
    p.add_argument("--n-references", type=int, default=10)
    p.add_argument("--length", type=int, default=1000, help="input length (BPNet trims 47 + 2^1..2^layers)")
    p.add_argument("--filters", type=int, default=64)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=32, help="sequence-reference pairs per batch, both tools")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--models", default="bpnet_count,bpnet_profile,chrombpnet_count")
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from tangermeme.ersatz import dinucleotide_shuffle

    x = onehot(args.n_seqs, args.length, 0)
    refs = dinucleotide_shuffle(x, n=args.n_references, random_state=0).float()
    tools = {"ours": run_ours, "bpnet-lite": run_bpnetlite}
    report = {"machine": {"threads": args.threads, "torch": torch.__version__}, "args": vars(args), "models": {}}
    print(f"{args.n_seqs} sequences x {args.n_references} references, L={args.length}, {args.filters} filters, "
          f"{args.layers} layers, batch {args.batch_size}, {args.threads} threads, best of {args.repeats}")
    for kind in args.models.split(","):
        model = build(kind, args.filters, args.layers, seed=0)
        scores = {name: fn(model, x[:2], refs[:2], args.batch_size) for name, fn in tools.items()}  # warm-up
        best = {name: float("inf") for name in tools}
        for _ in range(args.repeats):
            for name, fn in tools.items():
                t0 = time.perf_counter()
                scores[name] = fn(model, x, refs, args.batch_size)
                best[name] = min(best[name], time.perf_counter() - t0)
        diff = float((scores["ours"] - scores["bpnet-lite"]).abs().max() / scores["bpnet-lite"].abs().max())
        ratio = best["bpnet-lite"] / best["ours"]
        report["models"][kind] = {"seconds": best, "speedup": ratio, "max_rel_diff": diff}
        print(f"{kind:18s} ours {best['ours']:7.2f} s   bpnet-lite {best['bpnet-lite']:7.2f} s   "
              f"ours {ratio:4.1f}x faster   max |diff| / max |score| = {diff:.1e}")
        sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
