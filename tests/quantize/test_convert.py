"""FP16 and INT8 Q/DQ ONNX: I/O types, quantization form for TensorRT and CPU, held-out validation,
cache reuse, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from fastscnn_edge.core.errors import UserError, ValidationFailed
from fastscnn_edge.core.metadata import read_onnx_meta
from fastscnn_edge.export.onnx_rules import check_qdq, check_qdq_placement
from fastscnn_edge.quantize.convert import Int8Options, compare, cpu_session, synthetic_frames, to_fp16, to_int8

RES = (64, 128)


def varied_model():
    """Random weights whose BatchNorm statistics are re-estimated on smooth random frames.

    A plain random initialisation predicts one class everywhere, which would make every pixel
    agreement a trivial 100 %; this one spreads its labels over many classes with close logits,
    so precision loss shows (a harsher test than a trained model).
    """
    import torch

    from fastscnn_edge.model.network import build_model

    torch.manual_seed(0)
    model = build_model("paper", 19)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.nn.functional.interpolate(torch.randn(2, 3, 8, 16), size=RES, mode="bilinear"))
    return model.eval()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    """Tiny exports of one varied model: cls with uint8 frames in, prob with float input.

    The export's own check against PyTorch is skipped here (test_export covers it).
    """
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    d = tmp_path_factory.mktemp("models")
    model = varied_model()
    specs = {"cls": ExportSpec(res=RES, head="cls", input_format="rgb8", output=d / "cls.onnx"),
             "prob": ExportSpec(res=RES, head="prob", input_format="float", output=d / "prob.onnx")}
    return {k: export_onnx(spec, model=model, validate=False).path for k, spec in specs.items()}


@pytest.fixture(scope="module")
def calib_dir(tmp_path_factory) -> Path:
    """Ten small frames: #1 grayscale, #2 odd-sized (the preprocessing policy resizes/converts them)."""
    import cv2

    d = tmp_path_factory.mktemp("calib")
    rng = np.random.default_rng(0)
    for i in range(10):
        img = cv2.resize(rng.integers(0, 256, (4, 8, 3), dtype=np.uint8), (91, 37) if i == 2 else (96, 48))
        if i == 1:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        assert cv2.imwrite(str(d / f"frame_{i:02d}.png"), img)
    return d


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    """A tiny labelled synthetic street-scene set in the Cityscapes layout: 10 train, 4 val at 64x128."""
    from fastscnn_edge.data.synth import generate

    return generate(tmp_path_factory.mktemp("scenes"), 10, 4, RES)


@pytest.fixture(scope="module")
def trt_int8(models, calib_dir, tmp_path_factory):
    """The cls model quantized once for TensorRT (minmax); its cache sits beside it."""
    d = tmp_path_factory.mktemp("int8")
    return to_int8(models["cls"], d / "cls.int8.onnx", calib_dir, options=Int8Options(form="tensorrt", method="minmax"))


def io_types(path: Path) -> tuple:
    m = onnx.load(str(path))
    return ([i.type.tensor_type.elem_type for i in m.graph.input], [o.type.tensor_type.elem_type for o in m.graph.output])


def initializers(path: Path) -> dict:
    return {t.name: t for t in onnx.load(str(path)).graph.initializer}


@pytest.mark.parametrize("head", ["cls", "prob"])
def test_fp16_keeps_io_types_and_runs_on_cpu(models, tmp_path, head):
    src = models[head]
    r = to_fp16(src, tmp_path / "m.fp16.onnx")
    assert io_types(r.path) == io_types(src)  # uint8 frames -> uint8 labels; float -> float probs
    inits = initializers(r.path).values()
    n16 = sum(t.data_type == TensorProto.FLOAT16 for t in inits)
    assert n16 >= 45  # every Conv weight
    onnx.checker.check_model(onnx.load(str(r.path)), full_check=True)
    meta = read_onnx_meta(r.path)
    assert meta.precision == "fp16" and meta.extra["converter"].startswith("onnxconverter-common")
    assert meta.head == head and meta.resolution == RES
    v = compare(src.read_bytes(), r.path.read_bytes(), synthetic_frames(meta, RES, n=2, seed=3), head)
    assert v["pixel_agreement"] >= 0.98  # near-tied logits of the varied model; trained models: >= 99.9 %
    if head == "prob":
        assert 0 < r.validation["max_abs_diff"] < 5e-2 and v["max_abs_diff"] < 5e-2


