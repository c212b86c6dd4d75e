"""All OpenVINO (and NNCF) code: the ONNX graph each runtime runs best, compiled on OpenVINO's CPU plugin.

OpenVINO is an optional CPU runtime beside onnxruntime (``pip install 'fastscnn-edge[openvino]'``).
It runs our ONNX files directly (``Core.read_model`` on the bytes the Artifact already read): fp32,
FP16 and every INT8 Q/DQ form. Two things differ from onnxruntime and are decided here, once:

- **The cls head.** OpenVINO's ``Interpolate`` of the 19 full-resolution score maps is the slowest
  op of the dense head (measured with its own per-op counters, ``PERF_COUNT``, 2 threads, 512x1024:
  170 ms of a 233 ms frame with the default NHWC head, 18 ms with the NCHW one; the network itself is
  23 ms). A static batch-1 export with a dense cls head is therefore rewritten at load time into the
  refined head of :mod:`fastscnn_edge.export.cls_head` (scores at full resolution only in the cells at class
  boundaries, the same labels as the dense head; exact in real arithmetic), the layout OpenVINO runs
  fastest: the same file serves TensorRT (dense NHWC), onnxruntime and OpenVINO, each in its best
  form. ``cls_head="dense"`` keeps the file's head (what the tests compare against).
- **The arithmetic.** On CPUs with AMX or AVX-512 BF16 OpenVINO's default inference precision is
  bfloat16: an fp32 file would silently run in bf16 (logits off by up to ~0.07 on the demo model).
  We ask for ``f32`` unless the caller passes ``precision="bf16"``, and report what ran.

INT8 for OpenVINO (:func:`quantize_onnx`) is NNCF's post-training quantization with its ONNX backend:
the result is a Q/DQ ONNX (our metadata and checks apply as to every artifact) whose placement is
NNCF's, tuned for OpenVINO's CPU plugin.

torch-free; openvino and nncf are imported only inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np

from fastscnn_edge.core.errors import MissingDependency, UserError

INSTALL_FIX = "pip install 'fastscnn-edge[openvino]' (openvino; nncf for quantize --form openvino)."
MIN_VERSION = (2024, 0)  # read_model from memory, INFERENCE_PRECISION_HINT, ONNX opset 17 Q/DQ
PRECISIONS = ("f32", "bf16")  # inference precision hints we pass; "f16" is for GPUs, not the CPU plugin
CLS_HEADS = ("best", "dense")  # best: the refined head where it can be built; dense: the file's own


def require() -> Any:
    """The openvino module, or MissingDependency naming the extra; refused when too old."""
    try:
        import openvino as ov
    except ImportError:
        raise MissingDependency("OpenVINO is not installed.", fix=INSTALL_FIX) from None
    have = version_tuple(ov.__version__)
    if have < MIN_VERSION:
        raise MissingDependency(f"OpenVINO {ov.__version__} is too old (fastscnn-edge needs "
                                f"{MIN_VERSION[0]}.{MIN_VERSION[1]} or newer).", fix=INSTALL_FIX)
    return ov


def check_device(device: str) -> None:
    """UserError unless ``device`` is the CPU: the one device OpenVINO runs on here."""
    if device != "cpu":
        raise UserError("OpenVINO runs here on the CPU only.", fix="drop --device cuda, or use --backend onnxruntime/tensorrt.")


def available() -> bool:
    """True where a usable OpenVINO is installed (never raises)."""
    try:
        require()
    except MissingDependency:
        return False
    return True


def version_tuple(text: str) -> Tuple[int, int]:
    """``"2026.4.1-22982-..."`` -> (2026, 4); (0, 0) when unreadable."""
    parts = text.split("-")[0].split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return 0, 0


def version() -> str:
    ov = require()
    return str(ov.__version__).split("-")[0]


def best_graph(proto: Any, head: str, layout: str, *, cls_head: str = "best") -> Tuple[Any, str]:
    """The graph OpenVINO runs fastest for this file (an onnx.ModelProto: the same one or a rewritten
    copy), and the cls head layout it has. ``head``/``layout``: the file's (its metadata).

    A dense cls head becomes the refined one where :func:`~fastscnn_edge.export.cls_head.refine_cls_head`
    can build it (static size, batch 1, even factor, <= 256 classes); otherwise the file's graph."""
    from fastscnn_edge.export.cls_head import LAYOUT, refine_cls_head

    if cls_head not in CLS_HEADS:
        raise UserError(f"unknown OpenVINO cls head choice {cls_head!r}.", fix=f"use one of: {', '.join(CLS_HEADS)}.")
    if head != "cls" or layout == LAYOUT or cls_head == "dense":
        return proto, layout
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    why = refine_cls_head(copy)
    if why is not None:  # dynamic size, batch > 1, ...: the dense head stays
        return proto, layout
    return copy, LAYOUT


