"""The benchmark harness: planning (auto choice, bad input), the timing loop, reports, CLI."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fastscnn_edge.bench import cases as bench
from fastscnn_edge.bench import timing
from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.machine import tensorrt_available
from fastscnn_edge.runtime import ov_runtime

REPO = Path(__file__).resolve().parents[2]
RES = (64, 128)
FAST = ["--warmup", "2", "--iters", "5"]


def _cli(args):
    from fastscnn_edge.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(map(str, args)))
    return exc.value.code


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    """cls and prob exports at 64x128 (random weights), outside the default folder."""
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    d = tmp_path_factory.mktemp("onnx")
    out = {}
    for head in ("cls", "prob"):
        out[head] = export_onnx(ExportSpec(head=head, res=RES, output=d / f"{head}.onnx"), validate=False).path
    return out


# --- planning -------------------------------------------------------------------------------


def test_plan_defaults_to_paper_resolutions_with_torch():
    ts = bench.select_cases([], backend="torch", device="cpu")
    assert [t.res for t in ts] == [(1024, 2048), (512, 1024), (256, 512)]
    assert all(t.backend == "torch" and t.artifact is None and t.head == "cls" for t in ts)


def test_plan_auto_picks_default_onnx_and_says_why(artifacts):
    from fastscnn_edge.core.paths import default_onnx
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    export_onnx(ExportSpec(head="cls", res=RES), validate=False)
    (t,) = bench.select_cases([], resolutions=[RES], device="cpu")
    # the CPU runtime is the documented rule's choice (OpenVINO where installed), and the reason says so
    want = "openvino" if ov_runtime.available() else "onnxruntime"
    assert t.backend == want and t.path == default_onnx("paper", "cls", RES)
    assert want in t.reason and str(t.path) in t.reason
    assert ("OpenVINO is installed" if want == "openvino" else "OpenVINO is not installed") in t.reason
    # a resolution with nothing exported is refused with the command that makes it (no random-weight substitute)
    with pytest.raises(UserError) as e:
        bench.select_cases([], resolutions=[(96, 160)], device="cpu")
    assert "nothing to benchmark" in str(e.value) and "fastscnn-edge export --head cls --res 96x160" in e.value.fix
    # an fp16 request with no fp16 file names the quantize command, instead of timing the fp32 one
    with pytest.raises(UserError) as e:
        bench.select_cases([], resolutions=[RES], device="cpu", precision="fp16")
    assert "no fp16 model" in str(e.value) and "fastscnn-edge quantize" in e.value.fix and "--fp16" in e.value.fix


def test_plan_artifact_uses_its_resolution_and_head(tiny_onnx):
    (t,) = bench.select_cases([tiny_onnx["prob"]], device="cpu")
    assert (t.res, t.head, t.backend) == (RES, "prob", "openvino" if ov_runtime.available() else "onnxruntime")
    (t,) = bench.select_cases([tiny_onnx["prob"]], device="cpu", backend="onnxruntime")
    assert (t.res, t.head, t.backend) == (RES, "prob", "onnxruntime")


# --- the CLI --------------------------------------------------------------------------------


def test_cli_torch_reference_writes_json_markdown_plot(tmp_path, capsys):
    j, m, p = tmp_path / "b.json", tmp_path / "b.md", tmp_path / "b.png"
    assert _cli(["bench", "--backend", "torch", "--device", "cpu", "--res", "64x128", *FAST,
                 "--json", j, "--markdown", m, "--plot", p]) == 0
    out = capsys.readouterr()
    assert "benchmarked 1 configuration" in out.out and str(j) in out.out
    doc = json.loads(j.read_text())
    (r,) = doc["results"]
    assert r["backend"] == "torch" and r["resolution"] == [64, 128] and r["latency_ms"]["n"] == 5
    assert r["fps"] > 0 and r["latency_ms"]["p99"] >= r["latency_ms"]["median"]
    assert doc["protocol"]["warmup_frames"] == 2 and doc["environment"]["cpu"]["usable"] >= 1
    assert "torch" in doc["environment"]["packages"]
    assert "| torch cpu fp32 | cls | 64x128 |" in m.read_text()
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*.part"))


def test_cli_auto_benchmarks_the_default_onnx(artifacts, tmp_path, capsys):
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    export_onnx(ExportSpec(head="cls", res=RES), validate=False)
    j = tmp_path / "auto.json"
    assert _cli(["bench", "--res", "64x128", "--device", "cpu", *FAST, "--threads", "1", "--json", j]) == 0
    err = capsys.readouterr().err
    want = "openvino" if ov_runtime.available() else "onnxruntime"
    assert f"{want}:" in err  # prints which backend and why
    (r,) = json.loads(j.read_text())["results"]
    assert r["backend"] == want and r["threads"] == 1 and "fastscnn_paper_cls_64x128.onnx" in r["artifact"]


@pytest.mark.parametrize("args, needle", [
    (["--res", "128x256"], "was exported for 64x128, not 128x256"),
    (["--head", "prob"], "has the cls head"),
    (["--backend", "torch"], "ONNX file"),
    (["--half"], "torch options"),
])
def test_cli_bad_input_is_one_line(tiny_onnx, capsys, args, needle):
    assert _cli(["bench", tiny_onnx["cls"], "--device", "cpu", *FAST, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and "Fix:" in err and len(err.splitlines()) == 1


def test_cli_missing_artifact_and_missing_default(artifacts, tmp_path, capsys):
    assert _cli(["bench", tmp_path / "nope.onnx", *FAST]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert _cli(["bench", "--backend", "onnxruntime", "--res", "64x128", *FAST]) == 2
    assert "fastscnn-edge export" in capsys.readouterr().err


def test_cli_half_on_cpu_torch_is_refused(capsys):
    assert _cli(["bench", "--backend", "torch", "--device", "cpu", "--half", "--res", "64x128", *FAST]) == 2
    assert "CUDA" in capsys.readouterr().err


@pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed here")
def test_cli_tensorrt_missing_is_exit_3(tmp_path, capsys):
    eng = tmp_path / "m.engine"
    eng.write_bytes(b"not an engine")
    assert _cli(["bench", eng, *FAST]) == 3
    assert "TensorRT is not installed" in capsys.readouterr().err
    assert _cli(["bench", "--backend", "tensorrt", "--res", "64x128", *FAST]) == 3
    assert "TensorRT is not installed" in capsys.readouterr().err


def test_bench_runs_an_onnx_without_torch(tiny_onnx):
    """The Jetson path: `bench` on an ONNX with torch and TensorRT blocked."""
    code = textwrap.dedent(f"""
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {{"torch", "tensorrt"}}:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        sys.meta_path.insert(0, Block())
        from fastscnn_edge.cli import main
        try:
            main(["bench", {str(tiny_onnx['cls'])!r}, "--warmup", "1", "--iters", "2", "--threads", "1"])
        except SystemExit as e:
            assert "torch" not in sys.modules
            raise
    """)
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "benchmarked 1 configuration" in p.stdout


@pytest.mark.gpu
def test_torch_cuda_reports_gpu_and_transfer_times():
    opts = bench.BenchOptions(warmup=2, iters=5, half=True, cuda_graph=True)
    t = bench.BenchCase(None, "torch", "cuda", "cls", RES)
    r = timing.run_case(t, opts)
    assert r.gpu_compute is not None and r.h2d is not None and r.d2h is not None
    assert r.gpu_compute.n == 5 and r.case.precision == "fp16"
    r2 = timing.run_case(bench.BenchCase(None, "torch", "cuda", "cls", RES),
                          bench.BenchOptions(warmup=2, iters=5, include_transfers=False))
    assert r2.gpu_compute is not None and r2.h2d is None


# --- benchmarks/sweep.py ----------------------------------------------------------------------


def _sweep_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fastscnn_sweep", REPO / "benchmarks" / "sweep.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sweep_writes_json_and_markdown_with_the_cpu_target(artifacts, tmp_path):
    sweep = _sweep_module()
    out = tmp_path / "results"
    assert sweep.main(["--quick", "--res", "64x128", "--heads", "cls", "--threads", "1",
                       "--target-res", "64x128", "--out", str(out)]) == 0
    (j,) = out.glob("*-quick.json")
    doc = json.loads(j.read_text())
    t = doc["cpu_target"]["by_threads"]["1"]
    assert t["ort_cls_fps"] > 0 and t["torch_cls_fps"] > 0
    assert t["ratio"] == pytest.approx(t["ort_cls_fps"] / t["torch_cls_fps"], rel=1e-2)
    assert t["met"] == (t["ratio"] >= 4.0) and t["ort_head_ms"] is not None
    assert {r["group"] for r in doc["runs"]} == {"cpu", "target"}
    assert doc["diagnostics"]["ort_cls_nhwc_head_ms"]["1"]["label_agreement"] == 1.0
    assert set(doc["diagnostics"]["ort_graph_optimization"]["1"]) == {"disable_all", "basic", "extended", "all"}
    md = j.with_suffix(".md").read_text()
    assert "CPU target" in md and "QUICK" in md


def test_nhwc_cls_head_gives_the_same_labels_on_random_logits():
    """The head pattern alone (19-channel 1/8 logits -> Resize x8 -> ArgMax -> uint8), many classes."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from fastscnn_edge.export.to_onnx import nhwc_cls_head

    h, w = RES
    g = helper.make_graph(
        [helper.make_node("Resize", ["x", "", "", "sizes"], ["up"], mode="linear", coordinate_transformation_mode="half_pixel"),
         helper.make_node("ArgMax", ["up"], ["am"], axis=1, keepdims=0),
         helper.make_node("Cast", ["am"], ["labels"], to=TensorProto.UINT8)],
        "head", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 19, h // 8, w // 8])],
        [helper.make_tensor_value_info("labels", TensorProto.UINT8, [1, h, w])],
        [helper.make_tensor("sizes", TensorProto.INT64, [4], [1, 19, h, w])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    before = model.SerializeToString()
    assert nhwc_cls_head(model)
    after = model
    assert [n.op_type for n in after.graph.node] == ["Transpose", "Resize", "ArgMax", "Cast"]
    a = ort.InferenceSession(before, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(after.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(3).standard_normal((1, 19, h // 8, w // 8), dtype=np.float32)
    ya, yb = a.run(None, {"x": x})[0], b.run(None, {"x": x})[0]
    assert len(np.unique(ya)) > 10 and np.array_equal(ya, yb)


@pytest.mark.parametrize("dynamic", [False, True])
def test_nhwc_cls_head_rewrites_an_exported_model(tmp_path, dynamic):
    import onnx
    import onnxruntime as ort

    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx, nhwc_cls_head

    p = export_onnx(ExportSpec(head="cls", res=RES, dynamic=dynamic, output=tmp_path / "m.onnx", cls_layout="nchw"),
                    validate=False).path
    model = onnx.load(str(p))
    # the labels leave through float (ArgMax -> Cast(float) -> Cast(uint8)): TensorRT 8.x builds that
    tail = ["Transpose", "Gather", "Resize", "ArgMax", "Cast", "Cast"] if dynamic else \
        ["Transpose", "Resize", "ArgMax", "Cast", "Cast"]
    n_before = len(model.graph.node)
    assert nhwc_cls_head(model)
    rewritten = model
    onnx.checker.check_model(rewritten, full_check=True)
    ops = [n.op_type for n in rewritten.graph.node]
    # static sizes are permuted in place; dynamic ones by a Gather at run time
    assert len(ops) == n_before + len(tail) - 4 and ops[-len(tail):] == tail
    assert not nhwc_cls_head(rewritten)  # a second rewrite finds no NCHW head
    a = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(rewritten.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    for res in ([RES, (96, 160)] if dynamic else [RES]):
        x = 3 * rng.standard_normal((1, 3, *res), dtype=np.float32)
        ya, yb = a.run(None, {"input": x})[0], b.run(None, {"input": x})[0]
        assert ya.shape == yb.shape == (1, *res) and ya.dtype == yb.dtype
        assert np.array_equal(ya, yb)
