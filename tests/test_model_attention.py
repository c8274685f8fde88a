"""The conv + attention architecture: its spec, the net it builds, saving, training and exact DeepLIFT."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from deeplift_genomics.core.errors import InputError
from deeplift_genomics.models.spec import (
    ARCHITECTURES,
    AttentionSpec,
    ModelSpec,
    PositionalTerm,
    architecture_name,
    build_model,
    named_architecture,
)

F64 = torch.float64


def small_spec(**attention) -> ModelSpec:
    """A small attention net of 60 bp: conv(8, 5) -> max pool 4 -> 14 positions of width 8."""
    att = {"layers": 2, "heads": 2, "dim": 8, "ffn": 16, "dropout": 0.0, **attention}
    return ModelSpec.from_dict({"input_length": 60, "n_tasks": 2, "conv": [[8, 5]], "pooling": "max",
                                "pool_size": 4, "dense": [6], "dropout": 0.0, "attention": att})


def onehot(n: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 4, (n, length), generator=g)
    return nn.functional.one_hot(idx, 4).permute(0, 2, 1).to(F64)


# ------------------------------------------------------------------------------------------------- spec
def test_named_architecture_round_trips_through_dict_and_json():
    spec = ModelSpec.from_dict(named_architecture("conv_attention"))
    assert isinstance(spec.attention, AttentionSpec)
    again = ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert architecture_name(spec) == "conv_attention"
    assert architecture_name(spec.with_data_shape(200, 5)) == "conv_attention"
    assert architecture_name(ModelSpec()) == "benchmark"
    assert architecture_name(small_spec()) == "conv + attention"
    # a conv net's dict has no attention key, so its model.json is as before attention existed
    assert "attention" not in ModelSpec().to_dict()
    # the caller may change the copy without changing the named spec
    named_architecture("conv_attention")["attention"]["layers"] = 9
    assert ARCHITECTURES["conv_attention"]["attention"]["layers"] == 1


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"attention": {"heads": 3}}, r"attention.heads \(3\) must divide attention.dim"),
        ({"attention": {"dim": 0}}, "attention.dim must be a positive integer"),
        ({"attention": {"layers": 1.5}}, "attention.layers must be a positive integer"),
        ({"attention": {"dropout": 1.0}}, r"attention.dropout must be a number in \[0, 1\)"),
        ({"attention": {"norm_first": "yes"}}, "attention.norm_first must be true or false"),
        ({"attention": {"activation": "tanh"}}, "attention.activation must be one of"),
        ({"attention": {"positional": "rotary"}}, "attention.positional must be one of"),
        ({"attention": {"readout": "cls"}}, "attention.readout must be one of"),
        ({"attention": {"head": 4}}, r"attention: unknown key\(s\) \['head'\]"),
        ({"attention": 4}, "attention must be a mapping"),
        ({"pooling": "global_avg"}, "with attention, pooling must be 'max' or 'avg'"),
    ],
)
def test_bad_attention_spec_names_the_key(change, needle):
    data = named_architecture("conv_attention")
    for key, value in change.items():
        if key == "attention" and isinstance(value, dict):
            data["attention"].update(value)
        else:
            data[key] = value
    with pytest.raises(InputError, match=needle) as info:
        ModelSpec.from_dict(data, source="cfg.yaml")
    message = str(info.value)
    assert message.startswith("cfg.yaml: ") and "\n" not in message


def test_unknown_architecture_name_is_refused():
    with pytest.raises(InputError, match="unknown architecture 'transformer'.*conv_attention"):
        named_architecture("transformer")


# -------------------------------------------------------------------------------------------- the net
@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "none"])
@pytest.mark.parametrize("norm_first", [True, False])
def test_builds_standard_modules_and_maps_n_4_l_to_n_t(positional, norm_first):
    spec = small_spec(positional=positional, norm_first=norm_first, activation="gelu")
    torch.manual_seed(0)
    model = build_model(spec).eval()
    encoders = [m for m in model if isinstance(m, nn.TransformerEncoderLayer)]
    assert len(encoders) == 2 and all(e.norm_first == norm_first for e in encoders)
    assert encoders[0].self_attn.num_heads == 2 and encoders[0].linear1.out_features == 16
    assert not hasattr(model, "project")  # the stem's 8 filters already have the attention width
    assert hasattr(model, "positional") == (positional != "none")
    state = model.state_dict()
    # a learned positional term is a weight; a sinusoidal one is a function of the shape, not saved
    assert ("positional.weight" in state) == (positional == "learned")
    out = model(onehot(5, 60, 1).float())
    assert out.shape == (5, 2)
    assert spec.conv_output_length() == (60 - 4) // 4  # positions seen by attention


def test_projection_and_mean_readout_are_what_they_say():
    spec = ModelSpec.from_dict({**small_spec().to_dict(), "conv": [[12, 5]]})
    torch.manual_seed(1)
    model = build_model(spec).eval()
    assert tuple(model.project.weight.shape) == (8, 12, 1)
    x = onehot(3, 60, 2).float()
    names = [name for name, _ in model.named_children()]
    upto = names.index("encoder2") + 1
    tokens = model[:upto](x)  # (N, positions, dim)
    assert tokens.shape == (3, 14, 8)
    readout = model[upto:names.index("flatten") + 1](tokens)
    torch.testing.assert_close(readout, tokens.mean(dim=1), rtol=1e-6, atol=1e-6)


def test_sinusoidal_term_is_the_transformers_table():
    term = PositionalTerm(10, 6, "sinusoidal")
    pos, i = 7, 2  # dimension 2i = 4 is sin(pos / 10000^(4/6)), 2i + 1 = 5 is its cosine
    angle = pos / 10000 ** (2 * i / 6)
    assert float(term.weight[0, pos, 4]) == pytest.approx(np.sin(angle), abs=1e-6)
    assert float(term.weight[0, pos, 5]) == pytest.approx(np.cos(angle), abs=1e-6)


def test_saved_attention_model_loads_with_the_same_outputs(tmp_path):
    from deeplift_genomics.models.files import load_model, save_model

    spec = small_spec()
    torch.manual_seed(3)
    model = build_model(spec).eval()
    save_model(model, tmp_path / "m", spec=spec, task_names=["a", "b"])
    loaded = load_model(tmp_path / "m", device="cpu")
    assert loaded.spec == spec
    x = onehot(4, 60, 3).float()
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model(x), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------- DeepLIFT
def _engine_supports_attention() -> bool:
    from deeplift_genomics import attribute
    from deeplift_genomics.core.errors import UnsupportedModelError

    try:
        attribute(build_model(small_spec()).eval(), onehot(1, 60, 0), references="zeros", device="cpu",
                  dtype=F64)
    except UnsupportedModelError:
        return False
    return True


@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel", "genomics_default"])
@pytest.mark.parametrize(
    "attention",
    [{}, {"norm_first": False, "activation": "gelu"}, {"positional": "sinusoidal", "readout": "max"}],
)
def test_deeplift_sums_to_the_output_difference_in_float64(rule, attention):
    from deeplift_genomics import attribute

    if not _engine_supports_attention():
        pytest.skip("this engine has no DeepLIFT rules for attention")
    torch.manual_seed(4)
    model = build_model(small_spec(**attention)).eval().to(F64)
    x = onehot(6, 60, 5)
    g = torch.Generator().manual_seed(6)
    refs = torch.stack([xi[:, torch.randperm(60, generator=g)] for xi in x])[:, None]  # one shuffle each
    # maxpool="exact": the stem's max pooling as Rescale ReLUs keeps summation-to-delta with any reference
    res = attribute(model, x, rule=rule, references=refs, device="cpu", dtype=F64, maxpool="exact")
    with torch.no_grad():
        diff = model(x) - model(refs[:, 0])  # an independent forward pass, not the engine's
    total = res.contributions.sum(dim=(2, 3))
    assert float(diff.abs().min()) > 1e-3  # the check below is not trivially met
    assert float((total - diff).abs().max()) <= 1e-10 * float(diff.abs().max())


# ------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_small_attention_net_learns_planted_motifs_about_as_well_as_their_pwm_scan(seed):
    from data_sim.motifs import Motif
    from deeplift_genomics.models.baselines import pwm_scan_metrics
    from deeplift_genomics.models.train import TrainConfig, train_model
    from tests._model_util import MOTIFS, planted_dataset

    data = planted_dataset(n=800, length=60, seed=seed)
    spec = ModelSpec.from_dict({
        "input_length": 60, "n_tasks": 2, "conv": [[16, 7]], "pooling": "max", "pool_size": 2, "dense": [16],
        "dropout": 0.0,
        "attention": {"layers": 1, "heads": 2, "dim": 16, "ffn": 32, "dropout": 0.0, "readout": "max"},
    })  # fmt: skip
    _, _, metrics = train_model(data, spec, TrainConfig(lr=3e-3, epochs=12, patience=4), seed=seed)
    test = data.split == "test"
    # the planted 6-mers as PWMs: their scan is the independent answer the net is held against
    motifs = {f"has_{m}": [Motif(m, np.eye(4)[["ACGT".index(c) for c in m]] * 0.96 + 0.01)] for m in MOTIFS}
    scan = pwm_scan_metrics(data.onehot[test], data.labels[test], data.task_names, motifs)
    for task in data.task_names:
        net = metrics["test"]["auroc"][task]
        assert net > 0.9, (task, net)  # chance is 0.5
        assert net > scan["auroc"][task] - 0.1, (task, net, scan["auroc"][task])


def test_train_command_takes_the_named_architecture(tmp_path, caplog):
    from _benchmark_util import simulate

    from deeplift_genomics.cli import main
    from deeplift_genomics.models.files import load_model

    data = simulate(tmp_path / "data", n_per_class=8, seed=1)
    out = tmp_path / "attention"
    assert main(["train", "--data", str(data), "--out", str(out), "--architecture", "conv_attention",
                 "--epochs", "1", "--no-kmer-baseline", "-q"]) == 0
    loaded = load_model(out, device="cpu")
    assert loaded.spec is not None and architecture_name(loaded.spec) == "conv_attention"
    assert json.loads((out / "model.json").read_text())["spec"]["attention"]["heads"] == 4
    caplog.clear()
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "bad"), "--architecture", "transformer",
                 "--epochs", "1"]) == 2
    assert "--architecture: neither a named architecture" in caplog.text
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("rule", ["rescale", "reveal_cancel", "genomics_default"])
def test_the_named_net_sums_exactly_with_the_default_settings(rule):
    from deeplift_genomics import attribute

    if not _engine_supports_attention():
        pytest.skip("this engine has no DeepLIFT rules for attention")
    # conv_attention's stem pools by average, which is linear: no maxpool option is needed for exactness
    spec = ModelSpec.from_dict({**named_architecture("conv_attention"), "input_length": 80, "n_tasks": 3})
    torch.manual_seed(7)
    model = build_model(spec).eval().to(F64)
    x = onehot(4, 80, 8)
    res = attribute(model, x, rule=rule, references="shuffle", n_references=3, device="cpu", dtype=F64,
                    return_references=True)
    refs = res.references  # (N, R, 4, L)
    with torch.no_grad():
        f_refs = model(refs.reshape(-1, 4, 80)).reshape(4, 3, -1)
        diff = model(x)[:, None] - f_refs  # (N, R, T), an independent forward pass
    assert float(diff.abs().min()) > 1e-4
    assert float(res.deltas.abs().max()) <= 1e-10 * float(diff.abs().max())
    # the engine's deltas are those of this forward pass: contributions (averaged over R) sum to the mean
    torch.testing.assert_close(res.contributions.sum(dim=(2, 3)), diff.mean(dim=1), rtol=1e-10, atol=1e-10)
