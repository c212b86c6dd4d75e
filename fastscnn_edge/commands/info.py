"""`fastscnn-edge info`: what a model, checkpoint, ONNX file or engine is (the facts come from
:mod:`fastscnn_edge.runtime.describe`; this module prints them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

import typer

from fastscnn_edge.core.errors import UserError

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
    from fastscnn_edge.core.fileio import atomic_write_text, check_writable
    from fastscnn_edge.core.paths import ENGINE_SUFFIXES
    from fastscnn_edge.core.resolution import parse_resolution
    from fastscnn_edge.runtime.describe import engine_info, model_info, onnx_info

    if artifact is not None and weights is not None:
        raise UserError("a file was given both as the argument and with --weights.", fix="pass it once, as the argument.")
    path = artifact if artifact is not None else weights
    if json_out is not None:
        check_writable(json_out)
    suffix = path.suffix.lower() if path is not None else ""
    if arch is not None and (suffix == ".onnx" or suffix in ENGINE_SUFFIXES):
        raise UserError(f"--arch does not apply to a {suffix} file (it records its own).", fix="drop --arch.")
    if path is not None and path.is_dir():
        raise UserError(f"{path} is a folder, not a model file.", fix="pass a .pt, .onnx or .engine file.")
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
