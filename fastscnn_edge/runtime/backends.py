"""Run any artifact: ONNX on onnxruntime or OpenVINO, a native checkpoint (or the reference model) on torch, an
engine on TensorRT (through ``fastscnn_edge.runtime.trt.runner``, where all TensorRT code lives).

``open_runner(artifact)`` returns a :class:`~fastscnn_edge.runtime.runner.Runner`; ``bench``, ``eval``,
``compare`` and ``predict`` all go through it. It takes an :class:`~fastscnn_edge.runtime.artifact.Artifact`
(or a path, read once) so that the file is not parsed again.

torch-free unless the torch backend is used.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from fastscnn_edge.core.errors import MissingDependency, UserError
from fastscnn_edge.core.machine import ort_gpu_providers
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.core.resolution import Resolution
from fastscnn_edge.core.vocab import check
from fastscnn_edge.runtime.artifact import Artifact, open_artifact
from fastscnn_edge.runtime.runner import IOSpec, Runner

__all__ = ["OpenVinoRunner", "OrtRunner", "TorchRunner", "open_runner", "ort_providers", "resolve_device"]


# ---------------------------------------------------------------------------------------------
# onnxruntime


def ort_providers(device: str) -> List[str]:
    """The best onnxruntime providers present for ``device``, best first."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependency("onnxruntime is not installed.", fix="pip install onnxruntime (or onnxruntime-gpu).") from None
    if device == "cpu":
        return ["CPUExecutionProvider"]
    wanted = ort_gpu_providers()
    if not wanted:
        have = ort.get_available_providers()
        raise MissingDependency(f"onnxruntime has no GPU provider here (providers: {', '.join(have)}).",
                                fix="pip install onnxruntime-gpu on a CUDA machine, or use --device cpu.")
    return wanted + ["CPUExecutionProvider"]


class OrtRunner(Runner):
    """An ONNX artifact on onnxruntime; the session is made from the bytes the Artifact already read."""

    def __init__(self, artifact: Artifact, meta: ModelMeta, *, device: str = "cpu", threads: Optional[int] = None,
                 providers: Optional[List[str]] = None, spin: bool = True) -> None:
        import onnxruntime as ort

        path = artifact.path
        so = ort.SessionOptions()
        if not spin:  # between frames the pool's threads sleep instead of spinning on the cores other stages need
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            so.intra_op_num_threads = int(threads)
            so.inter_op_num_threads = 1
        so.log_severity_level = 3
        provs = providers or ort_providers(device)
        try:
            sess = ort.InferenceSession(artifact.data if artifact.data is not None else str(path), so, providers=provs)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own Fail/InvalidGraph types
            raise UserError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0][:200]}",
                            fix="re-export the model with `fastscnn-edge export`.") from None
        inp, outp = sess.get_inputs()[0], sess.get_outputs()[0]
        res = meta.resolution
        in_shape = tuple(d if isinstance(d, int) else -1 for d in inp.shape)
        out_shape = tuple(d if isinstance(d, int) else -1 for d in outp.shape)
        super().__init__(
            backend="onnxruntime", device=device, meta=meta,
            io=IOSpec(inp.name, in_shape, _ort_dtype(inp.type), outp.name, out_shape, _ort_dtype(outp.type)),
            description=f"onnxruntime {ort.__version__} {sess.get_providers()[0]}"
            + (f", {threads} threads" if threads else ""),
            details={"providers": sess.get_providers(), "threads": threads, "path": str(path),
                     "resolution": res, "spinning": spin},
        )
        self.session = sess
        self.path = path

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self.io.output_name], {self.io.input_name: x})[0]


def _ort_dtype(t: str) -> str:
    return {
        "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8",
        "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(int8)": "int8",
    }.get(t, t)


# ---------------------------------------------------------------------------------------------
# OpenVINO (CPU)


