"""The refined cls head (fastscnn_edge/export/cls_head.py): the dense head's labels, computed at full
resolution only where a cell's corners disagree; where it is built, where it is refused."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fastscnn_edge.export.cls_head import cell_tables, refine_cls_head
from fastscnn_edge.quantize.quant_eval import cpu_session

LABEL_TYPES = {"uint8": TensorProto.UINT8, "int32": TensorProto.INT32, "int64": TensorProto.INT64}


def dense_head(c: int, h: int, w: int, s: int, *, labels: str = "uint8", opset: int = 17, nhwc: bool = True,
               coord: str = "half_pixel", via_float: bool = False, dynamic: bool = False) -> onnx.ModelProto:
    """The export's dense head on a logits input: [Transpose NHWC] -> Resize x s -> ArgMax -> Cast(s)."""
    H, W = s * h, s * w
    sizes = np.array([1, H, W, c] if nhwc else [1, c, H, W], np.int64)
    nodes = []
    src = "logits"
    if nhwc:
        nodes.append(helper.make_node("Transpose", ["logits"], ["nhwc"], perm=[0, 2, 3, 1], name="t"))
        src = "nhwc"
    nodes += [helper.make_node("Resize", [src, "", "", "sizes"], ["up"], mode="linear",
                               coordinate_transformation_mode=coord, name="resize"),
              helper.make_node("ArgMax", ["up"], ["am"], axis=3 if nhwc else 1, keepdims=0, name="argmax")]
    if via_float:
        nodes.append(helper.make_node("Cast", ["am"], ["am_f"], to=TensorProto.FLOAT, name="via_float"))
    if labels != "int64":
        nodes.append(helper.make_node("Cast", ["am_f" if via_float else "am"], ["labels"], to=LABEL_TYPES[labels],
                                      name="cast"))
    else:
        nodes[-1].output[0] = "labels"
    in_dims = [1, c, "h", "w"] if dynamic else [1, c, h, w]
    out_dims = [1, "H", "W"] if dynamic else [1, H, W]
    graph = helper.make_graph(nodes, "head", [helper.make_tensor_value_info("logits", TensorProto.FLOAT, in_dims)],
                              [helper.make_tensor_value_info("labels", LABEL_TYPES[labels], out_dims)],
                              [numpy_helper.from_array(sizes, "sizes")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def reference_labels(x: np.ndarray, s: int) -> np.ndarray:
    """Bilinear half-pixel upsampling (align_corners=False, clamped at the border), then the first
    argmax, in float64 numpy: the definition both heads must meet."""
    _, c, h, w = x.shape

    def axis(n: int, N: int):
        pos = np.clip((np.arange(N) + 0.5) * n / N - 0.5, 0, n - 1)
        i0 = np.floor(pos).astype(int)
        return i0, np.minimum(i0 + 1, n - 1), pos - i0

    r0, r1, fr = axis(h, s * h)
    c0, c1, fc = axis(w, s * w)
    v = x[0].astype(np.float64)
    top = v[:, r0][:, :, c0] * (1 - fc) + v[:, r0][:, :, c1] * fc
    bottom = v[:, r1][:, :, c0] * (1 - fc) + v[:, r1][:, :, c1] * fc
    up = top * (1 - fr)[:, None] + bottom * fr[:, None]
    return up.argmax(0)[None]


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return cpu_session(model.SerializeToString()).run(None, {"logits": x})[0]


def refined(model: onnx.ModelProto, max_mixed: float = 1.0) -> onnx.ModelProto:
    """The refined copy; by default one that never falls back to the dense branch."""
    m = copy.deepcopy(model)
    assert refine_cls_head(m, max_mixed=max_mixed) is None
    assert not any(n.op_type == "Resize" for n in m.graph.node)  # the dense one lives only inside the If
    return m


def nodes_run(model: onnx.ModelProto, x: np.ndarray, tmp_path: Path) -> set:
    """The names of the nodes onnxruntime ran for ``x`` (its profile), subgraphs included."""
    import json

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.enable_profiling = True
    so.profile_file_prefix = str(tmp_path / "profile")
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    sess.run(None, {"logits": x})
    events = json.loads(Path(sess.end_profiling()).read_text())
    return {e["name"].rsplit("_kernel_time", 1)[0] for e in events if e.get("cat") == "Node"}


@pytest.mark.parametrize("labels,opset,nhwc,via_float", [("uint8", 17, True, True), ("int32", 18, True, False),
                                                         ("int64", 13, False, False), ("uint8", 20, False, False)])
def test_refined_labels_equal_dense_and_the_definition(labels, opset, nhwc, via_float):
    c, h, w, s = 19, 6, 10, 8
    dense = dense_head(c, h, w, s, labels=labels, opset=opset, nhwc=nhwc, via_float=via_float)
    fine = refined(dense)
    rng = np.random.default_rng(0)
    # smooth logits (a few regions, like a network's) and raw noise (almost every cell mixed)
    smooth = np.repeat(np.repeat(rng.standard_normal((1, c, 3, 5)).astype(np.float32), 2, 2), 2, 3)
    smooth += 0.05 * rng.standard_normal(smooth.shape).astype(np.float32)
    for x in (smooth, rng.standard_normal((1, c, h, w)).astype(np.float32)):
        want = reference_labels(x, s)
        got = run(fine, x)
        assert got.dtype == run(dense, x).dtype == {"uint8": np.uint8, "int32": np.int32, "int64": np.int64}[labels]
        assert got.shape == (1, s * h, s * w)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, run(dense, x))


def test_no_mixed_cell_and_every_cell_mixed():
    c, h, w, s = 5, 4, 6, 8
    dense = dense_head(c, h, w, s)
    fine = refined(dense)
    one = np.zeros((1, c, h, w), np.float32)
    one[:, 3] = 1.0  # one class everywhere: no cell is mixed, nothing is interpolated
    np.testing.assert_array_equal(run(fine, one), np.full((1, s * h, s * w), 3, np.uint8))
    checker = np.zeros((1, c, h, w), np.float32)
    checker[0, 1, ::2, ::2] = checker[0, 1, 1::2, 1::2] = 2.0
    checker[0, 4, 1::2, ::2] = checker[0, 4, ::2, 1::2] = 2.0
    corners, _ = cell_tables(h, w, s)
    low = checker[0].argmax(0).reshape(-1)[corners]
    assert (low.min(1) != low.max(1)).sum() == (h + 1) * (w + 1) - 4  # all but the four image corners
    np.testing.assert_array_equal(run(fine, checker), run(dense, checker))
    np.testing.assert_array_equal(run(fine, checker), reference_labels(checker, s))


def test_frames_with_too_many_mixed_cells_take_the_dense_branch(tmp_path):
    c, h, w, s = 5, 4, 6, 8
    dense = dense_head(c, h, w, s)
    guarded = refined(dense, max_mixed=0.6)
    one = np.zeros((1, c, h, w), np.float32)
    one[0, 2, :, :3] = one[0, 4, :, 3:] = 1.0  # two halves: one column of mixed cells (5 of 35)
    checker = np.zeros((1, c, h, w), np.float32)
    checker[0, 1, ::2, ::2] = checker[0, 1, 1::2, 1::2] = 1.0
    checker[0, 4, 1::2, ::2] = checker[0, 4, ::2, 1::2] = 1.0
    ran = nodes_run(guarded, one, tmp_path)
    assert "cls_refine/pixel_scores" in ran and "cls_refine/dense_up" not in ran
    ran = nodes_run(guarded, checker, tmp_path)
    assert "cls_refine/dense_up" in ran and "cls_refine/pixel_scores" not in ran
    for x in (one, checker):
        np.testing.assert_array_equal(run(guarded, x), run(dense, x))
        np.testing.assert_array_equal(run(guarded, x), reference_labels(x, s))


def test_ties_keep_the_first_maximum():
    c, h, w, s = 4, 3, 3, 8
    fine = refined(dense_head(c, h, w, s))
    x = np.zeros((1, c, h, w), np.float32)  # classes 1 and 2 tie everywhere: the first (1) wins
    x[:, 1:3] = 1.0
    assert (run(fine, x) == 1).all()


def test_cell_weights_are_convex_and_corners_clamped():
    corners, weights = cell_tables(3, 4, 8)
    assert corners.shape == (4 * 5, 4) and weights.shape == (64, 4)
    assert (weights >= 0).all() and np.allclose(weights.sum(1), 1)
    assert corners.min() == 0 and corners.max() == 3 * 4 - 1
    assert list(corners[0]) == [0, 0, 0, 0]  # the top-left cell: every corner is pixel 0


@pytest.mark.parametrize("kwargs,reason", [
    ({"coord": "align_corners"}, "not bilinear half-pixel"),
    ({"dynamic": True}, "dynamic"),
])
def test_unsupported_heads_are_left_dense_with_the_reason(kwargs, reason):
    dense = dense_head(19, 4, 6, 8, **kwargs)
    m = copy.deepcopy(dense)
    why = refine_cls_head(m)
    assert why is not None and reason in why
    assert m == dense  # nothing was changed


def test_a_transpose_without_perm_is_a_reason_not_a_crash():
    m = dense_head(19, 4, 6, 8)
    del m.graph.node[0].attribute[:]  # Transpose's default: reverse the axes, not NHWC
    assert "not over the channels" in (refine_cls_head(m) or "")


def test_an_odd_factor_and_a_non_cls_graph_are_left_alone():
    m = dense_head(19, 4, 6, 3)
    assert "even integer factor" in (refine_cls_head(m) or "")
    graph = helper.make_graph([helper.make_node("Relu", ["logits"], ["labels"])], "g",
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("labels", TensorProto.FLOAT, [1, 3, 4, 4])])
    assert "not an ArgMax" in (refine_cls_head(helper.make_model(graph)) or "")


