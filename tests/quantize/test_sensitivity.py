"""Mixed INT8: per-layer sensitivity, the drop budget, --exclude, on a model made hard to quantize.

The hard model is the trained demo model with one channel per inverted bottleneck rescaled by k
(``synth.outlier_channels``): the same fp32 function, but one activation channel k times wider,
which per-tensor INT8 scales crush. Everything runs on onnxruntime (CPU); the TensorRT form is also
parsed and built by TensorRT-RTX.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from fastscnn_edge.core.errors import UserError, ValidationFailed
from fastscnn_edge.core.metadata import read_onnx_meta

RES = (64, 128)
K = 500.0
DEMO = Path(__file__).resolve().parents[2] / "models" / "demo" / "fastscnn_synth.pt"
RESCALED = re.compile(r"^global_feature_extractor\.bottleneck\d\.\d\.conv_(dw|pw)\.0$")


@pytest.fixture(scope="module")
def data(tmp_path_factory):  # noqa: ANN201
    """Synthetic labelled scenes, the demo model's fp32 export and its rescaled ("hard") twin."""
    import torch

    from fastscnn_edge.data.synth import generate, outlier_channels
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
    from fastscnn_edge.model.checkpoint import resolve_model

    d = tmp_path_factory.mktemp("sens")
    generate(d / "scenes", 12, 6, RES)
    model, ckpt = resolve_model(DEMO, None)
    x = torch.rand(2, 3, *RES)
    with torch.no_grad():
        before = model(x)
        easy = export_onnx(ExportSpec(weights=DEMO, res=RES, head="cls", output=d / "easy.onnx"), model=model,
                           checkpoint=ckpt, validate=False).path
        outlier_channels(model, K)
        after = model(x)
    hard = export_onnx(ExportSpec(weights=DEMO, res=RES, head="cls", output=d / "hard.onnx"), model=model,
                       checkpoint=ckpt, validate=False).path
    return {"dir": d, "scenes": d / "scenes", "calib": d / "scenes" / "leftImg8bit" / "train", "easy": easy,
            "hard": hard, "max_logit_diff": float((after - before).abs().max()), "model": model}


def _int8(data, out: Path, **kw):  # noqa: ANN001, ANN202
    from fastscnn_edge.quantize.convert import Int8Options, to_int8

    kw.setdefault("form", "tensorrt")
    progress = kw.pop("progress", None)
    return to_int8(data["hard"], out, data["calib"], progress=progress,
                   options=Int8Options(**{"method": "minmax", "val": data["scenes"], "count": 12, **kw}))


def test_the_rescaled_model_is_the_same_function_with_one_wide_channel(data):  # noqa: ANN001
    import torch

    from fastscnn_edge.quantize.convert import compare

    assert data["max_logit_diff"] < 1e-3  # ReLU(kx) = k ReLU(x): the fp32 network is unchanged
    v = compare(data["easy"].read_bytes(), data["hard"].read_bytes(), _val_inputs(data), "cls")
    assert v["pixel_agreement"] > 0.9999
    # ... but the depthwise conv's input now has one channel about k times wider than the others
    x = np.concatenate(_val_inputs(data))
    assert x.dtype == np.float32 and x.shape[1] == 3  # the default export: normalized NCHW floats
    block = data["model"].global_feature_extractor.bottleneck1[0]
    with torch.no_grad():
        act = block.conv_pw(data["model"].learning_to_downsample(torch.from_numpy(x)))
    peak = act.amax(dim=(0, 2, 3))
    assert peak[0] > 20 * peak[1:].median(), (peak[0], peak[1:].median())


def _val_inputs(data):  # noqa: ANN001, ANN202
    from fastscnn_edge.quantize.quant_eval import image_frames

    meta = read_onnx_meta(data["easy"])
    return image_frames(sorted((data["scenes"] / "leftImg8bit" / "val").rglob("*.png")), meta, RES, "val").inputs


