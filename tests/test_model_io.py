"""Model directories: round trips, users' own modules, and every way loading must refuse a file."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from deeplift_genomics.core.errors import InputError
from deeplift_genomics.models.files import check_compatible, export_user_model, load_model, save_model
from deeplift_genomics.models.spec import ModelSpec, build_model
from tests._model_util import TinyUserNet

SPEC = ModelSpec(input_length=40, n_tasks=2, conv=((6, 5), (4, 3)), dense=(5,), dropout=0.5)


class _Marker:
    """Unpickling this creates the file ``path``: proof that a loader ran code from the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = build_model(SPEC)
    out = tmp_path / "model"
    save_model(model, out, spec=SPEC, task_names=["a", "b"], training={"lr": 1e-3}, data_checksum="abc")
    return out, model


def _edit_json(model_dir: Path, **changes) -> None:
    path = model_dir / "model.json"
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    path.write_text(json.dumps(meta))


def test_round_trip_gives_identical_outputs_and_metadata(saved):
    out, model = saved
    lm = load_model(out)
    x = torch.rand(5, 4, 40)
    model.eval()
    # exact on any CPU: the weights are a pure copy (safetensors), same module, same input shapes, so the same
    # kernels
    assert torch.equal(lm.model(x), model(x))
    assert not lm.model.training
    assert (lm.input_length, lm.alphabet, lm.task_names) == (40, "ACGT", ["a", "b"])
    assert lm.spec == SPEC
    meta = lm.metadata
    assert meta["format"] == "deeplift-genomics-model" and meta["format_version"] == 1
    assert meta["training"] == {"lr": 1e-3} and meta["data_checksum"] == "abc"
    assert meta["package_version"]
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.safetensors"]
    # Loading through model.json itself is the same model.
    # exact: same weights (pure copies), same module, same shapes, same kernels
    assert torch.equal(load_model(out / "model.json").model(x), lm.model(x))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_weights_are_refused_without_running_code(saved, tmp_path):
    out, _ = saved
    marker = tmp_path / "pwned"
    # A raw pickle and a torch.save zip, both carrying an object whose unpickling creates the marker.
    with open(out / "evil.pt", "wb") as handle:
        pickle.dump({"conv1.weight": _Marker(marker)}, handle)
    torch.save({"conv1.weight": _Marker(marker)}, out / "evil_zip.pt")
    for name in ("evil.pt", "evil_zip.pt"):
        _edit_json(out, weights=name, weights_sha256=None)
        with pytest.raises(InputError, match="refused"):
            load_model(out)
    _edit_json(out, weights="weights.pkl")
    (out / "weights.pkl").write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(InputError, match="pickle-based weights are refused"):
        load_model(out)
    assert not marker.exists()


def test_a_bare_pickle_or_a_directory_of_pickles_is_not_a_model(tmp_path):
    marker = tmp_path / "pwned"
    bare = tmp_path / "model.pkl"
    bare.write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(InputError, match="not loaded"):
        load_model(bare)
    folder = tmp_path / "pickles"
    folder.mkdir()
    torch.save(_Marker(marker), folder / "model.pt")
    with pytest.raises(InputError, match="no model.json.*model.pt"):
        load_model(folder)
    assert not marker.exists()


def test_truncated_safetensors_is_refused(saved):
    out, _ = saved
    weights = out / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(InputError, match="truncated, corrupt"):
        load_model(out)
    # Without the checksum (a hand-written model.json) the safetensors reader itself refuses it.
    _edit_json(out, weights_sha256=None)
    with pytest.raises(InputError, match="not a readable safetensors file"):
        load_model(out)