# --- through export, quantize and build-engine ----------------------------------------------

RES = (64, 128)


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict:
    """The varied random model of test_quantize, exported with the dense and the refined head
    (the refined one validated against PyTorch by the export itself)."""
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
    from tests.quantize.test_convert import varied_model

    d = tmp_path_factory.mktemp("refine")
    model = varied_model()
    dense = export_onnx(ExportSpec(res=RES, output=d / "dense.onnx"), model=model, validate=False)
    fine = export_onnx(ExportSpec(res=RES, cls_layout="refine", output=d / "refine.onnx"), model=model, validate=True)
    return {"dense": dense, "refine": fine, "dir": d}


def test_export_refine_is_validated_against_pytorch(exports):
    r = exports["refine"]
    assert r.meta.extra["cls_head_layout"] == "refine"
    assert r.validation["pixel_agreement"] >= 0.9999  # the export's bar, against PyTorch
    assert "NonZero" in r.op_counts and "Resize" in r.op_counts  # the network's own Resizes stay
    x = np.random.default_rng(1).standard_normal((1, 3) + RES).astype(np.float32)
    got = cpu_session(r.path.read_bytes()).run(None, {"input": x})[0]
    want = cpu_session(exports["dense"].path.read_bytes()).run(None, {"input": x})[0]
    assert (got == want).mean() >= 0.9999