def test_fp16_keeps_normalization_and_head_in_fp32(models, tmp_path):
    r = to_fp16(models["cls"], tmp_path / "m.fp16.onnx")
    m = onnx.load(str(r.path))
    types = {t.name: t.data_type for t in m.graph.initializer}
    sub = next(n for n in m.graph.node if n.op_type == "Sub")
    assert types[sub.input[1]] == TensorProto.FLOAT  # the 255*mean constant of the uint8 normalization
    argmax = next(n for n in m.graph.node if n.op_type == "ArgMax")
    inferred = onnx.shape_inference.infer_shapes(m)
    vi = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    assert vi[argmax.input[0]] == TensorProto.FLOAT


def quant_nodes(path: Path):
    m = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    return m, init


def test_int8_tensorrt_form(models, trt_int8):
    r = trt_int8
    m, init = quant_nodes(r.path)
    assert {o.domain for o in m.opset_import} <= {"", "ai.onnx"}  # standard ops only: TensorRT's parser reads them
    qdq = [n for n in m.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    for n in qdq:
        zp = init[n.input[2]]
        assert zp.dtype == np.int8 and not zp.any(), n.name  # symmetric int8, zero points 0 everywhere
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    producer = {o: n for n in m.graph.node for o in n.output}
    per_channel = 0
    for conv in convs[:-1]:
        dq = producer[conv.input[1]]  # int8 weights stored once, behind one DequantizeLinear
        assert dq.op_type == "DequantizeLinear" and dq.input[0] in init
        w = init[dq.input[0]]
        assert w.dtype == np.int8
        scale = init[dq.input[1]]
        axis = {a.name: a.i for a in dq.attribute}.get("axis", 1)
        assert axis == 0 and scale.shape == (w.shape[0],)
        per_channel += 1
        assert producer[conv.input[0]].op_type == "DequantizeLinear"  # activations quantized too
    assert per_channel == len(convs) - 1
    assert convs[-1].input[1] in init and init[convs[-1].input[1]].dtype == np.float32  # classifier stays float
    assert not [n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] in init]
    assert check_qdq_placement(m) == [] and check_qdq(m) == []
    assert r.size < 0.5 * models["cls"].stat().st_size  # fp32 weights + Q/DQ used to make it larger than fp32
    assert io_types(r.path) == io_types(models["cls"])
    meta = read_onnx_meta(r.path)
    assert meta.precision == "int8" and meta.extra["qdq_form"] == "tensorrt"
    assert meta.extra["quantized_op_types"] == "Add,Conv"
    assert meta.extra["calib_method"] == "minmax" and meta.extra["calib_count"] == "9"  # frame 09 held out
    assert "resize-full-frame-bilinear" in meta.extra["calib_policy"] and "rgb8" in meta.extra["calib_policy"]
    assert r.validation["frames"] == 1 and 0.3 < r.validation["pixel_agreement"] <= 1 and "held-out" in r.checked_on
    assert r.cache == r.path.with_name("cls.int8.calib.json") and r.cache.is_file() and not r.cache_reused
    calibrated = [name for name, _ in __import__("json").loads(r.cache.read_text())["images"]]
    assert len(calibrated) == 9 and "frame_09.png" not in calibrated  # validation never saw calibration images


def test_int8_tensorrt_form_with_fp32_weights(models, trt_int8, tmp_path):
    """Asked for, the weights stay fp32 behind Q/DQ pairs: same placement, same numbers, ~4x the weight bytes."""
    r = to_int8(models["cls"], tmp_path / "w.onnx", None, options=Int8Options(method="minmax", cache=trt_int8.cache, fp32_weights=True))
    m, init = quant_nodes(r.path)
    weight_q = [n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] in init]
    assert len(weight_q) == 44 and all(init[n.input[0]].dtype == np.float32 for n in weight_q)
    assert check_qdq_placement(m, int8_weights=False) == []
    assert any("quantizes the constant" in p for p in check_qdq_placement(m))
    assert r.size > 2.5 * trt_int8.size
    x = synthetic_frames(read_onnx_meta(r.path), RES, n=1, seed=5)[0]
    a = cpu_session(r.path.read_bytes()).run(None, {"frames": x})[0]
    b = cpu_session(trt_int8.path.read_bytes()).run(None, {"frames": x})[0]
    assert np.mean(a == b) > 0.99  # the same quantization, stored two ways


