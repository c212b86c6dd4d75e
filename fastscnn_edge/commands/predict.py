"""`fastscnn-edge predict`: segment images, folders, videos or a camera."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from fastscnn_edge.commands import options


def predict_cmd(
    artifact: Path = typer.Argument(..., help="A .onnx file, a TensorRT .engine, or a native .pt checkpoint."),
    inputs: List[str] = typer.Argument(..., help="Image files, folders of images, video files, or a camera index (0, 1, ...)."),
    out: Path = typer.Option(Path("predictions"), "--output", "-o", help="Output folder."),
    out_format: str = typer.Option("color", "--format", "-f",
                                   help="color | overlay | trainids | cityscapes-labelids (named for the official Cityscapes evaluation)."),
    res: Optional[str] = options.res(),
    backend: str = options.backend(),
    device: str = options.device(),
    threads: Optional[int] = options.threads(),
    max_frames: Optional[int] = typer.Option(None, "--frames", help="Stop each video/camera after N frames (a camera otherwise runs until Ctrl-C)."),
) -> None:
    """Segment inputs of any size (resized to the artifact's resolution, labels mapped back)."""
    from fastscnn_edge.errors import UserError
    from fastscnn_edge.resolution import parse_resolution
    from fastscnn_edge.predict import OUTPUT_FORMATS, predict

    if out_format not in OUTPUT_FORMATS:  # before loading the model
        raise UserError(f"unknown output format {out_format!r}.", fix=f"use one of: {', '.join(OUTPUT_FORMATS)}.")
    from fastscnn_edge.commands.progress import bar

    with bar() as progress:
        result = predict(artifact, inputs, out, out_format, backend=backend, device=device,
                         res=parse_resolution(res) if res else None, threads=threads, max_frames=max_frames,
                         progress=progress)
    parts = [f"{result.images} image(s)"] + ([f"{result.frames} video frame(s)"] if result.frames else [])
    if result.skipped:
        parts.append(f"{len(result.skipped)} unreadable skipped")
    for path, fps in result.video_fps.items():
        typer.echo(f"{path}: {fps:.1f} fps")
    nxt = (f"  -> next: CITYSCAPES_DATASET=<cityscapes root> CITYSCAPES_RESULTS={out} csEvalPixelLevelSemanticLabeling"
           if out_format == "cityscapes-labelids" else "")
    typer.echo(f"predicted {', '.join(parts)} in {result.seconds:.1f} s -> {out}/{nxt}")
    if result.random_weights:
        from fastscnn_edge.metadata import RANDOM_WEIGHTS_NOTE

        typer.echo(RANDOM_WEIGHTS_NOTE, err=True)


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_cmd)
