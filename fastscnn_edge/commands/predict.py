"""`fastscnn-edge predict`: segment images, folders, videos, cameras or ROS 2 bags."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from fastscnn_edge.commands import options


def predict_cmd(
    artifact: Path = typer.Argument(..., help="A .onnx file, a TensorRT .engine, or a native .pt checkpoint."),
    inputs: List[str] = typer.Argument(..., help="Image files, folders of images, video files, ROS 2 bags, or a camera index (0, 1, ...); several videos/cameras run as parallel streams."),
    out: Path = typer.Option(Path("predictions"), "--output", "-o", help="Output folder."),
    out_format: str = typer.Option("color", "--format", "-f",
                                   help="color | overlay | trainids | cityscapes-labelids (named for the official Cityscapes evaluation). Bags: trainids writes the labels topic only, color/overlay add the colour topic."),
    res: Optional[str] = options.res(),
    backend: str = options.backend(),
    device: str = options.device(),
    threads: Optional[int] = options.threads(),
    max_frames: Optional[int] = typer.Option(None, "--frames", help="Stop each video/camera/bag after N frames (a camera otherwise runs until Ctrl-C)."),
    image_topic: Optional[str] = typer.Option(None, "--image-topic", help="Bags: the sensor_msgs/Image or CompressedImage topic to segment."),
    batch: int = typer.Option(1, "--batch", help="Streams: frames per inference where the artifact's batch is dynamic (export --dynamic)."),
    json_out: Optional[Path] = options.json_out("Write the stream report (throughput, latency percentiles, drops, stage busy shares) here."),
) -> None:
    """Segment inputs of any size (resized to the artifact's resolution, labels mapped back)."""
    from fastscnn_edge.core.errors import UserError
    from fastscnn_edge.core.resolution import parse_resolution
    from fastscnn_edge.serve.predict import OUTPUT_FORMATS, predict

    if out_format not in OUTPUT_FORMATS:  # before loading the model
        raise UserError(f"unknown output format {out_format!r}.", fix=f"use one of: {', '.join(OUTPUT_FORMATS)}.")
    if json_out is not None:
        from fastscnn_edge.core.fileio import check_writable

        check_writable(json_out)
    from fastscnn_edge.commands.progress import bar

    with bar() as progress:
        result = predict(artifact, inputs, out, out_format, backend=backend, device=device,
                         res=parse_resolution(res) if res else None, threads=threads, max_frames=max_frames,
                         image_topic=image_topic, batch=batch, progress=progress)
    parts = [f"{result.images} image(s)"] + ([f"{result.frames} stream frame(s)"] if result.frames else [])
    if result.skipped:
        parts.append(f"{len(result.skipped)} unreadable skipped")
    rep = result.stream
    if rep is not None:
        for st in rep.streams:
            lat = st["latency_ms"] or {}
            typer.echo(f"{st['name']}: {st['frames_out']} frame(s), {st['fps']:.1f} fps, latency p50 "
                       f"{lat.get('median', 0):.1f} ms / p99 {lat.get('p99', 0):.1f} ms, {st['dropped']} dropped")
        typer.echo(f"streams: {rep.summary()}")
    if json_out is not None:
        import json

        from fastscnn_edge.core.envinfo import collect
        from fastscnn_edge.core.fileio import atomic_write_text

        doc = {"artifact": str(artifact), "outputs": [str(p) for p in result.outputs], "images": result.images,
               "stream": rep.to_json() if rep is not None else None, "environment": collect()}
        atomic_write_text(json_out, json.dumps(doc, indent=2) + "\n")
    nxt = (f"  -> next: CITYSCAPES_DATASET=<cityscapes root> CITYSCAPES_RESULTS={out} csEvalPixelLevelSemanticLabeling"
           if out_format == "cityscapes-labelids" else "")
    typer.echo(f"predicted {', '.join(parts)} in {result.seconds:.1f} s -> {out}/{nxt}")
    if result.random_weights:
        from fastscnn_edge.core.metadata import RANDOM_WEIGHTS_NOTE

        typer.echo(RANDOM_WEIGHTS_NOTE, err=True)
    if rep is not None and rep.interrupted_by is not None:
        raise rep.interrupted_by  # the camera's video is complete; the exit says how it was stopped


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_cmd)