def test_validation_runs_on_val_images_with_ground_truth(models, scenes, tmp_path):
    """--val: agreement and mIoU of both models on labelled images calibration never saw."""
    from fastscnn_edge.data.metrics import ConfusionMatrix
    from fastscnn_edge.data.preprocess import labels_to_size, read_image_bgr, to_network_input

    train = scenes / "leftImg8bit" / "train"
    r = to_int8(models["cls"], tmp_path / "v.onnx", train, options=Int8Options(form="cpu", method="minmax", val=scenes))
    v = r.validation
    assert read_onnx_meta(r.path).extra["calib_count"] == "10"  # --val given: all of --calib calibrates
    m, init = quant_nodes(r.path)
    first = next(n for n in m.graph.node if n.op_type == "Conv")
    assert init[first.input[1]].dtype == np.float32  # uint8 frames: the first conv stays float (see qdq)
    assert v["frames"] == 4 and v["labelled"] == 4 and r.checked_on.startswith("--val")
    # the reference mIoU is the fp32 model's on the val split, computed here independently
    import onnx  # noqa: F401
    from fastscnn_edge.data import datasets

    meta = read_onnx_meta(models["cls"])
    sess = cpu_session(models["cls"].read_bytes())
    cm = ConfusionMatrix(19)
    for sample in datasets.find_samples(scenes, "cityscapes", "val"):
        bgr = read_image_bgr(sample.image)
        labels = sess.run(None, {"frames": to_network_input(bgr, meta, RES)})[0][0]
        cm.update(datasets.read_label(sample), labels_to_size(labels, bgr.shape[:2]))
    assert v["miou_reference"] == pytest.approx(cm.miou())
    assert 0 <= v["miou"] <= 1
    with pytest.raises(UserError, match="also a calibration image"):
        to_int8(models["cls"], tmp_path / "w.onnx", train, options=Int8Options(method="minmax", val=train))
    assert not (tmp_path / "w.onnx").exists()


def test_holdout_sets_images_aside_and_refuses_too_few_left(models, calib_dir, tmp_path):
    with pytest.raises(UserError, match="after holding out 5"):
        to_int8(models["cls"], tmp_path / "h.onnx", calib_dir, options=Int8Options(method="minmax", holdout=0.5))
    log: list = []
    r = to_int8(models["cls"], tmp_path / "n.onnx", calib_dir, options=Int8Options(method="minmax", holdout=0.0), log=log.append)
    assert r.checked_on.startswith("synthetic") and any("--val" in m for m in log)  # says it is not real images
    assert read_onnx_meta(r.path).extra["calib_count"] == "10"


def test_int8_cpu_form_uses_uint8_activations(models, calib_dir, tmp_path):
    import shutil

    src = tmp_path / "fastscnn_paper_prob_64x128.onnx"
    shutil.copy(models["prob"], src)
    r = to_int8(src, None, calib_dir, options=Int8Options(form="cpu", method="minmax"))
    assert r.path == tmp_path / "fastscnn_paper_prob_64x128.int8-cpu.onnx"  # beside the source, own suffix
    assert r.cache == tmp_path / "fastscnn_paper_prob_64x128.int8-cpu.calib.json"
    m, init = quant_nodes(r.path)
    q_types = {init[n.input[2]].dtype for n in m.graph.node if n.op_type == "QuantizeLinear"}
    assert q_types == {np.dtype(np.uint8)}
    w_types = {init[n.input[2]].dtype for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in init}
    assert np.dtype(np.int8) in w_types
    producer = {o: n for n in m.graph.node for o in n.output}
    first = next(n for n in m.graph.node if n.op_type == "Conv")
    assert init[producer[first.input[1]].input[0]].shape[1] == 4  # float input: padded to 4 channels, int8
    # every op type onnxruntime has int8 kernels for, not just Conv/Add (issue 12: that was slower than fp32)
    assert {"Conv", "Add", "Concat", "MatMul", "Resize"} <= set(read_onnx_meta(r.path).extra["quantized_op_types"].split(","))
    # The varied random model has near-tied logits everywhere; int8 still agrees far above chance (1/19).
    assert r.validation["pixel_agreement"] > 0.3 and 0 < r.validation["max_abs_diff"] <= 1
    x = synthetic_frames(read_onnx_meta(r.path), RES, n=1)[0]
    y = cpu_session(r.path.read_bytes()).run(None, {"input": x})[0]
    assert y.shape == (1, 19, *RES) and y.dtype == np.float32
    from fastscnn_edge.engine import BuildOptions, prepare
    from fastscnn_edge.runtime.artifact import Artifact

    assert Artifact.open(r.path).qdq_form == "cpu"
    with pytest.raises(UserError, match="is the INT8 CPU form") as e:  # TensorRT takes the other form
        prepare(r.path, options=BuildOptions(precision="int8"))
    assert "--int8" in e.value.fix
    np.testing.assert_allclose(y.sum(1), 1.0, atol=1e-3)  # the softmax head stayed float


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_histogram_methods_calibrate(models, calib_dir, tmp_path, method):
    r = to_int8(models["cls"], tmp_path / "m.onnx", calib_dir, options=Int8Options(method=method, count=8))
    assert read_onnx_meta(r.path).extra["calib_method"] == method and read_onnx_meta(r.path).extra["calib_count"] == "8"
    ranges = __import__("json").loads(r.cache.read_text())["ranges"]
    assert ranges and all(lo <= hi for lo, hi in ranges.values())


