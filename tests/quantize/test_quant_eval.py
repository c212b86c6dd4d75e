"""quant_eval: the reduced-precision check compares two real models on CPU, pixel by pixel."""

import numpy as np
import pytest

from fastscnn_edge.core.errors import ValidationFailed
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.quantize.quant_eval import check_bar, compare, describe, synthetic_frames

RES = (64, 128)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tests.bench.test_evaluate import export_varied

    d = tmp_path_factory.mktemp("qe")
    return {name: export_varied(d / f"{name}.onnx", seed, validate=False, head="prob").read_bytes()
            for name, seed in (("a", 0), ("b", 1))}


def test_a_model_agrees_with_itself_and_not_with_another(models):
    meta = ModelMeta(head="prob", resolution=RES)
    frames = synthetic_frames(meta, RES, n=3)
    same = compare(models["a"], models["a"], frames, "prob")
    assert same["pixel_agreement"] == 1.0 and same["max_abs_diff"] == 0.0 and same["frames"] == 3.0
    other = compare(models["a"], models["b"], frames, "prob")
    assert other["pixel_agreement"] < 1.0 and other["max_abs_diff"] > 0.0
    assert describe(other).startswith("pixel agreement ") and "over 3 frame(s)" in describe(other)


def test_the_bar_refuses_below_the_floor(models):
    meta = ModelMeta(head="prob", resolution=RES)
    frames = synthetic_frames(meta, RES, n=2)
    v = compare(models["a"], models["b"], frames, "prob")
    with pytest.raises(ValidationFailed, match="under the --min-agreement bar"):
        check_bar(v, 0.9999, "int8", meta, None)
    notes = []
    check_bar(v, 0.0, "int8", meta, notes.append)  # passes the bar; random weights are said to mean little
    assert any("random weights" in n for n in notes)