def test_weights_that_do_not_fit_the_spec_name_the_tensor(saved):
    out, _ = saved
    other = SPEC.to_dict()
    other["conv"][0]["filters"] = 7
    _edit_json(out, spec=other)
    with pytest.raises(InputError, match=r"'conv1.weight' has shape \[6, 4, 5\].*needs \[7, 4, 5\]"):
        load_model(out)
    other = SPEC.to_dict()
    other["dense"] = [5, 5]
    _edit_json(out, spec=other)
    with pytest.raises(InputError, match="missing tensor"):
        load_model(out)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"format": "keras"}, "not a deeplift-genomics model"),
        ({"format_version": 99}, "format_version"),
        ({"input_length": 41}, "differs from the spec"),
        ({"task_names": ["a"]}, "n_tasks=2"),
        ({"alphabet": None}, "missing field 'alphabet'"),
        ({"weights": "../elsewhere.safetensors"}, "file name inside the model directory"),
        ({"spec": None}, "no architecture"),
    ],
)
def test_malformed_model_json_is_refused(saved, change, needle):
    out, _ = saved
    _edit_json(out, **change)
    with pytest.raises(InputError, match="model.json") as info:
        load_model(out)
    assert needle in str(info.value)


def test_not_a_model_directory(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "missing")
    with pytest.raises(InputError, match="no model.json"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_model(tmp_path)


def test_check_compatible(saved):
    lm = load_model(saved[0])
    check_compatible(lm, 40, "ACGT")
    with pytest.raises(InputError, match="length 50 .* length 40"):
        check_compatible(lm, 50, "ACGT", source="reads.fa")
    with pytest.raises(InputError, match="alphabet 'TGCA'"):
        check_compatible(lm, 40, "TGCA")


def test_user_module_by_import_path_loads_and_runs(tmp_path):
    torch.manual_seed(3)
    net = TinyUserNet(channels=5, n_tasks=3).eval()
    out = tmp_path / "user"
    export_user_model(
        net, out, kwargs={"channels": 5, "n_tasks": 3}, input_length=30, task_names=["x", "y", "z"]
    )
    meta = json.loads((out / "model.json").read_text())
    assert meta["module"] == "tests._model_util:TinyUserNet" and "spec" not in meta
    lm = load_model(out)
    assert isinstance(lm.model, TinyUserNet) and lm.spec is None
    x = torch.rand(4, 4, 30)
    # exact: same weights (pure copies), same module, same shapes, same kernels
    assert torch.equal(lm.model(x), net(x))
    # The same model as a hand-written model.json beside a torch.save'd state_dict (.pt).
    hand = tmp_path / "hand"
    hand.mkdir()
    torch.save(net.state_dict(), hand / "weights.pt")
    (hand / "model.json").write_text(
        json.dumps(
            {
                "format": "deeplift-genomics-model",
                "format_version": 1,
                "module": "tests._model_util:TinyUserNet",
                "kwargs": {"channels": 5, "n_tasks": 3},
                "weights": "weights.pt",
                "input_length": 30,
                "alphabet": "ACGT",
                "task_names": ["x", "y", "z"],
            }
        )
    )
    # exact: same weights (pure copies), same module, same shapes, same kernels
    assert torch.equal(load_model(hand).model(x), net(x))
    # Wrong kwargs: the weights no longer fit, named by tensor.
    _edit_json(hand, kwargs={"channels": 6, "n_tasks": 3})
    with pytest.raises(InputError, match="'conv.weight' has shape"):
        load_model(hand)
    # Output count must match the task names.
    _edit_json(hand, kwargs={"channels": 5, "n_tasks": 3}, task_names=["x", "y"])
    with pytest.raises(InputError, match=r"expected \[2, 2\]"):
        load_model(hand)


def test_module_path_must_name_an_nn_module_class_before_anything_is_called(saved, tmp_path):
    out, _ = saved
    marker = tmp_path / "called"
    _edit_json(out, spec=None, module="builtins:open", kwargs={"file": str(marker), "mode": "w"})
    with pytest.raises(InputError, match="not a torch.nn.Module subclass"):
        load_model(out)
    assert not marker.exists()
    _edit_json(out, module="no_such_package_xyz.nets:Net", kwargs={})
    with pytest.raises(InputError, match="cannot import 'no_such_package_xyz.nets'"):
        load_model(out)
    _edit_json(out, module="os; rm -rf /", kwargs={})
    with pytest.raises(InputError, match="package.module:ClassName"):
        load_model(out)
