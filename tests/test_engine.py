"""build-engine: argument and capability checks before any work, the no-TensorRT message, defaults;
a real build and run where TensorRT and a GPU exist."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastscnn_edge.core.errors import MissingDependency, UserError
from fastscnn_edge.core.machine import tensorrt_available
from fastscnn_edge.engine import BuildOptions, prepare

REPO = Path(__file__).resolve().parents[1]
no_trt_only = pytest.mark.skipif(tensorrt_available(), reason="checks the message shown where TensorRT is absent")


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    d = tmp_path_factory.mktemp("models")
    specs = {"u8": ExportSpec(head="cls", res=(64, 128), output=d / "u8.onnx"),
             "i32": ExportSpec(head="cls", res=(64, 128), labels="int32", input_format="bgr8", output=d / "i32.onnx"),
             "dyn": ExportSpec(head="prob", res=(64, 128), dynamic=True, output=d / "dyn.onnx")}
    return {k: export_onnx(s, validate=False).path for k, s in specs.items()}


def _cli(capsys, *args):
    from fastscnn_edge.cli import main

    with pytest.raises(SystemExit) as e:
        main(["build-engine", *map(str, args)])
    cap = capsys.readouterr()
    return e.value.code, cap.out, cap.err


@no_trt_only
def test_without_tensorrt_one_line_exit_3_and_no_file(onnx_files, tmp_path, capsys):
    out = tmp_path / "out" / "m.engine"
    code, _, err = _cli(capsys, onnx_files["i32"], "--fp16", "-o", out, "--runtime", "tensorrt")
    assert code == 3
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: TensorRT is not installed")
    assert "pip install tensorrt" in lines[0] and "JetPack" in lines[0] and "Traceback" not in err
    assert not out.exists() and not list((tmp_path).rglob("*.engine*"))


@pytest.mark.parametrize("args,message", [
    (["--fp16", "--int8"], "pick one of --fp32, --fp16, --int8"),
    (["--int8"], "INT8 needs a Q/DQ ONNX or calibration images"),
    (["--fp16", "--calib", "."], "--calib is for --int8 only"),
    (["--res", "96x160"], "was exported for 64x128, not 96x160"),
    (["--res", "100x100"], "not a multiple of 32"),
    (["--workspace", "0"], "is not positive"),
    (["--target", "titan-xp", "--dla", "0"], "has no DLA"),
    (["--target", "jetson-orin", "--fp32", "--dla", "0"], "DLA runs FP16 and INT8 only"),
    (["--target", "mars"], "unknown target"),
])
def test_user_input_errors_come_first(onnx_files, capsys, args, message):
    code, _, err = _cli(capsys, onnx_files["i32"], *args)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1


@no_trt_only
@pytest.mark.parametrize("target", ["titan-xp", "jetson-xavier", "jetson-orin", "desktop", "auto", "rtx"])
def test_the_default_export_passes_every_check_for_every_target(artifacts, target, capsys):
    """`fastscnn-edge export` with no options, then `build-engine --fp16 --target T`: every check passes;
    where T's runtime is installed (TensorRT-RTX here) the engine is built, else it stops for TensorRT alone."""
    from fastscnn_edge.core.machine import tensorrt_rtx_available
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    src = export_onnx(ExportSpec(res=(64, 128)), validate=False).path  # the defaults, at a small size
    code, out, err = _cli(capsys, src, "--fp16", "--target", target)
    engines = sorted(p.name for p in (artifacts / "engines").glob("*")) if (artifacts / "engines").exists() else []
    if target in ("rtx", "auto", "desktop") and tensorrt_rtx_available():
        assert code == 0, err
        assert engines == ["fastscnn_paper_cls_64x128.fp16.rtx.engine", "fastscnn_paper_cls_64x128.fp16.rtx.engine.json"]
    else:
        errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
        assert code == 3 and len(errors) == 1 and "the checks passed" in errors[0], err
        assert "Traceback" not in err and all(ln.startswith(("error:", "warning:")) for ln in err.strip().splitlines())
        assert engines == []


