"""A graph's inputs and outputs against what its metadata claims."""

import pytest

from fastscnn_edge.core.conformance import TensorSig, check_io, engine_sig, expected_io, onnx_io, problems
from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import ModelMeta


def _meta(**kw) -> ModelMeta:  # noqa: ANN003
    return ModelMeta(**{"resolution": (64, 128), **kw})


def test_what_each_head_and_input_format_implies():
    assert expected_io(_meta()) == (("input", "float32", ("N", 3, 64, 128)), ("labels", "uint8", ("N", 64, 128)))
    inp, out = expected_io(_meta(head="prob", input_format="bgr8", num_classes=5))
    assert inp == ("frames", "uint8", ("N", 64, 128, 3)) and out == ("probs", "float32", ("N", 5, 64, 128))
    assert expected_io(_meta(head="logits"))[1] == ("logits", "float32", ("N", 19, 8, 16))
    assert expected_io(_meta(resolution=None, labels_dtype="int32"))[1] == ("labels", "int32", ("N", "H", "W"))


def test_a_matching_graph_passes_with_static_dynamic_or_unknown_dims():
    cls_in, cls_out = TensorSig("input", "float32", (1, 3, 64, 128)), TensorSig("labels", "uint8", (1, 64, 128))
    assert problems([cls_in], [cls_out], _meta()) == []
    assert problems([TensorSig("input", "float32", (None, 3, None, None))],
                    [TensorSig("labels", "uint8", (None, None, None))], _meta(resolution=None)) == []
    assert problems([cls_in], [TensorSig("labels", "uint8", (1, None, None))], _meta()) == []  # unknown: no contradiction


@pytest.mark.parametrize("inp, out, meta, says", [
    (("x", "float32", (1, 3, 64, 128)), ("labels", "uint8", (1, 64, 128)), {}, "input 'x'"),
    (("input", "float32", (1, 3, 64, 128)), ("labels", "int32", (1, 64, 128)), {}, "output 'labels' is int32"),
    (("input", "float32", (1, 3, 32, 64)), ("labels", "uint8", (1, 32, 64)), {}, "input 'input' is float32 [1,3,32,64]"),
    (("input", "float32", (1, 3, 64, 128)), ("probs", "float32", (1, 19, 64, 128)), {"head": "prob", "num_classes": 7},
     "expected 'probs' float32 [N,7,64,128]"),
    (("input", "float32", (1, 3, 64, 128)), ("labels", "uint8", (1, 64, 128)), {"resolution": None},
     "expected 'input' float32 [N,3,H,W]"),  # metadata says dynamic, the graph is fixed
    (("frames", "float32", (1, 64, 128, 3)), ("labels", "uint8", (1, 64, 128)), {"input_format": "rgb8"},
     "expected 'frames' uint8"),
])
def test_each_difference_is_named(inp, out, meta, says):
    with pytest.raises(UserError, match="does not match its own metadata") as e:
        check_io([TensorSig(*inp)], [TensorSig(*out)], _meta(**meta), source="m.onnx")
    assert says in str(e.value) and str(e.value).startswith("m.onnx ")


def test_graphs_with_other_io_counts_are_refused():
    sig = TensorSig("input", "float32", (1, 3, 64, 128))
    assert "2 input(s) and 0 output(s)" in problems([sig, sig], [], _meta())[0]


def test_reads_a_real_export_and_engine_tensors(tmp_path):
    from fastscnn_edge.export.to_onnx import ExportSpec, export_onnx

    import onnx

    r = export_onnx(ExportSpec(res=(64, 128), head="prob", input_format="rgb8", output=tmp_path / "m.onnx"))
    ins, outs = onnx_io(onnx.load(str(r.path)))
    assert ins == [TensorSig("frames", "uint8", (1, 64, 128, 3))] and outs == [TensorSig("probs", "float32", (1, 19, 64, 128))]
    assert problems(ins, outs, r.meta) == []
    assert engine_sig("labels", "int32", [-1, 64, -1]) == TensorSig("labels", "int32", (None, 64, None))
