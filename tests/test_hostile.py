"""Hostile inputs, command by command: corrupt, truncated, foreign, mistyped, malicious, oversized
and interrupted. Every one must end in ONE stderr line ``error: <cause> Fix: <fix>`` (the
interrupt line for Ctrl-C/SIGTERM), a non-zero exit (130/143 for signals), no traceback, and
nothing written: the folder a case works in is the same before and after.

The genuine artifacts the hostile ones are made from (a 64x128 export, a native checkpoint, a
two-iteration training run, a small dataset, an engine sidecar) are built once per module.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, Tuple

import cv2
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from fastscnn_edge.cli import main
from fastscnn_edge.model import checkpoint

RES = (64, 128)
FAST = ("--iters", "1", "--warmup", "0")
TRAIN = ("--data-format", "folder", "--crop", "64x128", "--batch", "2", "--iters", "2", "--ckpt-every", "1")


# ---------------------------------------------------------------------------------------------
# the genuine artifacts


def _write_folder_dataset(root: Path, classes=("bg", "thing", "stuff"), n: int = 4) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.txt").write_text("\n".join(classes) + "\n", encoding="utf-8")
    for i in range(n):
        mask = rng.integers(0, len(classes), size=RES, dtype=np.uint8)
        assert cv2.imwrite(str(root / "images" / f"im{i}.png"), rng.integers(0, 256, (*RES, 3), dtype=np.uint8))
        assert cv2.imwrite(str(root / "masks" / f"im{i}.png"), mask)
    return root


@pytest.fixture(scope="module")
def lab(tmp_path_factory):  # noqa: ANN001, ANN201
    from fastscnn_edge.core.metadata import read_onnx_meta
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
    from fastscnn_edge.model.network import build_model
    from fastscnn_edge.runtime.sidecar import Sidecar, TensorInfo, write_sidecar
    from fastscnn_edge.train.loop import TrainConfig, train

    root = tmp_path_factory.mktemp("lab")
    torch.manual_seed(0)
    model = build_model("paper", 19).eval()
    good = checkpoint.from_model(model, source="hostile tests")
    checkpoint.save(good, root / "good.pt")
    onnx_path = export_onnx(ExportSpec(res=RES, output=root / "m.onnx"), model=model, checkpoint=good).path
    data = _write_folder_dataset(root / "data")
    run = root / "run"
    train(TrainConfig(data=data, out=run, format="folder", crop=RES, batch=2, iters=2, ckpt_every=1))
    meta = json.loads(json.dumps(read_onnx_meta(onnx_path).to_json()))
    sidecar = Sidecar(tensorrt_version="10.3.0.30", gpu_name="Orin", compute_capability=(8, 7), precision="fp16",
                      io=[TensorInfo("input", "input", [1, 3, 64, 128], "float32"),
                          TensorInfo("labels", "output", [1, 64, 128], "uint8")],
                      source_onnx=str(onnx_path), source_sha256="ab" * 32, meta=meta).to_json()
    engine = root / "m.fp16.engine"
    engine.write_bytes(b"plan")
    write_sidecar(engine, Sidecar.from_json(sidecar))
    return SimpleNamespace(root=root, good=root / "good.pt", onnx=onnx_path, data=data, run=run, meta=meta,
                           sidecar=sidecar, model=model)


@pytest.fixture()
def work(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """The folder a case works in (and the default artifacts folder), checked unchanged afterwards."""
    monkeypatch.setenv("FASTSCNN_EDGE_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---------------------------------------------------------------------------------------------
# helpers


def _snapshot(folder: Path) -> Dict[str, Tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (-1, 0)
            for p in folder.rglob("*")}


def refused(capfd, folder: Path, *args: object, needle: str, code: int = 2) -> str:  # noqa: ANN001
    """Run the CLI in-process; assert one error line with a Fix, the exit code, no traceback, and
    that ``folder`` is exactly as before. Returns the line."""
    before = _snapshot(folder)
    capfd.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    _, err = capfd.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert exc.value.code == code, err
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and " Fix: " in lines[0], lines[0]
    assert needle in lines[0], lines[0]
    assert "weights_only=False" not in lines[0]
    assert _snapshot(folder) == before, "something was written"
    if os.environ.get("HOSTILE_SHOW"):
        print(lines[0], file=open("/tmp/hostile_lines.txt", "a"))
    return lines[0]


def _onnx_with(lab, dst: Path, **props: object) -> Path:  # noqa: ANN001
    """The genuine export with some ``fastscnn_edge.*`` metadata replaced (None: removed)."""
    m = onnx.load(str(lab.onnx))
    values = {p.key: p.value for p in m.metadata_props}
    for key, value in props.items():
        full = "fastscnn_edge." + key
        if value is None:
            values.pop(full, None)
        else:
            values[full] = value if isinstance(value, str) else json.dumps(value)
    del m.metadata_props[:]
    for k, v in values.items():
        entry = m.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(m, str(dst))
    return dst


def _foreign_relu(lab, dst: Path) -> Path:  # noqa: ANN001
    """One Relu node wearing the real export's metadata."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, *RES])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, *RES])
    m = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "foreign", [x], [y]),
                          opset_imports=[helper.make_opsetid("", 17)])
    for p in onnx.load(str(lab.onnx)).metadata_props:
        entry = m.metadata_props.add()
        entry.key, entry.value = p.key, p.value
    onnx.save(m, str(dst))
    return dst