def test_cache_reuse_without_images_is_byte_identical(models, calib_dir, trt_int8, tmp_path):
    again = to_int8(models["cls"], tmp_path / "b.onnx", None, options=Int8Options(method="minmax", cache=trt_int8.cache))
    assert again.cache_reused
    assert again.path.read_bytes() == trt_int8.path.read_bytes()
    # Same images, same cache: the calibration pass is skipped.
    log: list[str] = []
    to_int8(models["cls"], tmp_path / "c.onnx", calib_dir, options=Int8Options(method="minmax", cache=trt_int8.cache), log=log.append)
    assert any("reusing calibration ranges" in m for m in log)
    assert (tmp_path / "c.onnx").read_bytes() == trt_int8.path.read_bytes()


def test_cache_for_another_method_target_or_model_is_refused(models, trt_int8, tmp_path):
    cache = trt_int8.cache
    with pytest.raises(UserError, match="method 'minmax'"):
        to_int8(models["cls"], tmp_path / "b.onnx", None, options=Int8Options(method="entropy", cache=cache))
    with pytest.raises(UserError, match="target .tensorrt."):
        to_int8(models["cls"], tmp_path / "b.onnx", None, options=Int8Options(method="minmax", form="cpu", cache=cache))
    with pytest.raises(UserError, match="different ONNX"):
        to_int8(models["prob"], tmp_path / "c.onnx", None, options=Int8Options(method="minmax", cache=cache))
    with pytest.raises(UserError, match="calibration images or a calibration cache"):
        to_int8(models["cls"], tmp_path / "d.onnx", None)
    assert list(tmp_path.iterdir()) == []


def test_refuses_already_reduced_models(models, calib_dir, trt_int8, tmp_path):
    fp16 = to_fp16(models["cls"], tmp_path / "m.fp16.onnx").path
    for src in (fp16, trt_int8.path):
        with pytest.raises(UserError, match="already"):
            to_fp16(src, tmp_path / "again.onnx")
        with pytest.raises(UserError, match="already"):
            to_int8(src, tmp_path / "again.onnx", calib_dir)
    assert not (tmp_path / "again.onnx").exists()


def test_refuses_to_overwrite_the_source(models, tmp_path):
    import shutil

    src = tmp_path / "m.onnx"
    shutil.copy(models["cls"], src)
    before = src.read_bytes()
    with pytest.raises(UserError, match="is the input model"):
        to_fp16(src, tmp_path / "." / "m.onnx")
    assert src.read_bytes() == before


