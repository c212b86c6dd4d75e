"""`fastscnn-edge export`: PyTorch -> validated ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from fastscnn_edge.commands import options


def export_cmd(
    weights: Optional[Path] = options.weights(),
    arch: Optional[str] = options.arch(),
    head: str = typer.Option("cls", "--head", help="cls: argmax labels fused in the graph; prob: softmax; logits: before the upsample."),
    res: Optional[List[str]] = options.res_list("HxW, repeatable or comma-separated. Default: 1024x2048, 512x1024, 256x512."),
    dynamic: bool = typer.Option(False, "--dynamic", help="Dynamic batch/height/width (validated at --res and one more size)."),
    input_format: str = typer.Option("float", "--input", help="float: normalized NCHW float32; rgb8/bgr8: NHWC uint8 frames, normalized in the graph."),
    labels: str = typer.Option("uint8", "--labels", help="Label dtype of the cls head: uint8 | int32 | int64."),
    cls_layout: str = typer.Option("nhwc", "--cls-layout", help="cls head: nhwc (upsample + argmax over channels-last; every runtime) | nchw | refine (onnxruntime CPU only: full-resolution scores only at class boundaries, same labels, about 5x cheaper head on street scenes)."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset (17: the newest TensorRT 8.6 parses)."),
    output: Optional[Path] = options.output(help="Output .onnx (one resolution) or folder (several). Default: ./artifacts/."),
    no_validate: bool = typer.Option(False, "--no-validate", help="Skip the onnxruntime-vs-PyTorch check (not recommended)."),
) -> None:
    """Export Fast-SCNN to ONNX (exact PPM), validated against PyTorch with onnxruntime."""
    import time

    from fastscnn_edge.commands.progress import bar
    from fastscnn_edge.core.fileio import human_size
    from fastscnn_edge.core.machine import require_torch
    from fastscnn_edge.core.metadata import RANDOM_WEIGHTS_NOTE
    from fastscnn_edge.core.resolution import parse_resolutions
    from fastscnn_edge.export.to_onnx import describe_validation, export_many

    require_torch("`fastscnn-edge export`")
    t0 = time.perf_counter()
    with bar(transient=True) as progress:
        results = export_many(weights=weights, arch=arch, head=head, resolutions=parse_resolutions(res), output=output,
                              validate=not no_validate, progress=progress, dynamic=dynamic, input_format=input_format,
                              labels=labels, opset=opset, cls_layout=cls_layout)
    for result in results:
        r = result.res
        typer.echo(f"{result.path}  {r[0]}x{r[1]} {head}/{input_format}  {sum(result.op_counts.values())} nodes  "
                   f"vs PyTorch: {describe_validation(result)}")
    total = sum(x.size for x in results)
    if cls_layout == "refine":  # for onnxruntime on the CPU; build-engine refuses it
        nxt = f"fastscnn-edge bench {' '.join(str(r.path) for r in results)} --backend onnxruntime"
    else:
        nxt = "fastscnn-edge build-engine --fp16" if output is None else f"fastscnn-edge build-engine {results[0].path}"
        nxt += "  (or on CPU: fastscnn-edge bench --backend onnxruntime)"
    typer.echo(f"exported {len(results)} model(s), {human_size(total)}, in {time.perf_counter() - t0:.1f} s -> next: {nxt}")
    if results[0].meta.random_weights:
        typer.echo(RANDOM_WEIGHTS_NOTE + " (pass --weights)", err=True)


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
