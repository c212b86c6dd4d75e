"""`fastscnn-edge eval` (accuracy on a labelled split) and `fastscnn-edge compare` (two artifacts)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import typer

from fastscnn_edge.commands import options
from fastscnn_edge.commands.options import ARTIFACT_HELP


def eval_cmd(
    artifact: Path = typer.Argument(..., help=ARTIFACT_HELP),
    data: Path = options.data(),
    data_format: str = options.data_format(),
    split: str = options.split(),
    limit: Optional[int] = options.limit(),
    res: Optional[str] = options.res(),
    backend: str = options.backend(),
    device: str = options.device(),
    threads: Optional[int] = options.threads(),
    json_out: Optional[Path] = options.json_out("Write every number (per-class IoU, categories, confusion matrix, skips) here."),
) -> None:
    """Accuracy: mIoU, per-class and category IoU, pixel accuracy (official Cityscapes conventions)."""
    from fastscnn_edge.bench.evaluate import eval_tables, evaluate

    _check_json(json_out)
    from fastscnn_edge.commands.progress import bar

    with bar() as progress:
        result = evaluate(artifact, data, data_format, split, limit, _res(res), backend, device=device, threads=threads,
                          progress=progress)
    _print(eval_tables(result))
    _save(json_out, result)
    skipped = result["skipped"]
    typer.echo(f"evaluated {result['images']} images ({skipped['no_ground_truth']} without ground truth, "  # type: ignore[index]
               f"{skipped['unreadable']} unreadable skipped): mIoU {100 * (result['miou'] or 0):.2f} %"  # type: ignore[index, operator]
               + (f", category mIoU {100 * (result['category_miou'] or 0):.2f} %" if "category_miou" in result else "")  # type: ignore[operator]
               + f", {result['seconds']:.1f} s" + (f" -> {json_out}" if json_out else ""))


def compare_cmd(
    a: Path = typer.Argument(..., help="Artifact A (the reference, e.g. the fp32 ONNX)."),
    b: Path = typer.Argument(..., help="Artifact B (e.g. the INT8 engine)."),
    data: Optional[Path] = options.data(required=False, help="Dataset root: its images (and ground truth where present)."),
    random: Optional[int] = typer.Option(None, "--random", help="N synthetic frames at A's resolution instead of a dataset."),
    res: Optional[str] = options.res("HxW: required for checkpoints and dynamic ONNX."),
    data_format: str = options.data_format(),
    split: str = options.split("Split folder of --data."),
    limit: Optional[int] = options.limit("Only the first N images of --data."),
    backend_a: str = typer.Option("auto", "--backend-a", help="Backend for A: auto | tensorrt | onnxruntime | openvino | torch."),
    backend_b: str = typer.Option("auto", "--backend-b", help="Backend for B."),
    device: str = options.device(),
    threads: Optional[int] = options.threads(),
    json_out: Optional[Path] = options.json_out(),
) -> None:
    """Pixel agreement and mIoU difference of two artifacts on the same inputs, and where they disagree."""
    from fastscnn_edge.bench.evaluate import compare, compare_tables

    _check_json(json_out)
    from fastscnn_edge.commands.progress import bar

    with bar() as progress:
        result = compare(a, b, data, random, _res(res), format=data_format, split=split, limit=limit,
                         backend_a=backend_a, backend_b=backend_b, device=device, threads=threads, progress=progress)
    _print(compare_tables(result))
    _save(json_out, result)
    line = f"compared {result['frames']} frames: pixel agreement {100 * float(result['pixel_agreement']):.3f} %"  # type: ignore[arg-type]
    if result.get("miou_difference") is not None:
        line += f", mIoU B - A {100 * float(result['miou_difference']):+.2f} points"  # type: ignore[arg-type]
    typer.echo(line + (f" -> {json_out}" if json_out else ""))


def _res(text: Optional[str]):  # noqa: ANN202
    from fastscnn_edge.core.resolution import parse_resolution

    return parse_resolution(text) if text else None


def _check_json(path: Optional[Path]) -> None:
    if path is not None:
        from fastscnn_edge.core.fileio import check_writable

        check_writable(path)


def _print(tables) -> None:  # noqa: ANN001
    from rich.console import Console

    console = Console()
    for t in tables:
        console.print(t)


def _save(path: Optional[Path], result: Dict[str, object]) -> None:
    if path is None:
        return
    import json

    from fastscnn_edge.core.fileio import atomic_write_text

    atomic_write_text(path, json.dumps(result, indent=2, allow_nan=False) + "\n")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
    app.command("compare")(compare_cmd)
