"""The text fastscnn-edge writes for Triton besides configs: the Python-backend ``model.py`` that runs
an ONNX with onnxruntime, and the client example ``serve`` prints (Python, ``tritonclient``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from fastscnn_edge.core.metadata import ModelMeta


# numpy dtype name -> Triton data type (model_config.proto DataType)
TRITON_DTYPES = {
    "bool": "TYPE_BOOL", "uint8": "TYPE_UINT8", "uint16": "TYPE_UINT16", "uint32": "TYPE_UINT32",
    "uint64": "TYPE_UINT64", "int8": "TYPE_INT8", "int16": "TYPE_INT16", "int32": "TYPE_INT32",
    "int64": "TYPE_INT64", "float16": "TYPE_FP16", "float32": "TYPE_FP32", "float64": "TYPE_FP64",
}


# The types the repository writer (fastscnn_edge.serve.triton) and these templates share, below both.
@dataclass
class Tensor:
    name: str
    dtype: str  # numpy dtype name
    shape: List[int]  # full shape, batch first; -1 for a dynamic dimension


@dataclass
class ArtifactInfo:
    """What the repository writer knows of one artifact, all from its metadata."""

    path: Path
    kind: str  # "onnx" | "engine"
    meta: ModelMeta
    inputs: List[Tensor]
    outputs: List[Tensor]
    batch_cap: Optional[int]  # largest batch the artifact takes where its batch dim is dynamic (None: any)
    parameters: Dict[str, str] = field(default_factory=dict)
    batch_note: str = ""  # why the batch is limited, where it is

    @property
    def dynamic_batch(self) -> bool:
        return bool(self.inputs) and bool(self.inputs[0].shape) and self.inputs[0].shape[0] == -1


PYTHON_MODEL = '''"""Triton Python-backend model written by fastscnn-edge: runs model.onnx with onnxruntime.

The config beside it declares the same inputs, outputs and batching as the ONNX file. With dynamic
batching, Triton hands execute() several requests at once; requests of the same shape run as one
onnxruntime call.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        options = ort.SessionOptions()
        threads = config.get("parameters", {}).get("intra_op_threads", {}).get("string_value")
        if threads:
            options.intra_op_num_threads = int(threads)
        providers = ["CPUExecutionProvider"]
        if args.get("model_instance_kind") == "GPU" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(path, options, providers=providers)
        self.input_name = config["input"][0]["name"]
        self.output_names = [o["name"] for o in config["output"]]
        self.batched = int(config.get("max_batch_size", 0)) > 0

    def execute(self, requests):
        arrays = [pb_utils.get_input_tensor_by_name(r, self.input_name).as_numpy() for r in requests]
        responses = [None] * len(requests)
        groups = {}
        for i, a in enumerate(arrays):
            key = (a.shape[1:], a.dtype.str) if self.batched else (i,)
            groups.setdefault(key, []).append(i)
        for members in groups.values():
            try:
                batch = np.concatenate([arrays[i] for i in members]) if len(members) > 1 else arrays[members[0]]
                outs = self.session.run(self.output_names, {self.input_name: batch})
            except Exception as exc:  # the error goes back to the caller, the model stays up
                for i in members:
                    responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)[:500]))
                continue
            start = 0
            for i in members:
                n = arrays[i].shape[0]
                tensors = [pb_utils.Tensor(name, out[start:start + n] if len(members) > 1 else out)
                           for name, out in zip(self.output_names, outs)]
                responses[i] = pb_utils.InferenceResponse(output_tensors=tensors)
                start += n
        return responses

    def finalize(self):
        self.session = None
'''


def client_example(url: str, model: str, info: "ArtifactInfo", *, protocol: str = "http") -> str:
    """A runnable Python client for ``model`` at ``url`` (``host:port``), sending one camera frame."""
    meta, inp, out = info.meta, info.inputs[0], info.outputs[0]
    mod = "tritonclient.http" if protocol == "http" else "tritonclient.grpc"
    res = meta.resolution or (512, 1024)
    frame = "frame.png"
    lines = ["import cv2", "import numpy as np", f"import {mod} as tc", "",
             f'client = tc.InferenceServerClient("{url}")',
             f'frame = cv2.resize(cv2.imread("{frame}"), ({res[1]}, {res[0]}))  # BGR uint8, H x W x 3']
    if meta.input_format in ("rgb8", "bgr8"):
        if meta.input_format == "rgb8":
            lines.append("frame = frame[:, :, ::-1]  # the model takes RGB frames")
        lines.append("batch = np.ascontiguousarray(frame[None])  # (1, H, W, 3) uint8: normalized inside the model")
    else:
        mean, std = list(meta.mean), list(meta.std)
        lines += ["rgb = frame[:, :, ::-1].astype(np.float32) / 255.0" if meta.channel_order == "RGB"
                  else "rgb = frame.astype(np.float32) / 255.0",
                  f"x = (rgb - np.float32({mean})) / np.float32({std})",
                  "batch = np.ascontiguousarray(x.transpose(2, 0, 1)[None])  # (1, 3, H, W) float32"]
    lines += [f'inp = tc.InferInput("{inp.name}", list(batch.shape), "{TRITON_DTYPES[inp.dtype][5:]}")',
              "inp.set_data_from_numpy(batch)",
              f'result = client.infer("{model}", [inp], outputs=[tc.InferRequestedOutput("{out.name}")])',
              f'out = result.as_numpy("{out.name}")']
    if meta.head == "cls":
        lines.append("labels = out[0]  # (H, W) class index per pixel")
    elif meta.head == "prob":
        lines.append("labels = out[0].argmax(axis=0)  # (H, W) from (C, H, W) probabilities")
    else:
        lines.append("labels = out[0].argmax(axis=0)  # (H/8, W/8) from low-resolution logits")
    lines.append('print(labels.shape, np.bincount(labels.ravel()).argmax(), "is the most frequent class")')
    return "\n".join(lines) + "\n"
