"""The declarative spec and the network it builds (the authors' conv net by default)."""

from __future__ import annotations

import pytest
import torch
import torch.fx
from torch import nn

from deeplift_genomics.core.errors import InputError
from deeplift_genomics.models.spec import ModelSpec, build_model


def test_default_is_the_authors_architecture():
    model = build_model()
    layers = [(type(m), getattr(m, "weight", None)) for m in model]
    kinds = [kind for kind, _ in layers]
    assert kinds == [
        nn.Conv1d, nn.ReLU, nn.Conv1d, nn.ReLU, nn.AdaptiveAvgPool1d, nn.Flatten,
        nn.Linear, nn.ReLU, nn.Dropout, nn.Linear,
    ]  # fmt: skip
    assert tuple(model.conv1.weight.shape) == (50, 4, 11)
    assert tuple(model.conv2.weight.shape) == (50, 50, 11)
    assert model.conv1.padding == (0,) and model.conv2.padding == (0,)  # "valid"
    assert tuple(model.dense1.weight.shape) == (50, 50)
    assert tuple(model.output.weight.shape) == (3, 50)
    assert model.dropout1.p == 0.5
    # Weights + biases, counted from the layer sizes of the paper's released model.
    expected = (4 * 11 * 50 + 50) + (50 * 11 * 50 + 50) + (50 * 50 + 50) + (50 * 3 + 3)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_outputs_are_logits_of_shape_n_by_tasks():
    torch.manual_seed(0)
    model = build_model(ModelSpec(input_length=120, n_tasks=5)).eval()
    out = model(torch.rand(7, 4, 120))
    assert out.shape == (7, 5)
    # The last layer is affine: scaling its weights and bias scales the output (no sigmoid after it).
    with torch.no_grad():
        before = model(torch.ones(2, 4, 120))
        model.output.weight.mul_(3)
        model.output.bias.mul_(3)
        assert torch.allclose(model(torch.ones(2, 4, 120)), 3 * before, atol=1e-5)


def test_global_average_pooling_is_the_mean_over_positions():
    torch.manual_seed(1)
    model = build_model().eval()
    x = torch.rand(3, 4, 200)
    conv_out = model[:4](x)  # through relu_conv2
    assert conv_out.shape == (3, 50, 200 - 10 - 10)  # two valid convs of width 11
    assert torch.allclose(model.flatten(model.pool(conv_out)), conv_out.mean(dim=-1), atol=1e-6)


def test_default_model_is_fx_traceable_with_identical_outputs():
    torch.manual_seed(2)
    model = build_model().eval()
    traced = torch.fx.symbolic_trace(model)
    ops = [node.op for node in traced.graph.nodes]
    assert set(ops) == {"placeholder", "call_module", "output"}
    x = torch.rand(4, 4, 200)
    # exact on any CPU: the traced graph calls the same modules on the same shapes, so the same kernels
    assert torch.equal(traced(x), model(x))


def test_spec_dict_round_trip_and_options():
    spec = ModelSpec.from_dict(
        {
            "input_length": 100,
            "n_tasks": 2,
            "conv": [{"filters": 8, "width": 5, "padding": "same"}, [6, 3]],
            "pooling": "max",
            "pool_size": 4,
            "dense": [10, 7],
            "dropout": 0.2,
            "batchnorm": True,
        }
    )
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    # same (100) -> valid width 3 (98) -> max pool 4/4 (24 windows) x 6 channels.
    assert spec.conv_output_length() == 24
    assert spec.flat_features() == 6 * 24
    model = build_model(spec).eval()
    assert any(isinstance(m, nn.BatchNorm1d) for m in model)
    assert isinstance(model.pool, nn.MaxPool1d)
    assert model(torch.rand(3, 4, 100)).shape == (3, 2)
    assert ModelSpec.from_dict(None) == ModelSpec()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"filterz": 3}, "filterz"),
        ({"conv": [{"filters": 0, "width": 3}]}, "conv[0].filters"),
        ({"conv": [{"filters": 4, "width": 4, "padding": "same"}]}, "odd width"),
        ({"pooling": "median"}, "pooling"),
        ({"pooling": "max"}, "pool_size"),
        ({"dropout": 1.5}, "dropout"),
        ({"input_length": 15}, "too short"),
        ({"alphabet": "AACG"}, "alphabet"),
        ({"dense": 5}, "dense"),
    ],
)
def test_bad_spec_names_the_key(data, needle):
    with pytest.raises(InputError, match="cfg.yaml") as info:
        ModelSpec.from_dict(data, source="cfg.yaml")
    assert needle in str(info.value)


def test_glorot_uniform_init_by_default_as_in_keras():
    torch.manual_seed(4)
    model = build_model()
    for layer in (model.conv1, model.conv2, model.dense1, model.output):
        receptive = layer.weight[0, 0].numel() if layer.weight.dim() == 3 else 1
        fan_in, fan_out = layer.weight.shape[1] * receptive, layer.weight.shape[0] * receptive
        bound = (6.0 / (fan_in + fan_out)) ** 0.5
        assert layer.weight.abs().max() <= bound
        # A uniform on [-b, b] has standard deviation b / sqrt(3).
        assert layer.weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.2)
        assert torch.count_nonzero(layer.bias) == 0
    other = build_model(ModelSpec(init="torch_default"))
    assert torch.count_nonzero(other.conv1.bias) > 0