@dataclass
class Compiled:
    """A model compiled for OpenVINO's CPU plugin, with one infer request (one caller at a time)."""

    compiled: Any
    request: Any
    input_name: str
    output_name: str
    input_shape: Tuple[int, ...]  # -1 where dynamic
    output_shape: Tuple[int, ...]
    input_dtype: str
    output_dtype: str
    precision: str  # the inference precision that ran ("f32" | "bf16")
    cls_head: str  # the head layout that runs ("refine", "nhwc", "nchw"; "" for prob/logits)
    threads: Optional[int] = None
    details: Dict[str, Any] = field(default_factory=dict)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.request.infer({0: np.ascontiguousarray(x)})
        return np.array(out[self.compiled.output(0)], copy=True)


@contextlib.contextmanager
def signal_stack_kept() -> Iterator[None]:
    """Keep this thread's alternate signal stack as it was across an OpenVINO call.

    OpenVINO's CPU plugin (2026.4) gives the compiling thread an alternate signal stack
    (``sigaltstack``) owned by the compiled model, and each model puts back the stack it found when it
    is freed: with two models freed in the order they were made, the thread is left pointing at freed
    memory, and the next signal handled there (Ctrl-C, SIGTERM: Python's handlers run on the alternate
    stack) crashes the process with SIGSEGV instead of stopping it (exit 139, not 130). Putting the
    previous stack back after the call means every model finds, and restores, the same valid one; the
    plugin installs no signal handler of its own that would need its stack. Linux only (elsewhere: no-op).
    """
    libc = _libc()
    if libc is None:
        yield
        return
    saved = _StackT()
    if libc.sigaltstack(None, ctypes.byref(saved)) != 0:
        yield
        return
    try:
        yield
    finally:
        libc.sigaltstack(ctypes.byref(saved), None)


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]  # stack_t


def _libc() -> Any:
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.sigaltstack.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        return libc
    except (OSError, AttributeError):
        return None


