"""Which architectures attribute: exact (summation-to-delta holds), refused (named op), or failed.

Small seeded models: bpnet-lite's BPNet counts (with control tracks) and profile through its own wrappers,
ChromBPNet counts, and the toy architectures of ``tests/_toy_models.py`` (Basset-style, DeepSEA-style,
residual dilated GELU, torch.where on the input). Each is attributed in float64 with 3 dinucleotide
shuffles per sequence (``maxpool="exact"`` where the installed version has it); "exact" means the largest
|sum of contributions - (f(x) - f(r))| is below 1e-9 of the outputs.

Run against any checkout of the package to compare versions, e.g. before and after a change:
``PYTHONPATH=/path/to/checkout .venv/bin/python bench/model_coverage.py``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

LENGTH = 100


def bpnet_models():
    try:
        from bpnetlite.bpnet import BPNet, ControlWrapper, CountWrapper, ProfileWrapper
        from bpnetlite.chrombpnet import ChromBPNet
    except ImportError:
        return {}

    def bp(ctl, f=8, n=2, seed=0):
        torch.manual_seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = BPNet(n_filters=f, n_layers=n, n_control_tracks=ctl, trimming=20, verbose=False)
        with torch.no_grad():
            for p in m.parameters():
                p.normal_(0.0, 0.3)
        return m

    return {
        "bpnet-lite BPNet counts (CountWrapper(ControlWrapper), 2 control tracks)":
            (lambda: CountWrapper(ControlWrapper(bp(2, seed=1))), LENGTH),
        "bpnet-lite BPNet profile (ProfileWrapper(ControlWrapper))":
            (lambda: ProfileWrapper(ControlWrapper(bp(2, seed=2))), LENGTH),
        "bpnet-lite ChromBPNet counts (CountWrapper)":
            (lambda: CountWrapper(ChromBPNet(bp(0, 4, 1, seed=3), bp(0, seed=4))), LENGTH),
    }


def toy_models():
    from _toy_models import TOY_MODELS, toy_model

    labels = {"basset": "Basset-style (BatchNorm, max pooling, dropout)", "deepsea": "DeepSEA-style (sigmoid head)",
              "residual_dilated_gelu": "residual dilated net with GELU", "where_on_input": "torch.where on x"}
    from _toy_models import LENGTH as TOY_LENGTH

    return {labels[name]: ((lambda name=name: toy_model(name, seed=1)), TOY_LENGTH) for name in TOY_MODELS}


def status(build, length: int) -> str:
    from _engine_util import onehot

    from deeplift_genomics import attribute
    from deeplift_genomics.core.errors import UnsupportedModelError

    model = build().double().eval()
    x = onehot(3, length, 1)
    kw = dict(references="shuffle", n_references=3, dtype=torch.float64, device="cpu")
    try:
        try:
            res = attribute(model, x, maxpool="exact", **kw)
        except TypeError:  # versions without the maxpool option
            res = attribute(model, x, **kw)
    except UnsupportedModelError as exc:
        return "refused: " + str(exc).split(". Register")[0][:150]
    except Exception as exc:  # noqa: BLE001 - report anything else as a failure
        return f"failed: {type(exc).__name__}: {str(exc)[:120]}"
    rel = float(res.deltas.abs().max()) / max(1.0, float(res.outputs.abs().max()))
    return ("exact" if rel < 1e-9 else "attributes, not exact") + f" (max |delta| / max |f| = {rel:.0e})"


def main() -> int:
    import deeplift_genomics

    print(f"deeplift_genomics from {Path(deeplift_genomics.__file__).parent}")
    for label, (build, length) in {**bpnet_models(), **toy_models()}.items():
        print(f"| {label} | {status(build, length)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
