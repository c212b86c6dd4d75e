"""The capability table: every refusal and every plan of the three TensorRT generations."""

import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.runtime.capability import Environment, decide, generation, parse_version, resolve_target

PASCAL_86 = Environment("8.6.1.6", (6, 1), "NVIDIA TITAN Xp", 0)
PASCAL_10 = Environment("10.0.1", (6, 1), "NVIDIA TITAN Xp", 0)
XAVIER = Environment("8.5.2.2", (7, 2), "Xavier", 2, True)
ORIN = Environment("10.3.0.30", (8, 7), "Orin", 2, True)
ADA_10 = Environment("10.13.0.35", (8, 9), "NVIDIA GeForce RTX 4090", 0)
ADA_11 = Environment("11.1.0", (8, 9), "NVIDIA GeForce RTX 4090", 0)


@pytest.mark.parametrize("version,gen", [("8.5.2.2", "8"), ("8.6.1.6", "8"), ("9.2.0", "10"), ("10.3.0.30", "10"),
                                         ("10.13.0.35", "10"), ("11.0.0", "11"), ("8.6.1.post1", "8"), (None, None)])
def test_generation(version, gen):
    assert generation(version) == gen


@pytest.mark.parametrize("version", ["8.4.3", "7.2.3", "9.0.1"])
def test_old_tensorrt_is_refused(version):
    with pytest.raises(UserError, match="too old"):
        generation(version)


def test_parse_version_cuts_tails():
    assert parse_version("10.3.0.30") == (10, 3, 0, 30)
    assert parse_version("8.6.1.post1") == (8, 6, 1)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tensorrt_10_on_pascal_refuses_and_names_86(precision):
    with pytest.raises(UserError, match="needs? TensorRT 8.6|need TensorRT 8.6") as e:
        decide(PASCAL_10, precision, "qdq" if precision == "int8" else "fp32")
    assert "sm_61" in str(e.value) and "8.6" in e.value.fix


def test_fp16_on_pascal_allowed_with_not_faster_warning():
    plan = decide(PASCAL_86, "fp16", "fp32")
    assert plan.flags == ["FP16"] and plan.onnx_kind == "fp32" and plan.strongly_typed is False
    assert any("not faster" in w for w in plan.warnings)


def test_fp16_on_turing_and_newer_has_no_warning():
    assert decide(ADA_10, "fp16", "fp32").warnings == []


def test_int8_without_qdq_or_calibration_refuses():
    for env in (PASCAL_86, ORIN, ADA_11, Environment()):
        with pytest.raises(UserError, match="INT8 needs a Q/DQ ONNX or calibration"):
            decide(env, "int8", "fp32")


def test_int8_with_calibration_plans_a_qdq_conversion():
    plan = decide(ADA_11, "int8", "fp32", have_calibration=True)
    assert plan.onnx_kind == "qdq" and plan.needs_conversion("fp32")


def test_86_int8_uses_flag_and_qdq_onnx_and_no_fp16_on_pascal():
    plan = decide(PASCAL_86, "int8", "qdq")
    assert plan.onnx_kind == "qdq" and plan.flags == ["INT8"] and plan.strongly_typed is False


def test_85_int8_on_xavier_also_allows_fp16_layers():
    plan = decide(XAVIER, "int8", "qdq")
    assert plan.flags == ["INT8", "FP16"] and plan.generation == "8"


def test_10x_is_strongly_typed_from_precision_explicit_onnx():
    plan = decide(ADA_10, "fp16", "fp32")
    assert plan.strongly_typed is True and plan.flags == [] and plan.onnx_kind == "fp16"
    assert plan.needs_conversion("fp32") and not plan.needs_conversion("fp16")
    plan = decide(ADA_10, "int8", "qdq")
    assert plan.strongly_typed is True and plan.flags == [] and plan.onnx_kind == "qdq"


def test_11x_is_strongly_typed_only():
    for precision, kind in (("fp32", "fp32"), ("fp16", "fp16"), ("int8", "qdq")):
        plan = decide(ADA_11, precision, kind)
        assert plan.strongly_typed is True and plan.flags == [] and plan.onnx_kind == kind


def test_fp16_on_86_parses_fp32_onnx_with_flag():
    plan = decide(XAVIER, "fp16", "fp32")
    assert plan.onnx_kind == "fp32" and plan.flags == ["FP16"] and not plan.needs_conversion("fp32")


def test_qdq_model_with_other_precision_refuses():
    with pytest.raises(UserError, match="Q/DQ"):
        decide(ADA_10, "fp16", "qdq")


def test_dla_on_gpu_without_dla_refuses():
    with pytest.raises(UserError, match="has no DLA"):
        decide(ADA_10, "fp16", "fp32", dla=0)
    with pytest.raises(UserError, match="has no DLA"):
        decide(PASCAL_86, "fp16", "fp32", dla=0)


def test_dla_on_orin_builds_weakly_typed_with_fallback():
    plan = decide(ORIN, "fp16", "fp32", dla=0)
    assert plan.strongly_typed is False and plan.flags == ["FP16", "GPU_FALLBACK"] and plan.dla_core == 0
    assert plan.onnx_kind == "fp16"  # still the precision-explicit file on 10.x


def test_dla_core_out_of_range_and_fp32_refuse():
    with pytest.raises(UserError, match="does not exist"):
        decide(ORIN, "fp16", "fp32", dla=2)
    with pytest.raises(UserError, match="FP16 and INT8 only"):
        decide(XAVIER, "fp32", "fp32", dla=0)


