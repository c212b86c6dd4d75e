"""precision: one table, one default rule; every step that decides something about a precision
reads it (the capability plan, file names, the artifact reader, the build defaults)."""

import pytest

from fastscnn_edge.core import precision
from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.vocab import ONNX_KINDS, PRECISIONS
from fastscnn_edge.runtime.capability import Environment, decide

GENERATION_VERSIONS = {"8": "8.6.1", "10": "10.3.0", "11": "11.0.0"}


def test_the_table_has_a_row_per_precision_and_kind():
    assert tuple(precision.TABLE) == PRECISIONS
    assert sorted(p.onnx_kind for p in precision.TABLE.values()) == sorted(ONNX_KINDS)
    for p in precision.TABLE.values():
        assert precision.of_onnx_kind(p.onnx_kind) is p
        assert set(p.trt_parses) == set(precision.GENERATIONS)
        assert p.flag == f"--{p.name}"
    assert [p.name for p in precision.TABLE.values() if p.needs_calibration] == ["int8"]


@pytest.mark.parametrize("gen", ["8", "10", "11", "rtx"])
@pytest.mark.parametrize("name", PRECISIONS)
@pytest.mark.parametrize("have", ["fp32", "fp16", "qdq"])
def test_the_capability_plan_parses_what_the_table_says(gen, name, have):
    env = Environment(GENERATION_VERSIONS.get(gen, "1.2.0"), runtime="rtx" if gen == "rtx" else "tensorrt",
                      compute_capability=None if gen == "rtx" else (8, 6))
    row = precision.TABLE[name]
    if have == "qdq" and name != "int8":
        with pytest.raises(UserError, match="INT8 Q/DQ"):
            decide(env, name, have, have_calibration=True)
        return
    plan = decide(env, name, have, have_calibration=True)
    assert plan.onnx_kind == row.trt_onnx_kind(gen, have)
    if plan.strongly_typed:
        assert plan.flags == []
    else:  # 8.x: the row's builder flags (INT8 adds FP16 where it is fast: sm_86 here)
        assert plan.flags == list(row.weak_flags) + [f for f in row.fast_fp16_flags if f not in row.weak_flags]
    # 8.x builds FP16 from the fp32 graph with the flag; strongly typed generations need the fp16 graph
    if name == "fp16" and have == "fp32":
        assert plan.onnx_kind == ("fp32" if gen == "8" else "fp16")


def test_one_default_rule():
    assert precision.default_for("qdq") == "int8"
    assert precision.default_for("fp16") == "fp16"
    assert precision.default_for("fp32") == precision.BUILD_DEFAULT == "fp16"
    assert precision.resolve(None, "qdq") == "int8" and precision.resolve("fp32", "fp32") == "fp32"
    with pytest.raises(UserError, match="unknown precision 'fp8'"):
        precision.resolve("fp8", "fp32")


def test_the_build_option_defaults_leave_the_precision_to_the_rule():
    """The CLI and the library share the default because neither has one of its own."""
    import inspect

    from fastscnn_edge.engine import BuildOptions

    assert BuildOptions().precision is None
    assert inspect.signature(BuildOptions).parameters["precision"].default is None


def test_flags_to_one_precision():
    assert precision.from_flags(fp32=False, fp16=True, int8=False) == "fp16"
    assert precision.from_flags(fp32=False, fp16=False, int8=False) is None
    with pytest.raises(UserError, match="--fp16 and --int8 were both given"):
        precision.from_flags(fp16=True, int8=True)


def test_file_tags_are_the_names_paths_writes(tmp_path):
    from fastscnn_edge.core.paths import beside

    src = tmp_path / "m.onnx"
    assert beside(src, "fp32").name == "m.onnx"
    assert beside(src, "fp16").name == "m.fp16.onnx"
    for form, tag in (("tensorrt", "int8"), ("cpu", "int8-cpu"), ("openvino", "int8-ov")):
        name = beside(src, "int8", form).name
        assert name == f"m.{tag}.onnx" and precision.file_tag("int8", form) == tag
        assert precision.form_of_tag(name) == form
    assert precision.form_of_tag("m.fp16.onnx") is None
    with pytest.raises(UserError, match="unknown INT8 form 'gpu'"):
        precision.file_tag("int8", "gpu")