def test_direct_int_to_uint8_label_cast_is_still_refused_for_the_titan_xp(onnx_files, tmp_path, capsys):
    """An export from before the labels went through float (ArgMax -> Cast(uint8)) cannot build on 8.x."""
    import onnx

    proto = onnx.load(str(onnx_files["u8"]))
    via = [n for n in proto.graph.node if n.op_type == "Cast" and n.name.endswith("_via_float")]
    assert len(via) == 1, "the default export sends its labels through float"
    final = [n for n in proto.graph.node if n.op_type == "Cast" and n.input[0] == via[0].output[0]][0]
    final.input[0] = via[0].input[0]
    proto.graph.node.remove(via[0])
    old = tmp_path / "old_u8.onnx"
    onnx.save(proto, str(old))
    code, _, err = _cli(capsys, old, "--target", "titan-xp")
    assert code == 2 and "export with --labels int32 for 8.x" in err and len(err.strip().splitlines()) == 1


def test_missing_onnx_and_missing_default_exports(artifacts, tmp_path, capsys):
    code, _, err = _cli(capsys, tmp_path / "nope.onnx")
    assert code == 2 and "does not exist" in err and "fastscnn-edge export" in err
    code, _, err = _cli(capsys)
    assert code == 2 and "run `fastscnn-edge export` first" in err


@no_trt_only
def test_default_inputs_are_the_default_exports(artifacts, capsys):
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    export_onnx(ExportSpec(head="cls", res=(64, 128), labels="int32"), validate=False)  # to artifacts/
    code, _, err = _cli(capsys, "--res", "64x128", "--runtime", "tensorrt")
    assert code == 3 and "TensorRT is not installed" in err  # found the file, passed the checks
    assert not (artifacts / "engines").exists() or not list((artifacts / "engines").iterdir())


def test_prepare_plans_default_path_and_profiles(artifacts, onnx_files):
    pre = prepare(onnx_files["i32"], options=BuildOptions(precision="fp16", target="jetson-orin"))
    assert pre.runtime == "tensorrt"  # a Jetson needs TensorRT proper, whatever is installed here
    assert pre.out == artifacts / "engines" / "fastscnn_paper_cls_64x128.fp16.engine"
    assert pre.plan.onnx_kind == "fp16" and pre.plan.strongly_typed and pre.static and pre.problems == []
    pre = prepare(onnx_files["dyn"], options=BuildOptions(precision="fp32", resolutions=[(64, 128), "128x256"],
                                                          workspace_gib=1.0, runtime="tensorrt"))
    assert pre.resolutions == [(64, 128), (128, 256)] and not pre.static and pre.runtime == "tensorrt"
    assert pre.out.name == "fastscnn_paper_prob_64x128_128x256.fp32.engine"
    pre = prepare(onnx_files["dyn"], options=BuildOptions(precision="fp32", resolutions=[(64, 128), (128, 256)],
                                                          target="rtx", workspace_gib=1.0, runtime="rtx"))
    assert pre.out.name == "fastscnn_paper_prob_64x128_128x256.fp32.rtx.engine" and pre.plan.generation == "rtx"
    with pytest.raises(UserError, match="dynamic input size"):
        prepare(onnx_files["dyn"], options=BuildOptions(precision="fp32"))