def test_dla_on_tensorrt_without_dla_support_refuses():
    with pytest.raises(UserError, match="10.7 was the last"):
        decide(Environment("10.8.0", (8, 7), "Orin", 2, True), "fp16", "fp16", dla=0)
    with pytest.raises(UserError, match="11.0-11.3"):
        decide(Environment("11.1.0", (8, 7), "Orin", 2, True), "fp16", "fp16", dla=0)


def test_unknown_environment_checks_only_what_is_known():
    plan = decide(Environment(), "fp16", "fp32")
    assert plan.generation is None and plan.strongly_typed is None and plan.flags == []


def test_targets_imply_their_platform_without_tensorrt():
    assert decide(resolve_target("titan-xp", None), "fp16", "fp32").generation == "8"
    assert decide(resolve_target("jetson-orin", None), "fp16", "fp32").strongly_typed is True
    assert decide(resolve_target("jetson-xavier", None), "int8", "qdq", dla=1).flags == ["INT8", "FP16", "GPU_FALLBACK"]
    with pytest.raises(UserError, match="has no DLA"):
        decide(resolve_target("titan-xp", None), "fp16", "fp32", dla=0)
    assert resolve_target("auto", None) == Environment()


def test_target_contradicting_detected_gpu_refuses():
    with pytest.raises(UserError, match="expects a GPU with sm_61"):
        resolve_target("titan-xp", ADA_10)
    assert resolve_target("desktop", ADA_10) == ADA_10
    with pytest.raises(UserError, match="unknown target"):
        resolve_target("jetson-nano", None)


def test_unknown_precision_refuses():
    with pytest.raises(UserError, match="unknown precision"):
        decide(ADA_10, "bf16", "fp32")


# ---------------------------------------------------------------------------------------------
# TensorRT-RTX: the fourth generation

RTX = Environment("1.7.1.116", runtime="rtx")


@pytest.mark.parametrize("precision,have,parse", [("fp32", "fp32", "fp32"), ("fp16", "fp32", "fp16"),
                                                  ("fp16", "fp16", "fp16"), ("int8", "qdq", "qdq")])
def test_rtx_is_strongly_typed_without_flags_from_precision_explicit_onnx(precision, have, parse):
    plan = decide(RTX, precision, have)
    assert plan.generation == "rtx" and plan.strongly_typed is True and plan.flags == []
    assert plan.onnx_kind == parse
    assert plan.compute_capabilities == [(8, 0), (8, 6), (8, 9), (12, 0)]  # Ampere and later: no Turing by default


def test_rtx_builds_for_the_compute_capabilities_asked_and_turing_only_when_asked():
    from dataclasses import replace

    assert decide(replace(RTX, build_for=((8, 6), (8, 9))), "fp16", "fp32").compute_capabilities == [(8, 6), (8, 9)]
    assert decide(replace(RTX, build_for=((7, 5),)), "fp16", "fp32").compute_capabilities == [(7, 5)]
    with pytest.raises(UserError, match="FP32 matrix multiply on Turing"):
        decide(replace(RTX, build_for=((7, 5), (8, 6))), "fp32", "fp32")


@pytest.mark.parametrize("cc,needle", [((6, 1), "nothing older than Turing"), ((7, 0), "nothing older than Turing"),
                                       ((7, 2), "(Jetson)"), ((8, 7), "(Jetson)"), ((9, 0), "this GPU family"),
                                       ((10, 0), "this GPU family")])
def test_rtx_refuses_what_it_cannot_target(cc, needle):
    from dataclasses import replace

    with pytest.raises(UserError) as e:
        decide(replace(RTX, build_for=(cc,)), "fp16", "fp32")
    assert needle in str(e.value) and "--runtime tensorrt" in e.value.fix


def test_rtx_has_no_dla():
    with pytest.raises(UserError, match="TensorRT-RTX has no DLA"):
        decide(RTX, "fp16", "fp32", dla=0)


@pytest.mark.parametrize("choice,target,installed,want", [
    ("auto", "auto", ["tensorrt", "rtx"], "tensorrt"), ("auto", "auto", ["rtx"], "rtx"), ("auto", "auto", [], "tensorrt"),
    ("auto", "desktop", ["rtx"], "rtx"), ("auto", "rtx", ["tensorrt", "rtx"], "rtx"), ("auto", "titan-xp", ["rtx"], "tensorrt"),
    ("auto", "jetson-orin", ["rtx"], "tensorrt"), ("rtx", "auto", [], "rtx"), ("tensorrt", "desktop", ["rtx"], "tensorrt"),
])
def test_choose_runtime(choice, target, installed, want):
    from fastscnn_edge.runtime.capability import choose_runtime

    assert choose_runtime(choice, target, installed) == want


@pytest.mark.parametrize("choice,target,needle", [("rtx", "titan-xp", "does not run on titan-xp"),
                                                  ("rtx", "jetson-xavier", "does not run on jetson-xavier"),
                                                  ("tensorrt", "rtx", "--target rtx builds with TensorRT-RTX"),
                                                  ("cuda", "auto", "unknown TensorRT runtime")])
def test_choose_runtime_refuses_contradictions(choice, target, needle):
    from fastscnn_edge.runtime.capability import choose_runtime

    with pytest.raises(UserError, match=needle.replace("(", r"\(")):
        choose_runtime(choice, target, ["tensorrt", "rtx"])


def test_compute_capability_parsing():
    from fastscnn_edge.runtime.capability import parse_compute_capabilities

    assert parse_compute_capabilities(["8.6,8.9", "sm_120", "86"]) == ((8, 6), (8, 9), (12, 0))
    with pytest.raises(UserError, match="not of the form 8.6"):
        parse_compute_capabilities(["ampere"])
    with pytest.raises(UserError, match="is for TensorRT-RTX builds"):
        resolve_target("auto", None, "tensorrt", ((8, 6),))
