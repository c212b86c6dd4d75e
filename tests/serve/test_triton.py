"""Triton model repositories (fastscnn_edge.serve.triton) and a real local Triton server (fastscnn_edge.serve.triton_server).

Every written config.pbtxt is parsed with Triton's own schema (tritonclient's model_config_pb2).
The server tests start the real ``tritonserver`` binary of the nvidia-pytriton wheel (in
.venv-triton, made by scripts/setup-triton.sh) on 127.0.0.1 with free ports, serve tiny 64x128
exports through Triton's Python backend, query them with tritonclient over HTTP and gRPC, and stop it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fastscnn_edge.core.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
RES = (64, 128)


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):  # noqa: ANN001, ANN201
    """A static bgr8 cls export (uint8 frames -> uint8 labels) and a dynamic float cls export (int32 labels)."""
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    d = tmp_path_factory.mktemp("onnx")
    frames = export_onnx(ExportSpec(res=RES, input_format="bgr8", output=d / "frames_cls.onnx")).path
    floats = export_onnx(ExportSpec(res=RES, dynamic=True, labels="int32", output=d / "float_dyn.onnx")).path
    return {"frames": frames, "float": floats}


def _engine(folder: Path, *, dynamic: bool, extra: dict | None = None) -> Path:
    """An engine artifact for the writer: placeholder plan bytes + a valid sidecar (the writer reads only metadata)."""
    from fastscnn_edge.core.metadata import ModelMeta
    from fastscnn_edge.runtime.sidecar import Sidecar, TensorInfo, sidecar_path, write_sidecar

    engine = folder / ("m_dyn.fp16.engine" if dynamic else "m.fp16.engine")
    engine.write_bytes(b"not a real plan: the repository writer copies it and reads the sidecar")
    b = -1 if dynamic else 1
    meta = ModelMeta(head="cls", input_format="bgr8", resolution=None if dynamic else RES, precision="fp16",
                     labels_dtype="int32")
    sc = Sidecar(tensorrt_version="10.3.0.30", gpu_name="Orin", compute_capability=(8, 7), precision="fp16",
                 io=[TensorInfo("frames", "input", [b, -1 if dynamic else 64, -1 if dynamic else 128, 3], "uint8"),
                     TensorInfo("labels", "output", [b, -1 if dynamic else 64, -1 if dynamic else 128], "int32")],
                 source_onnx="artifacts/m.fp16.onnx", source_sha256="ab" * 32, toolkit_version="0.1.0",
                 build_options={"resolutions": [list(RES)]}, meta=meta.to_json())
    write_sidecar(engine, sc)
    if extra:  # fields newer sidecars carry (runtime, compute_capabilities)
        data = json.loads(sidecar_path(engine).read_text())
        data.update(extra)
        sidecar_path(engine).write_text(json.dumps(data))
    return engine


def _parse(path: Path):  # noqa: ANN202
    from fastscnn_edge.serve.triton import parse_config

    return parse_config(path.read_text())


def _params(cfg) -> dict:  # noqa: ANN001
    return {k: v.string_value for k, v in cfg.parameters.items()}


# ---------------------------------------------------------------------------------------------
# config.pbtxt against Triton's schema


def test_static_onnx_config_parses_and_says_why_it_cannot_batch(onnx_models, tmp_path):
    from fastscnn_edge.core.metadata import CITYSCAPES_CLASSES
    from fastscnn_edge.serve.triton import write_repository

    result = write_repository([onnx_models["frames"]], tmp_path / "repo")
    model = tmp_path / "repo" / "frames_cls"
    text = (model / "config.pbtxt").read_text()
    cfg = _parse(model / "config.pbtxt")
    assert cfg.name == "frames_cls" and cfg.platform == "onnxruntime_onnx"
    assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")
    assert "# static batch" in text and "--dynamic" in text
    (inp,), (out,) = cfg.input, cfg.output
    assert (inp.name, list(inp.dims)) == ("frames", [1, 64, 128, 3])
    assert (out.name, list(out.dims), out.label_filename) == ("labels", [1, 64, 128], "labels.txt")
    from tritonclient.grpc import model_config_pb2 as mc

    assert inp.data_type == mc.TYPE_UINT8 and out.data_type == mc.TYPE_UINT8
    assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU and cfg.instance_group[0].count == 1
    p = _params(cfg)
    assert p["fastscnn_edge.resolution"] == "64x128" and p["fastscnn_edge.input_format"] == "bgr8"
    assert p["fastscnn_edge.head"] == "cls" and p["fastscnn_edge.source_file"] == "frames_cls.onnx"
    assert (model / "labels.txt").read_text().splitlines() == list(CITYSCAPES_CLASSES)
    assert (model / "1" / "model.onnx").read_bytes() == onnx_models["frames"].read_bytes()
    assert [m.name for m in result.models] == ["frames_cls"] and result.size_bytes > 4_000_000


def test_dynamic_onnx_config_has_batching_and_options(onnx_models, tmp_path):
    from tritonclient.grpc import model_config_pb2 as mc

    from fastscnn_edge.serve.triton import write_repository

    write_repository([onnx_models["float"]], tmp_path / "a")
    cfg = _parse(tmp_path / "a" / "float_dyn" / "config.pbtxt")
    assert cfg.max_batch_size == 8 and cfg.dynamic_batching.max_queue_delay_microseconds == 2000
    assert list(cfg.input[0].dims) == [3, -1, -1] and cfg.input[0].data_type == mc.TYPE_FP32
    assert list(cfg.output[0].dims) == [-1, -1] and cfg.output[0].data_type == mc.TYPE_INT32
    assert _params(cfg)["fastscnn_edge.resolution"] == "dynamic"

    write_repository([onnx_models["float"]], tmp_path / "b", max_batch=4, dynamic_batching=False, kind="gpu",
                     instances=2, threads=1)
    cfg = _parse(tmp_path / "b" / "float_dyn" / "config.pbtxt")
    assert cfg.max_batch_size == 4 and not cfg.HasField("dynamic_batching")
    assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU and cfg.instance_group[0].count == 2
    assert _params(cfg)["intra_op_thread_count"] == "1"


def test_openvino_backend_config_parses_and_serves_the_refined_head(onnx_models, tmp_path):
    from tritonclient.grpc import model_config_pb2 as mc

    from fastscnn_edge.core.errors import UserError
    from fastscnn_edge.runtime.artifact import Artifact
    from fastscnn_edge.serve.triton import write_repository

    write_repository([onnx_models["frames"]], tmp_path / "repo", backend="openvino", threads=2)
    model = tmp_path / "repo" / "frames_cls"
    cfg = _parse(model / "config.pbtxt")
    assert cfg.backend == "openvino" and not cfg.platform and cfg.default_model_filename == "model.onnx"
    assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
    p = _params(cfg)
    assert (p["INFERENCE_NUM_THREADS"], p["PERFORMANCE_HINT"], p["NUM_STREAMS"]) == ("2", "LATENCY", "1")
    assert "refined cls head" in (model / "config.pbtxt").read_text()
    served = Artifact.open(model / "1" / "model.onnx")  # our metadata and checks hold for what Triton loads
    assert served.meta.extra["cls_head_layout"] == "refine" and served.meta.extra["cls_head_rewritten_from"] == "nhwc"
    assert {"If", "NonZero"} <= {n.op_type for n in served.proto.graph.node}
    with pytest.raises(UserError, match="OpenVINO backend runs on the CPU"):
        write_repository([onnx_models["frames"]], tmp_path / "gpu", backend="openvino", kind="gpu")
    assert not (tmp_path / "gpu").exists()


def test_engine_config_carries_the_build_facts(tmp_path):
    """The engine here is placeholder bytes with a valid sidecar: the writer reads only the sidecar, and the
    config it writes is still checked against Triton's schema."""
    from tritonclient.grpc import model_config_pb2 as mc

    from fastscnn_edge.serve.triton import write_repository

    static = _engine(tmp_path, dynamic=False)
    dyn = _engine(tmp_path, dynamic=True, extra={"runtime": "tensorrt", "compute_capabilities": [[8, 6], [8, 9]]})
    write_repository([static, dyn], tmp_path / "repo")
    cfg = _parse(tmp_path / "repo" / "m_fp16" / "config.pbtxt")
    assert cfg.platform == "tensorrt_plan" and cfg.default_model_filename == "model.plan"
    assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    assert cfg.max_batch_size == 0 and list(cfg.input[0].dims) == [1, 64, 128, 3]
    assert cfg.output[0].data_type == mc.TYPE_INT32
    p = _params(cfg)
    assert p["fastscnn_edge.tensorrt_version"] == "10.3.0.30" and p["fastscnn_edge.gpu_name"] == "Orin"
    assert p["fastscnn_edge.compute_capability"] == "8.7" and p["fastscnn_edge.precision"] == "fp16"
    assert p["fastscnn_edge.source_sha256"] == "ab" * 32 and p.get("fastscnn_edge.runtime", "tensorrt") == "tensorrt"
    assert (tmp_path / "repo" / "m_fp16" / "1" / "model.plan").read_bytes() == static.read_bytes()
    assert (tmp_path / "repo" / "m_fp16" / "1" / "model.plan.json").is_file()

    text = (tmp_path / "repo" / "m_dyn_fp16" / "config.pbtxt").read_text()
    cfg = _parse(tmp_path / "repo" / "m_dyn_fp16" / "config.pbtxt")
    assert cfg.max_batch_size == 1 and not cfg.HasField("dynamic_batching")  # build-engine profiles are batch 1
    assert "batch 1 only" in text and list(cfg.input[0].dims) == [-1, -1, 3]
    p = _params(cfg)
    assert p["fastscnn_edge.runtime"] == "tensorrt" and p["fastscnn_edge.compute_capabilities"] == "8.6,8.9"

    with pytest.raises(UserError, match="GPU only"):
        write_repository([static], tmp_path / "cpu", kind="cpu")
    with pytest.raises(UserError, match="ONNX files only"):
        write_repository([static], tmp_path / "py", backend="python")
    assert not (tmp_path / "cpu").exists() and not (tmp_path / "py").exists()


