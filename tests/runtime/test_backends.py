"""The runner layer: the same numbers from the checkpoint (torch) and its ONNX (onnxruntime)."""

import numpy as np
import pytest
import torch

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
from fastscnn_edge.model.checkpoint import from_model, save
from fastscnn_edge.model.network import build_model
from fastscnn_edge.runtime.backends import open_runner


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(3)
    return save(from_model(build_model("paper").eval(), source="t"), tmp_path_factory.mktemp("c") / "w.pt")


@pytest.mark.parametrize("head", ["cls", "prob", "logits"])
def test_torch_and_onnxruntime_runners_agree(tmp_path, ckpt, head):
    onnx_path = export_onnx(ExportSpec(weights=ckpt, head=head, res=(64, 128), output=tmp_path / "m.onnx")).path
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
    with open_runner(ckpt, head=head, resolution=(64, 128)) as t, open_runner(onnx_path, backend="onnxruntime") as o:
        assert (t.backend, o.backend) == ("torch", "onnxruntime")
        yt, yo = t(t.preprocess(bgr)), o(o.preprocess(bgr))
        assert yt.shape == yo.shape
        lt, lo = t.labels(yt), o.labels(yo)
        assert lt.shape == lo.shape == ((1, 64, 128))
        assert np.mean(lt == lo) >= 0.9999
        assert o.random_input(rng).shape == o.io.input_shape


def test_resolution_mismatch_and_wrong_backend(tmp_path):
    p = export_onnx(ExportSpec(res=(64, 128), output=tmp_path / "m.onnx")).path
    with pytest.raises(UserError, match="exported for 64x128"):
        open_runner(p, resolution=(128, 256))
    with pytest.raises(UserError, match="the tensorrt backend does not run it.*fastscnn-edge build-engine"):
        open_runner(p, backend="tensorrt")
    with pytest.raises(UserError, match="does not exist"):
        open_runner(tmp_path / "nope.onnx")
    with pytest.raises(UserError, match="extension"):
        open_runner(__file__)


def test_reference_model_without_artifact():
    with open_runner(None, backend="torch", resolution=(64, 64), head="prob") as r:
        y = r(r.random_input(np.random.default_rng(0)))
    assert y.shape == (1, 19, 64, 64) and np.allclose(y.sum(1), 1, atol=1e-5)
