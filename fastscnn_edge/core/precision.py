"""Precision as a value: one table that every step reads, and the one default rule.

A row per precision says what ONNX graph holds it, how its files are named, whether making it
needs calibration images, how each TensorRT generation builds an engine of it (the ONNX the parser
must read, the builder flags of a weakly typed network), and which runtimes run it. The capability
decision (:mod:`fastscnn_edge.runtime.capability`), the file names (:mod:`fastscnn_edge.core.paths`), the
artifact reader, ``quantize``, ``build-engine`` and ``bench`` read this table; nothing else spells
a precision's properties. Pure Python, at the bottom of the layers.

    precision  ONNX kind  file tag               calibration  TensorRT 8.x             10.x / 11.x / RTX
    fp32       fp32       (none)                 no           fp32 ONNX                fp32 ONNX
    fp16       fp16       .fp16                  no           fp32 ONNX + FP16 flag    fp16 ONNX, strongly typed
    int8       qdq        .int8 / .int8-cpu /    yes          Q/DQ ONNX + INT8 flag    Q/DQ ONNX, strongly typed
                          .int8-ov (by form)                  (+FP16 where fast)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.core.vocab import INT8_FORMS, ONNX_KINDS, PRECISIONS, check

GENERATIONS = ("8", "10", "11", "rtx")  # TensorRT API generations (fastscnn_edge.runtime.capability.generation)


@dataclass(frozen=True)
class Int8Form:
    """One INT8 Q/DQ placement: for whom it is made, and its file tag."""

    name: str  # tensorrt | cpu | openvino
    file_tag: str
    runs_on: Tuple[str, ...]
    made_by: str


INT8_FORM_TABLE: Dict[str, Int8Form] = {
    "tensorrt": Int8Form("tensorrt", "int8", ("tensorrt", "rtx", "onnxruntime", "openvino"),
                         "symmetric int8 Q/DQ in TensorRT's placement (quantize --int8)"),
    "cpu": Int8Form("cpu", "int8-cpu", ("onnxruntime",),
                    "uint8 activations for onnxruntime's x86 kernels (quantize --int8 --form cpu)"),
    "openvino": Int8Form("openvino", "int8-ov", ("openvino", "onnxruntime"),
                         "NNCF's post-training quantization for OpenVINO (quantize --int8 --form openvino)"),
}


@dataclass(frozen=True)
class Precision:
    """One row of the table (see the module doc)."""

    name: str
    onnx_kind: str  # the graph that holds it: fp32 | fp16 | qdq
    file_tag: str  # "" (the plain export), "fp16", "int8" (the TensorRT INT8 form; others: Int8Form)
    flag: str  # the CLI flag that asks for it
    needs_calibration: bool  # making it from the fp32 export needs calibration images
    # TensorRT generation -> the ONNX kinds its parser builds this precision from; the first is the one
    # to make when the user's file is none of them
    trt_parses: Mapping[str, Tuple[str, ...]]
    weak_flags: Tuple[str, ...]  # BuilderFlags of a weakly typed build (8.x; 10.x with DLA)
    runtimes: Tuple[str, ...]  # the backends that run a file of it
    note: str = ""
    # more BuilderFlags of a weakly typed build on GPUs with fast FP16 (Volta on; unknown GPU counts as fast)
    fast_fp16_flags: Tuple[str, ...] = ()

    def trt_onnx_kind(self, generation: Optional[str], have: str) -> str:
        """The ONNX kind a TensorRT ``generation`` (None: not known yet) parses for this precision,
        given the kind the user has: that one where it will do, else the one to make."""
        kinds = self.trt_parses.get(generation or "", self.trt_parses["10"])
        return have if have in kinds else kinds[0]


TABLE: Dict[str, Precision] = {
    "fp32": Precision("fp32", "fp32", "", "--fp32", False, {g: ("fp32",) for g in GENERATIONS}, (),
                      ("tensorrt", "rtx", "onnxruntime", "openvino", "torch"), "the reference; what export writes"),
    "fp16": Precision("fp16", "fp16", "fp16", "--fp16", False,
                      {"8": ("fp32", "fp16"), "10": ("fp16",), "11": ("fp16",), "rtx": ("fp16",)}, ("FP16",),
                      ("tensorrt", "rtx", "onnxruntime", "openvino"),
                      "8.x sets the FP16 flag on the fp32 graph; strongly typed builds need the fp16 graph"),
    "int8": Precision("int8", "qdq", "int8", "--int8", True, {g: ("qdq",) for g in GENERATIONS}, ("INT8",),
                      ("tensorrt", "rtx", "onnxruntime", "openvino"),
                      "explicit Q/DQ: every generation builds it; 8.x adds the INT8 flag (and FP16 where fast)",
                      fast_fp16_flags=("FP16",)),  # layers left unquantized may run in fp16
}
assert tuple(TABLE) == PRECISIONS and {p.onnx_kind for p in TABLE.values()} == set(ONNX_KINDS)
assert tuple(INT8_FORM_TABLE) == INT8_FORMS

# When nothing is asked: what build-engine builds from a file of each ONNX kind (the one default rule,
# read by the CLI and the library alike), and the order bench looks for default engines in.
BUILD_DEFAULT = "fp16"
ENGINE_SEARCH_ORDER = ("fp16", "int8", "fp32")


def get(name: str) -> Precision:
    """The row of ``name``; UserError naming the flags for an unknown precision."""
    check("precision", name, fix="use fp32, fp16 or int8 (--fp32, --fp16, --int8).")
    return TABLE[name]


def of_onnx_kind(onnx_kind: str) -> Precision:
    """The precision an ONNX graph of ``onnx_kind`` (fp32 | fp16 | qdq) holds."""
    check("ONNX kind", onnx_kind)
    return next(p for p in TABLE.values() if p.onnx_kind == onnx_kind)


def default_for(onnx_kind: str) -> str:
    """The one default rule: what an engine built from an ONNX of ``onnx_kind`` is when no precision is
    given: the precision the file already holds where it is explicit (INT8 from Q/DQ, FP16 from an
    fp16 graph), else FP16 (the fast one on every GPU since Volta; the Titan Xp's warning says when not)."""
    kind = of_onnx_kind(onnx_kind).name
    return kind if kind != "fp32" else BUILD_DEFAULT


def resolve(asked: Optional[str], onnx_kind: str) -> str:
    """``asked`` checked, or the default rule for a file of ``onnx_kind``."""
    return get(asked).name if asked is not None else default_for(onnx_kind)


def from_flags(**flags: bool) -> Optional[str]:
    """``--fp32/--fp16/--int8`` booleans -> the one precision asked for (None: none); two are refused."""
    on = [name for name in PRECISIONS if flags.get(name)]
    unknown = set(flags) - set(PRECISIONS)
    if unknown:
        raise TypeError(f"not precision flags: {sorted(unknown)}")
    if len(on) > 1:
        raise UserError(f"--{' and --'.join(on)} were both given.", fix="pick one of --fp32, --fp16, --int8.")
    return on[0] if on else None


def file_tag(name: str, form: str = "tensorrt") -> str:
    """The name tag of a precision-explicit ONNX: "" (fp32), "fp16", or the INT8 form's tag."""
    p = get(name)
    if p.name == "int8":
        return INT8_FORM_TABLE[check("INT8 form", form)].file_tag
    return p.file_tag


def form_of_tag(filename: str) -> Optional[str]:
    """The INT8 form a file name's tag says (``x.int8-cpu.onnx`` -> ``cpu``), or None."""
    for f in sorted(INT8_FORM_TABLE.values(), key=lambda f: -len(f.file_tag)):
        if filename.endswith(f".{f.file_tag}.onnx"):
            return f.name
    return None