def test_bad_calibration_folder_leaves_nothing(models, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no images here")
    with pytest.raises(UserError, match="no readable images"):
        to_int8(models["cls"], tmp_path / "out.onnx", empty)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_failed_bar_writes_nothing(models, calib_dir, tmp_path):
    with pytest.raises(ValidationFailed, match="nothing was written"):
        to_fp16(models["prob"], tmp_path / "x.onnx", min_agreement=1.0000001)
    with pytest.raises(ValidationFailed):
        to_int8(models["cls"], tmp_path / "y.onnx", calib_dir, options=Int8Options(method="minmax", count=8, min_agreement=1.0000001))
    assert list(tmp_path.iterdir()) == []  # neither model nor cache


def test_default_fp16_name_sits_beside_the_fp32_file(models, tmp_path):
    import shutil

    src = tmp_path / "fastscnn_paper_cls_64x128.onnx"
    shutil.copy(models["cls"], src)
    assert to_fp16(src).path == tmp_path / "fastscnn_paper_cls_64x128.fp16.onnx"  # = paths.default_onnx(..., "fp16")


def test_cli_fp16_and_int8_one_line_results_and_errors(models, trt_int8, tmp_path, capsys):
    from fastscnn_edge.cli import main

    def run(*args: str) -> int:
        with pytest.raises(SystemExit) as e:
            main(list(args))
        return int(e.value.code)

    assert run("quantize", str(models["cls"]), "--fp16", "-o", str(tmp_path / "a.onnx")) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith(str(tmp_path / "a.onnx")) and "next: fastscnn-edge build-engine" in out[-1]
    assert "pixel agreement" in out[-2]
    assert run("quantize", str(models["cls"]), "--int8", "--cache", str(trt_int8.cache), "--calib-method", "minmax",
               "-o", str(tmp_path / "b.onnx")) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "cache reused" in out[0] and "int8 (tensorrt)" in out[-1]
    assert (tmp_path / "b.onnx").read_bytes() == trt_int8.path.read_bytes()
    assert run("quantize", str(models["cls"]), "--int8", "-o", str(tmp_path / "c.onnx")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --int8 needs calibration images")
    assert run("quantize", str(tmp_path / "a.onnx"), "--fp16", "-o", str(tmp_path / "d.onnx")) == 2
    assert "already" in capsys.readouterr().err
    assert not (tmp_path / "c.onnx").exists() and not (tmp_path / "d.onnx").exists()


def test_cli_points_cpu_only_machines_to_target_cpu(models, calib_dir, trt_int8, tmp_path, capsys, monkeypatch):
    """Default form on a machine without TensorRT or GPU: one line naming --form cpu; not when asked explicitly."""
    import fastscnn_edge.quantize.convert as quantize
    from fastscnn_edge.cli import main

    def run(*args: str) -> tuple:
        with pytest.raises(SystemExit) as e:
            main(list(args))
        captured = capsys.readouterr()
        return int(e.value.code), captured.out, captured.err

    args = ("quantize", str(models["cls"]), "--int8", "--calib", str(calib_dir), "--calib-method", "minmax")
    monkeypatch.setattr(quantize, "cpu_only_machine", lambda: True)
    code, out, err = run(*args, "-o", str(tmp_path / "a.onnx"), "--cache", str(trt_int8.cache))
    hints = [line for line in err.splitlines() if "--form cpu" in line]
    assert code == 0 and len(hints) == 1 and "int8 (tensorrt)" in out
    assert "over 1 held-out --calib image(s)" in out  # what agreement was measured on, and how many
    code, _, err = run(*args, "-o", str(tmp_path / "b.onnx"), "--cache", str(trt_int8.cache), "--form", "tensorrt")
    assert code == 0 and "--form cpu" not in err
    monkeypatch.setattr(quantize, "cpu_only_machine", lambda: False)
    code, _, err = run(*args, "-o", str(tmp_path / "c.onnx"), "--cache", str(trt_int8.cache))
    assert code == 0 and "--form cpu" not in err


def test_quantize_runs_without_torch(models, trt_int8, tmp_path):
    """quantize.py and calibration.py are torch-free: a Jetson or CI box without torch can use them."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "tensorrt"):
                    raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        sys.meta_path.insert(0, Block())
        from pathlib import Path
        from fastscnn_edge.quantize.convert import Int8Options, to_fp16, to_int8
        to_fp16(Path({str(models["cls"])!r}), Path({str(tmp_path / "a.onnx")!r}))
        to_int8(Path({str(models["cls"])!r}), Path({str(tmp_path / "b.onnx")!r}), None, options=Int8Options(method="minmax", cache=Path({str(trt_int8.cache)!r})))
        assert "torch" not in sys.modules
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[2])
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "b.onnx").read_bytes() == trt_int8.path.read_bytes()


# Ops the TensorRT ONNX parser (8.6 and later) imports natively; the exports use no others.
from fastscnn_edge.export.onnx_rules import SUPPORTED_OPS as TRT_PARSER_OPS  # noqa: E402 - onnx-tensorrt operators.md


def test_reduced_graphs_stay_parseable_by_tensorrt_8_6(models, trt_int8, tmp_path):
    """Standard-domain ops TensorRT imports, opset <= 17 (TensorRT 8.6's parser), static shapes."""
    fp16 = to_fp16(models["prob"], tmp_path / "p.fp16.onnx").path
    for path in (fp16, trt_int8.path):
        m = onnx.load(str(path))
        assert {n.op_type for n in m.graph.node} <= TRT_PARSER_OPS, path.name
        assert all(n.domain in ("", "ai.onnx") for n in m.graph.node)
        assert [(o.domain, o.version) for o in m.opset_import] == [("", 17)]
        for v in list(m.graph.input) + list(m.graph.output):
            assert all(d.dim_value > 0 for d in v.type.tensor_type.shape.dim), (path.name, v.name)
