"""import_bpnet_lite: a torch.save'd bpnet-lite model becomes a safetensors + JSON model directory, safely.

Skipped without bpnet-lite, except where the environment variable CI is set (make setup installs it).
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from _bpnet_util import skip_without_bpnet_lite

try:
    from bpnetlite.bpnet import BPNet, ControlWrapper, CountWrapper, ProfileWrapper
    from bpnetlite.chrombpnet import ChromBPNet
except ImportError as exc:
    skip_without_bpnet_lite(exc)

from _engine_util import onehot

from deeplift_genomics import attribute
from deeplift_genomics.core.errors import InputError
from deeplift_genomics.models.bpnet_lite import import_bpnet_lite, load_bpnet_lite_file
from deeplift_genomics.models.files import load_model

LENGTH = 120


def bpnet(n_control: int, n_filters: int = 6, n_layers: int = 2, seed: int = 0) -> BPNet:
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BPNet(n_filters=n_filters, n_layers=n_layers, n_control_tracks=n_control, trimming=25,
                      profile_output_bias=seed % 2 == 0, verbose=False)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    model.logger.start()  # a trained model's logger holds its log (plain lists)
    model.logger.add([1, 2, 0.5, 0.5, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, True])
    return model.eval()


def models():
    yield "bpnet_control", bpnet(2, seed=1)
    yield "bpnet", bpnet(0, seed=2)
    yield "chrombpnet", ChromBPNet(bpnet(0, n_filters=4, n_layers=1, seed=3), bpnet(0, seed=4)).eval()


@pytest.mark.parametrize("wrapper", ["count", "profile"])
@pytest.mark.parametrize("name,model", list(models()))
def test_imported_directory_loads_and_attributes_like_the_original(tmp_path, name, model, wrapper):
    src = tmp_path / f"{name}.torch"
    torch.save(model, src)
    path = import_bpnet_lite(src, tmp_path / "out", wrapper=wrapper, input_length=LENGTH)
    meta = json.loads(path.read_text())
    assert meta["module"] == "deeplift_genomics.models.bpnet_lite:BpnetLiteModel"
    assert meta["kwargs"]["architecture"]["class"].startswith("bpnetlite.")
    assert not any(p.suffix in (".pt", ".torch", ".pkl") for p in (tmp_path / "out").iterdir())
    lm = load_model(tmp_path / "out")
    assert lm.input_length == LENGTH and lm.task_names == ["counts" if wrapper == "count" else "profile"]
    original = (CountWrapper if wrapper == "count" else ProfileWrapper)(ControlWrapper(model)).eval()
    x = onehot(2, LENGTH, 5, torch.float32)
    with torch.no_grad():
        # exact on any CPU: the imported module is the original architecture with the same weights (pure
        # copies), run on the same shapes, so the same kernels
        torch.testing.assert_close(lm.model(x), original(x), rtol=0, atol=0)
    kw = dict(references="shuffle", n_references=2, device="cpu")
    # exact: same architecture, same weights (pure copies), same shapes, same kernels
    torch.testing.assert_close(attribute(lm.model, x, **kw).contributions, attribute(original, x, **kw).contributions,
                               rtol=0, atol=0)


class _Marker:
    """Unpickling this runs code: it would write a marker file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_payload_that_runs_code_is_refused_with_its_class_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    src = tmp_path / "evil.torch"
    torch.save({"model": bpnet(0), "x": _Marker(marker)}, src)
    with pytest.raises(InputError, match=r"evil.torch: refused: the file asks for (builtins|io)\.open"):
        import_bpnet_lite(src, tmp_path / "out", input_length=LENGTH)
    assert not marker.exists()
    assert not (tmp_path / "out").exists()
    # the check is real: a plain pickle load would have run it
    torch.load(src, weights_only=False)
    assert marker.exists()


def test_a_module_class_outside_bpnet_lite_is_refused_by_name(tmp_path):
    src = tmp_path / "other.torch"
    torch.save(torch.nn.Sequential(torch.nn.Conv1d(4, 2, 3)), src)
    with pytest.raises(InputError, match=r"asks for torch\.nn\.modules\.container\.Sequential"):
        load_bpnet_lite_file(src)


@pytest.mark.parametrize("make,match", [
    (lambda d: d / "missing.torch", "not found"),
    (lambda d: (d / "junk.torch").write_bytes(b"not a zip") and d / "junk.torch", "not a readable"),
])
def test_missing_and_corrupt_files_are_refused(tmp_path, make, match):
    with pytest.raises(InputError, match=match):
        import_bpnet_lite(make(tmp_path), tmp_path / "out", input_length=LENGTH)


def test_bad_options_are_refused(tmp_path):
    src = tmp_path / "m.torch"
    torch.save(bpnet(0), src)
    with pytest.raises(InputError, match="holds the input"):
        import_bpnet_lite(src, tmp_path, input_length=LENGTH)
    with pytest.raises(InputError, match="wrapper"):
        import_bpnet_lite(src, tmp_path / "out", wrapper="counts", input_length=LENGTH)
    with pytest.raises(InputError, match="does not run on input_length 40"):
        import_bpnet_lite(src, tmp_path / "out", input_length=40)


def test_a_model_directory_written_by_0_2_loads_without_a_warning(tmp_path, recwarn):
    # 0.2 named the class by its old module path; the directory must load as it is
    src = tmp_path / "bpnet.torch"
    torch.save(bpnet(0, seed=2), src)
    path = import_bpnet_lite(src, tmp_path / "out", input_length=LENGTH)
    meta = json.loads(path.read_text())
    meta["module"] = "deeplift_genomics.bpnet_lite:BpnetLiteModel"
    path.write_text(json.dumps(meta))
    lm = load_model(tmp_path / "out")
    assert type(lm.model).__module__ == "deeplift_genomics.models.bpnet_lite"
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning) and "moved" in str(w.message)]
