"""trt.builder: the TensorRT side of a build (what is installed here; one build Ctrl-C can stop)."""

from __future__ import annotations

import pytest


def test_first_ctrl_c_requests_a_stop_and_the_second_interrupts():
    import os
    import signal

    from fastscnn_edge.runtime.trt.builder import ctrl_c_cancels

    # Python's own Ctrl-C handler, as at a terminal (a suite run as a background job starts with SIGINT ignored)
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with ctrl_c_cancels() as cancel:
                os.kill(os.getpid(), signal.SIGINT)
                assert cancel.is_set()  # first: the build is asked to stop, Python code goes on
                os.kill(os.getpid(), signal.SIGINT)  # second: the usual KeyboardInterrupt
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outer)


@pytest.mark.rtx
def test_detects_tensorrt_rtx_without_a_gpu_and_builds(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from fastscnn_edge.runtime.capability import generation
    from fastscnn_edge.runtime.trt import builder, lib

    env = builder.detect_environment("rtx")
    assert env.runtime == "rtx" and env.dla_cores == 0 and env.compute_capability is None  # ahead of time
    assert generation(env.trt_version, env.runtime) == "rtx"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
                                opset_imports=[helper.make_opsetid("", 17)]), str(path))
    phases = []
    built = builder.build(lib.BuildRequest(onnx=path, strongly_typed=True, flags=[], profiles=[], runtime="rtx",
                                           compute_capabilities=[(8, 6)]), progress=lambda *a: phases.append(a))
    assert len(built.plan) > 1000 and [t.name for t in built.io] == ["x", "y"]
