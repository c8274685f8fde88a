"""Why bpnet-lite's BPNet profile head keeps a float32 error near 1e-2: where it comes from, with numbers.

bpnet-lite's rule for its profile scaling ``y = z * softmax(z)`` (``_ProfileLogitScaling``, registered as a
Rescale nonlinearity, as ``bpnetlite.attribute.deep_lift_shap`` does) uses the per-element ratio
``m_i = Δy_i / Δz_i``. ``y_i`` depends on every logit through the softmax, so ``Δy_i`` does not vanish
with ``Δz_i``: ``m_i`` grows like ``1 / Δz_i`` and the scores depend on ``Δz_i`` with a weight of about
``(m_i - s_i) / Δz_i`` (an error ``δ`` in ``Δz_i`` moves the scores by ``δ (m_i - s_i) C_i / Δz_i``, ``C_i``
the contributions to ``Δz_i``). For each net (bpnet-lite's default initial weights, ``--layers`` dilated
layers, ``--length`` bp, seeds ``--seeds``; ``--seqs`` x ``--refs`` shuffles; Rescale) this prints, as
``max |error| / max |score|`` against float64 of the same computation:

- ``float32``: the engine in float32 (the difference stream);
- ``float64, float32 Δz``: float64 throughout but the scaling op's input difference (the logits' Δz) and
  sequence activation taken from the float32 run: the share of the error that float32's Δz carries;
- ``float32, float64 Δz``: float32 throughout but that op's Δz and activation from a float64 run (what
  computing only the logits' Δz in float64 reaches; the rest of the net's float32 rounding stays);
- ``weights ± ulp/2``: float64 of the same net with every weight multiplied by ``1 ± eps32/2`` (random
  signs, 3 draws, the largest change shown): the conditioning of the scores in the weights, i.e. what the
  weights' own float32 representation leaves undetermined. No float32 computation can be expected to be
  closer to float64 than this;
- the smallest ``|Δz|`` of the logits, float32's relative error there, and the largest multiplier.

Run: ``.venv/bin/python bench/profile_conditioning.py [--seeds 0,1,2] [--length 700]``; ``--json PATH``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from deeplift_genomics.engine import differences
from deeplift_genomics.references.kinds import make_references

sys.path.insert(0, str(Path(__file__).resolve().parent))
from precision import bpnet_lite_model, onehot, scores  # noqa: E402

SCALING = "_ProfileLogitScaling"


@contextlib.contextmanager
def scaling_inputs(record: list, replace: list | None = None) -> Iterator[None]:
    """Record the scaling op's ``(Δz, z)`` (and multipliers) per call; with ``replace``, compute the op
    from those ``(Δz, z)`` instead (cast to each run's dtype), so one run's Δz enters another's rule."""
    orig = differences.RescaleDeltaFn.forward

    def forward(ctx: Any, d_in, x_in, x_out, f, elem):  # type: ignore[no-untyped-def]
        if elem.name != SCALING:
            return orig(ctx, d_in, x_in, x_out, f, elem)
        saved: list = []
        real = ctx.save_for_backward
        ctx.save_for_backward = lambda *t: saved.extend(t)
        if replace is not None:
            d_use, x_use = (t.to(d_in.dtype) for t in replace.pop(0))
            out = orig(ctx, d_use, x_use, f(x_use), f, elem)
        else:
            out = orig(ctx, d_in, x_in, x_out, f, elem)
        record.append((d_in.detach().clone(), x_in.detach().clone(), saved[0].detach().clone()))
        real(saved[0])
        return out

    differences.RescaleDeltaFn.forward = staticmethod(forward)
    try:
        yield
    finally:
        differences.RescaleDeltaFn.forward = staticmethod(orig)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--seqs", type=int, default=4)
    p.add_argument("--refs", type=int, default=4)
    p.add_argument("--length", type=int, default=700)
    p.add_argument("--filters", type=int, default=64)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--draws", type=int, default=3, help="weight perturbations per net (3)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    dev = torch.device("cpu")
    eps32 = torch.finfo(torch.float32).eps
    print(f"# BPNet profile head, Rescale, {args.seqs} sequences x {args.refs} shuffles, {args.length} bp, "
          f"{args.layers} layers; max |error| / max |score| against float64")
    print(f"{'seed':>4s} {'float32':>9s} {'f64,f32 Δz':>11s} {'f32,f64 Δz':>11s} {'w ± ulp/2':>10s} "
          f"{'min |Δz|':>9s} {'max |Δz|':>9s} {'relerr there':>12s} {'max |m|':>8s} {'median |m|':>10s}")
    rows = {}
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        model = bpnet_lite_model("bpnet_profile", args.filters, args.layers, seed)
        if model is None:
            print("bpnet-lite is not installed")
            return {}
        x = onehot(args.seqs, args.length, seed)
        refs = make_references(x, "shuffle", n=args.refs, seed=0)
        rec64: list = []
        rec32: list = []
        with scaling_inputs(rec64):
            want = scores(copy.deepcopy(model), x, refs, torch.float64, dev)
        with scaling_inputs(rec32):
            got = scores(copy.deepcopy(model), x, refs, torch.float32, dev)
        scale = float(want.abs().max())

        def err(a: torch.Tensor, want: torch.Tensor = want, scale: float = scale) -> float:
            return float((a - want).abs().max()) / scale

        with scaling_inputs([], replace=[(d, z) for d, z, _ in rec32]):
            f64_with_32 = scores(copy.deepcopy(model), x, refs, torch.float64, dev)
        with scaling_inputs([], replace=[(d, z) for d, z, _ in rec64]):
            f32_with_64 = scores(copy.deepcopy(model), x, refs, torch.float32, dev)
        moved = 0.0
        for k in range(args.draws):
            m = copy.deepcopy(model).double()
            gen = torch.Generator().manual_seed(1000 + k)
            with torch.no_grad():
                for w in m.parameters():
                    sign = 2 * torch.randint(0, 2, w.shape, generator=gen).double() - 1
                    w.mul_(1 + 0.5 * eps32 * sign)
            moved = max(moved, err(scores(m, x, refs, torch.float64, dev)))
        d64 = torch.cat([d for d, _, _ in rec64]).flatten()
        d32 = torch.cat([d for d, _, _ in rec32]).flatten().double()
        m64 = torch.cat([s for _, _, s in rec64]).flatten()
        j = int(d64.abs().argmin())
        row = {"float32": err(got), "float64_with_float32_dz": err(f64_with_32),
               "float32_with_float64_dz": err(f32_with_64), "weights_half_ulp": moved,
               "min_abs_dz": float(d64.abs()[j]), "max_abs_dz": float(d64.abs().max()),
               "float32_relative_error_at_min_dz": float((d32[j] - d64[j]).abs() / d64[j].abs()),
               "max_abs_multiplier": float(m64.abs().max()), "median_abs_multiplier": float(m64.abs().median())}
        rows[seed] = row
        print(f"{seed:4d} {row['float32']:9.2e} {row['float64_with_float32_dz']:11.2e} "
              f"{row['float32_with_float64_dz']:11.2e} {row['weights_half_ulp']:10.2e} {row['min_abs_dz']:9.2e} "
              f"{row['max_abs_dz']:9.2e} {row['float32_relative_error_at_min_dz']:12.2e} "
              f"{row['max_abs_multiplier']:8.2e} {row['median_abs_multiplier']:10.2e}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
