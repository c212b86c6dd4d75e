"""What a file is, read once: :class:`Artifact`.

``Artifact.open(path)`` reads an exported ONNX (bytes and graph, one parse), an engine's sidecar,
or a native checkpoint, and answers every question the commands ask of it: its kind, its
:class:`~fastscnn_edge.core.metadata.ModelMeta` (checked against the graph's own inputs and outputs),
its precision and Q/DQ form, its static resolution or that it is dynamic, the backend that runs it,
and which resolutions to use for a request (the one default and the one mismatch message). The
runners, ``bench``, ``build-engine``, ``quantize``, ``eval``, ``predict`` and ``compare`` take an
Artifact, so a file is parsed once per command.

torch-free, except for checkpoints (reading one needs torch); TensorRT is never imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional, Sequence

from fastscnn_edge.core.conformance import TensorSig
from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.core.precision import get as get_precision
from fastscnn_edge.core.resolution import PAPER_RESOLUTIONS, Resolution
from fastscnn_edge.core.vocab import ONNX_CPU_RUNTIMES, check

if TYPE_CHECKING:
    from fastscnn_edge.runtime.sidecar import Sidecar

BACKEND_OF_KIND = {"onnx": "onnxruntime", "engine": "tensorrt", "checkpoint": "torch"}
KIND_WORDS = {"onnx": "an ONNX file", "engine": "a TensorRT engine", "checkpoint": "a PyTorch checkpoint"}


@dataclass
class Artifact:
    """One model file and everything known about it (see the module doc)."""

    path: Path
    kind: str  # onnx | engine | checkpoint
    meta: ModelMeta
    inputs: List[TensorSig] = field(default_factory=list)
    outputs: List[TensorSig] = field(default_factory=list)
    onnx_kind: str = "fp32"  # what the graph holds: fp32 | fp16 | qdq
    sidecar: Optional["Sidecar"] = None  # engines
    runtime: Optional[str] = None  # engines: "tensorrt" | "rtx"
    proto: Any = None  # ONNX: the ModelProto, weights included
    data: Optional[bytes] = None  # ONNX: the file's bytes (onnxruntime sessions are made from them)
    checkpoint: Any = None  # checkpoints: the loaded native Checkpoint

    # --- reading ------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> "Artifact":
        """Read ``path`` once; UserError (one line) for a missing, unreadable or foreign file."""
        from fastscnn_edge.core.paths import artifact_kind

        path = Path(path)
        if not path.exists():
            raise UserError(f"{path} does not exist.",
                            fix="run `fastscnn-edge export` (and `build-engine`) first, or check the path.")
        if path.is_dir():
            raise UserError(f"{path} is a folder, not a model file.", fix="pass an .onnx, .engine or .pt file.")
        kind = artifact_kind(path)
        if kind == "onnx":
            return cls._open_onnx(path)
        if kind == "engine":
            return cls._open_engine(path)
        return cls._open_checkpoint(path)

    @classmethod
    def _open_onnx(cls, path: Path) -> "Artifact":
        import onnx

        from fastscnn_edge.core.conformance import onnx_io
        from fastscnn_edge.core.metadata import meta_from_proto
        from fastscnn_edge.export.onnx_rules import onnx_kind

        try:
            data = path.read_bytes()
            proto = onnx.load_from_string(data)
        except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
            raise UserError(f"{path} is not a readable ONNX file ({type(exc).__name__}).",
                            fix="pass a file written by `fastscnn-edge export` or `fastscnn-edge quantize`.") from None
        meta = meta_from_proto(proto, path)  # checked field by field and against the graph's I/O
        inputs, outputs = onnx_io(proto)
        return cls(path, "onnx", meta, inputs, outputs, onnx_kind=onnx_kind(proto), proto=proto, data=data)

    @classmethod
    def _open_engine(cls, path: Path) -> "Artifact":
        from fastscnn_edge.core.conformance import engine_sig
        from fastscnn_edge.core.paths import is_rtx_engine_name, precision_from_name, sidecar_path
        from fastscnn_edge.runtime.sidecar import read_sidecar

        side = read_sidecar(path)  # checked field by field and against the I/O it records
        if side is None:  # an engine built elsewhere: what its name says, and the default preprocessing
            meta = ModelMeta(precision=precision_from_name(path))
            runtime = "rtx" if is_rtx_engine_name(path) else "tensorrt"
            return cls(path, "engine", meta, runtime=runtime)
        meta = side.model_meta(str(sidecar_path(path)))
        meta.precision = side.precision
        ins = [engine_sig(t.name, t.dtype, t.shape) for t in side.inputs()]
        outs = [engine_sig(t.name, t.dtype, t.shape) for t in side.outputs()]
        runtime = "rtx" if side.runtime == "tensorrt_rtx" else "tensorrt"
        return cls(path, "engine", meta, ins, outs, onnx_kind=get_precision(side.precision).onnx_kind,
                   sidecar=side, runtime=runtime)

    @classmethod
    def _open_checkpoint(cls, path: Path) -> "Artifact":
        from fastscnn_edge.core.machine import require_torch

        require_torch(f"reading the PyTorch checkpoint {path.name}")
        from fastscnn_edge.model.checkpoint import load

        ckpt = load(path)
        meta = ModelMeta(arch=ckpt.arch, num_classes=ckpt.num_classes, class_names=list(ckpt.class_names),
                         mean=tuple(ckpt.mean), std=tuple(ckpt.std), channel_order=ckpt.channel_order,  # type: ignore[arg-type]
                         weights_sha256=ckpt.state_sha256, weights_source=ckpt.source)
        return cls(path, "checkpoint", meta, checkpoint=ckpt)

    # --- what it is ---------------------------------------------------------------------------

    @property
    def precision(self) -> str:
        """fp32 | fp16 | int8."""
        return self.meta.precision or "fp32"

    @property
    def qdq_form(self) -> Optional[str]:
        """For INT8 ONNX files: ``tensorrt`` (symmetric int8, for TensorRT), ``cpu`` (onnxruntime's) or
        ``openvino`` (NNCF's, for OpenVINO)."""
        if self.kind != "onnx" or self.onnx_kind != "qdq":
            return None
        form = self.meta.extra.get("qdq_form") or self.meta.extra.get("target")  # "target": the key of older files
        if form:
            return str(form)
        from fastscnn_edge.core.precision import form_of_tag

        return "cpu" if form_of_tag(self.path.name) == "cpu" else "tensorrt"

    @property
    def resolution(self) -> Optional[Resolution]:
        """The fixed input size, or None for a dynamic artifact (and for checkpoints: any size)."""
        res = self.meta.resolution if self.kind != "checkpoint" else None
        return Resolution.of(res) if res is not None else None

    @property
    def dynamic(self) -> bool:
        return self.resolution is None

    @property
    def backend(self) -> str:
        """The backend that runs it: onnxruntime, tensorrt or torch."""
        return BACKEND_OF_KIND[self.kind]

    def check_backend(self, backend: str) -> str:
        """``backend`` (or auto) resolved for this artifact; UserError where it cannot run it."""
        check("backend", backend)
        if backend in ("auto", self.backend):
            return self.backend
        if self.kind == "onnx" and backend in ONNX_CPU_RUNTIMES:
            return backend
        fixes = {
            "onnx": (f"build an engine first: fastscnn-edge build-engine {self.path}" if backend == "tensorrt"
                     else "use --backend onnxruntime (or auto)."),
            "engine": "use --backend tensorrt (or auto); an engine does not run on onnxruntime or OpenVINO, its ONNX does.",
            "checkpoint": "export it first (`fastscnn-edge export --weights ...`) or use --backend torch (or auto).",
        }
        raise UserError(f"{self.path} is {KIND_WORDS[self.kind]}; the {backend} backend does not run it.",
                        fix=fixes[self.kind])

    def cpu_runtime(self) -> "tuple[str, str]":
        """The runtime ``--backend auto`` picks for this ONNX file on the CPU, and why (for the report).

        The rule (measured side by side: benchmarks/results/cpu-runtimes-*): OpenVINO where it is
        installed, for the default (dense-head) exports, FP16 and the TensorRT/OpenVINO INT8 forms: it
        loads them with the refined cls head and runs them faster than onnxruntime runs the same file
        (1.10-1.18x fp32 on the Xeon of 2026-12-07, more on the AMD EPYC of issue 20); onnxruntime for
        the INT8 CPU form (made for its x86 int8 kernels), for an export that already has the refined
        cls head (onnxruntime runs it 1.25-1.3x faster than OpenVINO), and wherever OpenVINO is absent."""
        from fastscnn_edge.runtime import ov_runtime

        if self.kind != "onnx":
            return self.backend, f"{KIND_WORDS[self.kind]}"
        if self.qdq_form == "cpu":
            return "onnxruntime", "the INT8 CPU form is made for onnxruntime's int8 kernels"
        if self.meta.head == "cls" and self.meta.extra.get("cls_head_layout") == "refine" and self.qdq_form != "openvino":
            return "onnxruntime", ("an export with the refined cls head runs faster on onnxruntime than on OpenVINO "
                                   "(benchmarks/results/cpu-runtimes-2026-12-07)")
        if not ov_runtime.available():
            return "onnxruntime", "OpenVINO is not installed (pip install 'fastscnn-edge[openvino]' for the faster CPU runtime)"
        return "openvino", "OpenVINO is installed and runs this file faster than onnxruntime on the CPU"

    def resolutions(self, asked: Sequence[Sequence[int]] = (), *,
                    default: Sequence[Resolution] = PAPER_RESOLUTIONS) -> List[Resolution]:
        """The resolutions to use for a request: a static artifact's own size (``asked`` must be it),
        else ``asked``, else ``default`` (the paper's three)."""
        res = self.resolution
        asked_res = [Resolution.of(r) for r in asked]
        if res is None:
            return list(dict.fromkeys(asked_res)) or list(default)
        for r in asked_res:
            if r != res:
                raise self.size_mismatch(r)
        return [res]

    def resolution_for(self, asked: Optional[Sequence[int]], *, default: Optional[Resolution] = None) -> Resolution:
        """The one resolution to run at: the static size (``asked`` must match), else ``asked``, else
        ``default``; UserError where a dynamic artifact gets neither."""
        if self.resolution is not None or asked is not None:
            return self.resolutions([asked] if asked is not None else [])[0]
        if default is not None:
            return default
        raise UserError(f"{self.path.name} has a dynamic input size.", fix="pass --res HxW.")

    def size_mismatch(self, asked: Sequence[int]) -> UserError:
        """The one message for a static artifact asked to run at another size."""
        res = self.resolution
        assert res is not None
        what = "built" if self.kind == "engine" else "exported"
        make = (f"build one for that size (fastscnn-edge build-engine after fastscnn-edge export --res "
                f"{asked[0]}x{asked[1]})" if self.kind == "engine" else
                f"export that size (fastscnn-edge export --res {asked[0]}x{asked[1]}) or export with --dynamic")
        return UserError(f"{self.path.name} was {what} for {res}, not {asked[0]}x{asked[1]}.",
                         fix=f"drop --res, or {make}.")


def open_artifact(artifact: "str | Path | Artifact") -> Artifact:
    """An :class:`Artifact` from a path, or the one given (already read)."""
    return artifact if isinstance(artifact, Artifact) else Artifact.open(artifact)
