"""Does a graph take and give what its metadata claims? One pure check over plain data.

``check_io(inputs, outputs, meta, source=...)`` compares a graph's inputs and outputs (names,
numpy dtype names, shapes with ``None`` for a dynamic or unknown dimension) with what
:class:`~fastscnn_edge.core.metadata.ModelMeta` implies: the input format decides the input
(``input`` float32 N x 3 x H x W, or ``frames`` uint8 N x H x W x 3), the head the output
(``labels`` N x H x W in ``labels_dtype``; ``probs`` float32 N x C x H x W; ``logits`` float32
N x C x H/8 x W/8), the resolution H and W, the class count C. A foreign graph wearing a real
export's metadata is refused with what differs. ``onnx_io`` reads the plain data from an ONNX
model; engines pass their TensorRT tensors. torch-free, onnx only inside ``onnx_io``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Protocol, Sequence, Tuple, Union

from fastscnn_edge.core.errors import UserError


class ModelMeta(Protocol):
    """The fields of a :class:`fastscnn_edge.core.metadata.ModelMeta` this module reads (metadata calls
    this module, so the type it needs is declared here, below it)."""

    resolution: Optional[Tuple[int, int]]
    input_format: str
    num_classes: int
    head: str
    labels_dtype: str

Dim = Optional[int]
ExpectedDim = Union[int, str]  # an int must match; "N" is any batch; "H", "W", "H/8", "W/8" must be dynamic

INPUT_NAMES = {"float": "input", "rgb8": "frames", "bgr8": "frames"}
OUTPUT_NAMES = {"cls": "labels", "prob": "probs", "logits": "logits"}
FIX = "re-export the model with `fastscnn-edge export` (metadata copied onto another graph is refused)."


@dataclass(frozen=True)
class TensorSig:
    """One graph input or output: name, numpy dtype name, shape (None: dynamic or unknown)."""

    name: str
    dtype: str
    shape: Tuple[Dim, ...]


Expected = Tuple[str, str, Tuple[ExpectedDim, ...]]  # name, numpy dtype name, dims


def expected_io(meta: ModelMeta) -> Tuple[Expected, Expected]:
    """(name, dtype, dims) of the input and of the output that ``meta`` implies."""
    if meta.resolution is not None:
        h: ExpectedDim = int(meta.resolution[0])
        w: ExpectedDim = int(meta.resolution[1])
        h8: ExpectedDim = int(meta.resolution[0]) // 8
        w8: ExpectedDim = int(meta.resolution[1]) // 8
    else:
        h, w, h8, w8 = "H", "W", "H/8", "W/8"
    inp: Expected
    out: Expected
    if meta.input_format == "float":
        inp = (INPUT_NAMES["float"], "float32", ("N", 3, h, w))
    else:
        inp = (INPUT_NAMES[meta.input_format], "uint8", ("N", h, w, 3))
    c = int(meta.num_classes)
    if meta.head == "cls":
        out = (OUTPUT_NAMES["cls"], meta.labels_dtype, ("N", h, w))
    elif meta.head == "prob":
        out = (OUTPUT_NAMES["prob"], "float32", ("N", c, h, w))
    else:
        out = (OUTPUT_NAMES["logits"], "float32", ("N", c, h8, w8))
    return inp, out


def _fmt(dims: Sequence[object]) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in dims) + "]"


def _compare(role: str, got: TensorSig, want: Expected) -> Optional[str]:
    name, dtype, dims = want
    wrong = got.name != name or got.dtype != dtype or len(got.shape) != len(dims)
    if not wrong:
        for a, e in zip(got.shape, dims):
            if e == "N":
                continue
            if isinstance(e, str):  # the metadata says dynamic: a fixed size contradicts it
                wrong = wrong or a is not None
            else:
                wrong = wrong or (a is not None and a != e)
    if not wrong:
        return None
    return (f"{role} {got.name!r} is {got.dtype} {_fmt(got.shape)}, "
            f"expected {name!r} {dtype} {_fmt(dims)}")


def problems(inputs: Sequence[TensorSig], outputs: Sequence[TensorSig], meta: ModelMeta) -> List[str]:
    """What differs between the graph's I/O and what ``meta`` implies ([] when they agree)."""
    if len(inputs) != 1 or len(outputs) != 1:
        return [f"the graph has {len(inputs)} input(s) and {len(outputs)} output(s), a Fast-SCNN export one each"]
    want_in, want_out = expected_io(meta)
    found = [_compare("input", inputs[0], want_in), _compare("output", outputs[0], want_out)]
    return [p for p in found if p]


def check_io(inputs: Sequence[TensorSig], outputs: Sequence[TensorSig], meta: ModelMeta, *, source: str,
             fix: str = FIX) -> None:
    """UserError naming ``source`` and every difference where the graph does not match ``meta``."""
    found = problems(inputs, outputs, meta)
    if found:
        res = "dynamic size" if meta.resolution is None else f"{meta.resolution[0]}x{meta.resolution[1]}"
        claim = f"{meta.head} head, {meta.input_format} input, {res}, {meta.num_classes} classes"
        raise UserError(f"{source} does not match its own metadata ({claim}): {'; '.join(found)}.", fix=fix)


_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
                10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}


def onnx_io(model) -> Tuple[List[TensorSig], List[TensorSig]]:  # noqa: ANN001 - onnx.ModelProto
    """The graph inputs (initializers excluded) and outputs of an in-memory ONNX model."""
    g = model.graph
    inits = {t.name for t in g.initializer}

    def sig(v) -> TensorSig:  # noqa: ANN001 - onnx.ValueInfoProto
        t = v.type.tensor_type
        elem = _ONNX_DTYPES.get(t.elem_type, f"onnx type {t.elem_type}")
        dims = tuple(int(d.dim_value) if d.HasField("dim_value") else None for d in t.shape.dim) \
            if t.HasField("shape") else ()
        return TensorSig(v.name, elem, dims)

    return [sig(v) for v in g.input if v.name not in inits], [sig(v) for v in g.output]


def engine_sig(name: str, dtype: str, shape: Sequence[int]) -> TensorSig:
    """A TensorRT tensor (-1 for a dynamic dimension) as a TensorSig."""
    return TensorSig(name, dtype, tuple(None if int(d) < 0 else int(d) for d in shape))
