"""bpnet-lite's BPNet and ChromBPNet, through its own wrappers, against its own deep_lift_shap.

``bpnetlite.attribute.deep_lift_shap`` is tangermeme's DeepLIFT/SHAP with bpnet-lite's modules
(``_ProfileLogitScaling``, ``_Log``, ``_Exp``) registered as Rescale nonlinearities: an independent
implementation of the same rule. On the same references, our Rescale contributions must equal its
scores, and sum to the output differences. Small seeded random models keep this to seconds.

bpnet-lite is an optional test dependency that ``make setup`` installs; without it the module is
skipped, except where the environment variable ``CI`` is set, where its absence fails.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from _bpnet_util import skip_without_bpnet_lite

try:
    from bpnetlite.attribute import deep_lift_shap
    from bpnetlite.bpnet import BPNet, ControlWrapper, CountWrapper, ProfileWrapper
    from bpnetlite.chrombpnet import ChromBPNet
    from tangermeme.ersatz import dinucleotide_shuffle
except ImportError as exc:
    skip_without_bpnet_lite(exc)

from _engine_util import onehot

from deeplift_genomics import attribute

LENGTH = 100
TRIM = 20


def bpnet(n_control: int, n_filters: int = 8, n_layers: int = 2, seed: int = 0) -> BPNet:
    """A small BPNet with seeded weights large enough to make every ReLU switch."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BPNet(n_filters=n_filters, n_layers=n_layers, n_control_tracks=n_control, trimming=TRIM,
                      verbose=False)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model


def wrapped(kind: str) -> torch.nn.Module:
    if kind == "count_control":
        return CountWrapper(ControlWrapper(bpnet(2, seed=1)))
    if kind == "count":
        return CountWrapper(ControlWrapper(bpnet(0, seed=2)))
    if kind == "profile_control":
        return ProfileWrapper(ControlWrapper(bpnet(2, seed=3)))
    if kind == "profile":
        return ProfileWrapper(bpnet(0, seed=4))
    if kind == "chrombpnet_count":
        return CountWrapper(ChromBPNet(bpnet(0, n_filters=4, n_layers=1, seed=5), bpnet(0, seed=6)))
    raise ValueError(kind)


KINDS = ["count_control", "count", "profile_control", "profile", "chrombpnet_count"]


def _inputs(dtype):
    x = onehot(3, LENGTH, 7, dtype)
    refs = dinucleotide_shuffle(x.float(), n=4, random_state=0).to(dtype)
    return x, refs


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-5), (torch.float32, 1e-4)])
@pytest.mark.parametrize("kind", KINDS)
def test_rescale_equals_bpnetlite_deep_lift_shap(kind, dtype, tol):
    # float64: the two implementations of the rule agree (measured ~1e-14); float32 adds rounding of
    # the order of 1e-5 of the largest score on the profile head (sums over 2 x 60 logits)
    model = wrapped(kind).to(dtype).eval()
    x, refs = _inputs(dtype)
    ours = attribute(model, x, rule="rescale", references=refs, dtype=dtype, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = deep_lift_shap(model, x, references=refs, device="cpu", warning_threshold=1e9)
    # their scores are the hypothetical contributions at the observed base
    mine = ours.hypothetical[:, 0] * x
    scale = float(theirs.abs().max())
    assert scale > 0
    assert float((mine - theirs).abs().max()) <= tol * scale
    # and our per-base sum is their per-position score
    torch.testing.assert_close(ours.projected[:, 0], theirs.sum(1), rtol=0, atol=tol * scale)


@pytest.mark.parametrize("rule", ["rescale", "genomics_default", "reveal_cancel"])
@pytest.mark.parametrize("kind", KINDS)
def test_contributions_sum_to_the_output_difference(kind, rule):
    model = wrapped(kind).double().eval()
    x, refs = _inputs(torch.float64)
    res = attribute(model, x, rule=rule, references=refs, dtype=torch.float64, device="cpu")
    scale = max(1.0, float(res.outputs.abs().max()))
    assert float(res.deltas.abs().max()) / scale < 1e-9


def test_outputs_are_the_wrapped_models_outputs():
    for kind in KINDS:
        model = wrapped(kind).double().eval()
        x, _ = _inputs(torch.float64)
        res = attribute(model, x, references="zeros", dtype=torch.float64, device="cpu")
        with torch.no_grad():
            torch.testing.assert_close(res.outputs, model(x), rtol=1e-12, atol=1e-12)


def test_nothing_is_registered_by_the_user():
    from deeplift_genomics.engine.rules import USER_RULES

    assert not USER_RULES
    attribute(wrapped("profile_control").double(), onehot(1, LENGTH, 0), references="zeros",
              dtype=torch.float64, device="cpu")
    assert not USER_RULES