def test_layer_names_are_module_paths_with_the_paper_modules():
    from fastscnn_edge.quantize.sensitivity import module_path

    assert module_path("/net/global_feature_extractor/bottleneck1/bottleneck1.0/conv_dw/conv_dw.0/Conv") == \
        "global_feature_extractor.bottleneck1.0.conv_dw.0"
    assert module_path("/net/feature_fusion/Add") == "feature_fusion.add"
    assert module_path("/net/classifier/conv/Conv") == "classifier.conv"
    assert module_path("weird") == "weird"


def test_sensitivity_ranks_the_rescaled_layers_worst_and_the_budget_holds(data, tmp_path):  # noqa: ANN001
    """The TensorRT form here; the CPU form through the CLI below."""
    from fastscnn_edge.quantize.convert import cpu_session

    form = "tensorrt"

    r = _int8(data, tmp_path / "mixed.onnx", form=form, max_drop=1.0, sensitivity=True)
    plan = r.plan
    assert plan.metric == "mIoU points" and plan.labelled == 6
    assert plan.plain.drop > 5.0  # plain INT8 collapses on this model
    ranked = plan.ranked()
    assert len(ranked) == plan.all_layers > 40
    assert all(RESCALED.match(s.layer.name) for s in ranked[:3]), [s.layer.name for s in ranked[:3]]
    assert ranked[0].layer.module == "global feature extractor" and ranked[0].score.drop > 3.0
    assert ranked[-1].score.drop < 0.5  # most layers cost next to nothing alone
    # the budget: within 1 point, with a few of the rescaled layers float and the rest INT8
    assert 0 < len(plan.float_layers) <= 12
    assert all(RESCALED.match(x.name) for x in plan.float_layers)
    v = r.validation  # the written file's own check, independent of the search
    assert v["miou_reference"] - v["miou"] <= 0.01 + 1e-9
    assert abs(100 * (v["miou_reference"] - v["miou"]) - plan.final.drop) < 1e-6
    meta = read_onnx_meta(r.path)
    assert meta.extra["float_layers"].split(",") == [x.name for x in plan.float_layers]
    assert meta.extra["max_drop"] == "1 mIoU points"
    cpu_session(r.path.read_bytes())
    import onnx

    from fastscnn_edge.export.onnx_rules import check_qdq, check_qdq_placement

    proto = onnx.load(str(r.path))
    assert check_qdq(proto) == [] and check_qdq_placement(proto) == []
    assert plan.speed_ms == {}  # TensorRT's speed is TensorRT's: not faked from onnxruntime


def test_a_float_layer_reads_float_values(data, tmp_path):  # noqa: ANN001
    """CPU form: a float depthwise conv gets its input through a rebuilt ReLU, not a Q/DQ pair."""
    import onnx

    r = _int8(data, tmp_path / "x.onnx", form="cpu", exclude=["global_feature_extractor.bottleneck1.0.conv_dw.0"])
    g = onnx.load(str(r.path)).graph
    producer = {o: n for n in g.node for o in n.output}
    dw = next(n for n in g.node if n.name.endswith("bottleneck1.0/conv_dw/conv_dw.0/Conv"))
    src = producer[dw.input[0]]
    assert src.op_type == "Relu"  # the ReLU the quantizer folded into a range, put back
    assert producer[src.input[0]].op_type == "Conv"  # on the expansion's float output
    assert r.plan is not None and [x.name for x in r.plan.forced] == ["global_feature_extractor.bottleneck1.0.conv_dw.0"]
    assert r.plan.final.drop < r.plan.plain.drop


def test_exclude_by_prefix_and_unknown_names(data, tmp_path):  # noqa: ANN001
    r = _int8(data, tmp_path / "ppm.onnx", exclude=["global_feature_extractor.ppm"])
    kept = read_onnx_meta(r.path).extra["float_layers"].split(",")
    assert kept and all(k.startswith("global_feature_extractor.ppm.") for k in kept) and len(kept) == 5
    out = tmp_path / "nope.onnx"
    with pytest.raises(UserError) as e:
        _int8(data, out, exclude=["global_feature_extractor.bottleneck9"])
    assert "not a quantizable layer" in str(e.value) and "learning_to_downsample.conv.0" in e.value.fix
    assert not out.exists()


