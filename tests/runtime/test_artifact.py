"""Artifact: what a file is, read once; the one default and the one mismatch message for sizes;
and every command parses each ONNX file once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.resolution import PAPER_RESOLUTIONS, Resolution
from fastscnn_edge.runtime.artifact import Artifact

RES = (64, 128)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
    from fastscnn_edge.runtime.sidecar import Sidecar, TensorInfo, write_sidecar

    d = tmp_path_factory.mktemp("art")
    static = export_onnx(ExportSpec(res=RES, input_format="bgr8", output=d / "s.onnx"), validate=False).path
    dyn = export_onnx(ExportSpec(res=RES, head="prob", dynamic=True, output=d / "d.onnx"), validate=False).path
    meta = Artifact.open(static).meta
    meta.precision = "fp16"
    engine = d / "s.fp16.rtx.engine"
    engine.write_bytes(b"plan bytes: Artifact reads only the sidecar")
    write_sidecar(engine, Sidecar("1.7.1.116", "", None, "fp16",
                                  [TensorInfo("frames", "input", [1, *RES, 3], "uint8"),
                                   TensorInfo("labels", "output", [1, *RES], "uint8")],
                                  "s.fp16.onnx", "0" * 64, meta=meta.to_json(), runtime="tensorrt_rtx",
                                  compute_capabilities=[(8, 6)]))
    return {"static": static, "dynamic": dyn, "engine": engine, "dir": d}


def test_onnx_artifacts_know_what_they_are(files):
    a = Artifact.open(files["static"])
    assert (a.kind, a.backend, a.precision, a.onnx_kind, a.qdq_form) == ("onnx", "onnxruntime", "fp32", "fp32", None)
    assert a.resolution == Resolution(*RES) and not a.dynamic and a.meta.input_format == "bgr8"
    assert [t.name for t in a.inputs] == ["frames"] and [t.name for t in a.outputs] == ["labels"]
    assert a.data == files["static"].read_bytes() and a.proto is not None
    d = Artifact.open(files["dynamic"])
    assert d.dynamic and d.resolution is None and d.meta.head == "prob"


def test_the_one_default_and_the_one_mismatch_message(files):
    a, d = Artifact.open(files["static"]), Artifact.open(files["dynamic"])
    assert a.resolutions([]) == [Resolution(*RES)] and a.resolutions([RES, RES]) == [Resolution(*RES)]
    assert d.resolutions([]) == list(PAPER_RESOLUTIONS)
    assert d.resolutions([(96, 160), (96, 160), (64, 64)]) == [Resolution(96, 160), Resolution(64, 64)]
    with pytest.raises(UserError) as e:
        a.resolutions([(96, 160)])
    assert str(e.value).startswith("s.onnx was exported for 64x128, not 96x160.") and "--dynamic" in e.value.fix
    assert a.resolution_for(None) == Resolution(*RES)
    with pytest.raises(UserError, match="dynamic input size"):
        d.resolution_for(None)


def test_engines_are_read_from_their_sidecar(files):
    e = Artifact.open(files["engine"])
    assert (e.kind, e.backend, e.runtime, e.precision) == ("engine", "tensorrt", "rtx", "fp16")
    assert e.resolution == Resolution(*RES) and e.sidecar is not None and e.sidecar.compute_capabilities == [(8, 6)]
    with pytest.raises(UserError) as err:
        e.resolutions([(96, 160)])
    assert "was built for 64x128" in str(err.value) and "fastscnn-edge build-engine" in err.value.fix


@pytest.mark.parametrize("backend,needle", [("tensorrt", "build an engine first"), ("torch", "--backend onnxruntime"),
                                            ("cuda", "unknown backend")])
def test_backend_checks(files, backend, needle):
    a = Artifact.open(files["static"])
    assert a.check_backend("auto") == "onnxruntime"
    with pytest.raises(UserError) as e:
        a.check_backend(backend)
    assert needle in str(e.value)


def test_foreign_and_missing_files(files, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        Artifact.open(tmp_path / "nope.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00garbage")
    with pytest.raises(UserError, match="not a readable ONNX file"):
        Artifact.open(tmp_path / "junk.onnx")
    with pytest.raises(UserError, match="extension"):
        Artifact.open(Path(__file__))
    with pytest.raises(UserError, match="is a folder"):
        Artifact.open(files["dir"])


@pytest.fixture()
def parse_counter(monkeypatch):
    """Counts every ONNX parse (onnx.load / load_model / load_from_string) by the file's bytes."""
    import hashlib

    import onnx

    counts = {}
    real_load, real_string = onnx.load_model, onnx.load_from_string

    def key_of(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def load(f, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        path = Path(f)
        counts[key_of(path.read_bytes())] = counts.get(key_of(path.read_bytes()), 0) + 1
        return real_load(f, *a, **k)

    def load_string(data, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        counts[key_of(data)] = counts.get(key_of(data), 0) + 1
        return real_string(data, *a, **k)

    monkeypatch.setattr(onnx, "load", load)
    monkeypatch.setattr(onnx, "load_model", load)
    monkeypatch.setattr(onnx, "load_from_string", load_string)
    return lambda path: counts.get(key_of(Path(path).read_bytes()), 0)


@pytest.mark.parametrize("command", ["bench", "predict", "eval", "compare", "info", "build-engine", "quantize"])
def test_each_command_parses_each_onnx_once(files, tmp_path, capsys, parse_counter, command):
    import cv2

    from fastscnn_edge.cli import main

    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    cv2.imwrite(str(data / "images" / "a.png"), np.zeros((*RES, 3), np.uint8))
    cv2.imwrite(str(data / "masks" / "a.png"), np.zeros(RES, np.uint8))
    (data / "classes.txt").write_text("\n".join(f"c{i}" for i in range(19)) + "\n")
    onnx = files["static"]
    args = {"bench": ["bench", onnx, "--iters", "1", "--warmup", "0"],
            "predict": ["predict", onnx, data / "images", "-o", tmp_path / "pred"],
            "eval": ["eval", onnx, "--data", data, "--data-format", "folder"],
            "compare": ["compare", onnx, files["dynamic"], "--random", "1", "--res", "64x128"],
            "info": ["info", onnx],
            "build-engine": ["build-engine", onnx, "--fp16", "--runtime", "rtx", "-o", tmp_path / "m.rtx.engine"],
            "quantize": ["quantize", onnx, "--fp16", "-o", tmp_path / "m.fp16.onnx"]}[command]
    if command == "build-engine":
        pytest.importorskip("tensorrt_rtx", reason="the RTX build needs TensorRT-RTX (scripts/setup.sh dev)")
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    assert e.value.code == 0, capsys.readouterr().err
    assert parse_counter(onnx) == 1
    if command == "compare":
        assert parse_counter(files["dynamic"]) == 1