class OpenVinoRunner(Runner):
    """An ONNX artifact on OpenVINO's CPU plugin (:mod:`fastscnn_edge.runtime.ov_runtime`): fp32 arithmetic
    unless ``precision="bf16"``; a dense cls head runs as the refined one (``cls_head="dense"`` keeps it)."""

    def __init__(self, artifact: Artifact, meta: ModelMeta, *, threads: Optional[int] = None,
                 precision: str = "f32", cls_head: str = "best") -> None:
        from fastscnn_edge.runtime import ov_runtime

        data = artifact.data if artifact.data is not None else artifact.path.read_bytes()
        layout = str(meta.extra.get("cls_head_layout", "nchw" if meta.head == "cls" else ""))
        c = ov_runtime.compile_onnx(data, artifact.proto, head=meta.head, layout=layout, threads=threads,
                                    precision=precision, cls_head=cls_head, name=artifact.path.name)
        details: Dict[str, object] = {"threads": threads, "path": str(artifact.path), "resolution": meta.resolution,
                                      "inference_precision": c.precision, **c.details}
        if meta.head == "cls":
            details["cls_head"] = c.cls_head
            if c.cls_head != layout:
                details["cls_head_of_file"] = layout
                meta.extra["cls_head_layout"] = c.cls_head
        head_note = f", cls head {c.cls_head}" + (f" (the file's {layout} head rewritten at load)" if c.cls_head != layout else "") \
            if meta.head == "cls" else ""
        super().__init__(
            backend="openvino", device="cpu", meta=meta,
            io=IOSpec(c.input_name, c.input_shape, c.input_dtype, c.output_name, c.output_shape, c.output_dtype),
            description=f"openvino {c.details['openvino']} CPU {c.precision}{head_note}"
            + (f", {threads} threads" if threads else ""),
            details=details,
        )
        self.compiled = c
        self.path = artifact.path

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.compiled(x)


# ---------------------------------------------------------------------------------------------
# torch (the reference model)