def test_versions_of_one_model_and_python_backend_form(onnx_models, tmp_path):
    from fastscnn_edge.serve.triton import write_repository

    second = tmp_path / "frames_cls.fp16.onnx"
    shutil.copyfile(onnx_models["frames"], second)
    write_repository([onnx_models["frames"], second], tmp_path / "v", name="seg")
    cfg = _parse(tmp_path / "v" / "seg" / "config.pbtxt")
    assert cfg.name == "seg" and cfg.version_policy.HasField("all")
    assert (tmp_path / "v" / "seg" / "1" / "model.onnx").is_file() and (tmp_path / "v" / "seg" / "2" / "model.onnx").is_file()
    p = _params(cfg)
    assert p["fastscnn_edge.version_1.source_file"] == "frames_cls.onnx"
    assert p["fastscnn_edge.version_2.source_file"] == "frames_cls.fp16.onnx" and p["fastscnn_edge.head"] == "cls"
    with pytest.raises(UserError, match="differ in their inputs"):
        write_repository([onnx_models["frames"], onnx_models["float"]], tmp_path / "x", name="seg")

    write_repository([onnx_models["float"]], tmp_path / "py", backend="python")
    cfg = _parse(tmp_path / "py" / "float_dyn" / "config.pbtxt")
    assert cfg.backend == "python" and not cfg.platform and cfg.max_batch_size == 8
    assert "class TritonPythonModel" in (tmp_path / "py" / "float_dyn" / "1" / "model.py").read_text()


