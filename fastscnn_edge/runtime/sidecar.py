"""The engine's sidecar ``<engine>.json``: what built it, for what GPU, and how to feed it.

A TensorRT plan file does not say which TensorRT or GPU produced it, and engines do not move
between TensorRT versions or GPU models. The sidecar records that (plus the I/O, the source ONNX
and its sha256, the build options and time, and the model metadata with its preprocessing) so
that a runner can refuse a mismatch with a clear message instead of a deserialization error.
Kept beside the engine, not inside it, so plain TensorRT tools (trtexec) still read the engine.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.metadata import ModelMeta
from fastscnn_edge.core.schema import Field, check_version_number, show, validate

SCHEMA = 1
FIX = "rebuild the engine with `fastscnn-edge build-engine` (it writes the sidecar); do not edit it by hand."
DTYPES = ("float32", "float16", "uint8", "int8", "int32", "int64", "bool")


def _schema() -> Dict[str, Field]:
    """The sidecar as stored. ``runtime`` and ``compute_capabilities`` are optional (TensorRT-RTX builds)."""
    from fastscnn_edge.core.metadata import meta_schema
    from fastscnn_edge.core.vocab import PRECISIONS

    cc = Field(list, length=2, items=Field(int, lo=0, hi=99), expect="[major, minor], two integers 0..99")
    tensor = Field(dict, fields={
        "name": Field(str, check=lambda v: None if v else "a non-empty string"),
        "mode": Field(str, choices=("input", "output")),
        "shape": Field(list, length=(1, 8), items=Field(int, lo=-1, hi=1 << 20), expect="a list of 1..8 integers >= -1"),
        "dtype": Field(str, choices=DTYPES),
    })
    return {
        "schema": Field(int, default=SCHEMA, lo=1, hi=SCHEMA),
        "tensorrt_version": Field(str, check=lambda v: None if v.strip() else "a TensorRT version such as '10.3.0'"),
        "gpu_name": Field(str),
        # the build GPU's; null for a TensorRT-RTX build made without a GPU
        "compute_capability": Field(list, length=2, items=Field(int, lo=0, hi=99), nullable=True,
                                    expect="[major, minor], two integers 0..99, or null"),
        "precision": Field(str, choices=PRECISIONS),
        "io": Field(list, length=(2, 16), items=tensor, expect="a list of the engine's tensors (name, mode, shape, dtype)"),
        "source_onnx": Field(str, default=""),
        "source_sha256": Field(str, default=""),
        "build_options": Field(dict, default=dict),
        "build_seconds": Field(float, default=0.0, lo=0.0),
        "toolkit_version": Field(str, default=""),
        "meta": Field(dict, fields=meta_schema()),  # ModelMeta.to_json(); its cross-field checks in model_meta()
        "runtime": Field(str, default=None, nullable=True, choices=("tensorrt", "tensorrt_rtx")),
        "compute_capabilities": Field(list, default=None, nullable=True, items=cc),
    }


@dataclass
class TensorInfo:
    name: str
    mode: str  # "input" | "output"
    shape: List[int]  # -1 for a dynamic dimension
    dtype: str  # numpy dtype name


@dataclass
class Sidecar:
    """What built an engine. ``runtime`` is "tensorrt" or "tensorrt_rtx"; TensorRT proper builds for the
    GPU it ran on (``gpu_name``, ``compute_capability``); TensorRT-RTX builds ahead of time for
    ``compute_capabilities`` (and ``gpu_name`` is empty, ``compute_capability`` None, where no GPU was used)."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: Optional[Tuple[int, int]]
    precision: str
    io: List[TensorInfo]
    source_onnx: str
    source_sha256: str
    build_options: Dict[str, Any] = field(default_factory=dict)
    build_seconds: float = 0.0
    toolkit_version: str = ""
    meta: Dict[str, Any] = field(default_factory=dict)  # ModelMeta.to_json()
    schema: int = SCHEMA
    runtime: str = "tensorrt"
    compute_capabilities: List[Tuple[int, int]] = field(default_factory=list)

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        d["compute_capability"] = list(self.compute_capability) if self.compute_capability else None
        d["compute_capabilities"] = [list(c) for c in self.compute_capabilities]
        return d

    @property
    def runtime_label(self) -> str:
        return ("TensorRT-RTX " if self.runtime == "tensorrt_rtx" else "TensorRT ") + self.tensorrt_version

    @classmethod
    def from_json(cls, data: Dict[str, Any], source: str = "the engine sidecar") -> "Sidecar":
        """A Sidecar from its JSON, every field checked (UserError naming ``source``, the field and
        what was expected; a newer schema is refused)."""
        if isinstance(data, dict) and "schema" in data:
            check_version_number(data["schema"], current=SCHEMA, source=source, name="schema", fix=FIX)
        d = validate(data, _schema(), source=source, fix=FIX, what="sidecar")
        io = [TensorInfo(t["name"], t["mode"], list(t["shape"]), t["dtype"]) for t in d["io"]]
        cc = d["compute_capability"]
        return cls(
            tensorrt_version=d["tensorrt_version"], gpu_name=d["gpu_name"],
            compute_capability=(cc[0], cc[1]) if cc is not None else None,
            precision=d["precision"], io=io, source_onnx=d["source_onnx"], source_sha256=d["source_sha256"],
            build_options=dict(d["build_options"]), build_seconds=d["build_seconds"],
            toolkit_version=d["toolkit_version"], meta=dict(d["meta"]), schema=d["schema"],
            runtime=d["runtime"] or "tensorrt",
            compute_capabilities=[(int(c[0]), int(c[1])) for c in (d["compute_capabilities"] or [])],
        )

    def model_meta(self, source: str = "the engine sidecar") -> ModelMeta:
        """The model metadata recorded at build time (preprocessing, head, classes), checked."""
        return ModelMeta.from_json(self.meta, source, fix=FIX, what="sidecar meta")

    def inputs(self) -> List[TensorInfo]:
        return [t for t in self.io if t.mode == "input"]

    def outputs(self) -> List[TensorInfo]:
        return [t for t in self.io if t.mode == "output"]


