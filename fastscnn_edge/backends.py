"""One way to run any artifact: native checkpoint (torch), ONNX (onnxruntime), engine (TensorRT).

``load_runner(path)`` returns a :class:`Runner`; ``bench``, ``eval``, ``compare`` and
``predict`` all go through it. A runner takes a batch in the artifact's own input format (see
:func:`fastscnn_edge.preprocess.to_network_input`) and returns the host output: labels
(N, H, W) for ``cls``, probabilities (N, C, H, W) for ``prob``, low-resolution logits
(N, C, H/8, W/8) for ``logits``. ``runner.labels(out, size)`` turns any of them into a label map.

torch-free unless the torch backend is used; TensorRT code lives in ``fastscnn_edge.trt``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from fastscnn_edge.errors import MissingDependency, UserError
from fastscnn_edge.machine import (  # noqa: F401 - re-exported: callers ask the runner layer
    auto_device, default_threads, have_module, ort_gpu_providers, tensorrt_available, torch_cuda_available)
from fastscnn_edge.metadata import ModelMeta

BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


@dataclass
class IOSpec:
    input_name: str
    input_shape: Tuple[int, ...]
    input_dtype: str  # numpy dtype name
    output_name: str
    output_shape: Tuple[int, ...]
    output_dtype: str


@dataclass
class Runner:
    """Base class: subclasses implement ``__call__`` (and ``close`` where they hold resources)."""

    backend: str
    device: str
    meta: ModelMeta
    io: IOSpec
    description: str = ""
    details: Dict[str, object] = field(default_factory=dict)

    @property
    def resolution(self) -> Tuple[int, int]:
        if self.meta.resolution is None:
            raise UserError("this artifact has dynamic input size; a resolution must be given.",
                            fix="pass --res HxW.")
        return tuple(self.meta.resolution)  # type: ignore[return-value]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def random_input(self, rng: np.random.Generator, batch: int = 1) -> np.ndarray:
        """A random input of the right shape and dtype (uint8 frames or normalized floats)."""
        h, w = self.resolution
        if self.meta.input_format in ("rgb8", "bgr8"):
            return rng.integers(0, 256, size=(batch, h, w, 3), dtype=np.uint8)
        return rng.standard_normal((batch, 3, h, w), dtype=np.float32)

    def preprocess(self, bgr: np.ndarray) -> np.ndarray:
        from fastscnn_edge.preprocess import to_network_input

        return to_network_input(bgr, self.meta, self.resolution)

    def labels(self, out: np.ndarray) -> np.ndarray:
        """Output of ``__call__`` -> (N, H, W) int64 train-ID labels at the artifact's resolution."""
        if self.meta.head == "cls":
            return out.astype(np.int64)
        if self.meta.head == "logits":
            out = _upsample_logits(out, self.resolution, self.meta.extra.get("align_corners") == "true")
        return np.argmax(out, axis=1).astype(np.int64)

    def close(self) -> None:
        pass

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _upsample_logits(x: np.ndarray, res: Tuple[int, int], align_corners: bool) -> np.ndarray:
    """Bilinear upsampling of (N, C, h, w) logits to ``res``, as the network's own final upsample does
    (``align_corners`` as in PyTorch). torch-free, so the logits head reads the same on a Jetson."""
    import cv2

    if align_corners:
        ry, rx = _align_corners_matrix(res[0], x.shape[2]), _align_corners_matrix(res[1], x.shape[3])
        return np.einsum("Hh,nchw,Ww->ncHW", ry, x.astype(np.float32), rx, optimize=True).astype(np.float32)
    n, c = x.shape[:2]
    out = np.empty((n, c, *res), np.float32)
    for i in range(n):
        for j in range(c):
            out[i, j] = cv2.resize(x[i, j].astype(np.float32), (res[1], res[0]), interpolation=cv2.INTER_LINEAR)
    return out


def _align_corners_matrix(out_size: int, in_size: int) -> np.ndarray:
    """(out, in) weights of 1-D linear interpolation with corners aligned (source = i * (in-1)/(out-1))."""
    m = np.zeros((out_size, in_size), np.float32)
    if in_size == 1 or out_size == 1:
        m[:, 0] = 1.0
        return m
    pos = np.arange(out_size, dtype=np.float64) * (in_size - 1) / (out_size - 1)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, in_size - 2)
    frac = (pos - lo).astype(np.float32)
    rows = np.arange(out_size)
    m[rows, lo] = 1.0 - frac
    m[rows, lo + 1] += frac
    return m


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
    def __init__(self, path: Path, meta: ModelMeta, *, device: str = "cpu", threads: Optional[int] = None,
                 providers: Optional[List[str]] = None) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            so.intra_op_num_threads = int(threads)
            so.inter_op_num_threads = 1
        so.log_severity_level = 3
        provs = providers or ort_providers(device)
        try:
            sess = ort.InferenceSession(str(path), so, providers=provs)
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
                     "resolution": res},
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