def test_trt_modules_import_without_tensorrt_torch_or_cuda():
    code = ("import sys, fastscnn_edge.runtime.trt, fastscnn_edge.engine, fastscnn_edge.runtime.trt.runner, "
            "fastscnn_edge.runtime.trt.lib, fastscnn_edge.runtime.cuda_buffers, fastscnn_edge.commands.engine\n"
            "bad = [m for m in ('tensorrt', 'tensorrt_rtx', 'torch', 'cuda', 'pycuda') if m in sys.modules]\n"
            "assert not bad, bad\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


@no_trt_only
def test_opening_an_engine_without_tensorrt_is_a_missing_dependency(tmp_path):
    from fastscnn_edge.runtime.backends import open_runner

    fake = tmp_path / "m.engine"
    fake.write_bytes(b"\0" * 16)
    with pytest.raises(MissingDependency, match="TensorRT is not installed"):
        open_runner(fake)


# ---------------------------------------------------------------------------------------------
# real TensorRT (skipped here: no TensorRT, no GPU)


@pytest.mark.gpu
@pytest.mark.tensorrt
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_build_and_run_agrees_with_onnxruntime(onnx_files, tmp_path, precision):
    from fastscnn_edge.engine import build_engine
    from fastscnn_edge.runtime.backends import open_runner
    from fastscnn_edge.runtime.sidecar import read_sidecar

    out = tmp_path / f"m.{precision}.engine"
    result = build_engine(onnx_files["i32"], out,
                          options=BuildOptions(precision=precision, workspace_gib=1.0, timing_cache=tmp_path / "cache.bin"))
    assert out.exists() and result.size > 0 and "fastscnn-edge bench" in result.summary()
    side = read_sidecar(out)
    assert side is not None and side.precision == precision and side.meta["input_format"] == "bgr8"
    assert (tmp_path / "cache.bin").exists()
    ref = open_runner(onnx_files["i32"])
    with open_runner(out) as run:
        x = run.random_input(np.random.default_rng(0))
        y = run(x)
        assert y.shape == (1, 64, 128) and y.dtype == np.int32
        agree = float(np.mean(y == ref(x)))
        assert agree >= (0.999 if precision == "fp32" else 0.99), agree
        t = run.timed_call(x, include_transfers=True)
        assert set(t) == {"gpu_compute", "h2d", "d2h"} and all(v > 0 for v in t.values())
        assert set(run.timed_call(x, include_transfers=False)) == {"gpu_compute"}
        run.enable_cuda_graph()
        assert float(np.mean(run(x) == y)) == 1.0


@pytest.mark.gpu
@pytest.mark.tensorrt
def test_dynamic_engine_with_two_profiles(onnx_files, tmp_path):
    from fastscnn_edge.engine import build_engine
    from fastscnn_edge.runtime.backends import open_runner

    out = tmp_path / "dyn.engine"
    build_engine(onnx_files["dyn"], out, options=BuildOptions(precision="fp32", resolutions=[(64, 128), (96, 160)],
                                                              workspace_gib=1.0))
    for res in ((64, 128), (96, 160)):
        with open_runner(out, resolution=res) as run:
            y = run(run.random_input(np.random.default_rng(0)))
            assert y.shape == (1, 19, *res)
            np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-3)


def test_default_precision_is_int8_for_a_qdq_onnx_else_fp16(onnx_files, tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from fastscnn_edge.core.precision import default_for
    from fastscnn_edge.export.onnx_rules import onnx_kind
    from fastscnn_edge.runtime.artifact import Artifact

    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(0, np.int8), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]), helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    onnx.save(helper.make_model(graph), str(tmp_path / "q.onnx"))
    assert default_for(onnx_kind(tmp_path / "q.onnx")) == "int8"
    assert default_for(Artifact.open(onnx_files["i32"]).onnx_kind) == "fp16"
    # the library's build and the CLI share that one rule: prepare() with no precision applies it
    assert prepare(onnx_files["i32"]).precision == "fp16"


@no_trt_only
def test_int8_with_calibration_converts_nothing_without_tensorrt(onnx_files, tmp_path, capsys):
    import shutil

    src = tmp_path / "m.onnx"
    shutil.copy(onnx_files["i32"], src)
    calib = tmp_path / "calib"
    calib.mkdir()
    code, _, err = _cli(capsys, src, "--int8", "--calib", calib, "--target", "jetson-orin")
    assert code == 3 and "TensorRT is not installed" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calib", "m.onnx"]  # no .int8.onnx, no engine


def test_timing_cache_folder_is_refused(onnx_files, tmp_path, capsys):
    code, _, err = _cli(capsys, onnx_files["i32"], "--timing-cache", tmp_path)
    assert code == 2 and "is a folder" in err
