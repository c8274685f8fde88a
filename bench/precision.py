"""float32 against float64, and RevealCancel's cost, before and after the difference stream, in one run.

Two parts, both comparing the engine's two ways of running the sequence-reference pairs
(:data:`deeplift_genomics.engine.interpreter.STREAM`): ``reference`` (the method before 0.3.0: the
references' own activations, each layer's difference a subtraction of two forward passes) and
``difference`` (the default: ``Δ = x - r`` carried through the model).

1. **Precision.** For bpnet-lite's BPNet (profile head: ``ProfileWrapper(ControlWrapper(BPNet))``; counts
   head: ``CountWrapper(ControlWrapper(BPNet))``), ChromBPNet's counts (``CountWrapper(ChromBPNet)``) and
   the benchmark net of ``bench/attribution_speed.py``: Rescale DeepLIFT in float32, each way, against
   float64 of the same computation (float64 runs the difference stream; both ways agree there to 1e-12),
   as ``max |float32 - float64| / max |float64|`` of the per-base scores (hypothetical contributions at the
   observed base, which bpnet-lite's ``deep_lift_shap`` returns). bpnet-lite's nets keep PyTorch's default
   (small) initial weights with ``--layers`` dilated residual layers at ``--length`` bp, seeds
   ``--seeds``; the worst seed is reported. Each float32 run is timed too, against the plain-gradient
   floor (one forward and backward of the input gradient over the same pairs, per target), interleaved.
2. **RevealCancel's cost.** On the benchmark net (``--n-seqs`` sequences, 3 tasks, ``--n-references``
   shuffles): the floor, Rescale, RevealCancel everywhere and the genomics default, each way, in
   interleaved rounds (best kept), with RevealCancel / Rescale and genomics default / floor.

Prints the tables and, last, one summary line (``precision: ...``); ``--json PATH`` writes the numbers.
Runs on the CPU or a GPU (``--device``); CI runs it with tiny sizes.

Run: ``.venv/bin/python bench/precision.py [--device cpu] [--n-seqs 64] [--length 700] [--seeds 0,1,2]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from deeplift_genomics import attribute
from deeplift_genomics.engine import interpreter
from deeplift_genomics.references.kinds import make_references

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attribution_speed import benchmark_model, random_onehot  # noqa: E402

STREAMS = ("reference", "difference")
RULES = ("rescale", "reveal_cancel", "genomics_default")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bpnet_lite_model(kind: str, filters: int, layers: int, seed: int) -> torch.nn.Module | None:
    """bpnet-lite's nets with PyTorch's default initial weights (None without bpnet-lite)."""
    try:
        from bpnetlite.bpnet import BPNet, ControlWrapper, CountWrapper, ProfileWrapper
        from bpnetlite.chrombpnet import ChromBPNet
    except ImportError:
        return None

    def bpnet(n_control: int, f: int, n: int, s: int) -> BPNet:
        torch.manual_seed(s)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return BPNet(n_filters=f, n_layers=n, n_control_tracks=n_control, verbose=False)

    if kind == "bpnet_profile":
        return ProfileWrapper(ControlWrapper(bpnet(2, filters, layers, seed))).eval()
    if kind == "bpnet_counts":
        return CountWrapper(ControlWrapper(bpnet(2, filters, layers, seed))).eval()
    if kind == "chrombpnet_counts":
        bias = bpnet(0, max(8, filters // 4), max(1, layers // 2), seed + 100)
        return CountWrapper(ChromBPNet(bias, bpnet(0, filters, layers, seed))).eval()
    raise ValueError(kind)


def onehot(n: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 4, (n, length), generator=g)
    return torch.nn.functional.one_hot(idx, 4).permute(0, 2, 1).float().contiguous()


def with_stream(stream: str, fn: Callable[[], object]) -> object:
    saved = interpreter.STREAM
    interpreter.STREAM = stream
    try:
        return fn()
    finally:
        interpreter.STREAM = saved


def scores(model, x, refs, dtype, device, rule="rescale", target=0) -> torch.Tensor:
    """Per-base scores: hypothetical contributions of ``target`` at the observed base, on the CPU."""
    res = attribute(model.to(dtype), x.to(dtype), rule=rule, target=target, references=refs.to(dtype),
                    dtype=dtype, device=device, batch_size=128, verbose=False)
    return res.hypothetical[:, 0].double() * x.double()


def floor_time(model, refs, device, n_targets: int, batch_size: int = 128) -> float:
    """One forward + backward of the input gradient over the pairs, per target: seconds."""
    model = model.to(device, torch.float32)
    pairs = refs.reshape(-1, *refs.shape[2:])
    sync(device)
    t0 = time.perf_counter()
    for t in range(n_targets):
        for lo in range(0, pairs.shape[0], batch_size):
            inp = pairs[lo:lo + batch_size].to(device).requires_grad_(True)
            out = model(inp).reshape(inp.shape[0], -1)[:, t].sum()
            torch.autograd.grad(out, inp)
    sync(device)
    return time.perf_counter() - t0


CPU_SECONDS: dict[str, float] = {}  # the process's CPU time of the best-known round per contender


def timed(fn: Callable[[], object], device: torch.device, key: str = "") -> float:
    """Wall seconds of ``fn()``; its CPU seconds go to CPU_SECONDS[key] (less sensitive to a busy machine)."""
    sync(device)
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    sync(device)
    cpu = time.process_time() - c0
    if key:
        CPU_SECONDS[key] = min(CPU_SECONDS.get(key, float("inf")), cpu)
    return time.perf_counter() - t0


def convolution_breakdown(model, x, refs, device, repeats: int) -> dict:
    """Where RevealCancel's extra time goes on the CPU: one profiled run per rule (difference stream), the
    self time of the convolution ops (forward and backward) against everything else.

    RevealCancel needs every convolution below a RevealCancel ReLU twice each way: ``W Δ`` and the mass
    ``|W| |Δ|`` forward, ``W^T g`` and ``|W|^T g_s`` backward per target. Its floor, were everything but
    its convolutions as cheap as Rescale's, is ``(its convolutions + Rescale's rest) / Rescale``. Each
    figure is the least of ``repeats`` interleaved profiled runs.
    """
    from torch.profiler import ProfilerActivity, profile

    split: dict[str, dict[str, float]] = {}
    for _ in range(repeats):
        for rule in ("rescale", "reveal_cancel"):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                with_stream("difference", lambda r=rule: attribute(model, x, rule=r, target=None, references=refs,
                                                                   device=device, verbose=False))
            events = prof.key_averages()
            total = sum(e.self_cpu_time_total for e in events) / 1e6
            conv = sum(e.self_cpu_time_total for e in events if "convolution" in e.key) / 1e6
            least = split.setdefault(rule, {"convolutions_s": float("inf"), "rest_s": float("inf")})
            least["convolutions_s"] = min(least["convolutions_s"], conv)
            least["rest_s"] = min(least["rest_s"], total - conv)
    rs, rc = split["rescale"], split["reveal_cancel"]
    rescale_total = rs["convolutions_s"] + rs["rest_s"]
    out = {**split, "convolutions_ratio": rc["convolutions_s"] / rs["convolutions_s"],
           "rest_ratio": rc["rest_s"] / rs["rest_s"],
           "reveal_cancel_floor_over_rescale": (rc["convolutions_s"] + rs["rest_s"]) / rescale_total,
           "profiled_reveal_cancel_over_rescale": (rc["convolutions_s"] + rc["rest_s"]) / rescale_total}
    print(f"  difference stream, profiled (least of {repeats}): convolutions {rs['convolutions_s']:.2f} s (Rescale) "
          f"{rc['convolutions_s']:.2f} s (RevealCancel), x{out['convolutions_ratio']:.2f}; the rest "
          f"{rs['rest_s']:.2f} s / {rc['rest_s']:.2f} s, x{out['rest_ratio']:.2f}; RevealCancel / Rescale "
          f"{out['profiled_reveal_cancel_over_rescale']:.2f}, its floor with Rescale's rest "
          f"{out['reveal_cancel_floor_over_rescale']:.2f}")
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--n-seqs", type=int, default=64, help="sequences of the RevealCancel timing (64)")
    p.add_argument("--n-references", type=int, default=20, help="shuffles per sequence, timing (20)")
    p.add_argument("--precision-seqs", type=int, default=4, help="sequences per net, precision (4)")
    p.add_argument("--precision-references", type=int, default=4, help="shuffles per sequence, precision (4)")
    p.add_argument("--length", type=int, default=700, help="bpnet-lite input length in bp (700)")
    p.add_argument("--filters", type=int, default=64)
    p.add_argument("--layers", type=int, default=6, help="dilated residual layers (6: trims 173 bp per side)")
    p.add_argument("--seeds", default="0,1,2", help="bpnet-lite weight seeds; the worst is reported")
    p.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds, best kept (3)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    p.add_argument("--skip", default="", help="comma-separated parts to leave out: precision, cost, breakdown (cost's profiled "
                   "convolution share, CPU only)")
    p.add_argument("--json", default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    report: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "threads": torch.get_num_threads(), "torch": torch.__version__, "settings": vars(args)}
    print(f"# precision and RevealCancel's cost: device {report['device']}, {report['threads']} torch threads, "
          f"torch {torch.__version__}; timings are best of {args.repeats} interleaved rounds")

    if "precision" not in skip:
        nets = {}
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        for kind in ("bpnet_profile", "bpnet_counts", "chrombpnet_counts"):
            for seed in seeds:
                model = bpnet_lite_model(kind, args.filters, args.layers, seed)
                if model is not None:
                    nets[f"{kind} seed {seed}"] = (kind, model, onehot(args.precision_seqs, args.length, seed), 1)
        bench = benchmark_model(0)
        nets["benchmark net"] = ("benchmark_net", bench, random_onehot(args.precision_seqs, 1), 3)
        rows = {}
        print(f"\n# float32 against float64, Rescale, {args.precision_seqs} sequences x {args.precision_references} "
              f"shuffles; max |error| / max |score| (bpnet-lite: {args.filters} filters, {args.layers} layers, "
              f"{args.length} bp, default weights)")
        print(f"{'net':26s} {'before':>9s} {'after':>9s} {'x floor before':>15s} {'x floor after':>14s}")
        for name, (kind, model, x, n_targets) in nets.items():
            refs = make_references(x, "shuffle", n=args.precision_references, seed=0)
            want = with_stream("difference", lambda m=model, xs=x, rs=refs: scores(m, xs, rs, torch.float64, device))
            scale = float(want.abs().max())
            err, best = {}, {}
            for stream in STREAMS:
                got = with_stream(stream, lambda m=model, xs=x, rs=refs: scores(m, xs, rs, torch.float32, device))
                err[stream] = float((got - want).abs().max()) / scale
            def ours(stream, model=model, x=x, refs=refs):
                return with_stream(stream, lambda: attribute(model.float(), x, rule="rescale", target=None,
                                                             references=refs, device=device, verbose=False))

            contenders = {"floor": lambda model=model, refs=refs, t=n_targets: floor_time(model, refs, device, t),
                          **{s: (lambda s=s: timed(lambda: ours(s), device)) for s in STREAMS}}
            for _ in range(args.repeats):
                for key, fn in contenders.items():
                    sec = fn()
                    best[key] = min(best.get(key, float("inf")), sec)
            rows[name] = {"kind": kind, "error_before": err["reference"], "error_after": err["difference"],
                          "x_floor_before": best["reference"] / best["floor"],
                          "x_floor_after": best["difference"] / best["floor"], "seconds": best}
            print(f"{name:26s} {err['reference']:9.2e} {err['difference']:9.2e} "
                  f"{rows[name]['x_floor_before']:15.2f} {rows[name]['x_floor_after']:14.2f}", flush=True)
        worst: dict[str, dict] = {}
        for row in rows.values():
            w = worst.setdefault(row["kind"], {"error_before": 0.0, "error_after": 0.0})
            w["error_before"] = max(w["error_before"], row["error_before"])
            w["error_after"] = max(w["error_after"], row["error_after"])
        report["precision"] = {"nets": rows, "worst": worst}
        print("\n# worst over seeds (goal: after <= 1e-4)")
        for kind, w in worst.items():
            print(f"  {kind:20s} before {w['error_before']:.2e}  after {w['error_after']:.2e}  "
                  f"{'met' if w['error_after'] <= 1e-4 else 'NOT met'}")

    if "cost" not in skip:
        model = benchmark_model(0)
        x = random_onehot(args.n_seqs, 1)
        refs = make_references(x, "shuffle", n=args.n_references, seed=0)

        def ours(stream: str, rule: str) -> Callable[[], float]:
            return lambda: timed(lambda: with_stream(stream, lambda: attribute(
                model, x, rule=rule, target=None, references=refs, device=device, verbose=False)), device,
                f"{stream} {rule}")

        contenders = {"floor": lambda: floor_time(model, refs, device, 3)}
        contenders.update({f"{s} {r}": ours(s, r) for s in STREAMS for r in RULES})
        for s in STREAMS:  # warm-up: kernels, allocator
            for r in RULES:
                with_stream(s, lambda r=r: attribute(model, x[:2], rule=r, references=refs[:2], device=device,
                                                     verbose=False))
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            for key, fn in contenders.items():
                best[key] = min(best.get(key, float("inf")), fn())
        floor = best["floor"]
        print(f"\n# RevealCancel's cost: benchmark net, {args.n_seqs} sequences x {args.n_references} shuffles, "
              "3 tasks")
        print(f"{'':28s} {'seconds':>8s} {'x floor':>8s}")
        for key, sec in best.items():
            print(f"{key:28s} {sec:8.2f} {sec / floor:8.2f}")
        cost = {"seconds": best, "cpu_seconds": dict(CPU_SECONDS)}
        for s in STREAMS:
            cpu_ratio = CPU_SECONDS[f"{s} reveal_cancel"] / CPU_SECONDS[f"{s} rescale"]
            cost[s] = {"reveal_cancel_over_rescale": best[f"{s} reveal_cancel"] / best[f"{s} rescale"],
                       "reveal_cancel_over_rescale_cpu": cpu_ratio,
                       "genomics_default_over_floor": best[f"{s} genomics_default"] / floor,
                       "rescale_over_floor": best[f"{s} rescale"] / floor}
            print(f"  {s:10s} RevealCancel / Rescale {cost[s]['reveal_cancel_over_rescale']:5.2f} "
                  f"(CPU time {cpu_ratio:5.2f})   genomics default / floor {cost[s]['genomics_default_over_floor']:5.2f}")
        if device.type == "cpu" and "breakdown" not in skip:
            cost["breakdown"] = convolution_breakdown(model, x, refs, device, args.repeats)
        report["cost"] = cost

    parts = []
    if "precision" in report:
        parts.append("float32 error after (before): " + ", ".join(
            f"{k} {w['error_after']:.1e} ({w['error_before']:.1e})" for k, w in report["precision"]["worst"].items()))
    if "cost" in report:
        c = report["cost"]
        parts.append(f"RevealCancel/Rescale {c['difference']['reveal_cancel_over_rescale']:.2f} "
                     f"({c['reference']['reveal_cancel_over_rescale']:.2f}), genomics default/floor "
                     f"{c['difference']['genomics_default_over_floor']:.2f} "
                     f"({c['reference']['genomics_default_over_floor']:.2f})")
    print("precision: " + "; ".join(parts))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
    sys.exit(0)