def _ckpt_with(lab, dst: Path, **fields: object) -> Path:  # noqa: ANN001
    """The genuine checkpoint with some top-level fields replaced (``...``: removed)."""
    d = torch.load(str(lab.good), weights_only=True)
    for k, v in fields.items():
        if v is ...:
            d.pop(k, None)
        else:
            d[k] = v
    torch.save(d, str(dst))
    return dst


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


# ---------------------------------------------------------------------------------------------
# native checkpoints: export, info, predict, bench, train --weights


@pytest.mark.parametrize("fields, needle", [
    ({"arch": ..., "num_classes": ..., "state_dict": ...}, "field 'arch' is missing"),
    ({"num_classes": "nineteen"}, "field 'num_classes' is the string 'nineteen'; expected an integer 1..1000"),
    ({"num_classes": 0}, "field 'num_classes' is 0"),
    ({"mean": "abc"}, "field 'mean' is the string 'abc'; expected a list of 3 numbers"),
    ({"std": [0.2, 0.0, 0.2]}, "field 'std'"),
    ({"arch": "resnet50"}, "field 'arch' is the string 'resnet50'; expected one of 'paper', 'tramac', 'mmseg'"),
    ({"class_names": ["a", "b"]}, "'class_names' has 2 names for num_classes 19"),
    ({"state_dict": {"w": "not a tensor"}}, "field 'state_dict['w']' is the string 'not a tensor'; expected a tensor"),
    ({"format": "fastscnn-edge/2"}, "written by a newer fastscnn-edge"),
    ({"format": "something-else/1"}, "is not a fastscnn-edge checkpoint"),
    ({"config": {"ffm_dilation": "four"}}, "field 'config.ffm_dilation'"),
])
def test_export_refuses_a_mistyped_checkpoint(lab, work, capfd, fields, needle):  # noqa: ANN001
    bad = _ckpt_with(lab, work / "bad.pt", **fields)
    refused(capfd, work, "export", "--res", "64x128", "-w", bad, "-o", work / "m.onnx", needle=needle)


def test_malicious_pickle_is_refused_without_running_and_without_the_unsafe_hint(lab, work, capfd):  # noqa: ANN001
    marker = work.parent / f"{work.name}.pwned"
    torch.save({"format": "fastscnn-edge/1", "arch": _Evil(marker)}, str(work / "evil.pt"))
    line = refused(capfd, work, "export", "--res", "64x128", "-w", work / "evil.pt", "-o", work / "m.onnx",
                   needle="refuses to unpickle code")
    assert "system" in line and not marker.exists()
    refused(capfd, work, "info", "-w", work / "evil.pt", needle="refuses to unpickle code")
    refused(capfd, work, "predict", work / "evil.pt", lab.data / "images" / "im0.png", "--res", "64x128",
            "-o", work / "out", needle="refuses to unpickle code")
    assert not marker.exists()


