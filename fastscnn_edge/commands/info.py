"""`fastscnn-edge info`: what a model, checkpoint or exported ONNX file is, before spending time on it.

For a PyTorch model (``--arch`` or a native ``--weights`` checkpoint): the paper-level layer table
with output shapes at ``--res``, parameter counts (all, and conv weights only: the figure the
paper's 1.11 M counts), the architecture switches, and the checkpoint's provenance. For an
``.onnx`` file: its fastscnn-edge metadata, inputs/outputs and operator counts (no torch needed).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import typer

from fastscnn_edge.errors import UserError

PAPER_PARAMS = 1_110_000  # "1.11 million parameters" (Fast-SCNN paper, sections 4.1 and 4.2)


def model_info(weights: Optional[Path], arch: Optional[str], res: Tuple[int, int]) -> Dict[str, Any]:
    """Layer table, parameter counts, switches and checkpoint facts of a (native) model."""
    from fastscnn_edge.machine import require_torch

    require_torch("describing a PyTorch model (`fastscnn-edge info` without an .onnx/.engine)")
    from fastscnn_edge.checkpoint import resolve_model
    from fastscnn_edge.fileio import sha256_file
    from fastscnn_edge.model import count_parameters, layer_table

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

    from fastscnn_edge.fileio import sha256_file
    from fastscnn_edge.metadata import PREFIX, read_onnx_meta

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
        raise UserError(f"{path} is not a readable ONNX file ({type(exc).__name__}).",
                        fix="pass an .onnx written by `fastscnn-edge export`.") from None
    problem: Optional[str] = None
    try:
        meta: Optional[Dict[str, Any]] = read_onnx_meta(path).to_json()
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


def _print_model(info: Dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140)
    h, w = info["resolution"]
    table = Table(title=f"Fast-SCNN {info['arch']!r} at {h}x{w}")
    for col in ("stage", "block", "output shape", "scale", "params"):
        table.add_column(col, justify="right" if col == "params" else "left")
    for r in info["layers"]:
        table.add_row(r["name"], r["block"], "x".join(map(str, r["output_shape"])), r["scale"], f"{r['params']:,}")
    console.print(table)
    p = info["parameters"]
    console.print(f"parameters: {p['all']:,} in all; conv weights {p['conv_weights']:,} "
                  f"vs the paper's {p['paper']:,} ({p['conv_vs_paper_percent']:+.2f} %)")
    switches = {k: v for k, v in info["config"].items() if k != "name"}
    console.print("switches: " + ", ".join(f"{k}={v}" for k, v in switches.items()))
    ck = info.get("checkpoint")
    if ck:
        console.print(f"checkpoint: {ck['path']}  sha256 {ck['file_sha256']}")
        console.print(f"  source: {ck['source'] or '-'}; {ck['num_classes']} classes; "
                      f"mean {ck['mean']} std {ck['std']} ({ck['channel_order']}); "
                      f"tensors sha256 {ck['state_sha256'][:16]}...")


def _print_onnx(info: Dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(width=140)
    console.print(f"{info['path']}  {info['size_bytes']:,} bytes  sha256 {info['sha256']}")
    console.print(f"opsets {info['opsets']}  producer {info['producer'] or '-'}  "
                  f"{info['nodes']} nodes  {info['weights']:,} weights")
    for kind in ("inputs", "outputs"):
        for t in info[kind]:
            console.print(f"{kind[:-1]}: {t['name']} {t['dtype']} {t['shape']}")
    console.print("ops: " + ", ".join(f"{k} {v}" for k, v in info["op_counts"].items()))
    meta = info["metadata"]
    if meta is None:
        problem = info.get("metadata_problem")
        console.print(f"metadata: refused: {problem}" if problem else "metadata: none (not written by fastscnn-edge)")
    else:
        keep = ("arch", "head", "input_format", "resolution", "num_classes", "precision", "labels_dtype",
                "weights_source", "weights_sha256", "toolkit_version")
        console.print("metadata: " + ", ".join(f"{k}={meta[k]}" for k in keep if meta.get(k) not in ("", None)))


def engine_info(path: Path) -> Dict[str, Any]:
    """What the sidecar says about an engine (torch- and TensorRT-free)."""
    from fastscnn_edge.fileio import sha256_file
    from fastscnn_edge.trt.sidecar import read_sidecar

    side = read_sidecar(path)
    return {"kind": "engine", "path": str(path), "size_bytes": path.stat().st_size, "sha256": sha256_file(path),
            "sidecar": side.to_json() if side is not None else None}


def _print_engine(info: Dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(width=140)
    console.print(f"{info['path']}  {info['size_bytes']:,} bytes  sha256 {info['sha256']}", markup=False)
    side = info["sidecar"]
    if side is None:
        console.print("sidecar: none (built outside fastscnn-edge, or its .json was not copied with it)")
        return
    runtime = "TensorRT-RTX" if side.get("runtime") == "tensorrt_rtx" else "TensorRT"
    built_for = (", ".join(f"{a}.{b}" for a, b in side.get("compute_capabilities") or []) if runtime == "TensorRT-RTX"
                 else f"{side.get('gpu_name')} (sm_{''.join(map(str, side.get('compute_capability') or []))})")
    console.print(f"{runtime} {side['tensorrt_version']}  {side['precision']}  built for {built_for}", markup=False)
    for t in side["io"]:
        console.print(f"{t['mode']}: {t['name']} {t['dtype']} {t['shape']}", markup=False)
    console.print(f"from {side['source_onnx']} (sha256 {side['source_sha256'][:16]}...) in {side['build_seconds']} s",
                  markup=False)


def info_cmd(
    artifact: Optional[Path] = typer.Argument(
        None, help="A native checkpoint (.pt), an exported .onnx or a TensorRT .engine. None: the --arch model, random weights."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", hidden=True, help="Same as the argument (older spelling)."),
    arch: Optional[str] = typer.Option(None, "--arch", "-a", help="paper | tramac | mmseg (without a file; default paper)."),
    res: str = typer.Option("1024x2048", "--res", "-r", help="HxW for the layer table's shapes."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write everything as JSON to this file."),
) -> None:
    """Describe a model: layer table with shapes, parameter counts, switches, checkpoint, ONNX or engine metadata."""
    from fastscnn_edge.paths import ENGINE_SUFFIXES
    from fastscnn_edge.fileio import atomic_write_text, check_writable
    from fastscnn_edge.resolution import parse_resolution

    if artifact is not None and weights is not None:
        raise UserError("a file was given both as the argument and with --weights.", fix="pass it once, as the argument.")
    path = artifact if artifact is not None else weights
    if json_out is not None:
        check_writable(json_out)
    suffix = path.suffix.lower() if path is not None else ""
    if arch is not None and (suffix == ".onnx" or suffix in ENGINE_SUFFIXES):
        raise UserError(f"--arch does not apply to a {suffix} file (it records its own).", fix="drop --arch.")
    if path is not None and not path.is_file():
        raise UserError(f"{path} does not exist.", fix="check the path.")
    if path is not None and (suffix == ".onnx" or suffix in ENGINE_SUFFIXES):
        if suffix == ".onnx":
            info = onnx_info(path)
            _print_onnx(info)
        else:
            info = engine_info(path)
            _print_engine(info)
    else:
        info = model_info(path, arch, parse_resolution(res))
        _print_model(info)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(info, indent=2, default=str) + "\n")
        typer.echo(f"wrote {json_out}")


def register(app: typer.Typer) -> None:
    app.command("info")(info_cmd)