def test_strings_are_escaped_for_the_text_format():
    from fastscnn_edge.serve.triton import ModelConfig, parse_config

    tricky = 'a "quoted" C:\\path\nnext'
    cfg = ModelConfig(name="m", platform="onnxruntime_onnx", backend=None, max_batch_size=0,
                      inputs=[("x", "TYPE_FP32", [1, 3])], outputs=[("y", "TYPE_FP32", [1])], kind="KIND_CPU",
                      parameters={"k": tricky})
    assert parse_config(cfg.to_pbtxt()).parameters["k"].string_value == tricky


# ---------------------------------------------------------------------------------------------
# errors: one line, an exit code, nothing written


def _cli(capsys, *args: str):  # noqa: ANN001, ANN202
    from fastscnn_edge.cli import main

    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and " Fix: " in lines[0], err
    return lines[0]


def test_artifacts_without_metadata_are_refused(tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph), str(foreign))
    code, _, err = _cli(capsys, "triton", str(foreign), "-o", str(tmp_path / "repo"))
    assert code == 2 and "carries no fastscnn-edge metadata" in _one_error_line(err)
    bare = tmp_path / "bare.engine"
    bare.write_bytes(b"plan")
    code, _, err = _cli(capsys, "triton", str(bare), "-o", str(tmp_path / "repo"))
    assert code == 2 and "has no sidecar bare.engine.json" in _one_error_line(err)
    assert not (tmp_path / "repo").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bare.engine", "foreign.onnx"]


