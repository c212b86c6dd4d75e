"""NVIDIA's own ONNX parser and builder in the loop: TensorRT-RTX parses and builds (ahead of time, no
GPU needed) every form `export` and `quantize` write, and `build-engine` writes an RTX engine and its
sidecar on this GPU-less machine. Where one of our own ONNX rules can be checked by the real parser,
a test does so.

The matrix: input float/rgb8/bgr8 x head cls/prob/logits x labels uint8/int32/int64 (cls only) x
static/dynamic x fp32/FP16/INT8 (TensorRT Q/DQ from `quantize --int8 --calib`), at 64x128. Dynamic
models are built with a range profile (min 64x128, opt 128x256, max 256x512): the case that failed in
TensorRT-RTX's builder for the uint8-label NHWC head.

The full product is 90 builds (about 3 minutes on 2 cores); the suite runs a covering set instead:
every (head, labels) x static/dynamic x precision, with the input format rotated so that every pair
of factor values is built at least once, plus every input format and precision of the dynamic
uint8-label cls head (the case that once failed). ``FASTSCNN_EDGE_FULL_MATRIX=1`` builds all 90.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest


pytestmark = pytest.mark.rtx

RES = (64, 128)
CELLS = [("cls", inp, lab) for inp in ("float", "rgb8", "bgr8") for lab in ("uint8", "int32", "int64")] + \
        [(head, inp, "") for head in ("prob", "logits") for inp in ("float", "rgb8", "bgr8")]
INPUTS, PRECISIONS = ("float", "rgb8", "bgr8"), ("fp32", "fp16", "int8")
FULL = [(*cell, dyn, prec) for cell, dyn, prec in itertools.product(CELLS, (False, True), PRECISIONS)]
HEADS = list(dict.fromkeys((head, lab) for head, _, lab in CELLS))  # (head, labels), in CELLS order


def _covering() -> list:
    """Every (head, labels) x dynamic x precision once, the input format rotated: each pair of factor
    values is covered (for a fixed head and precision the two sizes give two inputs, for a fixed head
    and size the three precisions give all three); plus the dynamic uint8-label cls head in full."""
    chosen = {(head, INPUTS[(i + int(dyn) + j) % 3], lab, dyn, prec)
              for i, (head, lab) in enumerate(HEADS) for dyn in (False, True) for j, prec in enumerate(PRECISIONS)}
    chosen |= {("cls", inp, "uint8", True, prec) for inp in INPUTS for prec in PRECISIONS}
    return [c for c in FULL if c in chosen]


MATRIX = FULL if os.environ.get("FASTSCNN_EDGE_FULL_MATRIX") == "1" else _covering()


def _id(case) -> str:  # noqa: ANN001
    head, inp, lab, dyn, prec = case
    return "-".join(x for x in (head, inp, lab, "dynamic" if dyn else "static", prec) if x)


@pytest.fixture(scope="module")
def calib_images(tmp_path_factory) -> Path:
    import cv2

    d = tmp_path_factory.mktemp("calib")
    rng = np.random.default_rng(3)
    for i in range(8):
        small = rng.integers(0, 256, size=(8, 16, 3), dtype=np.uint8)
        cv2.imwrite(str(d / f"{i:02d}.png"), cv2.resize(small, (RES[1], RES[0]), interpolation=cv2.INTER_LINEAR))
    return d


@pytest.fixture(scope="module")
def models(tmp_path_factory, calib_images):
    """Exports (and their FP16/INT8 forms) made on first use and shared by the matrix."""
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
    from fastscnn_edge.model.checkpoint import resolve_model
    from fastscnn_edge.quantize.convert import Int8Options, to_fp16, to_int8

    d = tmp_path_factory.mktemp("matrix")
    model, ckpt = resolve_model(None, None)
    made: Dict[Tuple[str, str, str, bool, str], Path] = {}

    def get(head: str, inp: str, lab: str, dyn: bool, prec: str) -> Path:
        key = (head, inp, lab, dyn, prec)
        if key in made:
            return made[key]
        if prec == "fp32":
            name = _id((head, inp, lab, dyn, "fp32"))
            spec = ExportSpec(head=head, res=RES, input_format=inp, labels=lab or "uint8", dynamic=dyn,
                              output=d / f"{name}.onnx")
            made[key] = export_onnx(spec, model=model, checkpoint=ckpt, validate=False).path
        elif prec == "fp16":
            made[key] = to_fp16(get(head, inp, lab, dyn, "fp32"), validate=False).path
        else:
            made[key] = to_int8(get(head, inp, lab, dyn, "fp32"), None, calib_images,
                               options=Int8Options(form="tensorrt", method="minmax", count=8, validate=False,
                                                   res=(128, 256) if dyn else None)).path
        return made[key]

    return get


def test_the_covering_set_builds_every_pair_of_factor_values():
    """The suite's 36 builds stand for the 90: each pair of (input, head and labels, size, precision)
    values that the full product builds is built at least once, and the once-failing cell in full."""
    factors = (lambda c: c[1], lambda c: (c[0], c[2]), lambda c: c[3], lambda c: c[4])
    chosen = _covering()
    for a, b in itertools.combinations(factors, 2):
        assert {(a(c), b(c)) for c in FULL} == {(a(c), b(c)) for c in chosen}
    assert {c for c in FULL if c[:4] == ("cls", c[1], "uint8", True)} <= set(chosen)
    assert len(chosen) < len(FULL) / 2


def _range_profile(path: Path):  # noqa: ANN202 - (min, opt, max) input shapes
    from fastscnn_edge.core.metadata import read_onnx_meta

    fmt = read_onnx_meta(path).input_format
    shape = (lambda h, w: (1, h, w, 3)) if fmt in ("rgb8", "bgr8") else (lambda h, w: (1, 3, h, w))
    return (shape(64, 128), shape(128, 256), shape(256, 512))


def _onnx_io(path: Path) -> Dict[str, int]:
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph
    return {v.name: v.type.tensor_type.elem_type for v in list(g.input) + list(g.output)}


TRT_TO_ONNX = {"FLOAT": 1, "UINT8": 2, "INT32": 6, "INT64": 7, "HALF": 10}


@pytest.mark.parametrize("case", MATRIX, ids=[_id(c) for c in MATRIX])
def test_every_export_form_parses_and_builds(models, case):
    from fastscnn_edge.export.onnx_rules import check_onnx
    from fastscnn_edge.runtime.trt import lib

    head, inp, lab, dyn, prec = case
    if prec == "int8" and dyn:
        pytest.importorskip("fastscnn_edge.quantize.convert")
    path = models(*case)
    assert check_onnx(path, generation="rtx", static=not dyn, int8=(prec == "int8")) == []
    req = lib.BuildRequest(onnx=path, strongly_typed=True, flags=[], runtime="rtx",
                           profiles=[_range_profile(path)] if dyn else [])
    built = lib.build_serialized(req)
    assert len(built.plan) > 100_000
    # the engine keeps the graph's I/O names and types (uint8 frames in, the export's label type out)
    io = {t.name: TRT_TO_ONNX[t.dtype] for t in built.io}
    assert io == _onnx_io(path)
    shapes = {t.name: t.shape for t in built.io}
    if not dyn:
        assert all(-1 not in s for s in shapes.values())
    else:
        assert any(-1 in s for s in shapes.values())


def _cli(capsys, *args):  # noqa: ANN001, ANN202
    from fastscnn_edge.cli import main

    with pytest.raises(SystemExit) as e:
        main([*map(str, args)])
    cap = capsys.readouterr()
    return e.value.code, cap.out, cap.err


def test_build_engine_writes_an_rtx_engine_and_sidecar_without_a_gpu(models, tmp_path, capsys):
    from fastscnn_edge.core.machine import tensorrt_available
    from fastscnn_edge.runtime.sidecar import read_sidecar

    if tensorrt_available():
        pytest.skip("TensorRT proper is installed: --runtime auto would pick it")
    src = models("cls", "bgr8", "uint8", False, "fp32")
    out = tmp_path / "engines" / "m.engine"
    code, stdout, err = _cli(capsys, "build-engine", src, "--fp16", "-o", out, "--compute-capability", "8.6,8.9")
    assert code == 0, err
    assert out.is_file() and out.stat().st_size > 100_000
    line = stdout.strip().splitlines()[-1]
    assert line.startswith(f"built {out}") and "TensorRT-RTX for compute capability 8.6, 8.9" in line
    side = read_sidecar(out)
    assert side is not None and side.runtime == "tensorrt_rtx" and side.compute_capabilities == [(8, 6), (8, 9)]
    assert side.precision == "fp16" and side.compute_capability is None and side.gpu_name == ""
    assert side.build_options["plan"]["generation"] == "rtx" and side.build_options["plan"]["strongly_typed"] is True
    assert {t.name: t.dtype for t in side.io} == {"frames": "uint8", "labels": "uint8"}
    assert side.model_meta().input_format == "bgr8" and side.model_meta().head == "cls"
    assert json.loads(out.with_name("m.engine.json").read_text())["runtime"] == "tensorrt_rtx"
    assert Path(side.source_onnx).name.endswith(".fp16.onnx")  # the FP16 graph was made and built


def test_build_engine_default_name_and_refusals(models, artifacts, capsys):
    src = models("cls", "float", "int32", False, "fp32")
    code, stdout, err = _cli(capsys, "build-engine", src, "--runtime", "rtx", "--fp16")
    assert code == 0, err
    made = list((artifacts / "engines").glob("*.rtx.engine"))
    assert [p.name for p in made] == ["fastscnn_paper_cls_64x128.fp16.rtx.engine"]
    for args, needle in ((["--runtime", "rtx", "--dla", "0"], "TensorRT-RTX has no DLA"),
                         (["--runtime", "rtx", "--compute-capability", "6.1"], "nothing older than Turing"),
                         (["--runtime", "rtx", "--compute-capability", "8.7"], "(Jetson)"),
                         (["--runtime", "rtx", "--compute-capability", "9.0"], "cannot build for compute capability 9.0"),
                         (["--runtime", "rtx", "--fp32", "--compute-capability", "7.5"], "build --fp16 for 7.5"),
                         (["--runtime", "rtx", "--target", "titan-xp"], "TensorRT-RTX does not run on titan-xp"),
                         (["--runtime", "tensorrt", "--target", "rtx"], "--target rtx builds with TensorRT-RTX"),
                         (["--compute-capability", "8.6", "--runtime", "tensorrt"], "is for TensorRT-RTX builds"),
                         (["--runtime", "vulkan"], "unknown TensorRT runtime")):
        before = sorted(p.name for p in (artifacts / "engines").iterdir())
        code, _, err = _cli(capsys, "build-engine", src, *args)
        assert code == 2, (args, err)
        assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (args, err)
        assert sorted(p.name for p in (artifacts / "engines").iterdir()) == before