class TorchRunner(Runner):
    """The reference model in PyTorch: float NCHW input; head computed in torch."""

    def __init__(self, model, meta: ModelMeta, *, device: str = "cpu", threads: Optional[int] = None,  # noqa: ANN001
                 channels_last: bool = False, half: bool = False) -> None:
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise MissingDependency("torch has no CUDA device here.", fix="use --device cpu, or install a CUDA build of torch on a GPU machine.")
        if threads:
            torch.set_num_threads(int(threads))
        self.torch = torch
        self.dev = torch.device(device)
        model = model.eval().to(self.dev)
        self.dtype = torch.float16 if half else torch.float32
        model = model.to(self.dtype)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.channels_last = channels_last
        h, w = meta.resolution or (0, 0)
        nc = meta.num_classes
        out_shape = {"cls": (1, h, w), "prob": (1, nc, h, w), "logits": (1, nc, h // 8, w // 8)}[meta.head]
        super().__init__(
            backend="torch", device=device, meta=meta,
            io=IOSpec("input", (1, 3, h, w), "float32", "output", out_shape,
                      "int64" if meta.head == "cls" else "float32"),
            description=f"torch {torch.__version__} {device} {'fp16' if half else 'fp32'}"
            + (" channels_last" if channels_last else "") + (f", {threads} threads" if threads else ""),
            details={"threads": threads, "channels_last": channels_last, "half": half},
        )

    def forward_tensor(self, t):  # noqa: ANN001, ANN201 - torch.Tensor in, torch.Tensor out (on device)
        torch = self.torch
        with torch.inference_mode():
            if self.meta.head == "logits":
                return self.model.forward_logits_low(t)
            y = self.model(t)
            if self.meta.head == "cls":
                return y.argmax(1)
            return torch.softmax(y.float(), 1)

    def to_device(self, x: np.ndarray):  # noqa: ANN201
        t = self.torch.from_numpy(np.ascontiguousarray(x)).to(self.dev, self.dtype, non_blocking=True)
        if self.channels_last:
            t = t.contiguous(memory_format=self.torch.channels_last)
        return t

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward_tensor(self.to_device(x)).float().cpu().numpy() if self.meta.head != "cls" \
            else self.forward_tensor(self.to_device(x)).cpu().numpy()


# ---------------------------------------------------------------------------------------------


def resolve_device(artifact: Optional[Artifact], device: str, backend: str = "auto") -> str:
    """``auto``: the GPU where the artifact's backend can use one here, else the CPU (OpenVINO: the CPU)."""
    from fastscnn_edge.core.machine import auto_device

    check("device", device)
    if device != "auto":
        return device
    return auto_device(backend if backend != "auto" or artifact is None else artifact.backend)[0]


def open_runner(
    artifact: Union[str, Path, Artifact, None] = None,
    *,
    backend: str = "auto",
    device: str = "auto",
    resolution: Union[str, Sequence[int], None] = None,
    threads: Optional[int] = None,
    head: str = "cls",
    arch: Optional[str] = None,
    spin: bool = True,
    openvino_options: Optional[Dict[str, str]] = None,
    torch_options: Optional[Dict[str, object]] = None,
) -> Runner:
    """A runner for any artifact (use it as a context manager): ``runner.preprocess(bgr)`` makes its
    input, ``runner(x)`` runs it, ``runner.labels(y)`` gives (N, H, W) train-ID labels.

    ``artifact``: an .onnx, .engine or .pt path, or an :class:`~fastscnn_edge.runtime.artifact.Artifact`
    (read once); None with ``backend='torch'`` runs the reference model with random weights.
    ``backend``: auto | onnxruntime | openvino | tensorrt | torch; ``auto`` on a CPU runs an ONNX file
    with the runtime :meth:`Artifact.cpu_runtime` names (OpenVINO where installed, except for the
    INT8 CPU form: onnxruntime), and ``runner.description`` says which. ``device``: auto (the GPU
    where the backend can use one here) | cpu | cuda. ``resolution`` ("HxW" or (H, W)): required for
    dynamic ONNX, default 1024x2048 for checkpoints; a static artifact must match. ``threads``: the
    runtime's CPU threads. ``head``/``arch``: for checkpoints and the reference model. ``spin=False``:
    onnxruntime's threads sleep between frames (the stream runtime: other stages need the cores).
    ``openvino_options``: ``precision`` (``f32`` default, ``bf16``), ``cls_head`` (``best``: the refined
    head at load, default; ``dense``: the file's own head). ``torch_options``: ``channels_last``, ``half``.
    """
    from fastscnn_edge.core.resolution import as_resolution

    check("backend", backend)
    if threads is not None and threads < 1:
        raise UserError(f"--threads {threads} is below 1.", fix="pass 1 or more, or leave it out for the runtime's default.")
    res = as_resolution(resolution) if resolution is not None else None
    a = open_artifact(artifact) if artifact is not None else None
    device = resolve_device(a, device, backend)
    if a is None:
        if backend != "torch":
            raise UserError("no artifact given.", fix="pass an .onnx/.engine/.pt file, or --backend torch for the reference model.")
        return _torch_runner(None, arch, head, res, device, threads, torch_options or {})
    be = a.check_backend(backend)
    if a.kind == "checkpoint":
        return _torch_runner(a, arch, head, res, device, threads, torch_options or {})
    if a.kind == "engine":
        from fastscnn_edge.runtime.trt.runner import open_engine_runner  # all TensorRT code lives there

        return open_engine_runner(a, res=res)
    meta = copy.deepcopy(a.meta)
    meta.resolution = a.resolution_for(res)
    if backend == "auto" and device == "cpu":
        be = a.cpu_runtime()[0]
    if be == "openvino":
        from fastscnn_edge.runtime.ov_runtime import check_device

        check_device(device)
        opts = dict(openvino_options or {})
        unknown = sorted(set(opts) - {"precision", "cls_head"})
        if unknown:
            raise UserError(f"unknown openvino option(s): {', '.join(unknown)}.", fix="use precision (f32 | bf16) and cls_head (best | dense).")
        return OpenVinoRunner(a, meta, threads=threads, precision=opts.get("precision", "f32"),
                              cls_head=opts.get("cls_head", "best"))
    return OrtRunner(a, meta, device=device, threads=threads, spin=spin)


def _torch_runner(a: Optional[Artifact], arch: Optional[str], head: str, res: Optional[Sequence[int]],
                  device: str, threads: Optional[int], opts: Dict[str, object]) -> TorchRunner:
    from fastscnn_edge.core.machine import require_torch

    require_torch("the torch backend")
    from fastscnn_edge.core.metadata import RANDOM_WEIGHTS
    from fastscnn_edge.core.version import __version__
    from fastscnn_edge.model.checkpoint import resolve_model

    if a is not None and arch is not None and arch != a.meta.arch:
        raise UserError(f"{a.path} holds a {a.meta.arch!r} model, but --arch {arch} was given.",
                        fix=f"drop --arch or pass --arch {a.meta.arch}.")
    if a is not None:
        model, meta = a.checkpoint.build_model(), copy.deepcopy(a.meta)
        meta.head = head
    else:
        model, _ = resolve_model(None, arch)
        meta = ModelMeta(arch=model.cfg.name, head=head, num_classes=model.num_classes, weights_sha256=RANDOM_WEIGHTS)
    meta.input_format, meta.toolkit_version = "float", __version__
    meta.resolution = Resolution.of(res) if res else Resolution(1024, 2048)
    meta.extra["align_corners"] = "true" if model.cfg.align_corners else "false"
    return TorchRunner(model, meta, device=device, threads=threads,
                       channels_last=bool(opts.get("channels_last")), half=bool(opts.get("half")))
