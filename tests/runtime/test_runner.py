"""runner: the interface every backend's runner shares (inputs of the right form, labels from any head)."""

import numpy as np
import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.runtime.runner import IOSpec, Runner

RES = (64, 128)


def _runner(head="cls", input_format="float", resolution=RES, **extra):
    meta = ModelMeta(head=head, input_format=input_format, resolution=resolution, num_classes=4, extra=dict(extra))
    return Runner("onnxruntime", "cpu", meta, IOSpec("input", (1, 3, *RES), "float32", "out", (1, *RES), "uint8"))


def test_random_inputs_have_the_artifacts_form():
    rng = np.random.default_rng(0)
    x = _runner().random_input(rng, batch=2)
    assert x.shape == (2, 3, *RES) and x.dtype == np.float32
    f = _runner(input_format="bgr8").random_input(rng)
    assert f.shape == (1, *RES, 3) and f.dtype == np.uint8


def test_labels_from_each_head():
    scores = np.zeros((1, 4, *RES), np.float32)
    scores[:, 2] = 1.0
    scores[:, 3, :, :10] = 2.0
    labels = _runner("prob").labels(scores)
    assert labels.shape == (1, *RES) and labels.dtype == np.int64
    assert (labels[0, :, :10] == 3).all() and (labels[0, :, 10:] == 2).all()
    cls = _runner("cls").labels(np.full((1, *RES), 7, np.uint8))
    assert cls.dtype == np.int64 and (cls == 7).all()
    logits = np.zeros((1, 4, RES[0] // 8, RES[1] // 8), np.float32)
    logits[:, 1] = 5.0  # the logits head is 1/8 size: labels come back at the full resolution
    up = _runner("logits", align_corners="false").labels(logits)
    assert up.shape == (1, *RES) and (up == 1).all()


def test_preprocess_resizes_any_frame_and_the_base_call_is_abstract():
    r = _runner()
    x = r.preprocess(np.zeros((100, 150, 3), np.uint8))
    assert x.shape == (1, 3, *RES) and x.dtype == np.float32
    with pytest.raises(NotImplementedError):
        r(x)
    with pytest.raises(UserError, match="dynamic input size"):
        _runner(resolution=None).resolution
    with r as same:  # a context manager
        assert same is r