def test_python_api_exports_the_refined_head(tmp_path):
    import fastscnn_edge

    path = fastscnn_edge.export_model(resolutions=["64x128"], cls_layout="refine", output=tmp_path / "m.onnx")[0]
    assert fastscnn_edge.open_runner(path).meta.extra["cls_head_layout"] == "refine"


@pytest.mark.parametrize("options,fix", [({"dynamic": True}, "drop --dynamic"), ({"head": "prob"}, "use --head cls")])
def test_export_refine_refuses_what_it_cannot_build_before_work(tmp_path, options, fix):
    from fastscnn_edge.core.errors import UserError
    from fastscnn_edge.export.to_onnx import ExportSpec

    with pytest.raises(UserError) as e:
        ExportSpec(res=RES, cls_layout="refine", output=tmp_path / "m.onnx", **options).check()
    assert fix in e.value.fix


def test_export_refine_of_an_align_corners_model_is_one_line(tmp_path):
    from fastscnn_edge.core.errors import UserError
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
    from fastscnn_edge.model.network import build_model

    with pytest.raises(UserError) as e:
        export_onnx(ExportSpec(res=RES, cls_layout="refine", output=tmp_path / "m.onnx"),
                    model=build_model("tramac", 19).eval(), validate=False)
    assert "half-pixel" in str(e.value) and "--cls-layout nhwc" in e.value.fix
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def cpu_forms(exports, tmp_path_factory) -> dict:
    from fastscnn_edge.data.synth import generate
    from fastscnn_edge.quantize.convert import Int8Options, to_int8

    scenes = generate(tmp_path_factory.mktemp("scenes"), 8, 3, RES)
    calib = scenes / "leftImg8bit" / "train"
    d = exports["dir"]
    return {"refined": to_int8(exports["dense"].path, d / "q.onnx", calib, options=Int8Options(form="cpu", method="minmax", val=scenes)),
            "dense": to_int8(exports["dense"].path, d / "qd.onnx", calib, options=Int8Options(form="cpu", method="minmax", val=scenes, refine_head=False)),
            "scenes": scenes}


