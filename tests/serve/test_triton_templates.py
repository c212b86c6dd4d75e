"""triton_templates: the Python-backend model and the client example are valid Python that says what
the artifact takes (the server runs them in tests/serve/test_triton.py)."""

import ast
from pathlib import Path

import pytest

from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.serve.triton_templates import PYTHON_MODEL, TRITON_DTYPES, ArtifactInfo, Tensor


def _info(input_format: str, head: str) -> ArtifactInfo:
    frames = input_format != "float"
    inp = Tensor("frames" if frames else "input", "uint8" if frames else "float32",
                 [1, 64, 128, 3] if frames else [1, 3, 64, 128])
    out = Tensor({"cls": "labels", "prob": "probs", "logits": "logits"}[head], "uint8" if head == "cls" else "float32",
                 [1, 64, 128] if head == "cls" else [1, 19, 64, 128])
    meta = ModelMeta(head=head, input_format=input_format, resolution=(64, 128))
    return ArtifactInfo(Path("m.onnx"), "onnx", meta, [inp], [out], batch_cap=None)


def test_the_python_backend_model_is_valid_python_with_triton_entry_points():
    tree = ast.parse(PYTHON_MODEL)
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert cls.name == "TritonPythonModel"
    assert {f.name for f in cls.body if isinstance(f, ast.FunctionDef)} >= {"initialize", "execute", "finalize"}


@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("input_format, head", [("float", "cls"), ("bgr8", "prob"), ("rgb8", "logits")])
def test_client_example_is_valid_python_for_each_form(protocol, input_format, head):
    from fastscnn_edge.serve.triton_templates import client_example

    info = _info(input_format, head)
    text = client_example("localhost:8000", "fastscnn", info, protocol=protocol)
    ast.parse(text)
    assert f"import tritonclient.{protocol} as tc" in text and 'client.infer("fastscnn"' in text
    assert f'InferInput("{info.inputs[0].name}"' in text and TRITON_DTYPES[info.inputs[0].dtype][5:] in text
    assert ("[:, :, ::-1]" in text) == (input_format in ("rgb8", "float"))  # BGR frames go in as they are
    assert info.dynamic_batch is False