from fastscnn_edge.core.paths import sidecar_path  # noqa: E402 - the naming module owns the name; re-exported here


def write_sidecar(engine: str | Path, sidecar: Sidecar) -> Path:
    """Write the sidecar atomically beside ``engine``; return its path."""
    from fastscnn_edge.core.fileio import atomic_write_text

    return atomic_write_text(sidecar_path(engine), json.dumps(sidecar.to_json(), indent=2) + "\n")


def read_sidecar(engine: str | Path) -> Optional[Sidecar]:
    """The sidecar of ``engine``, or None where there is none; UserError where it is unreadable."""
    path = sidecar_path(engine)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"cannot read the engine sidecar {path} ({type(exc).__name__}).",
                        fix="rebuild the engine with `fastscnn-edge build-engine`, or delete the broken sidecar.") from None
    if not isinstance(data, dict):
        raise UserError(f"the engine sidecar {path} holds {show(data)}, not a JSON object.", fix=FIX)
    sidecar = Sidecar.from_json(data, str(path))
    check_sidecar_io(sidecar, str(path))
    return sidecar


def check_sidecar_io(sidecar: Sidecar, source: str) -> ModelMeta:
    """The sidecar's model metadata, checked against the I/O it recorded from the built engine."""
    from fastscnn_edge.core.conformance import check_io, engine_sig

    meta = sidecar.model_meta(source)
    check_io([engine_sig(t.name, t.dtype, t.shape) for t in sidecar.inputs()],
             [engine_sig(t.name, t.dtype, t.shape) for t in sidecar.outputs()], meta, source=source, fix=FIX)
    return meta


def _release(version: str) -> Tuple[int, ...]:
    from fastscnn_edge.runtime.capability import parse_version

    return parse_version(version)[:3]


def check_compatible(sidecar: Sidecar, trt_version: str, gpu_name: str, cc: Tuple[int, int],
                     runtime: str = "tensorrt") -> List[str]:
    """Raise UserError where the engine cannot run here; return warnings where it may run but should not.

    An engine runs only on the runtime (TensorRT or TensorRT-RTX) and release (major.minor.patch) that
    built it. A TensorRT engine runs on a GPU of the compute capability it was built on (another GPU
    model of the same one loads, with a warning: tactics were timed on the other model); a
    TensorRT-RTX engine on a GPU whose compute capability it was built for.
    """
    built_with = "tensorrt_rtx" if runtime == "rtx" else "tensorrt"
    if sidecar.runtime != built_with:
        need = "TensorRT-RTX (pip install tensorrt-rtx-cu13)" if sidecar.runtime == "tensorrt_rtx" else "TensorRT"
        raise UserError(f"the engine was built with {sidecar.runtime_label}; this is "
                        f"{'TensorRT-RTX' if runtime == 'rtx' else 'TensorRT'} {trt_version}.",
                        fix=f"run it where {need} is installed, or rebuild it here: "
                            f"fastscnn-edge build-engine {sidecar.source_onnx or 'MODEL.onnx'}")
    if _release(sidecar.tensorrt_version) != _release(trt_version):
        this = ("TensorRT-RTX " if runtime == "rtx" else "TensorRT ") + trt_version
        raise UserError(f"the engine was built with {sidecar.runtime_label}, this is {this}; "
                        "engines do not move between TensorRT versions.",
                        fix=f"rebuild it here: fastscnn-edge build-engine {sidecar.source_onnx or 'MODEL.onnx'}")
    if sidecar.runtime == "tensorrt_rtx":
        if tuple(cc) not in [tuple(c) for c in sidecar.compute_capabilities]:
            built = ", ".join(f"{a}.{b}" for a, b in sidecar.compute_capabilities) or "none recorded"
            raise UserError(f"the engine was built for compute capabilities {built}; this GPU is {gpu_name} "
                            f"({cc[0]}.{cc[1]}).", fix=f"rebuild it with --runtime rtx --compute-capability {cc[0]}.{cc[1]}")
        return []
    built_cc = tuple(sidecar.compute_capability or (0, 0))
    if built_cc != tuple(cc):
        raise UserError(f"the engine was built for {sidecar.gpu_name} (sm_{built_cc[0]}{built_cc[1]}), this GPU is "
                        f"{gpu_name} (sm_{cc[0]}{cc[1]}); engines do not move between GPU architectures.",
                        fix=f"rebuild it on this machine: fastscnn-edge build-engine {sidecar.source_onnx or 'MODEL.onnx'}")
    if sidecar.gpu_name.strip() != gpu_name.strip():
        return [f"the engine was built on {sidecar.gpu_name}, this GPU is {gpu_name} (same sm_{cc[0]}{cc[1]}); "
                "it runs, but its kernels were timed on the other model: rebuild for best speed"]
    return []
