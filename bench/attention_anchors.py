"""Attention models against the anchors: our DeepLIFT, captum's integrated gradients, tangermeme's DeepLIFT.

One process, the same models, the same dinucleotide-shuffled references for everyone, float32 on the CPU:

- ``attn``: a conv stem and one pre-norm transformer block (LayerNorm, multi-head attention, feed-forward),
  written with tangermeme's ``BilinearOp`` for the two attention products and ``nn.Softmax``, so that
  tangermeme 1.6's ``deep_lift_shap`` can attribute it; our engine takes the same model as it is.
- ``enformer``: ``enformer_pytorch.Enformer.from_hparams(...)`` (small, random weights) behind a head that
  takes ``(N, 4, L)`` and returns the mean of the human tracks over the kept positions ``(N, T)``.
  tangermeme cannot attribute it unmodified (its attention pooling and attention are functional).

Contenders, per model: ours (``attribute``, Rescale, all tasks in one call); captum
``IntegratedGradients`` with 50 steps (Gauss-Legendre, captum's default) per task over the same pairs;
tangermeme ``deep_lift_shap`` per task (``attn`` only); the plain-gradient floor (one forward + backward
of the input gradient over the same pairs, per task). Each method gets a warm-up, then ``--repeats``
rounds in which the methods take turns, each keeping its best time.

Reported per method: seconds, ratio to ours, the summation-to-delta error (max over pairs and tasks of
``|sum of contributions - (f(x) - f(r))|``, relative to the largest ``|f(x) - f(r)|``), and the largest
difference of its contributions (mean over references of ``m * (x - r)``) from ours, relative to our
largest ``|contribution|``. Absolute times are noisy on a shared machine; the ratios come from one run.

Then the front door's cost (``--trace-costs``, on by default): for two Enformer sizes, the time to trace a new
input shape, to reuse a cached trace (record + check against the model), one eager forward pass of one
sequence, and ``torch.export.export`` of the same model (best of 3 each).

Run: ``.venv/bin/python bench/attention_anchors.py [--n-seqs 8] [--refs 8] [--repeats 3] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

N_TASKS = 2


# --- models ---------------------------------------------------------------------------------------------
def attn_model(seed: int, dim: int = 32, heads: int = 2) -> nn.Module:
    """Conv stem + one pre-norm transformer block, written with tangermeme's BilinearOp (seeded, eval)."""
    from tangermeme.deep_lift_shap import BilinearOp

    class AttnNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.heads, self.scale = heads, (dim // heads) ** -0.5
            self.conv = nn.Conv1d(4, dim, 9, padding=4)
            self.act = nn.ReLU()
            self.pool = nn.AvgPool1d(4)
            self.ln1 = nn.LayerNorm(dim)
            self.qkv = nn.Linear(dim, 3 * dim)
            self.scores = BilinearOp("bhid,bhjd->bhij")
            self.softmax = nn.Softmax(dim=-1)
            self.mix = BilinearOp("bhij,bhjd->bhid")
            self.proj = nn.Linear(dim, dim)
            self.ln2 = nn.LayerNorm(dim)
            self.ff1 = nn.Linear(dim, 2 * dim)
            self.ff_act = nn.ReLU()
            self.ff2 = nn.Linear(2 * dim, dim)
            self.head = nn.Linear(dim, N_TASKS)

        def forward(self, x):
            h = self.pool(self.act(self.conv(x))).transpose(1, 2)  # (b, n, d)
            q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2)
                       for t in self.qkv(self.ln1(h)).chunk(3, dim=-1))
            att = self.softmax(self.scores(q * self.scale, k))
            h = h + self.proj(self.mix(att, v).transpose(1, 2).flatten(2))
            h = h + self.ff2(self.ff_act(self.ff1(self.ln2(h))))
            return self.head(h.mean(1))

    torch.manual_seed(seed)
    model = AttnNet()
    with torch.no_grad():  # keys and queries large enough that attention is far from uniform
        model.qkv.weight.mul_(3.0)
    return model.eval()


