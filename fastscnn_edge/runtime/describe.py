"""What a model, checkpoint, exported ONNX file or engine is, before spending time on it (``info``).

For a PyTorch model (``--arch`` or a native checkpoint): the paper-level layer table with output
shapes at a resolution, parameter counts (all, and conv weights only: the figure the paper's
1.11 M counts), the architecture switches, and the checkpoint's provenance (needs torch). For an
``.onnx`` file: its fastscnn-edge metadata (or why it is refused), inputs/outputs and operator
counts; for an engine: its sidecar (neither needs torch).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from fastscnn_edge.core.errors import UserError

PAPER_PARAMS = 1_110_000  # "1.11 million parameters" (Fast-SCNN paper, sections 4.1 and 4.2)


def model_info(weights: Optional[Path], arch: Optional[str], res: Tuple[int, int]) -> Dict[str, Any]:
    """Layer table, parameter counts, switches and checkpoint facts of a (native) model."""
    from fastscnn_edge.core.machine import require_torch

    require_torch("describing a PyTorch model (`fastscnn-edge info` without an .onnx/.engine)")
    from fastscnn_edge.core.fileio import sha256_file
    from fastscnn_edge.model.checkpoint import resolve_model
    from fastscnn_edge.model.network import count_parameters, layer_table

    model, ckpt = resolve_model(weights, arch)
    counts = count_parameters(model)
    info: Dict[str, Any] = {
        "kind": "model",
        "arch": model.cfg.name,
        "resolution": list(res),
        "config": model.cfg.to_dict(),
        "parameters": {"all": counts["all"], "conv_weights": counts["conv"], "paper": PAPER_PARAMS,
                       "conv_vs_paper_percent": round(100.0 * (counts["conv"] - PAPER_PARAMS) / PAPER_PARAMS, 2)},
        "layers": [{"name": r.name, "block": r.block, "output_shape": list(r.out_shape), "params": r.params,
                    "scale": r.stride_from_input} for r in layer_table(model, res)],
        "checkpoint": None,
    }
    if ckpt is not None and weights is not None:
        info["checkpoint"] = {
            "path": str(weights), "file_sha256": sha256_file(weights), "state_sha256": ckpt.state_sha256,
            "source": ckpt.source, "num_classes": ckpt.num_classes, "class_names": list(ckpt.class_names),
            "mean": list(ckpt.mean), "std": list(ckpt.std), "channel_order": ckpt.channel_order,
            "extra": dict(ckpt.extra),
        }
    return info


def _dims(value_info) -> list:  # noqa: ANN001 - onnx.ValueInfoProto
    shape = value_info.type.tensor_type.shape
    return [d.dim_param if d.dim_param else d.dim_value for d in shape.dim]


def onnx_info(path: Path) -> Dict[str, Any]:
    """Metadata, inputs/outputs, operator counts and weight count of an ONNX file (torch-free)."""
    import onnx

    from fastscnn_edge.core.fileio import sha256_file
    from fastscnn_edge.core.metadata import PREFIX, meta_from_proto

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
        raise UserError(f"{path} is not a readable ONNX file ({type(exc).__name__}).",
                        fix="pass an .onnx written by `fastscnn-edge export`.") from None
    problem: Optional[str] = None
    try:
        meta: Optional[Dict[str, Any]] = meta_from_proto(model, path).to_json()
    except UserError as exc:
        meta = None  # a foreign ONNX, or metadata the other commands refuse: still worth describing
        if any(p.key.startswith(PREFIX) for p in model.metadata_props):
            problem = exc.cause
    g = model.graph
    init_names = {i.name for i in g.initializer}
    elem = onnx.TensorProto.DataType.Name
    return {
        "kind": "onnx",
        "path": str(path), "size_bytes": path.stat().st_size, "sha256": sha256_file(path),
        "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "metadata": meta,
        "metadata_problem": problem,  # why the other commands would refuse this file (None: they accept it)
        "inputs": [{"name": i.name, "dtype": elem(i.type.tensor_type.elem_type), "shape": _dims(i)}
                   for i in g.input if i.name not in init_names],
        "outputs": [{"name": o.name, "dtype": elem(o.type.tensor_type.elem_type), "shape": _dims(o)}
                    for o in g.output],
        "nodes": len(g.node),
        "op_counts": dict(sorted(Counter(n.op_type for n in g.node).items(), key=lambda kv: (-kv[1], kv[0]))),
        "weights": sum(int(_numel(t.dims)) for t in g.initializer),
    }


def _numel(dims) -> int:  # noqa: ANN001
    n = 1
    for d in dims:
        n *= int(d)
    return n


def engine_info(path: Path) -> Dict[str, Any]:
    """What the sidecar says about an engine (torch- and TensorRT-free)."""
    from fastscnn_edge.core.fileio import sha256_file
    from fastscnn_edge.runtime.sidecar import read_sidecar

    side = read_sidecar(path)
    return {"kind": "engine", "path": str(path), "size_bytes": path.stat().st_size, "sha256": sha256_file(path),
            "sidecar": side.to_json() if side is not None else None}