def test_existing_repository_needs_force(onnx_models, tmp_path, capsys):
    repo = tmp_path / "repo"
    (repo / "old_model").mkdir(parents=True)
    (repo / "old_model" / "config.pbtxt").write_text('name: "old_model"\n')
    code, _, err = _cli(capsys, "triton", str(onnx_models["frames"]), "-o", str(repo))
    assert code == 2 and "exists and is not empty" in _one_error_line(err)
    assert sorted(p.name for p in repo.iterdir()) == ["old_model"]
    code, out, err = _cli(capsys, "triton", str(onnx_models["frames"]), "-o", str(repo), "--force")
    assert code == 0, err
    assert sorted(p.name for p in repo.iterdir()) == ["frames_cls"] and "wrote Triton repository" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]  # no temporary folder left beside it
    (repo / "notes.txt").write_text("mine")
    code, _, err = _cli(capsys, "triton", str(onnx_models["frames"]), "-o", str(repo), "--force")
    assert code == 2 and "holds more than Triton models (notes.txt)" in _one_error_line(err)
    assert (repo / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------------------------------------
# a real server


def _triton_env():  # noqa: ANN202
    """The Triton environment, or a skip where the nvidia-pytriton wheel cannot install (a failure where it can)."""
    from fastscnn_edge.core.errors import MissingDependency
    from fastscnn_edge.serve.triton_server import find_triton

    try:
        return find_triton()
    except MissingDependency as exc:
        libc = platform.libc_ver()
        installable = (sys.platform == "linux" and platform.machine() == "x86_64" and libc[0] == "glibc"
                       and tuple(int(x) for x in libc[1].split(".")[:2]) >= (2, 35)
                       and os.path.exists("/usr/bin/python3.11"))
        if installable:
            pytest.fail(f"{exc} (nvidia-pytriton installs on this machine)")
        pytest.skip(f"no Triton server: nvidia-pytriton (manylinux_2_35 x86-64, system Python 3.11) cannot "
                    f"install here ({sys.platform} {platform.machine()} {libc[0]} {libc[1]})")


@pytest.fixture(scope="module")
def server(onnx_models, tmp_path_factory):  # noqa: ANN001, ANN201
    from fastscnn_edge.serve.triton import write_repository
    from fastscnn_edge.serve.triton_server import start_server

    _triton_env()
    repo = write_repository([onnx_models["frames"], onnx_models["float"]],
                            tmp_path_factory.mktemp("serve") / "models", backend="python", threads=1).path
    srv = start_server(repo, timeout=90)
    try:
        yield srv
    finally:
        code = srv.stop()
        assert code == 0 and not srv.alive()


def _frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *RES, 3), dtype=np.uint8)


def _infer(protocol: str, url: str, model: str, name: str, x: np.ndarray, dtype: str, out: str) -> np.ndarray:
    import tritonclient.grpc as tg
    import tritonclient.http as th

    tc = th if protocol == "http" else tg
    client = tc.InferenceServerClient(url)
    try:
        inp = tc.InferInput(name, list(x.shape), dtype)
        inp.set_data_from_numpy(x)
        return client.infer(model, [inp], outputs=[tc.InferRequestedOutput(out)]).as_numpy(out)
    finally:
        client.close()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_server_labels_equal_the_local_runner_for_uint8_frames(server, onnx_models, protocol):
    from fastscnn_edge.runtime.backends import open_runner

    url = server.http_url if protocol == "http" else server.grpc_url
    runner = open_runner(onnx_models["frames"])
    for seed in (0, 1):
        x = _frames(1, seed)
        got = _infer(protocol, url, "frames_cls", "frames", x, "UINT8", "labels")
        assert got.dtype == np.uint8 and got.shape == (1, *RES)
        assert np.array_equal(got.astype(np.int64), runner.labels(runner(x)))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_server_labels_equal_the_local_runner_for_float_batches(server, onnx_models, protocol):
    from fastscnn_edge.runtime.backends import open_runner

    url = server.http_url if protocol == "http" else server.grpc_url
    runner = open_runner(onnx_models["float"], resolution=RES)
    x = np.random.default_rng(3).standard_normal((2, 3, *RES), dtype=np.float32)
    got = _infer(protocol, url, "float_dyn", "input", x, "FP32", "labels")
    assert got.dtype == np.int32 and got.shape == (2, *RES)
    assert np.array_equal(got.astype(np.int64), runner.labels(runner(x)))