def compile_onnx(data: bytes, proto: Any = None, *, head: str = "", layout: str = "", threads: Optional[int] = None,
                 precision: str = "f32", cls_head: str = "best", name: str = "model") -> Compiled:
    """Compile ONNX ``data`` on the CPU plugin. ``proto`` (the same model parsed) with the file's
    ``head`` and cls ``layout`` lets :func:`best_graph` pick the head OpenVINO runs fastest."""
    ov = require()
    if precision not in PRECISIONS:
        raise UserError(f"unknown OpenVINO inference precision {precision!r}.", fix=f"use one of: {', '.join(PRECISIONS)}.")
    if proto is not None:
        graph, layout = best_graph(proto, head, layout, cls_head=cls_head)
        if graph is not proto:
            data = graph.SerializeToString()
    core = ov.Core()
    try:
        model = core.read_model(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError/OpConversionFailure with long texts
        raise UserError(f"OpenVINO {version()} cannot read {name}: {_first_line(exc)}",
                        fix="re-export with `fastscnn-edge export` (opset 17), or update OpenVINO "
                            "(pip install -U openvino).") from None
    config: Dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    try:
        with signal_stack_kept():
            compiled = core.compile_model(model, "CPU", config)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"OpenVINO {version()} cannot compile {name} for the CPU: {_first_line(exc)}",
                        fix="report this with the file; meanwhile use --backend onnxruntime.") from None
    inp, outp = compiled.input(0), compiled.output(0)
    ran = str(compiled.get_property("INFERENCE_PRECISION_HINT")).lower()
    with signal_stack_kept():
        request = compiled.create_infer_request()
    return Compiled(
        compiled, request, _name(inp, proto.graph.input if proto is not None else ()),
        _name(outp, proto.graph.output if proto is not None else ()),
        _shape(inp.get_partial_shape()), _shape(outp.get_partial_shape()),
        _dtype(inp.get_element_type()), _dtype(outp.get_element_type()),
        "bf16" if "bf16" in ran or "bfloat16" in ran else "f32", layout, threads,
        {"openvino": version(), "device": _cpu_name(core), "threads_used": _int_property(compiled, "INFERENCE_NUM_THREADS")},
    )


def _name(port: Any, graph_values: Any) -> str:
    """The port's name as the ONNX graph spells it (OpenVINO keeps several names per tensor)."""
    names = port.get_names()
    for v in graph_values:
        if v.name in names:
            return str(v.name)
    return str(port.get_any_name())


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.strip().startswith("Exception from")]
    return (lines[0] if lines else type(exc).__name__)[:200]


def _shape(ps: Any) -> Tuple[int, ...]:
    return tuple(int(d.get_length()) if d.is_static else -1 for d in ps)


def _dtype(t: Any) -> str:
    name = t.get_type_name()  # "f32", "u8", "i64", ...
    return {"f32": "float32", "f16": "float16", "u8": "uint8", "i8": "int8", "i32": "int32",
            "i64": "int64"}.get(name, name)


def _int_property(compiled: Any, key: str) -> Optional[int]:
    try:
        return int(compiled.get_property(key))
    except Exception:  # noqa: BLE001
        return None


def _cpu_name(core: Any) -> str:
    try:
        return str(core.get_property("CPU", "FULL_DEVICE_NAME"))
    except Exception:  # noqa: BLE001
        return "CPU"


# --- INT8 through NNCF ------------------------------------------------------------------------

NNCF_FIX = "pip install 'fastscnn-edge[openvino]' (nncf is NNCF, OpenVINO's quantizer)."


def quantize_onnx(proto: Any, frames: Any, *, fast_bias_correction: bool = True) -> Any:
    """NNCF post-training INT8 of an fp32 ONNX (ModelProto) on ``frames`` (an iterable, re-iterable
    and sized, of ``{input name: network input}``): a Q/DQ ModelProto (int8 weights per channel,
    activations per tensor, NNCF's placement for OpenVINO's CPU plugin; ArgMax and the head's
    Resize stay float)."""
    try:
        import nncf
    except ImportError:
        raise MissingDependency("NNCF is not installed (quantize --form openvino uses it).", fix=NNCF_FIX) from None
    if not len(frames):
        raise UserError("NNCF needs at least one calibration frame.", fix="pass --calib DIR with images in it.")
    import logging

    logging.getLogger("nncf").setLevel(logging.ERROR)
    try:
        with signal_stack_kept():  # NNCF runs the model (onnxruntime or OpenVINO) to collect statistics
            return nncf.quantize(proto, nncf.Dataset(frames), subset_size=len(frames),
                                 fast_bias_correction=fast_bias_correction, preset=nncf.QuantizationPreset.PERFORMANCE)
    except Exception as exc:  # noqa: BLE001 - NNCF raises its own types with long texts
        raise UserError(f"NNCF could not quantize the model: {_first_line(exc)}",
                        fix="use --form cpu (onnxruntime) or --form tensorrt instead, and report this.") from None