def test_cpu_form_gets_the_refined_head_with_the_same_labels(cpu_forms):
    fine, dense = cpu_forms["refined"], cpu_forms["dense"]
    assert fine.meta.extra["cls_head_layout"] == "refine" and dense.meta.extra["cls_head_layout"] == "nhwc"
    ops = lambda p: {n.op_type for n in onnx.load(str(p)).graph.node}  # noqa: E731
    assert {"NonZero", "If"} <= ops(fine.path) and not {"NonZero", "If"} & ops(dense.path)
    assert fine.validation["frames"] == dense.validation["frames"] >= 1  # measured on the held-out scenes
    x = np.random.default_rng(2).standard_normal((1, 3) + RES).astype(np.float32)
    a = cpu_session(fine.path.read_bytes()).run(None, {"input": x})[0]
    b = cpu_session(dense.path.read_bytes()).run(None, {"input": x})[0]
    assert (a == b).mean() >= 0.999  # INT8 logits can tie; only there may the two heads differ


def test_refined_head_is_refused_for_gpus_in_one_line(exports, cpu_forms, tmp_path, capsys):
    from fastscnn_edge.cli import main

    def cli(*args: str) -> int:
        with pytest.raises(SystemExit) as e:
            main(list(args))
        return int(e.value.code)

    src = str(exports["refine"].path)
    calib = str(cpu_forms["scenes"] / "leftImg8bit" / "train")
    for args, what in [(["quantize", src, "--fp16", "-o", str(tmp_path / "a.onnx")], "FP16"),
                       (["quantize", src, "--int8", "--calib", calib, "-o", str(tmp_path / "b.onnx")], "TensorRT form"),
                       (["build-engine", src, "--fp16", "-o", str(tmp_path / "c.engine")], "TensorRT engine")]:
        assert cli(*args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "refined cls head" in err[0] and what in err[0] and "--cls-layout nhwc" in err[0]
    assert not list(tmp_path.iterdir())
    # an export with the refined head points to the onnxruntime bench, not to build-engine
    assert cli("export", "--res", "64x128", "--cls-layout", "refine", "--no-validate", "-o", str(tmp_path / "e.onnx")) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"next: fastscnn-edge bench {tmp_path / 'e.onnx'} --backend onnxruntime" in last and "build-engine" not in last
    # the CPU form of an already refined export keeps its head, and says so in its result line
    assert cli("quantize", src, "--int8", "--form", "cpu", "--calib", calib, "--calib-method", "minmax",
               "-o", str(tmp_path / "d.onnx")) == 0
    assert "int8 (cpu, refined cls head)" in capsys.readouterr().out
    assert onnx.load(str(tmp_path / "d.onnx")).graph.node[-1].name.startswith("cls_refine/")


def test_dense_cpu_form_is_noted_when_the_head_cannot_be_refined(cpu_forms, tmp_path):
    """A dynamic export keeps the dense head; quantize says why in one line."""
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx
    from fastscnn_edge.quantize.convert import Int8Options, to_int8
    from tests.quantize.test_convert import varied_model

    src = export_onnx(ExportSpec(res=RES, dynamic=True, output=tmp_path / "dyn.onnx"), model=varied_model(),
                      validate=False).path
    lines = []
    r = to_int8(src, tmp_path / "q.onnx", cpu_forms["scenes"] / "leftImg8bit" / "train", options=Int8Options(form="cpu", method="minmax", res=RES, validate=False, holdout=0), log=lines.append)
    assert r.meta.extra.get("cls_head_layout") != "refine"
    assert any("stays dense" in ln and "dynamic" in ln for ln in lines)


def test_bench_says_the_refined_heads_time_depends_on_the_image(cpu_forms):
    from fastscnn_edge.bench import cases as bench
    from fastscnn_edge.bench import timing

    cases = bench.select_cases([cpu_forms["refined"].path], backend="onnxruntime", device="cpu", heads=[],
                               resolutions=[], precision=None, arch=None)
    result = timing.benchmark(cases, bench.BenchOptions(warmup=1, iters=3))[0]
    assert result.details["cls_head"] == "refine"
    assert any("refined cls head" in w for w in result.warnings)
    assert result.fps > 0


def test_module_imports_without_numpy_at_import_time():
    import subprocess
    import sys

    code = ("import sys; import fastscnn_edge.export.cls_head; "
            "sys.exit(1 if 'numpy' in sys.modules or 'onnx' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2]).returncode == 0