def test_server_loaded_our_configs(server):
    import tritonclient.http as th

    client = th.InferenceServerClient(server.http_url)
    try:
        assert client.is_server_ready() and client.is_model_ready("frames_cls") and client.is_model_ready("float_dyn")
        cfg = client.get_model_config("float_dyn")
        assert cfg["max_batch_size"] == 8 and "dynamic_batching" in cfg and cfg["backend"] == "python"
        assert client.get_model_config("frames_cls")["max_batch_size"] == 0
    finally:
        client.close()


def test_client_example_runs_against_the_server(server, onnx_models, tmp_path, monkeypatch, capsys):
    import cv2

    from fastscnn_edge.runtime.backends import open_runner
    from fastscnn_edge.serve.triton import describe_artifact
    from fastscnn_edge.serve.triton_templates import client_example

    info = describe_artifact(onnx_models["frames"])
    frame = _frames(1, 7)[0]
    cv2.imwrite(str(tmp_path / "frame.png"), frame)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(client_example(server.http_url, "frames_cls", info), "client_example", "exec"), scope)  # noqa: S102
    scope["client"].close()
    assert "is the most frequent class" in capsys.readouterr().out
    runner = open_runner(onnx_models["frames"])
    assert np.array_equal(scope["labels"].astype(np.int64), runner.labels(runner(frame[None]))[0])


def test_readme_client_example_is_the_generated_one(onnx_models):
    """The README's example is what `serve` prints for the model it documents (the test above runs that code)."""
    from fastscnn_edge.serve.triton import describe_artifact
    from fastscnn_edge.serve.triton_templates import client_example

    info = describe_artifact(onnx_models["frames"])
    info = dataclasses.replace(info, meta=dataclasses.replace(info.meta, resolution=(512, 1024)))
    readme = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert client_example("127.0.0.1:8000", "fastscnn_bgr8_512x1024", info) in blocks


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_command_runs_until_stopped(onnx_models, tmp_path, stop_signal):
    """`fastscnn-edge serve` end to end: ready line with the address, a real query, Ctrl-C (or SIGTERM), clean exit."""
    from fastscnn_edge.runtime.backends import open_runner

    _triton_env()
    cmd = [sys.executable, "-m", "fastscnn_edge", "serve", str(onnx_models["frames"]), "--http-port", "0",
           "--grpc-port", "0", "--metrics-port", "0", "--threads", "1"]
    from tests.test_hostile import sigint_from_a_terminal

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
                            preexec_fn=sigint_from_a_terminal)
    lines = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "serve exited early:\n" + "".join(lines)
            lines.append(line)
            if line.startswith("Ctrl-C stops"):
                break
        text = "".join(lines)
        http = re.search(r"HTTP (127\.0\.0\.1:\d+)", text).group(1)
        assert "frames_cls (frames UINT8 [1, 64, 128, 3]" in text and "tritonclient.http" in text
        x = _frames(1, 5)
        got = _infer("http", http, "frames_cls", "frames", x, "UINT8", "labels")
        runner = open_runner(onnx_models["frames"])
        assert np.array_equal(got.astype(np.int64), runner.labels(runner(x)))
        proc.send_signal(stop_signal)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest
    assert "stopped Triton (exit code 0)" in rest
    with socket.socket() as s:  # nothing listens there any more: the server is gone
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", int(http.rsplit(":", 1)[1])))
        s.listen(1)


