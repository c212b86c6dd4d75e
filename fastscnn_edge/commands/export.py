"""`fastscnn-edge export`: PyTorch -> validated ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from fastscnn_edge.errors import UserError


def export_cmd(
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="Native checkpoint (.pt). Default: random weights."),
    arch: Optional[str] = typer.Option(None, "--arch", "-a", help="paper | tramac | mmseg (default: the checkpoint's, else paper)."),
    head: str = typer.Option("cls", "--head", help="cls: argmax labels fused in the graph; prob: softmax; logits: before the upsample."),
    res: Optional[List[str]] = typer.Option(None, "--res", "-r", help="HxW, repeatable or comma-separated. Default: 1024x2048, 512x1024, 256x512."),
    dynamic: bool = typer.Option(False, "--dynamic", help="Dynamic batch/height/width (validated at --res and one more size)."),
    input_format: str = typer.Option("float", "--input", help="float: normalized NCHW float32; rgb8/bgr8: NHWC uint8 frames, normalized in the graph."),
    labels: str = typer.Option("uint8", "--labels", help="Label dtype of the cls head: uint8 | int32 | int64."),
    cls_layout: str = typer.Option("nhwc", "--cls-layout", help="cls head: nhwc (upsample + argmax over channels-last, same labels, faster) | nchw."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset (17: the newest TensorRT 8.6 parses)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output .onnx (one resolution) or folder (several). Default: ./artifacts/."),
    no_validate: bool = typer.Option(False, "--no-validate", help="Skip the onnxruntime-vs-PyTorch check (not recommended)."),
) -> None:
    """Export Fast-SCNN to ONNX (exact PPM), validated against PyTorch with onnxruntime."""
    import time

    from rich.console import Console

    from fastscnn_edge.checkpoint import resolve_model
    from fastscnn_edge.export import CLS_MIN_AGREEMENT, PROB_MAX_ABS_DIFF, ExportSpec, export_onnx
    from fastscnn_edge.fileio import human_size
    from fastscnn_edge.paths import parse_resolutions, stem

    from fastscnn_edge.machine import require_torch

    require_torch("`fastscnn-edge export`")
    console = Console(stderr=True)
    resolutions = parse_resolutions(res)
    if output is not None and len(resolutions) > 1 and output.suffix.lower() == ".onnx":
        raise UserError(f"-o {output} names one file, but {len(resolutions)} resolutions were asked for.",
                        fix="pass a folder with -o, or a single --res.")
    # Check the cheap options before loading anything.
    ExportSpec(arch=arch, head=head, res=resolutions[0], input_format=input_format, labels=labels, opset=opset,
               cls_layout=cls_layout).check()
    t0 = time.perf_counter()
    with console.status("loading the model ..."):
        model, ckpt = resolve_model(weights, arch)
    results = []
    for r in resolutions:
        if output is None:
            out = None
        elif output.suffix.lower() == ".onnx":
            out = output
        else:
            out = output / f"{stem(model.cfg.name, head, r)}{'_dynamic' if dynamic else ''}.onnx"
        spec = ExportSpec(arch=arch, weights=weights, head=head, res=r, dynamic=dynamic, input_format=input_format,
                          labels=labels, opset=opset, output=out, cls_layout=cls_layout)
        with console.status(f"exporting {r[0]}x{r[1]} and validating against PyTorch ..."):
            result = export_onnx(spec, model=model, checkpoint=ckpt, validate=not no_validate)
        v = result.validation
        if "pixel_agreement" in v and head == "cls":
            check = f"pixel agreement {100 * v['pixel_agreement']:.4f} % (bar >= {100 * CLS_MIN_AGREEMENT:.2f} %)"
        elif v:
            check = f"max |diff| {v['max_abs_diff']:.2e} (bar <= {PROB_MAX_ABS_DIFF:.0e})" + (
                f", pixel agreement {100 * v['pixel_agreement']:.4f} %" if "pixel_agreement" in v else "")
        else:
            check = "not validated"
        nodes = sum(result.op_counts.values())
        typer.echo(f"{result.path}  {r[0]}x{r[1]} {head}/{input_format}  {nodes} nodes  vs PyTorch: {check}")
        results.append(result)
    total = sum(x.size for x in results)
    nxt = "fastscnn-edge build-engine --fp16" if output is None else f"fastscnn-edge build-engine {results[0].path}"
    typer.echo(f"exported {len(results)} model(s), {human_size(total)}, in {time.perf_counter() - t0:.1f} s "
               f"-> next: {nxt}  (or on CPU: fastscnn-edge bench --backend onnxruntime)")
    if ckpt is None:
        from fastscnn_edge.metadata import RANDOM_WEIGHTS_NOTE

        typer.echo(RANDOM_WEIGHTS_NOTE + " (pass --weights)", err=True)


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