def test_budgets_that_cannot_hold_write_nothing(data, tmp_path):  # noqa: ANN001
    from tests.quantize.test_convert import varied_model

    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
    from fastscnn_edge.quantize.convert import Int8Options, to_int8

    out = tmp_path / "never.onnx"
    with pytest.raises(UserError):
        _int8(data, out, max_drop=-0.1)
    # random weights with close logits (every layer's INT8 flips some pixels) and no ground truth
    # (plain images: agreement points): a budget of 0 points cannot hold with any layer in INT8
    fragile = export_onnx(ExportSpec(res=RES, head="cls", output=tmp_path / "fragile.onnx"), model=varied_model(),
                          validate=False).path
    plain = tmp_path / "plain"
    plain.mkdir()
    for p in sorted((data["scenes"] / "leftImg8bit" / "val").rglob("*.png")):
        (plain / p.name).write_bytes(p.read_bytes())
    with pytest.raises(ValidationFailed) as e:
        to_int8(fragile, out, data["calib"], options=Int8Options(form="cpu", method="minmax", val=plain, count=12, max_drop=0.0))
    assert "cannot be met" in str(e.value) and "agreement points" in str(e.value)
    assert e.value.exit_code == 4
    assert not out.exists() and not list(tmp_path.glob("never*"))


def test_the_easy_model_needs_no_float_layer(data, tmp_path):  # noqa: ANN001
    from fastscnn_edge.quantize.convert import Int8Options, to_int8

    r = to_int8(data["easy"], tmp_path / "e.onnx", data["calib"], options=Int8Options(form="tensorrt", method="minmax", val=data["scenes"], count=12, max_drop=1.0))
    assert r.plan.float_layers == [] and r.plan.sensitivity == []  # plain INT8 fits: nothing measured per layer
    assert "float_layers" not in read_onnx_meta(r.path).extra


