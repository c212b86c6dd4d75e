"""`fastscnn-edge info`: layer table, parameter counts, checkpoint provenance, ONNX description."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fastscnn_edge.cli import app
from fastscnn_edge.core.errors import UserError
from fastscnn_edge.runtime.describe import PAPER_PARAMS, model_info, onnx_info


def _invoke(*args: str):
    return CliRunner().invoke(app, ["info", *args])


def test_arch_table_and_json(tmp_path):
    out = tmp_path / "info.json"
    r = _invoke("--arch", "tramac", "--res", "64x128", "--json", str(out))
    assert r.exit_code == 0, r.output
    info = json.loads(out.read_text())
    assert info["parameters"]["all"] == 1_138_051  # Tramac's count without the aux head (FACTS.md)
    assert info["parameters"]["conv_weights"] == 1_114_096
    assert info["config"]["conv1_padding"] == 0 and info["config"]["align_corners"] is True
    shapes = {row["name"]: row["output_shape"] for row in info["layers"]}
    assert shapes["learning_to_downsample.dsconv2"] == [1, 64, 8, 16]  # 1/8
    assert shapes["global_feature_extractor.ppm"] == [1, 128, 2, 4]  # 1/32
    assert shapes["upsample"] == [1, 19, 64, 128]
    assert "global_feature_extractor.ppm" in r.output and "1,114,096" in r.output
    assert "ffm_pw_bias=True" in r.output


def test_library_call_compares_with_the_paper():
    info = model_info(None, "paper", (64, 128))
    p = info["parameters"]
    assert p["paper"] == PAPER_PARAMS
    assert p["conv_vs_paper_percent"] == pytest.approx(100 * (p["conv_weights"] - PAPER_PARAMS) / PAPER_PARAMS, abs=0.01)
    assert abs(p["conv_vs_paper_percent"]) < 1.0  # Table 1 as built is within 1 % of the paper's 1.11 M
    assert info["checkpoint"] is None


def test_native_checkpoint_shows_its_provenance(tmp_path):
    import torch

    from fastscnn_edge.core.fileio import sha256_file
    from fastscnn_edge.model.checkpoint import from_model, save
    from fastscnn_edge.model.network import build_model

    torch.manual_seed(0)
    path = save(from_model(build_model("mmseg"), source="unit test weights"), tmp_path / "w.pt")
    out = tmp_path / "info.json"
    r = _invoke("--weights", str(path), "--res", "64x128", "--json", str(out))
    assert r.exit_code == 0, r.output
    ck = json.loads(out.read_text())["checkpoint"]
    assert ck["source"] == "unit test weights" and ck["file_sha256"] == sha256_file(path)
    assert ck["num_classes"] == 19 and len(ck["class_names"]) == 19
    assert "unit test weights" in r.output and sha256_file(path) in r.output


def test_onnx_file_metadata_io_and_ops(tmp_path):
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    res = export_onnx(ExportSpec(head="cls", res=(64, 128), output=tmp_path / "m.onnx"), validate=False)
    out = tmp_path / "info.json"
    r = _invoke("--weights", str(res.path), "--json", str(out))
    assert r.exit_code == 0, r.output
    info = json.loads(out.read_text())
    assert info["metadata"]["arch"] == "paper" and info["metadata"]["head"] == "cls"
    assert info["inputs"][0]["shape"] == [1, 3, 64, 128]
    assert info["outputs"][0]["shape"] == [1, 64, 128]
    assert info["nodes"] == sum(info["op_counts"].values()) and info["op_counts"]["Conv"] > 30
    assert "Conv" in r.output and "arch=paper" in r.output


def test_foreign_onnx_is_described_without_metadata(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    path = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(g), str(path))
    info = onnx_info(path)
    assert info["metadata"] is None and info["op_counts"] == {"Relu": 1}
    assert info["inputs"] == [{"name": "x", "dtype": "FLOAT", "shape": ["N", 4]}]
    r = _invoke("--weights", str(path))
    assert r.exit_code == 0 and "not written by fastscnn-edge" in r.output
    assert info["metadata_problem"] is None


def test_metadata_on_another_graph_is_described_with_the_refusal(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from fastscnn_edge.core.metadata import ModelMeta, write_onnx_meta

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 128])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 64, 128])])
    model = helper.make_model(g)
    write_onnx_meta(model, ModelMeta(resolution=(64, 128)))
    path = tmp_path / "dressed.onnx"
    onnx.save(model, str(path))
    info = onnx_info(path)
    assert info["metadata"] is None and "does not match its own metadata" in info["metadata_problem"]
    r = _invoke("--weights", str(path))
    assert r.exit_code == 0 and "metadata: refused:" in r.output


@pytest.mark.parametrize("args, needle", [
    (["--res", "100x200"], "not a multiple of 32"),
    (["--arch", "resnet"], "unknown architecture"),
    (["--weights", "missing.pt"], "does not exist"),
    (["--weights", "m.onnx", "--arch", "paper"], "--arch does not apply"),
    (["--weights", "foreign.pth"], "import-weights"),
])
def test_bad_input_is_one_line_user_error(tmp_path, monkeypatch, args, needle):
    import torch

    monkeypatch.chdir(tmp_path)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "foreign.pth")
    r = _invoke(*args)
    assert r.exit_code != 0 and isinstance(r.exception, UserError), r.output
    assert needle in str(r.exception) and "\n" not in str(r.exception)
