"""`fastscnn-edge build-engine`: ONNX -> TensorRT engine (+ sidecar JSON), one per ONNX."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import List, Optional

import typer

from fastscnn_edge.commands import options
from fastscnn_edge.core.errors import UserError


def build_engine_cmd(
    onnx: Optional[List[Path]] = typer.Argument(None, help="ONNX file(s). Default: what `fastscnn-edge export` wrote (artifacts/)."),
    fp32: bool = typer.Option(False, "--fp32", help="FP32 engine."),
    fp16: bool = typer.Option(False, "--fp16", help="FP16 engine (default; INT8 for a Q/DQ ONNX): builder flag on 8.x, FP16 ONNX on 10.x/11.x."),
    int8: bool = typer.Option(False, "--int8", help="INT8 engine from a Q/DQ ONNX (or made from --calib images)."),
    calib: Optional[Path] = typer.Option(None, "--calib", help="Calibration images (folder or list file) for --int8 without a Q/DQ ONNX."),
    res: Optional[List[str]] = options.res_list("HxW, repeatable. Static ONNX: must match; dynamic ONNX: one profile each."),
    target: str = typer.Option("auto", "--target", help="auto | titan-xp | jetson-orin | jetson-xavier | desktop | rtx."),
    runtime: str = typer.Option("auto", "--runtime", help="auto (TensorRT where installed, else TensorRT-RTX) | tensorrt | rtx."),
    compute_capability: Optional[List[str]] = typer.Option(
        None, "--compute-capability", help="TensorRT-RTX: GPUs to build for, e.g. 8.6,8.9 (default 8.0,8.6,8.9,12.0; 7.5 only when asked)."),
    dla: Optional[int] = typer.Option(None, "--dla", help="DLA core (Jetson AGX Orin/Xavier), with GPU fallback."),
    workspace: Optional[float] = typer.Option(None, "--workspace", help="Builder workspace limit in GiB (default: TensorRT's)."),
    timing_cache: Optional[Path] = typer.Option(None, "--timing-cache", help="Timing cache file: read if present, updated after the build."),
    output: Optional[Path] = options.output(help="Output .engine (one ONNX). Default: artifacts/engines/."),
) -> None:
    """Build TensorRT engines; the capability table refuses what this TensorRT/GPU cannot do, before any work."""
    from fastscnn_edge.commands.progress import bar
    from fastscnn_edge.core.paths import DEFAULT_ARCH, DEFAULT_HEAD
    from fastscnn_edge.core.precision import from_flags
    from fastscnn_edge.core.resolution import or_paper, parse_resolutions
    from fastscnn_edge.engine import BuildOptions, build_engine, default_onnx_inputs, prepare
    from fastscnn_edge.runtime.artifact import Artifact

    resolutions = parse_resolutions(res)
    opts = BuildOptions(precision=from_flags(fp32=fp32, fp16=fp16, int8=int8),  # None: the one default rule
                        target=target, runtime=runtime, compute_capabilities=tuple(compute_capability or ()),
                        dla=dla, workspace_gib=workspace, timing_cache=timing_cache, calib=calib).checked()
    if onnx:
        sources, opts_per_file = list(onnx), replace(opts, resolutions=resolutions)
    else:  # the default exports, one static file per resolution
        sources, opts_per_file = default_onnx_inputs(DEFAULT_ARCH, DEFAULT_HEAD, or_paper(resolutions)), opts
    if output is not None and len(sources) > 1:
        raise UserError(f"-o {output} names one engine, but {len(sources)} ONNX files were given.",
                        fix="build them one at a time with -o.")
    # each file read and checked once for the whole command, every one before building the first
    prepared = [prepare(Artifact.open(src), output, options=opts_per_file) for src in sources]
    for pre in prepared:
        with bar(transient=True) as progress:
            result = build_engine(pre, log=lambda m: typer.echo(m, err=True), progress=progress)
        typer.echo(result.summary())


def register(app: typer.Typer) -> None:
    app.command("build-engine")(build_engine_cmd)