def artifact_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix in ENGINE_SUFFIXES:
        return "engine"
    if suffix in (".pt", ".pth", ".ckpt"):
        return "checkpoint"
    raise UserError(f"cannot tell what {path} is from its extension {suffix or '(none)'}.",
                    fix="pass a .onnx file, a TensorRT .engine/.plan, or a native .pt checkpoint.")


def load_runner(
    artifact: str | Path | None = None,
    *,
    backend: str = "auto",
    device: str = "cpu",
    threads: Optional[int] = None,
    head: str = "cls",
    res: Optional[Tuple[int, int]] = None,
    arch: Optional[str] = None,
    torch_options: Optional[Dict[str, object]] = None,
) -> Runner:
    """Open ``artifact`` on the backend that fits it (see module doc).

    ``artifact=None`` with ``backend='torch'`` runs the reference model with random weights.
    ``res`` is required for checkpoints and dynamic ONNX; for static artifacts it must match.
    """
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}.", fix=f"use one of: {', '.join(BACKENDS)}.")
    if artifact is None:
        if backend != "torch":
            raise UserError("no artifact given.", fix="pass an .onnx/.engine/.pt file, or --backend torch for the reference model.")
        return _torch_runner(None, arch, head, res, device, threads, torch_options or {})
    path = Path(artifact)
    if not path.exists():
        raise UserError(f"{path} does not exist.", fix="run `fastscnn-edge export` (and `build-engine`) first, or check the path.")
    kind = artifact_kind(path)
    if kind == "checkpoint":
        if backend not in ("auto", "torch"):
            raise UserError(f"{path} is a PyTorch checkpoint; backend {backend} cannot run it.",
                            fix="export it first (`fastscnn-edge export --weights ...`) or use --backend torch.")
        return _torch_runner(path, arch, head, res, device, threads, torch_options or {})
    if kind == "engine":
        if backend not in ("auto", "tensorrt"):
            raise UserError(f"{path} is a TensorRT engine; only the tensorrt backend runs it.", fix="use --backend tensorrt.")
        from fastscnn_edge.trt import open_engine_runner  # all TensorRT code lives there

        return open_engine_runner(path, res=res)
    # ONNX
    from fastscnn_edge.metadata import read_onnx_meta

    meta = read_onnx_meta(path)
    if res is not None and meta.resolution is not None and tuple(meta.resolution) != tuple(res):
        raise UserError(f"{path.name} was exported for {meta.resolution[0]}x{meta.resolution[1]}, not {res[0]}x{res[1]}.",
                        fix=f"export that resolution: fastscnn-edge export --res {res[0]}x{res[1]}")
    if meta.resolution is None:
        if res is None:
            raise UserError(f"{path.name} has dynamic input size.", fix="pass --res HxW.")
        meta.resolution = tuple(res)  # type: ignore[assignment]
    if backend == "torch":
        raise UserError(f"{path} is an ONNX file; the torch backend runs checkpoints.", fix="use --backend onnxruntime or auto.")
    if backend == "tensorrt":
        raise UserError(f"{path} is an ONNX file; TensorRT runs engines.", fix=f"build one first: fastscnn-edge build-engine {path}")
    return OrtRunner(path, meta, device=device, threads=threads)


def _torch_runner(path: Optional[Path], arch: Optional[str], head: str, res: Optional[Tuple[int, int]],
                  device: str, threads: Optional[int], opts: Dict[str, object]) -> TorchRunner:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingDependency("torch is not installed; the torch backend needs it.",
                                fix="pip install torch, or run an exported .onnx/.engine instead.") from None
    from fastscnn_edge import __version__
    from fastscnn_edge.checkpoint import resolve_model

    model, ckpt = resolve_model(path, arch)
    meta = ModelMeta(arch=model.cfg.name, head=head, input_format="float",
                     resolution=tuple(res) if res else (1024, 2048), num_classes=model.num_classes,
                     toolkit_version=__version__)
    if ckpt is not None:
        meta.class_names = list(ckpt.class_names)
        meta.mean, meta.std = tuple(ckpt.mean), tuple(ckpt.std)  # type: ignore[assignment]
        meta.channel_order = ckpt.channel_order
        meta.weights_sha256 = ckpt.state_sha256
        meta.weights_source = ckpt.source
    else:
        from fastscnn_edge.metadata import RANDOM_WEIGHTS

        meta.weights_sha256 = RANDOM_WEIGHTS
    meta.extra["align_corners"] = "true" if model.cfg.align_corners else "false"
    return TorchRunner(model, meta, device=device, threads=threads,
                       channels_last=bool(opts.get("channels_last")), half=bool(opts.get("half")))