@pytest.mark.parametrize("content, needle", [
    (b"", "empty or ends early"),
    (np.random.default_rng(1).bytes(2048), "not a torch.save file"),
    (b"\x80\x02}q\x00X\x01\x00", "not a torch.save file"),  # a pickle that stops short
    (None, "damaged or truncated"),  # the first half of a real checkpoint
])
def test_corrupt_checkpoint_files(lab, work, capfd, content, needle):  # noqa: ANN001
    data = content if content is not None else lab.good.read_bytes()[: lab.good.stat().st_size // 2]
    (work / "bad.pt").write_bytes(data)
    refused(capfd, work, "export", "--res", "64x128", "-w", work / "bad.pt", needle=needle)


def test_checkpoint_refused_by_bench_and_train(lab, work, capfd):  # noqa: ANN001
    bad = _ckpt_with(lab, work / "bad.pt", mean=[1, 2, 3])
    refused(capfd, work, "bench", bad, "--res", "64x128", *FAST, needle="field 'mean' is [1, 2, 3]")
    refused(capfd, work, "train", "--data", lab.data, *TRAIN, "-w", bad, "-o", work / "run", needle="field 'mean'")


def test_three_hundred_classes_do_not_fit_uint8_labels(lab, work, capfd):  # noqa: ANN001
    from fastscnn_edge.model.network import build_model

    checkpoint.save(checkpoint.from_model(build_model("paper", 300)), work / "c300.pt")
    line = refused(capfd, work, "export", "--res", "64x128", "-w", work / "c300.pt", "-o", work / "m.onnx",
                   needle="300 classes; uint8 labels hold at most 255")
    assert "--labels int32" in line


def test_export_validation_compares_label_values_not_only_agreement():
    """Below the CLI refusal: were uint8 labels of a 300-class model exported anyway, the export
    check would see label 299 come back as 43 and refuse."""
    from fastscnn_edge.core.errors import ValidationFailed
    from fastscnn_edge.core.metadata import IMAGENET_MEAN, IMAGENET_STD
    from fastscnn_edge.export.to_onnx import ExportSpec, _check_bars, _export_module, validate_against_torch
    from fastscnn_edge.model.network import build_model

    torch.manual_seed(0)
    model = build_model("paper", 300).eval()
    model.set_exact_export(True)
    with torch.no_grad():
        model.classifier.conv.bias.zero_()
        model.classifier.conv.bias[299] = 100.0  # every pixel is class 299
    spec = ExportSpec(res=RES, labels="uint8")
    module = _export_module(model, spec, IMAGENET_MEAN, IMAGENET_STD, "RGB")
    import io

    buf = io.BytesIO()
    x = torch.zeros(1, 3, *RES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice, as in export.py
        torch.onnx.export(module, (x,), buf, dynamo=False, opset_version=17, input_names=["input"],
                          output_names=["labels"])
    v = validate_against_torch(module, buf.getvalue(), spec, RES, IMAGENET_MEAN, IMAGENET_STD)
    assert (v["max_label"], v["reference_max_label"]) == (299 % 256, 299)
    assert v["pixel_agreement"] == 0.0  # compared as values: 43 is not 299
    with pytest.raises(ValidationFailed, match="do not survive the uint8 output"):
        _check_bars(v, spec)


# ---------------------------------------------------------------------------------------------
# import-weights and weights


def test_import_weights_refuses_a_zero_class_checkpoint(lab, work, capfd):  # noqa: ANN001
    # Tramac's key names; the classifier has no output channel
    sd = {"learning_to_downsample.conv.conv.0.weight": torch.zeros(32, 3, 3, 3),
          "classifier.conv.1.weight": torch.zeros(0, 128, 1, 1), "classifier.conv.1.bias": torch.zeros(0)}
    torch.save(sd, str(work / "zero.pth"))
    refused(capfd, work, "import-weights", work / "zero.pth", "--from", "tramac", "-o", work / "out.pt",
            needle="0 output channels")


def test_import_weights_refuses_malicious_and_random_files(work, capfd):  # noqa: ANN001
    marker = work.parent / f"{work.name}.pwned"
    torch.save({"x": _Evil(marker)}, str(work / "evil.pth"))
    refused(capfd, work, "import-weights", work / "evil.pth", "--from", "mmseg", "-o", work / "out.pt",
            needle="refuses to unpickle code")
    (work / "noise.pth").write_bytes(np.random.default_rng(2).bytes(4096))
    refused(capfd, work, "import-weights", work / "noise.pth", "--from", "tramac", "-o", work / "out.pt",
            needle="not a torch.save file")
    assert not marker.exists()


def test_weights_download_with_a_wrong_hash_leaves_nothing(lab, work, capfd):  # noqa: ANN001
    dest = work / "models"
    dest.mkdir()
    refused(capfd, work, "weights", "download", lab.good.as_uri(), "--sha256", "0" * 64, "--dir", dest,
            needle="sha256")


# ---------------------------------------------------------------------------------------------
# ONNX metadata and foreign graphs: quantize, bench, eval, compare, predict, build-engine


@pytest.mark.parametrize("props, needle", [
    ({"num_classes": "many"}, "metadata field 'num_classes' is the string 'many', not JSON"),
    ({"num_classes": "2.5"}, "metadata field 'num_classes' is 2.5; expected an integer"),
    ({"mean": "[1]"}, "metadata field 'mean' is [1]; expected a list of 3 numbers"),
    ({"resolution": "64x128"}, "metadata field 'resolution' is the string '64x128', not JSON"),
    ({"resolution": [64, 100]}, "metadata field 'resolution' is [64, 100]"),
    ({"head": "argmax"}, "metadata field 'head' is the string 'argmax'"),
    ({"input_format": None}, "metadata field 'input_format' is missing"),
    ({"class_names": ["road"]}, "'class_names' has 1 names for num_classes 19"),
    ({"schema": "2"}, "written by a newer fastscnn-edge"),
    ({"num_classes": 300, "class_names": []}, "uint8 labels for 300 classes"),
])
def test_quantize_refuses_bad_metadata_and_writes_no_fp16(lab, work, capfd, props, needle):  # noqa: ANN001
    bad = _onnx_with(lab, work / "bad.onnx", **props)
    refused(capfd, work, "quantize", bad, "--fp16", needle=needle)


def test_bad_metadata_is_refused_by_every_reader(lab, work, capfd):  # noqa: ANN001
    bad = _onnx_with(lab, work / "bad.onnx", std="[0.2, 0.2, \"x\"]")
    needle = "metadata field 'std[2]' is the string 'x'; expected a number"
    refused(capfd, work, "bench", bad, *FAST, needle=needle)
    refused(capfd, work, "predict", bad, lab.data / "images" / "im0.png", "-o", work / "out", needle=needle)
    refused(capfd, work, "eval", bad, "--data", lab.data, "--data-format", "folder", needle=needle)
    refused(capfd, work, "compare", lab.onnx, bad, "--random", "1", needle=needle)
    refused(capfd, work, "build-engine", bad, needle=needle)


@pytest.mark.parametrize("cmd", ["bench", "quantize-fp16", "quantize-int8", "eval", "compare", "predict", "build-engine"])
def test_foreign_graph_wearing_real_metadata_is_refused(lab, work, capfd, cmd):  # noqa: ANN001
    relu = _foreign_relu(lab, work / "relu.onnx")
    (work / "calib").mkdir()
    args = {
        "bench": ("bench", relu, *FAST),
        "quantize-fp16": ("quantize", relu, "--fp16"),
        "quantize-int8": ("quantize", relu, "--int8", "--calib", work / "calib"),
        "eval": ("eval", relu, "--data", lab.data, "--data-format", "folder"),
        "compare": ("compare", lab.onnx, relu, "--random", "1"),
        "predict": ("predict", relu, lab.data / "images" / "im0.png", "-o", work / "out"),
        "build-engine": ("build-engine", relu),
    }[cmd]
    line = refused(capfd, work, *args, needle="does not match its own metadata")
    assert "output 'y' is float32 [1,3,64,128], expected 'labels' uint8 [N,64,128]" in line


@pytest.mark.parametrize("content, needle", [
    (b"\x08\x07garbage" * 50, "not a readable ONNX file"),
    (None, "not a readable ONNX file"),  # the first half of a real export
])
def test_corrupt_onnx_files(lab, work, capfd, content, needle):  # noqa: ANN001
    data = content if content is not None else lab.onnx.read_bytes()[: lab.onnx.stat().st_size // 2]
    (work / "bad.onnx").write_bytes(data)
    refused(capfd, work, "bench", work / "bad.onnx", *FAST, needle=needle)


def test_onnx_without_metadata_is_refused(lab, work, capfd):  # noqa: ANN001
    m = onnx.load(str(lab.onnx))
    del m.metadata_props[:]
    onnx.save(m, str(work / "plain.onnx"))
    refused(capfd, work, "predict", work / "plain.onnx", lab.data / "images" / "im0.png", "-o", work / "out",
            needle="carries no fastscnn-edge metadata")


# ---------------------------------------------------------------------------------------------
# engine sidecars (read when bench plans; no TensorRT needed)


def _engine_with_sidecar(work: Path, data: object) -> Path:
    engine = work / "m.fp16.engine"
    engine.write_bytes(b"plan")
    (work / "m.fp16.engine.json").write_text(json.dumps(data))
    return engine


def _edit(sidecar: dict, path: str, value: object) -> dict:
    d = copy.deepcopy(sidecar)
    *parents, last = path.split(".")
    node = d
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return d


@pytest.mark.parametrize("edit, needle", [
    (None, "holds null, not a JSON object"),
    ([], "holds []"),
    (("meta.resolution", ["a", "b"]), "sidecar field 'meta.resolution[0]' is the string 'a'"),
    (("meta.num_classes", "many"), "sidecar field 'meta.num_classes' is the string 'many'"),
    (("schema", 2), "written by a newer fastscnn-edge"),
    (("compute_capability", [8]), "field 'compute_capability' is [8]"),
    (("io", [{"name": "input", "mode": "sideways", "shape": [1], "dtype": "float32"}] * 2), "field 'io[0].mode'"),
    (("precision", ...), "field 'precision' is missing"),
    (("runtime", "vulkan"), "field 'runtime' is the string 'vulkan'"),
    (("compute_capabilities", [[8, 6], "8.9"]), "field 'compute_capabilities[1]'"),
    (("io.1.dtype", "float32"), "does not match its own metadata"),  # io and meta disagree
])
def test_bench_refuses_a_bad_engine_sidecar(lab, work, capfd, edit, needle):  # noqa: ANN001
    data = edit if not isinstance(edit, tuple) else _edit(lab.sidecar, *edit)
    engine = _engine_with_sidecar(work, data)
    refused(capfd, work, "bench", engine, *FAST, needle=needle)


def test_sidecar_accepts_the_optional_rtx_fields(lab, work, capfd):  # noqa: ANN001
    from fastscnn_edge.runtime.sidecar import read_sidecar

    data = {**lab.sidecar, "runtime": "tensorrt_rtx", "compute_capabilities": [[8, 6], [8, 9], [12, 0]]}
    engine = _engine_with_sidecar(work, data)
    side = read_sidecar(engine)
    assert side is not None and side.model_meta().resolution == RES
    assert side.runtime == "tensorrt_rtx" and side.compute_capabilities == [(8, 6), (8, 9), (12, 0)]
    from fastscnn_edge.core.machine import gpu_present, tensorrt_rtx_available

    # the sidecar passes; what stops bench is the runtime's absence, or the GPU's
    if not tensorrt_rtx_available():
        refused(capfd, work, "bench", engine, *FAST, needle="TensorRT-RTX is not installed", code=3)
    elif not gpu_present():
        refused(capfd, work, "bench", engine, *FAST, needle="needs an Ampere-or-later RTX GPU", code=3)


# ---------------------------------------------------------------------------------------------
# calibration caches (quantize --int8 --cache, no images)


def _cache(lab, **changes: object) -> dict:  # noqa: ANN001
    doc = {"format": "fastscnn-edge calibration cache v1", "key": "a" * 64,
           "onnx_sha256": hashlib.sha256(lab.onnx.read_bytes()).hexdigest(), "images_sha256": "b" * 64,
           "method": "entropy", "target": "tensorrt", "count": 8, "policy": "", "images": [],
           "ranges": {"input": [-2.0, 2.5]}}
    for k, v in changes.items():
        if v is ...:
            doc.pop(k)
        else:
            doc[k] = v
    return doc


@pytest.mark.parametrize("doc, needle", [
    ("{not json", "is not readable JSON"),
    ({"format": "fastscnn-edge calibration cache v9"}, "written by a newer fastscnn-edge"),
    ({"format": "tensorrt calibration table"}, "is not a fastscnn-edge calibration cache"),
    ({"ranges": {"input": ["low", "high"]}}, "field 'ranges['input'][0]' is the string 'low'"),
    ({"ranges": {"input": [3.0, -3.0]}}, "lowest <= highest"),
    ({"method": "magic"}, "field 'method' is the string 'magic'"),
    ({"onnx_sha256": "xyz"}, "field 'onnx_sha256'"),
    ({"count": -1}, "field 'count' is -1"),
    ({"ranges": {"not_a_tensor_of_this_model": [0.0, 1.0]}}, "lacks ranges this model needs"),
])
def test_quantize_refuses_a_bad_calibration_cache(lab, work, capfd, doc, needle):  # noqa: ANN001
    cache = work / "c.calib.json"
    cache.write_text(doc if isinstance(doc, str) else json.dumps(_cache(lab, **doc)))
    refused(capfd, work, "quantize", lab.onnx, "--int8", "--cache", cache, "-o", work / "m.int8.onnx", needle=needle)


# ---------------------------------------------------------------------------------------------
# training state and data


def _run_copy(lab, work: Path) -> Path:  # noqa: ANN001
    run = work / "run"
    shutil.copytree(lab.run, run)
    return run


def _state_with(lab, run: Path, **fields: object) -> None:  # noqa: ANN001
    state = torch.load(str(lab.run / "train_state.pt"), weights_only=True)
    for k, v in fields.items():
        state[k] = v
    torch.save(state, str(run / "train_state.pt"))


@pytest.mark.parametrize("kind, needle", [
    ("empty", "empty or ends early"),
    ("random", "not a torch.save file"),
    ("malicious", "refuses to unpickle code"),
    ("iteration", "training state field 'iteration' is the string 'five'"),
    ("newer", "written by a newer fastscnn-edge"),
    ("past_end", "past the run's 2 iterations"),
    ("model", "does not fit this run's model and optimizer"),
    ("rng", "training state field 'rng.torch'"),
])
def test_train_resume_refuses_a_bad_state(lab, work, capfd, kind, needle):  # noqa: ANN001
    run = _run_copy(lab, work)
    state = run / "train_state.pt"
    if kind == "empty":
        state.write_bytes(b"")
    elif kind == "random":
        state.write_bytes(np.random.default_rng(3).bytes(1000))
    elif kind == "malicious":
        torch.save({"format": "fastscnn-edge-train/1", "model": _Evil(work / "pwned")}, str(state))
    elif kind == "iteration":
        _state_with(lab, run, iteration="five")
    elif kind == "newer":
        _state_with(lab, run, format="fastscnn-edge-train/7")
    elif kind == "past_end":
        _state_with(lab, run, iteration=99)
    elif kind == "model":
        _state_with(lab, run, model={"conv.weight": torch.zeros(3)})
    else:
        _state_with(lab, run, rng={"python": [3, [1], None], "numpy": {}, "torch": "seed"})
    line = refused(capfd, work, "train", "--data", lab.data, *TRAIN, "-o", run, "--resume", needle=needle)
    assert "interrupted" not in line
    assert not (work / "pwned").exists()


def test_train_resume_refuses_a_corrupt_log(lab, work, capfd):  # noqa: ANN001
    run = _run_copy(lab, work)
    (run / "log.csv").write_bytes(b"iteration,epoch\n\xff\xfe,x\n")
    refused(capfd, work, "train", "--data", lab.data, *TRAIN, "-o", run, "--resume", needle="log.csv")


def test_classes_file_that_is_not_utf8(lab, work, capfd):  # noqa: ANN001
    data = work / "data"
    shutil.copytree(lab.data, data)
    (data / "classes.txt").write_bytes("bg\nthing\nstuff\xe9\n".encode("latin-1"))
    refused(capfd, work, "train", "--data", data, *TRAIN, "-o", work / "run", needle="is not UTF-8 text")
    refused(capfd, work, "eval", lab.onnx, "--data", data, "--data-format", "folder", needle="is not UTF-8 text")


def test_train_refuses_an_unknown_device_before_reading_data(lab, work, capfd):  # noqa: ANN001
    refused(capfd, work, "train", "--data", lab.data, *TRAIN, "--device", "tpu", "-o", work / "run",
            needle="unknown --device 'tpu'")


# ---------------------------------------------------------------------------------------------
# inputs to predict and eval


def test_predict_refuses_inputs_that_are_not_images(lab, work, capfd):  # noqa: ANN001
    (work / "notes.png").write_text("not an image")
    (work / "empty.jpg").write_bytes(b"")
    refused(capfd, work, "predict", lab.onnx, work / "notes.png", work / "empty.jpg", "-o", work / "out",
            needle="none of the 2 input file(s) is an image OpenCV can read")


@pytest.mark.parametrize("args, needle", [
    (("predict", "{onnx}", "{image}", "--frames", "0"), "--frames 0 is not positive"),
    (("predict", "{onnx}", "{image}", "--threads", "-2"), "--threads -2 is below 1"),
    (("eval", "{onnx}", "--data", "{data}", "--data-format", "folder", "--threads", "0"), "--threads 0 is below 1"),
])
def test_runtime_counts_must_be_positive(lab, work, capfd, args, needle):  # noqa: ANN001
    values = {"onnx": lab.onnx, "image": lab.data / "images" / "im0.png", "data": lab.data}
    refused(capfd, work, *[a.format(**values) for a in args], "-o" if args[0] == "predict" else "--json",
            work / "out", needle=needle)


# ---------------------------------------------------------------------------------------------
# sizes


@pytest.mark.parametrize("args, needle", [
    (("export", "--res", "65536x65536"), "exporting it would take about 3.5 TB of memory"),
    (("export", "--res", "8192x8192"), "over the maximum of 8192 per side and 33.6 M pixels"),
    (("bench", "--backend", "torch", "--res", "16384x128", *FAST), "over the maximum"),
    (("info", "--res", "100000x32"), "over the maximum"),
    (("predict", "m.onnx", "x.png", "--res", "9024x32"), "over the maximum"),
    (("train", "--data", "d", "--crop", "32768x32768"), "over the maximum"),
])
def test_oversized_resolutions(work, capfd, args, needle):  # noqa: ANN001
    refused(capfd, work, *args, needle=needle)


# ---------------------------------------------------------------------------------------------
# interrupted (real signals, in a subprocess)

_RUNNER = textwrap.dedent("""
    import sys
    import cv2, onnx, onnxruntime, torch  # noqa: F401 - loaded before "ready", so the signal lands in the command
    from fastscnn_edge.cli import main
    print("ready", flush=True)
    main(sys.argv[1:])
""")


def sigint_from_a_terminal() -> None:
    """A child's SIGINT as a terminal gives it: a suite run as a background job (``cmd &``) passes
    SIGINT on ignored, and Python then keeps ignoring Ctrl-C (a ``preexec_fn``)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args, cwd: Path) -> subprocess.Popen:  # noqa: ANN001
    p = subprocess.Popen([sys.executable, "-c", _RUNNER, *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, preexec_fn=sigint_from_a_terminal,
                         env={**os.environ, "FASTSCNN_EDGE_ARTIFACTS": str(cwd / "artifacts")})
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return p


def _stop(p: subprocess.Popen, sig: int, after: float = 0.0) -> Tuple[int, str]:
    time.sleep(after)
    assert p.poll() is None, "the command ended before the signal; give it more work"
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert "Traceback" not in err, err
    errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and err.rstrip().splitlines()[-1] == errors[0], err
    return p.returncode, errors[0]


def _no_partial(folder: Path) -> None:
    assert not [p for p in folder.rglob("*") if p.name.endswith((".part", ".probe"))]


def test_ctrl_c_during_export_exits_130_and_writes_nothing(work):  # noqa: ANN001
    out = work / "out"
    out.mkdir()
    p = _start(["export", "--res", "1024x2048", "--dynamic", "-o", out / "m.onnx"], work)
    code, line = _stop(p, signal.SIGINT, after=1.0)  # imports are done: the export itself takes seconds
    assert code == 130
    assert line == "error: fastscnn-edge export was interrupted (Ctrl-C, SIGINT); nothing partial was written."
    assert list(out.iterdir()) == []


def _wait_for(p: subprocess.Popen, found, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 120
    while not found():
        assert time.monotonic() < deadline and p.poll() is None, f"no {what}: {p.stderr.read() if p.stderr else ''}"
        time.sleep(0.02)


def test_sigterm_during_video_predict_exits_143_and_writes_no_video(lab, work):  # noqa: ANN001
    from tests.serve.test_predict import _video

    video = _video(work / "long.mp4", frames=3000, size=(240, 320))
    out = work / "pred"
    p = _start(["predict", lab.onnx, video, "-o", out, "--format", "overlay"], work)
    _wait_for(p, lambda: out.is_dir() and any(f.name.endswith(".part") for f in out.iterdir()), "video being written")
    code, line = _stop(p, signal.SIGTERM, after=0.2)
    assert code == 143 and line.startswith("error: fastscnn-edge predict was terminated (SIGTERM)")
    assert not out.exists() or not [f for f in out.rglob("*") if f.is_file()]


def test_ctrl_c_during_bench_writes_no_report(lab, work):  # noqa: ANN001
    p = _start(["bench", lab.onnx, "--iters", "1000000", "--warmup", "0", "--json", work / "b.json"], work)
    code, line = _stop(p, signal.SIGINT, after=1.0)
    assert code == 130 and "fastscnn-edge bench was interrupted" in line
    assert not (work / "b.json").exists()
    _no_partial(work)


def test_signals_held_acts_on_ctrl_c_and_sigterm_after_the_block():
    from fastscnn_edge.core.errors import Terminated
    from fastscnn_edge.core.fileio import signals_held

    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    term = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(Terminated()))
    try:
        for sig, raised in ((signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)):
            done = []
            with pytest.raises(raised):
                with signals_held():
                    os.kill(os.getpid(), sig)
                    done.append("saved")  # runs: the signal waits for the block's end
                    os.kill(os.getpid(), signal.SIGINT)  # a second one is not acted on twice
            assert done == ["saved"]
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with signals_held():
            pass  # nothing pending: nothing raised
    finally:
        signal.signal(signal.SIGINT, outer)
        signal.signal(signal.SIGTERM, term)


def test_ctrl_c_during_training_names_the_complete_checkpoint(lab, work):  # noqa: ANN001
    from fastscnn_edge.train.loop import _load_state

    run = work / "run"
    p = _start(["train", "--data", lab.data, "--data-format", "folder", "--crop", "64x128", "--batch", "2",
                "--iters", "100000", "--ckpt-every", "1", "-o", run], work)
    _wait_for(p, (run / "train_state.pt").exists, "training state")
    code, line = _stop(p, signal.SIGINT, after=0.5)
    assert code == 130 and line.startswith("error: fastscnn-edge train was interrupted (Ctrl-C, SIGINT) during iteration")
    assert "holds the complete state of iteration" in line and "Fix: run the same command with --resume" in line
    saved = int(line.split("holds the complete state of iteration ")[1].split(" ")[0])
    assert _load_state(run / "train_state.pt")["iteration"] == saved >= 1
    assert checkpoint.load(run / "checkpoint.pt").num_classes == 3
    _no_partial(run)