class EnformerHead(nn.Module):
    """Enformer on ``(N, 4, L)``: the human tracks, averaged over the kept positions: ``(N, T)``."""

    def __init__(self, enformer: nn.Module) -> None:
        super().__init__()
        self.enformer = enformer

    def forward(self, x):
        return self.enformer(x.transpose(1, 2))["human"].mean(1)


def enformer_model(seed: int, dim: int = 48, depth: int = 1, heads: int = 2) -> nn.Module:
    from enformer_pytorch import Enformer

    torch.manual_seed(seed)
    enformer = Enformer.from_hparams(dim=dim, depth=depth, heads=heads, output_heads=dict(human=N_TASKS),
                                     target_length=4, num_downsamples=3, dim_divisible_by=8, use_tf_gamma=False)
    return EnformerHead(enformer).eval()


# --- contenders: (model, x, refs) -> (contributions (N, T, 4, L) or None, pair deltas (N, R, T) or None) --
Result = tuple[torch.Tensor | None, torch.Tensor | None]


def _pairs(x: torch.Tensor, refs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n, r = refs.shape[:2]
    return x.repeat_interleave(r, 0), refs.reshape(n * r, *x.shape[1:])


def _output_deltas(model: nn.Module, x: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
    """``f(x) - f(r)`` per pair and task: ``(N*R, T)``."""
    xp, rp = _pairs(x, refs)
    with torch.no_grad():
        return model(xp) - model(rp)


def run_ours(model: nn.Module, x: torch.Tensor, refs: torch.Tensor) -> Result:
    from deeplift_genomics import attribute

    res = attribute(model, x, references=refs, rule="rescale", target=None, batch_size=256, verbose=False)
    return res.contributions, res.deltas


def run_ig(model: nn.Module, x: torch.Tensor, refs: torch.Tensor) -> Result:
    from captum.attr import IntegratedGradients

    n, r = refs.shape[:2]
    xp, rp = _pairs(x, refs)
    ig = IntegratedGradients(model)
    contrib, deltas = [], []
    for t in range(N_TASKS):
        attr, delta = ig.attribute(xp, baselines=rp, target=t, n_steps=50, internal_batch_size=512,
                                   return_convergence_delta=True)
        contrib.append(attr.detach().reshape(n, r, *x.shape[1:]).mean(1))
        deltas.append(delta.detach().reshape(n, r))
    return torch.stack(contrib, 1), torch.stack(deltas, -1)


def run_tangermeme(model: nn.Module, x: torch.Tensor, refs: torch.Tensor) -> Result:
    from tangermeme.deep_lift_shap import deep_lift_shap

    contrib, sums = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(N_TASKS):
            mult = deep_lift_shap(model, x, target=t, references=refs, batch_size=256, raw_outputs=True,
                                  device="cpu", verbose=False)  # (N, R, 4, L)
            c = mult * (x[:, None] - refs)
            contrib.append(c.mean(1))
            sums.append(c.sum((2, 3)))
    diff = _output_deltas(model, x, refs).reshape(x.shape[0], refs.shape[1], N_TASKS)
    return torch.stack(contrib, 1), torch.stack(sums, -1) - diff


def run_floor(model: nn.Module, x: torch.Tensor, refs: torch.Tensor) -> Result:
    _, rp = _pairs(x, refs)
    for t in range(N_TASKS):
        inp = rp.clone().requires_grad_(True)
        torch.autograd.grad(model(inp)[:, t].sum(), inp)
    return None, None


# --- the run ----------------------------------------------------------------------------------------------
def compare(name: str, model: nn.Module, x: torch.Tensor, refs: torch.Tensor,
            methods: dict[str, Callable], repeats: int) -> list[dict]:
    for go in methods.values():  # warm-up on two sequences
        go(model, x[:2], refs[:2])
    best = {k: float("inf") for k in methods}
    results: dict[str, Result] = {}
    for _ in range(repeats):
        for k, go in methods.items():
            t0 = time.perf_counter()
            results[k] = go(model, x, refs)
            best[k] = min(best[k], time.perf_counter() - t0)
    scale_out = float(_output_deltas(model, x, refs).abs().max())
    ours = results["ours (DeepLIFT Rescale)"][0]
    assert ours is not None
    scale_c = float(ours.abs().max())
    rows = []
    for k in methods:
        contrib, deltas = results[k]
        rows.append({
            "model": name, "method": k, "seconds": best[k], "x ours": best[k] / best["ours (DeepLIFT Rescale)"],
            "sum err": float(deltas.abs().max()) / scale_out if deltas is not None else None,
            "diff to ours": float((contrib - ours).abs().max()) / scale_c if contrib is not None else None,
        })
    return rows


def trace_costs(seed: int) -> list[dict]:
    """Seconds to trace Enformer for a new input shape, to reuse the cached trace, and to torch.export it."""
    from deeplift_genomics.engine.graph import active_rules, traced
    from deeplift_genomics.engine.tracing import trace

    def best(f: Callable[..., object], *args: object, k: int = 3) -> float:
        times = []
        for _ in range(k):
            t0 = time.perf_counter()
            f(*args)
            times.append(time.perf_counter() - t0)
        return min(times)

    rows = []
    for size, length in (((48, 1, 2), 64), ((24, 2, 2), 60)):
        model = enformer_model(seed, *size)
        x = torch.nn.functional.one_hot(torch.randint(0, 4, (1, length)), 4).transpose(1, 2).float()
        rules = active_rules(model)
        traced(model, x, rules)
        row = {"model": f"enformer dim={size[0]} depth={size[1]} heads={size[2]}, L={length}",
               "eager forward": best(model, x), "trace (new shape)": best(trace, model, x, rules),
               "cached trace": best(traced, model, x, rules)}
        try:
            row["torch.export"] = best(torch.export.export, model, (x,), k=1)
        except Exception as exc:  # report, do not stop the benchmark
            print(f"torch.export failed on {row['model']}: {type(exc).__name__}")
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-seqs", type=int, default=8)
    parser.add_argument("--refs", type=int, default=8, help="dinucleotide shuffles per sequence")
    parser.add_argument("--length", type=int, default=128, help="input length of the attn model")
    parser.add_argument("--enformer-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-trace-costs", action="store_true", help="skip the tracing-time table")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from deeplift_genomics.references.kinds import make_references

    def data(length: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(args.seed)
        idx = torch.randint(0, 4, (args.n_seqs, length), generator=g)
        x = torch.nn.functional.one_hot(idx, 4).transpose(1, 2).float()
        return x, make_references(x, "shuffle", n=args.refs, seed=args.seed).float()

    rows = []
    x, refs = data(args.length)
    rows += compare("attn (BilinearOp)", attn_model(args.seed), x, refs, {
        "ours (DeepLIFT Rescale)": run_ours, "captum IG (50 steps)": run_ig,
        "tangermeme deep_lift_shap": run_tangermeme, "gradient floor": run_floor}, args.repeats)
    x, refs = data(args.enformer_length)
    rows += compare("enformer (small)", enformer_model(args.seed), x, refs, {
        "ours (DeepLIFT Rescale)": run_ours, "captum IG (50 steps)": run_ig, "gradient floor": run_floor},
        args.repeats)

    print(f"\n{args.n_seqs} sequences x {args.refs} shuffles, {N_TASKS} tasks, float32, {args.threads} threads, "
          f"best of {args.repeats} interleaved rounds")
    print(f"{'model':20s} {'method':28s} {'seconds':>8s} {'x ours':>7s} {'sum err (rel)':>14s} {'diff to ours':>13s}")
    for r in rows:
        se = f"{r['sum err']:.1e}" if r["sum err"] is not None else "-"
        dd = f"{r['diff to ours']:.1e}" if r["diff to ours"] is not None else "-"
        print(f"{r['model']:20s} {r['method']:28s} {r['seconds']:8.3f} {r['x ours']:7.2f} {se:>14s} {dd:>13s}")
    if not args.no_trace_costs:
        print("\ntracing per input shape (best of 3, one sequence)")
        for c in trace_costs(args.seed):
            print(f"{c['model']:40s} " + "  ".join(f"{k} {v * 1e3:.1f} ms" for k, v in c.items() if k != "model"))
    return rows


if __name__ == "__main__":
    main()
