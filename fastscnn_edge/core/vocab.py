"""The words the toolkit's options take, each vocabulary defined once, and the one check of a word.

Every library step checks the words it is given at its entry with :func:`check`, so a wrong word
gets the same one-line error from the CLI and from the Python API. Precision has its own table
(:mod:`fastscnn_edge.core.precision`); the deployment targets are the rows of
:data:`fastscnn_edge.runtime.capability.TARGETS`.
"""

from __future__ import annotations

from typing import Optional, Sequence

from fastscnn_edge.core.errors import UserError

PRECISIONS = ("fp32", "fp16", "int8")  # the rows of fastscnn_edge.core.precision.TABLE, in that order
INT8_FORMS = ("tensorrt", "cpu", "openvino")  # who runs an INT8 ONNX: TensorRT, onnxruntime, OpenVINO
ONNX_KINDS = ("fp32", "fp16", "qdq")  # what an ONNX graph holds
HEADS = ("cls", "prob", "logits")  # argmax labels, softmax scores, raw logits
DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "tensorrt", "onnxruntime", "openvino", "torch")  # what runs a model
ONNX_CPU_RUNTIMES = ("onnxruntime", "openvino")  # the backends that run an ONNX file on the CPU
TRT_RUNTIMES = ("tensorrt", "rtx")  # TensorRT proper (8.x/10.x/11.x) and TensorRT-RTX
TRITON_BACKENDS = ("auto", "python", "openvino")  # what serves a model in a Triton repository

_WORDS = {
    "precision": PRECISIONS, "INT8 form": INT8_FORMS, "ONNX kind": ONNX_KINDS, "head": HEADS, "device": DEVICES,
    "backend": BACKENDS, "TensorRT runtime": ("auto",) + TRT_RUNTIMES, "Triton backend": TRITON_BACKENDS,
}


def check(what: str, value: str, choices: Optional[Sequence[str]] = None, *, fix: Optional[str] = None) -> str:
    """``value`` if it is one of the ``what`` vocabulary's words (or of ``choices``), else the one
    UserError: ``unknown <what> 'x'.`` with the words to use."""
    words = tuple(choices) if choices is not None else _WORDS[what]
    if value not in words:
        raise UserError(f"unknown {what} {value!r}.", fix=fix or f"use one of: {', '.join(words)}.")
    return value