def test_cli_sensitivity_budget_and_json(data, tmp_path, capsys):  # noqa: ANN001
    from fastscnn_edge.cli import main as cli_main

    def main(args) -> int:  # noqa: ANN001
        with pytest.raises(SystemExit) as e:
            cli_main(args)
        return int(e.value.code or 0)

    plan = tmp_path / "plan.json"
    out = tmp_path / "m.onnx"
    rc = main(["quantize", str(data["hard"]), "--int8", "--calib", str(data["calib"]), "--val", str(data["scenes"]),
               "--calib-method", "minmax", "--calib-count", "12", "--form", "cpu", "--max-drop", "1",
               "--sensitivity", "--json", str(plan), "-o", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and out.exists()
    assert "| 1 | global_feature_extractor.bottleneck" in text and "float layers (" in text
    assert "cost on onnxruntime CPU" in text
    doc = json.loads(plan.read_text())
    assert doc["metric"] == "mIoU points" and doc["max_drop"] == 1.0 and doc["labelled"] == 6
    assert [row["rank"] for row in doc["sensitivity"]] == list(range(1, len(doc["sensitivity"]) + 1))
    assert all(RESCALED.match(row["name"]) for row in doc["sensitivity"][:3])
    assert doc["plain_int8"]["drop"] > 5.0 and doc["result"]["drop"] <= 1.0
    assert 0 < len(doc["float_layers"]) <= 12 and all(RESCALED.match(x["name"]) for x in doc["float_layers"])
    assert set(doc["cpu_speed_ms"]) == {"fp32", "plain", "mixed"} and doc["size_bytes"]["mixed"] > 0
    v = read_onnx_meta(out).extra
    assert v["qdq_form"] == "cpu" and v["float_layers"].split(",") == [x["name"] for x in doc["float_layers"]]
    # bad input: one line, non-zero, nothing written
    bad = tmp_path / "bad.onnx"
    rc = main(["quantize", str(data["hard"]), "--int8", "--calib", str(data["calib"]), "--exclude", "nope",
               "-o", str(bad)])
    err = capsys.readouterr().err
    assert rc != 0 and not bad.exists() and "nope" in err and len(err.strip().splitlines()) <= 2
    rc = main(["quantize", str(data["hard"]), "--fp16", "--max-drop", "1"])
    assert rc != 0 and "--int8 only" in capsys.readouterr().err


@pytest.mark.rtx
@pytest.mark.parametrize("float_type", ["fp32", "fp16"])
def test_tensorrt_rtx_parses_and_builds_the_mixed_tensorrt_form(data, tmp_path, float_type):  # noqa: ANN001
    import onnx

    from fastscnn_edge.export.onnx_rules import check_onnx
    from fastscnn_edge.runtime.trt import lib

    r = _int8(data, tmp_path / "mixed.onnx", float_type=float_type,
              exclude=["global_feature_extractor.bottleneck1.0.conv_dw.0", "global_feature_extractor.ppm"])
    proto = onnx.load(str(r.path))
    if float_type == "fp16":  # FP16 float parts: fp16 weights and Q/DQ scales (opset 19), fp32 I/O and head
        assert next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 19
        dq = next(n for n in proto.graph.node if n.op_type == "DequantizeLinear")
        scales = {t.name: t.data_type for t in proto.graph.initializer}
        assert scales[dq.input[1]] == onnx.TensorProto.FLOAT16
        assert read_onnx_meta(r.path).extra["float_type"] == "fp16"
        assert proto.graph.input[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT16
    assert r.validation["pixel_agreement"] > 0.5  # onnxruntime ran it and it is not noise
    assert check_onnx(r.path, generation="rtx", static=True, int8=True) == []
    if float_type == "fp16":  # our own rule for what the RTX parser cannot tell: 8.x takes FP32 scales only
        assert any("--float fp32" in p for p in check_onnx(r.path, generation="8", static=True, int8=True))
    built = lib.build_serialized(lib.BuildRequest(onnx=r.path, strongly_typed=True, flags=[], runtime="rtx", profiles=[]))
    assert len(built.plan) > 100_000


def test_float_fp16_is_for_the_tensorrt_form_only(data, tmp_path):  # noqa: ANN001
    with pytest.raises(UserError) as e:
        _int8(data, tmp_path / "x.onnx", form="cpu", float_type="fp16")
    assert "--form tensorrt" in e.value.fix and not (tmp_path / "x.onnx").exists()


def test_calibration_report_names_the_wide_channels_and_the_percentile_is_a_flag(data, tmp_path):  # noqa: ANN001
    from fastscnn_edge.quantize.calibration import load_cache
    from fastscnn_edge.quantize.convert import Int8Options, to_int8

    hard = _int8(data, tmp_path / "h.onnx", validate=False)
    wide = [o for o in hard.outliers if o.kind == "one wide channel"]
    assert wide and all(any(RESCALED.match(n) for n in o.layers) for o in wide)
    assert "--max-drop" in wide[0].advice() and wide[0].channel_ratio > 10
    easy = to_int8(data["easy"], tmp_path / "e.onnx", data["calib"], options=Int8Options(method="minmax", count=12, validate=False, val=data["scenes"]))
    assert not [o for o in easy.outliers if o.kind == "one wide channel"]  # the same model without the rescale
    # --calib-percentile: its own cache key (a cut of 99.9 gives other ranges than the default's)
    a = to_int8(data["easy"], tmp_path / "p1.onnx", data["calib"], options=Int8Options(method="percentile", count=12, validate=False, val=data["scenes"]))
    b = to_int8(data["easy"], tmp_path / "p2.onnx", data["calib"], options=Int8Options(method="percentile", count=12, validate=False, val=data["scenes"], percentile=99.9))
    ra, rb = load_cache(a.cache)["ranges"], load_cache(b.cache)["ranges"]
    assert load_cache(a.cache)["key"] != load_cache(b.cache)["key"] and ra != rb
    assert read_onnx_meta(b.path).extra["calib_percentile"] == "99.9"
    with pytest.raises(UserError):
        to_int8(data["easy"], tmp_path / "p3.onnx", data["calib"], options=Int8Options(method="minmax", percentile=99.9))