def test_serve_refuses_a_port_in_use(onnx_models, tmp_path, capsys):
    _triton_env()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        code, _, err = _cli(capsys, "serve", str(onnx_models["frames"]), "--http-port", str(port),
                            "--grpc-port", "0", "--metrics-port", "0", "--repo", str(tmp_path / "repo"))
    assert code == 2 and f"port {port} on 127.0.0.1 (http) is in use" in _one_error_line(err)
    assert not (tmp_path / "repo").exists()


SLOW_MODEL = '''
import time
class TritonPythonModel:
    def initialize(self, args):
        time.sleep(60)
    def execute(self, requests):
        return []
'''

BROKEN_MODEL = '''
class TritonPythonModel:
    def initialize(self, args):
        raise RuntimeError("this model is broken on purpose")
    def execute(self, requests):
        return []
'''


def _python_repo(folder: Path, code: str) -> Path:
    model = folder / "m"
    (model / "1").mkdir(parents=True)
    (model / "1" / "model.py").write_text(code)
    (model / "config.pbtxt").write_text('name: "m"\nbackend: "python"\nmax_batch_size: 0\n'
                                        'input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
                                        'output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
                                        'instance_group [ { kind: KIND_CPU } ]\n')
    return folder


def test_server_not_ready_within_its_timeout_is_stopped(tmp_path):
    from fastscnn_edge.serve.triton_server import start_server

    _triton_env()
    t0 = time.monotonic()
    with pytest.raises(UserError) as info:
        start_server(_python_repo(tmp_path / "repo", SLOW_MODEL), timeout=3)
    assert time.monotonic() - t0 < 30
    msg = str(info.value)
    assert "\n" not in msg and "was not ready within 3 s" in msg and "tritonserver.log" in msg
    log = Path(re.search(r"log (\S+tritonserver\.log)", msg).group(1))
    assert log.is_file()
    shutil.rmtree(log.parent)


def test_serve_command_timeout_is_one_line(onnx_models, capsys):
    """No Triton is ready 0.2 s after it was started (the Python stub alone takes longer): exit 2, one line."""
    _triton_env()
    code, _, err = _cli(capsys, "serve", str(onnx_models["frames"]), "--http-port", "0", "--grpc-port", "0",
                        "--metrics-port", "0", "--timeout", "0.2")
    line = _one_error_line(err)
    assert code == 2 and "Triton was not ready within 0.2 s" in line and "raise --timeout" in line
    shutil.rmtree(Path(re.search(r"log (\S+tritonserver\.log)", line).group(1)).parent)


def test_server_that_fails_to_load_a_model_says_why(tmp_path):
    from fastscnn_edge.serve.triton_server import start_server

    _triton_env()
    with pytest.raises(UserError) as info:
        start_server(_python_repo(tmp_path / "repo", BROKEN_MODEL), timeout=60)
    msg = str(info.value)
    assert "\n" not in msg and "Triton exited during start-up" in msg and "broken on purpose" in msg
    shutil.rmtree(Path(re.search(r"log (\S+tritonserver\.log)", msg).group(1)).parent)


@pytest.mark.slow
def test_load_benchmark_script_runs_quick(tmp_path):
    """benchmarks/triton_load.py --quick (64x128, 8 requests per level): the script works and reports every field."""
    _triton_env()
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    try:
        import triton_load
    finally:
        sys.path.remove(str(REPO_ROOT / "benchmarks"))
    assert triton_load.main(["--quick", "--concurrency", "1,4", "--out", str(tmp_path)]) == 0
    (js,) = tmp_path.glob("triton-load-cpu-*-quick.json")
    doc = json.loads(js.read_text())
    assert [c["dynamic_batching"] for c in doc["configs"]] == [False, True]
    for c in doc["configs"]:
        assert [r["concurrency"] for r in c["levels"]] == [1, 4]
        for r in c["levels"]:
            assert r["requests"] == 8 and r["errors"] == 0 and r["throughput_fps"] > 0 and r["p99_ms"] >= r["p50_ms"]
    assert doc["configs"][0]["levels"][1]["mean_batch"] == 1.0  # no dynamic batching: one request per run
    assert doc["environment"]["triton_server"]["version"] and "indicative" in doc["note"]
    assert "What dynamic batching changed" in js.with_suffix(".md").read_text()
